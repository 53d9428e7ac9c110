//! Go's `path/filepath.Match` for one host label: `*`, `?`, `[…]` classes with ranges and
//! `^` negation, `\` escapes; case-sensitive. A malformed pattern matches nothing, as the
//! kubelet treats the error `filepath.Match` returns.

/// Whether `name` matches the glob `pattern` (both without `/`).
///
/// Go's algorithm, not a backtracking one: the pattern is cut into chunks, each a run of
/// stars followed by literals, `?` and classes (so of fixed length), and each chunk is matched
/// where it first fits, the last one at the end of the name. That is exact for such chunks and
/// takes at most (pattern length) x (name length) steps; a backtracking matcher is
/// exponential in the number of stars, and patterns come from Secrets anyone may write.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go_match(&p, &n).unwrap_or(false)
}

/// Go's `filepath.Match`; `None` for a malformed pattern.
fn go_match(mut pattern: &[char], mut name: &[char]) -> Option<bool> {
    'chunks: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing star takes the rest (host labels hold no separator).
            return Some(true);
        }
        if let Some(t) = match_chunk(chunk, name)?
            && (t.is_empty() || !pattern.is_empty())
        {
            name = t;
            continue;
        }
        if star {
            for skip in 1..=name.len() {
                if let Some(t) = match_chunk(chunk, &name[skip..])? {
                    // The last chunk must end the name.
                    if pattern.is_empty() && !t.is_empty() {
                        continue;
                    }
                    name = t;
                    continue 'chunks;
                }
            }
        }
        // No match; Go still reports a malformed remainder as an error.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, &[])?;
        }
        return Some(false);
    }
    Some(name.is_empty())
}

/// Splits off the leading stars and the chunk up to the next star outside a class.
fn scan_chunk(p: &[char]) -> (bool, &[char], &[char]) {
    let stars = p.iter().take_while(|&&c| c == '*').count();
    let p = &p[stars..];
    let (mut i, mut in_class) = (0, false);
    while i < p.len() {
        match p[i] {
            '\\' if i + 1 < p.len() => i += 1,
            '[' => in_class = true,
            ']' => in_class = false,
            '*' if !in_class => break,
            _ => {}
        }
        i += 1;
    }
    (stars > 0, &p[..i], &p[i..])
}

/// Matches `chunk` at the start of `s`: `Some(rest of s)`, `None` on a mismatch, or an error
/// (outer `None`) for a malformed chunk, which is parsed to its end even after a mismatch.
fn match_chunk<'a>(chunk: &[char], mut s: &'a [char]) -> Option<Option<&'a [char]>> {
    let mut failed = false;
    let mut i = 0;
    while i < chunk.len() {
        failed |= s.is_empty();
        match chunk[i] {
            '[' => {
                let (matched, used) = class(&chunk[i + 1..], s.first().copied().unwrap_or('\0'))?;
                failed |= !matched;
                if !s.is_empty() {
                    s = &s[1..];
                }
                i += 1 + used;
            }
            '?' => {
                if !s.is_empty() {
                    s = &s[1..];
                }
                i += 1;
            }
            c => {
                let literal = if c == '\\' {
                    i += 1;
                    *chunk.get(i)?
                } else {
                    c
                };
                if !failed {
                    failed = s[0] != literal;
                    s = &s[1..];
                }
                i += 1;
            }
        }
    }
    Some(if failed { None } else { Some(s) })
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
        let hi = if p.get(i) == Some(&'-') {
            // As Go's getEsc: a range's end is neither missing nor `-` nor `]`.
            i += 1;
            let h = match *p.get(i)? {
                '-' | ']' => return None,
                '\\' => {
                    i += 1;
                    *p.get(i)?
                }
                h => h,
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
    use super::{class, matches};
    use proptest::prelude::*;

    /// The obvious backtracking matcher (exponential in stars): the reference for short inputs.
    fn backtracking(p: &[char], n: &[char]) -> Option<bool> {
        match p.first() {
            None => Some(n.is_empty()),
            Some('*') => {
                for skip in 0..=n.len() {
                    if backtracking(&p[1..], &n[skip..])? {
                        return Some(true);
                    }
                }
                Some(false)
            }
            Some(_) if n.is_empty() => Some(false),
            Some('?') => backtracking(&p[1..], &n[1..]),
            Some('[') => {
                let (matched, used) = class(&p[1..], n[0])?;
                if matched { backtracking(&p[1 + used..], &n[1..]) } else { Some(false) }
            }
            Some('\\') => {
                let c = *p.get(1)?;
                if c == n[0] { backtracking(&p[2..], &n[1..]) } else { Some(false) }
            }
            Some(&c) => {
                if c == n[0] {
                    backtracking(&p[1..], &n[1..])
                } else {
                    Some(false)
                }
            }
        }
    }

    proptest! {
        /// On well-formed patterns Go's chunk matcher answers as backtracking does.
        #[test]
        fn same_as_backtracking(p in "[ab*?]{0,8}|[ab*]{0,3}\\[a-b\\][ab*?]{0,3}", n in "[ab]{0,7}") {
            let (pc, nc): (Vec<char>, Vec<char>) = (p.chars().collect(), n.chars().collect());
            prop_assert_eq!(matches(&p, &n), backtracking(&pc, &nc).unwrap_or(false), "{} vs {}", p, n);
        }
    }

    #[test]
    fn many_stars_take_no_time_to_refuse() {
        let pattern = "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        assert!(!matches(pattern, &"a".repeat(60)));
        assert!(matches(pattern, &format!("{}b", "a".repeat(60))));
    }

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
            ("[^a--]", "x", false),
            ("[a-]", "a", false),
            ("*b*", "abc", true),
            ("a*b*c", "abxbc", true),
            ("a*b*c", "abxbcx", false),
        ] {
            assert_eq!(matches(p, n), want, "{p} vs {n}");
        }
    }
}
