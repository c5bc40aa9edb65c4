//! `uriVariables` over HTTP: the forms a servient writes for them, the values its handlers
//! receive, and the client's expansion and checks, over real sockets on 127.0.0.1.

use indexmap::IndexMap;
use lmos::td::{ActionAffordance, DataSchema, PropertyAffordance, Thing, ThingBuilder};
use lmos::thing::handler::{invoke_with, read_with};
use lmos::thing::{ConsumeOptions, ConsumedThing, InteractionOptions, Servient, ThingError};
use serde_json::{json, Value};

fn vars(value: Value) -> InteractionOptions {
    InteractionOptions::uri_variables(value.as_object().cloned().unwrap_or_default())
}

fn weather_thing() -> Thing {
    let mut thing = ThingBuilder::tool("Weather")
        .action(
            "forecast",
            ActionAffordance::new().output(DataSchema::of_type("object")),
        )
        .property(
            "temperature",
            PropertyAffordance::new(DataSchema::of_type("object")).read_only(),
        )
        .build();
    let mut forecast = IndexMap::new();
    forecast.insert("city".to_owned(), DataSchema::of_type("string"));
    forecast.insert(
        "days".to_owned(),
        DataSchema::of_type("integer").range(1, 7),
    );
    thing.actions["forecast"].uri_variables = Some(forecast);
    let mut temperature = IndexMap::new();
    let mut unit = DataSchema::of_type("string");
    unit.extra
        .insert("enum".into(), json!(["celsius", "fahrenheit"]));
    temperature.insert("unit".to_owned(), unit);
    thing.properties["temperature"].uri_variables = Some(temperature);
    thing
}

async fn serve() -> (Servient, String) {
    let servient = Servient::builder().http_port(0).build().unwrap();
    let exposed = servient.expose(weather_thing()).unwrap();
    exposed
        .on_action(
            "forecast",
            invoke_with(|input, ctx| async move {
                Ok(json!({"input": input, "variables": ctx.uri_variables()}))
            }),
        )
        .unwrap();
    exposed
        .on_property_read(
            "temperature",
            read_with(|ctx| async move { Ok(json!({"variables": ctx.uri_variables()})) }),
        )
        .unwrap();
    servient.start().await.unwrap();
    let td_url = exposed.td_url().unwrap();
    (servient, td_url)
}

#[tokio::test]
async fn forms_carry_a_query_template_and_handlers_get_typed_values() {
    let (servient, td_url) = serve().await;
    let consumed = ConsumedThing::from_url(&td_url, ConsumeOptions::default())
        .await
        .unwrap();
    let forms = &consumed.thing().actions["forecast"].forms;
    assert!(forms[0]
        .href
        .ends_with("/weather/actions/forecast{?city,days}"));
    assert!(forms[0].href.starts_with("http://127.0.0.1:"));
    let forms = &consumed.thing().properties["temperature"].forms;
    assert!(forms[0].href.ends_with("/properties/temperature{?unit}"));

    let output = consumed
        .invoke_action_with(
            "forecast",
            Value::Null,
            &vars(json!({"city": "Köln am Rhein", "days": 3})),
        )
        .await
        .unwrap();
    assert_eq!(
        output,
        json!({"input": null, "variables": {"city": "Köln am Rhein", "days": 3}})
    );
    let value = consumed
        .read_property_with("temperature", &vars(json!({"unit": "fahrenheit"})))
        .await
        .unwrap();
    assert_eq!(value, json!({"variables": {"unit": "fahrenheit"}}));
    // Without variables the template expands to the bare URL.
    let output = consumed
        .invoke_action("forecast", Value::Null)
        .await
        .unwrap();
    assert_eq!(output, json!({"input": null, "variables": {}}));
    servient.shutdown().await;
}

#[tokio::test]
async fn bad_variables_are_refused_by_the_client_and_by_the_server() {
    let (servient, td_url) = serve().await;
    let consumed = ConsumedThing::from_url(&td_url, ConsumeOptions::default())
        .await
        .unwrap();
    // Checked locally first: out of range, wrong type, undeclared.
    for bad in [
        json!({"days": 9}),
        json!({"days": "three"}),
        json!({"country": "DE"}),
    ] {
        let error = consumed
            .invoke_action_with("forecast", Value::Null, &vars(bad.clone()))
            .await
            .unwrap_err();
        assert_eq!(error.code(), "invalid_input", "{bad}: {error}");
    }
    // With local checks off, the server refuses them with a 400 listing the violations.
    let unchecked = ConsumedThing::from_url(
        &td_url,
        ConsumeOptions {
            validate_inputs: false,
            ..ConsumeOptions::default()
        },
    )
    .await
    .unwrap();
    let error = unchecked
        .invoke_action_with("forecast", Value::Null, &vars(json!({"days": 9})))
        .await
        .unwrap_err();
    let ThingError::RemoteBadRequest { violations, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(violations[0].path, "/days");
    assert_eq!(violations[0].rule, "maximum");
    let error = unchecked
        .read_property_with("temperature", &vars(json!({"unit": "kelvin"})))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "remote_bad_request", "{error}");

    // Raw requests: a query text that is no integer is a 400, undeclared parameters are ignored.
    let base = td_url.trim_end_matches("weather");
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{base}weather/actions/forecast?days=three"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["errors"][0]["path"], "/days");
    let output: Value = client
        .post(format!("{base}weather/actions/forecast?days=2&cache=1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(output["variables"], json!({"days": 2}));
    servient.shutdown().await;
}

/// A foreign server with a path variable (`{id}`) and a query template: the client expands both.
#[tokio::test]
async fn expands_path_and_query_templates_of_any_server() {
    let app = axum::Router::new()
        .fallback(|uri: axum::http::Uri| async move { axum::Json(Value::String(uri.to_string())) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let td: Thing = serde_json::from_value(json!({
        "@context": "https://www.w3.org/2022/wot/td/v1.1",
        "title": "Items",
        "securityDefinitions": {"nosec": {"scheme": "nosec"}},
        "security": "nosec",
        "base": format!("http://{address}/"),
        "properties": {
            "item": {
                "type": "string",
                "readOnly": true,
                "uriVariables": {
                    "id": {"type": "string"},
                    "fields": {"type": "array", "items": {"type": "string"}}
                },
                "forms": [{"href": "items/{id}{?fields}", "op": "readproperty"}]
            }
        }
    }))
    .unwrap();
    let consumed = ConsumedThing::new(td, ConsumeOptions::default()).unwrap();
    let value = consumed
        .read_property_with(
            "item",
            &vars(json!({"id": "a b/c", "fields": ["name", "size"]})),
        )
        .await
        .unwrap();
    assert_eq!(value, "/items/a%20b%2Fc?fields=name,size");
    // A path variable is needed to build the URL at all.
    let error = consumed
        .read_property_with("item", &InteractionOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_input", "{error}");
    assert!(error.to_string().contains("\"id\""), "{error}");
    server.abort();
}
