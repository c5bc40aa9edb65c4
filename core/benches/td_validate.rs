//! TD parse + validate throughput in Thing Descriptions per second: the Rust side of
//! `bench/td-validate/run`, which prints it in one table with ajv.
//!
//! `cargo bench -p lmos --bench td_validate -- CORPUS SCHEMA [WARMUP] [ITERATIONS]`
//!
//! CORPUS is a JSON array of TDs; every TD is serialized on its own (compact) and each timed pass
//! goes over all of them starting from those bytes. Prints one JSON object per measured
//! configuration on stdout.

use std::process::ExitCode;
use std::time::Instant;

use lmos::td::validate::validate_bytes;
use serde_json::Value;

struct Setup {
    docs: Vec<Vec<u8>>,
    warmup: usize,
    iterations: usize,
}

impl Setup {
    /// Runs `check` over every document for the warm-up passes, then times `iterations` passes
    /// and prints the result line.
    fn measure(&self, name: &str, check: &dyn Fn(&[u8]) -> bool) {
        let pass = || self.docs.iter().filter(|doc| check(doc)).count();
        let mut valid = pass();
        for _ in 1..self.warmup {
            valid = pass();
        }
        let mut rates = Vec::with_capacity(self.iterations);
        for _ in 0..self.iterations {
            let start = Instant::now();
            valid = pass();
            rates.push(self.docs.len() as f64 / start.elapsed().as_secs_f64());
        }
        rates.sort_by(f64::total_cmp);
        let line = serde_json::json!({
            "name": name,
            "docs": self.docs.len(),
            "valid": valid,
            "bytes": self.docs.iter().map(Vec::len).sum::<usize>(),
            "iterations": self.iterations,
            "median_tds_per_s": rates[rates.len() / 2],
            "min_tds_per_s": rates[0],
            "max_tds_per_s": rates[rates.len() - 1],
        });
        println!("{line}");
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let [corpus, schema, rest @ ..] = args else {
        return Err("usage: td_validate CORPUS SCHEMA [WARMUP] [ITERATIONS]".into());
    };
    let number = |i: usize, default: usize| -> Result<usize, String> {
        rest.get(i).map_or(Ok(default), |s| {
            s.parse()
                .map_err(|_| format!("{s:?} is not a count"))
                .and_then(|n: usize| {
                    if n == 0 {
                        Err("counts must be >= 1".into())
                    } else {
                        Ok(n)
                    }
                })
        })
    };
    let warmup = number(0, 3)?;
    let iterations = number(1, 10)?;

    let read = |path: &str| std::fs::read(path).map_err(|e| format!("{path}: {e}"));
    let tds: Vec<Value> =
        serde_json::from_slice(&read(corpus)?).map_err(|e| format!("{corpus}: {e}"))?;
    let docs = tds
        .iter()
        .map(serde_json::to_vec)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let schema: Value =
        serde_json::from_slice(&read(schema)?).map_err(|e| format!("{schema}: {e}"))?;
    let setup = Setup {
        docs,
        warmup,
        iterations,
    };

    setup.measure(
        "lmos validate_bytes (parse + schema + rules + model)",
        &|doc| validate_bytes(doc).is_valid(),
    );

    // Like for like with ajv: plain serde_json parse + the same JSON Schema compiled with the same
    // options as lmos::td::validate (draft 7, formats checked) and the same fast path
    // (`is_valid`; errors are only collected for invalid documents). No extra rules, no
    // duplicate-member check, no typed model.
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| format!("schema does not compile: {e}"))?;
    setup.measure(
        "lmos schema only (serde_json + jsonschema)",
        &|doc| match serde_json::from_slice::<Value>(doc) {
            Ok(value) => validator.is_valid(&value),
            Err(_) => false,
        },
    );
    Ok(())
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; keep only the positional arguments.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("td_validate: {message}");
            ExitCode::from(2)
        }
    }
}
