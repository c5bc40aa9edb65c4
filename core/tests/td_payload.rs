//! Payload validation against an affordance's data schema: errors name the JSON path and the rule.

use std::path::PathBuf;

use lmos::td::payload::{validate_payload, PayloadError, PayloadValidator, PayloadViolation};
use lmos::td::{DataSchema, Thing};
use serde_json::json;

fn weather_agent() -> Thing {
    let bytes = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/spec/04-agent-full-example.corrected.json"),
    )
    .unwrap();
    Thing::parse_validated(&bytes).unwrap()
}

fn violations(schema: &DataSchema, value: serde_json::Value) -> Vec<(String, String)> {
    match validate_payload(schema, &value) {
        Err(PayloadError::Invalid(list)) => list.into_iter().map(|v| (v.path, v.rule)).collect(),
        other => panic!("expected violations for {value}, got {other:?}"),
    }
}

#[test]
fn temperature_above_one_names_path_and_rule() {
    let thing = weather_agent();
    let schema = &thing.properties["modelConfiguration"].schema;
    assert!(validate_payload(
        schema,
        &json!({"modelName": "gpt-4o", "temperature": 0.7, "maxTokens": 1000})
    )
    .is_ok());
    assert_eq!(
        violations(schema, json!({"modelName": "gpt-4o", "temperature": 1.5})),
        [("/temperature".to_owned(), "maximum".to_owned())]
    );
    assert_eq!(
        violations(schema, json!({"temperature": -0.1, "maxTokens": 1.5})),
        [
            ("/temperature".to_owned(), "minimum".to_owned()),
            ("/maxTokens".to_owned(), "type".to_owned()),
        ]
    );
}

#[test]
fn action_input_requires_members_and_enum_values() {
    let thing = weather_agent();
    let input = thing.actions["getWeather"].input.as_ref().unwrap();
    assert!(validate_payload(
        input,
        &json!({"question": "Rain?", "interactionMode": "text"})
    )
    .is_ok());
    assert_eq!(
        violations(input, json!({"question": "Rain?"})),
        [("".to_owned(), "required".to_owned())]
    );
    assert_eq!(
        violations(
            input,
            json!({"question": 4, "interactionMode": "telepathy"})
        ),
        [
            ("/question".to_owned(), "type".to_owned()),
            ("/interactionMode".to_owned(), "enum".to_owned()),
        ]
    );
    assert_eq!(
        violations(input, json!("Rain?")),
        [("".to_owned(), "type".to_owned())]
    );
}

#[test]
fn event_data_and_action_output() {
    let thing = weather_agent();
    let data = thing.events["userFeedbackReceived"].data.as_ref().unwrap();
    assert_eq!(
        violations(data, json!({"rating": 6, "comment": "great"})),
        [("/rating".to_owned(), "maximum".to_owned())]
    );
    let output = thing.actions["getWeather"].output.as_ref().unwrap();
    assert!(validate_payload(output, &json!("Sunny")).is_ok());
    assert_eq!(
        violations(output, json!({"text": "Sunny"})),
        [("".to_owned(), "type".to_owned())]
    );
}

#[test]
fn nested_arrays_name_the_index() {
    let schema = DataSchema::array(DataSchema::object(
        [("n", DataSchema::of_type("integer").range(0, 9))],
        &["n"],
    ));
    assert_eq!(
        violations(&schema, json!([{"n": 1}, {"n": 10}, {}])),
        [
            ("/1/n".to_owned(), "maximum".to_owned()),
            ("/2".to_owned(), "required".to_owned()),
        ]
    );
}

#[test]
fn violations_read_as_sentences() {
    let v = PayloadViolation {
        path: "/temperature".to_owned(),
        rule: "maximum".to_owned(),
        message: "1.5 is greater than the maximum of 1".to_owned(),
    };
    assert_eq!(
        v.to_string(),
        "/temperature: 1.5 is greater than the maximum of 1 (maximum)"
    );
    let err = validate_payload(&DataSchema::of_type("string"), &json!(1)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the payload does not match its schema: /: "),
        "{err}"
    );
}

#[test]
fn an_unusable_schema_is_reported_not_panicked_on() {
    let schema = DataSchema {
        pattern: Some("([".to_owned()),
        ..DataSchema::of_type("string")
    };
    assert!(matches!(
        PayloadValidator::new(&schema),
        Err(PayloadError::Schema(_))
    ));
}
