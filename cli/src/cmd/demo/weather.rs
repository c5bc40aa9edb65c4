//! The reference LMOS agent, the WeatherAgent of the LMOS agent description: its Thing
//! Description and its handlers.
//!
//! One file shared by `lmos demo` (`cli/src/cmd/demo/`) and the `weather_agent` example
//! (`core/examples/weather_agent.rs`, which includes it with `#[path]`), so both serve the same
//! agent. It uses only `lmos`, `serde_json`, `tokio` and `async-stream`.

use std::time::Duration;

use lmos::td::{
    ActionAffordance, DataSchema, EventAffordance, Link, PropertyAffordance, Thing, ThingBuilder,
};
use lmos::thing::handler::{invoke_with, stream_with};
use lmos::thing::{ActionUpdate, ExposedThing, HandlerError};
use serde_json::{json, Value};

fn string(description: &str) -> DataSchema {
    DataSchema::of_type("string").describe(description)
}

fn key_values(description: &str) -> DataSchema {
    DataSchema::array(DataSchema::object(
        [
            ("key", DataSchema::of_type("string")),
            ("value", DataSchema::of_type("string")),
        ],
        &["key", "value"],
    ))
    .describe(description)
}

fn messages(description: &str) -> DataSchema {
    DataSchema::array(DataSchema::object(
        [
            (
                "role",
                string("Who wrote the message: user, assistant, agent or system."),
            ),
            ("content", string("The text of the message.")),
            ("format", string("Format of the content, e.g. text.")),
        ],
        &["role", "content"],
    ))
    .describe(description)
}

fn feedback_schema() -> DataSchema {
    DataSchema::object(
        [
            (
                "rating",
                DataSchema::of_type("integer")
                    .range(1, 5)
                    .describe("User rating, where 1 is the lowest and 5 is the highest."),
            ),
            (
                "comment",
                string("Optional user comment providing additional feedback."),
            ),
        ],
        &["rating"],
    )
}

/// The WeatherAgent's Thing Description (forms are filled in by the servient).
pub fn description() -> Thing {
    let mut temperature = DataSchema::of_type("number")
        .describe("Temperature setting for controlling response randomness.");
    temperature.minimum = Some(0.into());
    temperature.maximum = Some(1.into());
    let model_configuration = DataSchema::object(
        [
            ("modelName", string("Name of the model in use, e.g., gpt-4o.")),
            ("temperature", temperature),
            (
                "maxTokens",
                DataSchema::of_type("integer")
                    .describe("Maximum number of tokens the model is allowed to generate."),
            ),
        ],
        &[],
    )
    .describe("Current configuration of the underlying LLM, including version, temperature, and maximum tokens.");

    ThingBuilder::agent("WeatherAgent")
        .id("urn:uuid:6f1d3a7a-1f97-4e6b-b45f-f3c2e1c84c77")
        .description("An agent that answers questions about the weather.")
        .vendor("Deutsche Telekom AG", Some("https://telekom.de"))
        .link(Link {
            href: "https://weatherai.example.com/manual.pdf".into(),
            rel: Some("service-doc".into()),
            media_type: Some("application/pdf".into()),
            hreflang: Some("en".to_owned().into()),
            ..Link::default()
        })
        .property(
            "modelConfiguration",
            PropertyAffordance::new(model_configuration).observable(),
        )
        .action(
            "getWeather",
            ActionAffordance::new()
                .description("Fetches weather information based on user input.")
                .safe(true)
                .idempotent(false)
                .synchronous(true)
                .input(DataSchema::object(
                    [
                        ("question", DataSchema::of_type("string")),
                        (
                            "interactionMode",
                            DataSchema::of_type("string")
                                .one_of_values([json!("text"), json!("voice")]),
                        ),
                    ],
                    &["question", "interactionMode"],
                ))
                .output(string("Natural language output providing weather information.")),
        )
        .action(
            "rate",
            ActionAffordance::new()
                .description("Rates the service; emits userFeedbackReceived.")
                .synchronous(true)
                .input(feedback_schema()),
        )
        .action(
            "forecast",
            ActionAffordance::new()
                .description("Forecasts the weather for the next days, reporting progress per day.")
                .synchronous(false)
                .input(DataSchema::object(
                    [
                        ("city", DataSchema::of_type("string")),
                        ("days", DataSchema::of_type("integer").range(1, 7)),
                    ],
                    &["city", "days"],
                ))
                .output(DataSchema::array(DataSchema::object(
                    [
                        ("day", DataSchema::of_type("integer")),
                        ("city", DataSchema::of_type("string")),
                        ("summary", DataSchema::of_type("string")),
                        ("temperatureC", DataSchema::of_type("number")),
                    ],
                    &["day", "city", "summary", "temperatureC"],
                ))),
        )
        .action(
            "chat",
            ActionAffordance::new()
                .description("Ask the agent a question (AgentRequest in, AgentResult out).")
                .synchronous(true)
                .input(DataSchema::object(
                    [
                        (
                            "conversationContext",
                            DataSchema::object(
                                [
                                    ("conversationId", DataSchema::of_type("string")),
                                    ("turnId", DataSchema::of_type("string")),
                                ],
                                &[],
                            ),
                        ),
                        ("systemContext", key_values("Context of the calling system.")),
                        (
                            "userContext",
                            DataSchema::object(
                                [
                                    ("userId", DataSchema::of_type("string")),
                                    ("profile", key_values("Facts about the user.")),
                                ],
                                &[],
                            ),
                        ),
                        ("messages", messages("The conversation so far.")),
                    ],
                    &["messages"],
                ))
                .output(DataSchema::object(
                    [
                        ("status", string("success or failure")),
                        ("messages", messages("The agent's answer.")),
                    ],
                    &["messages"],
                )),
        )
        .event(
            "userFeedbackReceived",
            EventAffordance::new()
                .description("Emitted when a user provides feedback on the service, with a rating from 1 to 5.")
                .data(feedback_schema()),
        )
        .build()
}

