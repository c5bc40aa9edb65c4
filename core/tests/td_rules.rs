//! One test per validation rule: a bad document, and the pointer and rule of the problem it gets.

use lmos::td::validate::{validate_bytes, validate_value, DocumentKind, Problem, Rule, Severity};
use lmos::td::{Thing, ValidationReport};
use serde_json::{json, Value};

/// A minimal valid LMOS agent with one property, action and event.
fn agent() -> Value {
    json!({
        "@context": ["https://www.w3.org/2022/wot/td/v1.1", {"lmos": "https://eclipse.dev/lmos/protocol/v1"}],
        "@type": "lmos:Agent",
        "title": "Agent",
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}, "basic_sc": {"scheme": "basic"}},
        "security": "nosec_sc",
        "properties": {
            "config": {"type": "object", "readOnly": true,
                       "forms": [{"op": "readproperty", "href": "https://a.example/config"}]}
        },
        "actions": {"chat": {"forms": [{"op": "invokeaction", "href": "https://a.example/chat"}]}},
        "events": {"done": {"forms": [{"op": "subscribeevent", "href": "https://a.example/done"}]}}
    })
}

fn check(value: &Value) -> ValidationReport {
    let report = validate_bytes(serde_json::to_string_pretty(value).unwrap().as_bytes());
    assert_eq!(report, {
        // Same problems without positions when validating the value directly.
        let mut plain = validate_value(value);
        for (p, q) in plain.problems.iter_mut().zip(&report.problems) {
            p.line = q.line;
            p.column = q.column;
        }
        plain
    });
    report
}

fn found(report: &ValidationReport) -> Vec<(Rule, &str)> {
    report
        .problems
        .iter()
        .map(|p| (p.rule, p.pointer.as_str()))
        .collect()
}

fn only(report: &ValidationReport) -> &Problem {
    assert_eq!(report.problems.len(), 1, "{report}");
    &report.problems[0]
}

#[test]
fn the_base_document_is_valid() {
    let report = check(&agent());
    assert!(report.problems.is_empty(), "{report}");
    assert_eq!(report.kind, Some(DocumentKind::ThingDescription));
    assert!(Thing::parse_validated(agent().to_string().as_bytes()).is_ok());
}

#[test]
fn rule_codes_are_stable_and_distinct() {
    let codes: Vec<&str> = Rule::ALL.iter().map(Rule::code).collect();
    assert_eq!(
        codes,
        [
            "parse",
            "too-large",
            "encoding",
            "too-deep",
            "json-schema",
            "duplicate-member",
            "undefined-security",
            "op-mismatch",
            "relative-href",
            "lmos-context",
            "lmos-type",
            "lmos-metadata",
            "model"
        ]
    );
}

#[test]
fn duplicate_member_names() {
    let text = r#"{
  "@context": "https://www.w3.org/2022/wot/td/v1.1",
  "title": "T",
  "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}, "nosec_sc": {"scheme": "nosec"}},
  "security": "nosec_sc",
  "actions": {
    "go": {"forms": [{"href": "https://x.example/go"}]},
    "go": {"forms": [{"href": "https://x.example/go2"}]}
  }
}"#;
    let report = validate_bytes(text.as_bytes());
    assert_eq!(
        found(&report),
        [
            (Rule::DuplicateMember, "/securityDefinitions/nosec_sc"),
            (Rule::DuplicateMember, "/actions/go"),
        ]
    );
    assert_eq!(report.problems[1].line, Some(8));
    assert_eq!(report.problems[1].column, Some(5));
    assert!(!report.is_valid());
    assert!(Thing::parse_validated(text.as_bytes()).is_err());
}

#[test]
fn thing_level_security_must_be_defined() {
    let mut td = agent();
    td["security"] = json!(["nosec_sc", "oauth_sc"]);
    let report = check(&td);
    let problem = only(&report);
    assert_eq!(
        (problem.rule, problem.pointer.as_str()),
        (Rule::UndefinedSecurity, "/security/1")
    );
    assert_eq!(
        problem.message,
        "the thing's security names the security scheme \"oauth_sc\", which securityDefinitions \
         does not define (defined: nosec_sc, basic_sc)"
    );
}

#[test]
fn form_level_security_must_be_defined() {
    let mut td = agent();
    td["actions"]["chat"]["forms"][0]["security"] = json!("bearer_sc");
    let report = check(&td);
    let problem = only(&report);
    assert_eq!(
        (problem.rule, problem.pointer.as_str()),
        (Rule::UndefinedSecurity, "/actions/chat/forms/0/security")
    );
}

