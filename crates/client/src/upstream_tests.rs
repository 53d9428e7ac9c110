//! [`HttpUpstream`] against canned HTTP answers on loopback (one answer per connection, TLS
//! probes refused), and the body guard on its own.

use super::*;
use futures_util::stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REPO: &str = "library/app";

/// A loopback server answering each plain-HTTP request with `answer(request head)`; a TLS
/// probe is hung up on. Its `host:port`.
async fn canned(answer: fn(&str) -> String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                    if head[0] == 0x16 {
                        return;
                    }
                }
                let reply = answer(&String::from_utf8_lossy(&head));
                let _ = conn.write_all(reply.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    addr
}

fn reply(status: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut s = format!("HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.push_str(body);
    s
}

fn upstream(addr: &str, credentials: Option<(&str, &str)>) -> HttpUpstream {
    let login = UpstreamLogin {
        registry: RegistryHost::parse(addr).expect("host"),
        credentials: credentials.map(|(u, p)| (u.to_owned(), p.to_owned())),
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let timeouts = UpstreamTimeouts { request: Duration::from_secs(2), idle: Duration::from_secs(1) };
    HttpUpstream::new(Client::new(), &login, timeouts)
}

fn repo() -> RepoName {
    RepoName::parse(REPO).expect("name")
}

fn tag(t: &str) -> Reference {
    Reference::parse(t).expect("tag")
}

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#;

fn manifest_digest() -> Digest {
    Digest::of(Algorithm::Sha256, MANIFEST.as_bytes())
}

#[tokio::test]
async fn a_manifest_arrives_checked_with_its_media_type_from_the_body() {
    let addr = canned(|head| {
        assert!(head.contains(MANIFEST_ACCEPT), "the crate's Accept header: {head}");
        let digest = Digest::of(Algorithm::Sha256, MANIFEST.as_bytes()).to_string();
        reply("200 OK", &[("content-type", "text/plain"), ("docker-content-digest", &digest)], MANIFEST)
    })
    .await;
    let up = upstream(&addr, None);
    let m = up.manifest(&repo(), &tag("v1"), 4096).await.expect("manifest");
    assert_eq!(
        (m.digest, m.media_type.as_str(), &m.bytes[..]),
        (manifest_digest(), media::OCI_MANIFEST, MANIFEST.as_bytes())
    );
    let by_digest = up.manifest(&repo(), &Reference::Digest(manifest_digest()), 4096).await.expect("by digest");
    assert_eq!(by_digest.digest, manifest_digest());
    assert_eq!(up.base.get().map(String::as_str), Some(format!("http://{addr}").as_str()), "plain HTTP, probed once");
}

#[tokio::test]
async fn a_manifest_that_does_not_match_its_digest_or_is_too_large_is_refused() {
    let addr = canned(|_| {
        let wrong = Digest::of(Algorithm::Sha256, b"other").to_string();
        reply("200 OK", &[("content-type", media::OCI_MANIFEST), ("docker-content-digest", &wrong)], MANIFEST)
    })
    .await;
    let up = upstream(&addr, None);
    let e = up.manifest(&repo(), &tag("v1"), 4096).await.expect_err("the tag's digest header lies");
    assert!(matches!(&e, UpstreamError::Invalid(w) if w.contains("digest")), "{e:?}");
    let e = up.manifest(&repo(), &Reference::Digest(Digest::of(Algorithm::Sha256, b"x")), 4096).await.expect_err("");
    assert!(matches!(&e, UpstreamError::Invalid(_)), "{e:?}");
    let e = up.manifest(&repo(), &tag("v1"), 10).await.expect_err("past max_bytes");
    assert_eq!(e, UpstreamError::Invalid("a manifest larger than 10 bytes".into()));
}

#[tokio::test]
async fn head_answers_from_the_headers_and_needs_a_digest() {
    let addr = canned(|head| {
        if head.contains("/manifests/bare") {
            return reply("200 OK", &[("content-type", media::OCI_INDEX)], "");
        }
        let digest = Digest::of(Algorithm::Sha256, MANIFEST.as_bytes()).to_string();
        format!(
            "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: {}; charset=utf-8\r\ndocker-content-digest: {digest}\r\ncontent-length: {}\r\n\r\n",
            media::OCI_MANIFEST,
            MANIFEST.len()
        )
    })
    .await;
    let up = upstream(&addr, None);
    let h = up.head_manifest(&repo(), &tag("v1")).await.expect("head");
    assert_eq!(
        h,
        ManifestHead { digest: manifest_digest(), media_type: media::OCI_MANIFEST.into(), size: MANIFEST.len() as u64 }
    );
    let e = up.head_manifest(&repo(), &tag("bare")).await.expect_err("no digest");
    assert!(matches!(e, UpstreamError::Invalid(_)), "{e:?}");
    let e = up.head_manifest(&repo(), &Reference::Digest(Digest::of(Algorithm::Sha256, b"x"))).await.expect_err("");
    assert!(matches!(e, UpstreamError::Invalid(_)), "another digest than asked: {e:?}");
}

#[tokio::test]
async fn statuses_become_errors_with_the_upstreams_words_escaped() {
    let addr = canned(|head| match head.split_whitespace().nth(1).unwrap_or_default() {
        p if p.ends_with("/missing") => reply("404 Not Found", &[], r#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#),
        p if p.ends_with("/limited") => reply(
            "429 Too Many Requests",
            &[],
            "{\"errors\":[{\"code\":\"TOOMANYREQUESTS\",\"message\":\"slow\\u001b[2J down\"}]}",
        ),
        _ => reply("503 Service Unavailable", &[], "<html>down</html>"),
    })
    .await;
    let up = upstream(&addr, None);
    assert_eq!(up.manifest(&repo(), &tag("missing"), 4096).await, Err(UpstreamError::NotFound));
    let limited = up.head_manifest(&repo(), &tag("limited")).await.expect_err("429");
    assert!(matches!(&limited, UpstreamError::Status { status: 429, .. }) && limited.is_outage(), "{limited:?}");
    let limited = up.manifest(&repo(), &tag("limited"), 4096).await.expect_err("429");
    assert_eq!(limited, UpstreamError::Status { status: 429, detail: " (slow\\u{1b}[2J down)".into() });
    let down = up.blob(&repo(), &manifest_digest()).await.err().expect("503");
    assert_eq!(down, UpstreamError::Status { status: 503, detail: String::new() });
}

#[tokio::test]
async fn a_refused_login_names_no_credential() {
    let addr = canned(|_| reply("401 Unauthorized", &[("www-authenticate", r#"Basic realm="r""#)], "")).await;
    let up = upstream(&addr, Some(("user", "hunter2-secret")));
    let e = up.manifest(&repo(), &tag("v1"), 4096).await.expect_err("refused");
    assert_eq!(e, UpstreamError::Status { status: 401, detail: " (it refused the credentials)".into() });
    for shown in [format!("{e} {e:?}"), format!("{up:?}")] {
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}

#[tokio::test]
async fn nobody_listening_is_unreachable() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").to_string()
    };
    let e = upstream(&addr, None).manifest(&repo(), &tag("v1"), 4096).await.expect_err("nobody");
    assert!(matches!(&e, UpstreamError::Unreachable(w) if !w.contains(&addr)), "{e:?}");
}

async fn drain(mut s: ByteStream) -> Result<Vec<u8>, io::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static {
    stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p))).collect::<Vec<_>>())
}

#[tokio::test]
async fn a_blob_body_ends_with_an_error_never_short() {
    let idle = Duration::from_millis(200);
    assert_eq!(drain(guarded(chunks(&[b"ab", b"cd"]), idle, Some(4))).await.expect("whole"), b"abcd");
    assert_eq!(drain(guarded(chunks(&[b"ab"]), idle, None)).await.expect("no length told"), b"ab");
    let short = drain(guarded(chunks(&[b"ab"]), idle, Some(4))).await.expect_err("short");
    assert_eq!(short.kind(), io::ErrorKind::UnexpectedEof);
    let long = drain(guarded(chunks(&[b"abc", b"de"]), idle, Some(4))).await.expect_err("long");
    assert_eq!(long.kind(), io::ErrorKind::InvalidData);
    let silent = chunks(&[b"ab"]).chain(stream::pending());
    let started = std::time::Instant::now();
    let hung = drain(guarded(silent, idle, Some(4))).await.expect_err("silent");
    assert_eq!(hung.kind(), io::ErrorKind::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(2));
}
