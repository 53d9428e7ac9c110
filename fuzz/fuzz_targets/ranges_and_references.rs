//! `Range`, `Content-Range`, digests, names, tags and scopes never panic, and a partial range
//! always lies inside the blob.
#![no_main]
use berth_core::range::{RangeRequest, parse_content_range, parse_range};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, u64)| {
    let (s, size) = input;
    let _ = parse_content_range(s);
    if let RangeRequest::Partial(r) = parse_range(s, size) {
        assert!(r.start <= r.end && r.end < size);
    }
    let _ = berth_core::Digest::parse(s);
    let _ = berth_core::Reference::parse(s);
    let _ = berth_core::RepoName::parse(s);
    let _ = berth_core::access::Access::parse(s);
});
