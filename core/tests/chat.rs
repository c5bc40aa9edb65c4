//! The conversational convenience against a real servient on 127.0.0.1: `chat(url, question)`,
//! `ConsumedThing::chat`, the AgentRequest / AgentResult model of the LMOS Kotlin SDK, and the
//! errors for requests and results of the wrong shape.

mod http_common;

use std::sync::{Arc, Mutex};

use lmos::chat::{
    agent_request_schema, agent_result_schema, chat, chat_affordance, chat_with, json_chat_handler,
    AgentRequest, AgentResult, ChatError, ContextEntry, Message, UserContext, CHAT_ACTION,
};
use lmos::td::{ActionAffordance, Thing, ThingBuilder};
use lmos::thing::handler::invoke_with;
use lmos::thing::{
    ConsumeOptions, ConsumedThing, ExposedThing, HandlerError, Servient, ThingError,
};
use serde_json::{json, Value};

/// The AgentRequest example of the LMOS Kotlin SDK page.
const KOTLIN_REQUEST: &str = r#"{
    "conversationContext": {"conversationId": "1"},
    "systemContext": [{"key": "channelId", "value": "web"}],
    "userContext": {
        "userId": "1234",
        "profile": [{"key": "name", "value": "Max Mustermann"}]
    },
    "messages": [
        {"role": "user", "content": "What is the weather in London?", "format": "text"}
    ]
}"#;

/// The AgentResult example of the LMOS Kotlin SDK page.
const KOTLIN_RESULT: &str = r#"{
  "status": "success",
  "messages": [{"role": "agent", "content": "The weather is sunny.", "format": "text"}]
}"#;

struct Agent {
    servient: Servient,
    exposed: ExposedThing,
    td_url: String,
}

async fn start(thing: Thing, register: impl FnOnce(&ExposedThing)) -> Agent {
    let servient = Servient::builder().http_port(0).build().unwrap();
    let exposed = servient.expose(thing).unwrap();
    register(&exposed);
    servient.start().await.unwrap();
    let td_url = exposed.td_url().unwrap();
    Agent {
        servient,
        exposed,
        td_url,
    }
}

fn weather_answer(question: &str) -> String {
    format!("Sunny in reply to {question:?}")
}

/// A chat agent that answers from the last user message and keeps every request it got.
async fn start_weather_chat() -> (Agent, Arc<Mutex<Vec<AgentRequest>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let thing = ThingBuilder::agent("Weather Chat").chat_action().build();
    let agent = start(thing, move |exposed| {
        exposed
            .on_chat(chat_with(move |request: AgentRequest, _ctx| {
                let log = log.clone();
                async move {
                    let question = request
                        .last_user_text()
                        .ok_or_else(|| HandlerError::InvalidInput("no user message".into()))?
                        .to_owned();
                    log.lock().unwrap().push(request);
                    Ok(AgentResult::text(weather_answer(&question)))
                }
            }))
            .unwrap();
    })
    .await;
    (agent, seen)
}

#[tokio::test]
async fn chat_returns_the_handlers_answer() {
    let (agent, seen) = start_weather_chat().await;
    let answer = chat(&agent.td_url, "What is the weather in London?")
        .await
        .unwrap();
    assert_eq!(answer, weather_answer("What is the weather in London?"));

    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].messages,
        vec![Message::user("What is the weather in London?")]
    );
    let id = requests[0].conversation_id().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4);
    agent.servient.shutdown().await;
}

