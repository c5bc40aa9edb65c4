//! `lmos new agent|tool`: a valid starter Thing Description on standard output.

use clap::ValueEnum;
use lmos::td::{
    ActionAffordance, DataSchema, EventAffordance, Form, PropertyAffordance, ThingBuilder,
};
use serde_json::{json, Value};

use crate::{EXIT_ERROR, EXIT_OK};

/// What kind of thing to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// An `lmos:Agent` with a `chat` action.
    Agent,
    /// An `lmos:Tool` with a `lookup` action.
    Tool,
}

/// Arguments of `lmos new`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Agent or tool.
    kind: Kind,
    /// The thing's title.
    #[arg(long)]
    title: String,
    /// The thing's id (default: a fresh `urn:uuid:` with a random UUID).
    #[arg(long)]
    id: Option<String>,
    /// A sentence saying what the thing does.
    #[arg(long)]
    description: Option<String>,
    /// The base URL that the forms' relative hrefs resolve against.
    #[arg(long, default_value = "http://localhost:8080/")]
    base: String,
}

/// Prints the starter description.
pub fn run(args: Args) -> u8 {
    if args.title.trim().is_empty() {
        errln!("lmos new: the title must not be empty");
        return EXIT_ERROR;
    }
    if let Err(reason) = check_uri(&args.base) {
        errln!(
            "lmos new: --base {:?} is not an absolute URL: {reason}",
            args.base
        );
        return EXIT_ERROR;
    }
    if let Some(id) = &args.id {
        if let Err(reason) = check_uri(id) {
            errln!("lmos new: --id {id:?} is not a URI: {reason}");
            return EXIT_ERROR;
        }
    }
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| format!("urn:uuid:{}", uuid::Uuid::new_v4()));
    let builder = match args.kind {
        Kind::Agent => starter_agent(&args.title),
        Kind::Tool => starter_tool(&args.title),
    };
    let mut builder = builder.id(id).base(args.base.clone());
    if let Some(description) = &args.description {
        builder = builder.description(description.clone());
    }
    if crate::write_stdout(&format!("{}\n", builder.build().to_json_pretty())) {
        EXIT_OK
    } else {
        EXIT_ERROR
    }
}

fn check_uri(text: &str) -> Result<(), String> {
    reqwest::Url::parse(text)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn form(href: &str, op: &str, method: &str) -> Form {
    let mut form = Form::new(href);
    form.op = Some(op.to_owned().into());
    form.content_type = Some("application/json".to_owned());
    form.extra.insert(
        "htv:methodName".to_owned(),
        Value::String(method.to_owned()),
    );
    form
}

fn schema(value: Value) -> DataSchema {
    // The literals below are well-formed data schemas; a failure would be a bug in this file,
    // caught by the tests, and still yields a usable (empty) schema rather than a panic.
    serde_json::from_value(value).unwrap_or_default()
}

fn starter_agent(title: &str) -> ThingBuilder {
    let message = json!({
        "type": "object",
        "properties": {
            "role": {"type": "string", "enum": ["user", "assistant", "system"]},
            "content": {"type": "string"}
        },
        "required": ["role", "content"]
    });
    let mut chat = ActionAffordance::new()
        .description("Ask the agent a question and get its answer.")
        .input(schema(json!({
            "type": "object",
            "properties": {
                "messages": {"type": "array", "items": message.clone()}
            },
            "required": ["messages"]
        })))
        .output(schema(json!({
            "type": "object",
            "properties": {
                "messages": {"type": "array", "items": message}
            },
            "required": ["messages"]
        })))
        .safe(false)
        .idempotent(false)
        .synchronous(true);
    chat.forms
        .push(form("actions/chat", "invokeaction", "POST"));

    let mut status = PropertyAffordance::new(schema(json!({
        "type": "string",
        "enum": ["ready", "busy"]
    })))
    .read_only()
    .description("Whether the agent is ready for a new question.");
    status
        .forms
        .push(form("properties/status", "readproperty", "GET"));

    let mut feedback = EventAffordance::new()
        .description("A user rated an answer from 1 to 5.")
        .data(schema(json!({
            "type": "object",
            "properties": {
                "rating": {"type": "integer", "minimum": 1, "maximum": 5},
                "comment": {"type": "string"}
            },
            "required": ["rating"]
        })));
    let mut subscribe = Form::new("events/feedback");
    subscribe.op = Some("subscribeevent".to_owned().into());
    subscribe.subprotocol = Some("sse".to_owned());
    subscribe.content_type = Some("text/event-stream".to_owned());
    feedback.forms.push(subscribe);

    ThingBuilder::agent(title)
        .property("status", status)
        .action("chat", chat)
        .event("feedback", feedback)
}

fn starter_tool(title: &str) -> ThingBuilder {
    let mut lookup = ActionAffordance::new()
        .description("Look something up and return what was found.")
        .input(schema(json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "minLength": 1},
                "limit": {"type": "integer", "minimum": 1, "default": 10}
            },
            "required": ["query"]
        })))
        .output(schema(json!({
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "url": {"type": "string", "format": "uri"}
                },
                "required": ["title"]
            }
        })))
        .safe(true)
        .idempotent(true)
        .synchronous(true);
    lookup
        .forms
        .push(form("actions/lookup", "invokeaction", "POST"));

    let mut version = PropertyAffordance::new(schema(json!({"type": "string"})))
        .read_only()
        .description("Version of the tool's implementation.");
    version
        .forms
        .push(form("properties/version", "readproperty", "GET"));

    ThingBuilder::tool(title)
        .property("version", version)
        .action("lookup", lookup)
}
