//! `lmos fmt`: the output is the same JSON value as the input, in a stable member order.

mod common;

use common::{fixture, fixture_bytes, json, lmos};
use serde_json::Value;

const DOCUMENTS: [&str; 4] = [
    "weather-agent.td.json",
    "geocoder-tool.td.json",
    "extensions.td.json",
    "untyped-metadata.td.json",
];

#[tokio::test]
async fn output_is_the_same_json_value_as_the_input() {
    for name in DOCUMENTS {
        let run = lmos(&["fmt", &fixture(name)], None).await;
        assert_eq!(run.code, 0, "{name}: {run:?}");
        let input = json(&String::from_utf8(fixture_bytes(name)).expect("UTF-8 fixture"));
        let output = json(&run.stdout);
        assert_eq!(output, input, "{name} changed in formatting");
        assert!(run.stdout.ends_with("}\n"), "{name}");
    }
}

#[tokio::test]
async fn formatting_twice_changes_nothing_and_stdin_works() {
    for name in DOCUMENTS {
        let first = lmos(&["fmt", "-"], Some(&fixture_bytes(name))).await;
        assert_eq!(first.code, 0, "{name}: {first:?}");
        let second = lmos(&["fmt", "-"], Some(first.stdout.as_bytes())).await;
        assert_eq!(second.code, 0, "{name}: {second:?}");
        assert_eq!(second.stdout, first.stdout, "{name} is not stable");
    }
}

#[tokio::test]
async fn members_come_in_the_model_order_with_extensions_last() {
    let run = lmos(&["fmt", &fixture("extensions.td.json")], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    let value = json(&run.stdout);
    let keys: Vec<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    // The input starts with "ocf:note" and has "version" near its end.
    assert_eq!(
        keys,
        [
            "@context",
            "@type",
            "id",
            "title",
            "descriptions",
            "version",
            "created",
            "modified",
            "support",
            "base",
            "properties",
            "actions",
            "events",
            "links",
            "forms",
            "security",
            "securityDefinitions",
            "profile",
            "schemaDefinitions",
            "uriVariables",
            "ocf:note",
            "lmos:metadata",
            "saref:hasManufacturer",
            "zz:last",
        ]
    );
    // Inside a form too: known members first, extensions after them in input order.
    let form = &value["properties"]["on"]["forms"][0];
    let form_keys: Vec<&str> = form
        .as_object()
        .expect("a form")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(form_keys, ["href", "contentType", "scopes", "ocf:qos"]);
}

#[tokio::test]
async fn generated_descriptions_format_to_themselves() {
    for kind in ["agent", "tool"] {
        let new = lmos(&["new", kind, "--title", "Round trip"], None).await;
        assert_eq!(new.code, 0, "{new:?}");
        let run = lmos(&["fmt", "-"], Some(new.stdout.as_bytes())).await;
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.stdout, new.stdout);
    }
}

#[tokio::test]
async fn invalid_input_prints_the_report_on_stderr_and_nothing_on_stdout() {
    let path = fixture("wrong-op.td.json");
    let run = lmos(&["fmt", &path], None).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .starts_with(&format!("{path}: invalid, 2 problems\n")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("[op-mismatch]"), "{}", run.stderr);

    for name in ["not-json.txt", "not-utf8.json"] {
        let run = lmos(&["fmt", &fixture(name)], None).await;
        assert_eq!(run.code, 1, "{name}: {run:?}");
        assert_eq!(run.stdout, "");
        assert!(run.stderr.contains(": invalid, 1 problem"), "{run:?}");
    }
}

#[tokio::test]
async fn a_thing_model_is_refused_with_a_reason() {
    let model = br#"{
        "@context": "https://www.w3.org/2022/wot/td/v1.1",
        "@type": "tm:ThingModel",
        "title": "Lamp model",
        "properties": {"on": {"type": "boolean"}}
    }"#;
    let run = lmos(&["fmt", "-"], Some(model)).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(run.stderr.contains("Thing Model"), "{}", run.stderr);
}

#[tokio::test]
async fn unreadable_input_exits_two() {
    let run = lmos(&["fmt", "does-not-exist.json"], None).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        "lmos fmt: cannot open does-not-exist.json: no such file\n"
    );
    let run = lmos(&["fmt"], None).await;
    assert_eq!(run.code, 2, "{run:?}");
}

#[test]
fn fixtures_are_what_the_tests_think() {
    // Guards the round-trip test against vacuous fixtures: each has extension members.
    for name in DOCUMENTS {
        let text = String::from_utf8(fixture_bytes(name)).expect("UTF-8");
        let value: Value = serde_json::from_str(&text).expect("JSON");
        let object = value.as_object().expect("object");
        assert!(
            object
                .keys()
                .any(|k| k.contains(':') && !k.starts_with('@')),
            "{name} has no extension member"
        );
    }
}
