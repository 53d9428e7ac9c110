//! Connecting a cluster, from a browser, exactly as `berth kube connect` does (its text comes
//! from the same functions, [`berth_kube::connect`] and [`berth_kube::workload`]):
//!
//! - `GET /ui/connect`: the form (namespace, service account, secret, principal, role and
//!   scope; or workload identity with the cluster's issuer and audience);
//! - `POST /ui/connect`: creates the pull principal, or gives the existing one of that name a
//!   new secret, with the role at the scope, and shows the Secret and ServiceAccount YAML,
//!   the same as `kubectl` commands, and the kubelet's credential-provider configuration;
//!   with workload identity, a principal without a password, its federated credential for the
//!   service account's tokens, and the four documents `--workload-identity` prints.
//!
//! Each step is authorised as the admin endpoint it stands for (Owner) and audited by the
//! identity service. The secret is on that one response only (served `no-store`).

use super::{admin_allow, field, posted};
use crate::error::UiError;
use crate::format::{Nav, render};
use crate::session::viewer;
use askama::Template;
use axum::extract::{Request, State};
use axum::response::Response;
use berth_core::admin_api::{CreateFederatedCredential, CreateRoleAssignment, CreateServicePrincipal};
use berth_core::roles::Role;
use berth_kube::connect::{NODE_CREDENTIALS_FILE, PullConnection};
use berth_kube::workload::{
    WorkloadIdentity, federated_credential_description, federated_credential_name, service_account_subject,
};
use berth_registry::admin::IdentityAdmin;
use berth_server::AppState;
use berth_server::admin_endpoint::AdminEndpoint;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "connect.html")]
struct ConnectForm {
    nav: Nav,
    roles: Vec<&'static str>,
    audience: String,
}

/// One block of text to paste, with what it is for.
struct Block {
    id: &'static str,
    title: String,
    note: String,
    text: String,
}

#[derive(Template)]
#[template(path = "connected.html")]
struct Connected {
    nav: Nav,
    summary: String,
    blocks: Vec<Block>,
    shows_secret: bool,
}

/// `GET /ui/connect`.
pub async fn form(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let who = viewer(&st, req.headers()).await?;
    admin_allow(&st, &who, AdminEndpoint::CreatePrincipal)?;
    let roles = Role::ALL.iter().map(|r| r.as_str()).collect();
    render(&ConnectForm { nav: who.nav(), roles, audience: st.challenge.service.clone() })
}

/// A Kubernetes object name (a DNS-1123 subdomain: lower-case letters, digits, `-` and `.`,
/// starting and ending with a letter or digit, at most `max` characters), or why not.
fn kube_name(what: &str, value: Option<String>, max: usize) -> Result<String, UiError> {
    let v = value.ok_or_else(|| UiError::BadRequest(format!("give the {what}")))?;
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok = v.len() <= max
        && edge(v.chars().next())
        && edge(v.chars().last())
        && v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if ok {
        Ok(v)
    } else {
        Err(UiError::BadRequest(format!(
            "{v:?} is not a Kubernetes name for the {what}: lower-case letters, digits, '-' and '.', at most {max}"
        )))
    }
}

/// `POST /ui/connect`.
pub async fn connect(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let (_, form, who, at) = posted(&st, req).await?;
    admin_allow(&st, &who, AdminEndpoint::CreatePrincipal)?;
    admin_allow(&st, &who, AdminEndpoint::AssignRole)?;
    let namespace = kube_name("namespace", field(&form, "namespace"), 63)?;
    let service_account =
        kube_name("service account", field(&form, "service_account").or(Some("default".into())), 253)?;
    let role = field(&form, "role").unwrap_or_else(|| "acrpull".into());
    let scope = field(&form, "scope").unwrap_or_else(|| "/".into());
    let admin = st.auth.admin(who.caller.subject(), &at);
    let host = st.challenge.service.clone();
    let page = if form.get("mode") == Some("workload") {
        let issuer = field(&form, "issuer").ok_or_else(|| UiError::BadRequest("give the cluster's issuer".into()))?;
        let audience = field(&form, "audience").unwrap_or_else(|| host.clone());
        let name = field(&form, "name").unwrap_or_else(|| format!("{namespace}-{service_account}"));
        let w = Workload { namespace, service_account, name, role, scope, issuer, audience };
        workload(&st, &who, &admin, w).await?
    } else {
        let secret_name = kube_name("secret", field(&form, "secret_name").or(Some("berth-pull".into())), 253)?;
        let name = field(&form, "name").unwrap_or_else(|| format!("{namespace}-pull"));
        let req = CreateServicePrincipal {
            name: name.clone(),
            role: Some(role.clone()),
            scopes: Some(scope.clone()),
            years: None,
        };
        let created = admin.create_service_principal(&req).await?;
        let c = PullConnection {
            namespace,
            service_account,
            secret_name,
            registry: host.clone(),
            username: created.principal.app_id.clone(),
            password: created.password,
        };
        let yaml = c.to_yaml().map_err(|e| UiError::BadRequest(e.to_string()))?;
        Connected {
            nav: who.nav(),
            summary: format!(
                "Service principal {name} ({}) holds {role} on {scope} of {host}. Its secret is in the text below and is shown only now.",
                c.username
            ),
            blocks: vec![
                Block {
                    id: "connect-yaml",
                    title: "Secret and ServiceAccount".into(),
                    note: "As berth kube connect prints them; apply with kubectl apply -f -.".into(),
                    text: yaml,
                },
                Block {
                    id: "connect-kubectl",
                    title: "Or with kubectl alone".into(),
                    note: "The same Secret, and the ServiceAccount patched to carry it.".into(),
                    text: c.kubectl_commands(),
                },
                Block {
                    id: "connect-provider",
                    title: "Or no secret in the cluster: the kubelet's credential provider".into(),
                    note: format!(
                        "Give each node's kubelet this file as --image-credential-provider-config, the berth binary in --image-credential-provider-bin-dir, and the credentials below in {NODE_CREDENTIALS_FILE} (mode 0600)."
                    ),
                    text: c.provider_config_yaml(),
                },
                Block {
                    id: "connect-node-credentials",
                    title: NODE_CREDENTIALS_FILE.to_owned(),
                    note: "Readable by root only.".into(),
                    text: c.node_credentials_json(),
                },
            ],
            shows_secret: true,
        }
    };
    render(&page)
}

