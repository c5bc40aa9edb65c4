//! [`ExposedThing`]: a thing this process serves, with its handlers, stored property values,
//! change notifications, events and asynchronous action instances.
//!
//! The interaction methods ([`ExposedThing::read_property`], [`ExposedThing::invoke_action`],
//! ...) are what protocol bindings call; they check inputs against the TD's schemas, run the
//! handler inside the caller's trace context and are independent of HTTP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use indexmap::IndexMap;
use serde_json::{Map, Value};
use tokio::sync::{broadcast, watch};
use tokio_stream::wrappers::BroadcastStream;
use url::Url;

use super::handler::{
    rfc3339, ActionHandler, ActionState, ActionStatus, ActionStreamHandler, ActionUpdate,
    ActionUpdates, BoxStream, HandlerError, InteractionContext, PropertyReadHandler,
    PropertyWriteHandler, ValueStream,
};
use super::{lock, read_lock, write_lock, ThingError};
use crate::td::payload::{PayloadError, PayloadValidator};
use crate::td::{ActionAffordance, AffordanceKind, DataSchema, Thing};
use crate::trace::{self, Span, SpanKind, TraceContext};

/// How many notifications an observer may fall behind before it skips some.
const CHANNEL_CAPACITY: usize = 64;

#[derive(Clone)]
enum ActionImpl {
    Single(Arc<dyn ActionHandler>),
    Stream(Arc<dyn ActionStreamHandler>),
}

/// The `uriVariables` of one affordance (the thing's, then its own) and their validators.
struct UriVariables {
    schemas: IndexMap<String, DataSchema>,
    validators: IndexMap<String, PayloadValidator>,
}

impl UriVariables {
    /// The declared variables of an affordance, `None` when there are none.
    fn compile(
        thing: &Thing,
        own: Option<&IndexMap<String, DataSchema>>,
        affordance: &str,
    ) -> Result<Option<Self>, ThingError> {
        let mut schemas = thing.uri_variables.clone().unwrap_or_default();
        if let Some(own) = own {
            schemas.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        if schemas.is_empty() {
            return Ok(None);
        }
        let mut validators = IndexMap::new();
        for (name, schema) in &schemas {
            if let Some(validator) =
                compile(Some(schema), format!("{affordance}/uriVariables/{name}"))?
            {
                validators.insert(name.clone(), validator);
            }
        }
        Ok(Some(UriVariables {
            schemas,
            validators,
        }))
    }
}

/// Checks the `uriVariables` of an interaction: every one declared, every one valid.
fn check_uri_variables(
    declared: Option<&UriVariables>,
    values: &Map<String, Value>,
    what: impl Fn() -> String,
) -> Result<(), ThingError> {
    if values.is_empty() {
        return Ok(());
    }
    let mut violations = Vec::new();
    for (name, value) in values {
        let Some(validator) = declared.and_then(|d| d.validators.get(name)) else {
            if declared.is_none_or(|d| !d.schemas.contains_key(name)) {
                violations.push(crate::td::payload::PayloadViolation {
                    path: format!("/{}", escape_pointer(name)),
                    rule: "uriVariables".into(),
                    message: format!("{name:?} is not a declared URI variable"),
                });
            }
            continue;
        };
        if let Err(PayloadError::Invalid(found)) = validator.validate(value) {
            violations.extend(found.into_iter().map(|mut v| {
                v.path = format!("/{}{}", escape_pointer(name), v.path);
                v
            }));
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(ThingError::InvalidInput {
            what: what(),
            violations,
        })
    }
}

struct PropertySlot {
    validator: Option<PayloadValidator>,
    uri_variables: Option<UriVariables>,
    read_only: bool,
    write_only: bool,
    observable: bool,
    value: RwLock<Value>,
    read: RwLock<Option<Arc<dyn PropertyReadHandler>>>,
    write: RwLock<Option<Arc<dyn PropertyWriteHandler>>>,
    changes: broadcast::Sender<Value>,
}

struct ActionSlot {
    input: Option<PayloadValidator>,
    uri_variables: Option<UriVariables>,
    output: Option<PayloadValidator>,
    synchronous: bool,
    handler: RwLock<Option<ActionImpl>>,
}

struct EventSlot {
    validator: Option<PayloadValidator>,
    uri_variables: Option<UriVariables>,
    sender: broadcast::Sender<Value>,
}

#[derive(Clone)]
enum InstanceEvent {
    Progress(Value),
    Finished(Box<ActionStatus>),
}

struct InstanceState {
    status: ActionStatus,
    ended: Option<Instant>,
}

struct ActionInstance {
    action: String,
    state: Mutex<InstanceState>,
    cancel: watch::Sender<bool>,
    events: broadcast::Sender<InstanceEvent>,
}

impl ActionInstance {
    fn snapshot(&self) -> ActionStatus {
        lock(&self.state).status.clone()
    }

    /// Moves the instance to a final state unless it is in one already; tells listeners.
    fn finish(&self, state: ActionState, output: Option<Value>, error: Option<Value>) -> bool {
        let mut guard = lock(&self.state);
        if guard.status.status.is_final() {
            return false;
        }
        guard.status.status = state;
        guard.status.output = output;
        guard.status.error = error;
        guard.status.time_ended = Some(rfc3339(SystemTime::now()));
        guard.ended = Some(Instant::now());
        // Sent under the lock, like progress: a listener that subscribes under the same lock
        // ([`ExposedThing::action_updates`]) sees every change exactly once.
        let status = guard.status.clone();
        let _ = self.events.send(InstanceEvent::Finished(Box::new(status)));
        true
    }

    /// Records a progress value and tells listeners (under the state lock, see [`finish`]).
    ///
    /// [`finish`]: Self::finish
    fn progress(&self, value: Value) {
        let mut guard = lock(&self.state);
        if guard.status.status.is_final() {
            return;
        }
        guard.status.progress = Some(value.clone());
        let _ = self.events.send(InstanceEvent::Progress(value));
    }
}

/// Receives the errors that callers only see as "internal error" (HTTP 500): a failed handler,
/// an output that breaks its schema. Arguments: thing slug, affordance (`actions/x`), error.
pub type InternalErrorHook = Arc<dyn Fn(&str, &str, &ThingError) + Send + Sync>;

/// Limits and timings of exposed things, set through the servient builder.
#[derive(Clone)]
pub(crate) struct ExposedSettings {
    /// Where internal errors go (standard error when `None`).
    pub internal_errors: Option<InternalErrorHook>,
    /// How long a finished action instance stays queryable.
    pub action_retention: Duration,
    /// How long a cancelled handler may run on to clean up before it is dropped.
    pub cancel_grace: Duration,
}

impl std::fmt::Debug for ExposedSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExposedSettings")
            .field("action_retention", &self.action_retention)
            .field("cancel_grace", &self.cancel_grace)
            .field("internal_errors", &self.internal_errors.is_some())
            .finish()
    }
}

