//! The conversational convenience on top of actions: an agent whose `chat` action takes an
//! [`AgentRequest`] and returns an [`AgentResult`], the data model the LMOS Kotlin SDK uses
//! (`spec/lmos/related/03-kotlin_sdk.md`), and [`chat`] to ask such an agent a question.
//!
//! Serving:
//!
//! ```no_run
//! # async fn run() -> Result<(), lmos::thing::ThingError> {
//! use lmos::chat::{chat_with, AgentResult};
//! use lmos::td::ThingBuilder;
//! use lmos::thing::Servient;
//!
//! let servient = Servient::builder().http_port(0).build()?;
//! let agent = servient.expose(ThingBuilder::agent("Echo").chat_action().build())?;
//! agent.on_chat(chat_with(|request, _ctx| async move {
//!     let question = request.last_user_text().unwrap_or_default().to_owned();
//!     Ok(AgentResult::text(format!("You said: {question}")))
//! }))?;
//! servient.start().await?;
//! # Ok(()) }
//! ```
//!
//! Calling: `lmos::chat::chat("http://127.0.0.1:8080/echo", "Hello?").await` returns the
//! agent's answer as a `String`.
//!
//! Every type keeps members it does not know in an `extra` map, so a request or result from a
//! newer peer survives a round trip unchanged.

use std::future::Future;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::td::{ActionAffordance, DataSchema, ThingBuilder};
use crate::thing::{
    ActionHandler, BoxFuture, ConsumeOptions, ConsumedThing, ExposedThing, HandlerError,
    InteractionContext, ThingError,
};

/// The name of the conversational action.
pub const CHAT_ACTION: &str = "chat";

/// What the conversational convenience adds to the errors of [`crate::thing`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChatError {
    /// Consuming the agent or invoking its `chat` action failed.
    #[error(transparent)]
    Thing(#[from] ThingError),
    /// A value is not an `AgentRequest`.
    #[error("not an AgentRequest: {0}")]
    InvalidRequest(String),
    /// A value is not an `AgentResult`.
    #[error("not an AgentResult: {0}")]
    InvalidResult(String),
    /// The agent's result holds no message from the agent.
    #[error("the agent's result holds no answer")]
    NoAnswer,
}

impl ChatError {
    /// A stable machine-readable code: the [`ThingError::code`] of a wrapped error,
    /// `invalid_input` for a bad request and `invalid_output` for a bad or empty result.
    pub fn code(&self) -> &'static str {
        match self {
            ChatError::Thing(error) => error.code(),
            ChatError::InvalidRequest(_) => "invalid_input",
            ChatError::InvalidResult(_) | ChatError::NoAnswer => "invalid_output",
        }
    }
}

// ----- data model -------------------------------------------------------------------------------

/// Which conversation (and turn of it) a request belongs to.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ConversationContext {
    /// Id of the conversation.
    #[serde(
        rename = "conversationId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub conversation_id: Option<String>,
    /// Id of the turn within the conversation.
    #[serde(rename = "turnId", default, skip_serializing_if = "Option::is_none")]
    pub turn_id: Option<String>,
    /// Values the caller replaced by placeholders before sending.
    #[serde(
        rename = "anonymizationEntities",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub anonymization_entities: Option<Vec<AnonymizationEntity>>,
    /// Members the model does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One `{key, value}` pair of a system context or user profile.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContextEntry {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// Members the model does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ContextEntry {
    /// An entry with the given key and value.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        ContextEntry {
            key: key.into(),
            value: value.into(),
            extra: Map::new(),
        }
    }
}

