//! HTTP routes of a servient (axum 0.8). URL layout, per exposed thing `T`:
//!
//! | route | methods | operation |
//! |---|---|---|
//! | `/.well-known/wot` | GET | the TD (one thing) or a list of TD links |
//! | `/T` | GET | the TD |
//! | `/T/properties` | GET, PUT | readallproperties, writemultipleproperties |
//! | `/T/properties/{p}` | GET, PUT | readproperty, writeproperty |
//! | `/T/properties/{p}/sse` | GET | observeproperty over Server-Sent Events |
//! | `/T/properties/{p}/longpoll` | HEAD, GET | observeproperty over long-poll |
//! | `/T/actions/{a}` | POST | invokeaction |
//! | `/T/actions/{a}/{id}` | GET, DELETE | queryaction, cancelaction |
//! | `/T/events/{e}/sse` | GET | subscribeevent over Server-Sent Events |
//! | `/T/events/{e}/longpoll` | HEAD, GET | subscribeevent over long-poll |
//!
//! `GET` routes also answer `HEAD` (without a body). The query string carries the affordance's
//! `uriVariables` (the forms' hrefs end with a `{?a,b}` template for them).
//!
//! One service ([`dispatch`]) matches the path and the method itself instead of an axum route
//! per URL pattern: no path captures to decode into the request's extensions and no per-route
//! layers, and every error it produces (404, 405 with `Allow`, 413, 400) is a problem document
//! from the start. See `docs/benchmarks.md` for what that saves per request.

use std::borrow::Cow;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::StreamExt;
use serde_json::{json, Map, Value};

use super::forms::{encode_segment, LONG_POLL, SSE, SUBSCRIBED_PREFERENCE};
use super::{EVENT_STREAM, PROBLEM_JSON, PROBLEM_TYPE_BASE, TD_JSON};
use crate::codec::{essence, Codec, CodecError};
use crate::td::AffordanceKind;
use crate::thing::exposed::failure_problem;
use crate::thing::servient::Registry;
use crate::thing::{ActionUpdate, ActionUpdates, ExposedThing, ThingError, ValueStream};
use crate::trace::{TraceContext, TRACEPARENT, TRACESTATE};

type AppState = Arc<Registry>;

/// Builds the routes over `registry`: one fallback service that dispatches every request
/// itself (so the router also mounts under `Router::nest` or next to an application's routes).
pub(crate) fn router(registry: AppState) -> Router {
    Router::new()
        .fallback(
            |State(registry): State<AppState>, request: Request| async move {
                dispatch(&registry, request).await
            },
        )
        .with_state(registry)
}

/// What `Servient::start` serves on its HTTP port: the same [`dispatch`] as [`router`], the
/// WebSocket endpoint when it shares the port, the DID document and signed TDs (as
/// `Servient::router` adds them), without an axum `Router` in front (no route table
/// to match, no boxed route service to clone, no path parameters stored per request).
pub(crate) async fn serve(State(registry): State<AppState>, request: Request) -> Response {
    if request.uri().path() == crate::binding::ws::WS_PATH && registry.websocket_on_http_port() {
        return axum::handler::Handler::<_, AppState>::call(
            crate::binding::ws::server::upgrade,
            request,
            registry,
        )
        .await;
    }
    if request.uri().path() == crate::identity::route::WELL_KNOWN_DID
        && matches!(*request.method(), Method::GET | Method::HEAD)
    {
        return crate::identity::route::did_document_response(&registry.did_document);
    }
    let response = dispatch(&registry, request).await;
    crate::identity::route::sign_if_description(response, &registry.td_signer).await
}

// ----- routing --------------------------------------------------------------------------------

/// A matched URL pattern, with its (percent-decoded) path segments.
enum Route<'a> {
    WellKnown,
    Thing(Cow<'a, str>),
    Properties(Cow<'a, str>),
    Property(Cow<'a, str>, Cow<'a, str>),
    /// `kind` is property or event, `sse` the subprotocol (else long-poll).
    Stream {
        kind: AffordanceKind,
        thing: Cow<'a, str>,
        name: Cow<'a, str>,
        sse: bool,
    },
    Action(Cow<'a, str>, Cow<'a, str>),
    Instance(Cow<'a, str>, Cow<'a, str>, Cow<'a, str>),
}

impl Route<'_> {
    /// The `Allow` header of the route.
    fn allow(&self) -> &'static str {
        match self {
            Route::WellKnown | Route::Thing(_) | Route::Stream { .. } => "GET,HEAD",
            Route::Properties(_) | Route::Property(..) => "GET,HEAD,PUT",
            Route::Action(..) => "POST",
            Route::Instance(..) => "GET,HEAD,DELETE",
        }
    }
}

