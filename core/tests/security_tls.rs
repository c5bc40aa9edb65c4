//! TLS: a servient serving `https` and `wss` from certificate and key files made at test time
//! (a CA and a server certificate for 127.0.0.1/localhost); clients verify by default, refuse an
//! unknown CA and accept the extra CA they are given.

use std::path::PathBuf;

use lmos::security::{CredentialStore, Credentials, TlsServerConfig, TokenValidator, Verifier};
use lmos::td::{DataSchema, PropertyAffordance, SchemeKind, SecurityScheme, ThingBuilder};
use lmos::thing::{ConsumeOptions, ConsumedThing, Servient, ThingError};
use serde_json::json;

struct Pki {
    ca_pem: String,
    dir: PathBuf,
}

fn pki(tag: &str) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "lmos test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let server = params.signed_by(&server_key, &ca, &ca_key).unwrap();
    let dir = std::env::temp_dir().join(format!(
        "lmos-tls-{tag}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("server.pem"), server.pem()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.serialize_pem()).unwrap();
    Pki {
        ca_pem: ca.pem(),
        dir,
    }
}

fn thing() -> lmos::td::Thing {
    ThingBuilder::tool("Thermometer")
        .id("urn:lmos:test:thermometer")
        .property(
            "temperature",
            PropertyAffordance::new(DataSchema::of_type("number")),
        )
        .build()
}

async fn https_servient(
    pki: &Pki,
    verifier: Verifier,
    thing: lmos::td::Thing,
) -> (Servient, String) {
    let tls =
        TlsServerConfig::from_pem_files(pki.dir.join("server.pem"), pki.dir.join("server.key"))
            .unwrap();
    let servient = Servient::builder()
        .http_port(0)
        .tls(tls)
        .verifier(verifier)
        .build()
        .unwrap();
    let exposed = servient.expose(thing).unwrap();
    exposed.set_property("temperature", json!(19.0)).unwrap();
    let address = servient.start().await.unwrap().http.unwrap();
    (servient, format!("https://{address}/thermometer"))
}

#[tokio::test]
async fn https_and_wss_with_an_extra_ca() {
    let pki = pki("extra-ca");
    let (servient, td_url) = https_servient(&pki, Verifier::default(), thing()).await;

    // An unknown CA is refused.
    let refused = ConsumedThing::from_url(&td_url, ConsumeOptions::default()).await;
    match refused {
        Err(ThingError::Transport(message)) => {
            assert!(
                message.contains("certificate") || message.contains("Certificate"),
                "{message}"
            )
        }
        other => panic!("an unknown CA must be refused: {other:?}"),
    }

    // The extra CA is accepted; the TD's forms are https and wss.
    for protocol in ["http", "ws"] {
        let options = ConsumeOptions {
            protocols: vec![protocol.into()],
            extra_ca_pem: Some(pki.ca_pem.clone()),
            ..ConsumeOptions::default()
        };
        let consumed = ConsumedThing::from_url(&td_url, options).await.unwrap();
        let forms = &consumed.thing().properties["temperature"].forms;
        assert!(
            forms.iter().any(|f| f.href.starts_with("https://")),
            "{forms:?}"
        );
        assert!(
            forms.iter().any(|f| f.href.starts_with("wss://")),
            "{forms:?}"
        );
        assert_eq!(
            consumed.read_property("temperature").await.unwrap(),
            json!(19.0),
            "over {protocol}"
        );
        consumed
            .write_property("temperature", json!(20.5))
            .await
            .unwrap();
        assert_eq!(
            consumed.read_property("temperature").await.unwrap(),
            json!(20.5)
        );
        consumed
            .write_property("temperature", json!(19.0))
            .await
            .unwrap();
    }

    // A consumer that trusts only the platform's roots cannot open the wss endpoint either.
    let wss = td_url
        .replace("https://", "wss://")
        .replace("/thermometer", "/ws");
    let refused = lmos::binding::ws::WsClient::connect(&wss, Default::default()).await;
    assert!(refused.is_err());

    // Plain HTTP to the TLS port does not get a TD.
    let plain = td_url.replace("https://", "http://");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let answer = reqwest::Client::new().get(&plain).send().await;
    assert!(answer.map(|r| !r.status().is_success()).unwrap_or(true));
    servient.shutdown().await;
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[tokio::test]
async fn credentials_travel_over_tls() {
    let pki = pki("bearer");
    let secret = b"tls bearer secret, long enough for HS256";
    let token = {
        let claims = json!({"sub": "a", "exp": 4_000_000_000u64});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .unwrap()
    };
    let mut thing = thing();
    thing.security_definitions.clear();
    thing
        .security_definitions
        .insert("bearer_sc".into(), SecurityScheme::new(SchemeKind::Bearer));
    thing.security = lmos::td::OneOrMany::One("bearer_sc".into());
    let verifier = Verifier::builder()
        .bearer(TokenValidator::hmac(secret))
        .build();
    let (servient, td_url) = https_servient(&pki, verifier, thing).await;
    let store = CredentialStore::new();
    // Keyed by origin this time.
    store.insert(td_url.clone(), Credentials::new().bearer(token));
    for protocol in ["http", "ws"] {
        let options = ConsumeOptions {
            protocols: vec![protocol.into()],
            extra_ca_pem: Some(pki.ca_pem.clone()),
            credentials: Some(store.clone()),
            ..ConsumeOptions::default()
        };
        let consumed = ConsumedThing::from_url(&td_url, options).await.unwrap();
        assert_eq!(
            consumed.read_property("temperature").await.unwrap(),
            json!(19.0),
            "over {protocol}"
        );
    }
    servient.shutdown().await;
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[test]
fn unusable_certificate_or_key_files_are_clear_errors() {
    let pki = pki("bad-files");
    let cert = pki.dir.join("server.pem");
    let key = pki.dir.join("server.key");
    let missing = TlsServerConfig::from_pem_files(pki.dir.join("nope.pem"), &key).unwrap_err();
    assert_eq!(missing.code(), "security_tls");
    assert!(missing.to_string().contains("nope.pem"));
    // A certificate given as the key: the error names no key material.
    let swapped = TlsServerConfig::from_pem_files(&cert, &cert).unwrap_err();
    assert!(swapped.to_string().contains("private key"), "{swapped}");
    // A key that does not belong to the certificate.
    let other = rcgen::KeyPair::generate().unwrap().serialize_pem();
    std::fs::write(pki.dir.join("other.key"), &other).unwrap();
    let mismatch = TlsServerConfig::from_pem_files(&cert, pki.dir.join("other.key")).unwrap_err();
    let text = format!("{mismatch} {mismatch:?}");
    let body: String = other.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(!text.contains(&body[..20]), "{text}");
    let _ = std::fs::remove_dir_all(&pki.dir);
}

#[tokio::test]
async fn a_separate_websocket_port_speaks_wss_too() {
    let pki = pki("ws-port");
    let tls =
        TlsServerConfig::from_pem_files(pki.dir.join("server.pem"), pki.dir.join("server.key"))
            .unwrap();
    let servient = Servient::builder()
        .http_port(0)
        .ws_port(0)
        .tls(tls)
        .build()
        .unwrap();
    let exposed = servient.expose(thing()).unwrap();
    exposed.set_property("temperature", json!(7.0)).unwrap();
    let addresses = servient.start().await.unwrap();
    assert_ne!(addresses.http, addresses.ws);
    let options = ConsumeOptions {
        protocols: vec!["ws".into()],
        extra_ca_pem: Some(pki.ca_pem.clone()),
        ..ConsumeOptions::default()
    };
    let consumed = ConsumedThing::from_url(&exposed.td_url().unwrap(), options)
        .await
        .unwrap();
    let ws_port = addresses.ws.unwrap().port();
    assert!(consumed.thing().properties["temperature"]
        .forms
        .iter()
        .any(|f| f.href == format!("wss://127.0.0.1:{ws_port}/ws")));
    assert_eq!(
        consumed.read_property("temperature").await.unwrap(),
        json!(7.0)
    );
    servient.shutdown().await;
    let _ = std::fs::remove_dir_all(&pki.dir);
}
