//! `berth kube doctor`: for each container, why its pull would succeed or fail, in words.
//! The secrets are read as the kubelet reads them ([`crate::podauth`]), the keyring decides
//! which credentials apply ([`crate::keyring`]), and the registry is asked with each one
//! ([`crate::probe`]); with an Owner's login it also looks the principal up (expired
//! credentials, missing role assignments).

use crate::federated_doctor::{ServiceAccountToken, exchanged};
use crate::keyring::{Credential, mismatch};
use crate::objects::{Container, PullPolicy, Workload};
use crate::podauth::PodCredentials;
use crate::probe::{Probe, probe};
use berth_client::endpoint::api_base;
use reqwest::Client;
use serde_json::Value;
use std::collections::HashMap;

/// An Owner's credentials for the registry's admin API, to look principals up.
#[derive(Debug, Clone)]
pub struct OwnerLogin {
    /// appId (or admin user name).
    pub username: String,
    /// Password.
    pub password: String,
}

/// The verdict for one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// `FILE, document N: KIND NS/NAME, container C, image I`.
    pub subject: String,
    /// Whether the kubelet's pull would succeed.
    pub would_pull: bool,
    /// The explanation, one sentence a line.
    pub lines: Vec<String>,
}

/// What the admin API says of principal `app_id`, in words (expired credentials), if anything.
async fn principal_notes(http: &Client, base: &str, owner: &OwnerLogin, app_id: &str) -> Option<String> {
    let url = format!("{base}/admin/v1/service-principals/{app_id}");
    let r = http.get(url).basic_auth(&owner.username, Some(&owner.password)).send().await.ok()?;
    if r.status() == reqwest::StatusCode::NOT_FOUND {
        return Some(format!("no service principal {app_id} exists in this registry (deleted, or the wrong appId)"));
    }
    let v: Value = r.error_for_status().ok()?.json().await.ok()?;
    let now = jiff::Timestamp::now();
    let ends: Vec<jiff::Timestamp> =
        v["passwordCredentials"].as_array()?.iter().filter_map(|c| c["endDateTime"].as_str()?.parse().ok()).collect();
    let latest = ends.iter().max()?;
    (*latest <= now).then(|| {
        format!(
            "every credential of principal {app_id} has expired (the last one ended {}); run `berth sp credential reset --name {app_id}` and update the secret",
            latest.strftime("%Y-%m-%d")
        )
    })
}

fn credential_notes(k: &Credential) -> Vec<String> {
    let mut out = Vec::new();
    if k.password.ends_with('\n') || k.password.ends_with('\r') {
        out.push(format!(
            "the password from {} ends with a newline: the secret was probably made with `echo` without `-n`; registries compare passwords byte for byte",
            k.source
        ));
    } else if k.password != k.password.trim() {
        out.push(format!("the password from {} starts or ends with spaces", k.source));
    }
    if k.password.is_empty() {
        out.push(format!("the password from {} is empty", k.source));
    }
    out
}

async fn refused(http: &Client, base: &str, k: &Credential, words: &str, owner: Option<&OwnerLogin>) -> String {
    let looked_up = match owner {
        Some(o) => principal_notes(http, base, o, &k.username).await,
        None => None,
    };
    match looked_up {
        Some(note) => format!("the registry refuses {:?} from {} ({words}): {note}", k.username, k.source),
        None => format!(
            "the registry refuses {:?} from {} ({words}): a wrong password, one replaced by `berth sp credential reset`, or an expired credential",
            k.username, k.source
        ),
    }
}

/// What the registry says to `k` (`None`: anonymous), in words; whether it would pull; and
/// whether the next credential is worth asking (not when the registry cannot be reached or
/// trusted: every credential meets the same wall).
async fn explain(
    http: &Client,
    base: &str,
    c: &Container,
    k: Option<&Credential>,
    owner: Option<&OwnerLogin>,
) -> (bool, bool, String) {
    let repo = format!("{}/{}", c.reference.registry, c.reference.repository);
    let who = k.map_or("an anonymous pull".to_owned(), |k| format!("{:?} from {}", k.username, k.source));
    let (ok, line) = match probe(http, base, &c.reference, k.map(|k| (k.username.as_str(), k.password.as_str()))).await
    {
        Probe::Ok => (true, format!("{who} can pull {}", c.reference)),
        Probe::Unreachable(why) => {
            let line = format!(
                "the registry {} cannot be reached at {base} ({why}); check the address and that it runs",
                c.reference.registry
            );
            return (false, false, line);
        }
        Probe::Untrusted(why) => {
            let line = format!(
                "the registry {}'s TLS certificate is not trusted ({why}); the node's runtime must trust its CA (containerd: certs.d/{}/hosts.toml with ca = ...)",
                c.reference.registry, c.reference.registry
            );
            return (false, false, line);
        }
        Probe::Refused(words) => match k {
            Some(k) => (false, refused(http, base, k, &words, owner).await),
            None => {
                (false, format!("the registry refuses anonymous pulls ({words}) and no pull secret applies to {repo}"))
            }
        },
        Probe::NoPull => (
            false,
            match k {
                Some(k) => format!(
                    "{who} is accepted but has no pull permission on {}: `berth role assignment create --assignee {} --role acrpull --scope repositories/{}`",
                    c.reference.repository, k.username, c.reference.repository
                ),
                None => format!("anonymous pulls of {repo} are not allowed"),
            },
        ),
        Probe::NotFound(near) => (
            false,
            if near.is_empty() {
                format!("{repo} has no {} (the repository holds no tags)", c.reference.reference())
            } else {
                format!("{repo} has no {}; the nearest tags are {}", c.reference.reference(), near.join(", "))
            },
        ),
        Probe::Other(words) => (false, format!("{who}: the registry answered {words}")),
    };
    (ok, true, line)
}

