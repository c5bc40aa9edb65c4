//! The conversational convenience (`lmos::chat`): `chat(url, question)`, `ConsumedThing.chat`
//! and `ask`, the AgentRequest/AgentResult shapes and their schemas. Requests and results cross
//! as JSON text; the core reads and writes them, so unknown members survive.

use lmos::chat::{AgentRequest, AgentResult, ChatError};

use crate::consume::{consume_options, trace_from, traced, NativeConsumedThing};
use crate::errors::{encode, parse_json, thing_error, NativeError};
use crate::runtime::run;

/// The encoded form of a chat error: the core error's own code, `invalid_input` for a request
/// that is not an AgentRequest, `invalid_output` for a result that is not an AgentResult or holds
/// no answer.
fn chat_error(error: &ChatError) -> NativeError {
    match error {
        ChatError::Thing(error) => thing_error(error),
        other => NativeError::with_details(
            other.code(),
            other.to_string(),
            serde_json::json!({"violations": []}),
        ),
    }
}

/// Consumes the agent whose TD is at `url`, asks `question` in a new conversation and returns
/// the text of the agent's first message.
#[uniffi::export]
pub async fn chat(
    url: String,
    question: String,
    options: String,
    trace: Option<String>,
) -> Result<String, NativeError> {
    let options = consume_options(&options)?;
    let trace = trace_from(trace)?;
    run(async move {
        traced(
            trace,
            lmos::chat::chat_with_options(&url, &question, options),
        )
        .await
        .map_err(|e| chat_error(&e))
    })
    .await
}

/// The `chat` action affordance (JSON text): synchronous, AgentRequest in, AgentResult out.
#[uniffi::export]
pub fn chat_affordance() -> Result<String, NativeError> {
    encode(&lmos::chat::chat_affordance())
}

/// An AgentRequest (JSON text) that opens a new conversation with one user message.
#[uniffi::export]
pub fn agent_request(question: String) -> String {
    AgentRequest::from_text(question).to_value().to_string()
}

/// An AgentResult (JSON text): success, one text message from the agent.
#[uniffi::export]
pub fn agent_result(answer: String) -> String {
    AgentResult::text(answer).to_value().to_string()
}

/// The text of the agent's first message in an AgentResult (JSON text), if any.
#[uniffi::export]
pub fn first_text(result: String) -> Result<Option<String>, NativeError> {
    let value = parse_json(&result, "the AgentResult")?;
    let result = AgentResult::from_value(value).map_err(|e| chat_error(&e))?;
    Ok(result.first_text().map(str::to_owned))
}

/// The JSON Schema of an AgentRequest (JSON text).
#[uniffi::export]
pub fn agent_request_schema() -> String {
    lmos::chat::agent_request_schema().to_value().to_string()
}

/// The JSON Schema of an AgentResult (JSON text).
#[uniffi::export]
pub fn agent_result_schema() -> String {
    lmos::chat::agent_result_schema().to_value().to_string()
}

#[uniffi::export]
impl NativeConsumedThing {
    /// Invokes the `chat` action with an AgentRequest (JSON text; a JSON string is a question in
    /// a new conversation); returns the AgentResult as JSON text.
    pub async fn chat(
        &self,
        request: String,
        trace: Option<String>,
    ) -> Result<String, NativeError> {
        let request = match parse_json(&request, "the AgentRequest")? {
            serde_json::Value::String(question) => AgentRequest::from_text(question),
            value => AgentRequest::from_value(value).map_err(|e| chat_error(&e))?,
        };
        let (thing, trace) = (self.inner.clone(), trace_from(trace)?);
        run(async move {
            let result = traced(trace, thing.chat(request))
                .await
                .map_err(|e| chat_error(&e))?;
            encode(&result.to_value())
        })
        .await
    }

    /// Asks a question in a new conversation; returns the text of the agent's first message.
    pub async fn ask(
        &self,
        question: String,
        trace: Option<String>,
    ) -> Result<String, NativeError> {
        let (thing, trace) = (self.inner.clone(), trace_from(trace)?);
        run(async move {
            traced(trace, thing.ask(&question))
                .await
                .map_err(|e| chat_error(&e))
        })
        .await
    }
}
