//! `lmos read|write|call|observe|subscribe`: the `ConsumedThing` behind a curl-like tool.
//!
//! Exit codes: 0 success; 1 the thing answered with an error (or the action failed or was
//! cancelled, or its answer broke the TD's schema); 2 the request is wrong before anything is
//! sent (bad JSON argument, unknown affordance, input that breaks the schema, no usable form);
//! 3 the thing cannot be reached or its TD is unusable (also: a stream that ended unexpectedly).

use std::io::{IsTerminal, Write};

use clap::{Args, Subcommand, ValueEnum};
use futures::StreamExt;
use lmos::security::{CredentialStore, Credentials};
use lmos::thing::{ActionUpdate, ConsumeOptions, ConsumedThing, Subprotocol, ThingError};
use serde_json::{json, Value};

/// Success.
pub const EXIT_OK: i32 = 0;
/// The thing answered with an error.
pub const EXIT_REMOTE: i32 = 1;
/// The request is wrong before anything is sent.
pub const EXIT_USAGE: i32 = 2;
/// The thing cannot be reached or its TD is unusable.
pub const EXIT_UNREACHABLE: i32 = 3;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputMode {
    /// Human-readable on a terminal, JSON lines otherwise.
    Auto,
    /// Pretty JSON and short labels.
    Human,
    /// One JSON document per line.
    Json,
}

/// Dialect of the `lmosprotocol` WebSocket messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WireDialect {
    /// `thingID`, `name`, `value`, RFC 3339 timestamps.
    Spec,
    /// `thingId`, `property`, `data`, epoch-second timestamps, no subprotocol in the handshake.
    KotlinWot,
}

/// Options shared by the client commands.
#[derive(Debug, Clone, Args)]
pub struct ClientOptions {
    /// Preferred protocol (URI scheme) of the forms to use; repeat for an order of preference.
    #[arg(long = "protocol", value_name = "SCHEME")]
    pub protocols: Vec<String>,
    /// Preferred content type (application/json, application/cbor, text/plain); repeatable.
    #[arg(long = "content-type", value_name = "MEDIA_TYPE")]
    pub content_types: Vec<String>,
    /// Preferred streaming subprotocol for observe/subscribe: sse or longpoll; repeatable.
    #[arg(long = "subprotocol", value_name = "NAME")]
    pub subprotocols: Vec<String>,
    /// Dialect of the LMOS WebSocket protocol (with `--protocol ws`): the spec's text, or the
    /// wire format of kotlin-wot (the LMOS Kotlin SDK).
    #[arg(long, value_enum, default_value_t = WireDialect::Spec)]
    pub dialect: WireDialect,
    /// Do not check payloads against the TD's schemas.
    #[arg(long)]
    pub no_validate: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputMode::Auto)]
    pub output: OutputMode,
    /// Credentials for the thing's origin, sent where its TD's security says:
    /// `basic=USER:PASSWORD`, `bearer=TOKEN` or `apikey=KEY` (repeatable).
    #[arg(long = "credential", value_name = "KIND=VALUE")]
    pub credentials: Vec<CredentialArg>,
    /// A bearer (or OAuth2 access) token; the same as `--credential bearer=TOKEN`.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<CredentialArg>,
    /// A CA certificate (PEM file) to trust for https and wss besides the system's roots.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<std::path::PathBuf>,
}

/// A command-line credential: its value never shows in `Debug` output.
#[derive(Clone)]
pub struct CredentialArg(String);

impl std::str::FromStr for CredentialArg {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(CredentialArg(text.to_owned()))
    }
}

impl std::fmt::Debug for CredentialArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = self.0.split_once('=').map(|(k, _)| k).unwrap_or("?");
        write!(f, "CredentialArg({kind}=***)")
    }
}

/// The credential store for `url`'s origin from `--credential` and `--token`.
fn credential_store(url: &str, options: &ClientOptions) -> Result<Option<CredentialStore>, i32> {
    if options.credentials.is_empty() && options.token.is_none() {
        return Ok(None);
    }
    let mut credentials = Credentials::new();
    if let Some(token) = &options.token {
        credentials = credentials.bearer(token.0.as_str());
    }
    for argument in &options.credentials {
        credentials = match argument.0.split_once('=') {
            Some(("basic", pair)) => match pair.split_once(':') {
                Some((user, password)) => credentials.basic(user, password),
                None => {
                    eprintln!("lmos: --credential basic=USER:PASSWORD needs a ':'");
                    return Err(EXIT_USAGE);
                }
            },
            Some(("bearer", token)) => credentials.bearer(token),
            Some(("apikey", key)) => credentials.api_key(key),
            Some((kind, _)) => {
                eprintln!("lmos: unknown credential kind {kind:?} (basic, bearer, apikey)");
                return Err(EXIT_USAGE);
            }
            None => {
                eprintln!("lmos: a --credential is KIND=VALUE (basic, bearer, apikey)");
                return Err(EXIT_USAGE);
            }
        };
    }
    let store = CredentialStore::new();
    store.insert(url, credentials);
    Ok(Some(store))
}