#[tokio::test]
async fn consumed_things_send_whole_requests_and_read_whole_results() {
    let (agent, seen) = start_weather_chat().await;
    let consumed = ConsumedThing::from_url(&agent.td_url, ConsumeOptions::default())
        .await
        .unwrap();
    let request = AgentRequest::from_value(serde_json::from_str(KOTLIN_REQUEST).unwrap()).unwrap();
    let result = consumed.chat(request.clone()).await.unwrap();
    assert_eq!(
        result,
        AgentResult::text(weather_answer("What is the weather in London?"))
    );
    assert_eq!(result.status.as_deref(), Some("success"));
    // The agent got the request exactly as sent, contexts included.
    assert_eq!(seen.lock().unwrap().as_slice(), &[request]);
    let user = seen.lock().unwrap()[0].user_context.clone().unwrap();
    assert_eq!(
        user,
        UserContext {
            user_id: Some("1234".into()),
            profile: Some(vec![ContextEntry::new("name", "Max Mustermann")]),
            ..UserContext::default()
        }
    );
    agent.servient.shutdown().await;
}

#[test]
fn kotlin_sdk_examples_round_trip_losslessly() {
    for text in [KOTLIN_REQUEST, KOTLIN_RESULT] {
        let original: Value = serde_json::from_str(text).unwrap();
        let again = if original.get("status").is_some() {
            AgentResult::from_value(original.clone())
                .unwrap()
                .to_value()
        } else {
            AgentRequest::from_value(original.clone())
                .unwrap()
                .to_value()
        };
        assert_eq!(again, original);
    }
    let result: AgentResult = serde_json::from_str(KOTLIN_RESULT).unwrap();
    assert_eq!(result.first_text(), Some("The weather is sunny."));
}

#[test]
fn unknown_members_survive_at_every_level() {
    let request = json!({
        "conversationContext": {
            "conversationId": "c1",
            "turnId": "t1",
            "anonymizationEntities": [{"type": "EMAIL", "value": "a@b.c", "replacement": "<e1>", "score": 0.9}],
            "tenant": "de"
        },
        "systemContext": [{"key": "channelId", "value": "web", "source": "gateway"}],
        "userContext": {"userToken": "tok", "profile": [], "locale": "de-DE"},
        "messages": [{
            "role": "user",
            "content": "Look at this",
            "turnId": "t1",
            "binaryData": [{"mimeType": "image/png", "dataAsBase64": "iVBORw0K", "name": "a.png"}],
            "mood": "curious"
        }],
        "future": {"nested": [1, 2.5, null]}
    });
    assert_eq!(
        AgentRequest::from_value(request.clone())
            .unwrap()
            .to_value(),
        request
    );

    let result = json!({
        "status": "success",
        "responseTime": 1.25,
        "messages": [{"role": "assistant", "content": "Done", "format": "markdown"}],
        "anonymizationEntities": [],
        "context": [{"key": "k", "value": "v"}],
        "toolCalls": [{"name": "lookup", "arguments": "{}"}]
    });
    let parsed = AgentResult::from_value(result.clone()).unwrap();
    assert_eq!(parsed.to_value(), result);
    assert_eq!(parsed.first_text(), Some("Done"));
    // Integer and negative response times keep their exact JSON form.
    let result = json!({"responseTime": -1, "messages": []});
    assert_eq!(
        AgentResult::from_value(result.clone()).unwrap().to_value(),
        result
    );
}

#[test]
fn values_of_the_wrong_shape_are_refused_with_the_reason() {
    let error = AgentRequest::from_value(json!({"conversationContext": {"conversationId": "1"}}))
        .unwrap_err();
    assert!(matches!(error, ChatError::InvalidRequest(_)), "{error:?}");
    assert_eq!(error.code(), "invalid_input");
    assert!(error.to_string().contains("messages"), "{error}");

    let error = AgentRequest::from_value(json!({"messages": [{"role": "user"}]})).unwrap_err();
    assert!(error.to_string().contains("content"), "{error}");

    let error = AgentResult::from_value(json!({"status": "success"})).unwrap_err();
    assert!(matches!(error, ChatError::InvalidResult(_)), "{error:?}");
    assert_eq!(error.code(), "invalid_output");
}

