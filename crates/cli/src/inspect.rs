//! `berth inspect REF [--raw] [--config]`, `berth tags REF`, `berth delete REF`.

use crate::copy::{RemoteArgs, explain, session};
use crate::output::{self, OutputArgs};
use anyhow::{Context, Result};
use berth_client::endpoint::api_base;
use berth_client::reference::ImageRef;

use berth_client::registry::{RegistryError, Repository};
use berth_core::{Digest, media};
use clap::Args;
use serde_json::{Value, json};

/// `berth inspect`.
#[derive(Args)]
pub struct InspectArgs {
    /// The image, HOST/REPO[:TAG|@DIGEST] (docker:// optional).
    #[allow(rustdoc::broken_intra_doc_links, reason = "clap help text, where brackets are usage notation")]
    pub image: String,
    /// Print the manifest exactly as stored.
    #[arg(long, conflicts_with = "config")]
    pub raw: bool,
    /// Print the image configuration.
    #[arg(long)]
    pub config: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `berth tags` and `berth delete`.
#[derive(Args)]
pub struct RefArgs {
    /// The repository or image, HOST/REPO[:TAG|@DIGEST].
    #[allow(rustdoc::broken_intra_doc_links, reason = "clap help text, where brackets are usage notation")]
    pub image: String,
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

fn parse(image: &str) -> Result<ImageRef> {
    ImageRef::parse(image.strip_prefix("docker://").unwrap_or(image))
        .with_context(|| format!("cannot read the image reference {image:?}"))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// `berth inspect`.
pub fn inspect(args: InspectArgs) -> Result<()> {
    let r = parse(&args.image)?;
    let s = session(&args.remote, &r)?;
    let rt = runtime()?;
    let repo = Repository::new(&s, &rt.block_on(api_base(s.http(), &r)), r.repository.as_str());
    rt.block_on(async {
        let m = repo.manifest(&r.reference()).await.map_err(|e| explain(e, RegistryError::transport))?;
        if args.raw {
            println!("{}", String::from_utf8_lossy(&m.bytes));
            return Ok(());
        }
        let doc: Value = serde_json::from_slice(&m.bytes).context("the manifest is not JSON")?;
        if args.config {
            let d = doc["config"]["digest"].as_str().context("this manifest has no config (an index?)")?;
            let config_digest = Digest::parse(d).context("bad config digest")?;
            let bytes = repo.blob_bytes(&config_digest).await.map_err(|e| explain(e, RegistryError::transport))?;
            let config: Value = serde_json::from_slice(&bytes).context("the config is not JSON")?;
            return output::print(&config, &args.out);
        }
        let mut v = json!({ "name": format!("{}/{}", r.registry, r.repository), "digest": m.digest.to_string(), "mediaType": m.media_type });
        if media::is_index(&m.media_type) {
            v["manifests"] = doc["manifests"].clone();
        } else {
            v["config"] = doc["config"].clone();
            v["layers"] = doc["layers"].clone();
        }
        output::print(&v, &args.out)
    })
}

/// `berth tags`.
pub fn tags(args: RefArgs) -> Result<()> {
    let r = parse(&args.image)?;
    let s = session(&args.remote, &r)?;
    let rt = runtime()?;
    let repo = Repository::new(&s, &rt.block_on(api_base(s.http(), &r)), r.repository.as_str());
    let tags = rt.block_on(repo.tags()).map_err(|e| explain(e, RegistryError::transport))?;
    output::print(&json!({ "name": r.repository.as_str(), "tags": tags }), &args.out)
}

/// `berth delete`: a tag, or the manifest a digest names.
pub fn delete(args: RefArgs) -> Result<()> {
    let r = parse(&args.image)?;
    let s = session(&args.remote, &r)?;
    let rt = runtime()?;
    let repo = Repository::new(&s, &rt.block_on(api_base(s.http(), &r)), r.repository.as_str());
    rt.block_on(repo.delete(&r.reference())).map_err(|e| explain(e, RegistryError::transport))?;
    eprintln!("berth: deleted {r}");
    Ok(())
}
