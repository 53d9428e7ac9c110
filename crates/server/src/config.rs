//! The server's configuration: one typed `Config`, loaded in layers (defaults, then a TOML
//! file, then `BERTH__SECTION__KEY` environment variables, then command-line flags). Unknown
//! keys are errors, so a typo never silently falls back to a default.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything `berth serve` can be told.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Listening and data.
    pub server: ServerConfig,
    /// TLS.
    pub tls: TlsConfig,
    /// Limits that keep one client from exhausting the server.
    pub limits: LimitsConfig,
    /// Authentication.
    pub auth: AuthConfig,
    /// Where metadata and identities live.
    pub database: DatabaseConfig,
    /// Where blobs live.
    pub storage: StorageConfig,
    /// Garbage collection.
    pub gc: GcConfig,
    /// The audit log.
    pub audit: AuditConfig,
    /// The server's own log.
    pub log: LogConfig,
    /// The pull-through cache.
    pub cache: CacheConfig,
    /// Federated tokens (workload identity).
    pub federation: FederationConfig,
    /// The web UI.
    pub ui: UiConfig,
}

/// `[cache]`: the pull-through cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// A file (readable by its owner only) holding the key that encrypts credential-set
    /// passwords: 64 hex digits (`openssl rand -hex 32`). Replicas sharing a PostgreSQL
    /// database need the same file, and without one they have no pull-through cache. Default
    /// on SQLite: `credential.key` in the data directory, created on the first start.
    pub credential_key_file: Option<PathBuf>,
    /// Seconds a cached tag is served before it is compared with upstream again (one `HEAD`).
    pub revalidate_after_secs: u64,
    /// Seconds an upstream has to answer a manifest request or send a blob's headers; past
    /// them it is down, and a cached tag is served stale.
    pub upstream_timeout_secs: u64,
    /// Seconds an upstream may go silent within a blob's body before the fetch fails.
    pub upstream_idle_secs: u64,
    /// Seconds a fill lease lasts unless renewed: how long the others wait for a fetcher
    /// that died before one of them takes over.
    pub fill_lease_secs: u64,
    /// Where to send a registry's requests instead of its own API host, by registry name
    /// (`"docker.io" = "https://hub-proxy.internal"`).
    pub endpoints: std::collections::BTreeMap<String, String>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            credential_key_file: None,
            revalidate_after_secs: 300,
            upstream_timeout_secs: 20,
            upstream_idle_secs: 30,
            fill_lease_secs: 30,
            endpoints: Default::default(),
        }
    }
}

impl CacheConfig {
    /// Checks the times and the endpoints.
    fn validate(&self) -> Result<(), ConfigError> {
        let times =
            [self.revalidate_after_secs, self.upstream_timeout_secs, self.upstream_idle_secs, self.fill_lease_secs];
        if times.contains(&0) {
            return Err(ConfigError(
                "cache.revalidate_after_secs, upstream_timeout_secs, upstream_idle_secs and fill_lease_secs must be at \
                 least 1"
                    .into(),
            ));
        }
        for (registry, url) in &self.endpoints {
            berth_core::cache::RegistryHost::parse(registry)
                .map_err(|e| ConfigError(format!("cache.endpoints: {e}")))?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError(format!(
                    "cache.endpoints.{registry:?} = {url:?}: give a base URL, http://HOST[:PORT] or https://HOST[:PORT]"
                )));
            }
        }
        Ok(())
    }
}

/// `[log]`: how the server writes its log (to stderr). What is logged is chosen with the
/// `BERTH_LOG` filter (`info` by default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (default; coloured only when stderr is a terminal) or `json` (one object a line,
    /// for log collectors).
    pub format: LogFormat,
}

/// The log's line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line: `timestamp`, `level`, `target`, `fields` (with `message`).
    Json,
}

/// `[audit]`: how long the audit log keeps events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Days an audit event is kept (0: forever); older ones are deleted every hour.
    pub retention_days: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig { retention_days: 90 }
    }
}

/// `[gc]`: online garbage collection of blobs no manifest references (embedded default only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcConfig {
    /// Seconds between collections (0: only on request, `berth gc`).
    pub interval_secs: u64,
    /// Seconds a blob is kept after it was last linked into a repository, whatever references
    /// it: time for a client to push the manifest that uses it.
    pub grace_secs: u64,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig { interval_secs: 24 * 3600, grace_secs: 24 * 3600 }
    }
}

/// `[storage]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `fs` (the data directory, the default) or `s3`.
    pub kind: StorageKind,
    /// `[storage.s3]`, for `kind = "s3"`.
    pub s3: S3Config,
}

