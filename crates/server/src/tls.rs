//! TLS for the listener: certificate files, or a self-signed CA for local clusters.
//!
//! `self-signed` keeps `<data_dir>/tls/{ca.pem, ca-key.pem, server.pem, server-key.pem,
//! hostnames}`: the CA is created once and kept across restarts (nodes that trust it keep
//! trusting it); the server certificate is re-issued by that CA when the hostnames change.

use crate::config::{TlsConfig, TlsMode};
use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The result of setting TLS up.
pub struct Tls {
    /// The rustls configuration for the listener.
    pub config: Arc<rustls::ServerConfig>,
    /// The CA certificate clients must trust, for `self-signed`.
    pub ca_path: Option<PathBuf>,
}

fn ca_params() -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Berth local registry CA");
    dn.push(DnType::OrganizationName, "Berth");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    p.not_before = rcgen::date_time_ymd(2025, 1, 1);
    p.not_after = rcgen::date_time_ymd(2045, 1, 1);
    p
}

fn write_private(path: &Path, text: &str) -> Result<(), String> {
    let mut f = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Creates (or reuses) the CA and a server certificate for `hostnames` under `dir`.
/// Returns the paths of the server certificate, its key, and the CA certificate.
pub fn ensure_self_signed(dir: &Path, hostnames: &[String]) -> Result<(PathBuf, PathBuf, PathBuf), String> {
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let err = |e: rcgen::Error| format!("certificate generation failed: {e}");
    let (ca_pem, ca_key_pem) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
    if !ca_pem.exists() || !ca_key_pem.exists() {
        let key = KeyPair::generate().map_err(err)?;
        let cert = ca_params().self_signed(&key).map_err(err)?;
        write_private(&ca_key_pem, &key.serialize_pem())?;
        write_private(&ca_pem, &cert.pem())?;
    }
    let (server_pem, server_key_pem, names_file) =
        (dir.join("server.pem"), dir.join("server-key.pem"), dir.join("hostnames"));
    let wanted = hostnames.join("\n");
    let current = fs::read_to_string(&names_file).unwrap_or_default();
    if current != wanted || !server_pem.exists() || !server_key_pem.exists() {
        let ca_key = KeyPair::from_pem(&read(&ca_key_pem)?).map_err(err)?;
        let issuer = Issuer::new(ca_params(), ca_key);
        let key = KeyPair::generate().map_err(err)?;
        let mut params = CertificateParams::new(hostnames.to_vec()).map_err(err)?;
        params.distinguished_name.push(DnType::CommonName, hostnames[0].clone());
        params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        params.not_after = rcgen::date_time_ymd(2045, 1, 1);
        let cert = params.signed_by(&key, &issuer).map_err(err)?;
        write_private(&server_key_pem, &key.serialize_pem())?;
        write_private(&server_pem, &format!("{}{}", cert.pem(), read(&ca_pem)?))?;
        write_private(&names_file, &wanted)?;
    }
    Ok((server_pem, server_key_pem, ca_pem))
}

/// Builds the listener's TLS configuration, or `None` for plain HTTP.
pub fn setup(cfg: &TlsConfig, data_dir: &Path) -> Result<Option<Tls>, String> {
    let (cert, key, ca_path) = match cfg.mode {
        TlsMode::Off => return Ok(None),
        TlsMode::Files => {
            let (Some(cert), Some(key)) = (&cfg.cert, &cfg.key) else {
                return Err("TLS needs --tls-cert and --tls-key".into());
            };
            (cert.clone(), key.clone(), None)
        }
        TlsMode::SelfSigned => {
            let (c, k, ca) = ensure_self_signed(&data_dir.join("tls"), &cfg.hostnames)?;
            (c, k, Some(ca))
        }
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .map_err(|e| format!("cannot read certificate {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{} holds no certificate", cert.display()));
    }
    let private =
        PrivateKeyDer::from_pem_file(&key).map_err(|e| format!("cannot read private key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| format!("certificate and key do not fit together: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Tls { config: Arc::new(config), ca_path }))
}

/// The containerd `hosts.toml` that makes a node trust the self-signed CA for `host`.
pub fn containerd_hosts_toml(host: &str) -> String {
    format!(
        "# /etc/containerd/certs.d/{host}/hosts.toml  (copy the CA to /etc/containerd/certs.d/{host}/ca.crt)\n\
         server = \"https://{host}\"\n\n\
         [host.\"https://{host}\"]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n  ca = \"/etc/containerd/certs.d/{host}/ca.crt\"\n"
    )
}
