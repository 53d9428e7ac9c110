//! What the server and the client read from headers never panics: `Authorization: Basic`
//! (server), `WWW-Authenticate` challenges and `Link` pages (client, from any registry), and
//! image references typed by users.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Some((user, password)) = berth_server::auth::basic_credentials(s) {
        assert!(!user.contains(':'), "the user name ends at the first colon");
        let _ = password;
    }
    if let Some(c) = berth_client::auth::Challenge::parse(s) {
        let _ = (c.realm, c.service, c.scope, c.error);
    }
    let _ = berth_client::registry::next_page(s);
    let _ = berth_client::reference::ImageRef::parse(s);
});
