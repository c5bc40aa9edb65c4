//! The identity module end to end: keys on disk, did:key and did:web (served on a real loopback
//! port), signed Thing Descriptions (every tampering detected), the consumer's signature policy,
//! DID-auth tokens and verifiable credentials. No secret may appear in an error or a log line.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use lmos::identity::data_integrity::{sign_document, verify_document, ProofOptions};
use lmos::identity::did_auth::DidAuthOptions;
use lmos::identity::{
    did_web, issue_credential, mint_did_auth, verify_credential, CredentialOptions,
    CredentialRequirement, DidAuthVerifier, DidDocument, DidResolver, Ed25519KeyPair,
    IdentityError, PublicKey, ResolverOptions, SignaturePolicy,
};
use lmos::td::{Thing, ThingBuilder};
use lmos::thing::{ConsumeOptions, ConsumedThing, Servient};
use serde_json::{json, Map, Value};

fn rich_td() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/valid/rich-agent.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON")
}

fn loopback_resolver() -> DidResolver {
    DidResolver::new(ResolverOptions {
        allow_http_loopback: true,
        ..ResolverOptions::default()
    })
}

/// A servient on 127.0.0.1:0 serving `did.json` for a did:web DID of its own address, with a
/// key of that DID.
struct WebAgent {
    servient: Servient,
    did: String,
    key: Ed25519KeyPair,
    td_url: String,
}

async fn web_agent() -> WebAgent {
    // The tests' own reqwest calls need a TLS provider, as the SDK's clients install one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let servient = Servient::builder().http_port(0).build().expect("servient");
    let exposed = servient
        .expose(ThingBuilder::agent("Weather").build())
        .expect("expose");
    let addresses = servient.start().await.expect("start");
    let base = url::Url::parse(&format!("http://{}/", addresses.http.expect("http"))).unwrap();
    let did = did_web::did_for_url(&base).expect("did:web of the address");
    let key = Ed25519KeyPair::generate()
        .expect("key")
        .with_key_id(format!("{did}#key-1"));
    let td_url = exposed.td_url().expect("td url");
    servient.serve_did_document(DidDocument::for_agent(
        &did,
        &key.public_key(),
        Some(&td_url),
    ));
    WebAgent {
        servient,
        did,
        key,
        td_url,
    }
}

// ----- keys -------------------------------------------------------------------------------------

