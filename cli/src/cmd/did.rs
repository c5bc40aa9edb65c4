//! `lmos did`: make a key and its DID, print a DID document, resolve a DID.

use std::time::Duration;

use lmos::identity::{DidDocument, DidResolver, Ed25519KeyPair, ResolverOptions};

use crate::{EXIT_ERROR, EXIT_INVALID, EXIT_OK};

/// Arguments of `lmos did`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DidCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DidCommand {
    /// Make an Ed25519 key and print its DID (did:key, or the did:web named with --web).
    ///
    /// With --out the private key is written there as a JWK, readable by its owner only (0600);
    /// without it the private JWK is printed on standard output after the DID.
    New {
        /// Where to write the private key (JWK).
        #[arg(long, value_name = "FILE")]
        out: Option<String>,
        /// Use this did:web DID (the key becomes its `#key-1`) instead of a did:key.
        #[arg(long, value_name = "DID")]
        web: Option<String>,
        /// Replace the file given with --out if it exists (the key in it is lost).
        #[arg(long)]
        force: bool,
    },
    /// Print the DID document of a key (to serve at /.well-known/did.json for did:web).
    Document {
        /// The private key file (JWK or multibase).
        #[arg(long, value_name = "FILE")]
        key: String,
        /// The URL of the agent's Thing Description (added as a `WotThing` service).
        #[arg(long, value_name = "URL")]
        td: Option<String>,
    },
    /// Resolve a DID (did:key, did:web) and print its document.
    ///
    /// Exit status: 0 resolved, 1 not resolvable, 2 usage errors.
    Resolve {
        /// The DID.
        did: String,
        /// Fetch did:web documents of loopback hosts over plain http (for local testing).
        #[arg(long)]
        allow_http_loopback: bool,
        /// Bound on the fetch, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 10)]
        timeout: u64,
    },
}

fn print_json(value: &serde_json::Value) -> u8 {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    if crate::write_stdout(&format!("{text}\n")) {
        EXIT_OK
    } else {
        EXIT_ERROR
    }
}

/// Runs `lmos did ...`; returns the exit status.
pub async fn run(args: Args) -> u8 {
    match args.command {
        DidCommand::New { out, web, force } => new(out, web, force),
        DidCommand::Document { key, td } => document(&key, td.as_deref()),
        DidCommand::Resolve {
            did,
            allow_http_loopback,
            timeout,
        } => {
            let resolver = DidResolver::new(ResolverOptions {
                allow_http_loopback,
                timeout: Duration::from_secs(timeout.max(1)),
                ..ResolverOptions::default()
            });
            match resolver.resolve(&did).await {
                Ok(document) => print_json(&document.to_value()),
                Err(e) => {
                    errln!("lmos did resolve: {e}");
                    EXIT_INVALID
                }
            }
        }
    }
}

fn new(out: Option<String>, web: Option<String>, force: bool) -> u8 {
    if let Some(path) = &out {
        if !force && std::path::Path::new(path).exists() {
            errln!("lmos did new: {path} already exists (--force replaces it, losing that key)");
            return EXIT_ERROR;
        }
    }
    let mut key = match Ed25519KeyPair::generate() {
        Ok(key) => key,
        Err(e) => {
            errln!("lmos did new: {e}");
            return EXIT_ERROR;
        }
    };
    if let Some(did) = web {
        if let Err(e) = lmos::identity::did_web::document_url(&did, true) {
            errln!("lmos did new: {e}");
            return EXIT_ERROR;
        }
        key = key.with_key_id(format!("{did}#key-1"));
    }
    match out {
        Some(path) => {
            if let Err(e) = key.save(&path) {
                errln!("lmos did new: {e}");
                return EXIT_ERROR;
            }
            if crate::write_stdout(&format!("{}\n", key.did())) {
                EXIT_OK
            } else {
                EXIT_ERROR
            }
        }
        None => {
            let jwk = key.to_private_jwk();
            if crate::write_stdout(&format!("{}\n{}\n", key.did(), jwk.as_str())) {
                EXIT_OK
            } else {
                EXIT_ERROR
            }
        }
    }
}

fn document(key: &str, td: Option<&str>) -> u8 {
    let key = match Ed25519KeyPair::load(key) {
        Ok(key) => key,
        Err(e) => {
            errln!("lmos did document: {e}");
            return EXIT_ERROR;
        }
    };
    let did = key.did();
    let document = if did.starts_with("did:key:") {
        match lmos::identity::did_key::resolve(&did) {
            Ok(doc) => match td {
                Some(url) => doc.with_thing_service(url),
                None => doc,
            },
            Err(e) => {
                errln!("lmos did document: {e}");
                return EXIT_ERROR;
            }
        }
    } else {
        let mut doc = DidDocument::for_agent(&did, &key.public_key(), td);
        // The key's own id, when it is not the conventional #key-1.
        let key_id = key.key_id();
        if let Some(method) = doc.verification_method.first_mut() {
            if method.id != key_id {
                method.id = key_id.clone();
                let reference = lmos::identity::did::MethodRef::Reference(key_id);
                doc.authentication = vec![reference.clone()];
                doc.assertion_method = vec![reference.clone()];
                doc.capability_invocation = vec![reference.clone()];
                doc.capability_delegation = vec![reference];
            }
        }
        doc
    };
    print_json(&document.to_value())
}
