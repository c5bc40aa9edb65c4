//! Two things served on 127.0.0.1:0 for the WebSocket tests, and a raw WebSocket client.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use lmos::td::{ActionAffordance, DataSchema, EventAffordance, PropertyAffordance, ThingBuilder};
use lmos::thing::handler::{invoke_with, read_with, stream_with};
use lmos::thing::{ActionUpdate, ExposedThing, HandlerError, Servient, ServientBuilder};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// `thingID` of the thing with properties and events (as in the spec's examples).
pub const AGENT_ID: &str = "urn:uuid:3f1d3a7a-4f97-2e6b-c45f-f3c2e1c84c77";
/// `thingID` of the thing with actions (as in the spec's examples).
pub const WEATHER_ID: &str = "urn:uuid:6f1d3a7a-1f97-4e6b-b45f-f3c2e1c84c77";

pub struct Things {
    pub servient: Servient,
    pub agent: ExposedThing,
    pub weather: ExposedThing,
    /// `ws://127.0.0.1:port/ws`.
    pub ws_url: String,
    /// Receives one item each time the `slow` handler sees its cancellation.
    pub cancellations: mpsc::UnboundedReceiver<()>,
    /// The traceparent the `traced` read handler saw last.
    pub seen_trace: Arc<Mutex<Option<String>>>,
}

pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/messages")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn model_configuration() -> DataSchema {
    let mut schema = DataSchema::object(
        [
            ("modelName", DataSchema::of_type("string")),
            ("temperature", DataSchema::of_type("number")),
            ("maxTokens", DataSchema::of_type("integer")),
        ],
        &["modelName"],
    );
    schema.default = Some(json!({"modelName": "gpt-4", "temperature": 0.2, "maxTokens": 500}));
    schema
}

pub fn agent_thing() -> lmos::td::Thing {
    ThingBuilder::agent("Spec Agent")
        .id(AGENT_ID)
        .property(
            "modelConfiguration",
            PropertyAffordance::new(model_configuration()).observable(),
        )
        .property(
            "otherProperty",
            PropertyAffordance::new(DataSchema::of_type("integer")).observable(),
        )
        .property(
            "status",
            PropertyAffordance::new(DataSchema::of_type("string")).read_only(),
        )
        .property(
            "traced",
            PropertyAffordance::new(DataSchema::of_type("string")).read_only(),
        )
        .event(
            "userFeedbackReceived",
            EventAffordance::new().data(DataSchema::object(
                [
                    ("rating", DataSchema::of_type("integer")),
                    ("comment", DataSchema::of_type("string")),
                ],
                &["rating"],
            )),
        )
        .event(
            "alert",
            EventAffordance::new().data(DataSchema::of_type("string")),
        )
        .build()
}

pub fn weather_thing() -> lmos::td::Thing {
    ThingBuilder::agent("Weather")
        .id(WEATHER_ID)
        .action(
            "getWeather",
            ActionAffordance::new()
                .input(DataSchema::object(
                    [
                        ("question", DataSchema::of_type("string")),
                        ("interactionMode", DataSchema::of_type("string")),
                    ],
                    &["question"],
                ))
                .output(DataSchema::of_type("string")),
        )
        .action(
            "draft",
            ActionAffordance::new().output(DataSchema::of_type("string")),
        )
        .action("slow", ActionAffordance::new())
        .action("fail", ActionAffordance::new())
        .build()
}

pub async fn start() -> Things {
    start_with(Servient::builder().http_port(0)).await
}

pub async fn start_with(builder: ServientBuilder) -> Things {
    let servient = builder.build().unwrap();
    let agent = servient.expose(agent_thing()).unwrap();
    let weather = servient.expose(weather_thing()).unwrap();
    expose_handlers(&agent, &weather).finish(servient).await
}

pub struct Handlers {
    agent: ExposedThing,
    weather: ExposedThing,
    cancellations: mpsc::UnboundedReceiver<()>,
    seen_trace: Arc<Mutex<Option<String>>>,
}

impl Handlers {
    pub async fn finish(self, servient: Servient) -> Things {
        let addresses = servient.start().await.unwrap();
        let ws = addresses.ws.unwrap();
        Things {
            servient,
            agent: self.agent,
            weather: self.weather,
            ws_url: format!("ws://{ws}/ws"),
            cancellations: self.cancellations,
            seen_trace: self.seen_trace,
        }
    }
}

