//! Bad input to the parser: every one gets a clear error, never a crash.

use lmos::td::parse::{read_limited, PositionIndex};
use lmos::td::validate::{validate_bytes, validate_bytes_with, Rule};
use lmos::td::{parse_document, ParseFailure, ParseOptions};

fn parse(input: &[u8]) -> Result<lmos::td::ParsedDocument, ParseFailure> {
    parse_document(input, &ParseOptions::default())
}

#[test]
fn empty_input_is_refused() {
    assert_eq!(parse(b""), Err(ParseFailure::Empty));
    assert_eq!(parse(b" \n\t "), Err(ParseFailure::Empty));
    let report = validate_bytes(b"");
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].rule, Rule::Parse);
    assert_eq!(report.problems[0].message, "the document is empty");
}

#[test]
fn text_that_is_not_json_gets_line_and_column() {
    let err = parse(b"{\n  \"title\": nope\n}").unwrap_err();
    match err {
        ParseFailure::Json {
            line,
            column,
            ref message,
        } => {
            assert_eq!((line, column), (2, 13));
            assert_eq!(message, "expected ident");
        }
        other => panic!("{other:?}"),
    }
    let report = validate_bytes(b"hello");
    assert_eq!(report.problems[0].rule, Rule::Parse);
    assert_eq!(report.problems[0].line, Some(1));
    assert!(
        report.to_string().starts_with("/: not valid JSON"),
        "{report}"
    );
}

#[test]
fn trailing_characters_after_the_document_are_refused() {
    match parse(b"{} {}") {
        Err(ParseFailure::Json { message, .. }) => assert_eq!(message, "trailing characters"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_utf8_reports_the_offset_of_the_first_bad_byte() {
    let mut input = br#"{"title": "caf"#.to_vec();
    let offset = input.len();
    input.extend_from_slice(&[0xC3, 0x28]); // a lead byte followed by a non-continuation byte
    input.extend_from_slice(br#""}"#);
    assert_eq!(parse(&input), Err(ParseFailure::NotUtf8 { offset }));
    let report = validate_bytes(&input);
    assert_eq!(report.problems[0].rule, Rule::Encoding);
    assert!(report.problems[0]
        .message
        .contains(&format!("byte offset {offset}")));
}

#[test]
fn utf16_input_is_refused_as_not_utf8() {
    let utf16: Vec<u8> = "{}".encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut with_bom = vec![0xFF, 0xFE];
    with_bom.extend(utf16);
    assert_eq!(parse(&with_bom), Err(ParseFailure::NotUtf8 { offset: 0 }));
}

#[test]
fn a_utf8_byte_order_mark_is_skipped() {
    let parsed = parse("\u{feff}{\"a\": 1}".as_bytes()).unwrap();
    assert_eq!(parsed.value["a"], 1);
}

fn nested_arrays(depth: usize) -> Vec<u8> {
    let mut input = vec![b'['; depth];
    input.extend(std::iter::repeat_n(b']', depth));
    input
}

/// 100 000 nested arrays (and objects) give a TooDeep error, also on a thread with a small stack.
#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let handle = std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(|| {
            let arrays = parse(&nested_arrays(100_000));
            let mut objects = "{\"a\":".repeat(100_000).into_bytes();
            objects.extend(std::iter::repeat_n(b'}', 100_000));
            let objects = parse(&objects);
            let report = validate_bytes(&nested_arrays(100_000));
            // The deepest document the default accepts goes through every check as well.
            let mut deep = br#"{"@context": "https://www.w3.org/2022/wot/td/v1.1", "title": "T",
                "securityDefinitions": {"s": {"scheme": "nosec"}}, "security": "s", "x": "#
                .to_vec();
            deep.extend(nested_arrays(126));
            deep.push(b'}');
            let deep_report = validate_bytes(&deep);
            assert!(deep_report.is_valid(), "{deep_report}");
            (arrays, objects, report)
        })
        .unwrap();
    let (arrays, objects, report) = handle
        .join()
        .expect("the parser must not overflow the stack");
    assert_eq!(
        arrays,
        Err(ParseFailure::TooDeep {
            line: 1,
            column: 128,
            limit: 127
        })
    );
    assert!(
        matches!(objects, Err(ParseFailure::TooDeep { limit: 127, .. })),
        "{objects:?}"
    );
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].rule, Rule::TooDeep);
    assert_eq!(report.problems[0].column, Some(128));
}