/// The client commands.
#[derive(Debug, Clone, Subcommand)]
pub enum ClientCommand {
    /// Read a property of the thing whose TD is at URL.
    Read {
        /// URL of the Thing Description.
        url: String,
        /// Property name.
        property: String,
        #[command(flatten)]
        options: ClientOptions,
    },
    /// Write a property (JSON value).
    Write {
        /// URL of the Thing Description.
        url: String,
        /// Property name.
        property: String,
        /// The new value, as JSON.
        json: String,
        #[command(flatten)]
        options: ClientOptions,
    },
    /// Invoke an action, printing progress updates as they come and then the output.
    Call {
        /// URL of the Thing Description.
        url: String,
        /// Action name.
        action: String,
        /// The input, as JSON (none when omitted).
        json: Option<String>,
        #[command(flatten)]
        options: ClientOptions,
    },
    /// Print each new value of a property until interrupted.
    Observe {
        /// URL of the Thing Description.
        url: String,
        /// Property name.
        property: String,
        /// Stop after this many values.
        #[arg(long)]
        count: Option<u64>,
        #[command(flatten)]
        options: ClientOptions,
    },
    /// Print the data of each event until interrupted.
    Subscribe {
        /// URL of the Thing Description.
        url: String,
        /// Event name.
        event: String,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
        #[command(flatten)]
        options: ClientOptions,
    },
}

struct Printer {
    json: bool,
}

impl Printer {
    fn new(mode: OutputMode) -> Self {
        let json = match mode {
            OutputMode::Json => true,
            OutputMode::Human => false,
            OutputMode::Auto => !std::io::stdout().is_terminal(),
        };
        Printer { json }
    }

    fn line(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (e.g. `| head -1`) is not worth a panic.
        let _ = writeln!(stdout, "{text}");
        let _ = stdout.flush();
    }

    fn value(&self, value: &Value) {
        if self.json {
            self.line(&value.to_string());
        } else {
            self.line(&serde_json::to_string_pretty(value).unwrap_or_default());
        }
    }

    fn update(&self, update: &ActionUpdate) {
        match (update, self.json) {
            (ActionUpdate::Progress(value), true) => {
                self.line(&json!({ "progress": value }).to_string())
            }
            (ActionUpdate::Output(value), true) => {
                self.line(&json!({ "output": value }).to_string())
            }
            (ActionUpdate::Progress(value), false) => self.line(&format!("progress: {value}")),
            (ActionUpdate::Output(value), false) => self.value(value),
        }
    }
}

/// The exit code for an error.
pub fn exit_code(error: &ThingError) -> i32 {
    match error {
        ThingError::Remote { .. }
        | ThingError::RemoteNotFound { .. }
        | ThingError::RemoteBadRequest { .. }
        | ThingError::ActionFailed { .. }
        | ThingError::ActionCancelled
        | ThingError::ActionFinished
        | ThingError::InvalidOutput { .. }
        | ThingError::HandlerFailed { .. } => EXIT_REMOTE,
        ThingError::NotFound { .. }
        | ThingError::NotAllowed { .. }
        | ThingError::NoForm { .. }
        | ThingError::InvalidInput { .. }
        | ThingError::BadRequest(_)
        | ThingError::InvalidConfig(_) => EXIT_USAGE,
        _ => EXIT_UNREACHABLE,
    }
}

fn report(error: &ThingError) -> i32 {
    eprintln!("lmos: {error} [{}]", error.code());
    if let Some(problem) = error.remote_problem() {
        if let Some(errors) = problem.get("errors").and_then(Value::as_array) {
            for item in errors {
                eprintln!("  {}", item);
            }
        }
    }
    exit_code(error)
}

fn parse_json(text: &str) -> Result<Value, i32> {
    serde_json::from_str(text).map_err(|e| {
        eprintln!("lmos: the argument is not JSON ({e}); quote strings, e.g. '\"text\"'");
        EXIT_USAGE
    })
}

