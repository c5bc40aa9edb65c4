//! TD 1.1 default values and `href` resolution, for bindings that pick a form.

use url::Url;

use super::model::{AffordanceKind, Form, PropertyAffordance, Thing};
use super::TdError;

/// The content type a form has when it names none.
pub const DEFAULT_CONTENT_TYPE: &str = "application/json";

/// The operations a form performs when it has no `op`, by affordance kind (TD 1.1 § 5.4.1).
///
/// A property form defaults to `readproperty` and `writeproperty`, less the one that `readOnly` or
/// `writeOnly` rules out.
pub fn default_ops(
    kind: AffordanceKind,
    property: Option<&PropertyAffordance>,
) -> Vec<&'static str> {
    match kind {
        AffordanceKind::Property => {
            let read_only = property.is_some_and(PropertyAffordance::is_read_only);
            let write_only = property.is_some_and(PropertyAffordance::is_write_only);
            let mut ops = Vec::with_capacity(2);
            if !write_only {
                ops.push("readproperty");
            }
            if !read_only {
                ops.push("writeproperty");
            }
            ops
        }
        AffordanceKind::Action => vec!["invokeaction"],
        AffordanceKind::Event => vec!["subscribeevent", "unsubscribeevent"],
    }
}

/// The operations a form performs, with the TD default applied when `op` is absent.
pub fn form_ops<'a>(
    form: &'a Form,
    kind: AffordanceKind,
    property: Option<&PropertyAffordance>,
) -> Vec<&'a str> {
    match &form.op {
        Some(ops) => ops.iter().map(String::as_str).collect(),
        None => default_ops(kind, property),
    }
}

/// A form's content type, with the TD default applied.
pub fn content_type(form: &Form) -> &str {
    form.content_type.as_deref().unwrap_or(DEFAULT_CONTENT_TYPE)
}

/// The operations valid on forms of an affordance kind.
pub fn ops_for_kind(kind: AffordanceKind) -> &'static [&'static str] {
    match kind {
        AffordanceKind::Property => &[
            "readproperty",
            "writeproperty",
            "observeproperty",
            "unobserveproperty",
        ],
        AffordanceKind::Action => &["invokeaction", "queryaction", "cancelaction"],
        AffordanceKind::Event => &["subscribeevent", "unsubscribeevent"],
    }
}

/// The operations valid on thing-level forms.
pub const THING_LEVEL_OPS: &[&str] = &[
    "readallproperties",
    "writeallproperties",
    "readmultipleproperties",
    "writemultipleproperties",
    "observeallproperties",
    "unobserveallproperties",
    "queryallactions",
    "subscribeallevents",
    "unsubscribeallevents",
];

/// Resolves `href` against `base` (RFC 3986). An absolute `href` is returned as it is.
///
/// Fails when `href` is relative and there is no `base`, or when either is not a URI.
pub fn resolve_href(base: Option<&str>, href: &str) -> Result<Url, TdError> {
    match Url::parse(href) {
        Ok(url) => Ok(url),
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            let base = base.ok_or_else(|| TdError::RelativeHref {
                href: href.to_owned(),
            })?;
            let base = Url::parse(base).map_err(|source| TdError::InvalidUri {
                uri: base.to_owned(),
                reason: source.to_string(),
            })?;
            base.join(href).map_err(|source| TdError::InvalidUri {
                uri: href.to_owned(),
                reason: source.to_string(),
            })
        }
        Err(source) => Err(TdError::InvalidUri {
            uri: href.to_owned(),
            reason: source.to_string(),
        }),
    }
}

impl Thing {
    /// Resolves a form's `href` against this thing's `base`.
    pub fn resolve_href(&self, form: &Form) -> Result<Url, TdError> {
        resolve_href(self.base.as_deref(), &form.href)
    }
}
