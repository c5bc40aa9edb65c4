//! The one way the Rust benchmarks report their headline figures to `bench/run`: a JSON line per
//! figure appended to the file named by `BENCH_RESULTS` (members described in bench/result.py).
//! Included with `#[path]` by `core/benches/directory.rs` and `core/examples/ws_bench.rs`.

use std::io::Write;

use serde_json::Value;

/// Appends `result` to `$BENCH_RESULTS`; nothing happens when it is not set.
pub fn record(result: Value) {
    let Some(path) = std::env::var_os("BENCH_RESULTS") else {
        return;
    };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| writeln!(file, "{result}"));
    if let Err(error) = written {
        eprintln!("cannot append to BENCH_RESULTS: {error}");
    }
}
