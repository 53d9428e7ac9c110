//! `berth serve` and `berth fsck`: open the embedded stores and run.

use crate::ConfigArgs;
use anyhow::{Context, Result};
use berth_core::{BlobStore, IdentityStore, MetadataStore, UploadCaps};
use berth_meta::{PgMeta, SqliteMeta};
use berth_registry::auth::{AuthService, Bootstrap, NewSecret};
use berth_registry::{Limits, RegistryService};
use berth_server::auth::Challenge;
use berth_server::body::MinRate;
use berth_server::config::{LogConfig, LogFormat, StorageKind, TlsMode};
use berth_server::metrics::Metrics;
use berth_server::ratelimit::FailureLimiter;
use berth_server::serve::ServeOptions;
use berth_server::{AppState, Config};
use berth_storage::{FsBlobStore, S3BlobStore, S3Settings};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The stores: blobs on the filesystem; metadata and identities in one database (SQLite in
/// the data directory by default, or `database.url`).
pub(crate) struct Stores {
    pub(crate) blobs: Arc<dyn BlobStore>,
    pub(crate) meta: Arc<dyn MetadataStore>,
    pub(crate) identities: Arc<dyn IdentityStore>,
    /// Whether other processes may share the database (PostgreSQL).
    shared: bool,
}

/// The PKCS#8 DER inside a `BEGIN PRIVATE KEY` PEM file.
pub(crate) fn read_signing_key(path: &std::path::Path) -> Result<Vec<u8>> {
    use base64::Engine;
    crate::datadir::private_file("auth.signing_key_file", path)?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read auth.signing_key_file {}", path.display()))?;
    if text.contains("BEGIN EC PRIVATE KEY") {
        anyhow::bail!(
            "auth.signing_key_file {} is a SEC1 key; convert it: openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8.pem",
            path.display()
        );
    }
    let body: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN PRIVATE KEY-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    if body.is_empty() {
        anyhow::bail!("auth.signing_key_file {} holds no BEGIN PRIVATE KEY block", path.display());
    }
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .with_context(|| format!("auth.signing_key_file {} is not valid PEM", path.display()))
}

/// Opens the configured stores; the data directory is created (and secured) only when they
/// keep data in it.
pub(crate) async fn open_stores(config: &Config) -> Result<Stores> {
    let dir = &config.server.data_dir;
    if config.keeps_local_data() {
        crate::datadir::secure(dir)?;
    } else {
        crate::datadir::private_umask();
    }
    let blobs: Arc<dyn BlobStore> = match config.storage.kind {
        StorageKind::Fs => {
            Arc::new(FsBlobStore::open(dir).with_context(|| format!("cannot open blob storage in {}", dir.display()))?)
        }
        StorageKind::S3 => {
            let c = &config.storage.s3;
            if let Some(file) = &c.secret_access_key_file
                && let Err(e) = crate::datadir::private_file("storage.s3.secret_access_key_file", file)
            {
                // Not refused: it opens the bucket, not the registry's identities.
                tracing::warn!("{e:#}");
            }
            let settings = S3Settings {
                endpoint: c.endpoint.clone(),
                region: c.region.clone(),
                bucket: c.bucket.clone(),
                access_key_id: c.access_key_id.clone(),
                secret_access_key: c.secret()?,
                path_style: c.path_style,
                redirect: c.redirect,
            };
            Arc::new(S3BlobStore::new(&settings).with_context(|| format!("cannot use the bucket {}", c.bucket))?)
        }
    };
    let url = &config.database.url;
    let shown = config.database.redacted_url();
    let (meta, identities, shared): (Arc<dyn MetadataStore>, Arc<dyn IdentityStore>, bool) =
        if config.database.is_postgres() {
            let pg = Arc::new(
                PgMeta::connect(url, config.database.max_connections)
                    .await
                    .with_context(|| format!("cannot open the metadata database {shown}"))?,
            );
            (pg.clone(), pg, true)
        } else {
            let path = match url.strip_prefix("sqlite://") {
                Some(p) => std::path::PathBuf::from(p),
                None => dir.join("meta.db"),
            };
            let sqlite = Arc::new(
                SqliteMeta::open(&path)
                    .await
                    .with_context(|| format!("cannot open the metadata database {}", path.display()))?,
            );
            (sqlite.clone(), sqlite, false)
        };
    Ok(Stores { blobs, meta, identities, shared })
}

/// Name of the Owner created on the first start of an empty registry.
const BOOTSTRAP_OWNER: &str = "berth-owner";

/// The bootstrap Owner's password from `path` (trimmed): a private file, at least 32
/// characters, as strong as a generated one.
fn read_owner_password(path: &std::path::Path) -> Result<String> {
    crate::datadir::private_file("auth.bootstrap_password_file", path)?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read auth.bootstrap_password_file {}", path.display()))?;
    let password = text.trim();
    if password.chars().count() < 32 || password.contains(char::is_whitespace) {
        anyhow::bail!(
            "auth.bootstrap_password_file {} must hold one password of at least 32 characters without spaces \
             (make one: openssl rand -base64 32)",
            path.display()
        );
    }
    Ok(password.to_owned())
}

/// Writes the bootstrap Owner's credentials, readable by this user only.
fn write_bootstrap(path: &std::path::Path, created: &NewSecret) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let body = serde_json::json!({ "appId": created.principal.app_id, "password": created.password });
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(serde_json::to_string_pretty(&body)?.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Logs to stderr, filtered by `BERTH_LOG` (`info` by default): text lines coloured only when
/// stderr is a terminal (a file or a pipe gets no escape codes), or one JSON object a line.
fn init_logging(log: &LogConfig) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG").unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match log.format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Takes the data directory for this process: two servers on one directory would interleave
/// uploads. The lock is released when the process exits, however it exits. A server that
/// keeps no data there (PostgreSQL + S3) takes none: `None`.
pub(crate) fn lock_data_dir(config: &Config) -> Result<Option<std::fs::File>> {
    if !config.keeps_local_data() {
        return Ok(None);
    }
    let dir = &config.server.data_dir;
    crate::datadir::secure(dir)?;
    let path = dir.join("berth.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => {
            anyhow::bail!("another berth server is using {}; stop it or choose another --data-dir", dir.display())
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}

/// The TLS settings to set the listener up with: for `self-signed` on a loopback address, the
/// certificate also names that IP, so `https://127.0.0.1:PORT` verifies as well as the
/// configured host names.
fn certified(config: &Config) -> berth_server::config::TlsConfig {
    let mut tls = config.tls.clone();
    let ip = config.server.listen.ip();
    if tls.mode == TlsMode::SelfSigned && ip.is_loopback() && !tls.hostnames.contains(&ip.to_string()) {
        tls.hostnames.push(ip.to_string());
    }
    tls
}

/// Runs the registry until SIGTERM or SIGINT.
pub fn run(args: ConfigArgs) -> Result<ExitCode> {
    let config = args.load()?;
    init_logging(&config.log);
    let _lock = lock_data_dir(&config)?;
    runtime()?.block_on(async move {
        let stores = open_stores(&config).await?;
        if !stores.shared {
            // This process holds the data directory's lock: no other one appends, and a claim
            // left by one that died mid-append would refuse that upload until its lease ends.
            stores.meta.drop_upload_claims().await.context("cannot end the upload claims of an earlier run")?;
        }
        let shown_db = config.database.redacted_url();
        if config.tls.mode == TlsMode::SelfSigned {
            crate::datadir::secure(&config.server.data_dir)?;
        }
        let tls = berth_server::tls::setup(&certified(&config), &config.server.data_dir).map_err(anyhow::Error::msg)?;
        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.listen))?;
        let addr = listener.local_addr()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        // The self-signed certificate names the configured hosts: print one it verifies for.
        let host = match config.tls.mode {
            TlsMode::SelfSigned => format!("{}:{}", config.tls.hostnames[0], addr.port()),
            _ => addr.to_string(),
        };
        let public_url = config.server.public_url.clone().unwrap_or_else(|| format!("{scheme}://{host}"));
        let service = public_url.split("://").nth(1).unwrap_or(&host).trim_end_matches('/').to_lowercase();
        let limits = &config.limits;
        let mut auth = AuthService::new(stores.identities.clone(), service.clone(), config.auth.access_token_ttl_secs)
            .await
            .map_err(anyhow::Error::msg)?;
        let cache_secs = config.auth.cache_secs.unwrap_or(if stores.shared { 0 } else { 5 });
        auth = auth.with_cache_ttl(Duration::from_secs(cache_secs));
        if let Some(file) = &config.auth.signing_key_file {
            auth = auth.with_signing_key(&read_signing_key(file)?).map_err(|e| {
                anyhow::anyhow!("auth.signing_key_file {} is not an ECDSA P-256 key: {e}", file.display())
            })?;
        }
        if let Some(f) = crate::federation::federation(&config.federation)? {
            auth = auth.with_federation(f);
        }
        let bootstrap_path = config.server.data_dir.join("bootstrap-credentials.json");
        let given = config.auth.bootstrap_password_file.as_deref().map(read_owner_password).transpose()?;
        let bootstrapped =
            auth.bootstrap(BOOTSTRAP_OWNER, given.as_deref()).await.context("cannot create the bootstrap owner")?;
        if let (Bootstrap::Created(created), None) = (&bootstrapped, &given) {
            crate::datadir::secure(&config.server.data_dir)?;
            write_bootstrap(&bootstrap_path, created)?;
        }
        let registry = RegistryService::new(
            stores.blobs,
            stores.meta,
            Limits {
                max_manifest_bytes: limits.max_manifest_bytes,
                uploads: UploadCaps {
                    per_owner: limits.max_uploads_per_principal,
                    per_repository: limits.max_uploads_per_repository,
                },
            },
        );
        // On SQLite this process holds the data directory's lock: no replica shares the stores.
        let registry = if stores.shared { registry } else { registry.with_stores_alone() };
        let metrics = Arc::new(Metrics::default());
        let registry = match crate::pull_through::credential_key(&config, stores.shared)? {
            Some(key) => {
                registry.with_pull_through(crate::pull_through::pull_through(&config, key, metrics.cache.clone())?)
            }
            None => registry,
        };
        let state = Arc::new(AppState {
            registry: Arc::new(registry),
            auth: Arc::new(auth),
            limiter: FailureLimiter::new(
                config.auth.failed_auth_limit,
                config.auth.failed_auth_limit_per_address,
                Duration::from_secs(config.auth.failed_auth_window_secs),
            ),
            challenge: Challenge { realm: format!("{public_url}/oauth2/token"), service },
            min_rate: MinRate {
                window: Duration::from_secs(limits.body_rate_window_secs),
                min_bytes: limits.body_min_bytes_per_window,
            },
            metrics,
            gc_grace: Duration::from_secs(config.gc.grace_secs),
        });
        if config.gc.grace_secs == 0 {
            tracing::warn!(
                "gc.grace_secs is 0: a blob not yet referenced by a manifest may be collected between its upload \
                 and the push of the manifest that uses it, which is then refused (MANIFEST_BLOB_UNKNOWN) until \
                 the client pushes the blob again; keep a grace longer than your slowest push"
            );
        }
        if config.gc.interval_secs > 0 {
            let every = Duration::from_secs(config.gc.interval_secs);
            tokio::spawn(collect_garbage(state.clone(), every));
        }
        if config.audit.retention_days > 0 {
            let retention = Duration::from_secs(config.audit.retention_days.saturating_mul(24 * 3600));
            tokio::spawn(prune_audit(state.auth.clone(), retention));
        }
        if limits.upload_expiry_secs > 0 {
            tokio::spawn(expire_uploads(state.registry.clone(), Duration::from_secs(limits.upload_expiry_secs)));
        }
        let opts = ServeOptions {
            max_connections: limits.max_connections,
            max_connections_per_address: limits.max_connections_per_address,
            header_timeout: Duration::from_secs(limits.header_timeout_secs),
            grace: Duration::from_secs(limits.shutdown_grace_secs),
            tls: tls.as_ref().map(|t| t.config.clone()),
        };
        let mut out = std::io::stdout().lock();
        if config.keeps_local_data() {
            writeln!(out, "berth: data in {}", config.server.data_dir.display())?;
        } else {
            writeln!(out, "berth: metadata in {shown_db}, blobs in the bucket {}", config.storage.s3.bucket)?;
        }
        match (&bootstrapped, &config.auth.bootstrap_password_file) {
            (Bootstrap::Created(c), None) => writeln!(
                out,
                "berth: created the owner {BOOTSTRAP_OWNER} (appId {}); its credentials are in {}",
                c.principal.app_id,
                bootstrap_path.display()
            )?,
            (Bootstrap::Created(c), Some(file)) => writeln!(
                out,
                "berth: created the owner {BOOTSTRAP_OWNER} (appId {}) with the password in {}",
                c.principal.app_id,
                file.display()
            )?,
            (Bootstrap::Existing(Some(p)), _) => {
                writeln!(out, "berth: the owner {BOOTSTRAP_OWNER} (appId {}) already exists", p.app_id)?
            }
            (Bootstrap::Existing(None), _) => writeln!(out, "berth: principals already exist; no owner created")?,
        }
        if let Some(ca) = tls.as_ref().and_then(|t| t.ca_path.as_ref()) {
            writeln!(out, "berth: clients must trust the CA certificate {}", ca.display())?;
            writeln!(
                out,
                "berth: for a containerd node (kind, minikube), install it with this hosts.toml:\n{}",
                berth_server::tls::containerd_hosts_toml(&host)
            )?;
        }
        // Logged before the line on stdout, which tells a supervisor the server is up.
        tracing::info!(address = %addr, url = %format!("{scheme}://{host}"), "listening");
        if host == addr.to_string() {
            writeln!(out, "berth: listening on {scheme}://{addr}")?;
        } else {
            writeln!(out, "berth: listening on {scheme}://{host} (bound to {addr})")?;
        }
        out.flush()?;
        drop(out);
        let ui = config.ui.enabled.then(|| {
            berth_ui::routes(berth_ui::UiConfig { session_secs: config.ui.session_secs, secure_cookies: tls.is_some() })
        });
        let router = berth_server::router_with(state, ui.unwrap_or_default());
        berth_server::serve::serve(listener, router, opts, shutdown_signal()).await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Drops uploads idle for `max_idle`, every quarter of it (at least every second, at most
/// every ten minutes), for as long as the server runs. Every replica runs this; each idle
/// upload is dropped by one of them. A failure (database or store away) is logged and the
/// next round tries again.
async fn expire_uploads(registry: Arc<RegistryService>, max_idle: Duration) {
    let every = (max_idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(600));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match registry.expire_uploads(max_idle).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "dropped uploads idle for {}s", max_idle.as_secs()),
            Err(e) => tracing::warn!(error = %e, "cannot expire idle uploads; trying again later"),
        }
    }
}

/// Deletes audit events older than `retention` at start and then every hour, for as long as
/// the server runs (every replica does; deleting twice is harmless). Failures are logged and
/// retried next time.
async fn prune_audit(auth: Arc<AuthService>, retention: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match auth.prune_audit(retention).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(deleted = n, "deleted audit events older than {} days", retention.as_secs() / 86_400)
            }
            Err(e) => tracing::warn!(error = %e, "cannot prune the audit log; trying again later"),
        }
    }
}

