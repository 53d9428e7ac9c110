//! `berth kube mirror`: the containerd `hosts.toml` files that make a node pull the images
//! of every upstream registry a cache rule caches through Berth, with no image renamed.
//!
//! containerd reads `<certs.d>/<registry>/hosts.toml`; with Berth listed there as a host for
//! `docker.io`, it asks Berth first, adding `?ns=docker.io` to each request, and Berth serves
//! the request from the repository whose rule caches that registry. `server` (the upstream
//! itself) is what containerd falls back to when Berth does not answer.

use crate::admin::{Admin, RegistryArg, runtime};
use crate::login;
use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use berth_client::endpoint::is_loopback;
use berth_core::admin_api::CacheRuleView;
use berth_core::cache::RegistryHost;
use clap::Args;
use reqwest::Method;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Where containerd looks for `hosts.toml` files on a node.
const CERTS_D: &str = "/etc/containerd/certs.d";

/// Flags of `berth kube mirror`.
#[derive(Args)]
pub struct MirrorArgs {
    /// Berth's URL as the nodes reach it (`https://berth.example:5000`); default: the server
    /// of the last `berth login`. The cache rules are read from there.
    #[command(flatten)]
    pub registry: RegistryArg,
    /// The CA that signed Berth's certificate (Berth's self-signed `<data dir>/tls/ca.pem`):
    /// trusted to read the cache rules, and copied beside each hosts.toml for containerd to
    /// trust.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// A principal the nodes pull as (sent as Basic credentials to Berth only); with
    /// --password-stdin. Without, nodes pull anonymously (anonymous pull must be on).
    #[arg(long, short = 'u', requires = "password_stdin")]
    pub username: Option<String>,
    /// Read that principal's password from standard input.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Write the files under this directory (a node's /etc/containerd/certs.d) instead of
    /// printing them; files with credentials are readable by their owner only.
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
}