/// Which blob store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    /// Files under the data directory.
    #[default]
    Fs,
    /// An S3-compatible bucket.
    S3,
}

/// `[storage.s3]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// `http://host:port` for Garage or MinIO; empty for AWS.
    pub endpoint: String,
    /// The region the endpoint expects (`garage` for Garage).
    pub region: String,
    /// The bucket.
    pub bucket: String,
    /// Access key ID.
    pub access_key_id: String,
    /// Secret access key (or `secret_access_key_file`).
    pub secret_access_key: Option<String>,
    /// A file whose content (trimmed) is the secret access key.
    pub secret_access_key_file: Option<PathBuf>,
    /// Path-style addressing (`http://host/bucket/key`), as Garage and MinIO want.
    pub path_style: bool,
    /// Send blob GETs to a short-lived presigned URL (307) instead of streaming them.
    pub redirect: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: String::new(),
            region: "us-east-1".into(),
            bucket: String::new(),
            access_key_id: String::new(),
            secret_access_key: None,
            secret_access_key_file: None,
            path_style: true,
            redirect: false,
        }
    }
}

impl S3Config {
    /// The secret access key, from the file when one is named.
    pub fn secret(&self) -> Result<String, ConfigError> {
        match (&self.secret_access_key_file, &self.secret_access_key) {
            (Some(f), _) => std::fs::read_to_string(f).map(|s| s.trim().to_owned()).map_err(|e| {
                ConfigError(format!("cannot read storage.s3.secret_access_key_file {}: {e}", f.display()))
            }),
            (None, Some(s)) => Ok(s.clone()),
            (None, None) => Err(ConfigError("storage.s3 needs secret_access_key or secret_access_key_file".into())),
        }
    }
}

/// `[database]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB`; empty means
    /// `meta.db` in the data directory (the embedded default).
    pub url: String,
    /// Connections the PostgreSQL pool may hold open.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: String::new(), max_connections: 16 }
    }
}

impl DatabaseConfig {
    /// Whether the metadata lives in PostgreSQL (shared by replicas) rather than SQLite.
    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres://") || self.url.starts_with("postgresql://")
    }

    /// The URL with every secret in it replaced by `***`, for printing.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// Whether a URL query parameter named `key` carries a secret (`password`, `sslpassword`,
/// `secret_key`, `token`, …), compared case-insensitively.
fn is_secret_param(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "token", "passphrase"].iter().any(|s| key.contains(s))
}

/// `url` with the password of its user information and the value of every query parameter
/// that names a secret replaced by `***`; everything else is kept as written. Text that is not
/// a URL is returned unchanged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (rest, None),
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    // The authority ends at the first `/`; user information at its last `@`.
    let (authority, path) = before_query.split_at(before_query.find('/').unwrap_or(before_query.len()));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let mut out = format!("{scheme}://{authority}{path}");
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if form_urlencoded::parse(k.as_bytes()).any(|(k, _)| is_secret_param(&k)) => {
                    format!("{k}=***")
                }
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// `[auth]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of access tokens, in seconds (at least 60).
    pub access_token_ttl_secs: u64,
    /// Failed authentications allowed per (username, client address) per window; then
    /// failures are answered 429. The right credentials always pass.
    pub failed_auth_limit: u32,
    /// Failed authentications allowed per client address per window, whatever the username.
    pub failed_auth_limit_per_address: u32,
    /// The window of `failed_auth_limit`, in seconds.
    pub failed_auth_window_secs: u64,
    /// Seconds settings and accepted Basic credentials are trusted without asking the
    /// database; default 5 on SQLite, 0 on PostgreSQL (replicas see each other's changes at once).
    pub cache_secs: Option<u64>,
    /// A PEM file with the ECDSA P-256 key (PKCS#8, `BEGIN PRIVATE KEY`) that signs tokens;
    /// replicas given the same file accept each other's tokens. Default: a key kept in the database.
    pub signing_key_file: Option<PathBuf>,
    /// A file (readable by its owner only) holding the bootstrap Owner's password, at least 32
    /// characters (`openssl rand -base64 32`): every replica of a new deployment agrees on
    /// it, and none writes `bootstrap-credentials.json`. Default: a generated password,
    /// written there by the start that creates the Owner.
    pub bootstrap_password_file: Option<PathBuf>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            access_token_ttl_secs: 300,
            failed_auth_limit: 10,
            failed_auth_limit_per_address: 100,
            failed_auth_window_secs: 60,
            cache_secs: None,
            signing_key_file: None,
            bootstrap_password_file: None,
        }
    }
}

