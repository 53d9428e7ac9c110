//! `OciRoute::parse` never panics, and whatever it accepts renders back to itself.
#![no_main]
use berth_server::route::OciRoute;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|path: &str| {
    if let Ok(route) = OciRoute::parse(path) {
        assert_eq!(OciRoute::parse(&route.path()), Ok(route));
    }
});