/// A file to write on a node.
struct NodeFile {
    path: PathBuf,
    text: String,
    secret: bool,
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `hosts.toml` (and CA copy) for upstream `registry`, in `dir`.
fn files_for(registry: &RegistryHost, berth: &str, dir: &Path, ca: Option<&str>, auth: Option<&str>) -> Vec<NodeFile> {
    let here = dir.join(registry.as_str());
    let api = registry.api_host();
    let scheme = if is_loopback(api) { "http" } else { "https" };
    let mut text = format!(
        "# containerd: pull {registry} images through Berth ({berth}), then from {registry} itself\n\
         server = {}\n\n[host.{}]\n  capabilities = [\"pull\", \"resolve\"]\n",
        toml_str(&format!("{scheme}://{api}")),
        toml_str(berth)
    );
    let mut files = Vec::new();
    if let Some(ca) = ca {
        let ca_path = here.join("berth-ca.crt");
        text.push_str(&format!("  ca = {}\n", toml_str(&ca_path.to_string_lossy())));
        files.push(NodeFile { path: ca_path, text: ca.to_owned(), secret: false });
    }
    if let Some(auth) = auth {
        text.push_str(&format!("  [host.{}.header]\n    authorization = {}\n", toml_str(berth), toml_str(auth)));
    }
    files.insert(0, NodeFile { path: here.join("hosts.toml"), text, secret: auth.is_some() });
    files
}

/// Reads the rules and prints (or writes) one hosts.toml per upstream registry they cache.
pub fn run(args: MirrorArgs) -> Result<()> {
    let url = match &args.registry.registry {
        Some(r) => r.clone(),
        None => login::remembered()?.context("no registry: run `berth login SERVER` first or pass --registry URL")?,
    };
    let (_, urls) = login::server_urls(&url);
    let berth = if url.contains("://") { url.trim_end_matches('/').to_owned() } else { urls[0].clone() };
    let ca = match &args.ca_file {
        Some(f) => {
            Some(std::fs::read_to_string(f).with_context(|| format!("cannot read the CA file {}", f.display()))?)
        }
        None => None,
    };
    let mut admin = Admin::connect(args.registry.registry.as_deref())?;
    if let (Some(ca), Some(f)) = (&ca, &args.ca_file) {
        admin = admin.trusting(ca).with_context(|| format!("cannot use the CA file {}", f.display()))?;
    }
    let rules = runtime()?.block_on(admin.call(Method::GET, "cache-rules", None))?;
    let rules: Vec<CacheRuleView> = serde_json::from_value(rules)
        .context("the registry answered with something other than the admin API's JSON")?;
    let registries: BTreeSet<RegistryHost> = rules
        .iter()
        .filter_map(|r| r.source.split_once('/').and_then(|(host, _)| RegistryHost::parse(host).ok()))
        .collect();
    if registries.is_empty() {
        bail!("{berth} has no cache rules, so it mirrors no registry: create one with `berth cache create`");
    }
    let auth = match &args.username {
        Some(user) => {
            let password = crate::admin::read_password_stdin()?;
            Some(format!("Basic {}", STANDARD.encode(format!("{user}:{password}"))))
        }
        None => None,
    };
    let dir = match &args.output_dir {
        Some(d) => std::path::absolute(d).with_context(|| format!("cannot resolve {}", d.display()))?,
        None => PathBuf::from(CERTS_D),
    };
    let files: Vec<NodeFile> =
        registries.iter().flat_map(|r| files_for(r, &berth, &dir, ca.as_deref(), auth.as_deref())).collect();
    match &args.output_dir {
        Some(_) => {
            for f in &files {
                write(f)?;
                eprintln!("berth: wrote {}", f.path.display());
            }
        }
        None => {
            for f in &files {
                println!("# {}\n{}", f.path.display(), f.text);
            }
        }
    }
    let names: Vec<&str> = registries.iter().map(RegistryHost::as_str).collect();
    eprintln!(
        "berth: containerd on a node with these files pulls {} through {berth} (config_path = {:?} in its CRI registry config)",
        names.join(", "),
        dir.display().to_string()
    );
    Ok(())
}

/// Writes `f`, readable by its owner only when it holds credentials: a file that was there
/// already gets that mode before its old bytes are replaced.
fn write(f: &NodeFile) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let parent = f.path.parent().context("a file in a directory")?;
    std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let mode = if f.secret { 0o600 } else { 0o644 };
    let cannot = || format!("cannot write {}", f.path.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(mode)
        .open(&f.path)
        .with_context(cannot)?;
    file.set_permissions(std::fs::Permissions::from_mode(mode)).with_context(cannot)?;
    file.set_len(0).with_context(cannot)?;
    file.write_all(f.text.as_bytes()).with_context(cannot)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hosts_toml_lists_berth_before_the_upstream() {
        let hub = RegistryHost::parse("docker.io").unwrap();
        let files =
            files_for(&hub, "https://berth.example:5000", Path::new("/certs.d"), Some("PEM"), Some("Basic eA=="));
        assert_eq!(files[0].path, Path::new("/certs.d/docker.io/hosts.toml"));
        assert!(files[0].secret, "it holds credentials");
        assert_eq!(
            files[0].text,
            "# containerd: pull docker.io images through Berth (https://berth.example:5000), then from docker.io itself\n\
             server = \"https://registry-1.docker.io\"\n\n\
             [host.\"https://berth.example:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n\
             \x20 ca = \"/certs.d/docker.io/berth-ca.crt\"\n\
             \x20 [host.\"https://berth.example:5000\".header]\n    authorization = \"Basic eA==\"\n"
        );
        assert_eq!(
            (files[1].path.as_path(), files[1].text.as_str()),
            (Path::new("/certs.d/docker.io/berth-ca.crt"), "PEM")
        );
        let local = files_for(&RegistryHost::parse("127.0.0.1:5001").unwrap(), "http://b", Path::new("/d"), None, None);
        assert_eq!(local.len(), 1);
        assert!(local[0].text.contains("server = \"http://127.0.0.1:5001\""), "{}", local[0].text);
        assert!(!local[0].secret);
    }

    #[test]
    fn a_file_with_credentials_is_private_even_when_it_was_not() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docker.io/hosts.toml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "an older, longer file that was readable by everyone").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write(&NodeFile { path: path.clone(), text: "secret".into(), secret: true }).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "secret");
    }

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(toml_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000A\"");
    }
}
