//! `did:web`: the DID names an HTTPS URL where its document is (`did:web:example.com` →
//! `https://example.com/.well-known/did.json`, `did:web:example.com:agents:billing` →
//! `https://example.com/agents/billing/did.json`; a port is written `%3A`).
//!
//! Documents are fetched over HTTPS with certificate verification. Plain `http` is used only
//! for loopback hosts (`localhost`, `127.0.0.0/8`, `[::1]`) and only when
//! [`ResolverOptions::allow_http_loopback`](super::ResolverOptions::allow_http_loopback) says so.

use std::net::IpAddr;

use url::Url;

use super::IdentityError;

/// Whether `host` (a URL host, IPv6 in brackets or not) is a loopback host.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The URL of the DID document of a `did:web` DID. `allow_http_loopback` makes loopback hosts
/// use plain `http` (for local development and tests); every other host uses `https`.
pub fn document_url(did: &str, allow_http_loopback: bool) -> Result<Url, IdentityError> {
    let did_only = did.split(['#', '?']).next().unwrap_or(did);
    let Some(specific) = did_only.strip_prefix("did:web:") else {
        return Err(IdentityError::invalid_did(did, "not a did:web"));
    };
    let mut parts = specific.split(':');
    let host_part = parts.next().unwrap_or_default();
    let host = percent_decode(host_part)
        .filter(|h| !h.is_empty() && !h.contains(['/', '@', '?', '#']))
        .ok_or_else(|| IdentityError::invalid_did(did, "bad host"))?;
    let mut path = Vec::new();
    for part in parts {
        let segment = percent_decode(part)
            .filter(|s| !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '?', '#']))
            .ok_or_else(|| IdentityError::invalid_did(did, "bad path segment"))?;
        path.push(segment);
    }
    let tail = if path.is_empty() {
        ".well-known/did.json".to_owned()
    } else {
        format!("{}/did.json", path.join("/"))
    };
    let mut url = Url::parse(&format!("https://{host}/{tail}"))
        .map_err(|e| IdentityError::invalid_did(did, e.to_string()))?;
    if url.username() != "" || url.password().is_some() {
        return Err(IdentityError::invalid_did(did, "bad host"));
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(IdentityError::invalid_did(did, "bad host")),
    };
    if allow_http_loopback && loopback {
        url.set_scheme("http")
            .map_err(|()| IdentityError::invalid_did(did, "bad host"))?;
    }
    Ok(url)
}

/// The `did:web` DID whose document is served at `url`'s host and path (the inverse of
/// [`document_url`]): `https://example.com/` → `did:web:example.com`,
/// `http://127.0.0.1:8080/agents/x/` → `did:web:127.0.0.1%3A8080:agents:x`.
pub fn did_for_url(url: &Url) -> Result<String, IdentityError> {
    let host = url
        .host_str()
        .ok_or_else(|| IdentityError::invalid_did(url.as_str(), "the URL has no host"))?;
    let mut did = format!("did:web:{host}");
    if let Some(port) = url.port() {
        did.push_str(&format!("%3A{port}"));
    }
    for segment in url.path().split('/').filter(|s| !s.is_empty()) {
        if segment == ".well-known" || segment == "did.json" {
            continue;
        }
        did.push(':');
        did.push_str(segment);
    }
    Ok(did)
}

/// The URL path at which a server serves the document of `did` (`/.well-known/did.json` or
/// `/agents/billing/did.json`).
pub fn document_path(did: &str) -> Result<String, IdentityError> {
    document_url(did, true).map(|url| url.path().to_owned())
}
