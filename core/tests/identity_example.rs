//! The `signed_agent` example runs to completion and checks what it says it checks.

mod http_common;

#[test]
fn signed_agent_example_verifies_the_td_the_caller_and_refuses_the_replay() {
    let output = std::process::Command::new(http_common::example_binary("signed_agent"))
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
    let did = lines[0]
        .strip_prefix("agent ")
        .and_then(|rest| rest.split(' ').next())
        .expect("first line names the DID");
    assert!(did.starts_with("did:web:127.0.0.1%3A"), "{did}");
    assert!(
        lines[1].ends_with(&format!("signed by {did}")),
        "{}",
        lines[1]
    );
    assert!(lines[2].starts_with("caller did:key:z6Mk"), "{}", lines[2]);
    assert_eq!(lines[3], "the same token again: identity_token_replayed");
}
