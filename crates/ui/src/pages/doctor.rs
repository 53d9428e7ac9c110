//! "Why would this pull fail?" from a browser: `GET /ui/doctor` is a form for a pasted Pod
//! (or workload) with its Secrets and ServiceAccount, and optionally a service-account token;
//! `POST /ui/doctor` runs the checks of `berth kube doctor` on them
//! ([`berth_kube::doctor::diagnose`], as the kubelet would choose and try the credentials)
//! and shows a verdict per container.
//!
//! The server dials nothing a pasted document chooses: only containers whose image names
//! this registry (its login server, as pull commands name it) are checked, at most
//! [`MAX_CONTAINERS`]; any other image is listed as not checked. Pasted text is bounded
//! ([`MAX_PASTE`]) and every finding is shown escaped, since it quotes that text.

use super::posted_with;
use crate::error::UiError;
use crate::format::{Nav, render};
use crate::session::viewer;
use askama::Template;
use axum::extract::{Request, State};
use axum::response::Response;
use berth_kube::doctor::diagnose;
use berth_kube::federated_doctor::ServiceAccountToken;
use berth_kube::objects::{Objects, parse};
use berth_kube::podauth::for_workload;
use berth_server::AppState;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Bytes of pasted text read at most (the whole form).
pub const MAX_PASTE: usize = 256 * 1024;
/// Containers checked at most per request.
pub const MAX_CONTAINERS: usize = 20;

/// One container's verdict.
struct Verdict {
    subject: String,
    would_pull: bool,
    checked: bool,
    lines: Vec<String>,
}

#[derive(Template)]
#[template(path = "doctor.html")]
struct DoctorPage {
    nav: Nav,
    host: String,
    pod: String,
    secrets: String,
    verdicts: Vec<Verdict>,
    refusal: Option<String>,
    ran: bool,
}

fn page(st: &AppState, nav: Nav) -> DoctorPage {
    DoctorPage {
        nav,
        host: st.challenge.service.clone(),
        pod: String::new(),
        secrets: String::new(),
        verdicts: Vec::new(),
        refusal: None,
        ran: false,
    }
}

/// `GET /ui/doctor`: any signed-in viewer (the checks use only the pasted credentials).
pub async fn form(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let who = viewer(&st, req.headers()).await?;
    render(&page(&st, who.nav()))
}

/// `POST /ui/doctor`.
pub async fn check(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let (_, form, who, _) = posted_with(&st, req, Some(MAX_PASTE)).await?;
    let mut out = page(&st, who.nav());
    out.pod = form.get("pod").unwrap_or("").to_owned();
    out.secrets = form.get("secrets").unwrap_or("").to_owned();
    let token = form.get("token").map(str::trim).filter(|t| !t.is_empty());
    let mut objects = Objects::default();
    let read = parse("the pod", &out.pod, &mut objects).and_then(|()| parse("the secrets", &out.secrets, &mut objects));
    if let Err(e) = read {
        out.refusal = Some(e.to_string());
        return render(&out);
    }
    if objects.workloads.is_empty() {
        out.refusal = Some("the pasted text holds no Pod or workload with containers".into());
        return render(&out);
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| UiError::Failed(http::StatusCode::INTERNAL_SERVER_ERROR, format!("no HTTP client: {e}")))?;
    let sa = token.map(|t| ServiceAccountToken { token: t.to_owned(), client_id: None });
    let mut budget = MAX_CONTAINERS;
    for w in &objects.workloads {
        let creds = for_workload(w, &objects);
        let (ours, others): (Vec<_>, Vec<_>) =
            w.containers.iter().cloned().partition(|c| c.reference.registry == out.host);
        for c in others {
            out.verdicts.push(Verdict {
                subject: format!("{}, {} {}, image {}", w.origin, c.kind, c.name, c.image),
                would_pull: false,
                checked: false,
                lines: vec![format!("{} is not this registry ({}); not checked", c.reference.registry, out.host)],
            });
        }
        let take = ours.len().min(budget);
        budget -= take;
        let mut mine = w.clone();
        mine.containers = ours.into_iter().take(take).collect();
        if mine.containers.is_empty() {
            continue;
        }
        for d in diagnose(&http, &mine, &creds, &HashMap::new(), sa.as_ref()).await {
            out.verdicts.push(Verdict { subject: d.subject, would_pull: d.would_pull, checked: true, lines: d.lines });
        }
    }
    if budget == 0 {
        out.refusal = Some(format!("only the first {MAX_CONTAINERS} containers naming this registry were checked"));
    }
    out.ran = true;
    render(&out)
}
