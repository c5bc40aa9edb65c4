//! `lmos sign`: add an `eddsa-jcs-2022` Data Integrity proof to a JSON document (a TD, a
//! credential, anything) and print the signed document.

use lmos::identity::data_integrity::{sign_document, ProofOptions};
use lmos::identity::{Ed25519KeyPair, VerificationRelationship};
use serde_json::Value;

use crate::input::{self, Source};
use crate::{EXIT_ERROR, EXIT_INVALID, EXIT_OK};

/// Arguments of `lmos sign`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The document: a file, an http(s) URL, or `-` for standard input.
    #[arg(value_name = "FILE|URL|-")]
    document: String,
    /// The private key file (JWK or multibase), e.g. from `lmos did new --out`.
    #[arg(long, value_name = "FILE")]
    key: String,
    /// The verification method to sign as (default: the key's `kid`, else its did:key).
    #[arg(long, value_name = "DID_URL")]
    verification_method: Option<String>,
    /// The proof purpose: assertionMethod (default), authentication, capabilityInvocation or
    /// capabilityDelegation.
    #[arg(long, value_name = "PURPOSE", default_value = "assertionMethod")]
    purpose: String,
    /// Largest document accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    max_bytes: usize,
}

/// Prints the signed document; returns the exit status.
pub async fn run(args: Args) -> u8 {
    let Some(purpose) = VerificationRelationship::parse(&args.purpose) else {
        errln!("lmos sign: unknown proof purpose {:?}", args.purpose);
        return EXIT_ERROR;
    };
    let key = match Ed25519KeyPair::load(&args.key) {
        Ok(key) => key,
        Err(e) => {
            errln!("lmos sign: {e}");
            return EXIT_ERROR;
        }
    };
    let source = Source::from_arg(&args.document);
    let bytes = match input::read(&source, args.max_bytes).await {
        Ok(bytes) if bytes.len() > args.max_bytes => {
            errln!(
                "lmos sign: {source} is larger than {} bytes",
                args.max_bytes
            );
            return EXIT_ERROR;
        }
        Ok(bytes) => bytes,
        Err(e) => {
            errln!("lmos sign: {e}");
            return EXIT_ERROR;
        }
    };
    let document: Value = match serde_json::from_slice(&bytes) {
        Ok(value @ Value::Object(_)) => value,
        Ok(_) => {
            errln!("lmos sign: {source} is not a JSON object");
            return EXIT_INVALID;
        }
        Err(e) => {
            errln!("lmos sign: {source} is not JSON: {e}");
            return EXIT_INVALID;
        }
    };
    let options = ProofOptions {
        verification_method: args.verification_method,
        proof_purpose: purpose,
        ..ProofOptions::default()
    };
    match sign_document(&document, &key, &options) {
        Ok(signed) => {
            let text = serde_json::to_string_pretty(&signed).unwrap_or_default();
            if crate::write_stdout(&format!("{text}\n")) {
                EXIT_OK
            } else {
                EXIT_ERROR
            }
        }
        Err(e) => {
            errln!("lmos sign: {e}");
            EXIT_INVALID
        }
    }
}
