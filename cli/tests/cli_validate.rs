//! `lmos validate`: one summary line per document, exit 0/1/2, JSON reports, files, stdin, URLs.

mod common;

use common::{fixture, fixture_bytes, json, lmos, serve, unreachable_url};

#[tokio::test]
async fn valid_agent_and_tool_exit_zero_with_one_line_each() {
    let agent = fixture("weather-agent.td.json");
    let tool = fixture("geocoder-tool.td.json");
    let run = lmos(&["validate", &agent, &tool], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{agent}: valid (Thing Description, lmos:Agent)"),
            format!("{tool}: valid (Thing Description, lmos:Tool, geo:Service)"),
        ]
    );
    assert_eq!(run.stderr, "");
}

#[tokio::test]
async fn missing_security_is_invalid_with_a_line_per_problem() {
    let path = fixture("missing-security.td.json");
    let run = lmos(&["validate", &path], None).await;
    assert_eq!(run.code, 1, "{run:?}");
    let mut lines = run.stdout.lines();
    assert_eq!(
        lines.next(),
        Some(format!("{path}: invalid, 2 problems").as_str())
    );
    let rest: Vec<&str> = lines.collect();
    assert_eq!(rest.len(), 2, "{rest:?}");
    assert!(rest.iter().all(|l| l.starts_with("  /")), "{rest:?}");
    assert!(rest.iter().any(|l| l.contains("\"security\"")), "{rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("\"securityDefinitions\"")),
        "{rest:?}"
    );
}

#[tokio::test]
async fn undefined_security_and_wrong_op_are_reported_at_their_pointers() {
    let path = fixture("wrong-op.td.json");
    let run = lmos(&["validate", &path], None).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run
        .stdout
        .starts_with(&format!("{path}: invalid, 2 problems\n")));
    assert!(
        run.stdout
            .contains("  /security/0 (line 6, column 16): the thing's security names"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("[undefined-security]"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("  /actions/ask/forms/0/op (line 9"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("[op-mismatch]"), "{}", run.stdout);
}

#[tokio::test]
async fn not_json_reports_line_and_column() {
    let path = fixture("spec-05-as-printed.json");
    let run = lmos(&["validate", &path], None).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        run.stdout,
        format!("{path}: invalid, 1 problem\n  /: not valid JSON: trailing comma (line 6, column 7) [parse]\n")
    );

    let text = fixture("not-json.txt");
    let run = lmos(&["validate", &text], None).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("not valid JSON"), "{}", run.stdout);
    assert!(run.stdout.contains("line 1, column 1"), "{}", run.stdout);
}

#[tokio::test]
async fn not_utf8_is_invalid_with_the_byte_offset() {
    let path = fixture("not-utf8.json");
    let run = lmos(&["validate", &path], None).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("not UTF-8"), "{}", run.stdout);
    assert!(run.stdout.contains("byte offset 14"), "{}", run.stdout);
    assert!(run.stdout.contains("[encoding]"), "{}", run.stdout);
}

#[tokio::test]
async fn deep_nesting_and_empty_input_get_a_clear_problem() {
    let deep = "[".repeat(100_000);
    let run = lmos(&["validate", "-"], Some(deep.as_bytes())).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("nesting deeper than"), "{}", run.stdout);
    assert!(run.stdout.contains("[too-deep]"), "{}", run.stdout);

    let run = lmos(&["validate", "-"], Some(b"  \n")).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains("the document is empty"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn any_invalid_document_makes_the_exit_status_one() {
    let good = fixture("weather-agent.td.json");
    let bad = fixture("wrong-op.td.json");
    let run = lmos(&["validate", &good, &bad, &good], None).await;
    assert_eq!(run.code, 1, "{run:?}");
    let summaries: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| !l.starts_with("  "))
        .collect();
    assert_eq!(summaries.len(), 3, "{}", run.stdout);
    assert!(summaries[0].ends_with(": valid (Thing Description, lmos:Agent)"));
    assert!(summaries[1].ends_with(": invalid, 2 problems"));
    assert!(summaries[2].ends_with(": valid (Thing Description, lmos:Agent)"));
}

#[tokio::test]
async fn a_missing_file_is_an_io_error_with_exit_two_and_the_rest_still_checked() {
    let good = fixture("weather-agent.td.json");
    let run = lmos(&["validate", "no/such/file.json", &good], None).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        "lmos validate: cannot open no/such/file.json: no such file\n"
    );
    assert!(run.stdout.contains(": valid (Thing Description"), "{run:?}");

    let dir = env!("CARGO_MANIFEST_DIR");
    let run = lmos(&["validate", dir], None).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("it is a directory"), "{run:?}");
}

#[tokio::test]
async fn usage_errors_exit_two() {
    let run = lmos(&["validate"], None).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("required"), "{run:?}");

    let run = lmos(&["validate", "--format", "yaml", "x.json"], None).await;
    assert_eq!(run.code, 2, "{run:?}");

    let run = lmos(&["validate", "-", "-"], None).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("only once"), "{run:?}");

    let run = lmos(&["frobnicate"], None).await;
    assert_eq!(run.code, 2, "{run:?}");

    let run = lmos(&["--help"], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    for command in ["validate", "fmt", "describe", "new"] {
        assert!(run.stdout.contains(command), "{}", run.stdout);
    }
}

