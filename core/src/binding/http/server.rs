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

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::StreamExt;
use serde_json::{json, Value};

use super::forms::encode_segment;
use super::{EVENT_STREAM, PROBLEM_JSON, PROBLEM_TYPE_BASE, TD_JSON};
use crate::codec::{essence, Codec, CodecError};
use crate::thing::exposed::failure_problem;
use crate::thing::servient::Registry;
use crate::thing::{ActionUpdate, ActionUpdates, ExposedThing, ThingError, ValueStream};
use crate::trace::{TraceContext, TRACEPARENT, TRACESTATE};

type AppState = Arc<Registry>;

/// Builds the routes over `registry`.
pub(crate) fn router(registry: AppState) -> Router {
    let limit = registry.http.max_body_bytes;
    Router::new()
        .route("/.well-known/wot", get(well_known))
        .route("/{thing}", get(thing_description))
        .route("/{thing}/properties", get(read_all).put(write_multiple))
        .route(
            "/{thing}/properties/{name}",
            get(read_property).put(write_property),
        )
        .route("/{thing}/properties/{name}/sse", get(observe_sse))
        .route(
            "/{thing}/properties/{name}/longpoll",
            get(observe_long_poll).head(observe_handshake),
        )
        .route("/{thing}/actions/{name}", post(invoke_action))
        .route(
            "/{thing}/actions/{name}/{id}",
            get(query_action).delete(cancel_action),
        )
        .route("/{thing}/events/{name}/sse", get(subscribe_sse))
        .route(
            "/{thing}/events/{name}/longpoll",
            get(subscribe_long_poll).head(subscribe_handshake),
        )
        .fallback(unknown_route)
        .layer(crate::security::enforce::HttpGuardLayer::new(
            registry.clone(),
        ))
        .layer(axum::middleware::map_response(problem_for_bare_errors))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(registry)
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

/// Turns errors that axum produces itself (404 fallback aside: 405, 413, 400 from extractors)
/// into problem documents, keeping their headers (such as `Allow`).
async fn problem_for_bare_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON));
    if is_problem {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let (code, title) = match status {
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "request body too large"),
        StatusCode::NOT_FOUND => ("not_found", "not found"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "unsupported media type"),
        s if s.is_server_error() => ("internal_error", "internal error"),
        _ => ("bad_request", "bad request"),
    };
    let body = Problem::new(status, code, title, None).body.to_string();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

