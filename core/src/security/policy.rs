//! The scheme model: a TD's `securityDefinitions`, `security` and per-form `security`/`scopes`
//! compiled into [`Requirement`] trees, one per form and operation.

use std::collections::HashMap;
use std::sync::Arc;

use super::SecurityError;
use crate::td::defaults::form_ops;
use crate::td::{AffordanceKind, Form, OneOrMany, PropertyAffordance, SchemeKind, Thing};

/// Where a credential travels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// In this request header.
    Header(String),
    /// In this query parameter.
    Query(String),
    /// In this cookie.
    Cookie(String),
}

impl Location {
    /// The TD `in` value.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Location::Header(_) => "header",
            Location::Query(_) => "query",
            Location::Cookie(_) => "cookie",
        }
    }

    /// The header, parameter or cookie name.
    pub(crate) fn name(&self) -> &str {
        match self {
            Location::Header(n) | Location::Query(n) | Location::Cookie(n) => n,
        }
    }
}

/// The default names where TD 1.1 gives none.
pub(crate) const DEFAULT_API_KEY_HEADER: &str = "X-API-Key";
/// See [`DEFAULT_API_KEY_HEADER`].
pub(crate) const DEFAULT_API_KEY_PARAMETER: &str = "api_key";
/// See [`DEFAULT_API_KEY_HEADER`].
pub(crate) const DEFAULT_TOKEN_PARAMETER: &str = "access_token";

/// What a request must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Requirement {
    /// Nothing.
    NoSec,
    /// HTTP Basic credentials in `Authorization`.
    Basic { scheme: String },
    /// A bearer token.
    Bearer { scheme: String, location: Location },
    /// An OAuth2 access token (a bearer token whose scopes count).
    OAuth2 {
        scheme: String,
        location: Location,
        /// The token endpoint the TD declares (for clients).
        token_url: Option<String>,
    },
    /// An API key.
    ApiKey { scheme: String, location: Location },
    /// A DID-auth token: a bearer JWT signed by a key of the caller's DID (a `bearer` scheme
    /// with `"lmos:didAuth": true`).
    DidAuth { scheme: String, location: Location },
    /// Every one of these.
    AllOf(Vec<Requirement>),
    /// At least one of these.
    OneOf(Vec<Requirement>),
}

impl Requirement {
    /// Whether nothing is required.
    pub(crate) fn is_open(&self) -> bool {
        match self {
            Requirement::NoSec => true,
            Requirement::AllOf(all) => all.iter().all(Requirement::is_open),
            Requirement::OneOf(any) => any.iter().any(Requirement::is_open),
            _ => false,
        }
    }

    /// Whether a DID-auth token can satisfy this (some leaf is DID-auth, reachable through
    /// every `allOf` and some `oneOf` branch).
    pub(crate) fn involves_did_auth(&self) -> bool {
        let mut leaves = Vec::new();
        self.leaves(&mut leaves);
        leaves
            .iter()
            .any(|leaf| matches!(leaf, Requirement::DidAuth { .. }))
    }

    /// Visits every leaf.
    pub(crate) fn leaves<'a>(&'a self, out: &mut Vec<&'a Requirement>) {
        match self {
            Requirement::AllOf(list) | Requirement::OneOf(list) => {
                for item in list {
                    item.leaves(out);
                }
            }
            leaf => out.push(leaf),
        }
    }
}

fn location(
    name: &str,
    declared_in: Option<&str>,
    declared_name: Option<&str>,
    default_in: &str,
    defaults: (&str, &str),
) -> Result<Location, SecurityError> {
    let (header_default, param_default) = defaults;
    match declared_in.unwrap_or(default_in) {
        "header" => Ok(Location::Header(
            declared_name.unwrap_or(header_default).to_owned(),
        )),
        "query" => Ok(Location::Query(
            declared_name.unwrap_or(param_default).to_owned(),
        )),
        "cookie" => Ok(Location::Cookie(
            declared_name.unwrap_or(param_default).to_owned(),
        )),
        other => Err(SecurityError::InvalidScheme {
            name: name.to_owned(),
            message: format!(
                "credentials \"in\": {other:?} are not supported (header, query, cookie)"
            ),
        }),
    }
}

