//! Conformance of the identity module with published test data: the W3C vc-di-eddsa
//! `eddsa-jcs-2022` vectors (every intermediate value) and the RFC 8785 (JCS) samples.

use std::path::PathBuf;

use lmos::identity::data_integrity::{
    hash_data, proof_configuration, proof_value, sign_document, transform, verify_document,
    ProofOptions,
};
use lmos::identity::jcs::{canonicalize, format_es};
use lmos::identity::{DidResolver, Ed25519KeyPair, PublicKey};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

fn fixture(path: &str) -> String {
    let full: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", path]
        .iter()
        .collect();
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn vector(name: &str) -> String {
    fixture(&format!("vc-di-eddsa/eddsa-jcs-2022/{name}"))
        .trim()
        .to_owned()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn key_pair() -> (Ed25519KeyPair, PublicKey) {
    let pair = json(&fixture("vc-di-eddsa/keyPair.json"));
    let secret =
        Ed25519KeyPair::from_secret_multibase(pair["privateKeyMultibase"].as_str().unwrap())
            .expect("the vector's private key reads");
    let public = PublicKey::from_multibase(pair["publicKeyMultibase"].as_str().unwrap())
        .expect("the vector's public key reads");
    (secret, public)
}

#[test]
fn eddsa_jcs_2022_every_intermediate_value() {
    let (secret, public) = key_pair();
    assert_eq!(
        secret.public_key(),
        public,
        "the private key belongs to the public key"
    );
    assert_eq!(
        public.to_multibase(),
        json(&fixture("vc-di-eddsa/keyPair.json"))["publicKeyMultibase"]
    );

    let unsigned = json(&fixture("vc-di-eddsa/unsigned.json"));
    let canonical_document = transform(&unsigned);
    assert_eq!(canonical_document, vector("canonDocJCS.txt"));
    let document_hash = Sha256::digest(canonical_document.as_bytes());
    assert_eq!(hex(&document_hash), vector("docHashJCS.txt"));

    let proof_config = json(&vector("proofConfigJCS.json"));
    let canonical_config = proof_configuration(&proof_config).expect("the proof config is valid");
    assert_eq!(canonical_config, vector("proofCanonJCS.txt"));
    let config_hash = Sha256::digest(canonical_config.as_bytes());
    assert_eq!(hex(&config_hash), vector("proofHashJCS.txt"));

    let combined = hash_data(&canonical_document, &canonical_config);
    assert_eq!(hex(&combined), vector("combinedHashJCS.txt"));

    // Ed25519 is deterministic: the same key and data give the published signature.
    let signature = secret.sign(&combined);
    assert_eq!(hex(&signature), vector("sigHexJCS.txt"));
    assert_eq!(proof_value(&signature), vector("sigBTC58JCS.txt"));

    // The whole signing operation gives the published signed document.
    let options = ProofOptions {
        verification_method: proof_config["verificationMethod"]
            .as_str()
            .map(str::to_owned),
        created: proof_config["created"].as_str().map(str::to_owned),
        ..ProofOptions::default()
    };
    let signed = sign_document(&unsigned, &secret, &options).expect("signing works");
    assert_eq!(signed, json(&vector("signedJCS.json")));
}

#[tokio::test]
async fn the_published_signed_credential_verifies_and_a_changed_one_does_not() {
    let signed = json(&vector("signedJCS.json"));
    let resolver = DidResolver::default();
    let proofs = verify_document(&signed, &resolver)
        .await
        .expect("the vector verifies");
    assert_eq!(proofs.len(), 1);
    assert_eq!(
        proofs[0].signer,
        "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
    );

    let mut changed = signed.clone();
    changed["credentialSubject"]["alumniOf"] = Value::from("The School of Counterfeits");
    let error = verify_document(&changed, &resolver).await.unwrap_err();
    assert_eq!(error.code(), "identity_signature_invalid");

    let mut changed_proof = signed;
    changed_proof["proof"]["created"] = Value::from("2023-02-24T23:36:39Z");
    let error = verify_document(&changed_proof, &resolver)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "identity_signature_invalid");
}

#[test]
fn jcs_reproduces_the_rfc_8785_samples() {
    for name in [
        "arrays",
        "french",
        "structures",
        "unicode",
        "values",
        "weird",
    ] {
        let input = json(&fixture(&format!("jcs/input/{name}.json")));
        let expected = fixture(&format!("jcs/output/{name}.json"));
        assert_eq!(
            canonicalize(&input),
            expected.trim_end_matches('\n'),
            "{name}"
        );
    }
}

#[test]
fn jcs_numbers_follow_ecmascript() {
    let mut checked = 0;
    for line in fixture("jcs/numbers.txt").lines() {
        let (bits, expected) = line.split_once(' ').expect("hex and text");
        let value = f64::from_bits(u64::from_str_radix(bits, 16).expect("hex"));
        assert_eq!(format_es(value), expected, "bits {bits}");
        // Through serde_json too, when JSON can hold the value.
        if let Some(number) = serde_json::Number::from_f64(value) {
            assert_eq!(
                canonicalize(&Value::Number(number)),
                expected,
                "bits {bits}"
            );
        }
        checked += 1;
    }
    assert!(checked > 5000, "only {checked} numbers checked");
}

#[test]
fn jcs_rounds_big_integers_to_doubles_and_escapes_controls() {
    // 2^53 + 1 is not a double; ECMAScript reads it as 2^53.
    let value: Value = serde_json::from_str("[9007199254740993, -0, 1.0, 1e21]").unwrap();
    assert_eq!(canonicalize(&value), "[9007199254740992,0,1,1e+21]");
    let value = Value::String("\u{1}\u{1f}\u{7f}\u{2028}".to_owned());
    assert_eq!(canonicalize(&value), "\"\\u0001\\u001f\u{7f}\u{2028}\"");
}