async fn unknown_route() -> Problem {
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

// ----- TDs ------------------------------------------------------------------------------------

fn td_response(thing: &ExposedThing, registry: &Registry, headers: &HeaderMap) -> Response {
    let base = registry.base_for(host(headers));
    let body = thing.description_at(&base).to_value().to_string();
    ([(header::CONTENT_TYPE, TD_JSON)], body).into_response()
}

async fn well_known(State(registry): State<AppState>, headers: HeaderMap) -> Response {
    let things = registry.things();
    if let [only] = things.as_slice() {
        return td_response(only, &registry, &headers);
    }
    let base = registry.base_for(host(&headers));
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

async fn thing_description(
    State(registry): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let thing = lookup(&registry, &slug)?;
    Ok(td_response(&thing, &registry, &headers))
}

// ----- properties -----------------------------------------------------------------------------

async fn read_property(
    State(registry): State<AppState>,
    Path((slug, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Reply {
    let thing = lookup(&registry, &slug)?;
    let value = thing
        .read_property(&name, incoming_trace(&headers))
        .await
        .map_err(|e| match e {
            ThingError::NotAllowed { .. } => Problem::from(e).allow("PUT"),
            other => other.into(),
        })?;
    encoded(
        StatusCode::OK,
        &value,
        response_codec(&headers, Codec::Json),
    )
}

async fn write_property(
    State(registry): State<AppState>,
    Path((slug, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let thing = lookup(&registry, &slug)?;
    let (value, _) = decode_body(&headers, &body)?;
    thing
        .write_property(&name, value, incoming_trace(&headers))
        .await
        .map_err(|e| match e {
            ThingError::NotAllowed { .. } => Problem::from(e).allow("GET"),
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn read_all(
    State(registry): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Reply {
    let thing = lookup(&registry, &slug)?;
    let values = thing.read_all_properties(incoming_trace(&headers)).await?;
    encoded(
        StatusCode::OK,
        &Value::Object(values),
        response_codec(&headers, Codec::Json),
    )
}

async fn write_multiple(
    State(registry): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let thing = lookup(&registry, &slug)?;
    let (value, _) = decode_body(&headers, &body)?;
    let Value::Object(values) = value else {
        return Err(ThingError::BadRequest(
            "writemultipleproperties needs an object of property values".into(),
        )
        .into());
    };
    thing
        .write_multiple_properties(values, incoming_trace(&headers))
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

async fn long_poll(registry: &Registry, values: ValueStream, headers: &HeaderMap) -> Reply {
    let mut values = values.take_until(registry.closed());
    match tokio::time::timeout(registry.http.long_poll_timeout, values.next()).await {
        Ok(Some(Ok(value))) => {
            encoded(StatusCode::OK, &value, response_codec(headers, Codec::Json))
        }
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

fn observe(thing: &ExposedThing, name: &str) -> Result<ValueStream, Problem> {
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

async fn observe_sse(
    State(registry): State<AppState>,
    Path((slug, name)): Path<(String, String)>,
) -> Reply {
    let thing = lookup(&registry, &slug)?;
    Ok(sse_values(&registry, observe(&thing, &name)?))
}

async fn observe_long_poll(
    State(registry): State<AppState>,
    Path((slug, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Reply {
    let thing = lookup(&registry, &slug)?;
    let values = observe(&thing, &name)?;
    long_poll(&registry, values, &headers).await
}

/// node-wot's long-poll client sends `HEAD` first and wants a quick 2xx; the `GET` that follows
/// waits for a value.
async fn observe_handshake(
    State(registry): State<AppState>,
    Path((slug, name)): Path<(String, String)>,
) -> Reply {
    let thing = lookup(&registry, &slug)?;
    drop(observe(&thing, &name)?);
    Ok(StatusCode::OK.into_response())
}

/// See [`observe_handshake`].
async fn subscribe_handshake(
    State(registry): State<AppState>,
    Path((slug, name)): Path<(String, String)>,
) -> Reply {
    let thing = lookup(&registry, &slug)?;
    drop(thing.subscribe_event(&name)?);
    Ok(StatusCode::OK.into_response())
}

async fn subscribe_sse(
    State(registry): State<AppState>,
    Path((slug, name)): Path<(String, String)>,
) -> Reply {
    let thing = lookup(&registry, &slug)?;
    Ok(sse_values(&registry, thing.subscribe_event(&name)?))
}

async fn subscribe_long_poll(
    State(registry): State<AppState>,
    Path((slug, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Reply {
    let thing = lookup(&registry, &slug)?;
    let values = thing.subscribe_event(&name)?;
    long_poll(&registry, values, &headers).await
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
    State(registry): State<AppState>,
    Path((slug, name)): Path<(String, String)>,
    request: Request,
) -> Reply {
    // The headers are moved out of the request instead of cloned (what the `HeaderMap` extractor
    // does); the body is then read as the `Bytes` extractor would, with the same limit and the
    // same rejections.
    let (mut parts, body) = request.into_parts();
    let headers = std::mem::take(&mut parts.headers);
    let body = match Bytes::from_request(Request::from_parts(parts, body), &()).await {
        Ok(body) => body,
        Err(rejection) => return Ok(rejection.into_response()),
    };
    let thing = lookup(&registry, &slug)?;
    let (input, codec) = decode_body(&headers, &body)?;
    let trace = incoming_trace(&headers);
    let out_codec = response_codec(&headers, codec);
    if thing.is_async_action(&name)? {
        let mut status = thing.start_action(&name, input, trace)?;
        let id = status.id.clone().unwrap_or_default();
        let location = status_url(&registry, &headers, &slug, &name, &id);
        status.href = Some(location.clone());
        let value = serde_json::to_value(&status).unwrap_or(Value::Null);
        let mut response = encoded(StatusCode::CREATED, &value, out_codec)?;
        if let Ok(location) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        return Ok(response);
    }
    if accepts_event_stream(&headers) {
        return Ok(sse_updates(
            &registry,
            thing.invoke_action_stream(&name, input, trace)?,
        ));
    }
    let output = thing.invoke_action(&name, input, trace).await?;
    if output.is_null()
        && thing
            .template()
            .actions
            .get(&name)
            .is_none_or(|a| a.output.is_none())
    {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    encoded(StatusCode::OK, &output, out_codec)
}

async fn query_action(
    State(registry): State<AppState>,
    Path((slug, name, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Reply {
    let thing = lookup(&registry, &slug)?;
    if accepts_event_stream(&headers) {
        return Ok(sse_updates(&registry, thing.action_updates(&name, &id)?));
    }
    let mut status = thing.query_action(&name, &id)?;
    status.href = Some(status_url(&registry, &headers, &slug, &name, &id));
    let value = serde_json::to_value(&status).unwrap_or(Value::Null);
    encoded(
        StatusCode::OK,
        &value,
        response_codec(&headers, Codec::Json),
    )
}

async fn cancel_action(
    State(registry): State<AppState>,
    Path((slug, name, id)): Path<(String, String, String)>,
) -> Reply {
    let thing = lookup(&registry, &slug)?;
    thing.cancel_action(&name, &id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