/// Who the user is.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UserContext {
    /// Id of the user.
    #[serde(rename = "userId", default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// A token that stands for the user.
    #[serde(rename = "userToken", default, skip_serializing_if = "Option::is_none")]
    pub user_token: Option<String>,
    /// Facts about the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Vec<ContextEntry>>,
    /// Members the model does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Binary content attached to a message.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BinaryData {
    /// Media type of the data.
    #[serde(rename = "mimeType")]
    pub mime_type: String,
    /// The data, base64-encoded.
    #[serde(rename = "dataAsBase64")]
    pub data_as_base64: String,
    /// Members the model does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it: `user`, `assistant`, `agent` or `system`.
    pub role: String,
    /// The text.
    pub content: String,
    /// Format of the content, e.g. `text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Id of the turn the message belongs to.
    #[serde(rename = "turnId", default, skip_serializing_if = "Option::is_none")]
    pub turn_id: Option<String>,
    /// Attached binary content.
    #[serde(
        rename = "binaryData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub binary_data: Option<Vec<BinaryData>>,
    /// Members the model does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Message {
    /// A text message (`format: "text"`) from `role`.
    pub fn text(role: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            role: role.into(),
            content: content.into(),
            format: Some("text".to_owned()),
            ..Message::default()
        }
    }

    /// A text message from the user.
    pub fn user(content: impl Into<String>) -> Self {
        Message::text("user", content)
    }

    /// A text message from the agent.
    pub fn agent(content: impl Into<String>) -> Self {
        Message::text("agent", content)
    }

    /// Whether the agent wrote it (any role but `user` and `system`; LMOS agents say `agent`,
    /// ARC agents `assistant`).
    pub fn is_from_agent(&self) -> bool {
        self.role != "user" && self.role != "system"
    }
}

/// A value the caller replaced by a placeholder.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AnonymizationEntity {
    /// Kind of value, e.g. `EMAIL`.
    #[serde(rename = "type")]
    pub entity_type: String,
    /// The original value.
    pub value: String,
    /// The placeholder that stands for it.
    pub replacement: String,
    /// Members the model does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The input of a `chat` action: the conversation so far and what the agent may know about it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AgentRequest {
    /// Which conversation this is.
    #[serde(
        rename = "conversationContext",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub conversation_context: Option<ConversationContext>,
    /// Context of the calling system (channel, tenant, ...).
    #[serde(
        rename = "systemContext",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub system_context: Option<Vec<ContextEntry>>,
    /// Who the user is.
    #[serde(
        rename = "userContext",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub user_context: Option<UserContext>,
    /// The conversation so far, oldest first.
    pub messages: Vec<Message>,
    /// Members the model does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AgentRequest {
    /// A request that opens a new conversation (a fresh UUIDv4 `conversationId`) with one user
    /// message.
    pub fn from_text(question: impl Into<String>) -> Self {
        AgentRequest {
            conversation_context: Some(ConversationContext {
                conversation_id: Some(uuid::Uuid::new_v4().to_string()),
                ..ConversationContext::default()
            }),
            messages: vec![Message::user(question)],
            ..AgentRequest::default()
        }
    }

    /// Reads a request from JSON.
    pub fn from_value(value: Value) -> Result<Self, ChatError> {
        serde_json::from_value(value).map_err(|e| ChatError::InvalidRequest(e.to_string()))
    }

    /// The request as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The content of the latest message from the user: the question to answer.
    pub fn last_user_text(&self) -> Option<&str> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .map(|m| m.content.as_str())
    }

    /// The conversation id, if the request has one.
    pub fn conversation_id(&self) -> Option<&str> {
        self.conversation_context
            .as_ref()
            .and_then(|c| c.conversation_id.as_deref())
    }
}

/// The output of a `chat` action: the agent's messages.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AgentResult {
    /// Outcome, e.g. `success` or `failure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// How long the agent took (the Kotlin SDK sends seconds, `-1` when unknown).
    #[serde(
        rename = "responseTime",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub response_time: Option<serde_json::Number>,
    /// The agent's messages.
    pub messages: Vec<Message>,
    /// Values the agent replaced by placeholders.
    #[serde(
        rename = "anonymizationEntities",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub anonymization_entities: Option<Vec<AnonymizationEntity>>,
    /// Members the model does not know (`context`, `toolCalls`, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AgentResult {
    /// A successful result with one text message from the agent.
    pub fn text(answer: impl Into<String>) -> Self {
        AgentResult {
            status: Some("success".to_owned()),
            messages: vec![Message::agent(answer)],
            ..AgentResult::default()
        }
    }

    /// Reads a result from JSON.
    pub fn from_value(value: Value) -> Result<Self, ChatError> {
        serde_json::from_value(value).map_err(|e| ChatError::InvalidResult(e.to_string()))
    }

    /// Reads what a chat handler returned: a string is the text of a successful result
    /// ([`AgentResult::text`]); anything else must be an `AgentResult`.
    pub fn from_reply(value: Value) -> Result<Self, ChatError> {
        match value {
            Value::String(answer) => Ok(AgentResult::text(answer)),
            other => AgentResult::from_value(other),
        }
    }

    /// The result as JSON.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The content of the first message the agent wrote (see [`Message::is_from_agent`]).
    pub fn first_text(&self) -> Option<&str> {
        self.messages
            .iter()
            .find(|m| m.is_from_agent())
            .map(|m| m.content.as_str())
    }
}