#[test]
fn keys_round_trip_through_jwk_files_and_multibase() {
    let dir = std::env::temp_dir().join(format!("lmos-identity-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("key.jwk");
    let key = Ed25519KeyPair::generate()
        .unwrap()
        .with_key_id("did:web:example.com#key-1");
    key.save(&path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "a private key file is for its owner only"
        );
    }
    let loaded = Ed25519KeyPair::load(&path).unwrap();
    assert_eq!(loaded.public_key(), key.public_key());
    assert_eq!(loaded.key_id(), "did:web:example.com#key-1");
    assert_eq!(loaded.did(), "did:web:example.com");
    let text = std::fs::read_to_string(&path).unwrap();
    let jwk: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert_eq!(PublicKey::from_jwk(&jwk).unwrap(), key.public_key());

    // Multibase: the private key and the public key, as files too.
    let secret = key.to_secret_multibase();
    assert!(secret.starts_with("z3u2"));
    let multibase_path = dir.join("key.multibase");
    std::fs::write(&multibase_path, format!("{}\n", secret.as_str())).unwrap();
    let from_multibase = Ed25519KeyPair::load(&multibase_path).unwrap();
    assert_eq!(from_multibase.public_key(), key.public_key());
    let public = key.public_key().to_multibase();
    assert!(public.starts_with("z6Mk"));
    assert_eq!(
        PublicKey::from_multibase(&public).unwrap(),
        key.public_key()
    );

    // A signature made by the key verifies with the loaded public key, and only for its message.
    let signature = key.sign(b"hello");
    loaded.public_key().verify(b"hello", &signature).unwrap();
    assert!(loaded.public_key().verify(b"hellO", &signature).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn private_keys_never_show_in_debug_output_or_errors() {
    let key = Ed25519KeyPair::generate().unwrap();
    let secret = key.to_secret_multibase().to_string();
    let jwk: Value = serde_json::from_str(&key.to_private_jwk()).unwrap();
    let d = jwk["d"].as_str().unwrap().to_owned();
    let debug = format!("{key:?}");
    assert!(debug.contains("redacted"));
    assert!(!debug.contains(&secret) && !debug.contains(&d), "{debug}");

    // Broken keys: the error says what is wrong without repeating the input.
    let mut broken_jwk = jwk.clone();
    broken_jwk["x"] = Value::from(URL_SAFE_NO_PAD.encode([7u8; 32]));
    let mut errors: Vec<IdentityError> = vec![
        Ed25519KeyPair::from_jwk(&broken_jwk).unwrap_err(),
        Ed25519KeyPair::from_text(&format!("{secret}!")).unwrap_err(),
        Ed25519KeyPair::from_text(&format!("{{\"kty\":\"OKP\",\"d\":\"{d}\"")).unwrap_err(),
    ];
    let mut truncated = secret.clone();
    truncated.pop();
    errors.push(Ed25519KeyPair::from_secret_multibase(&truncated).unwrap_err());
    for error in errors {
        let text = error.to_string();
        assert!(
            !text.contains(&secret[1..20]) && !text.contains(&d[..20]),
            "{text}"
        );
        assert_eq!(error.code(), "identity_invalid_key");
    }
}

// ----- DIDs -------------------------------------------------------------------------------------

#[tokio::test]
async fn did_key_resolves_to_its_own_key() {
    let key = Ed25519KeyPair::generate().unwrap();
    let did = key.public_key().did_key();
    let document = DidResolver::default().resolve(&did).await.unwrap();
    assert_eq!(document.id, did);
    assert_eq!(document.verification_method.len(), 1);
    let method = &document.verification_method[0];
    assert_eq!(method.kind, "Multikey");
    assert_eq!(method.id, key.key_id());
    assert_eq!(method.public_key().unwrap(), key.public_key());

    for bad in [
        "did:key:",
        "did:key:zQ3sh",
        "did:key:z6MkNOTBASE58!",
        "did:nope:x",
        "nodid",
    ] {
        let error = DidResolver::default().resolve(bad).await.unwrap_err();
        assert!(
            matches!(
                error.code(),
                "identity_invalid_did" | "identity_unsupported_did_method"
            ),
            "{bad}: {error}"
        );
    }
}

#[test]
fn did_web_names_https_urls() {
    let cases = [
        (
            "did:web:example.com",
            "https://example.com/.well-known/did.json",
        ),
        (
            "did:web:example.com:agents:billing",
            "https://example.com/agents/billing/did.json",
        ),
        (
            "did:web:example.com%3A8443",
            "https://example.com:8443/.well-known/did.json",
        ),
        (
            "did:web:localhost%3A8080",
            "https://localhost:8080/.well-known/did.json",
        ),
    ];
    for (did, url) in cases {
        assert_eq!(
            did_web::document_url(did, false).unwrap().as_str(),
            url,
            "{did}"
        );
    }
    // Plain http only for loopback hosts, and only when allowed.
    assert_eq!(
        did_web::document_url("did:web:127.0.0.1%3A9000:a", true)
            .unwrap()
            .as_str(),
        "http://127.0.0.1:9000/a/did.json"
    );
    assert_eq!(
        did_web::document_url("did:web:example.com", true)
            .unwrap()
            .scheme(),
        "https"
    );
    for bad in [
        "did:web:",
        "did:web:exa%2Fmple.com",
        "did:web:example.com:..:x",
        "did:web:a:",
    ] {
        assert!(did_web::document_url(bad, true).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn did_web_is_resolved_from_a_served_did_json() {
    let agent = web_agent().await;
    let document = loopback_resolver().resolve(&agent.did).await.unwrap();
    assert_eq!(document.id, agent.did);
    assert_eq!(document.thing_descriptions(), vec![agent.td_url.clone()]);
    let key = document
        .public_key_for(
            &agent.key.key_id(),
            lmos::identity::VerificationRelationship::AssertionMethod,
        )
        .unwrap();
    assert_eq!(key, agent.key.public_key());

    // The document is served as application/did+json at /.well-known/did.json.
    let url = did_web::document_url(&agent.did, true).unwrap();
    assert_eq!(url.path(), "/.well-known/did.json");
    let response = reqwest::get(url.clone()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/did+json"
    );

    // Without the option the resolver insists on HTTPS, which this plain server cannot speak.
    let error = DidResolver::default()
        .resolve(&agent.did)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "identity_resolution_failed", "{error}");

    // A document served for another DID is refused.
    let other = format!("{}:elsewhere", agent.did);
    let error = loopback_resolver().resolve(&other).await.unwrap_err();
    assert_eq!(error.code(), "identity_resolution_failed", "404: {error}");
    agent.servient.shutdown().await;
}

// ----- signed descriptions ----------------------------------------------------------------------

/// Every way of changing `value` by one step at `path`: each member or element changed, removed,
/// and one added to every object and array.
fn tamperings(value: &Value, path: &mut Vec<String>, out: &mut Vec<(String, Value)>, root: &Value) {
    fn set(root: &Value, path: &[String], change: &dyn Fn(&mut Value)) -> Value {
        let mut copy = root.clone();
        let mut at = &mut copy;
        for step in path {
            at = match at {
                Value::Object(map) => map.get_mut(step).unwrap(),
                Value::Array(items) => &mut items[step.parse::<usize>().unwrap()],
                _ => unreachable!(),
            };
        }
        change(at);
        copy
    }
    let here = path.join("/");
    match value {
        Value::Object(map) => {
            out.push((
                format!("{here}: add member"),
                set(root, path, &|v| {
                    v.as_object_mut()
                        .unwrap()
                        .insert("injected".into(), json!(true));
                }),
            ));
            for (key, child) in map {
                let name = key.clone();
                out.push((
                    format!("{here}/{key}: remove"),
                    set(root, path, &|v| {
                        v.as_object_mut().unwrap().remove(&name);
                    }),
                ));
                path.push(key.clone());
                tamperings(child, path, out, root);
                path.pop();
            }
        }
        Value::Array(items) => {
            out.push((
                format!("{here}: add element"),
                set(root, path, &|v| {
                    v.as_array_mut().unwrap().push(json!("injected"))
                }),
            ));
            for (i, child) in items.iter().enumerate() {
                out.push((
                    format!("{here}/{i}: remove"),
                    set(root, path, &|v| {
                        v.as_array_mut().unwrap().remove(i);
                    }),
                ));
                path.push(i.to_string());
                tamperings(child, path, out, root);
                path.pop();
            }
        }
        leaf => {
            let replacement = match leaf {
                Value::String(s) => Value::String(format!("{s}x")),
                Value::Number(n) => json!(n.as_f64().unwrap_or(0.0) + 1.0),
                Value::Bool(b) => Value::Bool(!b),
                _ => json!(0),
            };
            out.push((
                format!("{here}: change"),
                set(root, path, &|v| *v = replacement.clone()),
            ));
        }
    }
}

#[tokio::test]
async fn tampering_with_any_member_of_a_signed_td_is_detected() {
    let key = Ed25519KeyPair::generate().unwrap();
    let signed = sign_document(&rich_td(), &key, &ProofOptions::default()).unwrap();
    let resolver = DidResolver::default();
    let proofs = verify_document(&signed, &resolver).await.unwrap();
    assert_eq!(proofs[0].signer, key.did());
    // Member order is not part of the signature (JCS).
    let reordered: Map<String, Value> = signed
        .as_object()
        .unwrap()
        .iter()
        .rev()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    verify_document(&Value::Object(reordered), &resolver)
        .await
        .unwrap();

    let mut cases = Vec::new();
    tamperings(&signed, &mut Vec::new(), &mut cases, &signed);
    assert!(
        cases.len() > 300,
        "the walk covers the whole TD ({} cases)",
        cases.len()
    );
    for (what, tampered) in &cases {
        assert_ne!(tampered, &signed, "{what}");
        let outcome = verify_document(tampered, &resolver).await;
        assert!(outcome.is_err(), "not detected: {what}");
    }
}

#[tokio::test]
async fn a_second_signature_makes_a_proof_set_and_both_verify() {
    let first = Ed25519KeyPair::generate().unwrap();
    let second = Ed25519KeyPair::generate().unwrap();
    let once = sign_document(&rich_td(), &first, &ProofOptions::default()).unwrap();
    let twice = sign_document(&once, &second, &ProofOptions::default()).unwrap();
    assert_eq!(twice["proof"].as_array().map(Vec::len), Some(2));
    let proofs = verify_document(&twice, &DidResolver::default())
        .await
        .unwrap();
    let signers: Vec<_> = proofs.iter().map(|p| p.signer.clone()).collect();
    assert_eq!(signers, vec![first.did(), second.did()]);
    let unsigned = rich_td();
    let error = verify_document(&unsigned, &DidResolver::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "identity_proof_missing");
}

async fn serve_json(document: Value) -> (String, tokio::task::JoinHandle<()>) {
    let body = document.to_string();
    let app = axum::Router::new().route(
        "/td",
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/td+json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}/td"), task)
}

fn options(policy: SignaturePolicy) -> ConsumeOptions {
    ConsumeOptions {
        signature_policy: policy,
        did_resolver: loopback_resolver(),
        ..ConsumeOptions::default()
    }
}

#[tokio::test]
async fn consumed_things_apply_the_signature_policy() {
    let key = Ed25519KeyPair::generate().unwrap();
    let unsigned = rich_td();
    let signed = sign_document(&unsigned, &key, &ProofOptions::default()).unwrap();
    let mut tampered = signed.clone();
    tampered["title"] = Value::from("Travel Planner (evil twin)");

    let (signed_url, a) = serve_json(signed.clone()).await;
    let (unsigned_url, b) = serve_json(unsigned.clone()).await;
    let (tampered_url, c) = serve_json(tampered.clone()).await;

    // The default verifies a proof when there is one.
    assert_eq!(
        ConsumeOptions::default().signature_policy,
        SignaturePolicy::VerifyIfPresent
    );
    let thing = ConsumedThing::from_url(&signed_url, options(SignaturePolicy::Require))
        .await
        .unwrap();
    assert_eq!(thing.verified_proofs()[0].signer, key.did());
    let thing = ConsumedThing::from_url(&unsigned_url, options(SignaturePolicy::VerifyIfPresent))
        .await
        .unwrap();
    assert!(thing.verified_proofs().is_empty());
    let error = ConsumedThing::from_url(&unsigned_url, options(SignaturePolicy::Require))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("identity_proof_missing"),
        "{error}"
    );
    for policy in [SignaturePolicy::Require, SignaturePolicy::VerifyIfPresent] {
        let error = ConsumedThing::from_url(&tampered_url, options(policy))
            .await
            .unwrap_err();
        assert_eq!(error.code(), "invalid_td");
        assert!(
            error.to_string().contains("identity_signature_invalid"),
            "{error}"
        );
    }
    ConsumedThing::from_url(&tampered_url, options(SignaturePolicy::Ignore))
        .await
        .unwrap();

    // A TD given as a value: did:key signers are checked at once.
    let given = Thing::from_value(signed.clone()).unwrap();
    let thing = ConsumedThing::new(given, options(SignaturePolicy::Require)).unwrap();
    assert_eq!(thing.verified_proofs().len(), 1);
    let error = ConsumedThing::new(
        Thing::from_value(tampered).unwrap(),
        options(SignaturePolicy::VerifyIfPresent),
    )
    .unwrap_err();
    assert_eq!(error.code(), "invalid_td");
    let error = ConsumedThing::new(
        Thing::from_value(unsigned).unwrap(),
        options(SignaturePolicy::Require),
    )
    .unwrap_err();
    assert_eq!(error.code(), "invalid_td");
    for task in [a, b, c] {
        task.abort();
    }
}

#[tokio::test]
async fn a_td_signed_by_a_did_web_agent_is_verified_through_its_did_document() {
    let agent = web_agent().await;
    // The agent signs its TD as served; the consumer fetches the did.json to check it.
    let td = reqwest::get(&agent.td_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let td: Value = serde_json::from_str(&td).unwrap();
    let signed = sign_document(&td, &agent.key, &ProofOptions::default()).unwrap();
    let thing = Thing::from_value(signed.clone()).unwrap();

    let error = ConsumedThing::new(thing.clone(), options(SignaturePolicy::Require)).unwrap_err();
    assert!(error.to_string().contains("new_verified"), "{error}");
    let consumed = ConsumedThing::new_verified(thing, options(SignaturePolicy::Require))
        .await
        .unwrap();
    assert_eq!(consumed.verified_proofs()[0].signer, agent.did);

    // A key that is not in the DID document cannot sign for the DID.
    let impostor = Ed25519KeyPair::generate()
        .unwrap()
        .with_key_id(agent.key.key_id());
    let forged = sign_document(&td, &impostor, &ProofOptions::default()).unwrap();
    let error = ConsumedThing::new_verified(
        Thing::from_value(forged).unwrap(),
        options(SignaturePolicy::Require),
    )
    .await
    .unwrap_err();
    assert!(
        error.to_string().contains("identity_signature_invalid"),
        "{error}"
    );
    agent.servient.shutdown().await;
}

// ----- DID-auth ---------------------------------------------------------------------------------

fn verifier() -> DidAuthVerifier {
    DidAuthVerifier::new(loopback_resolver(), DidAuthOptions::default())
}

/// A token with arbitrary claims, signed by `key` (to make the bad tokens a client could send).
fn forge(key: &Ed25519KeyPair, header: Value, claims: Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn did_auth_tokens_are_verified_once_for_their_audience() {
    let key = Ed25519KeyPair::generate().unwrap();
    let verifier = verifier();
    let token = mint_did_auth(&key, "urn:thing:weather", Duration::from_secs(60), &[]).unwrap();
    let caller = verifier
        .verify_did_auth(&token, "urn:thing:weather")
        .await
        .unwrap();
    assert_eq!(caller.did, key.did());
    assert_eq!(caller.key_id, key.key_id());

    // The same token again is a replay.
    let error = verifier
        .verify_did_auth(&token, "urn:thing:weather")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "identity_token_replayed");

    // Another thing does not accept it.
    let token = mint_did_auth(&key, "urn:thing:weather", Duration::from_secs(60), &[]).unwrap();
    let error = verifier
        .verify_did_auth(&token, "urn:thing:billing")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "identity_wrong_audience");
    // (Refused for the wrong audience, so it was not used up.)
    verifier
        .verify_did_auth(&token, "urn:thing:weather")
        .await
        .unwrap();

    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": key.key_id()});
    let base = json!({"iss": key.did(), "aud": "urn:thing:weather", "jti": "j-1"});
    let with = |extra: Value| {
        let mut claims = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    };
    let t = now();
    let expired = forge(
        &key,
        header.clone(),
        with(json!({"iat": t - 400, "exp": t - 100})),
    );
    let error = verifier
        .verify_did_auth(&expired, "urn:thing:weather")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "identity_token_expired");
    let too_long = forge(
        &key,
        header.clone(),
        with(json!({"iat": t, "exp": t + 3600})),
    );
    let error = verifier
        .verify_did_auth(&too_long, "urn:thing:weather")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "identity_token_not_valid");
    let future = forge(
        &key,
        header.clone(),
        with(json!({"iat": t + 600, "exp": t + 700})),
    );
    let error = verifier
        .verify_did_auth(&future, "urn:thing:weather")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "identity_token_not_valid");
    let no_jti = forge(
        &key,
        header.clone(),
        json!({"iss": key.did(), "aud": "urn:thing:weather", "iat": t, "exp": t + 60}),
    );
    let error = verifier
        .verify_did_auth(&no_jti, "urn:thing:weather")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "identity_invalid_token");
    let none_alg = forge(
        &key,
        json!({"alg": "none"}),
        with(json!({"iat": t, "exp": t + 60})),
    );
    let error = verifier
        .verify_did_auth(&none_alg, "urn:thing:weather")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "identity_invalid_token");

    // Someone else's key cannot speak for this DID.
    let intruder = Ed25519KeyPair::generate().unwrap();
    let stolen_name = forge(&intruder, header, with(json!({"iat": t, "exp": t + 60})));
    let error = verifier
        .verify_did_auth(&stolen_name, "urn:thing:weather")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "identity_signature_invalid");

    // Garbage of every shape gets a clear error that does not repeat the token.
    let secret_looking = format!("{}.{}", "A".repeat(40), "B".repeat(40));
    for bad in [
        String::new(),
        "abc".to_owned(),
        secret_looking.clone(),
        format!("{secret_looking}.C.D"),
        format!("{}.e30.AAAA", "!!!"),
    ] {
        let error = verifier
            .verify_did_auth(&bad, "urn:thing:weather")
            .await
            .unwrap_err();
        assert_eq!(error.code(), "identity_invalid_token", "{bad}");
        assert!(!error.to_string().contains("AAAAAAAAAA"), "{error}");
    }
}

