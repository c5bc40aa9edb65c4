//! The JSON Canonicalization Scheme (RFC 8785): one byte sequence per JSON value, so that hashes
//! and signatures over JSON are repeatable.
//!
//! Object members are sorted by the UTF-16 code units of their names, strings are written as
//! ECMAScript's `JSON.stringify` writes them, and numbers as ECMAScript's `Number.prototype
//! .toString` does (an IEEE 754 double, shortest round-trip digits). Integers beyond 2^53 are
//! therefore rounded to a double first, as RFC 8785 requires.

use std::fmt::Write as _;

use serde_json::{Number, Value};

/// The canonical form of `value` as a string (UTF-8).
pub fn canonicalize(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(Vec<u16>, &String, &Value)> = map
                .iter()
                .map(|(k, v)| (k.encode_utf16().collect(), k, v))
                .collect();
            members.sort_by(|a, b| a.0.cmp(&b.0));
            out.push('{');
            for (i, (_, key, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn number(n: &Number) -> String {
    // serde_json never holds NaN or an infinity, so every number has an ECMAScript form.
    let value = n.as_f64().unwrap_or(0.0);
    format_es(value)
}

/// ECMAScript's `Number::toString(value)` for a finite double (RFC 8785, section 3.2.2.3).
pub fn format_es(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        // -0 is written "0"; non-finite values cannot come from JSON.
        return "0".to_owned();
    }
    let sign = if value < 0.0 { "-" } else { "" };
    // `{:e}` gives the shortest digits that round-trip, as `d.ddde±x`.
    let exp_form = format!("{:e}", value.abs());
    let (mantissa, exponent) = exp_form.split_once('e').unwrap_or((&exp_form, "0"));
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if let Some(even) = even_tie_break(value.abs(), &digits, exponent) {
        digits = even;
    }
    let k = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let n = exponent + 1;
    let body = if k <= n && n <= 21 {
        let zeros = usize::try_from(n - k).unwrap_or(0);
        format!("{digits}{}", "0".repeat(zeros))
    } else if 0 < n && n <= 21 {
        let at = usize::try_from(n).unwrap_or(0);
        format!("{}.{}", &digits[..at], &digits[at..])
    } else if -6 < n && n <= 0 {
        let zeros = usize::try_from(-n).unwrap_or(0);
        format!("0.{}{digits}", "0".repeat(zeros))
    } else {
        let e = n - 1;
        let e_sign = if e < 0 { '-' } else { '+' };
        if k == 1 {
            format!("{digits}e{e_sign}{}", e.abs())
        } else {
            format!("{}.{}e{e_sign}{}", &digits[..1], &digits[1..], e.abs())
        }
    };
    format!("{sign}{body}")
}

/// ECMAScript breaks a tie between two shortest digit strings equally close to the value by
/// taking the even one; Rust's shortest formatting may take the other. A tie needs the exact
/// value to have one digit more than the shortest form, that digit a 5: then the even neighbour
/// is returned when it also reads back as `value`.
fn even_tie_break(value: f64, digits: &str, exponent: i32) -> Option<String> {
    let k = digits.len();
    if k < 15 {
        // Shorter forms leave no room for a tie: the rounding interval of a double is narrower
        // than a unit in the 15th digit.
        return None;
    }
    // 800 digits after the point are enough to write every double exactly.
    let exact = format!("{value:.800e}");
    let (mantissa, exact_exponent) = exact.split_once('e')?;
    if exact_exponent.parse::<i32>().ok()? != exponent {
        return None;
    }
    let exact_digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let significant = exact_digits.trim_end_matches('0');
    if significant.len() != k + 1 || !significant.ends_with('5') {
        return None;
    }
    let low = &significant[..k];
    let high = increment(low)?;
    let last_even = |s: &str| s.bytes().last().is_some_and(|b| (b - b'0') % 2 == 0);
    let reads_back = |s: &str| {
        let text = format!("{}.{}e{exponent}", &s[..1], &s[1..]);
        text.parse::<f64>().ok() == Some(value)
    };
    [low.to_owned(), high]
        .into_iter()
        .find(|candidate| last_even(candidate) && reads_back(candidate))
        .filter(|candidate| candidate != digits)
}

/// The digit string plus one in its last place, or `None` when that needs one more digit.
fn increment(digits: &str) -> Option<String> {
    let mut bytes = digits.as_bytes().to_vec();
    for b in bytes.iter_mut().rev() {
        if *b == b'9' {
            *b = b'0';
        } else {
            *b += 1;
            return String::from_utf8(bytes).ok();
        }
    }
    None
}
