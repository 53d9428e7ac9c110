//! `Content-Range` on upload PATCH and `Range` on blob GET.

/// An inclusive byte range `start-end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// Last byte, inclusive.
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes covered.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Never true: a range covers at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses an upload `Content-Range: <start>-<end>` (the spec's form; a `bytes ` prefix and a
/// `/total` suffix, sent by some clients, are accepted too). `None` if malformed or end < start.
pub fn parse_content_range(v: &str) -> Option<ByteRange> {
    let v = v.trim();
    let v = v.strip_prefix("bytes ").unwrap_or(v);
    let v = v.split_once('/').map_or(v, |(r, _)| r);
    let (a, b) = v.split_once('-')?;
    let (start, end) = (number(a)?, number(b)?);
    (end >= start).then_some(ByteRange { start, end })
}

/// Outcome of a `Range` header against a blob of known size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// Serve everything (no header, or one Berth ignores as RFC 9110 allows).
    Full,
    /// Serve this part with 206.
    Partial(ByteRange),
    /// 416: the range starts beyond the end.
    Unsatisfiable,
}

/// Interprets `Range: bytes=a-b | a- | -n` for a blob of `size` bytes. Multiple ranges
/// and other units are ignored (full body), as RFC 9110 permits.
pub fn parse_range(v: &str, size: u64) -> RangeRequest {
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    match (a.is_empty(), b.is_empty()) {
        (true, false) => match number(b) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(n) if size > 0 => RangeRequest::Partial(ByteRange { start: size.saturating_sub(n), end: size - 1 }),
            Some(_) => RangeRequest::Unsatisfiable,
            None => RangeRequest::Full,
        },
        (false, _) => {
            let Some(start) = number(a) else { return RangeRequest::Full };
            let end = if b.is_empty() { Some(u64::MAX) } else { number(b) };
            match end {
                None => RangeRequest::Full,
                Some(end) if end < start => RangeRequest::Full,
                Some(_) if start >= size => RangeRequest::Unsatisfiable,
                Some(end) => RangeRequest::Partial(ByteRange { start, end: end.min(size - 1) }),
            }
        }
        (true, true) => RangeRequest::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn content_range() {
        assert_eq!(parse_content_range("0-9"), Some(ByteRange { start: 0, end: 9 }));
        assert_eq!(parse_content_range("bytes 10-19/100"), Some(ByteRange { start: 10, end: 19 }));
        for bad in ["", "5", "9-0", "-1", "a-b", "1-", "+1-2"] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn range() {
        let p = |s, e| RangeRequest::Partial(ByteRange { start: s, end: e });
        assert_eq!(parse_range("bytes=0-9", 100), p(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), p(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), p(90, 99));
        assert_eq!(parse_range("bytes=50-500", 100), p(50, 99));
        assert_eq!(parse_range("bytes=100-", 100), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeRequest::Full);
        assert_eq!(parse_range("items=0-1", 100), RangeRequest::Full);
        assert_eq!(parse_range("bytes=-0", 100), RangeRequest::Unsatisfiable);
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,40}", size in 0u64..1000) {
            let _ = parse_content_range(&s);
            if let RangeRequest::Partial(r) = parse_range(&s, size) {
                prop_assert!(r.start <= r.end && r.end < size);
            }
        }
    }
}
