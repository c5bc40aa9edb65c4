//! The JSON examples of the LMOS protocol pages 04, 05 and 10, as printed (verbatim) and corrected.

use std::path::PathBuf;

use lmos::td::validate::{validate_bytes, DocumentKind, Rule};
use lmos::td::{parse_document, ParseFailure, ParseOptions, Thing};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Each verbatim TD example has a trailing comma in its @context map at line 5; the report says so
/// with the exact line and column and nothing else.
#[test]
fn verbatim_td_examples_report_the_trailing_comma() {
    for name in [
        "spec/04-agent-example.verbatim.json",
        "spec/04-agent-full-example.verbatim.json",
        "spec/05-tool-example.verbatim.json",
    ] {
        let report = validate_bytes(&fixture(name));
        assert!(!report.is_valid(), "{name}");
        assert_eq!(report.kind, None, "{name}");
        assert_eq!(report.problems.len(), 1, "{name}: {report}");
        let problem = &report.problems[0];
        assert_eq!(problem.rule, Rule::Parse, "{name}");
        assert_eq!(problem.pointer, "", "{name}");
        // `"lmos": "...",` ends line 5; the parser notices at the `}` on line 6, column 7.
        assert_eq!((problem.line, problem.column), (Some(6), Some(7)), "{name}");
        assert!(
            problem.message.contains("trailing comma"),
            "{name}: {}",
            problem.message
        );
    }
}

/// Once the trailing comma is gone, the full agent example still misses a comma after
/// `lmos:metadata` (line 22); the tool example misses one after `@type` (line 8).
#[test]
fn verbatim_examples_have_a_second_syntax_error() {
    let full = String::from_utf8(fixture("spec/04-agent-full-example.verbatim.json")).unwrap();
    let full = full.replacen("protocol/v1\",\n", "protocol/v1\"\n", 1);
    match parse_document(full.as_bytes(), &ParseOptions::default()) {
        Err(ParseFailure::Json {
            line,
            column,
            message,
        }) => {
            assert_eq!((line, column), (23, 5), "{message}");
            assert!(message.contains("expected `,` or `}`"), "{message}");
        }
        other => panic!("expected a JSON error, got {other:?}"),
    }

    let tool = String::from_utf8(fixture("spec/05-tool-example.verbatim.json")).unwrap();
    let tool = tool.replacen("protocol/v1\",\n", "protocol/v1\"\n", 1);
    match parse_document(tool.as_bytes(), &ParseOptions::default()) {
        Err(ParseFailure::Json { line, column, .. }) => assert_eq!((line, column), (9, 4)),
        other => panic!("expected a JSON error, got {other:?}"),
    }
}

/// The short examples fixed for syntax only are still not TD 1.1: they lack security.
#[test]
fn syntax_fixed_short_examples_lack_security() {
    for name in [
        "spec/04-agent-example.syntax-fixed.json",
        "spec/05-tool-example.syntax-fixed.json",
    ] {
        let report = validate_bytes(&fixture(name));
        assert_eq!(report.kind, Some(DocumentKind::ThingDescription));
        let messages: Vec<String> = report.errors().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "/: the member \"security\" is required here",
                "/: the member \"securityDefinitions\" is required here",
            ],
            "{name}"
        );
        assert!(report.errors().all(|p| p.rule == Rule::JsonSchema));
        assert_eq!(report.problems[0].line, Some(1));
    }
}

#[test]
fn corrected_td_examples_validate_cleanly() {
    for (name, agent) in [
        ("spec/04-agent-example.corrected.json", true),
        ("spec/04-agent-full-example.corrected.json", true),
        ("spec/05-tool-example.corrected.json", false),
    ] {
        let report = validate_bytes(&fixture(name));
        assert!(report.problems.is_empty(), "{name}:\n{report}");
        assert_eq!(report.kind, Some(DocumentKind::ThingDescription));
        let thing = Thing::parse_validated(&fixture(name)).unwrap();
        assert_eq!(thing.is_agent(), agent, "{name}");
        assert_eq!(thing.is_tool(), !agent, "{name}");
        assert_eq!(thing.vendor_name(), Some("Deutsche Telekom AG"));
    }
}

#[test]
fn full_agent_example_reads_into_the_model() {
    let thing =
        Thing::parse_validated(&fixture("spec/04-agent-full-example.corrected.json")).unwrap();
    assert_eq!(thing.title, "WeatherAgent");
    assert!(thing.properties["modelConfiguration"].is_read_only());
    let form = &thing.actions["getWeather"].forms[0];
    assert_eq!(form.http_method(), Some("POST"));
    assert_eq!(thing.events["userFeedbackReceived"].forms.len(), 1);
    assert_eq!(thing.security.as_slice(), ["basic_sc".to_owned()]);
}

/// The message examples of page 10 are not Thing Descriptions; they are kept for the WebSocket
/// work. All of them are valid JSON as printed.
#[test]
fn message_examples_parse_as_json_objects() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/messages");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let parsed = parse_document(&bytes, &ParseOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(parsed.duplicates.is_empty(), "{}", path.display());
        let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
        assert_eq!(
            parsed.value["messageType"],
            stem.as_str(),
            "{}",
            path.display()
        );
        count += 1;
    }
    assert_eq!(count, 17);
}