#[test]
fn the_depth_limit_is_configurable() {
    let options = ParseOptions {
        max_depth: 3,
        ..ParseOptions::default()
    };
    assert!(parse_document(&nested_arrays(3), &options).is_ok());
    assert_eq!(
        parse_document(&nested_arrays(4), &options),
        Err(ParseFailure::TooDeep {
            line: 1,
            column: 4,
            limit: 3
        })
    );
    assert!(parse_document(br#"{"a": {"b": [1]}}"#, &options).is_ok());
    assert!(matches!(
        parse_document(br#"{"a": {"b": [[1]]}}"#, &options),
        Err(ParseFailure::TooDeep { limit: 3, .. })
    ));
    // Up to serde_json's own guard the default accepts everything.
    assert!(parse(&nested_arrays(127)).is_ok());
}

/// A 200 MB buffer is refused by its length, before any byte is looked at.
#[test]
fn a_200_mb_input_is_refused_by_the_size_limit() {
    let size = 200 * 1024 * 1024;
    let huge = vec![b'['; size];
    assert_eq!(
        parse(&huge),
        Err(ParseFailure::TooLarge {
            size,
            limit: 16 * 1024 * 1024
        })
    );
    let report = validate_bytes(&huge);
    assert_eq!(report.problems[0].rule, Rule::TooLarge);
    assert!(report.problems[0]
        .message
        .contains("more than the limit of 16777216 bytes"));
}

#[test]
fn the_size_limit_is_configurable() {
    let options = ParseOptions {
        max_bytes: 8,
        ..ParseOptions::default()
    };
    assert!(parse_document(b"[1,2,3]", &options).is_ok());
    assert_eq!(
        parse_document(b"[1,2,3,4]", &options),
        Err(ParseFailure::TooLarge { size: 9, limit: 8 })
    );
    let report = validate_bytes_with(b"{\"title\": 1}", &options);
    assert_eq!(report.problems[0].rule, Rule::TooLarge);
}

/// Reading from a stream stops one byte past the limit.
#[test]
fn read_limited_stops_at_the_limit() {
    let options = ParseOptions {
        max_bytes: 1024,
        ..ParseOptions::default()
    };
    let endless = std::io::repeat(b' ');
    assert_eq!(
        read_limited(endless, &options),
        Err(ParseFailure::TooLarge {
            size: 1025,
            limit: 1024
        })
    );
    assert_eq!(read_limited(&b"{}"[..], &options).unwrap(), b"{}");
}

#[test]
fn duplicate_members_are_recorded_with_pointer_and_position() {
    let input = br#"{
  "title": "a",
  "properties": {
    "temp": {"type": "number"},
    "temp": {"type": "string", "type": "integer"}
  },
  "list": [{"x~y/z": 1, "x~y/z": 2}],
  "title": "b",
  "title": "c"
}"#;
    let parsed = parse(input).unwrap();
    assert_eq!(
        parsed.value["title"], "c",
        "the last value wins, as in serde_json"
    );
    assert_eq!(parsed.value["properties"]["temp"]["type"], "integer");
    let found: Vec<(&str, &str, usize, usize)> = parsed
        .duplicates
        .iter()
        .map(|d| (d.pointer.as_str(), d.name.as_str(), d.line, d.column))
        .collect();
    assert_eq!(
        found,
        [
            ("/properties/temp/type", "type", 5, 32),
            ("/properties/temp", "temp", 5, 5),
            ("/list/0/x~0y~1z", "x~y/z", 7, 25),
            ("/title", "title", 8, 3),
            ("/title", "title", 9, 3),
        ]
    );
}

#[test]
fn a_document_without_duplicates_records_none() {
    let parsed = parse(br#"{"a": {"b": 1}, "c": {"b": 2}, "d": [{"b": 3}, {"b": 4}]}"#).unwrap();
    assert!(parsed.duplicates.is_empty());
}

/// The parser builds exactly the value serde_json builds, for valid and invalid JSON alike.
#[test]
fn values_match_serde_json() {
    let inputs: &[&str] = &[
        "0",
        "-0",
        "1e400",
        "-12.5e-3",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "\"\\u00e9\\ud83d\\ude00\\n\\\"\"",
        "\"\\ud800\"",
        "[1, [2, [3, {}]], {\"a\": [null, true, false]}]",
        "{\"b\": 1, \"a\": 2, \"\": 3}",
        "[1,]",
        "{\"a\" 1}",
        "01",
        "\"unterminated",
        "[\"\u{1}\"]",
        "nul",
        "{\"a\":1}}",
    ];
    for input in inputs {
        let ours = parse(input.as_bytes());
        let theirs = serde_json::from_str::<serde_json::Value>(input);
        match (ours, theirs) {
            (Ok(ours), Ok(theirs)) => assert_eq!(ours.value, theirs, "{input}"),
            (Err(ParseFailure::Json { line, column, .. }), Err(theirs)) => {
                assert_eq!((line, column), (theirs.line(), theirs.column()), "{input}")
            }
            (ours, theirs) => panic!("{input}: ours {ours:?}, serde_json {theirs:?}"),
        }
    }
}

#[test]
fn position_index_finds_values_and_keys() {
    let text = "{\n \"a\": [10, {\"b\": \"x,y]\"}],\n \"c\\\"d\": true\n}";
    let index = PositionIndex::build(text);
    assert_eq!(index.value(""), Some((1, 1)));
    assert_eq!(index.value("/a"), Some((2, 7)));
    assert_eq!(index.value("/a/0"), Some((2, 8)));
    assert_eq!(index.value("/a/1/b"), Some((2, 18)));
    assert_eq!(index.value("/c\"d"), Some((3, 10)));
    assert_eq!(index.key("/c\"d", 0), Some((3, 2)));
    assert_eq!(index.value("/missing"), None);
}

/// Scalars and arrays are JSON but not Thing Descriptions.
#[test]
fn json_that_is_not_an_object_is_not_a_thing_description() {
    for (input, found) in [
        ("[1, 2]", "an array"),
        ("42", "a number"),
        ("\"td\"", "a string"),
        ("null", "null"),
        ("true", "a boolean"),
    ] {
        let report = validate_bytes(input.as_bytes());
        assert_eq!(report.kind, None);
        assert_eq!(report.problems.len(), 1, "{input}");
        let problem = &report.problems[0];
        assert_eq!(
            (problem.rule, problem.pointer.as_str()),
            (Rule::JsonSchema, "")
        );
        assert_eq!(
            problem.message,
            format!("a Thing Description must be a JSON object, but this document is {found}")
        );
    }
}

/// A big document that is not a TD gets its one problem (with a position) without indexing every
/// value of it.
#[test]
fn a_large_non_object_gets_one_located_problem() {
    let mut input = b"[".to_vec();
    input.extend(std::iter::repeat_n(&b"0,"[..], 4_000_000).flatten());
    input.extend_from_slice(b"0]");
    let report = validate_bytes(&input);
    assert_eq!(report.problems.len(), 1);
    assert_eq!(report.problems[0].rule, Rule::JsonSchema);
    assert_eq!(
        (report.problems[0].line, report.problems[0].column),
        (Some(1), Some(1))
    );
}

/// The position index is public; text that is not JSON gives a partial index, never a panic.
#[test]
fn position_index_survives_text_that_is_not_json() {
    for text in [
        "{\"caf\u{e9}",
        "{\"a\\",
        "[\"\u{1F600}\", {\"k\": [}}]]]",
        "}}]]\"",
        "{\"\u{e9}\u{e9}\":",
        "\\\"",
    ] {
        let _ = PositionIndex::build(text);
    }
    let index = PositionIndex::build("{\"\u{e9}t\u{e9}\": [1]}");
    assert_eq!(index.value("/\u{e9}t\u{e9}/0"), Some((1, 12)));
}
