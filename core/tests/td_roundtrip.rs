//! parse → typed Thing → serialize gives back the same JSON value, for every valid fixture; and the
//! builders make descriptions that validate cleanly.

use std::path::PathBuf;

use lmos::td::validate::{validate_bytes, validate_value, DocumentKind};
use lmos::td::{
    ActionAffordance, DataSchema, EventAffordance, Form, Link, PropertyAffordance, SchemeKind,
    SecurityScheme, Thing, ThingBuilder,
};
use serde_json::{json, Value};

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut all = Vec::new();
    for dir in ["valid", "spec"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            if name.ends_with(".verbatim.json") || name.ends_with(".syntax-fixed.json") {
                continue; // not valid TDs, by design
            }
            all.push((format!("{dir}/{name}"), std::fs::read(&path).unwrap()));
        }
    }
    assert!(all.len() >= 6, "fixtures missing: {all:?}");
    all
}

#[test]
fn every_valid_fixture_validates_cleanly() {
    for (name, bytes) in fixtures() {
        let report = validate_bytes(&bytes);
        assert!(report.problems.is_empty(), "{name}:\n{report}");
    }
}

#[test]
fn every_valid_thing_description_round_trips() {
    let mut descriptions = 0;
    for (name, bytes) in fixtures() {
        let original: Value = serde_json::from_slice(&bytes).unwrap();
        if DocumentKind::of(&original) == Some(DocumentKind::ThingModel) {
            continue;
        }
        let thing = Thing::parse_validated(&bytes).unwrap_or_else(|r| panic!("{name}:\n{r}"));
        assert_eq!(thing.to_value(), original, "{name}");
        // And once more through text.
        let again = Thing::parse_validated(thing.to_json_pretty().as_bytes()).unwrap();
        assert_eq!(again, thing, "{name}");
        descriptions += 1;
    }
    assert!(descriptions >= 5);
}

/// The rich fixture keeps extension members at every level; check a few explicitly so a model
/// change that drops them cannot pass unnoticed.
#[test]
fn extension_members_survive_at_every_level() {
    let bytes = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid/rich-agent.json"),
    )
    .unwrap();
    let thing = Thing::parse_validated(&bytes).unwrap();
    let value = thing.to_value();
    for (pointer, expected) in [
        ("/lmos:metadata/lmos:vendor/ex:since", json!(2019)),
        ("/lmos:metadata/ex:nested/deep/3/x", Value::Null),
        ("/version/ex:build", json!("2026-11-02+a17")),
        ("/links/0/ex:pages", json!(12)),
        ("/forms/0/htv:methodName", json!("GET")),
        (
            "/securityDefinitions/bearer_sc/ex:audience",
            json!("planner"),
        ),
        (
            "/securityDefinitions/either_sc/ex:note",
            json!("either works"),
        ),
        ("/schemaDefinitions/error/ex:doc", json!("problem details")),
        ("/properties/modelConfiguration/lmos:internal", json!(false)),
        (
            "/properties/modelConfiguration/ocf:resourceType",
            json!("oic.r.config"),
        ),
        (
            "/properties/modelConfiguration/properties/temperature/ocf:precision",
            json!(0.01),
        ),
        (
            "/properties/modelConfiguration/properties/tags/items/ocf:role",
            json!("tag"),
        ),
        (
            "/properties/modelConfiguration/forms/0/response/ex:cache",
            json!("max-age=60"),
        ),
        (
            "/properties/modelConfiguration/forms/0/additionalResponses/0/ex:status",
            json!(503),
        ),
        ("/actions/plan/lmos:streaming", json!(true)),
        (
            "/actions/plan/input/properties/question/ocf:label",
            json!("q"),
        ),
        ("/actions/plan/output/ex:language", json!("en")),
        ("/events/planReady/ex:priority", json!("high")),
        ("/events/planReady/data/ocf:units", json!("none")),
    ] {
        assert_eq!(value.pointer(pointer), Some(&expected), "{pointer}");
    }
    assert_eq!(thing.vendor_name(), Some("Example Travel GmbH"));
    assert!(thing.is_agent());
}

