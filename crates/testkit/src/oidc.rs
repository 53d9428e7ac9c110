//! [`OidcIssuer`]: a real OIDC issuer on loopback for tests: its own ES256 and RS256 keys, a
//! discovery document and a JWKS over HTTP, tokens minted for any claims (and, for attacks,
//! any header and signature), with counters of what it was asked.
//!
//! The RS256 key is a fixed test-only key (`fixtures/oidc-test-only-rsa2048.pk8`, made with
//! `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -outform DER`, then
//! `openssl pkcs8 -topk8 -nocrypt -inform DER -outform DER`): `ring`
//! cannot generate RSA keys. It protects nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

const RSA_TEST_KEY: &[u8] = include_bytes!("../fixtures/oidc-test-only-rsa2048.pk8");
const RSA_KID: &str = "test-rs256";

/// How [`OidcIssuer::mint_with`] signs.
pub enum Signer {
    /// With the issuer's current ES256 key.
    Es256,
    /// With the issuer's RS256 key.
    Rs256,
    /// HMAC-SHA256 keyed with these bytes (an attacker using a public key as the secret).
    Hs256(Vec<u8>),
    /// No signature at all (`alg: none`).
    Empty,
    /// With a fresh ES256 key the issuer never published.
    Foreign,
}

struct Ec {
    kid: String,
    pair: EcdsaKeyPair,
}

struct State {
    issuer: String,
    ec: Mutex<Ec>,
    rsa: RsaKeyPair,
    jwks_fetches: AtomicU64,
    discovery_fetches: AtomicU64,
    fail_jwks: AtomicBool,
}

/// A test issuer; stops when dropped.
pub struct OidcIssuer {
    state: Arc<State>,
    runtime: Option<tokio::runtime::Runtime>,
}

