//! `lmos verify`: check every Data Integrity proof on a JSON document, resolving each signer's
//! DID.

use std::time::Duration;

use lmos::identity::data_integrity::prepare_proofs;
use lmos::identity::{DidResolver, ResolverOptions};
use serde_json::Value;

use crate::input::{self, Source};
use crate::{EXIT_ERROR, EXIT_INVALID, EXIT_OK};

/// Arguments of `lmos verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The document: a file, an http(s) URL, or `-` for standard input.
    #[arg(value_name = "FILE|URL|-")]
    document: String,
    /// Fetch did:web documents of loopback hosts over plain http (for local testing).
    #[arg(long)]
    allow_http_loopback: bool,
    /// Bound on each DID resolution, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    timeout: u64,
    /// Largest document accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    max_bytes: usize,
}

/// Verifies every proof; exit status 0 only when there is at least one and all verify.
pub async fn run(args: Args) -> u8 {
    let source = Source::from_arg(&args.document);
    let bytes = match input::read(&source, args.max_bytes).await {
        Ok(bytes) if bytes.len() > args.max_bytes => {
            errln!(
                "lmos verify: {source} is larger than {} bytes",
                args.max_bytes
            );
            return EXIT_ERROR;
        }
        Ok(bytes) => bytes,
        Err(e) => {
            errln!("lmos verify: {e}");
            return EXIT_ERROR;
        }
    };
    let document: Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(e) => {
            errln!("lmos verify: {source} is not JSON: {e}");
            return EXIT_INVALID;
        }
    };
    let proofs = match prepare_proofs(&document) {
        Ok(proofs) => proofs,
        Err(e) => {
            errln!("lmos verify: {source}: {e}");
            return EXIT_INVALID;
        }
    };
    let resolver = DidResolver::new(ResolverOptions {
        allow_http_loopback: args.allow_http_loopback,
        timeout: Duration::from_secs(args.timeout.max(1)),
        ..ResolverOptions::default()
    });
    let mut all_ok = true;
    let mut report = String::new();
    for proof in &proofs {
        let outcome = match resolver
            .public_key(&proof.verification_method, proof.purpose)
            .await
        {
            Ok(key) => proof.verify_with(&key),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(verified) => report.push_str(&format!(
                "ok     {} ({}{})\n",
                verified.verification_method,
                verified.purpose.as_str(),
                verified
                    .created
                    .map(|c| format!(", created {c}"))
                    .unwrap_or_default()
            )),
            Err(e) => {
                all_ok = false;
                report.push_str(&format!(
                    "FAILED {}: {e} [{}]\n",
                    proof.verification_method,
                    e.code()
                ));
            }
        }
    }
    if !crate::write_stdout(&report) {
        return EXIT_ERROR;
    }
    if all_ok {
        EXIT_OK
    } else {
        EXIT_INVALID
    }
}