#[test]
fn combo_members_must_be_defined() {
    let mut td = agent();
    td["securityDefinitions"]["combo_sc"] =
        json!({"scheme": "combo", "allOf": ["basic_sc", "apikey_sc"]});
    td["securityDefinitions"]["either_sc"] =
        json!({"scheme": "combo", "oneOf": ["ghost_sc", "basic_sc"]});
    let report = check(&td);
    assert_eq!(
        found(&report),
        [
            (
                Rule::UndefinedSecurity,
                "/securityDefinitions/combo_sc/allOf/1"
            ),
            (
                Rule::UndefinedSecurity,
                "/securityDefinitions/either_sc/oneOf/0"
            ),
        ]
    );
}

#[test]
fn op_must_fit_the_affordance_kind() {
    let mut td = agent();
    td["properties"]["config"]["forms"][0]["op"] = json!(["readproperty", "invokeaction"]);
    td["actions"]["chat"]["forms"][0]["op"] = json!("subscribeevent");
    td["events"]["done"]["forms"][0]["op"] = json!("fly");
    td["forms"] = json!([{"op": "readproperty", "href": "https://a.example/all"}]);
    let report = check(&td);
    assert_eq!(
        found(&report),
        [
            (Rule::OpMismatch, "/properties/config/forms/0/op/1"),
            (Rule::OpMismatch, "/actions/chat/forms/0/op"),
            (Rule::OpMismatch, "/events/done/forms/0/op"),
            (Rule::OpMismatch, "/forms/0/op"),
        ],
        "the schema's own complaints about these ops are replaced by the precise ones"
    );
    assert_eq!(
        report.problems[1].message,
        "\"subscribeevent\" is an event operation; an action form may only use invokeaction, \
         queryaction, cancelaction"
    );
    assert!(report.problems[2]
        .message
        .starts_with("\"fly\" is not a TD operation"));
    assert!(report.problems[3]
        .message
        .starts_with("\"readproperty\" is a property operation"));
}

#[test]
fn read_only_and_write_only_properties_limit_their_ops() {
    let mut td = agent();
    td["properties"]["config"]["forms"][0]["op"] = json!(["readproperty", "writeproperty"]);
    td["properties"]["secret"] = json!({"type": "string", "writeOnly": true,
        "forms": [{"op": ["writeproperty", "readproperty"], "href": "https://a.example/secret"}]});
    let report = check(&td);
    assert_eq!(
        found(&report),
        [
            (Rule::OpMismatch, "/properties/config/forms/0/op/1"),
            (Rule::OpMismatch, "/properties/secret/forms/0/op/1"),
        ]
    );
    assert_eq!(
        report.problems[0].message,
        "the property is readOnly, so none of its forms may offer writeproperty"
    );
}

#[test]
fn relative_hrefs_need_a_base() {
    let mut td = agent();
    td["actions"]["chat"]["forms"][0]["href"] = json!("actions/chat");
    td["links"] = json!([{"href": "manual.pdf", "rel": "service-doc"}]);
    let report = check(&td);
    assert_eq!(
        found(&report),
        [
            (Rule::RelativeHref, "/actions/chat/forms/0/href"),
            (Rule::RelativeHref, "/links/0/href"),
        ]
    );
    // With a base the same document is fine.
    td["base"] = json!("https://a.example/things/agent/");
    assert!(check(&td).problems.is_empty());
}

#[test]
fn base_itself_must_be_absolute() {
    let mut td = agent();
    td["base"] = json!("things/agent/");
    td["actions"]["chat"]["forms"][0]["href"] = json!("chat");
    let report = check(&td);
    assert_eq!(
        found(&report),
        // In document order: `base` was added last.
        [
            (Rule::RelativeHref, "/actions/chat/forms/0/href"),
            (Rule::RelativeHref, "/base")
        ]
    );
}

#[test]
fn lmos_terms_need_the_lmos_namespace_in_context() {
    let mut td = agent();
    td["@context"] = json!("https://www.w3.org/2022/wot/td/v1.1");
    td["lmos:metadata"] = json!({"lmos:vendor": {"lmos:name": "V"}});
    let report = check(&td);
    let problem = only(&report);
    assert_eq!(
        (problem.rule, problem.pointer.as_str()),
        (Rule::LmosContext, "/@context")
    );
    assert!(
        problem
            .message
            .contains("(at /@type, /lmos:metadata, /lmos:metadata/lmos:vendor and 1 more)"),
        "{}",
        problem.message
    );
}

