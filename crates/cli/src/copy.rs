//! `berth copy SRC DST` (and the `push`/`pull` spellings): images between registries and OCI
//! layouts through berth-client.

use anyhow::{Context, Result, bail};
use berth_client::archive;
use berth_client::auth::Session;
use berth_client::copy::{CopyError, CopyOptions, End, copy, host_platform};
use berth_client::credentials;
use berth_client::endpoint::api_base;
use berth_client::layout::Layout;
use berth_client::location::Location;
use berth_client::reference::ImageRef;
use berth_client::registry::Repository;
use clap::Args;
use std::path::{Path, PathBuf};

/// Flags of `berth copy`.
#[derive(Args)]
pub struct CopyArgs {
    /// Source: docker://REF, oci:DIR[:TAG], docker-archive:FILE[:REF], or a bare reference.
    #[allow(rustdoc::broken_intra_doc_links, reason = "clap help text, where brackets are usage notation")]
    pub src: String,
    /// Destination, as the source.
    pub dst: String,
    /// Copy every platform of an index.
    #[arg(long)]
    pub all: bool,
    /// The platform to take from an index, os/arch[/variant] (default: this machine's).
    #[arg(long)]
    pub platform: Option<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Blob transfers at once.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// USER:PASSWORD for the source registry (overrides --creds).
    #[arg(long)]
    pub src_creds: Option<String>,
    /// USER:PASSWORD for the destination registry (overrides --creds).
    #[arg(long)]
    pub dest_creds: Option<String>,
    /// Upload blobs larger than eight chunks in chunks of this many bytes (0: never).
    #[arg(long, default_value_t = 16 << 20)]
    pub chunk_size: u64,
    /// Print only the digest at the end.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// How to reach registries: credentials and TLS, shared by every remote command.
#[derive(Args, Clone)]
pub struct RemoteArgs {
    /// USER:PASSWORD for the registries involved (else the docker config).
    #[arg(long)]
    pub creds: Option<String>,
    /// The docker config file to read credentials from.
    #[arg(long)]
    pub authfile: Option<PathBuf>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// Which certificates to trust.
#[derive(Args, Clone)]
pub struct TlsArgs {
    /// Verify TLS certificates (`--tls-verify=false` for a local registry).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub tls_verify: bool,
    /// A PEM CA certificate to trust besides the system's (e.g. berth's self-signed CA).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
}

impl TlsArgs {
    /// An HTTP client trusting what these flags say.
    pub fn http_client(&self) -> Result<reqwest::Client> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder().danger_accept_invalid_certs(!self.tls_verify);
        if let Some(ca) = &self.ca_file {
            let pem = std::fs::read(ca).with_context(|| format!("cannot read --ca-file {}", ca.display()))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .with_context(|| format!("--ca-file {} is not a PEM certificate", ca.display()))?;
            builder = builder.add_root_certificate(cert);
        }
        Ok(builder.build()?)
    }
}

/// A session for the registry of `r`.
pub fn session(args: &RemoteArgs, r: &ImageRef) -> Result<Session> {
    let http = args.tls.http_client()?;
    let credentials = match &args.creds {
        Some(c) => credentials::from_creds(c)?,
        None => credentials::from_config(args.authfile.as_deref(), &r.registry)?,
    };
    Ok(Session::new(http, credentials))
}

/// Runs a copy; prints the digest written.
pub fn run(args: CopyArgs) -> Result<()> {
    let src = Location::parse(&args.src).with_context(|| format!("cannot read the source {:?}", args.src))?;
    let dst = Location::parse(&args.dst).with_context(|| format!("cannot read the destination {:?}", args.dst))?;
    if args.all && matches!(dst, Location::DockerArchive { .. }) {
        bail!("a docker archive holds one platform's image; drop --all and pick one with --platform");
    }
    let observer = crate::progress::observer(args.quiet);
    let opts = CopyOptions {
        all: args.all,
        platform: args.platform.clone().unwrap_or_else(host_platform),
        parallel: args.parallel,
        observer,
        chunk_size: (args.chunk_size > 0).then_some(args.chunk_size),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async {
        let side = |creds: &Option<String>| RemoteArgs {
            creds: creds.clone().or(args.remote.creds.clone()),
            ..args.remote.clone()
        };
        let src_session = match &src {
            Location::Registry(r) => Some(session(&side(&args.src_creds), r)?),
            _ => None,
        };
        let dst_session = match &dst {
            Location::Registry(r) => Some(session(&side(&args.dest_creds), r)?),
            _ => None,
        };
        let src_staging = tempfile::tempdir()?;
        let dst_staging = staging_beside(&dst)?;
        let src_end = end(&src, src_session.as_ref(), false, src_staging.path()).await?;
        let dst_end = end(&dst, dst_session.as_ref(), true, dst_staging.path()).await?;
        let digest = copy(&src_end, &dst_end, &opts).await.map_err(|e| explain(e, CopyError::transport))?;
        let digest = match (&dst, &dst_end) {
            (Location::DockerArchive { file, reference }, End::Layout(layout, _)) => {
                let tag = archive_tag(&src, reference.as_deref())?;
                archive::pack(layout, &digest, tag.as_deref(), file, dst_staging.path())
                    .with_context(|| format!("cannot write {}", file.display()))?
            }
            _ => digest,
        };
        println!("{digest}");
        Ok(())
    })
}

/// A staging directory beside a docker archive destination (so the finished archive is renamed
/// into place on one filesystem), or in the system's temporary directory.
fn staging_beside(dst: &Location) -> Result<tempfile::TempDir> {
    Ok(match dst {
        Location::DockerArchive { file, .. } => {
            let parent = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            tempfile::Builder::new()
                .prefix(".berth-staging-")
                .tempdir_in(parent)
                .with_context(|| format!("cannot write beside {}", file.display()))?
        }
        _ => tempfile::tempdir()?,
    })
}

/// The `RepoTags` entry of an archive: the reference given with it, else the source's tag.
fn archive_tag(src: &Location, given: Option<&str>) -> Result<Option<String>> {
    if let Some(r) = given {
        let parsed = ImageRef::parse(r).with_context(|| format!("{r:?} cannot name an image in a docker archive"))?;
        return Ok(Some(parsed.to_string()));
    }
    Ok(match src {
        Location::Registry(r) if r.tag.is_some() && r.digest.is_none() => Some(r.to_string()),
        _ => None,
    })
}

async fn end<'a>(l: &Location, session: Option<&'a Session>, destination: bool, staging: &Path) -> Result<End<'a>> {
    Ok(match (l, session) {
        (Location::Registry(r), Some(s)) => {
            End::Registry(Repository::new(s, &api_base(s.http(), r).await, r.repository.as_str()), r.reference())
        }
        (Location::OciLayout { dir, tag }, _) => {
            let layout = if destination { Layout::create(dir)? } else { Layout::open(dir)? };
            End::Layout(layout, tag.clone())
        }
        (Location::DockerArchive { .. }, _) if destination => {
            End::Layout(Layout::create(&staging.join("image"))?, None)
        }
        (Location::DockerArchive { file, reference }, _) => {
            End::Layout(archive::unpack(file, reference.as_deref(), staging)?, None)
        }
        (Location::Registry(_), None) => bail!("internal error: no session for a registry"),
    })
}

