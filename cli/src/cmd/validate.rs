//! `lmos validate`: check documents and say, per document, whether it is valid and why not.

use serde_json::Value;

use crate::input::{self, Source};
use crate::summary;
use crate::{Format, EXIT_ERROR, EXIT_INVALID, EXIT_OK};

/// Arguments of `lmos validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files, http(s) URLs, or `-` for standard input (at most once).
    #[arg(required = true, value_name = "FILE|URL|-")]
    documents: Vec<String>,
    /// `text` for people, `json` for one JSON array with a report per document.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Largest document accepted, in bytes; a larger one is reported as invalid.
    #[arg(long, value_name = "BYTES", default_value_t = summary::default_max_bytes())]
    max_bytes: usize,
}

/// Validates every document; returns the exit status.
pub async fn run(args: Args) -> u8 {
    if args.documents.iter().filter(|d| d.as_str() == "-").count() > 1 {
        errln!("lmos validate: standard input (-) can be named only once");
        return EXIT_ERROR;
    }
    let mut any_invalid = false;
    let mut any_unreadable = false;
    let mut json_reports: Vec<Value> = Vec::new();
    for arg in &args.documents {
        let source = Source::from_arg(arg);
        let name = source.to_string();
        let bytes = match input::read(&source, args.max_bytes).await {
            Ok(bytes) => bytes,
            Err(e) => {
                any_unreadable = true;
                errln!("lmos validate: {e}");
                if args.format == Format::Json {
                    json_reports.push(summary::read_error_json(&name, &e.to_string()));
                }
                continue;
            }
        };
        let report = summary::validate(&bytes, args.max_bytes);
        if !report.is_valid() {
            any_invalid = true;
        }
        match args.format {
            Format::Text => {
                if !crate::write_stdout(&summary::report_text(&name, &report, &bytes)) {
                    return EXIT_ERROR;
                }
            }
            Format::Json => json_reports.push(summary::report_json(&name, &report, &bytes)),
        }
    }
    if args.format == Format::Json {
        let text = serde_json::to_string_pretty(&Value::Array(json_reports)).unwrap_or_default();
        if !crate::write_stdout(&format!("{text}\n")) {
            return EXIT_ERROR;
        }
    }
    if any_unreadable {
        EXIT_ERROR
    } else if any_invalid {
        EXIT_INVALID
    } else {
        EXIT_OK
    }
}
