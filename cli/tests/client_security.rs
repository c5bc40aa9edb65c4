//! `lmos read --credential/--token/--cacert` against a servient whose thing needs credentials.

use std::process::{Output, Stdio};

use lmos::security::{ApiKeys, BasicUsers, Verifier};
use lmos::td::{DataSchema, PropertyAffordance, SchemeKind, SecurityScheme, ThingBuilder};
use lmos::thing::Servient;
use serde_json::json;
use tokio::process::Command;

async fn lmos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lmos"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_from_the_command_line() {
    let mut key = SecurityScheme::new(SchemeKind::ApiKey);
    key.location = Some("header".into());
    let mut either = SecurityScheme::new(SchemeKind::Combo);
    either.one_of = Some(vec!["basic_sc".into(), "key_sc".into()]);
    let mut thing = ThingBuilder::tool("Vault")
        .property(
            "gold",
            PropertyAffordance::new(DataSchema::of_type("integer")),
        )
        .security("either_sc", either)
        .build();
    thing
        .security_definitions
        .insert("basic_sc".into(), SecurityScheme::new(SchemeKind::Basic));
    thing.security_definitions.insert("key_sc".into(), key);
    let servient = Servient::builder()
        .http_port(0)
        .verifier(
            Verifier::builder()
                .basic(BasicUsers::new().user("alice", "s3cret-pass"))
                .api_keys(ApiKeys::new().key("k-cli-4711"))
                .build(),
        )
        .build()
        .unwrap();
    let exposed = servient.expose(thing).unwrap();
    exposed.set_property("gold", json!(42)).unwrap();
    servient.start().await.unwrap();
    let url = exposed.td_url().unwrap();

    for args in [
        vec!["--credential", "basic=alice:s3cret-pass"],
        vec!["--credential", "apikey=k-cli-4711"],
        vec!["--credential", "apikey=k-cli-4711", "--protocol", "ws"],
    ] {
        let mut all = vec!["read", url.as_str(), "gold", "--output", "json"];
        all.extend(args.iter().copied());
        let output = lmos(&all).await;
        assert_eq!(output.status.code(), Some(0), "{args:?}: {output:?}");
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "42");
    }
    // Wrong or missing credentials: the thing's refusal (exit 1), no secret echoed.
    for args in [
        vec!["--credential", "basic=alice:wrong-pass-77"],
        vec!["--token", "tok-not-accepted-99"],
        vec![],
    ] {
        let mut all = vec!["read", url.as_str(), "gold"];
        all.extend(args.iter().copied());
        let output = lmos(&all).await;
        assert_eq!(output.status.code(), Some(1), "{args:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("401"), "{stderr}");
        assert!(!stderr.contains("wrong-pass-77") && !stderr.contains("tok-not-accepted-99"));
    }
    // Malformed options are usage errors.
    for args in [
        vec!["--credential", "basic=no-colon"],
        vec!["--credential", "cookie=x"],
        vec!["--cacert", "/nonexistent/ca.pem"],
    ] {
        let mut all = vec!["read", url.as_str(), "gold"];
        all.extend(args.iter().copied());
        let output = lmos(&all).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
    }
    servient.shutdown().await;
}