fn consume_options(url: &str, options: &ClientOptions) -> Result<ConsumeOptions, i32> {
    let mut subprotocols = Vec::new();
    for name in &options.subprotocols {
        match Subprotocol::parse(name) {
            Some(sub) => subprotocols.push(sub),
            None => {
                eprintln!("lmos: unknown subprotocol {name:?} (use sse or longpoll)");
                return Err(EXIT_USAGE);
            }
        }
    }
    let mut consume = ConsumeOptions {
        protocols: options.protocols.clone(),
        dialect: match options.dialect {
            WireDialect::Spec => lmos::binding::ws::Dialect::Spec,
            WireDialect::KotlinWot => lmos::binding::ws::Dialect::KotlinWot,
        },
        content_types: options.content_types.clone(),
        validate_inputs: !options.no_validate,
        validate_outputs: !options.no_validate,
        ..ConsumeOptions::default()
    };
    if !subprotocols.is_empty() {
        consume.subprotocols = subprotocols;
    }
    consume.credentials = credential_store(url, options)?;
    if let Some(path) = &options.cacert {
        match std::fs::read_to_string(path) {
            Ok(pem) => consume.extra_ca_pem = Some(pem),
            Err(e) => {
                eprintln!("lmos: cannot read --cacert {}: {e}", path.display());
                return Err(EXIT_USAGE);
            }
        }
    }
    Ok(consume)
}

async fn connect(url: &str, options: &ClientOptions) -> Result<ConsumedThing, i32> {
    let consume = consume_options(url, options)?;
    ConsumedThing::from_url(url, consume)
        .await
        .map_err(|e| report(&e))
}

async fn print_stream(
    values: Result<lmos::thing::ValueStream, ThingError>,
    count: Option<u64>,
    printer: &Printer,
) -> i32 {
    let mut values = match values {
        Ok(values) => values,
        Err(error) => return report(&error),
    };
    let mut seen = 0u64;
    if count == Some(0) {
        return EXIT_OK;
    }
    loop {
        tokio::select! {
            next = values.next() => match next {
                Some(Ok(value)) => {
                    printer.value(&value);
                    seen += 1;
                    if count.is_some_and(|c| seen >= c) {
                        return EXIT_OK;
                    }
                }
                Some(Err(error)) => return report(&error),
                None => {
                    eprintln!("lmos: the thing closed the stream");
                    return EXIT_UNREACHABLE;
                }
            },
            _ = tokio::signal::ctrl_c() => return EXIT_OK,
        }
    }
}

/// Runs one client command; returns the process exit code.
pub async fn run(command: ClientCommand) -> i32 {
    match command {
        ClientCommand::Read {
            url,
            property,
            options,
        } => {
            let printer = Printer::new(options.output);
            let thing = match connect(&url, &options).await {
                Ok(thing) => thing,
                Err(code) => return code,
            };
            match thing.read_property(&property).await {
                Ok(value) => {
                    printer.value(&value);
                    EXIT_OK
                }
                Err(error) => report(&error),
            }
        }
        ClientCommand::Write {
            url,
            property,
            json,
            options,
        } => {
            let value = match parse_json(&json) {
                Ok(value) => value,
                Err(code) => return code,
            };
            let printer = Printer::new(options.output);
            let thing = match connect(&url, &options).await {
                Ok(thing) => thing,
                Err(code) => return code,
            };
            match thing.write_property(&property, value).await {
                Ok(()) => {
                    if !printer.json {
                        printer.line("ok");
                    }
                    EXIT_OK
                }
                Err(error) => report(&error),
            }
        }
        ClientCommand::Call {
            url,
            action,
            json,
            options,
        } => {
            let input = match json.as_deref().map(parse_json).transpose() {
                Ok(input) => input.unwrap_or(Value::Null),
                Err(code) => return code,
            };
            let printer = Printer::new(options.output);
            let thing = match connect(&url, &options).await {
                Ok(thing) => thing,
                Err(code) => return code,
            };
            let mut updates = match thing.invoke_action_stream(&action, input).await {
                Ok(updates) => updates,
                Err(error) => return report(&error),
            };
            while let Some(update) = updates.next().await {
                match update {
                    Ok(update) => {
                        let done = matches!(update, ActionUpdate::Output(_));
                        printer.update(&update);
                        if done {
                            return EXIT_OK;
                        }
                    }
                    Err(error) => return report(&error),
                }
            }
            eprintln!("lmos: the action ended without an output");
            EXIT_UNREACHABLE
        }
        ClientCommand::Observe {
            url,
            property,
            count,
            options,
        } => {
            let printer = Printer::new(options.output);
            let thing = match connect(&url, &options).await {
                Ok(thing) => thing,
                Err(code) => return code,
            };
            print_stream(thing.observe_property(&property).await, count, &printer).await
        }
        ClientCommand::Subscribe {
            url,
            event,
            count,
            options,
        } => {
            let printer = Printer::new(options.output);
            let thing = match connect(&url, &options).await {
                Ok(thing) => thing,
                Err(code) => return code,
            };
            print_stream(thing.subscribe_event(&event).await, count, &printer).await
        }
    }
}