// ----- schemas and the action affordance ------------------------------------------------------

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

/// The JSON Schema of an [`AgentRequest`] (the input of a `chat` action). Members it does not
/// list are allowed.
pub fn agent_request_schema() -> DataSchema {
    DataSchema::object(
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
            (
                "systemContext",
                key_values("Context of the calling system."),
            ),
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
    )
}

/// The JSON Schema of an [`AgentResult`] (the output of a `chat` action). Members it does not
/// list are allowed.
pub fn agent_result_schema() -> DataSchema {
    DataSchema::object(
        [
            ("status", string("success or failure")),
            ("messages", messages("The agent's answer.")),
        ],
        &["messages"],
    )
}

/// The `chat` action affordance: synchronous, [`agent_request_schema`] in,
/// [`agent_result_schema`] out.
pub fn chat_affordance() -> ActionAffordance {
    ActionAffordance::new()
        .description("Ask the agent a question (AgentRequest in, AgentResult out).")
        .synchronous(true)
        .input(agent_request_schema())
        .output(agent_result_schema())
}

impl ThingBuilder {
    /// Adds the conversational `chat` action ([`chat_affordance`]).
    pub fn chat_action(self) -> Self {
        self.action(CHAT_ACTION, chat_affordance())
    }
}

// ----- serving ------------------------------------------------------------------------------------

/// Answers the requests of a `chat` action.
pub trait ChatHandler: Send + Sync + 'static {
    /// Answers one request.
    fn chat(
        &self,
        request: AgentRequest,
        context: InteractionContext,
    ) -> BoxFuture<Result<AgentResult, HandlerError>>;
}

struct ChatFn<F>(F);