/// Percent-decodes one path segment (borrowed when it has no escapes); `None` for an empty
/// segment, `Err` when the decoded bytes are not UTF-8.
fn segment(raw: &str) -> Result<Option<Cow<'_, str>>, ()> {
    if raw.is_empty() {
        return Ok(None);
    }
    if !raw.contains('%') {
        return Ok(Some(Cow::Borrowed(raw)));
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push(((hex(h).unwrap_or(0) << 4) | hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map(|s| Some(Cow::Owned(s)))
        .map_err(|_| ())
}

/// Matches a request path against the URL layout (`Ok(None)`: no such route).
fn route(path: &str) -> Result<Option<Route<'_>>, Problem> {
    if path == "/.well-known/wot" {
        return Ok(Some(Route::WellKnown));
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Ok(None);
    };
    let not_utf8 = || {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "bad request",
            Some("a path segment is not UTF-8".into()),
        )
    };
    // At most four separators; the fixed words (`properties`, `sse`, ...) are compared raw.
    let mut raw = rest.splitn(5, '/');
    let (thing, collection, name, last, extra) =
        (raw.next(), raw.next(), raw.next(), raw.next(), raw.next());
    if extra.is_some() {
        return Ok(None);
    }
    let Some(thing) = segment(thing.unwrap_or_default()).map_err(|()| not_utf8())? else {
        return Ok(None);
    };
    let Some(collection) = collection else {
        return Ok(Some(Route::Thing(thing)));
    };
    let name = match name {
        None => None,
        Some(raw) => match segment(raw).map_err(|()| not_utf8())? {
            Some(name) => Some(name),
            None => return Ok(None),
        },
    };
    let stream = |kind| match last {
        Some(sub) if sub == SSE || sub == LONG_POLL => Some(sub == SSE).map(|sse| (kind, sse)),
        _ => None,
    };
    Ok(match (collection, name) {
        ("properties", None) => Some(Route::Properties(thing)),
        ("properties", Some(name)) if last.is_none() => Some(Route::Property(thing, name)),
        ("properties", Some(name)) => {
            stream(AffordanceKind::Property).map(|(kind, sse)| Route::Stream {
                kind,
                thing,
                name,
                sse,
            })
        }
        ("events", Some(name)) => stream(AffordanceKind::Event).map(|(kind, sse)| Route::Stream {
            kind,
            thing,
            name,
            sse,
        }),
        ("actions", Some(name)) => match last {
            None => Some(Route::Action(thing, name)),
            Some(id) => segment(id)
                .map_err(|()| not_utf8())?
                .map(|id| Route::Instance(thing, name, id)),
        },
        _ => None,
    })
}

/// Serves one request: matches the route and the method, then runs the operation.
async fn dispatch(registry: &Registry, request: Request) -> Response {
    // A thing's `security` first, on every route (one atomic load while nothing is protected).
    if !registry.any_guarded() {
        return dispatch_admitted(registry, request).await;
    }
    match crate::security::enforce::admit_request(
        registry,
        request.method().as_str(),
        request.uri(),
        request.headers(),
    )
    .await
    {
        // The handlers learn who called through their `InteractionContext`.
        Ok(caller) => {
            crate::security::principal::scope(caller, dispatch_admitted(registry, request)).await
        }
        Err(refused) => refused,
    }
}

