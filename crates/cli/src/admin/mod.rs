//! The admin commands, one module each: [`sp`] and its [`federation`] credentials, [`role`]
//! assignments, registry [`settings`], [`repository`], [`tokens`] and scope maps, the
//! pull-through [`cache`]'s rules and credential sets, [`maintenance`] (gc, purge, audit) and
//! [`login`]/logout. They are clients of the server's admin API and listings, authenticated
//! with the credentials `berth login` stored.

pub mod cache;
pub mod federation;
pub mod import;
pub mod login;
pub mod maintenance;
pub mod repository;
pub mod role;
pub mod settings;
pub mod sp;
pub mod tokens;

use anyhow::{Context, Result, bail};
use berth_client::oci_error::Refusal;
use berth_client::registry::next_page;
use clap::Args;
use reqwest::{Client, Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Where admin commands go.
#[derive(Args, Clone, Debug)]
pub struct RegistryArg {
    /// Registry URL (default: the server of the last `berth login`).
    #[arg(long)]
    pub registry: Option<String>,
}

/// A single-threaded runtime for one command's requests.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// A password read from standard input, without its final line break.
pub fn read_password_stdin() -> Result<String> {
    use std::io::Read;
    let mut p = String::new();
    std::io::stdin().read_to_string(&mut p).context("cannot read the password from standard input")?;
    Ok(p.trim_end_matches(['\n', '\r']).to_owned())
}

/// Percent-encodes a path segment or query value.
pub fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Sends one admin API request to `registry` with the stored credentials; the JSON answer.
pub fn call(registry: &RegistryArg, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
    let admin = Admin::connect(registry.registry.as_deref())?;
    runtime()?.block_on(admin.call(method, path, body))
}

/// Sends one admin API request with the typed `body`; the answer read as `R` (the admin API's
/// own shape, [`berth_core::admin_api`]).
pub fn call_as<R: DeserializeOwned>(
    registry: &RegistryArg,
    method: Method,
    path: &str,
    body: Option<&impl Serialize>,
) -> Result<R> {
    let body = body.map(serde_json::to_value).transpose()?;
    let answer = call(registry, method, path, body)?;
    serde_json::from_value(answer).context("the registry answered with something other than the admin API's JSON")
}

/// [`call_as`], then prints the answer as `out` asks, through `serde_json::Value` as the server
/// writes it.
pub fn show<R: DeserializeOwned + Serialize>(
    registry: &RegistryArg,
    method: Method,
    path: &str,
    body: Option<&impl Serialize>,
    out: &crate::output::OutputArgs,
) -> Result<()> {
    let answer: R = call_as(registry, method, path, body)?;
    crate::output::print(&serde_json::to_value(answer)?, out)
}

/// No request body, for [`call_as`] and [`show`].
pub const NO_BODY: Option<&()> = None;

/// An authenticated connection to one registry's admin API.
pub struct Admin {
    base: String,
    user: String,
    password: String,
    client: Client,
}

/// A client with the platform's roots, over the ring provider rustls already uses.
pub fn http_client() -> Result<Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(Client::builder().build()?)
}

impl Admin {
    /// Connects to `registry` (or the last login server) with the stored credentials.
    pub fn connect(registry: Option<&str>) -> Result<Self> {
        let url = match registry {
            Some(r) => r.to_owned(),
            None => crate::login::remembered()?
                .context("no registry: run `berth login SERVER` first or pass --registry URL")?,
        };
        let (host, urls) = crate::login::server_urls(&url);
        let base = if url.contains("://") { url.trim_end_matches('/').to_owned() } else { urls[0].clone() };
        let (user, password) = crate::login::credentials(&host)?.with_context(|| {
            format!("no credentials for {host}: run `berth login {host} -u APPID --password-stdin`")
        })?;
        Ok(Admin { base, user, password, client: http_client()? })
    }

    /// The same connection, also trusting the PEM CA certificate `ca` (Berth's self-signed
    /// `<data dir>/tls/ca.pem`) besides the platform's roots.
    pub fn trusting(self, ca: &str) -> Result<Self> {
        let cert = reqwest::Certificate::from_pem(ca.as_bytes()).context("the CA file is not a PEM certificate")?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        Ok(Admin { client: Client::builder().add_root_certificate(cert).build()?, ..self })
    }

    /// Sends a request to `/admin/v1/{path}`; the JSON answer, or a sentence on refusal.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}/admin/v1/{path}", self.base);
        let mut req = self.client.request(method, &url).basic_auth(&self.user, Some(&self.password));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.with_context(|| format!("cannot reach {}", self.base))?;
        match r.status() {
            StatusCode::NO_CONTENT => Ok(Value::Null),
            s if s.is_success() => Ok(r.json().await?),
            StatusCode::UNAUTHORIZED => {
                bail!(
                    "{}: the stored credentials are not accepted, or do not hold the Owner role",
                    Refusal::read(r).await.words()
                )
            }
            _ => bail!("{}", Refusal::read(r).await.words()),
        }
    }

    /// Sends `method` to `{path}` under the registry's base URL (`/v2/…` or `/acr/v1/…`) with
    /// the stored credentials and `accept`; the answer if it succeeded, else a sentence.
    pub async fn registry(&self, method: Method, path: &str, accept: &str) -> Result<reqwest::Response> {
        let req = self.client.request(method, format!("{}{path}", self.base));
        self.checked(req.header(reqwest::header::ACCEPT, accept)).await
    }

    /// The same with an optional JSON body, accepting JSON.
    pub async fn registry_json(&self, method: Method, path: &str, body: Option<Value>) -> Result<reqwest::Response> {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.checked(req.header(reqwest::header::ACCEPT, "application/json")).await
    }

    async fn checked(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let r = req.basic_auth(&self.user, Some(&self.password)).send().await;
        let r = r.with_context(|| format!("cannot reach {}", self.base))?;
        match r.status() {
            s if s.is_success() => Ok(r),
            StatusCode::UNAUTHORIZED => {
                bail!("{}: the stored credentials do not allow this", Refusal::read(r).await.words())
            }
            _ => bail!("{}", Refusal::read(r).await.words()),
        }
    }

    /// GETs `/v2/{path}` and every further page its `Link` headers name; the items of the
    /// array `key` of each page, in order.
    pub async fn list(&self, path: &str, key: &str) -> Result<Vec<Value>> {
        let mut url = format!("{}/v2/{path}", self.base);
        let mut items = Vec::new();
        loop {
            let r = self.client.get(&url).basic_auth(&self.user, Some(&self.password)).send().await;
            let r = r.with_context(|| format!("cannot reach {}", self.base))?;
            match r.status() {
                s if s.is_success() => {}
                StatusCode::UNAUTHORIZED => {
                    bail!("{}: the stored credentials are not accepted", Refusal::read(r).await.words())
                }
                _ => bail!("{}", Refusal::read(r).await.words()),
            }
            let next = r.headers().get(reqwest::header::LINK).and_then(|l| l.to_str().ok()).and_then(next_page);
            let page: Value = r.json().await.context("the registry answered with something other than JSON")?;
            items.extend(page[key].as_array().cloned().unwrap_or_default());
            match next {
                Some(next) if next.starts_with('/') => url = format!("{}{next}", self.base),
                Some(next) => url = next,
                None => return Ok(items),
            }
        }
    }
}