fn weather_answer(question: &str, mode: &str) -> String {
    format!("Weather for \"{question}\": sunny, 21 °C, light wind (answered in {mode} mode).")
}

/// Sets the initial property values and registers the handlers of the WeatherAgent; `step` is
/// the time the `forecast` action spends on each day.
pub fn serve(exposed: &ExposedThing, step: Duration) -> Result<(), lmos::thing::ThingError> {
    exposed.set_property(
        "modelConfiguration",
        json!({"modelName": "gpt-4o", "temperature": 0.7, "maxTokens": 1000}),
    )?;

    exposed.on_action(
        "getWeather",
        invoke_with(|input: Value, _ctx| async move {
            let question = input["question"].as_str().unwrap_or_default();
            let mode = input["interactionMode"].as_str().unwrap_or("text");
            Ok(Value::String(weather_answer(question, mode)))
        }),
    )?;

    let events = exposed.clone();
    exposed.on_action(
        "rate",
        invoke_with(move |input: Value, _ctx| {
            let events = events.clone();
            async move {
                events
                    .emit_event("userFeedbackReceived", input)
                    .map_err(|e| HandlerError::Failed(e.to_string()))?;
                Ok(Value::Null)
            }
        }),
    )?;

    exposed.on_action_stream(
        "forecast",
        stream_with(move |input: Value, ctx| {
            async_stream::stream! {
                let city = input["city"].as_str().unwrap_or_default().to_owned();
                let days = input["days"].as_u64().unwrap_or(1);
                let mut entries = Vec::new();
                for day in 1..=days {
                    tokio::select! {
                        _ = ctx.cancelled() => {
                            yield Err(HandlerError::Cancelled);
                            return;
                        }
                        _ = tokio::time::sleep(step) => {}
                    }
                    let summary = ["sunny", "cloudy", "rain", "windy"][(day as usize) % 4];
                    entries.push(json!({
                        "day": day,
                        "city": city,
                        "summary": summary,
                        "temperatureC": 15 + day,
                    }));
                    yield Ok(ActionUpdate::Progress(json!({"day": day, "of": days})));
                }
                yield Ok(ActionUpdate::Output(Value::Array(entries)));
            }
        }),
    )?;

    exposed.on_action(
        "chat",
        invoke_with(|input: Value, _ctx| async move {
            let question = input["messages"]
                .as_array()
                .and_then(|messages| {
                    messages
                        .iter()
                        .rev()
                        .find(|m| m["role"] == "user")
                        .and_then(|m| m["content"].as_str())
                })
                .ok_or_else(|| HandlerError::InvalidInput("no user message".into()))?;
            Ok(json!({
                "status": "success",
                "messages": [{
                    "role": "agent",
                    "content": weather_answer(question, "text"),
                    "format": "text",
                }],
            }))
        }),
    )?;
    Ok(())
}
