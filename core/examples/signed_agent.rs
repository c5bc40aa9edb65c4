//! A `did:web` agent end to end: it serves its DID document and a signed TD; a consumer that
//! requires signatures checks the TD through the DID document; a caller proves its DID with a
//! DID-auth token carrying a group credential the agent issued, and the agent checks both.
//!
//! Runs to completion and prints what it checked:
//! `cargo run -p lmos --example signed_agent`

use std::error::Error;

use lmos::identity::did_auth::DEFAULT_TOKEN_LIFETIME;
use lmos::identity::{
    did_web, issue_credential, mint_did_auth, CredentialOptions, CredentialRequirement,
    DidAuthOptions, DidAuthVerifier, DidDocument, DidResolver, Ed25519KeyPair, ResolverOptions,
    SignaturePolicy,
};
use lmos::td::ThingBuilder;
use lmos::thing::{ConsumeOptions, ConsumedThing, Servient};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // The agent: served on a free loopback port; its DID names that address.
    let servient = Servient::builder().http_port(0).build()?;
    let exposed = servient.expose(ThingBuilder::agent("Signed Weather").build())?;
    let bound = servient.start().await?.http.ok_or("no HTTP address")?;
    let did = did_web::did_for_url(&url::Url::parse(&format!("http://{bound}/"))?)?;
    let key = Ed25519KeyPair::generate()?.with_key_id(format!("{did}#key-1"));
    let td_url = exposed.td_url().ok_or("no TD URL")?;
    servient.serve_did_document(DidDocument::for_agent(
        &did,
        &key.public_key(),
        Some(&td_url),
    ));
    servient.set_description_signer(Some(key.clone()));
    println!("agent {did} serves {td_url}");

    // Plain http is allowed for loopback DIDs only because this demo runs on 127.0.0.1.
    let resolver = DidResolver::new(ResolverOptions {
        allow_http_loopback: true,
        ..ResolverOptions::default()
    });

    // A consumer that accepts signed TDs only.
    let options = ConsumeOptions {
        signature_policy: SignaturePolicy::Require,
        did_resolver: resolver.clone(),
        ..ConsumeOptions::default()
    };
    let consumed = ConsumedThing::from_url(&td_url, options).await?;
    let signer = &consumed.verified_proofs().first().ok_or("no proof")?.signer;
    println!(
        "TD \"{}\" verified, signed by {signer}",
        consumed.thing().title
    );

    // The agent admits members of its group: a credential it issues to a caller's did:key.
    let caller = Ed25519KeyPair::generate()?;
    let membership = issue_credential(
        &key,
        &CredentialOptions {
            types: vec!["AgentGroupMembership".to_owned()],
            subject: caller.did(),
            ..CredentialOptions::default()
        },
    )?;
    let audience = lmos::identity::did_auth::audience_for(consumed.thing(), Some(&td_url))
        .ok_or("no audience")?;
    let token = mint_did_auth(&caller, &audience, DEFAULT_TOKEN_LIFETIME, &[membership])?;

    // The agent's side of a request.
    let verifier = DidAuthVerifier::new(resolver, DidAuthOptions::default());
    let verified = verifier.verify_did_auth(&token, &audience).await?;
    verified.require(&[CredentialRequirement::new("AgentGroupMembership", &did)])?;
    println!(
        "caller {} holds AgentGroupMembership from {did}",
        verified.did
    );
    let replay = verifier.verify_did_auth(&token, &audience).await;
    println!(
        "the same token again: {}",
        replay
            .err()
            .map(|e| e.code())
            .unwrap_or("accepted (wrong!)")
    );

    servient.shutdown().await;
    Ok(())
}
