//! The `directory_registration` example, run as a process.

mod http_common;

use std::process::Command;

#[test]
fn the_directory_registration_example_registers_finds_and_deregisters() {
    let output = Command::new(http_common::example_binary("directory_registration"))
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines[0].starts_with("http://127.0.0.1:"), "{stdout}");
    assert_eq!(lines[1..], ["urn:example:weather-agent", "Weather", "0"]);
}
