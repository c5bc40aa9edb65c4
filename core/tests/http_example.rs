//! The reference example `weather_agent`, started as a process and called with `ConsumedThing`.

mod http_common;

use http_common::{start_weather_agent, WeatherAgent};

use futures::StreamExt;
use lmos::thing::{ActionUpdate, ConsumeOptions, ConsumedThing};
use serde_json::{json, Value};

fn start_agent() -> WeatherAgent {
    start_weather_agent(&[])
}

#[tokio::test]
async fn weather_agent_serves_the_lmos_weather_agent() {
    let agent = start_agent();
    let weather = ConsumedThing::from_url(&agent.td_url, ConsumeOptions::default())
        .await
        .unwrap();
    let td = weather.thing();
    assert_eq!(td.title, "WeatherAgent");
    assert!(td.is_agent());
    assert_eq!(td.vendor_name(), Some("Deutsche Telekom AG"));
    assert_eq!(
        td.id.as_deref(),
        Some("urn:uuid:6f1d3a7a-1f97-4e6b-b45f-f3c2e1c84c77")
    );

    // modelConfiguration: read, observe, write, refuse invalid values
    assert_eq!(
        weather.read_property("modelConfiguration").await.unwrap(),
        json!({"modelName": "gpt-4o", "temperature": 0.7, "maxTokens": 1000})
    );
    let mut changes = weather
        .observe_property("modelConfiguration")
        .await
        .unwrap();
    let update = json!({"modelName": "gpt-4o-mini", "temperature": 0.2, "maxTokens": 200});
    weather
        .write_property("modelConfiguration", update.clone())
        .await
        .unwrap();
    assert_eq!(changes.next().await.unwrap().unwrap(), update);
    assert_eq!(
        weather.read_property("modelConfiguration").await.unwrap(),
        update
    );
    let error = weather
        .write_property(
            "modelConfiguration",
            json!({"modelName": "x", "temperature": 2}),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_input");

    // getWeather
    let answer = weather
        .invoke_action(
            "getWeather",
            json!({"question": "Will it rain in Bonn?", "interactionMode": "text"}),
        )
        .await
        .unwrap();
    assert!(answer.as_str().unwrap().contains("Will it rain in Bonn?"));
    let error = weather
        .invoke_action(
            "getWeather",
            json!({"question": "x", "interactionMode": "smoke"}),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_input");

    // rate emits userFeedbackReceived
    let mut feedback = weather
        .subscribe_event("userFeedbackReceived")
        .await
        .unwrap();
    let rating = json!({"rating": 4, "comment": "helpful"});
    weather.invoke_action("rate", rating.clone()).await.unwrap();
    assert_eq!(feedback.next().await.unwrap().unwrap(), rating);
    let error = weather
        .invoke_action("rate", json!({"rating": 6}))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_input");

    // forecast: asynchronous, one progress per day, then the days
    let updates: Vec<ActionUpdate> = weather
        .invoke_action_stream("forecast", json!({"city": "Bonn", "days": 3}))
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    let progress: Vec<&ActionUpdate> = updates
        .iter()
        .filter(|u| matches!(u, ActionUpdate::Progress(_)))
        .collect();
    assert!(progress.len() <= 3);
    let Some(ActionUpdate::Output(Value::Array(days))) = updates.last() else {
        panic!("no output: {updates:?}");
    };
    assert_eq!(days.len(), 3);
    assert_eq!(days[2]["city"], "Bonn");
    let days = weather
        .invoke_action("forecast", json!({"city": "Köln", "days": 2}))
        .await
        .unwrap();
    assert_eq!(days.as_array().unwrap().len(), 2);
    let handle = weather
        .start_action("forecast", json!({"city": "Bonn", "days": 7}))
        .await
        .unwrap();
    assert!(handle.is_async());
    handle.cancel().await.unwrap();
    assert_eq!(
        handle.output().await.unwrap_err().code(),
        "action_cancelled"
    );

    // chat: AgentRequest in, AgentResult out
    let result = weather
        .invoke_action(
            "chat",
            json!({
                "conversationContext": {"conversationId": "1"},
                "systemContext": [{"key": "channelId", "value": "web"}],
                "userContext": {"userId": "1234", "profile": [{"key": "name", "value": "Max"}]},
                "messages": [{"role": "user", "content": "What is the weather in London?", "format": "text"}]
            }),
        )
        .await
        .unwrap();
    assert_eq!(result["status"], "success");
    assert!(result["messages"][0]["content"]
        .as_str()
        .unwrap()
        .contains("What is the weather in London?"));
}