/// Compiles definition `name` of `thing`.
fn compile_one(thing: &Thing, name: &str, depth: usize) -> Result<Requirement, SecurityError> {
    if depth > 8 {
        return Err(SecurityError::InvalidScheme {
            name: name.to_owned(),
            message: "combo schemes nest too deep (or form a cycle)".into(),
        });
    }
    let scheme = thing
        .security_definitions
        .get(name)
        .ok_or_else(|| SecurityError::UnknownScheme(name.to_owned()))?;
    let in_ = scheme.location.as_deref();
    let named = scheme.name.as_deref();
    Ok(match &scheme.scheme {
        SchemeKind::NoSec => Requirement::NoSec,
        SchemeKind::Basic => {
            if in_.is_some_and(|i| i != "header") {
                return Err(SecurityError::InvalidScheme {
                    name: name.to_owned(),
                    message: "basic credentials travel in the Authorization header only".into(),
                });
            }
            Requirement::Basic {
                scheme: name.to_owned(),
            }
        }
        SchemeKind::Bearer if crate::identity::did_auth::is_did_auth_scheme(scheme) => {
            Requirement::DidAuth {
                scheme: name.to_owned(),
                location: location(
                    name,
                    in_,
                    named,
                    "header",
                    ("Authorization", DEFAULT_TOKEN_PARAMETER),
                )?,
            }
        }
        SchemeKind::Bearer => Requirement::Bearer {
            scheme: name.to_owned(),
            location: location(
                name,
                in_,
                named,
                "header",
                ("Authorization", DEFAULT_TOKEN_PARAMETER),
            )?,
        },
        SchemeKind::OAuth2 => Requirement::OAuth2 {
            scheme: name.to_owned(),
            location: location(
                name,
                in_,
                named,
                "header",
                ("Authorization", DEFAULT_TOKEN_PARAMETER),
            )?,
            token_url: scheme.token.clone(),
        },
        SchemeKind::ApiKey => Requirement::ApiKey {
            scheme: name.to_owned(),
            location: location(
                name,
                in_,
                named,
                "query",
                (DEFAULT_API_KEY_HEADER, DEFAULT_API_KEY_PARAMETER),
            )?,
        },
        SchemeKind::Combo => {
            let (list, all) = match (&scheme.all_of, &scheme.one_of) {
                (Some(all), None) => (all, true),
                (None, Some(one)) => (one, false),
                _ => {
                    return Err(SecurityError::InvalidScheme {
                        name: name.to_owned(),
                        message: "a combo scheme needs exactly one of allOf and oneOf".into(),
                    })
                }
            };
            let parts = list
                .iter()
                .map(|part| compile_one(thing, part, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            if all {
                Requirement::AllOf(parts)
            } else {
                Requirement::OneOf(parts)
            }
        }
        other => {
            return Err(SecurityError::UnsupportedScheme {
                name: name.to_owned(),
                kind: other.as_str().to_owned(),
            })
        }
    })
}

/// Compiles a `security` member (every named definition applies).
pub(crate) fn compile(thing: &Thing, names: &[String]) -> Result<Requirement, SecurityError> {
    let mut parts = names
        .iter()
        .map(|name| compile_one(thing, name, 0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match parts.len() {
        0 => Requirement::NoSec,
        1 => parts.remove(0),
        _ => Requirement::AllOf(parts),
    })
}

/// What one operation on one form needs: the requirement and the OAuth2 scopes the form names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Access {
    pub(crate) requirement: Arc<Requirement>,
    pub(crate) scopes: Vec<String>,
}

/// The access for `form` (its own `security` over the thing's).
pub(crate) fn form_access(
    thing: &Thing,
    thing_default: &Arc<Requirement>,
    form: &Form,
) -> Result<Access, SecurityError> {
    let requirement = match &form.security {
        Some(names) => Arc::new(compile(thing, names.as_slice())?),
        None => thing_default.clone(),
    };
    let scopes = form
        .scopes
        .as_ref()
        .map(|s| s.as_slice().to_vec())
        .unwrap_or_default();
    Ok(Access {
        requirement,
        scopes,
    })
}

type Setting = (Option<OneOrMany<String>>, Option<OneOrMany<String>>);

fn settings_by_op(
    forms: &[Form],
    kind: AffordanceKind,
    property: Option<&PropertyAffordance>,
) -> HashMap<String, Setting> {
    let mut out = HashMap::new();
    for form in forms {
        if form.security.is_none() && form.scopes.is_none() {
            continue;
        }
        for op in form_ops(form, kind, property) {
            out.entry(op.to_owned())
                .or_insert_with(|| (form.security.clone(), form.scopes.clone()));
        }
    }
    // The status of an invocation is guarded like the invocation, unless a form says otherwise.
    if let Some(invoke) = out.get("invokeaction").cloned() {
        for op in ["queryaction", "cancelaction"] {
            out.entry(op.to_owned()).or_insert_with(|| invoke.clone());
        }
    }
    out
}

fn apply_settings(
    forms: &mut Vec<Form>,
    settings: &HashMap<String, Setting>,
    kind: AffordanceKind,
    property: Option<&PropertyAffordance>,
) {
    if settings.is_empty() {
        return;
    }
    let mut out = Vec::with_capacity(forms.len());
    for form in forms.drain(..) {
        let ops: Vec<String> = form_ops(&form, kind, property)
            .into_iter()
            .map(str::to_owned)
            .collect();
        // Operations of one form that need different security go to forms of their own.
        let mut groups: Vec<(Setting, Vec<String>)> = Vec::new();
        for op in ops {
            let setting = settings.get(&op).cloned().unwrap_or((None, None));
            match groups.iter_mut().find(|(s, _)| *s == setting) {
                Some((_, list)) => list.push(op),
                None => groups.push((setting, vec![op])),
            }
        }
        if groups.len() <= 1 {
            let mut form = form;
            if let Some(((security, scopes), _)) = groups.pop() {
                form.security = security;
                form.scopes = scopes;
            }
            out.push(form);
            continue;
        }
        for ((security, scopes), ops) in groups {
            let mut part = form.clone();
            part.op = Some(if ops.len() == 1 {
                OneOrMany::One(ops[0].clone())
            } else {
                OneOrMany::Many(ops)
            });
            part.security = security;
            part.scopes = scopes;
            out.push(part);
        }
    }
    *forms = out;
}

/// Copies the per-form `security` and `scopes` of `original`'s forms onto the forms a servient
/// generated for the same affordances and operations in `filled` (a form whose operations need
/// different security is split).
pub fn carry_form_security(original: &Thing, filled: &mut Thing) {
    for (name, property) in filled.properties.iter_mut() {
        if let Some(before) = original.properties.get(name) {
            let settings = settings_by_op(&before.forms, AffordanceKind::Property, Some(before));
            let snapshot = property.clone();
            apply_settings(
                &mut property.forms,
                &settings,
                AffordanceKind::Property,
                Some(&snapshot),
            );
        }
    }
    for (name, action) in filled.actions.iter_mut() {
        if let Some(before) = original.actions.get(name) {
            let settings = settings_by_op(&before.forms, AffordanceKind::Action, None);
            apply_settings(&mut action.forms, &settings, AffordanceKind::Action, None);
        }
    }
    for (name, event) in filled.events.iter_mut() {
        if let Some(before) = original.events.get(name) {
            let settings = settings_by_op(&before.forms, AffordanceKind::Event, None);
            apply_settings(&mut event.forms, &settings, AffordanceKind::Event, None);
        }
    }
    if let (Some(before), Some(after)) = (&original.forms, filled.forms.as_mut()) {
        let settings = settings_by_op(before, AffordanceKind::Action, None);
        apply_settings(after, &settings, AffordanceKind::Action, None);
    }
}