/// Serves a request the guard let through.
async fn dispatch_admitted(registry: &Registry, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let route = match route(parts.uri.path()) {
        Ok(Some(route)) => route,
        Ok(None) => return unknown_route().into_response(),
        Err(problem) => return problem.into_response(),
    };
    let headers = &parts.headers;
    let query = parts.uri.query();
    let method = &parts.method;
    let head = method == Method::HEAD;
    let get = head || method == Method::GET;
    let reply = match &route {
        Route::WellKnown if get => Ok(well_known(registry, headers)),
        Route::Thing(slug) if get => thing_description(registry, slug, headers),
        Route::Properties(slug) if get => read_all(registry, slug, headers).await,
        Route::Properties(slug) if method == Method::PUT => {
            write_multiple(registry, slug, headers, body).await
        }
        Route::Property(slug, name) if get => {
            read_property(registry, slug, name, headers, query).await
        }
        Route::Property(slug, name) if method == Method::PUT => {
            write_property(registry, slug, name, headers, query, body).await
        }
        Route::Stream {
            kind,
            thing,
            name,
            sse,
        } if get => {
            // node-wot's long-poll client sends `HEAD` first and wants a quick 2xx; the `GET`
            // that follows waits for a value. `HEAD` on an SSE route opens nothing either.
            let (kind, sse) = (*kind, *sse);
            if head {
                handshake(registry, kind, thing, name, headers)
            } else if sse {
                stream_sse(registry, kind, thing, name)
            } else {
                stream_long_poll(registry, kind, thing, name, headers).await
            }
        }
        Route::Action(slug, name) if method == Method::POST => {
            invoke_action(registry, slug, name, headers, query, body).await
        }
        Route::Instance(slug, name, id) if get => query_action(registry, slug, name, id, headers),
        Route::Instance(slug, name, id) if method == Method::DELETE => {
            cancel_action(registry, slug, name, id)
        }
        _ => Err(Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed",
            None,
        )
        .allow(route.allow())),
    };
    let response = reply.unwrap_or_else(IntoResponse::into_response);
    if head {
        // `HEAD` gets the headers of the `GET` answer, without its body.
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, Body::empty());
    }
    response
}

/// Reads a request body of at most `limit` bytes (413 beyond it).
async fn read_body(body: Body, limit: usize) -> Result<Bytes, Problem> {
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body too large",
            None,
        )
    };
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    if usize::try_from(body.size_hint().lower()).map_or(true, |lower| lower > limit) {
        return Err(too_large());
    }
    let mut chunks = body.into_data_stream();
    let mut first: Option<Bytes> = None;
    let mut joined: Option<Vec<u8>> = None;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "bad request",
                Some("the request body could not be read".into()),
            )
        })?;
        let so_far = joined
            .as_ref()
            .map_or_else(|| first.as_ref().map_or(0, Bytes::len), Vec::len);
        if so_far + chunk.len() > limit {
            return Err(too_large());
        }
        // One chunk (the usual case) is kept as it is; more are joined.
        match (&mut joined, first.take()) {
            (Some(all), _) => all.extend_from_slice(&chunk),
            (None, Some(previous)) => {
                let mut all = Vec::with_capacity(previous.len() + chunk.len());
                all.extend_from_slice(&previous);
                all.extend_from_slice(&chunk);
                joined = Some(all);
            }
            (None, None) => first = Some(chunk),
        }
    }
    Ok(joined.map(Bytes::from).or(first).unwrap_or_default())
}

// ----- problems -------------------------------------------------------------------------------

/// An error response: status, problem document and extra headers.
struct Problem {
    status: StatusCode,
    body: Value,
    allow: Option<&'static str>,
}

impl Problem {
    fn new(status: StatusCode, code: &str, title: &str, detail: Option<String>) -> Self {
        let mut body = json!({
            "type": format!("{PROBLEM_TYPE_BASE}{}", code.replace('_', "-")),
            "title": title,
            "status": status.as_u16(),
        });
        if let (Some(detail), Some(map)) = (detail, body.as_object_mut()) {
            map.insert("detail".into(), Value::String(detail));
        }
        Problem {
            status,
            body,
            allow: None,
        }
    }

