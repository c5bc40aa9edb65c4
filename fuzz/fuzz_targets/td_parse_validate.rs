//! Arbitrary bytes → parse + validate; for a valid Thing Description also typed model →
//! serialize → parse + validate again.
//!
//! Invariants checked (a failure is a bug, not just a crash):
//! - nothing panics, whatever the input (including `ValidationReport::to_json`);
//! - `validate_bytes` and `Thing::parse_validated` agree: a valid TD always reads into the model,
//!   and only valid TDs do (a valid Thing Model is refused by `parse_validated`);
//! - a valid TD survives the typed model unchanged: `Thing::to_value()` equals the parsed JSON
//!   value (TD members, unknown extension members, every level);
//! - the serialized Thing validates again and reads back to the same value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use lmos::td::parse::{parse_document, ParseOptions};
use lmos::td::validate::{validate_bytes, validate_value, DocumentKind};
use lmos::td::Thing;

fuzz_target!(|data: &[u8]| {
    let report = validate_bytes(data);
    let _ = report.to_json();

    let parsed = Thing::parse_validated(data);
    if !report.is_valid() {
        assert!(
            parsed.is_err(),
            "parse_validated accepted a document validate_bytes refuses"
        );
        return;
    }
    let thing = match parsed {
        Ok(thing) => thing,
        Err(refusal) => {
            assert_eq!(
                report.kind,
                Some(DocumentKind::ThingModel),
                "a valid Thing Description was refused by parse_validated: {refusal:?}"
            );
            return;
        }
    };

    let original = match parse_document(data, &ParseOptions::default()) {
        Ok(doc) => doc.value,
        Err(failure) => panic!("a valid document does not parse: {failure}"),
    };
    assert!(
        validate_value(&original).is_valid(),
        "validate_value refuses what validate_bytes accepts"
    );

    let value = thing.to_value();
    assert_eq!(value, original, "the typed model changed the JSON value");

    let text = match serde_json::to_vec(&thing) {
        Ok(text) => text,
        Err(error) => panic!("a valid Thing does not serialize: {error}"),
    };
    match Thing::parse_validated(&text) {
        Ok(again) => assert_eq!(again.to_value(), value, "re-parse changed the JSON value"),
        Err(report) => panic!(
            "the serialized Thing does not validate: {:?}",
            report.to_json()
        ),
    }
});
