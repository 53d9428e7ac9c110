//! `Endpoint::parse` never panics, whatever method, path and query a client sends, and the
//! query is validated there, not in the handlers.
#![no_main]
use berth_server::endpoint::Endpoint;
use berth_server::route::OciRoute;
use http::Method;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, &str, &str)| {
    let (m, path, query) = input;
    let methods = [Method::GET, Method::HEAD, Method::PUT, Method::POST, Method::PATCH, Method::DELETE, Method::OPTIONS];
    let method = &methods[usize::from(m) % methods.len()];
    if let Ok(route) = OciRoute::parse(path) {
        let _ = Endpoint::parse(method, route, Some(query));
    }
});
