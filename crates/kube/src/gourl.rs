//! Go's `net/url.Parse` and `net.SplitHostPort`, for the URLs the kubelet's keyring makes of
//! registry keys and image names (`"https://" + s`, `keyring.go: ParseSchemelessURL`): the
//! host (its userinfo dropped, `%XX` decoded) and the path (`%XX` decoded), or Go's error, in
//! which case the kubelet ignores the key. Follows current Go (1.25.2 and later): a `[` in the
//! host is only allowed to open an IPv6 literal (`[::1]:5000`).

use std::net::Ipv6Addr;

/// A URL as Go's parser splits it, as far as the keyring looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `Host`: host and `:port`, unescaped; an IPv6 literal keeps its brackets.
    pub host: String,
    /// `Path`: unescaped (bytes that are not UTF-8 become U+FFFD, as Go's `filepath.Match`
    /// reads them).
    pub path: String,
}

/// Go's parse error, in its words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UrlError(pub String);

/// What Go's `url.Parse(scheme + "://" + rest)` gives for an `http` or `https` scheme
/// (`url.go: Parse, parse, parseAuthority, parseHost, setPath, setFragment`): the fragment
/// (after the first `#`) must unescape; control characters before it are refused; the query
/// (after the first `?`) is dropped; the authority runs to the first `/`, and its userinfo (up
/// to the last `@`) must be valid and unescape, then is dropped; the path unescapes.
pub fn parse_after_scheme(rest: &str) -> Result<Url, UrlError> {
    let (u, fragment) = rest.split_once('#').map_or((rest, None), |(u, f)| (u, Some(f)));
    if u.bytes().any(|b| b < b' ' || b == 0x7f) {
        return Err(UrlError("net/url: invalid control character in URL".into()));
    }
    let u = u.split_once('?').map_or(u, |(before, _)| before);
    let (authority, path) = u.find('/').map_or((u, ""), |i| u.split_at(i));
    let host = parse_authority(authority)?;
    let path = String::from_utf8_lossy(&unescape(path, Mode::Path)?).into_owned();
    if let Some(f) = fragment {
        unescape(f, Mode::Fragment)?;
    }
    Ok(Url { host, path })
}

/// `parseAuthority`: the host after the last `@`, then the userinfo before it checked.
fn parse_authority(authority: &str) -> Result<String, UrlError> {
    let Some(at) = authority.rfind('@') else { return parse_host(authority) };
    let host = parse_host(&authority[at + 1..])?;
    let userinfo = &authority[..at];
    if !userinfo.chars().all(|c| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c)) {
        return Err(UrlError("net/url: invalid userinfo".into()));
    }
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    unescape(user, Mode::UserPassword)?;
    unescape(password, Mode::UserPassword)?;
    Ok(host)
}

/// `parseHost`: an IP literal when the host opens with `[` (a `[` anywhere else is refused),
/// which must hold an IPv6 address (not IPv4) and may be followed by `:port`; otherwise
/// what follows the last `:` must be digits; then the host unescapes in host mode.
fn parse_host(host: &str) -> Result<String, UrlError> {
    match host.rfind('[') {
        Some(0) => {}
        Some(_) => return Err(UrlError("invalid IP-literal".into())),
        None => {
            if let Some(i) = host.rfind(':') {
                valid_optional_port(&host[i..])?;
            }
            return Ok(String::from_utf8_lossy(&unescape(host, Mode::Host)?).into_owned());
        }
    }
    let close = host.rfind(']').ok_or_else(|| UrlError("missing ']' in host".into()))?;
    let colon_port = &host[close + 1..];
    valid_optional_port(colon_port)?;
    let literal = &host[1..close];
    let unescaped = match literal.find("%25") {
        Some(zone) => {
            let mut h = unescape(&literal[..zone], Mode::Host)?;
            h.extend(unescape(&literal[zone..], Mode::Zone)?);
            h
        }
        None => unescape(literal, Mode::Host)?,
    };
    let text = String::from_utf8_lossy(&unescaped).into_owned();
    if !is_ipv6(&text) {
        return Err(UrlError(format!("invalid host: {text:?} is not an IPv6 address")));
    }
    Ok(format!("[{text}]{colon_port}"))
}

/// `netip.ParseAddr(s)` gives an IPv6 address (`addr.Is4()` is refused by `parseHost`): an
/// address, optionally with a non-empty `%zone`.
fn is_ipv6(s: &str) -> bool {
    let (addr, zone) = s.split_once('%').map_or((s, None), |(a, z)| (a, Some(z)));
    zone != Some("") && addr.parse::<Ipv6Addr>().is_ok()
}

/// `validOptionalPort`: empty, or `:` followed by digits only (`:` alone included).
fn valid_optional_port(colon_port: &str) -> Result<(), UrlError> {
    let ok = colon_port.is_empty()
        || colon_port.strip_prefix(':').is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()));
    if ok { Ok(()) } else { Err(UrlError(format!("invalid port {colon_port:?} after host"))) }
}

