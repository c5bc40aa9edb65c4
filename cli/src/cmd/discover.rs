//! `lmos discover`: find agents and tools in a directory (and, with `--mdns`, on the local
//! network) and print one per line, or JSON.
//!
//! Exit status: 0 on success (also when nothing matched), 2 for a bad argument, 3 when the
//! directory cannot be reached or refuses the query.

use lmos::discovery::{DirectoryClient, SearchQuery};
use serde_json::Value;

use crate::Format;

const EXIT_OK: u8 = 0;
const EXIT_USAGE: u8 = 2;
const EXIT_UNREACHABLE: u8 = 3;

/// Arguments of `lmos discover`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base URL of a Thing Description Directory.
    #[arg(long, value_name = "URL")]
    directory: Option<String>,
    /// Only things of this type: `agent`, `tool`, or any `@type` value.
    #[arg(long = "type", value_name = "agent|tool|TYPE")]
    kind: Option<String>,
    /// Words to search for in titles and descriptions; results are ranked best first.
    #[arg(long, value_name = "TEXT")]
    query: Option<String>,
    /// Only things from this vendor (case-insensitive).
    #[arg(long, value_name = "NAME")]
    vendor: Option<String>,
    /// An RFC 9535 JSONPath expression over the array of all TDs; prints what it selects.
    #[arg(long, value_name = "EXPR", conflicts_with_all = ["kind", "query", "vendor"])]
    jsonpath: Option<String>,
    /// Most results.
    #[arg(long, default_value_t = 100)]
    limit: u64,
    /// `text`: one thing a line (id, types, title, description, tab-separated); `json`: one
    /// JSON array of TDs.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

fn types_of(td: &Value) -> String {
    match td.get("@type") {
        Some(Value::String(ty)) => ty.clone(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        _ => "-".into(),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text line for one found TD.
fn line(td: &Value) -> String {
    let field = |name: &str| td.get(name).and_then(Value::as_str).map(one_line);
    format!(
        "{}\t{}\t{}\t{}\n",
        field("id").unwrap_or_else(|| "-".into()),
        types_of(td),
        field("title").unwrap_or_default(),
        field("description").unwrap_or_default()
    )
}

/// Runs the command; returns the exit status.
pub async fn run(args: Args) -> u8 {
    let Some(url) = args.directory.as_deref() else {
        errln!("lmos discover: name a directory with --directory URL");
        return EXIT_USAGE;
    };
    let client = match DirectoryClient::new(url) {
        Ok(client) => client,
        Err(e) => {
            errln!("lmos discover: {e}");
            return EXIT_USAGE;
        }
    };
    let found = if let Some(expression) = &args.jsonpath {
        client.search_jsonpath(expression).await
    } else {
        client
            .search(&SearchQuery {
                types: args.kind.iter().cloned().collect(),
                vendor: args.vendor.clone(),
                text: args.query.clone(),
                offset: 0,
                limit: args.limit.max(1),
            })
            .await
    };
    let found = match found {
        Ok(found) => found,
        Err(e) => {
            errln!("lmos discover: {url}: {e}");
            return EXIT_UNREACHABLE;
        }
    };
    let text = match args.format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&Value::Array(found)).unwrap_or_default()
        ),
        Format::Text if args.jsonpath.is_some() => found
            .iter()
            .map(|v| match v {
                Value::Object(_) => line(v),
                other => format!("{other}\n"),
            })
            .collect(),
        Format::Text => found.iter().map(line).collect(),
    };
    if crate::write_stdout(&text) {
        EXIT_OK
    } else {
        EXIT_USAGE
    }
}
