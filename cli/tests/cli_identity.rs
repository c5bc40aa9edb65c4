//! `lmos did`, `lmos sign` and `lmos verify`: keys on disk, DIDs resolved (did:web from a real
//! servient on loopback), documents signed and every proof verified.

mod common;

use common::{fixture, json, lmos};
use serde_json::Value;

struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("lmos-cli-identity-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    fn file(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn did_new_writes_a_private_key_for_its_owner_only_and_prints_the_did() {
    let dir = TempDir::new();
    let key = dir.file("agent.jwk");
    let run = lmos(&["did", "new", "--out", &key], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    let did = run.stdout.trim();
    assert!(did.starts_with("did:key:z6Mk"), "{did}");
    assert!(
        !run.stdout.contains("\"d\""),
        "the secret stays in the file"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let jwk = json(&std::fs::read_to_string(&key).unwrap());
    assert_eq!(jwk["crv"], "Ed25519");
    assert!(jwk["d"].is_string());

    // Resolving the new did:key gives a document with the key in it.
    let run = lmos(&["did", "resolve", did], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    let document = json(&run.stdout);
    assert_eq!(document["id"], did);
    assert_eq!(document["verificationMethod"][0]["type"], "Multikey");

    // An existing key file is not replaced unless asked.
    let before = std::fs::read_to_string(&key).unwrap();
    let run = lmos(&["did", "new", "--out", &key], None).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("already exists"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&key).unwrap(), before);
    let run = lmos(&["did", "new", "--out", &key, "--force"], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_ne!(std::fs::read_to_string(&key).unwrap(), before);

    // Without --out the key is printed after the DID.
    let run = lmos(&["did", "new"], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    let (did, jwk) = run.stdout.split_once('\n').unwrap();
    assert!(did.starts_with("did:key:"));
    assert!(json(jwk)["d"].is_string());
}

#[tokio::test]
async fn sign_then_verify_and_tampering_fails() {
    let dir = TempDir::new();
    let key = dir.file("k.jwk");
    assert_eq!(lmos(&["did", "new", "--out", &key], None).await.code, 0);
    let run = lmos(
        &["sign", &fixture("weather-agent.td.json"), "--key", &key],
        None,
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let signed = json(&run.stdout);
    assert_eq!(signed["proof"]["cryptosuite"], "eddsa-jcs-2022");
    assert_eq!(signed["proof"]["proofPurpose"], "assertionMethod");
    let signed_path = dir.file("signed.json");
    std::fs::write(&signed_path, &run.stdout).unwrap();

    let run = lmos(&["verify", &signed_path], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("ok "), "{}", run.stdout);

    // Signing twice makes a proof set; both must verify.
    let run = lmos(&["sign", &signed_path, "--key", &key], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    let run2 = lmos(&["verify", "-"], Some(run.stdout.as_bytes())).await;
    assert_eq!(run2.code, 0, "{run2:?}");
    assert_eq!(run2.stdout.lines().count(), 2);
    // One bad proof in the set is enough to fail.
    let mut set = json(&run.stdout);
    set["proof"][1]["proofValue"] = Value::from("z3xK");
    let run3 = lmos(&["verify", "-"], Some(set.to_string().as_bytes())).await;
    assert_eq!(run3.code, 1, "{run3:?}");
    let lines: Vec<&str> = run3.stdout.lines().collect();
    assert!(
        lines[0].starts_with("ok ") && lines[1].starts_with("FAILED"),
        "{lines:?}"
    );

    let mut tampered: Value = signed.clone();
    tampered["title"] = Value::from("Not the weather agent");
    let run = lmos(&["verify", "-"], Some(tampered.to_string().as_bytes())).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("FAILED"), "{}", run.stdout);

    // No proof, not JSON: 1; unreadable file or key: 2.
    let run = lmos(&["verify", &fixture("weather-agent.td.json")], None).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("no proof"), "{}", run.stderr);
    let run = lmos(&["verify", "-"], Some(b"not json")).await;
    assert_eq!(run.code, 1, "{run:?}");
    let run = lmos(&["verify", &dir.file("missing.json")], None).await;
    assert_eq!(run.code, 2, "{run:?}");
    let run = lmos(
        &["sign", &signed_path, "--key", &dir.file("missing.jwk")],
        None,
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    let run = lmos(&["verify"], None).await;
    assert_eq!(run.code, 2, "{run:?}");
}

#[tokio::test]
async fn a_key_file_that_is_not_a_key_is_refused_without_echoing_it() {
    let dir = TempDir::new();
    let key = dir.file("bad.jwk");
    let secret_like = "z3u2QmFrZUJ1dE5vdEFSZWFsS2V5QnV0U2VjcmV0TG9va2luZw";
    std::fs::write(&key, secret_like).unwrap();
    let run = lmos(
        &["sign", &fixture("weather-agent.td.json"), "--key", &key],
        None,
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(!run.stderr.contains(secret_like), "{}", run.stderr);
    assert!(run.stderr.contains("invalid key"), "{}", run.stderr);
}

#[tokio::test]
async fn did_web_documents_are_resolved_and_used_to_verify() {
    let servient = lmos::thing::Servient::builder()
        .http_port(0)
        .build()
        .unwrap();
    let addresses = servient.start().await.unwrap();
    let did = format!(
        "did:web:127.0.0.1%3A{}",
        addresses.http.expect("http address").port()
    );
    let dir = TempDir::new();
    let key = dir.file("web.jwk");
    let run = lmos(&["did", "new", "--web", &did, "--out", &key], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.trim(), did);
    let run = lmos(
        &[
            "did",
            "document",
            "--key",
            &key,
            "--td",
            "http://127.0.0.1/weather",
        ],
        None,
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let document = lmos::identity::DidDocument::from_value(json(&run.stdout)).unwrap();
    assert_eq!(
        document.thing_descriptions(),
        vec!["http://127.0.0.1/weather"]
    );
    servient.serve_did_document(document);

    let run = lmos(&["did", "resolve", &did, "--allow-http-loopback"], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(json(&run.stdout)["id"], did.as_str());
    // Plain http is not used unless asked for.
    let run = lmos(&["did", "resolve", &did, "--timeout", "5"], None).await;
    assert_eq!(run.code, 1, "{run:?}");

    let run = lmos(
        &["sign", &fixture("weather-agent.td.json"), "--key", &key],
        None,
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let signed = run.stdout;
    assert!(signed.contains(&format!("{did}#key-1")));
    let run = lmos(
        &["verify", "-", "--allow-http-loopback"],
        Some(signed.as_bytes()),
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let run = lmos(&["verify", "-"], Some(signed.as_bytes())).await;
    assert_eq!(run.code, 1, "{run:?}");
    servient.shutdown().await;
}
