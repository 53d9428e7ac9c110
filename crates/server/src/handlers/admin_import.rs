//! `POST /admin/v1/import`: the registry copies an image from another registry itself
//! ([`berth_registry::cache::Import`]), and records who did in the audit log (never the
//! upstream password).

use super::AppState;
use super::admin::{invalid, json_response};
use crate::auth::AdminAuthorized;
use crate::error::ApiError;
use axum::response::Response;
use berth_core::admin_api::{ImportRequest, ImportResult};
use berth_core::cache::{ImageSource, RegistryHost};
use berth_core::{RepoName, Tag};
use berth_registry::cache::{Import, ImportLogin};
use http::StatusCode;

/// `REPOSITORY[:TAG]` of `--image`.
fn target(image: &str) -> Result<(RepoName, Option<Tag>), ApiError> {
    let (name, tag) = berth_core::name::split_tag(image);
    let repo = RepoName::parse(name).map_err(|e| invalid(format!("--image {image:?}: {e}")))?;
    let tag = tag.map(|t| Tag::parse(t).map_err(|e| invalid(format!("--image {image:?}: {e}")))).transpose()?;
    Ok((repo, tag))
}

/// Refuses a credential set that does not exist (404) or logs in to another registry than
/// the source's (400) as the caller's mistake, before anything is dialled. (The registry
/// checks again when it opens the set, for a set changed meanwhile.)
async fn check_set(
    st: &AppState,
    auth: &AdminAuthorized,
    remote: &str,
    name: &str,
    source: &ImageSource,
) -> Result<(), ApiError> {
    let admin = st.auth.admin(auth.caller().subject(), remote);
    let set = st.registry.cache_admin(&admin)?.credential_set(name).await?.set;
    if RegistryHost::parse(&set.login_server).ok().as_ref() != Some(&source.registry) {
        let wrong = format!("credential set {name} logs in to {}, not to {}", set.login_server, source.registry);
        return Err(invalid(wrong));
    }
    Ok(())
}

/// `REPOSITORY[:TAG]` as the audit log names an import's target.
fn audited(repository: &RepoName, tag: Option<&Tag>) -> String {
    match tag {
        Some(t) => format!("{repository}:{t}"),
        None => repository.to_string(),
    }
}

/// Runs an import for the authorised caller.
pub(super) async fn import(
    st: &AppState,
    auth: &AdminAuthorized,
    remote: &str,
    b: ImportRequest,
) -> Result<Response, ApiError> {
    let source = ImageSource::parse(&b.source).map_err(|e| invalid(e.0))?;
    let (repository, tag) = match &b.image {
        Some(image) => target(image)?,
        None => (source.repository.clone(), source.tag.clone()),
    };
    let login = match (b.credential_set, b.username, b.password) {
        (None, None, None) => ImportLogin::Anonymous,
        (Some(set), None, None) => {
            check_set(st, auth, remote, &set, &source).await?;
            ImportLogin::CredentialSet(set)
        }
        (None, Some(user), Some(password)) => ImportLogin::Password(user, password),
        _ => return Err(invalid("log in upstream with a credential set, or with a username and a password, not both")),
    };
    let subject = auth.caller().subject().to_owned();
    let what = format!("{} from {}", audited(&repository, tag.as_ref()), b.source);
    let job = Import {
        source,
        login,
        repository: repository.clone(),
        tag: tag.clone(),
        force: b.force,
        platform: b.platform,
        owner: subject.clone(),
    };
    let outcome = st.registry.import(job).await;
    let action = if outcome.is_ok() { "image.import" } else { "image.import.failed" };
    st.auth.audit(&subject, action, &what, remote).await;
    let done = outcome?;
    let image = match &tag {
        Some(t) => format!("{repository}:{t}"),
        None => format!("{repository}@{}", done.digest),
    };
    let result = ImportResult {
        image,
        digest: done.digest.to_string(),
        manifests: done.manifests,
        blobs: done.blobs,
        bytes_fetched: done.bytes_fetched,
    };
    Ok(json_response(StatusCode::OK, result))
}