/// Collects garbage every `every` (the first time one period after the start), keeping
/// what was linked within the grace period, and counts each run in the metrics. Failures are
/// logged and retried next time.
async fn collect_garbage(state: Arc<AppState>, every: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let outcome = state.registry.collect_garbage(state.gc_grace, false).await;
        state.metrics.gc(&outcome);
        match outcome {
            Ok(r) => tracing::info!(
                links = r.links_dropped,
                blobs = r.blobs_deleted,
                bytes = r.bytes_freed,
                "garbage collected"
            ),
            Err(e) => tracing::warn!(error = %e, "garbage collection failed; trying again next time"),
        }
    }
}

/// Checks stored data and reports; exit code 1 when damage is found.
pub fn fsck(args: ConfigArgs) -> Result<ExitCode> {
    let config = args.load()?;
    runtime()?.block_on(async move {
        let stores = open_stores(&config).await?;
        let report =
            berth_registry::fsck::run(stores.blobs.as_ref(), stores.meta.as_ref()).await.map_err(anyhow::Error::msg)?;
        for f in &report.findings {
            println!("{}: {f}", if f.is_error() { "ERROR" } else { "note" });
        }
        let errors = report.findings.iter().filter(|f| f.is_error()).count();
        println!("checked {} blobs and {} manifests: {errors} errors", report.blobs_checked, report.manifests_checked);
        Ok(if errors == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
    })
}