/// The `encoding` modes of Go's `unescape` that the parser uses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Host,
    Zone,
    Path,
    UserPassword,
    Fragment,
}

/// `shouldEscape(c, encodeHost)` for ASCII `c`: what a host may not hold literally.
fn host_must_escape(c: u8) -> bool {
    !(c.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&c))
}

/// Go's `unescape`: every `%` must start `%XX`; in a host, `%XX` may only encode a non-ASCII
/// byte (or be `%25`), and ASCII bytes that need escaping are refused; in a zone, `%XX` may
/// encode anything a host may hold, a space, or `%`.
fn unescape(s: &str, mode: Mode) -> Result<Vec<u8>, UrlError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let escape =
                    || UrlError(format!("invalid URL escape {:?}", String::from_utf8_lossy(&b[i..b.len().min(i + 3)])));
                if i + 2 >= b.len() || !b[i + 1].is_ascii_hexdigit() || !b[i + 2].is_ascii_hexdigit() {
                    return Err(escape());
                }
                let v = u8::from_str_radix(&s[i + 1..i + 3], 16).expect("two hex digits");
                let is_percent = &s[i..i + 3] == "%25";
                if mode == Mode::Host && v < 0x80 && !is_percent {
                    return Err(escape());
                }
                if mode == Mode::Zone && !is_percent && v != b' ' && host_must_escape(v) {
                    return Err(escape());
                }
                out.push(v);
                i += 3;
            }
            c => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && host_must_escape(c) {
                    return Err(UrlError(format!("invalid character {:?} in host name", c as char)));
                }
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Go's `net.SplitHostPort`; `None` where it fails (no port, a misplaced bracket, a colon in
/// an unbracketed host).
pub fn split_host_port(hostport: &str) -> Option<(&str, &str)> {
    let i = hostport.rfind(':')?;
    let (host, j, k) = if hostport.starts_with('[') {
        let end = hostport.find(']')?;
        if end + 1 != i {
            return None;
        }
        (&hostport[1..end], 1, end + 1)
    } else {
        let host = &hostport[..i];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if hostport[j..].contains('[') || hostport[k..].contains(']') {
        return None;
    }
    Some((host, &hostport[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `url.Parse("https://" + s)`: Host and Path, or an error (then the kubelet ignores the key).
    #[test]
    fn parse_as_go() {
        for (s, want) in [
            ("r.example", Some(("r.example", ""))),
            ("r.example:5000/team/app", Some(("r.example:5000", "/team/app"))),
            ("user:pa%24s@r.example/x", Some(("r.example", "/x"))),
            ("u@v@r.example", Some(("r.example", ""))),
            ("r.example/a%2Fb%20c", Some(("r.example", "/a/b c"))),
            ("r.example/a b", Some(("r.example", "/a b"))),
            ("r.example/x?y=%zz#frag", Some(("r.example", "/x"))),
            ("r.example:", Some(("r.example:", ""))),
            ("a:b:80", Some(("a:b:80", ""))),
            ("a]b", Some(("a]b", ""))),
            ("caf%C3%A9.example", Some(("café.example", ""))),
            ("[::1]:5000/x", Some(("[::1]:5000", "/x"))),
            ("[fe80::1%25eth0]", Some(("[fe80::1%eth0]", ""))),
            ("[::ffff:1.2.3.4]", Some(("[::ffff:1.2.3.4]", ""))),
            ("", Some(("", ""))),
            ("r.example:abc", None),
            ("r.example/%zz", None),
            ("r.example/%4", None),
            ("r.example#%zz", None),
            ("r.example/a\tb", None),
            ("r.ex ample", None),
            ("r.ex%41mple", None),
            ("r.ex{ample", None),
            ("us er@r.example", None),
            ("u%zz@r.example", None),
            ("a[b.example", None),
            ("r.example[::1]", None),
            ("[1.2.3.4]:5000", None),
            ("[r.example]", None),
            ("[::1", None),
            ("[::1]x", None),
            ("[fe80::1%25]", None),
        ] {
            let got = parse_after_scheme(s);
            let got = got.as_ref().ok().map(|u| (u.host.as_str(), u.path.as_str()));
            assert_eq!(got, want, "{s:?}: {:?}", parse_after_scheme(s));
        }
    }

    #[test]
    fn split_host_port_as_go() {
        for (s, want) in [
            ("r.example:5000", Some(("r.example", "5000"))),
            ("r.example:", Some(("r.example", ""))),
            ("[::1]:5000", Some(("::1", "5000"))),
            ("r.example", None),
            ("[::1]", None),
            ("a:b:80", None),
            ("a]b:80", None),
            ("[::1]x:80", None),
        ] {
            assert_eq!(split_host_port(s), want, "{s}");
        }
    }
}