    fn allow(mut self, methods: &'static str) -> Self {
        self.allow = Some(methods);
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, PROBLEM_JSON)],
            self.body.to_string(),
        )
            .into_response();
        if let Some(allow) = self.allow {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

impl From<ThingError> for Problem {
    fn from(error: ThingError) -> Self {
        let code = error.code();
        match &error {
            ThingError::NotFound { .. } => Problem::new(
                StatusCode::NOT_FOUND,
                code,
                "not found",
                Some(error.to_string()),
            ),
            ThingError::NotAllowed { .. } => Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                code,
                "operation not allowed",
                Some(error.to_string()),
            ),
            ThingError::InvalidInput { violations, .. } => {
                let mut problem = Problem::new(
                    StatusCode::BAD_REQUEST,
                    code,
                    "invalid input",
                    Some(error.to_string()),
                );
                if let Some(map) = problem.body.as_object_mut() {
                    map.insert("errors".into(), json!(violations));
                }
                problem
            }
            ThingError::BadRequest(message) => Problem::new(
                StatusCode::BAD_REQUEST,
                code,
                "bad request",
                Some(message.clone()),
            ),
            ThingError::Codec(CodecError::UnsupportedContentType(_)) => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code,
                "unsupported media type",
                Some(error.to_string()),
            ),
            ThingError::Codec(_) => Problem::new(
                StatusCode::BAD_REQUEST,
                code,
                "malformed body",
                Some(error.to_string()),
            ),
            ThingError::ActionFinished | ThingError::ActionCancelled => Problem::new(
                StatusCode::CONFLICT,
                code,
                "conflict",
                Some(error.to_string()),
            ),
            // Handler failures, invalid handler output, unusable schemas: never leak details.
            _ => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "internal error",
                None,
            ),
        }
    }
}

fn unknown_route() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not_found", "not found", None)
}

// ----- request helpers ------------------------------------------------------------------------

/// The trace headers as ready-made names: looking a header up by `&str` parses the name first.
static TRACEPARENT_HEADER: HeaderName = HeaderName::from_static(TRACEPARENT);
static TRACESTATE_HEADER: HeaderName = HeaderName::from_static(TRACESTATE);

fn incoming_trace(headers: &HeaderMap) -> Option<TraceContext> {
    let parent = headers.get(&TRACEPARENT_HEADER)?.to_str().ok()?;
    let state = headers
        .get(&TRACESTATE_HEADER)
        .and_then(|v| v.to_str().ok());
    // A malformed traceparent is ignored (the trace restarts); a malformed tracestate alone is
    // dropped.
    TraceContext::parse(parent, state)
        .or_else(|_| TraceContext::parse(parent, None))
        .ok()
}

fn request_codec(headers: &HeaderMap) -> Result<Codec, ThingError> {
    match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => Ok(Codec::Json),
        Some(content_type) => Ok(Codec::for_content_type(content_type)?),
    }
}

fn decode_body(headers: &HeaderMap, body: &Bytes) -> Result<(Value, Codec), ThingError> {
    let codec = request_codec(headers)?;
    let value = codec.decode(body)?;
    Ok((value, codec))
}

/// Picks the response codec: the first supported type of `Accept`, else `fallback`.
fn response_codec(headers: &HeaderMap, fallback: Codec) -> Codec {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return fallback;
    };
    for item in accept.split(',') {
        let media = essence(item);
        if media == "*/*" || media == "application/*" {
            return fallback;
        }
        if let Ok(codec) = Codec::for_content_type(&media) {
            return codec;
        }
    }
    fallback
}

fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|item| essence(item) == EVENT_STREAM))
}

fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|v| v.to_str().ok())
}

fn encoded(status: StatusCode, value: &Value, codec: Codec) -> Result<Response, Problem> {
    let bytes = codec.encode(value).map_err(ThingError::from)?;
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(codec.media_type()),
    );
    Ok(response)
}

fn lookup(registry: &Registry, slug: &str) -> Result<ExposedThing, Problem> {
    registry
        .thing(slug)
        .ok_or_else(|| ThingError::not_found("thing", slug).into())
}

type Reply = Result<Response, Problem>;

/// The `uriVariables` of an affordance from the query string (none are read for an affordance
/// that declares none).
fn uri_variables(
    thing: &ExposedThing,
    kind: AffordanceKind,
    name: &str,
    query: Option<&str>,
) -> Map<String, Value> {
    // No query, no variables: the declarations are not even looked up.
    match query.and_then(|_| thing.declared_uri_variables(kind, name)) {
        Some(declared) => super::uri_template::parse_query(query, declared),
        None => Map::new(),
    }
}

// ----- TDs ------------------------------------------------------------------------------------

