//! `lmos discover`: find agents and tools in a directory (with `--mdns` also on the local
//! network, with `--did` also through the services of a DID document) and print one per line,
//! or JSON.
//!
//! Exit status: 0 on success (also when nothing matched), 2 for a bad argument, 3 when the
//! directory cannot be reached or refuses the query.

use std::time::Duration;

use lmos::discovery::index::{query_words, IndexFields};
use lmos::discovery::{
    introduce, DidDiscoveryError, DirectoryClient, Mdns, MdnsOptions, SearchQuery, ServiceKind,
};
use lmos::identity::{DidResolver, ResolverOptions};
use serde_json::Value;

use crate::Format;

const EXIT_OK: u8 = 0;
const EXIT_USAGE: u8 = 2;
const EXIT_UNREACHABLE: u8 = 3;

/// Arguments of `lmos discover`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base URL of a Thing Description Directory.
    #[arg(long, value_name = "URL")]
    directory: Option<String>,
    /// Also browse the local network (DNS-SD over mDNS, `_wot._tcp`): things found there are
    /// listed, directories found there are searched (unless --directory names one).
    #[arg(long)]
    mdns: bool,
    /// Also follow this DID (`did:web`, or `did:key`): the TDs its `WotThing` services point at
    /// are listed, the directories of its `WotDirectory` services are searched.
    #[arg(long, value_name = "DID")]
    did: Option<String>,
    /// Fetch did:web documents of loopback hosts over plain http (for local testing).
    #[arg(long, requires = "did")]
    allow_http_loopback: bool,
    /// How long to listen for mDNS answers, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3.0)]
    mdns_wait: f64,
    /// UDP port of the mDNS group (5353 is mDNS proper).
    #[arg(long, value_name = "PORT", default_value_t = 5353)]
    mdns_port: u16,
    /// Only things of this type: `agent`, `tool`, or any `@type` value.
    #[arg(long = "type", value_name = "agent|tool|TYPE")]
    kind: Option<String>,
    /// Words to search for in titles and descriptions; results are ranked best first.
    #[arg(long, value_name = "TEXT")]
    query: Option<String>,
    /// Only things from this vendor (case-insensitive).
    #[arg(long, value_name = "NAME")]
    vendor: Option<String>,
    /// An RFC 9535 JSONPath expression over the array of all TDs; prints what it selects.
    #[arg(long, value_name = "EXPR", conflicts_with_all = ["kind", "query", "vendor"])]
    jsonpath: Option<String>,
    /// Most results.
    #[arg(long, default_value_t = 100)]
    limit: u64,
    /// `text`: one thing a line (id, types, title, description, tab-separated); `json`: one
    /// JSON array of TDs.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

