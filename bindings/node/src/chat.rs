//! The conversational convenience (`lmos::chat`): `chat(url, question)`, `ConsumedThing.chat`
//! and `ask`, the AgentRequest/AgentResult shapes and their schemas. Requests and results cross
//! as JSON text; the core reads and writes them, so unknown members survive.

use lmos::chat::{AgentRequest, AgentResult, ChatError};
use napi::Result;
use napi_derive::napi;
use serde_json::json;

use crate::consume::{consume_options, trace_from, traced, NativeConsumedThing};
use crate::errors::{encoded, parse_json, thing_error, type_error};

/// The encoded form of a chat error: the core error's own code, `invalid_input` for a request
/// that is not an AgentRequest, `invalid_output` for a result that is not an AgentResult or holds
/// no answer.
fn chat_error(error: &ChatError) -> napi::Error {
    match error {
        ChatError::Thing(error) => thing_error(error),
        other => encoded(other.code(), &other.to_string(), json!({"violations": []})),
    }
}

fn encode(value: &serde_json::Value) -> Result<String> {
    serde_json::to_string(value).map_err(|e| type_error(e.to_string()))
}

/// Consumes the agent whose TD is at `url`, asks `question` in a new conversation and resolves to
/// the text of the agent's first message.
#[napi]
pub async fn chat(
    url: String,
    question: String,
    options: String,
    trace: Option<String>,
) -> Result<String> {
    let options = consume_options(&options)?;
    let trace = trace_from(trace)?;
    traced(
        trace,
        lmos::chat::chat_with_options(&url, &question, options),
    )
    .await
    .map_err(|e| chat_error(&e))
}

/// The `chat` action affordance (JSON text): synchronous, AgentRequest in, AgentResult out.
#[napi]
pub fn chat_affordance() -> String {
    serde_json::to_string(&lmos::chat::chat_affordance()).unwrap_or_default()
}

/// An AgentRequest (JSON text) that opens a new conversation with one user message.
#[napi]
pub fn agent_request(question: String) -> String {
    AgentRequest::from_text(question).to_value().to_string()
}

/// An AgentResult (JSON text): success, one text message from the agent.
#[napi]
pub fn agent_result(answer: String) -> String {
    AgentResult::text(answer).to_value().to_string()
}

/// The text of the agent's first message in an AgentResult (JSON text), or null.
#[napi]
pub fn first_text(result: String) -> Result<Option<String>> {
    let value = parse_json(&result, "the AgentResult")?;
    let result = AgentResult::from_value(value).map_err(|e| chat_error(&e))?;
    Ok(result.first_text().map(str::to_owned))
}

/// The JSON Schema of an AgentRequest (JSON text).
#[napi]
pub fn agent_request_schema() -> String {
    lmos::chat::agent_request_schema().to_value().to_string()
}

/// The JSON Schema of an AgentResult (JSON text).
#[napi]
pub fn agent_result_schema() -> String {
    lmos::chat::agent_result_schema().to_value().to_string()
}

#[napi]
impl NativeConsumedThing {
    /// Invokes the `chat` action with an AgentRequest (JSON text; a JSON string is a question in
    /// a new conversation); resolves to the AgentResult as JSON text.
    #[napi]
    pub async fn chat(&self, request: String, trace: Option<String>) -> Result<String> {
        let request = match parse_json(&request, "the AgentRequest")? {
            serde_json::Value::String(question) => AgentRequest::from_text(question),
            value => AgentRequest::from_value(value).map_err(|e| chat_error(&e))?,
        };
        let result = traced(trace_from(trace)?, self.inner.chat(request))
            .await
            .map_err(|e| chat_error(&e))?;
        encode(&result.to_value())
    }

    /// Asks a question in a new conversation; resolves to the text of the agent's first message.
    #[napi]
    pub async fn ask(&self, question: String, trace: Option<String>) -> Result<String> {
        traced(trace_from(trace)?, self.inner.ask(&question))
            .await
            .map_err(|e| chat_error(&e))
    }
}