#[tokio::test]
async fn stdin_is_read_when_the_document_is_a_dash() {
    let run = lmos(
        &["validate", "-"],
        Some(&fixture_bytes("geocoder-tool.td.json")),
    )
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        "-: valid (Thing Description, lmos:Tool, geo:Service)\n"
    );
}

#[tokio::test]
async fn max_bytes_refuses_a_larger_document() {
    let path = fixture("weather-agent.td.json");
    let run = lmos(&["validate", "--max-bytes", "100", &path], None).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout.contains("more than the limit of 100 bytes"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("[too-large]"), "{}", run.stdout);

    // The same from standard input, where the size is not known in advance.
    let big = vec![b' '; 5000];
    let run = lmos(&["validate", "--max-bytes", "1000", "-"], Some(&big)).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("[too-large]"), "{}", run.stdout);

    let run = lmos(&["validate", "--max-bytes", "lots", &path], None).await;
    assert_eq!(run.code, 2, "{run:?}");
}

#[tokio::test]
async fn json_format_prints_one_array_with_a_report_per_document() {
    let good = fixture("weather-agent.td.json");
    let bad = fixture("wrong-op.td.json");
    let run = lmos(
        &["validate", "--format", "json", &good, &bad, "missing.json"],
        None,
    )
    .await;
    assert_eq!(run.code, 2, "{run:?}");
    let reports = json(&run.stdout);
    let reports = reports.as_array().expect("an array");
    assert_eq!(reports.len(), 3);

    assert_eq!(reports[0]["source"], good.as_str());
    assert_eq!(reports[0]["valid"], true);
    assert_eq!(reports[0]["kind"], "ThingDescription");
    assert_eq!(reports[0]["types"], serde_json::json!(["lmos:Agent"]));
    assert_eq!(reports[0]["problems"], serde_json::json!([]));

    assert_eq!(reports[1]["valid"], false);
    let problems = reports[1]["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 2);
    assert_eq!(problems[0]["pointer"], "/security/0");
    assert_eq!(problems[0]["rule"], "undefined-security");
    assert_eq!(problems[0]["severity"], "error");
    assert_eq!(problems[0]["line"], 6);
    assert_eq!(problems[1]["pointer"], "/actions/ask/forms/0/op");
    assert_eq!(problems[1]["rule"], "op-mismatch");

    assert_eq!(reports[2]["source"], "missing.json");
    assert_eq!(reports[2]["valid"], false);
    assert_eq!(
        reports[2]["error"],
        "cannot open missing.json: no such file"
    );
}

#[tokio::test]
async fn a_url_is_fetched_asking_for_a_thing_description() {
    let server = serve(vec![
        (
            "/agent",
            200,
            "application/td+json",
            fixture_bytes("weather-agent.td.json"),
        ),
        (
            "/broken",
            200,
            "application/td+json",
            fixture_bytes("wrong-op.td.json"),
        ),
    ])
    .await;
    let url = format!("{}/agent", server.base);
    let run = lmos(&["validate", &url], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        format!("{url}: valid (Thing Description, lmos:Agent)\n")
    );
    let seen = server.seen.lock().expect("log").clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].request_line, "GET /agent HTTP/1.1");
    let accept = seen[0].header("accept").expect("an Accept header");
    assert!(accept.starts_with("application/td+json"), "{accept}");

    let broken = format!("{}/broken", server.base);
    let run = lmos(&["validate", &broken], None).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("[op-mismatch]"), "{}", run.stdout);
}

#[tokio::test]
async fn an_http_error_status_is_an_io_error() {
    let server = serve(vec![]).await;
    let url = format!("{}/nothing-here", server.base);
    let run = lmos(&["validate", &url], None).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert_eq!(
        run.stderr,
        format!("lmos validate: cannot fetch {url}: the server answered 404 Not Found\n")
    );
}

#[tokio::test]
async fn an_unreachable_url_is_an_io_error() {
    let url = unreachable_url().await;
    let run = lmos(&["validate", &url], None).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.starts_with(&format!(
            "lmos validate: cannot fetch {url}: the connection failed"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "");
}

#[tokio::test]
async fn warnings_are_shown_but_keep_the_document_valid() {
    let path = fixture("untyped-metadata.td.json");
    let run = lmos(&["validate", &path], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert_eq!(
        lines[0],
        format!("{path}: valid (Thing Description), 1 warning")
    );
    assert!(
        lines[1].starts_with("  /lmos:metadata (line 4, column 20): warning: "),
        "{}",
        lines[1]
    );
    assert!(lines[1].ends_with("[lmos-type]"), "{}", lines[1]);

    let run = lmos(&["validate", "--format", "json", &path], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    let reports = json(&run.stdout);
    assert_eq!(reports[0]["valid"], true);
    assert_eq!(reports[0]["problems"][0]["severity"], "warning");
}

#[tokio::test]
async fn https_to_a_server_that_speaks_no_tls_is_an_io_error() {
    // Exercises the TLS client set-up and handshake: the plain-HTTP server cannot answer it.
    let server = serve(vec![(
        "/agent",
        200,
        "application/td+json",
        fixture_bytes("weather-agent.td.json"),
    )])
    .await;
    let url = format!("{}/agent", server.base.replacen("http://", "https://", 1));
    let run = lmos(&["validate", &url], None).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr
            .starts_with(&format!("lmos validate: cannot fetch {url}: ")),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("HTTP client"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
}