/// What a workload-identity connection names.
struct Workload {
    namespace: String,
    service_account: String,
    name: String,
    role: String,
    scope: String,
    issuer: String,
    audience: String,
}

/// The principal named `name` (created without a password when there is none; either way
/// holding `role` at `scope`), its federated credential for the service account's tokens from
/// `issuer` (made unless one already matches), and the page with the four documents.
async fn workload(
    st: &AppState,
    who: &crate::session::Viewer,
    admin: &IdentityAdmin<'_>,
    w: Workload,
) -> Result<Connected, UiError> {
    let existing = admin.principals().await?.into_iter().find(|p| p.display_name == w.name);
    let app_id = match existing {
        Some(p) => {
            let req =
                CreateRoleAssignment { assignee: p.app_id.clone(), role: w.role.clone(), scope: Some(w.scope.clone()) };
            admin.assign_role(&req).await?;
            p.app_id
        }
        None => {
            let req = CreateServicePrincipal {
                name: w.name.clone(),
                role: Some(w.role.clone()),
                scopes: Some(w.scope.clone()),
                years: None,
            };
            let created = admin.create_service_principal(&req).await?;
            let app_id = created.principal.app_id;
            // Its password is shown to no one: federation needs none.
            for c in admin.credentials(&app_id).await? {
                admin.delete_credential(&app_id, &c.key_id).await?;
            }
            app_id
        }
    };
    admin_allow(st, who, AdminEndpoint::CreateFederatedCredential { key: app_id.clone() })?;
    let subject = service_account_subject(&w.namespace, &w.service_account);
    let listed = admin.federated_credentials(&app_id).await?;
    let known = listed.iter().any(|f| f.issuer == w.issuer && f.subject == subject && f.audience == w.audience);
    if !known {
        let name = federated_credential_name(&w.namespace, &w.service_account, |n| listed.iter().any(|f| f.name == n));
        let req = CreateFederatedCredential {
            name,
            issuer: w.issuer.clone(),
            subject: subject.clone(),
            audience: w.audience.clone(),
            description: Some(federated_credential_description(&w.namespace, &w.service_account)),
        };
        admin.create_federated_credential(&app_id, &req).await?;
    }
    let host = st.challenge.service.clone();
    let identity = WorkloadIdentity {
        namespace: w.namespace,
        service_account: w.service_account,
        app_id: app_id.clone(),
        audience: w.audience,
        registry: host.clone(),
    };
    let objects =
        [identity.service_account_yaml(), identity.cluster_role_yaml(), identity.binding_yaml()].join("---\n");
    Ok(Connected {
        nav: who.nav(),
        summary: format!(
            "Service principal {} ({app_id}) holds {} on {} of {host} and trusts tokens of {subject} from {}. No secret exists.",
            w.name, w.role, w.scope, w.issuer
        ),
        blocks: vec![
            Block {
                id: "connect-yaml",
                title: "ServiceAccount, ClusterRole and binding".into(),
                note: "Apply with kubectl apply -f -.".into(),
                text: objects,
            },
            Block {
                id: "connect-provider",
                title: "The kubelet's credential provider".into(),
                note: "Give each node's kubelet this file as --image-credential-provider-config, the berth binary in --image-credential-provider-bin-dir.".into(),
                text: identity.provider_config_yaml(),
            },
            Block {
                id: "connect-all",
                title: "All four, as berth kube connect --workload-identity prints them".into(),
                note: String::new(),
                text: identity.to_yaml(),
            },
        ],
        shows_secret: false,
    })
}