#[test]
fn builders_produce_descriptions_that_validate_cleanly() {
    let agent = ThingBuilder::agent("Weather")
        .id("urn:uuid:6f1d3a7a-1f97-4e6b-b45f-f3c2e1c84c77")
        .description("Tells the weather")
        .base("https://weather.example.com/")
        .version("1.0.0")
        .vendor("Example Corp", Some("https://example.com"))
        .property(
            "modelConfiguration",
            PropertyAffordance::new(DataSchema::object(
                [
                    ("modelName", DataSchema::of_type("string")),
                    ("temperature", DataSchema::of_type("number").range(0, 1)),
                ],
                &["modelName"],
            ))
            .read_only()
            .observable(),
        )
        .action(
            "getWeather",
            ActionAffordance::new()
                .input(DataSchema::of_type("string"))
                .output(DataSchema::of_type("string"))
                .safe(true),
        )
        .event(
            "alert",
            EventAffordance::new().data(DataSchema::of_type("string")),
        )
        .link(Link {
            href: "https://example.com/manual.pdf".to_owned(),
            rel: Some("service-doc".to_owned()),
            ..Link::default()
        })
        .build();
    // The builders leave forms to whoever serves the thing; TD 1.1 requires at least one per
    // affordance, and the validator says so.
    let report = agent.validate();
    let missing: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        missing,
        [
            "/properties/modelConfiguration/forms: the array needs at least 1 item",
            "/actions/getWeather/forms: the array needs at least 1 item",
            "/events/alert/forms: the array needs at least 1 item",
        ]
    );
    let mut agent = agent;
    agent.properties["modelConfiguration"]
        .forms
        .push(Form::new("properties/modelConfiguration"));
    agent.actions["getWeather"]
        .forms
        .push(Form::new("actions/getWeather"));
    agent.events["alert"].forms.push(Form::new("events/alert"));
    let report = agent.validate();
    assert!(report.problems.is_empty(), "{report}");
    let round = Thing::parse_validated(agent.to_json_pretty().as_bytes()).unwrap();
    assert_eq!(round, agent);

    let mut tool = ThingBuilder::tool("Geocoder")
        .security(
            "bearer_sc",
            SecurityScheme {
                format: Some("jwt".to_owned()),
                ..SecurityScheme::new(SchemeKind::Bearer)
            },
        )
        .action(
            "geocode",
            ActionAffordance::new().input(DataSchema::of_type("string")),
        )
        .build();
    tool.actions["geocode"]
        .forms
        .push(Form::new("https://geo.example.com/geocode"));
    let report = validate_value(&tool.to_value());
    assert!(report.problems.is_empty(), "{report}");
    assert!(tool.is_tool());

    // A plain thing from the builder is valid TD 1.1 too.
    let plain = ThingBuilder::thing("Lamp").build();
    assert!(plain.validate().problems.is_empty());
}

/// Deterministic mutations of the fixtures (byte flips, cuts, duplicated slices): validation never
/// panics, every problem has a rule and a sentence, and whatever is accepted as a Thing serializes
/// to a document that is accepted again as the same Thing.
#[test]
fn mutated_fixtures_never_crash_and_accepted_ones_round_trip() {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |bound: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % bound.max(1) as u64) as usize
    };
    let interesting = b"{}[],:\"\\0123456789.eE-+tfn lmos:@/ \n\xff\xc3";
    let mut accepted = 0;
    for (name, original) in fixtures() {
        for _ in 0..150 {
            let mut bytes = original.clone();
            for _ in 0..=next(3) {
                let at = next(bytes.len());
                match next(4) {
                    0 => bytes[at] = interesting[next(interesting.len())],
                    1 => {
                        bytes.remove(at);
                    }
                    2 => bytes.insert(at, interesting[next(interesting.len())]),
                    _ => {
                        let len = next(40).min(bytes.len() - at);
                        let slice: Vec<u8> = bytes[at..at + len].to_vec();
                        let to = next(bytes.len());
                        bytes.splice(to..to, slice);
                    }
                }
            }
            let report = validate_bytes(&bytes);
            for problem in &report.problems {
                assert!(!problem.message.is_empty(), "{name}");
            }
            if let Ok(thing) = Thing::parse_validated(&bytes) {
                assert!(report.is_valid(), "{name}");
                let again = Thing::parse_validated(thing.to_json_pretty().as_bytes())
                    .unwrap_or_else(|r| panic!("{name}: re-serialized thing refused:\n{r}"));
                assert_eq!(again, thing, "{name}");
                accepted += 1;
            }
        }
    }
    // Some mutations (inside strings, for instance) leave a valid TD; the loop must have seen them.
    assert!(accepted > 0);
}
