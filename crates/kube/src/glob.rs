//! Go's `path/filepath.Match` for one host label: `*`, `?`, `[…]` classes with ranges and
//! `^` negation, `\` escapes; case-sensitive. A malformed pattern matches nothing, as the
//! kubelet treats the error `filepath.Match` returns.

/// Whether `name` matches the glob `pattern` (both without `/`).
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n).unwrap_or(false)
}

/// `None` for a malformed pattern.
fn match_from(p: &[char], n: &[char]) -> Option<bool> {
    match p.first() {
        None => Some(n.is_empty()),
        Some('*') => {
            let rest = &p[1..];
            for skip in 0..=n.len() {
                if match_from(rest, &n[skip..])? {
                    return Some(true);
                }
            }
            Some(false)
        }
        Some(_) if n.is_empty() => {
            // Go still reports a malformed remainder as an error.
            check_pattern(p)?;
            Some(false)
        }
        Some('?') => match_from(&p[1..], &n[1..]),
        Some('[') => {
            let (matched, used) = class(&p[1..], n[0])?;
            if matched { match_from(&p[1 + used..], &n[1..]) } else { check_pattern(&p[1 + used..]).map(|_| false) }
        }
        Some('\\') => {
            let c = *p.get(1)?;
            if c == n[0] { match_from(&p[2..], &n[1..]) } else { Some(false) }
        }
        Some(&c) => {
            if c == n[0] {
                match_from(&p[1..], &n[1..])
            } else {
                check_pattern(&p[1..]).map(|_| false)
            }
        }
    }
}

/// Checks the rest of a pattern for the syntax errors Go reports even after a mismatch.
fn check_pattern(p: &[char]) -> Option<()> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                p.get(i + 1)?;
                i += 2;
            }
            '[' => {
                let (_, used) = class(&p[i + 1..], '\0')?;
                i += 1 + used;
            }
            _ => i += 1,
        }
    }
    Some(())
}

/// Matches `c` against the class that starts after `[`; `(matched, chars used incl. ']')`.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negated = p.first() == Some(&'^');
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let lo = if lo == '\\' {
            i += 1;
            *p.get(i)?
        } else if lo == '-' || lo == ']' {
            return None;
        } else {
            lo
        };
        i += 1;
        let hi = if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&h| h != ']') {
            i += 1;
            let h = p[i];
            let h = if h == '\\' {
                i += 1;
                *p.get(i)?
            } else {
                h
            };
            i += 1;
            h
        } else {
            lo
        };
        if lo <= c && c <= hi {
            matched = true;
        }
    }
    Some((matched != negated, i))
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn as_go_matches() {
        for (p, n, want) in [
            ("*", "myregistry", true),
            ("*", "", true),
            ("prefix", "prefix", true),
            ("*-good", "prefix-good", true),
            ("*-good", "prefix-bad", false),
            ("reg?", "reg1", true),
            ("reg?", "reg", false),
            ("[a-c]x", "bx", true),
            ("[^a-c]x", "bx", false),
            ("[^a-c]x", "dx", true),
            ("a\\*", "a*", true),
            ("a\\*", "ab", false),
            ("Azurecr", "azurecr", false),
            ("[", "a", false),
            ("a[", "a", false),
        ] {
            assert_eq!(matches(p, n), want, "{p} vs {n}");
        }
    }
}
