//! The reference example `weather_agent` with `--ws-port 0`, called over WebSocket in both
//! dialects.

mod http_common;

use http_common::{start_weather_agent, WeatherAgent};

use futures::StreamExt;
use lmos::binding::ws::Dialect;
use lmos::thing::{ActionUpdate, ConsumeOptions, ConsumedThing};
use serde_json::{json, Value};

fn start_agent() -> WeatherAgent {
    start_weather_agent(&["--ws-port", "0"])
}

#[tokio::test]
async fn weather_agent_over_websocket() {
    let agent = start_agent();
    for dialect in [Dialect::Spec, Dialect::KotlinWot] {
        let options = ConsumeOptions {
            protocols: vec!["ws".into()],
            dialect,
            ..ConsumeOptions::default()
        };
        let weather = ConsumedThing::from_url(&agent.td_url, options)
            .await
            .unwrap();
        // Every affordance has a WebSocket form, on the separate port.
        let http_port = agent
            .td_url
            .split(':')
            .nth(2)
            .unwrap()
            .split('/')
            .next()
            .unwrap();
        let td = weather.thing();
        let ws_hrefs: Vec<&str> = td
            .properties
            .values()
            .flat_map(|p| &p.forms)
            .chain(td.actions.values().flat_map(|a| &a.forms))
            .chain(td.events.values().flat_map(|e| &e.forms))
            .filter(|f| f.subprotocol.as_deref() == Some("lmosprotocol"))
            .map(|f| f.href.as_str())
            .collect();
        assert_eq!(
            ws_hrefs.len(),
            td.properties.len() + td.actions.len() + td.events.len()
        );
        assert!(ws_hrefs
            .iter()
            .all(|h| h.starts_with("ws://127.0.0.1:") && h.ends_with("/ws")));
        assert!(!ws_hrefs[0].contains(&format!(":{http_port}/")));

        let config = weather.read_property("modelConfiguration").await.unwrap();
        assert!(config["modelName"].is_string());
        let answer = weather
            .invoke_action(
                "getWeather",
                json!({"question": "Will it rain in Bonn?", "interactionMode": "text"}),
            )
            .await
            .unwrap();
        assert!(answer.as_str().unwrap().contains("Bonn"));
        let mut feedback = weather
            .subscribe_event("userFeedbackReceived")
            .await
            .unwrap();
        let rating = json!({"rating": 5, "comment": "over WebSocket"});
        weather.invoke_action("rate", rating.clone()).await.unwrap();
        assert_eq!(feedback.next().await.unwrap().unwrap(), rating);
        let updates: Vec<ActionUpdate> = weather
            .invoke_action_stream("forecast", json!({"city": "Bonn", "days": 3}))
            .await
            .unwrap()
            .map(Result::unwrap)
            .collect()
            .await;
        let Some(ActionUpdate::Output(Value::Array(days))) = updates.last() else {
            panic!("no output: {updates:?}");
        };
        assert_eq!(days.len(), 3);
        assert!(updates.len() > 1, "progress is reported: {updates:?}");
    }
}
