//! `lmos describe`: a summary for a person.

mod common;

use common::{fixture, fixture_bytes, lmos, serve, unreachable_url};

#[tokio::test]
async fn the_weather_agent_is_summarised() {
    let run = lmos(&["describe", &fixture("weather-agent.td.json")], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    let out = &run.stdout;
    let expected_lines = [
        "WeatherAgent",
        "  type:        lmos:Agent",
        "  id:          urn:uuid:6f1d3a7a-1f97-4e6b-b45f-f3c2e1c84c77",
        "  vendor:      Deutsche Telekom AG <https://telekom.de>",
        "  security:    basic_sc (basic)",
        "Properties",
        "  modelConfiguration: {modelName?: string, temperature?: number 0..1, maxTokens?: integer}  (read-only)",
        "    GET https://weatherai.example.com/things/urn:uuid:6f1d3a7a-1f97-4e6b-b45f-f3c2e1c84c77/properties/modelConfiguration (readproperty)",
        "Actions",
        "  getWeather(question: string, interactionMode: \"text\"|\"voice\") -> string  (safe)",
        "    Fetches weather information based on user input.",
        "    POST https://weatherai.example.com/things/urn:uuid:6f1d3a7a-1f97-4e6b-b45f-f3c2e1c84c77/actions/getWeather (invokeaction)",
        "Events",
        "  userFeedbackReceived -> {rating: integer 1..5, comment?: string}",
        "    GET https://weatherai.example.com/things/urn:uuid:6f1d3a7a-1f97-4e6b-b45f-f3c2e1c84c77/events/userFeedbackReceived (subscribeevent)",
        "Security definitions",
        "  basic_sc: basic, in header",
        "  service-doc: https://weatherai.example.com/manual.pdf (application/pdf)",
    ];
    let lines: Vec<&str> = out.lines().collect();
    for expected in expected_lines {
        assert!(lines.contains(&expected), "missing {expected:?} in:\n{out}");
    }
    assert_eq!(lines[0], "WeatherAgent");
}

#[tokio::test]
async fn relative_hrefs_are_resolved_against_base_and_templates_kept() {
    let run = lmos(&["describe", &fixture("geocoder-tool.td.json")], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    let out = &run.stdout;
    for expected in [
        "  geocode(place: string, country?: string) -> {lat: number -90..90, long: number -180..180}[]  (safe, idempotent)",
        "    POST https://geo.example.com/tools/geocoder/actions/geocode{?lang} (invokeaction)",
        "    GET https://geo.example.com/tools/geocoder/properties/quota (readproperty, observeproperty, subprotocol longpoll)",
        "  quota: integer 0.. [requests]  (read-only, observable)",
        "  GET https://geo.example.com/tools/geocoder/properties (readallproperties)",
        "  key_sc: apikey, in header \"X-Api-Key\"",
        "  either_sc: combo, one of key_sc, bearer_sc",
        "  security:    either_sc (combo)",
        "  vendor:      Example Maps <https://maps.example.com>",
    ] {
        assert!(out.lines().any(|l| l == expected), "missing {expected:?} in:\n{out}");
    }
}

#[tokio::test]
async fn schemas_in_short_cover_tuples_alternatives_and_units() {
    let run = lmos(&["describe", &fixture("extensions.td.json")], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    let out = &run.stdout;
    for expected in [
        "  fade([integer, \"linear\"]) -> null | string<date-time>  (asynchronous)",
        "  colour: {hue: number (0..360), name?: string}",
        "    PATCH https://lamp.example.com/colour (readproperty, writeproperty)",
        "  overheated -> number [celsius]",
        "    coap+ws://lamp.example.com:5683/properties/on (readproperty, writeproperty, application/cbor)",
        "    GET https://lamp.example.com/fade/{id} (queryaction)",
        "    DELETE https://lamp.example.com/fade/{id} (cancelaction)",
    ] {
        assert!(out.lines().any(|l| l == expected), "missing {expected:?} in:\n{out}");
    }
}

#[tokio::test]
async fn a_url_is_described() {
    let server = serve(vec![(
        "/td",
        200,
        "application/td+json",
        fixture_bytes("geocoder-tool.td.json"),
    )])
    .await;
    let url = format!("{}/td", server.base);
    let run = lmos(&["describe", &url], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("Geocoder\n"), "{}", run.stdout);

    let run = lmos(&["describe", &unreachable_url().await], None).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.starts_with("lmos describe: cannot fetch"),
        "{run:?}"
    );
}

#[tokio::test]
async fn an_invalid_but_readable_description_is_described_with_a_warning() {
    let path = fixture("wrong-op.td.json");
    let run = lmos(&["describe", &path], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("WrongOps\n"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("  security:    missing_sc (not defined)"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.stderr,
        format!("lmos describe: warning: {path} is not a valid Thing Description (2 problems); `lmos validate {path}` lists the problems\n")
    );
}

#[tokio::test]
async fn unreadable_documents_fail_with_a_sentence() {
    let path = fixture("not-json.txt");
    let run = lmos(&["describe", &path], None).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.starts_with(&format!(
            "lmos describe: {path} cannot be described: not valid JSON"
        )),
        "{}",
        run.stderr
    );

    let run = lmos(&["describe", "-"], Some(b"[1, 2, 3]")).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("cannot be described"), "{}", run.stderr);

    let run = lmos(&["describe", "nowhere.json"], None).await;
    assert_eq!(run.code, 2, "{run:?}");
}

#[tokio::test]
async fn a_thing_model_and_a_description_without_security_are_described() {
    let model = br#"{
        "@context": "https://www.w3.org/2022/wot/td/v1.1",
        "@type": "tm:ThingModel",
        "title": "Lamp model",
        "properties": {"on": {"type": "boolean"}}
    }"#;
    let run = lmos(&["describe", "-"], Some(model)).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    assert!(
        run.stdout
            .starts_with("Lamp model\n  type:        tm:ThingModel\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("\n  on: boolean\n"), "{}", run.stdout);
    assert!(
        run.stdout.contains("  security:    none named\n"),
        "{}",
        run.stdout
    );

    let path = fixture("missing-security.td.json");
    let run = lmos(&["describe", &path], None).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("NoSecurity\n"), "{}", run.stdout);
    assert!(
        run.stderr
            .contains("is not a valid Thing Description (2 problems)"),
        "{}",
        run.stderr
    );
}
