//! Strings as Go writes them: `encoding/json`'s escaping (HTML-safe) and the quoting
//! `sigs.k8s.io/yaml` (go-yaml v2) gives scalars. kubectl's output is made of these, so a
//! byte-identical Secret needs both.

/// `s` as a JSON string literal the way Go's `json.Marshal` writes it: `<`, `>`, `&`,
/// U+2028 and U+2029 escaped as `\u00XX`/`\u20XX`, control characters as `\n`, `\r`, `\t`,
/// `\b`, `\f` or `\u00XX`, everything else (non-ASCII included) as is.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether go-yaml v2 would read the plain scalar `s` as something other than a string
/// (YAML 1.1: null, booleans, numbers, base-60 numbers), so it must be quoted.
fn resolves_to_non_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE",
        "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", ".inf", ".Inf", ".INF", "+.inf", "+.Inf",
        "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN",
    ];
    if s.is_empty() || SPECIAL.contains(&s) {
        return true;
    }
    let plain = s.replace('_', "");
    let body = plain.strip_prefix(['+', '-']).unwrap_or(&plain);
    let digits = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit());
    // strconv.ParseInt(_, 0, 64): decimal (and 0-led octal), 0x, 0o, 0b.
    let radix = |prefix: &str, ok: fn(char) -> bool| {
        body.strip_prefix(prefix).is_some_and(|r| !r.is_empty() && r.chars().all(ok))
    };
    let int = digits(body)
        || radix("0x", |c| c.is_ascii_hexdigit())
        || radix("0X", |c| c.is_ascii_hexdigit())
        || radix("0o", |c| ('0'..='7').contains(&c))
        || radix("0b", |c| c == '0' || c == '1');
    // go-yaml's float: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
    let float = {
        let (mantissa, exp) = match body.split_once(['e', 'E']) {
            Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
            None => (body, None),
        };
        let mantissa_ok = match mantissa.split_once('.') {
            Some(("", frac)) => digits(frac),
            Some((whole, frac)) => digits(whole) && (frac.is_empty() || digits(frac)),
            None => digits(mantissa),
        };
        mantissa_ok && exp.is_none_or(digits)
    };
    // Base-60 numbers (190:20:30) and dates (2001-12-14), which YAML 1.1 also resolves.
    let base60 = body.contains(':')
        && body.split(':').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit() || c == '.'));
    let date = {
        let parts: Vec<&str> = s.split('-').collect();
        parts.len() == 3 && parts[0].len() == 4 && parts.iter().all(|p| digits(p) && p.len() <= 4)
    };
    int || float || base60 || date
}

/// Whether go-yaml's emitter allows `s` as a plain (unquoted) scalar in block context.
fn plain_allowed(s: &str) -> bool {
    let first = s.chars().next().expect("non-empty");
    let last = s.chars().last().expect("non-empty");
    if "-?:,[]{}#&*!|>'\"%@`".contains(first)
        && !(matches!(first, '-' | '?' | ':') && s.len() > 1 && !s[1..].starts_with(' '))
    {
        return false;
    }
    if first == ' ' || last == ' ' || last == ':' {
        return false;
    }
    !(s.contains(": ") || s.contains(" #") || s.chars().any(|c| c.is_control() || c == '\u{feff}'))
}

/// `s` as go-yaml v2 writes a string scalar in block context: plain when it can, `"…"` when
/// the plain form would read as another type, `'…'` when plain is not allowed.
pub fn yaml_scalar(s: &str) -> String {
    if resolves_to_non_string(s) {
        return json_string(s).replace("\\u003c", "<").replace("\\u003e", ">").replace("\\u0026", "&");
    }
    if plain_allowed(s) { s.to_owned() } else { format!("'{}'", s.replace('\'', "''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_as_go_writes_it() {
        assert_eq!(json_string(r#"p<&>"\é"#), r#""p\u003c\u0026\u003e\"\\é""#);
        assert_eq!(json_string("a\nb\u{1}\u{2028}"), r#""a\nb\u0001\u2028""#);
    }

    #[test]
    fn yaml_scalars_as_go_yaml_writes_them() {
        for (s, want) in [
            ("acr-secret", "acr-secret"),
            ("123", "\"123\""),
            ("true", "\"true\""),
            ("yes", "\"yes\""),
            ("1.5", "\"1.5\""),
            ("1e3", "\"1e3\""),
            ("0x1f", "\"0x1f\""),
            ("2001-12-14", "\"2001-12-14\""),
            ("e3", "e3"),
            ("team-a", "team-a"),
            ("", "\"\""),
            ("a: b", "'a: b'"),
            ("-x", "-x"),
            ("- x", "'- x'"),
            ("'q'", "'''q'''"),
        ] {
            assert_eq!(yaml_scalar(s), want, "{s}");
        }
    }
}