impl Default for ExposedSettings {
    fn default() -> Self {
        ExposedSettings {
            internal_errors: None,
            action_retention: Duration::from_secs(300),
            cancel_grace: Duration::from_secs(10),
        }
    }
}

struct ExposedInner {
    slug: String,
    thing: Thing,
    properties: IndexMap<String, PropertySlot>,
    actions: IndexMap<String, ActionSlot>,
    events: IndexMap<String, EventSlot>,
    instances: Mutex<HashMap<String, Arc<ActionInstance>>>,
    base_url: Arc<RwLock<Option<Url>>>,
    ws_base: Arc<RwLock<Option<Url>>>,
    settings: ExposedSettings,
    /// Directory entries kept alive by [`ExposedThing::register`]; ended on servient shutdown.
    registrations: Mutex<Vec<crate::discovery::DirectoryRegistration>>,
}

/// A thing served by a [`Servient`](super::Servient). Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct ExposedThing {
    inner: Arc<ExposedInner>,
}

impl std::fmt::Debug for ExposedThing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExposedThing")
            .field("slug", &self.inner.slug)
            .field("title", &self.inner.thing.title)
            .finish_non_exhaustive()
    }
}

fn compile(
    schema: Option<&DataSchema>,
    affordance: String,
) -> Result<Option<PayloadValidator>, ThingError> {
    match schema {
        None => Ok(None),
        Some(schema) => {
            PayloadValidator::new(schema)
                .map(Some)
                .map_err(|e| ThingError::InvalidSchema {
                    affordance,
                    message: e.to_string(),
                })
        }
    }
}

fn check(
    validator: Option<&PayloadValidator>,
    value: &Value,
    what: impl FnOnce() -> String,
    output: bool,
) -> Result<(), ThingError> {
    let Some(validator) = validator else {
        return Ok(());
    };
    // The quick yes/no check first; the full list of violations is only built for a value that
    // fails it.
    if validator.is_valid(value) {
        return Ok(());
    }
    match validator.validate(value) {
        Ok(()) => Ok(()),
        Err(PayloadError::Invalid(violations)) if output => Err(ThingError::InvalidOutput {
            what: what(),
            violations,
        }),
        Err(PayloadError::Invalid(violations)) => Err(ThingError::InvalidInput {
            what: what(),
            violations,
        }),
        Err(PayloadError::Schema(message)) => Err(ThingError::InvalidSchema {
            affordance: what(),
            message,
        }),
    }
}

fn handler_error(error: HandlerError) -> ThingError {
    match error {
        HandlerError::Failed(message) => ThingError::HandlerFailed { message },
        HandlerError::InvalidInput(message) => ThingError::BadRequest(message),
        HandlerError::Cancelled => ThingError::ActionCancelled,
    }
}

/// The trace context a handler runs in: the caller's, or a new trace.
/// Ends `span` with the outcome of the interaction it covers.
fn end_span<T, E: std::fmt::Display>(span: Span, result: &Result<T, E>) {
    span.end(result.as_ref().err().map(ToString::to_string));
}

impl ExposedThing {
    /// The server span of one interaction: a child of the caller's context (or a new trace).
    /// Handlers run with its context as [`trace::current`], so their own calls continue it.
    fn server_span(
        &self,
        operation: &str,
        name: &str,
        incoming: Option<&TraceContext>,
    ) -> Result<Span, ThingError> {
        let mut span = Span::start(SpanKind::Server, incoming, || format!("{operation} {name}"))?;
        if !span.is_recording() {
            return Ok(span);
        }
        span.set_attribute("lmos.operation", operation);
        span.set_attribute("lmos.affordance", name);
        if let Some(id) = &self.inner.thing.id {
            span.set_attribute("lmos.thing", id.as_str());
        }
        Ok(span)
    }

