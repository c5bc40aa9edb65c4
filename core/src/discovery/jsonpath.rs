//! A prefilter for JSONPath queries over the array of all TDs: the text every selected TD's
//! stored JSON must contain, so that a store can skip (without parsing) every TD that cannot
//! match.
//!
//! It recognises the common shape `$[?@.name == 'literal' && ...]...`: the query's first segment
//! is one filter selector over the array, and a conjunct of that filter (a term of its top-level
//! `&&` chain) compares a member path of the TD with a string literal. A TD that the filter
//! selects then has a string node equal to the literal, and since a store keeps a TD as
//! `serde_json` text, that text contains the literal as `serde_json` writes it. Anything the
//! recognizer is unsure about yields no needle (the query then reads every TD): an `||`, a `!`,
//! an escape in the literal, a path into `registration` (which the directory adds on read), or a
//! `$` anywhere after the root (a filter that looks at the whole array, whose answer would change
//! if TDs were left out).

/// The needles (substrings) every TD the query can select contains in its stored text; empty
/// when none are known. The query must already have parsed as JSONPath.
pub fn required_strings(query: &str) -> Vec<String> {
    let Some(tokens) = tokenize(query) else {
        return Vec::new();
    };
    // `$` `[` `?` FILTER `]` ...; no other `$`.
    if tokens.iter().skip(1).any(|t| *t == Token::Root) {
        return Vec::new();
    }
    let [Token::Root, Token::Open, Token::Question, rest @ ..] = tokens.as_slice() else {
        return Vec::new();
    };
    // The filter runs to the `]` that closes the first segment; a `,` at its level is a union.
    let mut depth = 0usize;
    let mut end = None;
    for (i, token) in rest.iter().enumerate() {
        match token {
            Token::Open | Token::LParen => depth += 1,
            Token::Close if depth == 0 => {
                end = Some(i);
                break;
            }
            Token::Close | Token::RParen => depth = depth.saturating_sub(1),
            Token::Comma if depth == 0 => return Vec::new(),
            _ => {}
        }
    }
    let Some(end) = end else {
        return Vec::new();
    };
    let mut needles = Vec::new();
    conjunct_needles(&rest[..end], &mut needles);
    needles.sort();
    needles.dedup();
    needles
}

/// Adds the needles of the `&&` chain `tokens` (nothing when it has a top-level `||`).
fn conjunct_needles(tokens: &[Token], needles: &mut Vec<String>) {
    let mut terms: Vec<&[Token]> = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Open | Token::LParen => depth += 1,
            Token::Close | Token::RParen => depth = depth.saturating_sub(1),
            Token::Or if depth == 0 => return,
            Token::And if depth == 0 => {
                terms.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&tokens[start..]);
    for term in terms {
        if let [Token::LParen, inner @ .., Token::RParen] = term {
            if encloses(inner) {
                conjunct_needles(inner, needles);
                continue;
            }
        }
        if let Some(literal) = compared_literal(term) {
            // The text after the opening quote: rarer first byte, and a substring of the
            // quoted form, so no match is lost.
            let quoted = serde_json::Value::String(literal.to_owned()).to_string();
            needles.push(quoted[1..].to_owned());
        }
    }
}