#[test]
fn lmos_prefix_bound_elsewhere_is_an_error() {
    let mut td = agent();
    td["@context"][1]["lmos"] = json!("https://example.org/not-lmos#");
    let report = check(&td);
    assert_eq!(
        found(&report),
        [
            (Rule::LmosContext, "/@context"),
            (Rule::LmosContext, "/@context/1/lmos")
        ]
    );
}

/// Decision: the namespace listed as a plain context entry counts as declaring it.
#[test]
fn lmos_namespace_as_a_plain_context_entry_is_accepted() {
    let mut td = agent();
    td["@context"] = json!([
        "https://www.w3.org/2022/wot/td/v1.1",
        "https://eclipse.dev/lmos/protocol/v1"
    ]);
    let report = check(&td);
    assert!(report.problems.is_empty(), "{report}");
}

#[test]
fn lmos_terms_inside_affordances_count_too() {
    let mut td = agent();
    td["@context"] = json!("https://www.w3.org/2022/wot/td/v1.1");
    td["@type"] = json!("saref:Device");
    td["actions"]["chat"]["lmos:streaming"] = json!(true);
    let report = check(&td);
    let problem = only(&report);
    assert_eq!(problem.rule, Rule::LmosContext);
    assert!(
        problem
            .message
            .contains("(at /actions/chat/lmos:streaming)"),
        "{}",
        problem.message
    );
}

#[test]
fn agent_and_tool_at_once_is_an_error() {
    let mut td = agent();
    td["@type"] = json!(["lmos:Agent", "lmos:Tool"]);
    let problem = only(&check(&td)).clone();
    assert_eq!(
        (problem.rule, problem.pointer.as_str()),
        (Rule::LmosType, "/@type")
    );
}

#[test]
fn metadata_on_an_untyped_thing_is_a_warning() {
    let mut td = agent();
    td.as_object_mut().unwrap().remove("@type");
    td["lmos:metadata"] = json!({});
    let report = check(&td);
    let problem = only(&report);
    assert_eq!(
        (problem.rule, problem.pointer.as_str()),
        (Rule::LmosType, "/lmos:metadata")
    );
    assert_eq!(problem.severity, Severity::Warning);
    assert!(report.is_valid(), "warnings do not make a document invalid");
    assert!(Thing::parse_validated(td.to_string().as_bytes()).is_ok());
}

#[test]
fn metadata_must_be_an_object() {
    let mut td = agent();
    td["lmos:metadata"] = json!("Deutsche Telekom");
    let problem = only(&check(&td)).clone();
    assert_eq!(
        (problem.rule, problem.pointer.as_str()),
        (Rule::LmosMetadata, "/lmos:metadata")
    );
    assert_eq!(
        problem.message,
        "lmos:metadata must be an object, not a string"
    );
}

#[test]
fn vendor_must_be_an_object_with_a_name() {
    let mut td = agent();
    td["lmos:metadata"] = json!({"lmos:vendor": "ACME"});
    assert_eq!(
        found(&check(&td)),
        [(Rule::LmosMetadata, "/lmos:metadata/lmos:vendor")]
    );
    td["lmos:metadata"] = json!({"lmos:vendor": {"lmos:url": "https://acme.example"}});
    assert_eq!(
        found(&check(&td)),
        [(Rule::LmosMetadata, "/lmos:metadata/lmos:vendor")]
    );
    td["lmos:metadata"] = json!({"lmos:vendor": {"lmos:name": 7, "lmos:url": false}});
    assert_eq!(
        found(&check(&td)),
        [
            (Rule::LmosMetadata, "/lmos:metadata/lmos:vendor/lmos:name"),
            (Rule::LmosMetadata, "/lmos:metadata/lmos:vendor/lmos:url"),
        ]
    );
}

#[test]
fn schema_errors_name_the_member_and_say_what_is_wrong() {
    let mut td = agent();
    td.as_object_mut().unwrap().remove("title");
    td["id"] = json!("not a uri");
    td["properties"]["config"]["observable"] = json!("yes");
    td["created"] = json!("yesterday");
    let report = check(&td);
    let lines: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "/: the member \"title\" is required here",
            "/properties/config/observable: expected a boolean, found a string",
            "/id: \"not a uri\" is not a valid uri",
            "/created: \"yesterday\" is not a valid date-time",
        ]
    );
    assert!(report.problems.iter().all(|p| p.rule == Rule::JsonSchema));
    assert!(report.problems.iter().all(|p| p.line.is_some()));
}