pub fn expose_handlers(agent: &ExposedThing, weather: &ExposedThing) -> Handlers {
    agent.set_property("otherProperty", json!(1)).unwrap();
    agent.set_property("status", json!("ready")).unwrap();
    let seen_trace = Arc::new(Mutex::new(None));
    let seen = seen_trace.clone();
    agent
        .on_property_read(
            "traced",
            read_with(move |ctx| {
                let parent = ctx.trace().map(|t| t.traceparent());
                *seen.lock().unwrap() = parent.clone();
                async move { Ok(json!(parent.unwrap_or_default())) }
            }),
        )
        .unwrap();
    weather
        .on_action(
            "getWeather",
            invoke_with(|_input, _ctx| async move {
                Ok(json!(
                    "The weather in New York is sunny with a temperature of 25°C."
                ))
            }),
        )
        .unwrap();
    weather
        .on_action_stream(
            "draft",
            stream_with(|_input: Value, _ctx| {
                async_stream::stream! {
                    yield Ok(ActionUpdate::Progress(json!("a")));
                    yield Ok(ActionUpdate::Progress(json!("b")));
                    yield Ok(ActionUpdate::Output(json!("ab")));
                }
            }),
        )
        .unwrap();
    let (cancel_tx, cancellations) = mpsc::unbounded_channel();
    weather
        .on_action(
            "slow",
            invoke_with(move |_input, ctx| {
                let cancel_tx = cancel_tx.clone();
                async move {
                    tokio::select! {
                        () = ctx.cancelled() => {
                            let _ = cancel_tx.send(());
                            Err(HandlerError::Cancelled)
                        }
                        () = tokio::time::sleep(Duration::from_secs(60)) => Ok(json!("late")),
                    }
                }
            }),
        )
        .unwrap();
    weather
        .on_action(
            "fail",
            invoke_with(|_input, _ctx| async move {
                Err(HandlerError::Failed("secret internals".into()))
            }),
        )
        .unwrap();
    Handlers {
        agent: agent.clone(),
        weather: weather.clone(),
        cancellations,
        seen_trace,
    }
}

/// A WebSocket client that sends and receives raw frames.
pub struct Raw {
    pub socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The subprotocol the server selected.
    pub protocol: Option<String>,
}

impl Raw {
    /// Connects offering `protocols` (none: no `Sec-WebSocket-Protocol` header).
    pub async fn connect(
        url: &str,
        protocols: &[&str],
    ) -> Result<Raw, tokio_tungstenite::tungstenite::Error> {
        let mut request = url.into_client_request()?;
        if !protocols.is_empty() {
            request.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                HeaderValue::from_str(&protocols.join(", ")).unwrap(),
            );
        }
        let (socket, response) = tokio_tungstenite::connect_async(request).await?;
        let protocol = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Raw { socket, protocol })
    }

    pub async fn send(&mut self, message: &Value) {
        self.send_text(&message.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.socket
            .send(Frame::Text(text.to_owned().into()))
            .await
            .unwrap();
    }

    /// The next JSON message (skipping pings and pongs); panics after 10 s.
    pub async fn recv(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match self.socket.next().await {
                    Some(Ok(Frame::Text(text))) => {
                        return serde_json::from_str::<Value>(text.as_str()).unwrap()
                    }
                    Some(Ok(Frame::Ping(_) | Frame::Pong(_))) => continue,
                    other => panic!("expected a text frame, got {other:?}"),
                }
            }
        })
        .await
        .expect("no message within 10 s")
    }

    /// Sends `message` and returns the next message.
    pub async fn call(&mut self, message: &Value) -> Value {
        self.send(message).await;
        self.recv().await
    }

    /// What ends the connection: the close frame's code, or `None` for an end without one.
    pub async fn closed(&mut self) -> Option<u16> {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match self.socket.next().await {
                    Some(Ok(Frame::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return None,
                }
            }
        })
        .await
        .expect("the connection stayed open for 10 s")
    }
}

/// Reads a member under either id spelling.
pub fn id<'a>(message: &'a Value, upper: &str, lower: &str) -> Option<&'a str> {
    message
        .get(upper)
        .or_else(|| message.get(lower))
        .and_then(Value::as_str)
}

pub fn correlation(message: &Value) -> Option<&str> {
    id(message, "correlationID", "correlationId")
}

/// A readProperty request in the spec dialect.
pub fn read_request(thing: &str, name: &str, correlation: &str) -> Value {
    json!({
        "thingID": thing,
        "messageID": uuid::Uuid::new_v4().to_string(),
        "messageType": "readProperty",
        "name": name,
        "correlationID": correlation,
    })
}
