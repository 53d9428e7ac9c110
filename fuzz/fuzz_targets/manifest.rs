//! Manifest parsing never panics, whatever the bytes and content type.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &[u8])| {
    let _ = berth_core::manifest::parse(input.0, input.1);
});