/// `[server]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where blobs (`blobs/`, `uploads/`) and metadata (`meta.db`) live.
    pub data_dir: PathBuf,
    /// The URL clients use, when it differs from the listen address (behind a proxy).
    pub public_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5000)),
            data_dir: PathBuf::from("berth-data"),
            public_url: None,
        }
    }
}

/// `[tls]`: off, certificate files, or a self-signed CA kept in the data directory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// `off` (default), `files` or `self-signed`.
    pub mode: TlsMode,
    /// PEM certificate chain (`files`).
    pub cert: Option<PathBuf>,
    /// PEM private key (`files`).
    pub key: Option<PathBuf>,
    /// Names the self-signed server certificate covers (`self-signed`).
    pub hostnames: Vec<String>,
}

/// How the listener speaks TLS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Plain HTTP.
    #[default]
    Off,
    /// Certificate and key from files.
    Files,
    /// A CA and server certificate created in `<data_dir>/tls` and kept across restarts.
    SelfSigned,
}

/// `[limits]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Connections served at once. When all are taken, the connection idle longest (no
    /// request in flight) is closed to make room for a new one; while none is idle, new
    /// connections wait in the listen backlog.
    pub max_connections: usize,
    /// Connections one client address (IPv6: one /64 prefix) may hold at once; one more is
    /// closed at once, without a response. Behind a reverse proxy or load balancer that
    /// connects from its own address, every client shares that address: raise this to
    /// `max_connections` there.
    pub max_connections_per_address: usize,
    /// Seconds a client has to send complete request headers.
    pub header_timeout_secs: u64,
    /// Window over which a request body's rate is measured, in seconds.
    pub body_rate_window_secs: u64,
    /// Bytes a request body must deliver per window.
    pub body_min_bytes_per_window: u64,
    /// Largest manifest accepted, in bytes.
    pub max_manifest_bytes: usize,
    /// Seconds in-flight requests get to finish after SIGTERM or SIGINT.
    pub shutdown_grace_secs: u64,
    /// Seconds an upload may sit without a new chunk before it is dropped with its bytes
    /// (0: never).
    pub upload_expiry_secs: u64,
    /// Upload sessions one principal (or token, or the admin user) may hold open at once; one
    /// more is refused with 429 until one is finished, cancelled or expired.
    pub max_uploads_per_principal: u32,
    /// Upload sessions one repository may hold open at once, whoever opened them.
    pub max_uploads_per_repository: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_connections: 1024,
            max_connections_per_address: 128,
            header_timeout_secs: 30,
            body_rate_window_secs: 30,
            body_min_bytes_per_window: 16 * 1024,
            max_manifest_bytes: berth_core::manifest::MAX_MANIFEST_BYTES,
            shutdown_grace_secs: 30,
            upload_expiry_secs: 24 * 3600,
            max_uploads_per_principal: 200,
            max_uploads_per_repository: 1000,
        }
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl Config {
    /// Whether this server keeps data in its data directory (blobs on the filesystem, or
    /// metadata in SQLite). A replica on PostgreSQL + S3 keeps none: it needs no data directory,
    /// and takes no lock on one, unless it writes a self-signed certificate or the bootstrap
    /// credentials there.
    pub fn keeps_local_data(&self) -> bool {
        self.storage.kind == StorageKind::Fs || !self.database.is_postgres()
    }

    /// Loads defaults, then `file` (if given), then `BERTH__*` variables, then `overrides`
    /// (flags, as a partial TOML-shaped value), and validates the result.
    pub fn load(file: Option<&Path>, overrides: impl Serialize) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError(format!("configuration file {} does not exist", file.display())));
            }
            figment = figment.merge(Toml::file(file));
        }
        let config: Config = figment
            .merge(Env::prefixed("BERTH__").split("__"))
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| ConfigError(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |s: &str| Err(ConfigError(s.into()));
        match self.tls.mode {
            TlsMode::Files if self.tls.cert.is_none() || self.tls.key.is_none() => {
                return fail("tls.mode = \"files\" needs both tls.cert and tls.key (--tls-cert, --tls-key)");
            }
            TlsMode::SelfSigned if self.tls.hostnames.is_empty() => {
                return fail("tls.mode = \"self-signed\" needs at least one hostname (--hostname)");
            }
            _ => {}
        }
        if self.auth.access_token_ttl_secs < 60 {
            return fail("auth.access_token_ttl_secs must be at least 60 (clients treat shorter tokens as 60 s)");
        }
        let url = &self.database.url;
        if !(url.is_empty()
            || url.starts_with("sqlite://")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return fail("database.url is sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DB");
        }
        if self.storage.kind == StorageKind::S3 {
            let s3 = &self.storage.s3;
            if s3.bucket.is_empty() || s3.access_key_id.is_empty() {
                return fail("storage.kind = \"s3\" needs storage.s3.bucket and storage.s3.access_key_id");
            }
            if s3.secret_access_key.is_none() && s3.secret_access_key_file.is_none() {
                return fail("storage.s3 needs secret_access_key or secret_access_key_file");
            }
        }
        if self.database.max_connections == 0 {
            return fail("database.max_connections must be at least 1");
        }
        if self.limits.max_connections == 0 || self.limits.max_connections_per_address == 0 {
            return fail("limits.max_connections and limits.max_connections_per_address must be at least 1");
        }
        if self.limits.body_rate_window_secs == 0 || self.limits.header_timeout_secs == 0 {
            return fail("limits.body_rate_window_secs and limits.header_timeout_secs must be at least 1");
        }
        if self.limits.max_uploads_per_principal == 0 || self.limits.max_uploads_per_repository == 0 {
            return fail("limits.max_uploads_per_principal and limits.max_uploads_per_repository must be at least 1");
        }
        self.cache.validate()?;
        self.federation.validate()?;
        self.ui.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_are_checked_and_printed_without_passwords() {
        let mut c = Config::default();
        c.database.url = "postgres://berth:s3cret@db:5432/berth".into();
        assert!(c.validate().is_ok());
        assert_eq!(c.database.redacted_url(), "postgres://berth:***@db:5432/berth");
        c.database.url = "sqlite:///var/lib/berth/meta.db".into();
        assert_eq!(c.database.redacted_url(), c.database.url);
        c.database.url = "mysql://x@y/z".into();
        assert!(c.validate().is_err());
    }

    #[test]
    fn every_secret_in_a_url_is_masked() {
        for (url, shown) in [
            ("postgres://berth@db/berth?password=s3cret", "postgres://berth@db/berth?password=***"),
            (
                "postgresql://u:p%40ss@db:5432/b?sslmode=require&PassWord=s3cret&sslpassword=k3y",
                "postgresql://u:***@db:5432/b?sslmode=require&PassWord=***&sslpassword=***",
            ),
            ("postgres://u:a@b@db/x?%70assword=s3cret#frag", "postgres://u:***@db/x?%70assword=***#frag"),
            ("postgres://db/x?application_name=berth", "postgres://db/x?application_name=berth"),
            ("sqlite:///data/meta.db", "sqlite:///data/meta.db"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn upload_caps_are_at_least_one() {
        let mut c = Config::default();
        assert_eq!((c.limits.max_uploads_per_principal, c.limits.max_uploads_per_repository), (200, 1000));
        c.limits.max_uploads_per_repository = 0;
        assert!(c.validate().unwrap_err().to_string().contains("max_uploads_per_repository"));
        c.limits.max_uploads_per_repository = 1;
        c.limits.max_uploads_per_principal = 0;
        assert!(c.validate().is_err());
    }

    #[test]
    fn cache_times_are_at_least_one_and_endpoints_are_urls() {
        let mut c = Config::default();
        c.cache.endpoints.insert("docker.io".into(), "http://127.0.0.1:5001".into());
        assert!(c.validate().is_ok());
        c.cache.fill_lease_secs = 0;
        assert!(c.validate().unwrap_err().to_string().contains("fill_lease_secs"));
        c.cache.fill_lease_secs = 1;
        c.cache.endpoints.insert("ghcr.io".into(), "ghcr-proxy:80".into());
        assert!(c.validate().unwrap_err().to_string().contains("give a base URL"));
        c.cache.endpoints.clear();
        c.cache.endpoints.insert("https://quay.io".into(), "https://q".into());
        assert!(c.validate().unwrap_err().to_string().contains("without a scheme"));
    }

    #[test]
    fn every_connection_limit_is_at_least_one() {
        let mut c = Config::default();
        assert!(c.limits.max_connections_per_address < c.limits.max_connections);
        c.limits.max_connections_per_address = 0;
        assert!(c.validate().is_err());
        c.limits.max_connections_per_address = 1;
        c.limits.max_connections = 0;
        assert!(c.validate().is_err());
    }
}

#[path = "config_federation.rs"]
mod federation;
pub use federation::FederationConfig;

#[path = "config_ui.rs"]
mod ui;
pub use ui::UiConfig;