impl<F, Fut> ChatHandler for ChatFn<F>
where
    F: Fn(AgentRequest, InteractionContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<AgentResult, HandlerError>> + Send + 'static,
{
    fn chat(
        &self,
        request: AgentRequest,
        context: InteractionContext,
    ) -> BoxFuture<Result<AgentResult, HandlerError>> {
        Box::pin((self.0)(request, context))
    }
}

/// Wraps an async closure as a chat handler.
pub fn chat_with<F, Fut>(f: F) -> Arc<dyn ChatHandler>
where
    F: Fn(AgentRequest, InteractionContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<AgentResult, HandlerError>> + Send + 'static,
{
    Arc::new(ChatFn(f))
}

fn request_from(input: Value) -> Result<AgentRequest, HandlerError> {
    AgentRequest::from_value(input).map_err(|e| HandlerError::InvalidInput(e.to_string()))
}

struct TypedChat(Arc<dyn ChatHandler>);

impl ActionHandler for TypedChat {
    fn invoke(
        &self,
        input: Value,
        context: InteractionContext,
    ) -> BoxFuture<Result<Value, HandlerError>> {
        let handler = self.0.clone();
        Box::pin(async move {
            let request = request_from(input)?;
            let result = handler.chat(request, context).await?;
            Ok(result.to_value())
        })
    }
}

struct JsonChat(Arc<dyn ActionHandler>);

impl ActionHandler for JsonChat {
    fn invoke(
        &self,
        input: Value,
        context: InteractionContext,
    ) -> BoxFuture<Result<Value, HandlerError>> {
        let handler = self.0.clone();
        Box::pin(async move {
            // The handler sees the request as sent; it only has to be an AgentRequest.
            request_from(input.clone())?;
            let reply = handler.invoke(input, context).await?;
            let result = AgentResult::from_reply(reply).map_err(|e| {
                HandlerError::Failed(format!("the chat handler's reply is unusable: {e}"))
            })?;
            Ok(result.to_value())
        })
    }
}

/// The action handler behind [`ExposedThing::on_chat`]: reads the input as an [`AgentRequest`]
/// (a caller gets a 400 when it is not one) and sends the handler's [`AgentResult`].
pub fn chat_action_handler(handler: Arc<dyn ChatHandler>) -> Arc<dyn ActionHandler> {
    Arc::new(TypedChat(handler))
}

/// A `chat` action handler over a handler that works on JSON values (the language bindings
/// use it): the input must be an `AgentRequest` (else the caller gets a 400) and is passed on as
/// sent; the handler's reply is a string (the text of [`AgentResult::text`]) or an
/// `AgentResult` (anything else is a handler failure).
pub fn json_chat_handler(handler: Arc<dyn ActionHandler>) -> Arc<dyn ActionHandler> {
    Arc::new(JsonChat(handler))
}

impl ExposedThing {
    /// Answers the thing's `chat` action with `handler` (see [`chat_with`]). The thing needs a
    /// `chat` action ([`ThingBuilder::chat_action`]).
    pub fn on_chat(&self, handler: Arc<dyn ChatHandler>) -> Result<(), ThingError> {
        self.on_action(CHAT_ACTION, chat_action_handler(handler))
    }
}

// ----- consuming ----------------------------------------------------------------------------------

impl ConsumedThing {
    /// Invokes the `chat` action with `request` and reads its output as an [`AgentResult`].
    pub async fn chat(&self, request: AgentRequest) -> Result<AgentResult, ChatError> {
        let output = self.invoke_action(CHAT_ACTION, request.to_value()).await?;
        AgentResult::from_value(output)
    }

    /// Asks `question` in a new conversation ([`AgentRequest::from_text`]) and returns the text
    /// of the agent's first message ([`AgentResult::first_text`]).
    pub async fn ask(&self, question: &str) -> Result<String, ChatError> {
        let result = self.chat(AgentRequest::from_text(question)).await?;
        result
            .first_text()
            .map(str::to_owned)
            .ok_or(ChatError::NoAnswer)
    }
}

/// Consumes the agent whose TD is at `url` and asks it `question` (see [`ConsumedThing::ask`]).
pub async fn chat(url: &str, question: &str) -> Result<String, ChatError> {
    chat_with_options(url, question, ConsumeOptions::default()).await
}

/// [`chat`] with consume options (timeouts, protocol preferences, ...).
pub async fn chat_with_options(
    url: &str,
    question: &str,
    options: ConsumeOptions,
) -> Result<String, ChatError> {
    ConsumedThing::from_url(url, options)
        .await?
        .ask(question)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn from_text_opens_a_conversation() {
        let request = AgentRequest::from_text("Hi?");
        let id = request.conversation_id().map(str::to_owned);
        let parsed = id.as_deref().map(uuid::Uuid::parse_str);
        assert!(matches!(parsed, Some(Ok(u)) if u.get_version_num() == 4));
        assert_eq!(
            request.to_value()["messages"],
            json!([{"role": "user", "content": "Hi?", "format": "text"}])
        );
        assert_ne!(
            AgentRequest::from_text("Hi?").conversation_id(),
            request.conversation_id()
        );
    }

    #[test]
    fn first_text_skips_user_and_system_messages() {
        let result = AgentResult {
            messages: vec![
                Message::text("system", "be brief"),
                Message::user("echo"),
                Message::text("assistant", "one"),
                Message::agent("two"),
            ],
            ..AgentResult::default()
        };
        assert_eq!(result.first_text(), Some("one"));
        assert_eq!(AgentResult::default().first_text(), None);
    }

    #[test]
    fn replies_become_results() {
        assert_eq!(
            AgentResult::from_reply(json!("sunny")).unwrap().to_value(),
            json!({"status": "success", "messages": [{"role": "agent", "content": "sunny", "format": "text"}]})
        );
        let error = AgentResult::from_reply(json!(42)).unwrap_err();
        assert_eq!(error.code(), "invalid_output");
        let error = AgentResult::from_reply(json!({"status": "success"})).unwrap_err();
        assert!(error.to_string().contains("messages"), "{error}");
    }
}