#[tokio::test]
async fn did_web_callers_are_resolved_over_http_on_loopback() {
    let agent = web_agent().await;
    let token = mint_did_auth(&agent.key, &agent.td_url, Duration::from_secs(30), &[]).unwrap();
    let caller = verifier()
        .verify_did_auth(&token, &agent.td_url)
        .await
        .unwrap();
    assert_eq!(caller.did, agent.did);
    agent.servient.shutdown().await;
}

// ----- credentials ------------------------------------------------------------------------------

fn membership(issuer: &Ed25519KeyPair, subject: &str, until: Option<&str>) -> Value {
    let mut claims = Map::new();
    claims.insert("group".into(), json!("travel-agents"));
    issue_credential(
        issuer,
        &CredentialOptions {
            types: vec!["AgentGroupMembership".into()],
            subject: subject.to_owned(),
            claims,
            valid_until: until.map(str::to_owned),
            ..CredentialOptions::default()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn credentials_are_issued_verified_and_required() {
    let issuer = Ed25519KeyPair::generate().unwrap();
    let holder = Ed25519KeyPair::generate().unwrap();
    let credential = membership(&issuer, &holder.did(), Some("2100-01-01T00:00:00Z"));
    assert_eq!(credential["proof"]["cryptosuite"], "eddsa-jcs-2022");
    let resolver = DidResolver::default();
    let verified = verify_credential(&credential, &resolver, None)
        .await
        .unwrap();
    assert_eq!(verified.issuer, issuer.did());
    assert_eq!(verified.subjects, vec![holder.did()]);
    assert!(verified.types.contains(&"AgentGroupMembership".to_owned()));

    let wanted = CredentialRequirement::new("AgentGroupMembership", issuer.did());
    assert!(wanted.is_met_by(&holder.did(), std::slice::from_ref(&verified)));
    assert!(!wanted.is_met_by(&issuer.did(), std::slice::from_ref(&verified)));
    let other_issuer = CredentialRequirement::new("AgentGroupMembership", holder.did());
    assert!(!other_issuer.is_met_by(&holder.did(), std::slice::from_ref(&verified)));
    let other_type = CredentialRequirement::new("Auditor", issuer.did());
    let error = CredentialRequirement::check_all(
        &[wanted.clone(), other_type],
        &holder.did(),
        std::slice::from_ref(&verified),
    )
    .unwrap_err();
    assert_eq!(error.code(), "identity_credential_required");

    // Expired, not yet valid, tampered, or signed by someone other than the issuer: refused.
    let expired = membership(&issuer, &holder.did(), Some("2020-01-01T00:00:00Z"));
    let error = verify_credential(&expired, &resolver, None)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "identity_credential_not_valid");
    let error = verify_credential(&credential, &resolver, Some(0))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "identity_credential_not_valid");
    let mut tampered = credential.clone();
    tampered["credentialSubject"]["group"] = json!("admins");
    let error = verify_credential(&tampered, &resolver, None)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "identity_signature_invalid");
    let mut reissued = credential.clone();
    reissued.as_object_mut().unwrap().remove("proof");
    reissued["issuer"] = json!(holder.did());
    let self_signed = sign_document(&reissued, &issuer, &ProofOptions::default()).unwrap();
    let error = verify_credential(&self_signed, &resolver, None)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "identity_invalid_credential");

    // The requirement as a TD declares it.
    let affordance: Map<String, Value> = serde_json::from_value(json!({
        "lmos:requiredCredentials": [{"type": "AgentGroupMembership", "issuer": issuer.did()}]
    }))
    .unwrap();
    assert_eq!(
        CredentialRequirement::declared_in(&affordance).unwrap(),
        vec![wanted]
    );
}