fn new_ec(n: u32) -> Ec {
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("an ES256 key");
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("the ES256 key");
    Ec { kid: format!("test-es256-{n}"), pair }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl State {
    fn jwks(&self) -> Value {
        let ec = self.ec.lock().unwrap_or_else(|p| p.into_inner());
        let point = ec.pair.public_key().as_ref();
        let rsa = signature::RsaPublicKeyComponents::<Vec<u8>>::from(self.rsa.public());
        json!({ "keys": [
            { "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": ec.kid,
              "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]) },
            { "kty": "RSA", "use": "sig", "alg": "RS256", "kid": RSA_KID,
              "n": URL_SAFE_NO_PAD.encode(&rsa.n), "e": URL_SAFE_NO_PAD.encode(&rsa.e) },
        ]})
    }
}

async fn handle(state: Arc<State>, req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let json_answer = |v: Value| {
        Response::builder()
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(v.to_string())))
            .expect("a response")
    };
    Ok(match req.uri().path() {
        "/.well-known/openid-configuration" => {
            state.discovery_fetches.fetch_add(1, Ordering::SeqCst);
            json_answer(json!({
                "issuer": state.issuer,
                "jwks_uri": format!("{}/jwks", state.issuer),
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            }))
        }
        "/jwks" => {
            state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
            if state.fail_jwks.load(Ordering::SeqCst) {
                let mut r = Response::new(Full::new(Bytes::from_static(b"unavailable")));
                *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                r
            } else {
                json_answer(state.jwks())
            }
        }
        _ => {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    })
}

impl OidcIssuer {
    /// Starts serving on `127.0.0.1:0`, on a runtime of its own (so tests that block their
    /// thread, waiting for a process, still get answers from it).
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the issuer");
        let issuer = format!("http://{}", listener.local_addr().expect("its address"));
        listener.set_nonblocking(true).expect("non-blocking listener");
        let rsa = RsaKeyPair::from_pkcs8(RSA_TEST_KEY).expect("the test RSA key");
        let state = Arc::new(State {
            issuer,
            ec: Mutex::new(new_ec(1)),
            rsa,
            jwks_fetches: AtomicU64::new(0),
            discovery_fetches: AtomicU64::new(0),
            fail_jwks: AtomicBool::new(false),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("the issuer's runtime");
        let serving = state.clone();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            while let Ok((conn, _)) = listener.accept().await {
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(state.clone(), req));
                    let io = hyper_util::rt::TokioIo::new(conn);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        OidcIssuer { state, runtime: Some(runtime) }
    }

    /// Its URL (`iss` of its tokens), `http://127.0.0.1:PORT`.
    pub fn issuer(&self) -> String {
        self.state.issuer.clone()
    }

    /// Its key set as JSON, for a `jwks_files` configuration.
    pub fn jwks_json(&self) -> String {
        self.state.jwks().to_string()
    }

    /// How many times its JWKS was asked for.
    pub fn jwks_fetches(&self) -> u64 {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// How many times its discovery document was asked for.
    pub fn discovery_fetches(&self) -> u64 {
        self.state.discovery_fetches.load(Ordering::SeqCst)
    }

    /// From now on the JWKS answers 503 (`true`) or its keys again (`false`).
    pub fn fail_jwks(&self, fail: bool) {
        self.state.fail_jwks.store(fail, Ordering::SeqCst);
    }

    /// Replaces the ES256 key with a new one (new `kid`); the old one is gone from the JWKS.
    pub fn rotate(&self) {
        let mut ec = self.state.ec.lock().unwrap_or_else(|p| p.into_inner());
        let n = ec.kid.rsplit('-').next().and_then(|n| n.parse::<u32>().ok()).unwrap_or(1);
        *ec = new_ec(n + 1);
    }

    /// A token for `claims`, ES256 with the current key.
    pub fn mint(&self, claims: Value) -> String {
        let kid = self.state.ec.lock().unwrap_or_else(|p| p.into_inner()).kid.clone();
        self.mint_with(json!({ "alg": "ES256", "typ": "JWT", "kid": kid }), claims, Signer::Es256)
    }

    /// A token for `claims`, RS256.
    pub fn mint_rs256(&self, claims: Value) -> String {
        self.mint_with(json!({ "alg": "RS256", "typ": "JWT", "kid": RSA_KID }), claims, Signer::Rs256)
    }

    /// A token with exactly `header` and `claims`, signed as `signer` says (for attacks).
    pub fn mint_with(&self, header: Value, claims: Value, signer: Signer) -> String {
        let signed =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let rng = SystemRandom::new();
        let sig: Vec<u8> = match signer {
            Signer::Es256 => {
                let ec = self.state.ec.lock().unwrap_or_else(|p| p.into_inner());
                ec.pair.sign(&rng, signed.as_bytes()).expect("sign").as_ref().to_vec()
            }
            Signer::Rs256 => {
                let mut sig = vec![0; self.state.rsa.public().modulus_len()];
                self.state.rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, signed.as_bytes(), &mut sig).expect("sign");
                sig
            }
            Signer::Hs256(key) => {
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
                ring::hmac::sign(&key, signed.as_bytes()).as_ref().to_vec()
            }
            Signer::Empty => Vec::new(),
            Signer::Foreign => new_ec(0).pair.sign(&rng, signed.as_bytes()).expect("sign").as_ref().to_vec(),
        };
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    /// The RS256 key's public part, DER (`RSAPublicKey`): the secret of an HMAC-confusion attack.
    pub fn rsa_public_der(&self) -> Vec<u8> {
        self.state.rsa.public().as_ref().to_vec()
    }

    /// Claims shaped as a Kubernetes service-account token for `namespace`/`service_account`,
    /// audience `audience`, living `lifetime_secs`.
    pub fn k8s_claims(&self, namespace: &str, service_account: &str, audience: &str, lifetime_secs: i64) -> Value {
        let t = now();
        json!({
            "iss": self.issuer(), "sub": format!("system:serviceaccount:{namespace}:{service_account}"),
            "aud": [audience], "iat": t, "nbf": t, "exp": t + lifetime_secs,
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": { "name": service_account, "uid": "0b9f0c7e-8f4e-4a57-9d0e-3c1c2f1b5a10" },
                "pod": { "name": format!("{service_account}-pod"), "uid": "6d7b1f9a-1c2d-4e3f-8a9b-0c1d2e3f4a5b" },
            },
        })
    }

    /// Claims shaped as a GitHub Actions OIDC token for `repo` (`org/name`) at `git_ref`
    /// (`refs/heads/main`), audience `audience`, living 5 minutes.
    pub fn github_claims(&self, repo: &str, git_ref: &str, audience: &str) -> Value {
        let t = now();
        json!({
            "iss": self.issuer(), "sub": format!("repo:{repo}:ref:{git_ref}"), "aud": audience,
            "iat": t, "nbf": t, "exp": t + 300, "repository": repo, "ref": git_ref,
            "jti": format!("{t}-{repo}"), "event_name": "push",
        })
    }
}

impl Drop for OidcIssuer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