fn types_of(td: &Value) -> String {
    match td.get("@type") {
        Some(Value::String(ty)) => ty.clone(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        _ => "-".into(),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text line for one found TD.
fn line(td: &Value) -> String {
    let field = |name: &str| td.get(name).and_then(Value::as_str).map(one_line);
    format!(
        "{}\t{}\t{}\t{}\n",
        field("id").unwrap_or_else(|| "-".into()),
        types_of(td),
        field("title").unwrap_or_default(),
        field("description").unwrap_or_default()
    )
}

/// Whether a TD found on the network (not in a directory) matches the criteria.
fn matches(td: &Value, args: &Args) -> bool {
    let fields = IndexFields::of(td);
    if let Some(kind) = &args.kind {
        let wanted = match kind.to_ascii_lowercase().as_str() {
            "agent" => "lmos:Agent".to_owned(),
            "tool" => "lmos:Tool".to_owned(),
            _ => kind.clone(),
        };
        if !fields.types.contains(&wanted) {
            return false;
        }
    }
    if let Some(vendor) = &args.vendor {
        if fields.vendor.as_deref() != Some(vendor.to_lowercase().as_str()) {
            return false;
        }
    }
    if let Some(query) = &args.query {
        let text = format!(
            "{} {} {}",
            fields.title, fields.description, fields.affordances
        )
        .to_lowercase();
        let words: Vec<String> = text
            .split(|c: char| !c.is_alphanumeric())
            .map(str::to_owned)
            .collect();
        if !query_words(query)
            .iter()
            .any(|w| words.iter().any(|t| t.starts_with(w.as_str())))
        {
            return false;
        }
    }
    true
}

/// Runs the command; returns the exit status.
pub async fn run(args: Args) -> u8 {
    if !args.mdns && args.did.is_none() {
        let Some(url) = args.directory.clone() else {
            errln!("lmos discover: name a directory with --directory URL, a DID with --did DID, or browse the network with --mdns");
            return EXIT_USAGE;
        };
        return search_directory(&args, &url).await;
    }
    let mut results: Vec<Value> = Vec::new();
    let mut directories: Vec<String> = args.directory.iter().cloned().collect();
    if args.mdns {
        if let Err(code) = browse(&args, &mut results, &mut directories).await {
            return code;
        }
    }
    if let Some(did) = &args.did {
        if let Err(code) = follow_did(&args, did, &mut results, &mut directories).await {
            return code;
        }
    }
    for url in &directories {
        match query_directory(&args, url).await {
            Ok(found) => results.extend(found),
            Err(code) => return code,
        }
    }
    let mut seen = std::collections::HashSet::new();
    results.retain(|td| match td.get("id").and_then(Value::as_str) {
        Some(id) => seen.insert(id.to_owned()),
        None => true,
    });
    print(&args, results)
}

/// Things advertised on the network go to `results`, directories to `directories` (unless
/// `--directory` names one).
async fn browse(
    args: &Args,
    results: &mut Vec<Value>,
    directories: &mut Vec<String>,
) -> Result<(), u8> {
    if !(args.mdns_wait.is_finite() && args.mdns_wait >= 0.0) {
        errln!("lmos discover: --mdns-wait must be a non-negative number of seconds");
        return Err(EXIT_USAGE);
    }
    let mdns = Mdns::new(MdnsOptions {
        port: args.mdns_port,
    })
    .map_err(|e| {
        errln!("lmos discover: {e}");
        EXIT_UNREACHABLE
    })?;
    let found = mdns
        .browse_for(None, Duration::from_secs_f64(args.mdns_wait))
        .await;
    mdns.shutdown().await;
    let found = found.map_err(|e| {
        errln!("lmos discover: {e}");
        EXIT_UNREACHABLE
    })?;
    for service in found {
        match (&service.kind, service.td) {
            (ServiceKind::Directory, Ok(_)) if args.directory.is_none() => {
                let base = service.url.trim_end_matches(".well-known/wot").to_owned();
                if !directories.contains(&base) {
                    directories.push(base);
                }
            }
            (ServiceKind::Thing, Ok(td)) if args.jsonpath.is_none() && matches(&td, args) => {
                results.push(td);
            }
            (_, Err(e)) => errln!("lmos discover: {} ({}): {e}", service.instance, service.url),
            _ => {}
        }
    }
    Ok(())
}

/// The TDs of the DID's `WotThing` services go to `results`, its `WotDirectory` directories to
/// `directories`.
async fn follow_did(
    args: &Args,
    did: &str,
    results: &mut Vec<Value>,
    directories: &mut Vec<String>,
) -> Result<(), u8> {
    let resolver = DidResolver::new(ResolverOptions {
        allow_http_loopback: args.allow_http_loopback,
        ..ResolverOptions::default()
    });
    let introduction =
        introduce(&resolver, did).await.map_err(|e| {
            errln!("lmos discover: {did}: {e}");
            match e {
                DidDiscoveryError::Resolution(lmos::identity::IdentityError::InvalidDid {
                    ..
                })
                | DidDiscoveryError::Resolution(
                    lmos::identity::IdentityError::UnsupportedMethod(_),
                ) => EXIT_USAGE,
                _ => EXIT_UNREACHABLE,
            }
        })?;
    for thing in introduction.things {
        if args.jsonpath.is_none() && matches(&thing.td, args) {
            results.push(thing.td);
        }
    }
    for directory in introduction.directories {
        let base = directory.client.base_url().to_string();
        if !directories.contains(&base) {
            directories.push(base);
        }
    }
    Ok(())
}

async fn search_directory(args: &Args, url: &str) -> u8 {
    match query_directory(args, url).await {
        Ok(found) => print(args, found),
        Err(code) => code,
    }
}

async fn query_directory(args: &Args, url: &str) -> Result<Vec<Value>, u8> {
    let client = match DirectoryClient::new(url) {
        Ok(client) => client,
        Err(e) => {
            errln!("lmos discover: {e}");
            return Err(EXIT_USAGE);
        }
    };
    let found = if let Some(expression) = &args.jsonpath {
        client.search_jsonpath(expression).await
    } else {
        client
            .search(&SearchQuery {
                types: args.kind.iter().cloned().collect(),
                vendor: args.vendor.clone(),
                text: args.query.clone(),
                offset: 0,
                limit: args.limit.max(1),
            })
            .await
    };
    found.map_err(|e| {
        errln!("lmos discover: {url}: {e}");
        EXIT_UNREACHABLE
    })
}

fn print(args: &Args, found: Vec<Value>) -> u8 {
    let text = match args.format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&Value::Array(found)).unwrap_or_default()
        ),
        Format::Text if args.jsonpath.is_some() => found
            .iter()
            .map(|v| match v {
                Value::Object(_) => line(v),
                other => format!("{other}\n"),
            })
            .collect(),
        Format::Text => found.iter().map(line).collect(),
    };
    if crate::write_stdout(&text) {
        EXIT_OK
    } else {
        EXIT_USAGE
    }
}