/// Adds what to do to errors whose cause a user can fix: an untrusted certificate, an
/// unreachable host, a connection cut mid-transfer. `transport` is the HTTP failure
/// underneath `e`, if any.
pub fn explain<E>(e: E, transport: impl Fn(&E) -> Option<&reqwest::Error>) -> anyhow::Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    let Some(http) = transport(&e) else { return anyhow::Error::new(e) };
    let mut causes: Vec<String> = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(http);
    while let Some(s) = source {
        let text = s.to_string();
        if !causes.iter().any(|c| c.contains(&text)) {
            causes.push(text);
        }
        source = s.source();
    }
    let root = causes.last().cloned().unwrap_or_default();
    let url = http.url().map(|u| format!(" at {}", u.origin().ascii_serialization())).unwrap_or_default();
    if berth_client::endpoint::untrusted_certificate(http) {
        anyhow::anyhow!(
            "the registry{url}: its TLS certificate is not trusted ({root}); pass --ca-file FILE (its CA), or --tls-verify=false for a local registry"
        )
    } else if http.is_connect() || http.is_timeout() {
        anyhow::anyhow!("cannot reach the registry{url} ({root}); check the address and that it is running")
    } else if http.is_body() || http.is_decode() || http.is_request() {
        anyhow::anyhow!(
            "the connection to the registry{url} broke during the transfer ({root}); run the same command again: finished blobs are kept and a cut one resumes where it stopped"
        )
    } else {
        anyhow::Error::new(e)
    }
}