fn td_response(thing: &ExposedThing, registry: &Registry, headers: &HeaderMap) -> Response {
    let base = registry.base_for(host(headers));
    let body = thing.description_at(&base).to_value().to_string();
    ([(header::CONTENT_TYPE, TD_JSON)], body).into_response()
}

fn well_known(registry: &Registry, headers: &HeaderMap) -> Response {
    let things = registry.things();
    if let [only] = things.as_slice() {
        return td_response(only, registry, headers);
    }
    let base = registry.base_for(host(headers));
    let links: Vec<Value> = things
        .iter()
        .filter_map(|thing| {
            let href = base.join(&encode_segment(thing.slug())).ok()?;
            Some(json!({
                "href": href.to_string(),
                "type": TD_JSON,
                "rel": "item",
                "title": thing.title(),
            }))
        })
        .collect();
    (
        [(header::CONTENT_TYPE, "application/json")],
        Value::Array(links).to_string(),
    )
        .into_response()
}

fn thing_description(registry: &Registry, slug: &str, headers: &HeaderMap) -> Reply {
    let thing = lookup(registry, slug)?;
    Ok(td_response(&thing, registry, headers))
}

// ----- properties -----------------------------------------------------------------------------

async fn read_property(
    registry: &Registry,
    slug: &str,
    name: &str,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Reply {
    let thing = lookup(registry, slug)?;
    let variables = uri_variables(&thing, AffordanceKind::Property, name, query);
    let value = thing
        .read_property_with(name, incoming_trace(headers), variables)
        .await
        .map_err(|e| match e {
            ThingError::NotAllowed { .. } => Problem::from(e).allow("PUT"),
            other => other.into(),
        })?;
    encoded(StatusCode::OK, &value, response_codec(headers, Codec::Json))
}

async fn write_property(
    registry: &Registry,
    slug: &str,
    name: &str,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Body,
) -> Reply {
    let body = read_body(body, registry.http.max_body_bytes).await?;
    let thing = lookup(registry, slug)?;
    let (value, _) = decode_body(headers, &body)?;
    let variables = uri_variables(&thing, AffordanceKind::Property, name, query);
    thing
        .write_property_with(name, value, incoming_trace(headers), variables)
        .await
        .map_err(|e| match e {
            ThingError::NotAllowed { .. } => Problem::from(e).allow("GET"),
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn read_all(registry: &Registry, slug: &str, headers: &HeaderMap) -> Reply {
    let thing = lookup(registry, slug)?;
    let values = thing.read_all_properties(incoming_trace(headers)).await?;
    encoded(
        StatusCode::OK,
        &Value::Object(values),
        response_codec(headers, Codec::Json),
    )
}

async fn write_multiple(registry: &Registry, slug: &str, headers: &HeaderMap, body: Body) -> Reply {
    let body = read_body(body, registry.http.max_body_bytes).await?;
    let thing = lookup(registry, slug)?;
    let (value, _) = decode_body(headers, &body)?;
    let Value::Object(values) = value else {
        return Err(ThingError::BadRequest(
            "writemultipleproperties needs an object of property values".into(),
        )
        .into());
    };
    thing
        .write_multiple_properties(values, incoming_trace(headers))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ----- observation and events -----------------------------------------------------------------

fn sse_values(registry: &Registry, values: ValueStream) -> Response {
    let values = values.take_until(registry.closed());
    // node-wot's SSE client reads only unnamed events, so values go out as plain `data:` lines.
    let events = values.map(|value| {
        let data = match value {
            Ok(value) => value.to_string(),
            Err(error) => json!({"error": error.code()}).to_string(),
        };
        Ok::<_, Infallible>(Event::default().data(data))
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Whether the request asks for the long-poll answer's headers as soon as its subscription is
/// in place (`Prefer: lmos-subscribed`, see `docs/http-binding.md`).
fn wants_subscribed_headers(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::HeaderName::from_static("prefer"))
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case(SUBSCRIBED_PREFERENCE))
        })
}

async fn long_poll(registry: &Registry, values: ValueStream, headers: &HeaderMap) -> Reply {
    let mut values = values.take_until(registry.closed());
    let codec = response_codec(headers, Codec::Json);
    let timeout = registry.http.long_poll_timeout;
    if wants_subscribed_headers(headers) {
        // The subscription exists now: the headers go out at once (the client knows from them
        // that no later value is missed) and the body is the next value, or empty when the poll
        // times out or the server closes.
        let body = futures::stream::once(async move {
            let bytes = match tokio::time::timeout(timeout, values.next()).await {
                Ok(Some(Ok(value))) => codec.encode(&value).unwrap_or_default(),
                _ => Vec::new(),
            };
            Ok::<_, Infallible>(Bytes::from(bytes))
        });
        let mut response = Response::new(Body::from_stream(body));
        let response_headers = response.headers_mut();
        response_headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(codec.media_type()),
        );
        response_headers.insert(
            HeaderName::from_static("preference-applied"),
            HeaderValue::from_static(SUBSCRIBED_PREFERENCE),
        );
        return Ok(response);
    }
    match tokio::time::timeout(timeout, values.next()).await {
        Ok(Some(Ok(value))) => encoded(StatusCode::OK, &value, codec),
        Ok(Some(Err(error))) => Err(error.into()),
        Ok(None) => Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "closed",
            "closed",
            None,
        )),
        Err(_) => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// The values of an observable property or an event.
fn values(thing: &ExposedThing, kind: AffordanceKind, name: &str) -> Result<ValueStream, Problem> {
    if kind == AffordanceKind::Event {
        return Ok(thing.subscribe_event(name)?);
    }
    thing.observe_property(name).map_err(|e| match e {
        // A property that is not observable has no observe resource.
        ThingError::NotAllowed { name, .. } => ThingError::NotFound {
            kind: "observable property".into(),
            name,
        }
        .into(),
        other => other.into(),
    })
}

fn stream_sse(registry: &Registry, kind: AffordanceKind, slug: &str, name: &str) -> Reply {
    let thing = lookup(registry, slug)?;
    Ok(sse_values(registry, values(&thing, kind, name)?))
}

async fn stream_long_poll(
    registry: &Registry,
    kind: AffordanceKind,
    slug: &str,
    name: &str,
    headers: &HeaderMap,
) -> Reply {
    let thing = lookup(registry, slug)?;
    let values = values(&thing, kind, name)?;
    long_poll(registry, values, headers).await
}

/// node-wot's long-poll client sends `HEAD` first and wants a quick 2xx; the `GET` that follows
/// waits for a value.
/// A `HEAD` with `Prefer: lmos-subscribed` learns from `Preference-Applied` that a `GET` with it
/// gets its headers once the server listens.
fn handshake(
    registry: &Registry,
    kind: AffordanceKind,
    slug: &str,
    name: &str,
    headers: &HeaderMap,
) -> Reply {
    let thing = lookup(registry, slug)?;
    drop(values(&thing, kind, name)?);
    let mut response = StatusCode::OK.into_response();
    if wants_subscribed_headers(headers) {
        response.headers_mut().insert(
            HeaderName::from_static("preference-applied"),
            HeaderValue::from_static(SUBSCRIBED_PREFERENCE),
        );
    }
    Ok(response)
}

// ----- actions --------------------------------------------------------------------------------

/// Action updates as named SSE events: `progress`, then `output` or `error` (a problem document).
fn sse_updates(registry: &Registry, updates: ActionUpdates) -> Response {
    let updates = updates.take_until(registry.closed());
    let events = updates.map(|update| {
        let event = match update {
            Ok(ActionUpdate::Progress(value)) => {
                Event::default().event("progress").data(value.to_string())
            }
            Ok(ActionUpdate::Output(value)) => {
                Event::default().event("output").data(value.to_string())
            }
            Err(ThingError::ActionCancelled) => Event::default().event("cancelled").data("null"),
            Err(ThingError::ActionFailed { problem, title }) => {
                Event::default().event("error").data(
                    problem
                        .map(|p| *p)
                        .unwrap_or_else(|| json!({"title": title}))
                        .to_string(),
                )
            }
            Err(error) => Event::default()
                .event("error")
                .data(failure_problem(&error).to_string()),
        };
        Ok::<_, Infallible>(event)
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn status_url(
    registry: &Registry,
    headers: &HeaderMap,
    slug: &str,
    name: &str,
    id: &str,
) -> String {
    let base = registry.base_for(host(headers));
    let path = format!(
        "{}/actions/{}/{}",
        encode_segment(slug),
        encode_segment(name),
        encode_segment(id)
    );
    base.join(&path).map(|u| u.to_string()).unwrap_or(path)
}

async fn invoke_action(
    registry: &Registry,
    slug: &str,
    name: &str,
    headers: &HeaderMap,
    query: Option<&str>,
    body: Body,
) -> Reply {
    let body = read_body(body, registry.http.max_body_bytes).await?;
    let thing = lookup(registry, slug)?;
    let (input, codec) = decode_body(headers, &body)?;
    let trace = incoming_trace(headers);
    let out_codec = response_codec(headers, codec);
    let variables = uri_variables(&thing, AffordanceKind::Action, name, query);
    if thing.is_async_action(name)? {
        let mut status = thing.start_action_with(name, input, trace, variables)?;
        let id = status.id.clone().unwrap_or_default();
        let location = status_url(registry, headers, slug, name, &id);
        status.href = Some(location.clone());
        let value = serde_json::to_value(&status).unwrap_or(Value::Null);
        let mut response = encoded(StatusCode::CREATED, &value, out_codec)?;
        if let Ok(location) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        return Ok(response);
    }
    if accepts_event_stream(headers) {
        return Ok(sse_updates(
            registry,
            thing.invoke_action_stream_with(name, input, trace, variables)?,
        ));
    }
    let output = thing
        .invoke_action_with(name, input, trace, variables)
        .await?;
    if output.is_null()
        && thing
            .template()
            .actions
            .get(name)
            .is_none_or(|a| a.output.is_none())
    {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    encoded(StatusCode::OK, &output, out_codec)
}

fn query_action(
    registry: &Registry,
    slug: &str,
    name: &str,
    id: &str,
    headers: &HeaderMap,
) -> Reply {
    let thing = lookup(registry, slug)?;
    if accepts_event_stream(headers) {
        return Ok(sse_updates(registry, thing.action_updates(name, id)?));
    }
    let mut status = thing.query_action(name, id)?;
    status.href = Some(status_url(registry, headers, slug, name, id));
    let value = serde_json::to_value(&status).unwrap_or(Value::Null);
    encoded(StatusCode::OK, &value, response_codec(headers, Codec::Json))
}

fn cancel_action(registry: &Registry, slug: &str, name: &str, id: &str) -> Reply {
    let thing = lookup(registry, slug)?;
    thing.cancel_action(name, id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(path: &str) -> Option<Vec<String>> {
        let route = route(path).ok()??;
        Some(match route {
            Route::WellKnown => vec!["well-known".into()],
            Route::Thing(t) => vec![t.into_owned()],
            Route::Properties(t) => vec![t.into_owned(), "properties".into()],
            Route::Property(t, p) => vec![t.into_owned(), p.into_owned()],
            Route::Stream {
                thing, name, sse, ..
            } => {
                vec![thing.into_owned(), name.into_owned(), sse.to_string()]
            }
            Route::Action(t, a) => vec![t.into_owned(), a.into_owned()],
            Route::Instance(t, a, i) => vec![t.into_owned(), a.into_owned(), i.into_owned()],
        })
    }

    #[test]
    fn matches_the_url_layout() {
        assert_eq!(names("/.well-known/wot").unwrap(), ["well-known"]);
        assert_eq!(names("/lamp").unwrap(), ["lamp"]);
        assert_eq!(names("/a%20b/actions/x%2Fy").unwrap(), ["a b", "x/y"]);
        assert_eq!(names("/l/events/e/sse").unwrap(), ["l", "e", "true"]);
        assert_eq!(
            names("/l/properties/p/longpoll").unwrap(),
            ["l", "p", "false"]
        );
        assert_eq!(names("/l/actions/a/123").unwrap(), ["l", "a", "123"]);
        for path in [
            "/",
            "//properties",
            "/l/",
            "/l/properties/",
            "/l/events/e",
            "/l/events/e/other",
            "/l/nope/x",
            "/a/b/c/d/e/f",
            "relative",
        ] {
            assert!(names(path).is_none(), "{path}");
        }
        assert!(route("/%FF").is_err());
    }
}
