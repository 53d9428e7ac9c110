//! Which scheme to speak to a registry: HTTPS, except that a loopback registry without TLS is
//! spoken to over plain HTTP, as docker treats `localhost` (it tries HTTPS first).

use crate::reference::ImageRef;
use reqwest::Client;
use std::time::Duration;

/// Whether `host` (`name[:port]`) is this machine.
pub fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(v6, |(a, _)| a),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name == "localhost" || name.starts_with("127.") || name == "::1"
}

/// Whether `e` or one of its causes says the server's certificate was not trusted (so the
/// server does speak TLS). Looks inside `io::Error`s, whose `source` skips what they wrap.
pub fn untrusted_certificate(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut pending = vec![e];
    while let Some(s) = pending.pop() {
        if matches!(
            s.downcast_ref::<rustls::Error>(),
            Some(
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::UnsupportedNameType
            )
        ) {
            return true;
        }
        if let Some(inner) = s.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            pending.push(inner);
        }
        pending.extend(s.source());
    }
    false
}

/// The API base (`https://host` or `http://host`) for `r`'s registry. Remote registries are
/// always HTTPS. A loopback registry is probed over HTTPS: one that answers, or whose
/// certificate is not trusted (so the caller's request fails and says so), is HTTPS; one
/// that does not speak TLS is plain HTTP.
pub async fn api_base(http: &Client, r: &ImageRef) -> String {
    host_base(http, r.api_host()).await
}

/// The API base for the registry API host `host` (`name[:port]`), probed as [`api_base`]
/// says.
pub async fn host_base(http: &Client, host: &str) -> String {
    if !is_loopback(host) {
        return format!("https://{host}");
    }
    let probe = http.get(format!("https://{host}/v2/")).timeout(Duration::from_secs(5)).send().await;
    match probe {
        Ok(_) => format!("https://{host}"),
        Err(e) if untrusted_certificate(&e) => format!("https://{host}"),
        Err(_) => format!("http://{host}"),
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "localhost:5000", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000", "[::1]"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["registry.example", "10.0.0.1:5000", "localhost.example:5000", "[fe80::1]:5000"] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
