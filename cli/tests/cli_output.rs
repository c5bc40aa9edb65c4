//! Output handling shared by every command.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

/// A valid agent with `count` properties: its formatted form is far larger than a pipe buffer.
fn big_description(count: usize) -> String {
    let mut td = json!({
        "@context": ["https://www.w3.org/2022/wot/td/v1.1", {"lmos": "https://eclipse.dev/lmos/protocol/v1"}],
        "@type": "lmos:Agent",
        "title": "Big",
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": "nosec_sc",
        "properties": {}
    });
    let properties = td["properties"].as_object_mut().expect("object");
    for i in 0..count {
        properties.insert(
            format!("property{i}"),
            json!({
                "type": "string",
                "description": "a property that is only here to make the output long",
                "forms": [{"href": format!("https://example.com/properties/{i}")}]
            }),
        );
    }
    Value::to_string(&td)
}

#[test]
fn a_reader_that_goes_away_ends_the_command_without_a_panic() {
    let input = big_description(3000);
    let mut child = Command::new(env!("CARGO_BIN_EXE_lmos"))
        .args(["fmt", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lmos starts");
    // Close the reading end before lmos writes: its output cannot fit in the pipe buffer, so it
    // must meet the closed pipe.
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(input.as_bytes())
        .expect("lmos reads its input");
    drop(stdin);
    let output = child.wait_with_output().expect("lmos ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr, "", "nothing to say about a closed pipe");
    assert_eq!(output.status.code(), Some(2));
}
