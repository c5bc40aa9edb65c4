//! Reading a document from a file, a URL or standard input, with a size limit.

use std::fmt;
use std::io::Read;
use std::time::Duration;

/// The media type asked for when fetching a document over HTTP.
pub const ACCEPT: &str = "application/td+json, application/json;q=0.9";

/// Where a document comes from, as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Standard input (`-`).
    Stdin,
    /// An `http://` or `https://` URL.
    Url(String),
    /// A path on disk.
    File(String),
}

impl Source {
    /// Classifies a command-line argument.
    pub fn from_arg(arg: &str) -> Self {
        let lower = arg.to_ascii_lowercase();
        if arg == "-" {
            Source::Stdin
        } else if lower.starts_with("http://") || lower.starts_with("https://") {
            Source::Url(arg.to_owned())
        } else {
            Source::File(arg.to_owned())
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Stdin => f.write_str("-"),
            Source::Url(url) => f.write_str(url),
            Source::File(path) => f.write_str(path),
        }
    }
}

/// Why a document could not be read.
#[derive(Debug)]
pub struct ReadError(String);

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads the document named by `source`.
///
/// At most `limit + 1` bytes are read: a document longer than `limit` comes back cut just past the
/// limit, so that the validator (which checks the size first) reports it as too large without the
/// whole of it being held in memory.
pub async fn read(source: &Source, limit: usize) -> Result<Vec<u8>, ReadError> {
    let cap = limit.saturating_add(1);
    match source {
        Source::Stdin => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .lock()
                .take(cap as u64)
                .read_to_end(&mut bytes)
                .map_err(|e| ReadError(format!("cannot read standard input: {e}")))?;
            Ok(bytes)
        }
        Source::File(path) => {
            let file = std::fs::File::open(path)
                .map_err(|e| ReadError(format!("cannot open {path}: {}", io_reason(&e))))?;
            if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
                return Err(ReadError(format!("cannot read {path}: it is a directory")));
            }
            let mut bytes = Vec::new();
            file.take(cap as u64)
                .read_to_end(&mut bytes)
                .map_err(|e| ReadError(format!("cannot read {path}: {}", io_reason(&e))))?;
            Ok(bytes)
        }
        Source::Url(url) => fetch(url, cap).await,
    }
}

async fn fetch(url: &str, cap: usize) -> Result<Vec<u8>, ReadError> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("lmos/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ReadError(format!("cannot set up the HTTP client: {e}")))?;
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, ACCEPT)
        .send()
        .await
        .map_err(|e| ReadError(format!("cannot fetch {url}: {}", http_reason(&e))))?;
    let status = response.status();
    if !status.is_success() {
        return Err(ReadError(format!(
            "cannot fetch {url}: the server answered {status}"
        )));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ReadError(format!("cannot fetch {url}: {}", http_reason(&e))))?
    {
        let room = cap - bytes.len();
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() >= cap {
            break;
        }
    }
    Ok(bytes)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

/// The innermost cause of an HTTP error, which is the part a person can act on.
fn http_reason(e: &reqwest::Error) -> String {
    let mut reason = if e.is_timeout() {
        "the request timed out".to_owned()
    } else if e.is_connect() {
        "the connection failed".to_owned()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    let mut innermost = None;
    while let Some(cause) = source {
        innermost = Some(cause.to_string());
        source = cause.source();
    }
    if let Some(cause) = innermost {
        reason.push_str(&format!(" ({cause})"));
    }
    reason
}