#[test]
fn security_scheme_errors_point_into_the_scheme() {
    let mut td = agent();
    td["securityDefinitions"]["basic_sc"] = json!({"scheme": "basic", "in": "nowhere"});
    td["securityDefinitions"]["odd_sc"] = json!({"scheme": "kerberos"});
    td["securityDefinitions"]["combo_sc"] = json!({"scheme": "combo", "allOf": ["basic_sc"]});
    let report = check(&td);
    let lines: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "/securityDefinitions/basic_sc/in: \"nowhere\" is not allowed here; the value must be one of \"header\", \"query\", \"body\", \"cookie\", \"auto\"",
            "/securityDefinitions/odd_sc/scheme: \"kerberos\" is not a security scheme of TD 1.1 (nosec, auto, combo, basic, digest, apikey, bearer, psk, oauth2) nor a prefixed extension scheme such as \"ace:ACESecurityScheme\"",
            "/securityDefinitions/combo_sc/allOf: the array needs at least 2 items",
        ]
    );
}

#[test]
fn a_bad_context_gets_one_readable_sentence() {
    let mut td = agent();
    td["@context"] =
        json!(["https://example.org/other", {"lmos": "https://eclipse.dev/lmos/protocol/v1"}]);
    let problem = only(&check(&td)).clone();
    assert_eq!(
        (problem.rule, problem.pointer.as_str()),
        (Rule::JsonSchema, "/@context")
    );
    assert!(problem
        .message
        .starts_with("@context must be the TD 1.1 context URI"));
}

#[test]
fn thing_models_are_checked_against_the_tm_schema() {
    // No security and a placeholder href: fine for a Thing Model, not for a TD.
    let tm = json!({
        "@context": ["https://www.w3.org/2022/wot/td/v1.1"],
        "@type": "tm:ThingModel",
        "title": "Model",
        "actions": {"go": {"forms": [{"href": "{{BASE}}/go"}]}}
    });
    let report = check(&tm);
    assert_eq!(report.kind, Some(DocumentKind::ThingModel));
    assert!(report.problems.is_empty(), "{report}");
    let refused = Thing::parse_validated(tm.to_string().as_bytes()).unwrap_err();
    assert_eq!(found(&refused), [(Rule::Model, "/@type")]);

    let mut bad = tm.clone();
    bad["title"] = json!(5);
    let problem = only(&check(&bad)).clone();
    assert_eq!(
        (problem.rule, problem.pointer.as_str()),
        (Rule::JsonSchema, "/title")
    );

    let mut td = tm;
    td["@type"] = json!("saref:Device");
    assert!(found(&check(&td)).contains(&(Rule::JsonSchema, "")));
}

/// A document the schema accepts but the typed model cannot hold: the model rule catches it.
#[test]
fn documents_the_model_cannot_hold_get_a_model_problem() {
    let mut td = agent();
    // The TD schema lets an extension security scheme carry any member, but the model types
    // `in` as a string.
    td["securityDefinitions"]["ace_sc"] = json!({"scheme": "ace:ACESecurityScheme", "in": 5});
    let report = check(&td);
    assert_eq!(
        found(&report),
        [(Rule::Model, "/securityDefinitions/ace_sc")],
        "{report}"
    );
    assert!(
        report.problems[0].message.contains("expected a string"),
        "{report}"
    );
    assert!(Thing::parse_validated(td.to_string().as_bytes()).is_err());
}

#[test]
fn problems_come_in_document_order_without_repeats() {
    let mut td = agent();
    td["events"]["done"]["forms"][0]["href"] = json!("done");
    td["security"] = json!("missing_sc");
    td["actions"]["chat"]["forms"][0]["href"] = json!("chat");
    let report = check(&td);
    assert_eq!(
        found(&report),
        [
            (Rule::UndefinedSecurity, "/security"),
            (Rule::RelativeHref, "/actions/chat/forms/0/href"),
            (Rule::RelativeHref, "/events/done/forms/0/href"),
        ]
    );
}

#[test]
fn the_report_as_json_and_as_text() {
    let mut td = agent();
    td["security"] = json!("missing_sc");
    let report = validate_bytes(serde_json::to_string_pretty(&td).unwrap().as_bytes());
    let json = report.to_json();
    assert_eq!(json["valid"], false);
    assert_eq!(json["kind"], "ThingDescription");
    assert_eq!(json["problems"][0]["rule"], "undefined-security");
    assert_eq!(json["problems"][0]["severity"], "error");
    assert_eq!(json["problems"][0]["pointer"], "/security");
    assert!(json["problems"][0]["line"].is_u64());
    assert!(report
        .to_string()
        .starts_with("/security: the thing's security names"));
    let error: Box<dyn std::error::Error> = Box::new(report);
    assert!(error.to_string().contains("missing_sc"));
}