#[tokio::test]
async fn a_caller_presents_credentials_in_its_did_auth_token() {
    let issuer = Ed25519KeyPair::generate().unwrap();
    let holder = Ed25519KeyPair::generate().unwrap();
    let credential = membership(&issuer, &holder.did(), None);
    let requirement = CredentialRequirement::new("AgentGroupMembership", issuer.did());
    let verifier = verifier();

    let token = mint_did_auth(
        &holder,
        "urn:thing:x",
        Duration::from_secs(60),
        std::slice::from_ref(&credential),
    )
    .unwrap();
    let caller = verifier
        .verify_did_auth(&token, "urn:thing:x")
        .await
        .unwrap();
    assert!(caller.holds(&requirement));
    caller.require(std::slice::from_ref(&requirement)).unwrap();

    let bare = mint_did_auth(&holder, "urn:thing:x", Duration::from_secs(60), &[]).unwrap();
    let caller = verifier
        .verify_did_auth(&bare, "urn:thing:x")
        .await
        .unwrap();
    let error = caller.require(&[requirement]).unwrap_err();
    assert_eq!(error.code(), "identity_credential_required");

    // Someone else's credential does not help.
    let thief = Ed25519KeyPair::generate().unwrap();
    let token = mint_did_auth(
        &thief,
        "urn:thing:x",
        Duration::from_secs(60),
        &[credential],
    )
    .unwrap();
    let error = verifier
        .verify_did_auth(&token, "urn:thing:x")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "identity_invalid_credential");
}