/// Whether the parentheses in `tokens` balance (so `(` `tokens` `)` is one group).
fn encloses(tokens: &[Token]) -> bool {
    let mut depth = 0i32;
    for token in tokens {
        match token {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

/// `@path == 'literal'` or `'literal' == @path`: the literal.
fn compared_literal(term: &[Token]) -> Option<&str> {
    match term {
        [Token::Current, path @ .., Token::Equal, Token::Str(literal)]
        | [Token::Str(literal), Token::Equal, Token::Current, path @ ..]
            if member_path(path) =>
        {
            Some(literal)
        }
        _ => None,
    }
}

/// A path of member names and indexes that starts with a member other than `registration`.
fn member_path(mut path: &[Token]) -> bool {
    let mut first = true;
    while !path.is_empty() {
        let (name, rest): (Option<&str>, &[Token]) = match path {
            [Token::Dot, Token::Name(name), rest @ ..] => (Some(name), rest),
            [Token::Open, Token::Str(name), Token::Close, rest @ ..] => (Some(name), rest),
            [Token::Open, Token::Index, Token::Close, rest @ ..] if !first => (None, rest),
            _ => return false,
        };
        if first && name.is_none_or(|n| n == "registration") {
            return false;
        }
        first = false;
        path = rest;
    }
    !first
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Root,
    Current,
    Open,
    Close,
    LParen,
    RParen,
    Dot,
    Descendant,
    Comma,
    Question,
    Star,
    And,
    Or,
    Not,
    Equal,
    /// Any other comparison operator.
    Compare,
    /// A string literal without escapes.
    Str(String),
    /// A string literal with an escape (not decoded here).
    EscapedStr,
    Name(String),
    /// An integer (array index).
    Index,
    /// Any other number, `true`, `false`, `null`, `:` (slices) and the like.
    Other,
}

/// The tokens of a JSONPath query (`None` for anything unexpected).
fn tokenize(query: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = query.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let (token, width) = match c {
            ' ' | '\t' | '\n' | '\r' => {
                i += 1;
                continue;
            }
            '$' => (Token::Root, 1),
            '@' => (Token::Current, 1),
            '[' => (Token::Open, 1),
            ']' => (Token::Close, 1),
            '(' => (Token::LParen, 1),
            ')' => (Token::RParen, 1),
            '.' if next == Some('.') => (Token::Descendant, 2),
            '.' => (Token::Dot, 1),
            ',' => (Token::Comma, 1),
            '?' => (Token::Question, 1),
            '*' => (Token::Star, 1),
            ':' => (Token::Other, 1),
            '&' if next == Some('&') => (Token::And, 2),
            '|' if next == Some('|') => (Token::Or, 2),
            '=' if next == Some('=') => (Token::Equal, 2),
            '!' if next == Some('=') => (Token::Compare, 2),
            '!' => (Token::Not, 1),
            '<' | '>' if next == Some('=') => (Token::Compare, 2),
            '<' | '>' => (Token::Compare, 1),
            '\'' | '"' => {
                let mut j = i + 1;
                let mut text = String::new();
                let mut escaped = false;
                loop {
                    match chars.get(j) {
                        None => return None,
                        Some('\\') => {
                            escaped = true;
                            // Skip the escaped character (a `\uXXXX` tail is plain text).
                            j += 2;
                        }
                        Some(&q) if q == c => break,
                        Some(&other) => {
                            text.push(other);
                            j += 1;
                        }
                    }
                }
                let token = if escaped {
                    Token::EscapedStr
                } else {
                    Token::Str(text)
                };
                (token, j + 1 - i)
            }
            c if c == '-' || c.is_ascii_digit() => {
                let mut j = i + 1;
                while chars
                    .get(j)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'))
                {
                    j += 1;
                }
                let text: String = chars[i..j].iter().collect();
                let token = if text.parse::<i64>().is_ok() {
                    Token::Index
                } else {
                    Token::Other
                };
                (token, j - i)
            }
            c if c.is_alphabetic() || c == '_' || !c.is_ascii() => {
                let mut j = i + 1;
                while chars
                    .get(j)
                    .is_some_and(|c| c.is_alphanumeric() || *c == '_' || !c.is_ascii())
                {
                    j += 1;
                }
                let name: String = chars[i..j].iter().collect();
                let token = if matches!(name.as_str(), "true" | "false" | "null") {
                    Token::Other
                } else {
                    Token::Name(name)
                };
                (token, j - i)
            }
            _ => return None,
        };
        tokens.push(token);
        i += width;
    }
    Some(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needles(query: &str) -> Vec<String> {
        assert!(
            serde_json_path::JsonPath::parse(query).is_ok(),
            "not JSONPath: {query}"
        );
        required_strings(query)
    }

    #[test]
    fn equality_with_a_string_literal_gives_a_needle() {
        assert_eq!(needles("$[?@.title=='Weather']"), ["Weather\""]);
        assert_eq!(needles("$[?@.title=='Weather'].id"), ["Weather\""]);
        assert_eq!(needles("$[?@.title == \"Weather\"].id"), ["Weather\""]);
        assert_eq!(needles("$[?'Weather' == @.title]"), ["Weather\""]);
        assert_eq!(
            needles("$[?@['@type']=='lmos:Agent'].title"),
            ["lmos:Agent\""]
        );
        assert_eq!(
            needles("$[?@.actions.getForecast.forms[0].op=='invokeaction']"),
            ["invokeaction\""]
        );
        assert_eq!(
            needles("$[?@.title=='A' && @['lmos:metadata']['lmos:vendor']['lmos:name']=='ACME']"),
            ["A\"", "ACME\""]
        );
        assert_eq!(
            needles("$[?(@.title=='A' && @.x > 2) && @.y=='B']"),
            ["A\"", "B\""]
        );
        // Non-ASCII text is kept as serde_json writes it.
        assert_eq!(
            needles("$[?@.title=='Wetter für Köln']"),
            ["Wetter für Köln\""]
        );
    }

    #[test]
    fn anything_unsure_gives_no_needle() {
        for query in [
            "$[*].id",
            "$..title",
            "$[0]",
            "$[?@.title=='A' || @.title=='B']",
            "$[?!(@.title=='A')]",
            "$[?@.title!='A']",
            "$[?@.title=='A', ?@.title=='B']",
            "$[?@.title=='it\\'s']",
            "$[?@.registration.created=='2026-01-01T00:00:00Z']",
            "$[?@..title]",
            "$[?@.title==$[0].title]",
            "$[?@.title=='A'][?@ == $[0]]",
            "$[?@.ttl==60]",
            "$[?@==' A']",
            "$[?length(@.title)==1]",
            "$[?match(@.title, 'W.*')]",
            "$[?@.title]",
        ] {
            assert!(needles(query).is_empty(), "{query}: {:?}", needles(query));
        }
        // One sure conjunct is enough even when another is not.
        assert_eq!(
            needles("$[?@.title=='A' && (@.x=='B' || @.y=='C')]"),
            ["A\""]
        );
        assert_eq!(needles("$[?@.title=='A' && !(@.x=='B')]"), ["A\""]);
    }

    #[test]
    fn a_matching_td_always_contains_its_needles() {
        let td = serde_json::json!({
            "title": "Wetter \"für\" Köln\n",
            "@type": "lmos:Agent",
            "id": "urn:x"
        });
        let text = td.to_string();
        let literal = "Wetter \"für\" Köln\n";
        let quoted = serde_json::Value::String(literal.into()).to_string();
        assert!(text.contains(&quoted[1..]));
    }
}
