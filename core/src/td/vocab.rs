//! Vocabulary terms of the TD 1.1 and LMOS namespaces.

/// The TD 1.1 context URI.
pub const TD_CONTEXT_V11: &str = "https://www.w3.org/2022/wot/td/v1.1";
/// The TD 1.0 context URI (still accepted in `@context`).
pub const TD_CONTEXT_V10: &str = "https://www.w3.org/2019/wot/td/v1";
/// The LMOS Protocol namespace.
pub const LMOS_NAMESPACE: &str = "https://eclipse.dev/lmos/protocol/v1";
/// The prefix this SDK binds to the LMOS namespace.
pub const LMOS_PREFIX: &str = "lmos";
/// `@type` of an LMOS agent.
pub const LMOS_AGENT: &str = "lmos:Agent";
/// `@type` of an LMOS tool.
pub const LMOS_TOOL: &str = "lmos:Tool";
/// The member holding LMOS metadata on a thing.
pub const LMOS_METADATA: &str = "lmos:metadata";
/// The member of `lmos:metadata` naming the vendor.
pub const LMOS_VENDOR: &str = "lmos:vendor";
/// The vendor's name, inside `lmos:vendor`.
pub const LMOS_VENDOR_NAME: &str = "lmos:name";
/// The vendor's URL, inside `lmos:vendor`.
pub const LMOS_VENDOR_URL: &str = "lmos:url";
/// `@type` of a Thing Model.
pub const TM_THING_MODEL: &str = "tm:ThingModel";
/// The HTTP vocabulary member naming a form's method.
pub const HTV_METHOD_NAME: &str = "htv:methodName";

/// Whether `uri` names the LMOS namespace (with or without a trailing `/` or `#`).
pub fn is_lmos_namespace(uri: &str) -> bool {
    uri.trim_end_matches(['/', '#']) == LMOS_NAMESPACE
}