    pub(crate) fn new(
        thing: Thing,
        slug: String,
        base_url: Arc<RwLock<Option<Url>>>,
        ws_base: Arc<RwLock<Option<Url>>>,
        settings: ExposedSettings,
    ) -> Result<Self, ThingError> {
        let mut properties = IndexMap::new();
        for (name, property) in &thing.properties {
            let validator = compile(Some(&property.schema), format!("properties/{name}"))?;
            let initial = property.schema.default.clone().unwrap_or(Value::Null);
            properties.insert(
                name.clone(),
                PropertySlot {
                    validator,
                    uri_variables: UriVariables::compile(
                        &thing,
                        property.uri_variables.as_ref(),
                        &format!("properties/{name}"),
                    )?,
                    read_only: property.is_read_only(),
                    write_only: property.is_write_only(),
                    observable: property.is_observable(),
                    value: RwLock::new(initial),
                    read: RwLock::new(None),
                    write: RwLock::new(None),
                    changes: broadcast::channel(CHANNEL_CAPACITY).0,
                },
            );
        }
        let mut actions = IndexMap::new();
        for (name, action) in &thing.actions {
            actions.insert(name.clone(), action_slot(&thing, name, action)?);
        }
        let mut events = IndexMap::new();
        for (name, event) in &thing.events {
            let validator = compile(event.data.as_ref(), format!("events/{name}/data"))?;
            events.insert(
                name.clone(),
                EventSlot {
                    validator,
                    uri_variables: UriVariables::compile(
                        &thing,
                        event.uri_variables.as_ref(),
                        &format!("events/{name}"),
                    )?,
                    sender: broadcast::channel(CHANNEL_CAPACITY).0,
                },
            );
        }
        Ok(ExposedThing {
            inner: Arc::new(ExposedInner {
                slug,
                thing,
                properties,
                actions,
                events,
                instances: Mutex::new(HashMap::new()),
                base_url,
                ws_base,
                settings,
                registrations: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Registers this thing's TD (as served, with absolute form URLs) in `directory` with the
    /// time-to-live `ttl`, refreshes it before it expires, registers it again when the directory
    /// lost it, and deletes it when the servient shuts down. The servient must have started (or
    /// have a public base URL) so that the TD's forms are absolute.
    pub async fn register(
        &self,
        directory: &crate::discovery::DirectoryClient,
        ttl: Duration,
    ) -> Result<crate::discovery::DirectoryRegistration, crate::discovery::DiscoveryError> {
        if self.td_url().is_none() {
            return Err(crate::discovery::DiscoveryError::NotRegistrable(format!(
                "{:?} has no base URL yet: start its servient first",
                self.title()
            )));
        }
        let thing = self.clone();
        let source: crate::discovery::registration::TdSource =
            Arc::new(move || thing.thing_description().to_value());
        let registration =
            crate::discovery::DirectoryRegistration::start(directory.clone(), source, ttl).await?;
        lock(&self.inner.registrations).push(registration.clone());
        Ok(registration)
    }

    /// Deletes every directory entry [`register`](Self::register) keeps alive.
    pub(crate) async fn deregister_all(&self) {
        let registrations = std::mem::take(&mut *lock(&self.inner.registrations));
        for registration in registrations {
            if let Err(error) = registration.deregister().await {
                eprintln!(
                    "lmos: deleting the directory entry {} failed: {error}",
                    registration.id()
                );
            }
        }
    }

    /// The URL path segment of this thing (`/{slug}` serves its TD).
    pub fn slug(&self) -> &str {
        &self.inner.slug
    }

    /// The thing's title.
    pub fn title(&self) -> &str {
        &self.inner.thing.title
    }

    /// The TD with relative form hrefs (relative to the server root).
    pub(crate) fn template(&self) -> &Thing {
        &self.inner.thing
    }

    /// The TD as served, with every form href made absolute against `base` (the server root).
    pub fn description_at(&self, base: &Url) -> Thing {
        let mut thing = self.inner.thing.clone();
        let ws_endpoint = crate::binding::ws::ws_url(base, read_lock(&self.inner.ws_base).as_ref());
        let absolute = |form: &mut crate::td::Form| {
            if crate::binding::ws::is_ws_form(form) {
                if let Some(endpoint) = &ws_endpoint {
                    form.href = endpoint.to_string();
                }
            } else {
                // A URI template (`.../actions/x{?a,b}`) is joined up to its first expression;
                // the expressions stay as they are.
                let prefix = crate::binding::http::uri_template::literal_prefix(&form.href);
                if let Ok(url) = base.join(prefix) {
                    form.href = format!("{url}{}", &form.href[prefix.len()..]);
                }
            }
        };
        for property in thing.properties.values_mut() {
            property.forms.iter_mut().for_each(&absolute);
        }
        for action in thing.actions.values_mut() {
            action.forms.iter_mut().for_each(&absolute);
        }
        for event in thing.events.values_mut() {
            event.forms.iter_mut().for_each(&absolute);
        }
        if let Some(forms) = thing.forms.as_mut() {
            forms.iter_mut().for_each(&absolute);
        }
        thing
    }

    /// The TD as served at the servient's base URL (known once the servient has started or when a
    /// public base URL is configured); hrefs stay relative before that.
    pub fn thing_description(&self) -> Thing {
        match read_lock(&self.inner.base_url).as_ref() {
            Some(base) => self.description_at(base),
            None => self.inner.thing.clone(),
        }
    }

    /// The URL of the TD, once the servient's base URL is known.
    pub fn td_url(&self) -> Option<String> {
        read_lock(&self.inner.base_url)
            .as_ref()
            .and_then(|base| base.join(&self.inner.slug).ok())
            .map(|url| url.to_string())
    }

    /// Hands internal errors (which callers only see as 500) to the hook, or to standard error.
    fn note<T>(&self, affordance: &str, result: Result<T, ThingError>) -> Result<T, ThingError> {
        if let Err(error) = &result {
            self.note_error(affordance, error);
        }
        result
    }

    fn note_error(&self, affordance: &str, error: &ThingError) {
        if !matches!(
            error,
            ThingError::HandlerFailed { .. }
                | ThingError::InvalidOutput { .. }
                | ThingError::InvalidSchema { .. }
        ) {
            return;
        }
        match &self.inner.settings.internal_errors {
            Some(hook) => hook(&self.inner.slug, affordance, error),
            None => eprintln!("lmos: {}/{affordance}: {error}", self.inner.slug),
        }
    }

    fn property(&self, name: &str) -> Result<&PropertySlot, ThingError> {
        self.inner
            .properties
            .get(name)
            .ok_or_else(|| ThingError::not_found("property", name))
    }

    fn action(&self, name: &str) -> Result<&ActionSlot, ThingError> {
        self.inner
            .actions
            .get(name)
            .ok_or_else(|| ThingError::not_found("action", name))
    }

    fn event(&self, name: &str) -> Result<&EventSlot, ThingError> {
        self.inner
            .events
            .get(name)
            .ok_or_else(|| ThingError::not_found("event", name))
    }

    // ----- registration -------------------------------------------------------------------

    /// Makes `handler` produce the value of property `name` (instead of the stored value).
    pub fn on_property_read(
        &self,
        name: &str,
        handler: Arc<dyn PropertyReadHandler>,
    ) -> Result<(), ThingError> {
        *write_lock(&self.property(name)?.read) = Some(handler);
        Ok(())
    }

    /// Makes `handler` accept writes of property `name`. After it succeeds the written value is
    /// stored and observers are notified, as for a property without a handler.
    pub fn on_property_write(
        &self,
        name: &str,
        handler: Arc<dyn PropertyWriteHandler>,
    ) -> Result<(), ThingError> {
        *write_lock(&self.property(name)?.write) = Some(handler);
        Ok(())
    }

    /// Makes `handler` run action `name`, returning one output.
    pub fn on_action(&self, name: &str, handler: Arc<dyn ActionHandler>) -> Result<(), ThingError> {
        *write_lock(&self.action(name)?.handler) = Some(ActionImpl::Single(handler));
        Ok(())
    }

    /// Makes `handler` run action `name`, reporting progress before its output.
    pub fn on_action_stream(
        &self,
        name: &str,
        handler: Arc<dyn ActionStreamHandler>,
    ) -> Result<(), ThingError> {
        *write_lock(&self.action(name)?.handler) = Some(ActionImpl::Stream(handler));
        Ok(())
    }

    /// Stores a new value of property `name` (checked against its schema) and notifies observers.
    pub fn set_property(&self, name: &str, value: Value) -> Result<(), ThingError> {
        let slot = self.property(name)?;
        check(
            slot.validator.as_ref(),
            &value,
            || format!("value of property {name}"),
            false,
        )?;
        self.store(slot, value);
        Ok(())
    }

    fn store(&self, slot: &PropertySlot, value: Value) {
        *write_lock(&slot.value) = value.clone();
        // No receiver is not an error: nobody observes the property right now.
        let _ = slot.changes.send(value);
    }

    /// The stored value of property `name` (not calling any read handler).
    pub fn property_value(&self, name: &str) -> Result<Value, ThingError> {
        Ok(read_lock(&self.property(name)?.value).clone())
    }

    /// Emits event `name` with `data` (checked against the event's data schema) to every
    /// subscriber.
    pub fn emit_event(&self, name: &str, data: Value) -> Result<(), ThingError> {
        let slot = self.event(name)?;
        check(
            slot.validator.as_ref(),
            &data,
            || format!("data of event {name}"),
            false,
        )?;
        let _ = slot.sender.send(data);
        Ok(())
    }

    // ----- interactions (called by protocol bindings) --------------------------------------

    /// `readproperty`: the read handler's value, or the stored value.
    pub async fn read_property(
        &self,
        name: &str,
        trace: Option<TraceContext>,
    ) -> Result<Value, ThingError> {
        self.read_property_with(name, trace, Map::new()).await
    }

    /// `readproperty` with `uriVariables` (checked against the property's, then handed to the
    /// read handler in its [`InteractionContext`]).
    pub async fn read_property_with(
        &self,
        name: &str,
        trace: Option<TraceContext>,
        uri_variables: Map<String, Value>,
    ) -> Result<Value, ThingError> {
        let result = self.read_property_unnoted(name, trace, uri_variables).await;
        self.note(&format!("properties/{name}"), result)
    }

    async fn read_property_unnoted(
        &self,
        name: &str,
        trace: Option<TraceContext>,
        uri_variables: Map<String, Value>,
    ) -> Result<Value, ThingError> {
        let slot = self.property(name)?;
        if slot.write_only {
            return Err(ThingError::NotAllowed {
                name: name.to_owned(),
                operation: "readproperty".into(),
            });
        }
        check_uri_variables(slot.uri_variables.as_ref(), &uri_variables, || {
            format!("URI variables of property {name}")
        })?;
        let handler = read_lock(&slot.read).clone();
        let span = self.server_span("readproperty", name, trace.as_ref())?;
        let result = match handler {
            Some(handler) => {
                let current = span.context().clone();
                let context = InteractionContext::new(trace).with_uri_variables(uri_variables);
                trace::scope(current, handler.read(context))
                    .await
                    .map_err(handler_error)
            }
            None => Ok(read_lock(&slot.value).clone()),
        };
        end_span(span, &result);
        result
    }

    /// `writeproperty`: checks the value, runs the write handler if any, stores the value and
    /// notifies observers.
    pub async fn write_property(
        &self,
        name: &str,
        value: Value,
        trace: Option<TraceContext>,
    ) -> Result<(), ThingError> {
        self.write_property_with(name, value, trace, Map::new())
            .await
    }

    /// `writeproperty` with `uriVariables` (checked, then handed to the write handler).
    pub async fn write_property_with(
        &self,
        name: &str,
        value: Value,
        trace: Option<TraceContext>,
        uri_variables: Map<String, Value>,
    ) -> Result<(), ThingError> {
        let result = self
            .write_property_unnoted(name, value, trace, uri_variables)
            .await;
        self.note(&format!("properties/{name}"), result)
    }

    async fn write_property_unnoted(
        &self,
        name: &str,
        value: Value,
        trace: Option<TraceContext>,
        uri_variables: Map<String, Value>,
    ) -> Result<(), ThingError> {
        let slot = self.property(name)?;
        if slot.read_only {
            return Err(ThingError::NotAllowed {
                name: name.to_owned(),
                operation: "writeproperty".into(),
            });
        }
        check_uri_variables(slot.uri_variables.as_ref(), &uri_variables, || {
            format!("URI variables of property {name}")
        })?;
        check(
            slot.validator.as_ref(),
            &value,
            || format!("value of property {name}"),
            false,
        )?;
        let handler = read_lock(&slot.write).clone();
        let span = self.server_span("writeproperty", name, trace.as_ref())?;
        if let Some(handler) = handler {
            let current = span.context().clone();
            let context = InteractionContext::new(trace).with_uri_variables(uri_variables);
            let result = trace::scope(current, handler.write(value.clone(), context))
                .await
                .map_err(handler_error);
            if let Err(error) = result {
                span.end(Some(error.to_string()));
                return Err(error);
            }
        }
        span.end(None);
        self.store(slot, value);
        Ok(())
    }

    /// `readallproperties`: every property that is not write-only.
    pub async fn read_all_properties(
        &self,
        trace: Option<TraceContext>,
    ) -> Result<Map<String, Value>, ThingError> {
        let mut values = Map::new();
        for (name, slot) in &self.inner.properties {
            if slot.write_only {
                continue;
            }
            values.insert(name.clone(), self.read_property(name, trace.clone()).await?);
        }
        Ok(values)
    }

    /// `writemultipleproperties`: checks every value first, then writes them in order.
    pub async fn write_multiple_properties(
        &self,
        values: Map<String, Value>,
        trace: Option<TraceContext>,
    ) -> Result<(), ThingError> {
        let mut violations = Vec::new();
        for (name, value) in &values {
            let slot = self.property(name)?;
            if slot.read_only {
                return Err(ThingError::NotAllowed {
                    name: name.clone(),
                    operation: "writeproperty".into(),
                });
            }
            if let Some(validator) = &slot.validator {
                if let Err(PayloadError::Invalid(found)) = validator.validate(value) {
                    violations.extend(found.into_iter().map(|mut v| {
                        v.path = format!("/{}{}", escape_pointer(name), v.path);
                        v
                    }));
                }
            }
        }
        if !violations.is_empty() {
            return Err(ThingError::InvalidInput {
                what: "property values".into(),
                violations,
            });
        }
        for (name, value) in values {
            self.write_property(&name, value, trace.clone()).await?;
        }
        Ok(())
    }

    /// Checks what the handler of action `name` produced against the TD's `output` schema.
    fn check_action_output(&self, name: &str, output: &Value) -> Result<(), ThingError> {
        let slot = self.action(name)?;
        check(
            slot.output.as_ref(),
            output,
            || format!("output of action {name}"),
            true,
        )
    }

    /// Whether action `name` is asynchronous (`synchronous: false` in the TD).
    pub fn is_async_action(&self, name: &str) -> Result<bool, ThingError> {
        Ok(!self.action(name)?.synchronous)
    }

    /// Checks an invocation's URI variables and input and returns the action's handler.
    fn start_updates(
        &self,
        name: &str,
        input: &Value,
        uri_variables: &Map<String, Value>,
    ) -> Result<ActionImpl, ThingError> {
        let slot = self.action(name)?;
        check_uri_variables(slot.uri_variables.as_ref(), uri_variables, || {
            format!("URI variables of action {name}")
        })?;
        check(
            slot.input.as_ref(),
            input,
            || format!("input of action {name}"),
            false,
        )?;
        read_lock(&slot.handler)
            .clone()
            .ok_or_else(|| ThingError::HandlerFailed {
                message: format!("no handler registered for action {name}"),
            })
    }

    /// `invokeaction`, waiting for the output (progress updates of a stream handler are
    /// dropped).
    pub async fn invoke_action(
        &self,
        name: &str,
        input: Value,
        trace: Option<TraceContext>,
    ) -> Result<Value, ThingError> {
        self.invoke_action_with(name, input, trace, Map::new())
            .await
    }

    /// `invokeaction` with `uriVariables` (checked, then handed to the handler in its
    /// [`InteractionContext`]).
    pub async fn invoke_action_with(
        &self,
        name: &str,
        input: Value,
        trace: Option<TraceContext>,
        uri_variables: Map<String, Value>,
    ) -> Result<Value, ThingError> {
        let result = self
            .invoke_action_unnoted(name, input, trace, uri_variables)
            .await;
        // The affordance name is only formatted when there is an error to report.
        if let Err(error) = &result {
            self.note_error(&format!("actions/{name}"), error);
        }
        result
    }

    async fn invoke_action_unnoted(
        &self,
        name: &str,
        input: Value,
        trace: Option<TraceContext>,
        uri_variables: Map<String, Value>,
    ) -> Result<Value, ThingError> {
        let handler = self.start_updates(name, &input, &uri_variables)?;
        let span = self.server_span("invokeaction", name, trace.as_ref())?;
        let current = span.context().clone();
        let context = InteractionContext::new(trace).with_uri_variables(uri_variables);
        let result = match handler {
            ActionImpl::Single(handler) => trace::scope(current, handler.invoke(input, context))
                .await
                .map_err(handler_error),
            ActionImpl::Stream(handler) => {
                let run = async move {
                    let mut updates = handler.invoke(input, context);
                    while let Some(update) = updates.next().await {
                        if let ActionUpdate::Output(output) = update.map_err(handler_error)? {
                            return Ok(output);
                        }
                    }
                    Ok::<_, ThingError>(Value::Null)
                };
                trace::scope(current, run).await
            }
        };
        end_span(span, &result);
        let output = result?;
        self.check_action_output(name, &output)?;
        Ok(output)
    }

    /// `invokeaction` as a stream of updates, ending with the output. The handler runs as the
    /// stream is polled (no task of its own while it is wanted); dropping the stream before its
    /// end cancels it: [`InteractionContext::cancelled`] completes and the handler runs on in a
    /// task of its own for the cancel grace period.
    pub fn invoke_action_stream(
        &self,
        name: &str,
        input: Value,
        trace: Option<TraceContext>,
    ) -> Result<ActionUpdates, ThingError> {
        self.invoke_action_stream_with(name, input, trace, Map::new())
    }

    /// [`invoke_action_stream`](Self::invoke_action_stream) with `uriVariables`.
    pub fn invoke_action_stream_with(
        &self,
        name: &str,
        input: Value,
        trace: Option<TraceContext>,
        uri_variables: Map<String, Value>,
    ) -> Result<ActionUpdates, ThingError> {
        let handler = self.start_updates(name, &input, &uri_variables)?;
        let span = self.server_span("invokeaction", name, trace.as_ref())?;
        let current = span.context().clone();
        let (cancel, cancel_rx) = watch::channel(false);
        let context = InteractionContext::for_action(trace, None, cancel_rx)
            .with_uri_variables(uri_variables);
        Ok(Box::pin(ActionRun {
            thing: self.clone(),
            name: name.to_owned(),
            updates: Some(handler_updates(handler, input, context)),
            cancel: Some(cancel),
            span: Some(span),
            current,
        }))
    }

    /// Starts an asynchronous action instance and returns its first status (with `id` set).
    pub fn start_action(
        &self,
        name: &str,
        input: Value,
        trace: Option<TraceContext>,
    ) -> Result<ActionStatus, ThingError> {
        self.start_action_with(name, input, trace, Map::new())
    }

    /// [`start_action`](Self::start_action) with `uriVariables`.
    pub fn start_action_with(
        &self,
        name: &str,
        input: Value,
        trace: Option<TraceContext>,
        uri_variables: Map<String, Value>,
    ) -> Result<ActionStatus, ThingError> {
        let handler = self.start_updates(name, &input, &uri_variables)?;
        let span = self.server_span("invokeaction", name, trace.as_ref())?;
        let current = span.context().clone();
        self.purge_finished();
        let id = uuid::Uuid::new_v4().to_string();
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let status = ActionStatus {
            id: Some(id.clone()),
            status: ActionState::Running,
            progress: None,
            output: None,
            error: None,
            href: None,
            time_requested: Some(rfc3339(SystemTime::now())),
            time_ended: None,
        };
        let instance = Arc::new(ActionInstance {
            action: name.to_owned(),
            state: Mutex::new(InstanceState {
                status: status.clone(),
                ended: None,
            }),
            cancel: cancel_tx,
            events: broadcast::channel(CHANNEL_CAPACITY).0,
        });
        lock(&self.inner.instances).insert(id.clone(), instance.clone());
        let context = InteractionContext::for_action(trace, Some(id), cancel_rx.clone())
            .with_uri_variables(uri_variables);
        let updates = handler_updates(handler, input, context);
        let this = self.clone();
        let grace = self.inner.settings.cancel_grace;
        tokio::spawn(trace::scope(current, async move {
            drive_instance(this, instance, updates, cancel_rx, grace).await;
            span.end(None);
        }));
        Ok(status)
    }

    fn purge_finished(&self) {
        let retention = self.inner.settings.action_retention;
        lock(&self.inner.instances).retain(|_, instance| {
            lock(&instance.state)
                .ended
                .is_none_or(|ended| ended.elapsed() < retention)
        });
    }

    fn instance(&self, name: &str, id: &str) -> Result<Arc<ActionInstance>, ThingError> {
        self.action(name)?;
        lock(&self.inner.instances)
            .get(id)
            .filter(|instance| instance.action == name)
            .cloned()
            .ok_or_else(|| ThingError::not_found("action instance", id))
    }

    /// `queryaction`: the status of an asynchronous action instance.
    pub fn query_action(&self, name: &str, id: &str) -> Result<ActionStatus, ThingError> {
        Ok(self.instance(name, id)?.snapshot())
    }

    /// `cancelaction`: marks the instance cancelled and signals its handler
    /// ([`InteractionContext::cancelled`]). Fails with [`ThingError::ActionFinished`] when it had
    /// already finished.
    pub fn cancel_action(&self, name: &str, id: &str) -> Result<(), ThingError> {
        let instance = self.instance(name, id)?;
        if !instance.finish(ActionState::Cancelled, None, None) {
            return Err(ThingError::ActionFinished);
        }
        let _ = instance.cancel.send(true);
        Ok(())
    }

    /// The updates of an asynchronous action instance: first its current state (the latest
    /// progress value it reported, if any), then every later progress value, then the output (or
    /// an error when it fails or is cancelled). A finished instance yields its result at once.
    pub fn action_updates(&self, name: &str, id: &str) -> Result<ActionUpdates, ThingError> {
        let instance = self.instance(name, id)?;
        // Subscribing and reading the state under the one lock the instance's changes are made
        // and sent under: nothing is missed between the two, nothing arrives twice.
        let (receiver, snapshot) = {
            let guard = lock(&instance.state);
            (instance.events.subscribe(), guard.status.clone())
        };
        if snapshot.status.is_final() {
            return Ok(Box::pin(futures::stream::iter([final_update(snapshot)])));
        }
        let current = snapshot.progress.map(InstanceEvent::Progress);
        let events =
            Box::pin(futures::stream::iter(current).chain(
                BroadcastStream::new(receiver).filter_map(|event| async move { event.ok() }),
            ));
        // The stream ends right after the final update, without waiting for another event (none
        // comes: an SSE response would otherwise stay open until the instance is purged).
        let stream = futures::stream::unfold(Some(events), |events| async move {
            let mut events = events?;
            match events.next().await? {
                InstanceEvent::Progress(value) => {
                    Some((Ok(ActionUpdate::Progress(value)), Some(events)))
                }
                InstanceEvent::Finished(status) => Some((final_update(*status), None)),
            }
        });
        Ok(Box::pin(stream))
    }

    /// `observeproperty`: the values property `name` takes from now on.
    pub fn observe_property(&self, name: &str) -> Result<ValueStream, ThingError> {
        let slot = self.property(name)?;
        if !slot.observable {
            return Err(ThingError::NotAllowed {
                name: name.to_owned(),
                operation: "observeproperty".into(),
            });
        }
        Ok(broadcast_values(slot.changes.subscribe()))
    }

    /// `subscribeevent`: the data of every event `name` emitted from now on.
    pub fn subscribe_event(&self, name: &str) -> Result<ValueStream, ThingError> {
        Ok(broadcast_values(self.event(name)?.sender.subscribe()))
    }

    /// How many open `observeproperty` subscriptions property `name` has right now, over any
    /// binding (a subscription the client ended is gone once the server has noticed).
    pub fn observer_count(&self, name: &str) -> Result<usize, ThingError> {
        Ok(self.property(name)?.changes.receiver_count())
    }

    /// How many open `subscribeevent` subscriptions event `name` has right now.
    pub fn subscriber_count(&self, name: &str) -> Result<usize, ThingError> {
        Ok(self.event(name)?.sender.receiver_count())
    }

    /// The `uriVariables` an affordance declares (the thing's and its own), `None` when it
    /// declares none or does not exist.
    pub fn declared_uri_variables(
        &self,
        kind: AffordanceKind,
        name: &str,
    ) -> Option<&IndexMap<String, DataSchema>> {
        let declared = match kind {
            AffordanceKind::Property => self.inner.properties.get(name)?.uri_variables.as_ref(),
            AffordanceKind::Action => self.inner.actions.get(name)?.uri_variables.as_ref(),
            AffordanceKind::Event => self.inner.events.get(name)?.uri_variables.as_ref(),
        };
        declared.map(|d| &d.schemas)
    }

    /// Names of the properties.
    pub fn property_names(&self) -> Vec<String> {
        self.inner.properties.keys().cloned().collect()
    }
}

fn escape_pointer(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn broadcast_values(receiver: broadcast::Receiver<Value>) -> ValueStream {
    // An observer that falls behind skips the values it missed (it still gets the newest).
    Box::pin(BroadcastStream::new(receiver).filter_map(|value| async move { value.ok().map(Ok) }))
}

fn final_update(status: ActionStatus) -> Result<ActionUpdate, ThingError> {
    match status.status {
        ActionState::Completed => Ok(ActionUpdate::Output(status.output.unwrap_or(Value::Null))),
        ActionState::Cancelled => Err(ThingError::ActionCancelled),
        _ => Err(ThingError::ActionFailed {
            title: status
                .error
                .as_ref()
                .and_then(|e| e.get("title"))
                .and_then(Value::as_str)
                .unwrap_or("the action failed")
                .to_owned(),
            problem: status.error.map(Box::new),
        }),
    }
}

fn action_slot(
    thing: &Thing,
    name: &str,
    action: &ActionAffordance,
) -> Result<ActionSlot, ThingError> {
    Ok(ActionSlot {
        uri_variables: UriVariables::compile(
            thing,
            action.uri_variables.as_ref(),
            &format!("actions/{name}"),
        )?,
        input: compile(action.input.as_ref(), format!("actions/{name}/input"))?,
        output: compile(action.output.as_ref(), format!("actions/{name}/output"))?,
        synchronous: action.synchronous != Some(false),
        handler: RwLock::new(None),
    })
}

fn handler_updates(
    handler: ActionImpl,
    input: Value,
    context: InteractionContext,
) -> BoxStream<Result<ActionUpdate, HandlerError>> {
    match handler {
        ActionImpl::Single(handler) => Box::pin(futures::stream::once(async move {
            handler
                .invoke(input, context)
                .await
                .map(ActionUpdate::Output)
        })),
        ActionImpl::Stream(handler) => handler.invoke(input, context),
    }
}

/// One invocation's updates, driven by whoever polls them: each poll runs the handler inside the
/// invocation's trace context, the output is checked against the TD, and the span ends with the
/// first final update. Dropped before that, it cancels the handler and lets it run on for the
/// cancel grace period in a task of its own.
struct ActionRun {
    thing: ExposedThing,
    name: String,
    /// `None` once a final update has been returned.
    updates: Option<BoxStream<Result<ActionUpdate, HandlerError>>>,
    /// Tells the handler it was cancelled; kept alive while the handler runs.
    cancel: Option<watch::Sender<bool>>,
    span: Option<Span>,
    current: TraceContext,
}

impl ActionRun {
    /// Turns what the handler produced into the stream's item; `Some(outcome)` when it is final,
    /// with the failure (if any) the span ends with.
    fn settle(
        &self,
        update: Option<Result<ActionUpdate, HandlerError>>,
    ) -> (Result<ActionUpdate, ThingError>, Option<Option<String>>) {
        let name = &self.name;
        let item = match update {
            Some(Ok(ActionUpdate::Progress(value))) => {
                return (Ok(ActionUpdate::Progress(value)), None)
            }
            Some(Ok(ActionUpdate::Output(output))) => self
                .thing
                .check_action_output(name, &output)
                .map(|()| ActionUpdate::Output(output)),
            Some(Err(error)) => Err(handler_error(error)),
            None => Ok(ActionUpdate::Output(Value::Null)),
        };
        let item = self.thing.note(&format!("actions/{name}"), item);
        let failure = item.as_ref().err().map(ToString::to_string);
        (item, Some(failure))
    }
}

impl futures::Stream for ActionRun {
    type Item = Result<ActionUpdate, ThingError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(updates) = this.updates.as_mut() else {
            return std::task::Poll::Ready(None);
        };
        let polled = trace::sync_scope(this.current.clone(), || updates.poll_next_unpin(cx));
        let std::task::Poll::Ready(update) = polled else {
            return std::task::Poll::Pending;
        };
        let (item, outcome) = this.settle(update);
        if let Some(failure) = outcome {
            this.updates = None;
            if let Some(span) = this.span.take() {
                span.end(failure);
            }
        }
        std::task::Poll::Ready(Some(item))
    }
}

impl Drop for ActionRun {
    fn drop(&mut self) {
        let Some(mut updates) = self.updates.take() else {
            return;
        };
        // The caller went away before the end: the handler sees a cancellation and may clean up
        // for the grace period.
        let cancel = self.cancel.take();
        if let Some(cancel) = &cancel {
            let _ = cancel.send(true);
        }
        let span = self.span.take();
        let reason = "cancelled by the caller".to_owned();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            if let Some(span) = span {
                span.end(Some(reason));
            }
            return;
        };
        let grace = self.thing.inner.settings.cancel_grace;
        runtime.spawn(trace::scope(self.current.clone(), async move {
            let _cancel = cancel;
            let _ = tokio::time::timeout(grace, async { while updates.next().await.is_some() {} })
                .await;
            if let Some(span) = span {
                span.end(Some(reason));
            }
        }));
    }
}

/// The problem document stored for a failed action instance (no internals).
pub(crate) fn failure_problem(error: &ThingError) -> Value {
    let (title, detail) = match error {
        ThingError::HandlerFailed { .. } => ("internal error", None),
        ThingError::InvalidOutput { .. } => ("internal error", None),
        ThingError::BadRequest(message) => ("invalid input", Some(message.clone())),
        other => ("action failed", Some(other.to_string())),
    };
    let mut problem = serde_json::json!({
        "type": format!("https://eclipse.dev/lmos/protocol/v1/errors#{}", error.code().replace('_', "-")),
        "title": title,
    });
    if let (Some(detail), Some(map)) = (detail, problem.as_object_mut()) {
        map.insert("detail".into(), Value::String(detail));
    }
    problem
}

async fn drive_instance(
    exposed: ExposedThing,
    instance: Arc<ActionInstance>,
    mut updates: BoxStream<Result<ActionUpdate, HandlerError>>,
    mut cancel: watch::Receiver<bool>,
    grace: Duration,
) {
    let name = instance.action.clone();
    loop {
        tokio::select! {
            update = updates.next() => match update {
                Some(Ok(ActionUpdate::Progress(value))) => instance.progress(value),
                Some(Ok(ActionUpdate::Output(output))) => {
                    match exposed.check_action_output(&name, &output) {
                        Ok(()) => instance.finish(ActionState::Completed, Some(output), None),
                        Err(error) => {
                            exposed.note_error(&format!("actions/{name}"), &error);
                            instance.finish(ActionState::Failed, None, Some(failure_problem(&error)))
                        }
                    };
                    return;
                }
                Some(Err(HandlerError::Cancelled)) => {
                    instance.finish(ActionState::Cancelled, None, None);
                    return;
                }
                Some(Err(error)) => {
                    let error = handler_error(error);
                    exposed.note_error(&format!("actions/{name}"), &error);
                    instance.finish(ActionState::Failed, None, Some(failure_problem(&error)));
                    return;
                }
                None => {
                    instance.finish(ActionState::Completed, Some(Value::Null), None);
                    return;
                }
            },
            cancelled = async { cancel.wait_for(|cancelled| *cancelled).await.is_ok() } => {
                if cancelled {
                    // Let the handler see the cancellation and clean up; its results are ignored.
                    let _ = tokio::time::timeout(grace, async {
                        while updates.next().await.is_some() {}
                    })
                    .await;
                }
                return;
            }
        }
    }
}