/// `"u" from SOURCE, then "v" from SOURCE, …`: the credentials in the order the kubelet tries them.
fn in_order(matched: &[&Credential]) -> String {
    let named: Vec<String> = matched.iter().map(|k| format!("{:?} from {}", k.username, k.source)).collect();
    named.join(", then ")
}

/// The service-account token's exchange at `base`, then a pull with the refresh token; lines
/// pushed onto `lines`; whether it would pull.
async fn with_token(
    http: &Client,
    base: &str,
    c: &Container,
    sa: &ServiceAccountToken,
    lines: &mut Vec<String>,
) -> bool {
    lines.push("the kubelet's credential provider would exchange the service-account token".into());
    let (refresh, said) = exchanged(http, base, sa).await;
    lines.extend(said);
    let Some(password) = refresh else { return false };
    let k = Credential {
        username: berth_client::auth::NULL_GUID.to_owned(),
        password,
        source: "the exchanged service-account token".into(),
    };
    let (ok, _, line) = explain(http, base, c, Some(&k), None).await;
    lines.push(line);
    ok
}

/// Diagnoses every container of `w`; `owners` holds Owner logins by registry host; with a
/// service-account token, what the credential provider would get for it is tried after the
/// pull secrets, as the kubelet does.
///
/// For each container: what the kubelet would log or ignore; every pull secret entry that
/// does not apply to the image, with the reason (whether or not another one applies); the
/// host the registry is contacted at (`registry-1.docker.io` for Docker Hub); the
/// credentials the kubelet would use, in order, before any is tried (so they are named even
/// when the registry cannot be reached); then the registry's answer to each in turn, until
/// one pulls.
pub async fn diagnose(
    http: &Client,
    w: &Workload,
    creds: &PodCredentials,
    owners: &HashMap<String, OwnerLogin>,
    token: Option<&ServiceAccountToken>,
) -> Vec<Diagnosis> {
    let mut out = Vec::new();
    for c in &w.containers {
        let owner = owners.get(&c.reference.registry);
        let subject = format!("{}, {} {}, image {}", w.origin, c.kind, c.name, c.image);
        let mut lines: Vec<String> = creds.warnings.clone();
        if c.policy == PullPolicy::Never {
            lines.push("imagePullPolicy is Never: the kubelet uses the image only if the node already has it".into());
        }
        if let Some(e) = &creds.error {
            lines.push(e.clone());
            out.push(Diagnosis { subject, would_pull: false, lines });
            continue;
        }
        if creds.secret_names.is_empty() {
            lines.push(format!(
                "the pod names no imagePullSecrets and its ServiceAccount {:?} (as given) carries none",
                w.service_account
            ));
        }
        let repo = format!("{}/{}", c.reference.registry, c.reference.repository);
        let applying = creds.keyring.matching_keys(&repo);
        for key in creds.keyring.keys().filter(|k| !applying.contains(k)) {
            if let Some(why) = mismatch(key, &repo) {
                lines.push(format!("the pull secret entry {key:?} does not apply to {repo}: {why}"));
            }
        }
        let base = api_base(http, &c.reference).await;
        lines.push(format!("the registry {} is contacted at {base}", c.reference.registry));
        let matched = creds.keyring.lookup(&repo);
        if matched.is_empty()
            && let Some(sa) = token
        {
            let would_pull = with_token(http, &base, c, sa, &mut lines).await;
            out.push(Diagnosis { subject, would_pull, lines });
            continue;
        }
        if matched.is_empty() {
            let (ok, _, line) = explain(http, &base, c, None, owner).await;
            lines.push(if ok { format!("no pull secret applies, and {line}") } else { line });
            out.push(Diagnosis { subject, would_pull: ok, lines });
            continue;
        }
        lines.push(format!("the kubelet would pull with {}", in_order(&matched)));
        let mut would_pull = false;
        for k in matched {
            lines.extend(credential_notes(k));
            let (ok, go_on, line) = explain(http, &base, c, Some(k), owner).await;
            lines.push(line);
            if ok || !go_on {
                would_pull = ok;
                break;
            }
        }
        if !would_pull && let Some(sa) = token {
            would_pull = with_token(http, &base, c, sa, &mut lines).await;
        }
        out.push(Diagnosis { subject, would_pull, lines });
    }
    out
}