#[tokio::test]
async fn a_servient_signs_the_tds_it_serves_and_consumers_check_them() {
    // The DID document lives on one server (the organization's did:web host), the agent on
    // another; the agent's TDs are signed as served, covering their absolute hrefs.
    let host = web_agent().await;
    let servient = Servient::builder()
        .http_port(0)
        .sign_descriptions(host.key.clone())
        .build()
        .unwrap();
    let exposed = servient
        .expose(ThingBuilder::agent("Signed Weather").build())
        .unwrap();
    servient.start().await.unwrap();
    let td_url = exposed.td_url().unwrap();
    host.servient.serve_did_document(DidDocument::for_agent(
        &host.did,
        &host.key.public_key(),
        Some(&td_url),
    ));

    let served: Value = reqwest::get(&td_url).await.unwrap().json().await.unwrap();
    assert_eq!(served["proof"]["verificationMethod"], host.key.key_id());
    let consumed = ConsumedThing::from_url(&td_url, options(SignaturePolicy::Require))
        .await
        .unwrap();
    assert_eq!(consumed.verified_proofs()[0].signer, host.did);
    assert_eq!(consumed.thing().title, "Signed Weather");

    // A consumer that does not know the DID's host over plain http cannot check it.
    let strict = ConsumeOptions {
        signature_policy: SignaturePolicy::Require,
        ..ConsumeOptions::default()
    };
    let error = ConsumedThing::from_url(&td_url, strict).await.unwrap_err();
    assert!(
        error.to_string().contains("identity_resolution_failed"),
        "{error}"
    );
    servient.shutdown().await;
    host.servient.shutdown().await;
}