#[test]
fn the_schemas_accept_the_kotlin_examples_and_refuse_missing_messages() {
    let request = lmos::td::payload::PayloadValidator::new(&agent_request_schema()).unwrap();
    let result = lmos::td::payload::PayloadValidator::new(&agent_result_schema()).unwrap();
    request
        .validate(&serde_json::from_str(KOTLIN_REQUEST).unwrap())
        .unwrap();
    result
        .validate(&serde_json::from_str(KOTLIN_RESULT).unwrap())
        .unwrap();
    assert!(request.validate(&json!({"userContext": {}})).is_err());
    assert!(result.validate(&json!({"status": "success"})).is_err());
    assert!(request
        .validate(&AgentRequest::from_text("hi").to_value())
        .is_ok());
    assert!(result.validate(&AgentResult::text("hi").to_value()).is_ok());
}

#[tokio::test]
async fn a_request_without_messages_is_invalid_input() {
    let (agent, seen) = start_weather_chat().await;
    let no_messages = json!({"conversationContext": {"conversationId": "1"}});

    // Checked before sending, against the TD's input schema.
    let consumed = ConsumedThing::from_url(&agent.td_url, ConsumeOptions::default())
        .await
        .unwrap();
    let error = consumed
        .invoke_action(CHAT_ACTION, no_messages.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(error, ThingError::InvalidInput { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("messages"), "{error}");

    // Sent anyway: the server refuses it with a 400 problem document.
    let options = ConsumeOptions {
        validate_inputs: false,
        ..ConsumeOptions::default()
    };
    let unchecked = ConsumedThing::from_url(&agent.td_url, options)
        .await
        .unwrap();
    let error = unchecked
        .invoke_action(CHAT_ACTION, no_messages.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(error, ThingError::RemoteBadRequest { .. }),
        "{error:?}"
    );

    // And in process.
    let error = agent
        .exposed
        .invoke_action(CHAT_ACTION, no_messages, None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ThingError::InvalidInput { .. }),
        "{error:?}"
    );

    assert!(seen.lock().unwrap().is_empty(), "the handler never ran");
    agent.servient.shutdown().await;
}

#[tokio::test]
async fn the_handler_adapter_refuses_non_requests_even_without_a_schema() {
    // A chat action declared without schemas: the adapter still insists on an AgentRequest.
    let thing = ThingBuilder::agent("Loose Chat")
        .action(CHAT_ACTION, ActionAffordance::new().synchronous(true))
        .build();
    let agent = start(thing, |exposed| {
        exposed
            .on_chat(chat_with(|_request, _ctx| async {
                Ok(AgentResult::text("ok"))
            }))
            .unwrap();
    })
    .await;
    let consumed = ConsumedThing::from_url(&agent.td_url, ConsumeOptions::default())
        .await
        .unwrap();
    let error = consumed
        .invoke_action(CHAT_ACTION, json!({"question": "hi"}))
        .await
        .unwrap_err();
    match &error {
        ThingError::RemoteBadRequest { detail, .. } => {
            assert!(
                detail.as_deref().unwrap_or_default().contains("messages"),
                "{error:?}"
            );
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    assert_eq!(consumed.ask("hi").await.unwrap(), "ok");
    agent.servient.shutdown().await;
}

#[tokio::test]
async fn json_handlers_may_answer_with_a_string_or_a_result() {
    let thing = ThingBuilder::agent("Json Chat").chat_action().build();
    let agent = start(thing, |exposed| {
        let handler = invoke_with(|input: Value, _ctx| async move {
            let question = input["messages"][0]["content"].as_str().unwrap_or_default();
            Ok(match question {
                "string" => json!("a plain answer"),
                "result" => json!({
                    "status": "success",
                    "messages": [{"role": "assistant", "content": "a whole result"}],
                    "toolCalls": []
                }),
                _ => json!(42),
            })
        });
        exposed
            .on_action(CHAT_ACTION, json_chat_handler(handler))
            .unwrap();
    })
    .await;
    let consumed = ConsumedThing::from_url(&agent.td_url, ConsumeOptions::default())
        .await
        .unwrap();
    let result = consumed
        .chat(AgentRequest::from_text("string"))
        .await
        .unwrap();
    assert_eq!(result, AgentResult::text("a plain answer"));
    let result = consumed
        .chat(AgentRequest::from_text("result"))
        .await
        .unwrap();
    assert_eq!(result.first_text(), Some("a whole result"));
    assert_eq!(result.extra.get("toolCalls"), Some(&json!([])));
    // A reply that is neither is the handler's fault: the caller gets a 500.
    let error = consumed
        .chat(AgentRequest::from_text("number"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ChatError::Thing(ThingError::Remote { status: 500, .. })
        ),
        "{error:?}"
    );
    agent.servient.shutdown().await;
}

#[tokio::test]
async fn results_without_an_agent_message_are_no_answer() {
    let thing = ThingBuilder::agent("Silent").chat_action().build();
    let agent = start(thing, |exposed| {
        exposed
            .on_chat(chat_with(|request: AgentRequest, _ctx| async move {
                // Echoes the user's messages back, adds nothing of its own.
                Ok(AgentResult {
                    messages: request.messages,
                    ..AgentResult::default()
                })
            }))
            .unwrap();
    })
    .await;
    let error = chat(&agent.td_url, "anyone there?").await.unwrap_err();
    assert!(matches!(error, ChatError::NoAnswer), "{error:?}");
    assert_eq!(error.code(), "invalid_output");
    agent.servient.shutdown().await;
}

#[tokio::test]
async fn things_without_a_chat_action_say_so() {
    let thing = ThingBuilder::tool("Mute")
        .action("ping", ActionAffordance::new())
        .build();
    let agent = start(thing, |exposed| {
        let error = exposed
            .on_chat(chat_with(|_r, _c| async { Ok(AgentResult::text("x")) }))
            .unwrap_err();
        assert_eq!(error.code(), "not_found");
    })
    .await;
    let error = chat(&agent.td_url, "hello?").await.unwrap_err();
    assert_eq!(error.code(), "not_found", "{error:?}");

    let error = chat("http://127.0.0.1:1/nothing", "hello?")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "transport", "{error:?}");
    agent.servient.shutdown().await;
}

#[tokio::test]
async fn the_chat_action_is_described_as_the_kotlin_sdk_describes_it() {
    let (agent, _) = start_weather_chat().await;
    let consumed = ConsumedThing::from_url(&agent.td_url, ConsumeOptions::default())
        .await
        .unwrap();
    let td = consumed.thing().to_value();
    let action = &td["actions"]["chat"];
    assert_eq!(action["synchronous"], json!(true));
    assert_eq!(action["input"]["required"], json!(["messages"]));
    assert_eq!(action["output"]["required"], json!(["messages"]));
    assert_eq!(action["input"], agent_request_schema().to_value());
    assert_eq!(action["output"], agent_result_schema().to_value());
    assert_eq!(action["forms"][0]["op"], json!("invokeaction"));
    agent.servient.shutdown().await;
}

/// The reference example declares the same `chat` action, so every LMOS client can talk to it.
#[tokio::test]
async fn the_weather_agent_example_agrees_with_the_chat_affordance() {
    let agent = http_common::start_weather_agent(&[]);
    let td_url = agent.td_url.as_str();
    let outcome = async {
        let consumed = ConsumedThing::from_url(td_url, ConsumeOptions::default()).await?;
        let mut served = consumed
            .thing()
            .actions
            .get(CHAT_ACTION)
            .cloned()
            .ok_or_else(|| ThingError::InvalidTd("no chat action".into()))?;
        served.forms.clear();
        let answer = consumed.ask("What is the weather in London?").await;
        Ok::<_, ThingError>((served, answer))
    }
    .await;
    drop(agent);
    let (served, answer) = outcome.unwrap();
    assert_eq!(served, chat_affordance());
    let answer = answer.unwrap();
    assert!(
        answer.contains("What is the weather in London?"),
        "{answer}"
    );
}
