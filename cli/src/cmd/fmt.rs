//! `lmos fmt`: print a Thing Description back in the model's member order, pretty-printed.

use lmos::td::Thing;

use crate::input::{self, Source};
use crate::summary;
use crate::{EXIT_ERROR, EXIT_INVALID, EXIT_OK};

/// Arguments of `lmos fmt`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A file, an http(s) URL, or `-` for standard input.
    #[arg(value_name = "FILE|URL|-")]
    document: String,
    /// Largest document accepted, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = summary::default_max_bytes())]
    max_bytes: usize,
}

/// Prints the formatted document, or the validation report on standard error.
pub async fn run(args: Args) -> u8 {
    let source = Source::from_arg(&args.document);
    let bytes = match input::read(&source, args.max_bytes).await {
        Ok(bytes) => bytes,
        Err(e) => {
            errln!("lmos fmt: {e}");
            return EXIT_ERROR;
        }
    };
    match Thing::parse_validated_with(&bytes, &summary::options(args.max_bytes)) {
        Ok(thing) => {
            if crate::write_stdout(&format!("{}\n", thing.to_json_pretty())) {
                EXIT_OK
            } else {
                EXIT_ERROR
            }
        }
        Err(report) => {
            crate::write_stderr(&summary::report_text(&source.to_string(), &report, &bytes));
            EXIT_INVALID
        }
    }
}