#[test]
fn a_td_declares_did_auth_as_a_bearer_scheme() {
    let scheme = lmos::identity::did_auth::security_scheme();
    assert!(lmos::identity::did_auth::is_did_auth_scheme(&scheme));
    let value = serde_json::to_value(&scheme).unwrap();
    assert_eq!(
        value,
        json!({"scheme": "bearer", "format": "jwt", "alg": "EdDSA", "in": "header",
               "name": "Authorization", "lmos:didAuth": true})
    );
    let plain = lmos::td::SecurityScheme::new(lmos::td::SchemeKind::Bearer);
    assert!(!lmos::identity::did_auth::is_did_auth_scheme(&plain));
    let thing = ThingBuilder::agent("A").build();
    assert_eq!(
        lmos::identity::did_auth::audience_for(&thing, Some("http://h/a")),
        thing.id.clone().or(Some("http://h/a".to_owned()))
    );
}

#[tokio::test]
async fn did_web_documents_are_reused_for_the_cache_ttl_only() {
    let agent = web_agent().await;
    let cached = loopback_resolver();
    let uncached = DidResolver::new(ResolverOptions {
        allow_http_loopback: true,
        cache_ttl: Duration::ZERO,
        ..ResolverOptions::default()
    });
    let old_key = agent.key.public_key();
    for resolver in [&cached, &uncached] {
        let document = resolver.resolve(&agent.did).await.unwrap();
        assert_eq!(
            document.verification_method[0].public_key().unwrap(),
            old_key
        );
    }
    // The agent rotates its key.
    let new_key = Ed25519KeyPair::generate().unwrap();
    agent.servient.serve_did_document(DidDocument::for_agent(
        &agent.did,
        &new_key.public_key(),
        None,
    ));
    let from_cache = cached.clone().resolve(&agent.did).await.unwrap();
    assert_eq!(
        from_cache.verification_method[0].public_key().unwrap(),
        old_key
    );
    let fresh = uncached.resolve(&agent.did).await.unwrap();
    assert_eq!(
        fresh.verification_method[0].public_key().unwrap(),
        new_key.public_key()
    );
    agent.servient.shutdown().await;
}
