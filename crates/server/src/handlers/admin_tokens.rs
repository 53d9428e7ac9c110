//! The admin API for repository-scoped tokens and their scope maps (`/admin/v1/tokens…`,
//! `/admin/v1/scope-maps…`), reached only through [`super::admin`]'s authorisation.

use super::admin::{body, conflict, invalid, json_response, not_found, unavailable};
use super::{AppState, rfc3339};
use crate::auth::AdminAuthorized;
use crate::error::ApiError;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use berth_core::principals::NameTaken;
use berth_core::scopemap::{ScopeMap, ScopeRule, Token, valid_name};
use berth_registry::auth::{TokenScope, TokenSecret};
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ScopeMapBody {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    actions: Vec<String>,
    #[serde(default)]
    add_actions: Vec<String>,
    #[serde(default)]
    remove_actions: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TokenBody {
    name: Option<String>,
    scope_map: Option<String>,
    #[serde(default)]
    actions: Vec<String>,
    status: Option<String>,
    #[serde(default)]
    no_passwords: bool,
    expiration_in_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CredentialBody {
    #[serde(default)]
    password1: bool,
    #[serde(default)]
    password2: bool,
    expiration_in_days: Option<u32>,
}

fn rules(actions: &[String]) -> Result<Vec<ScopeRule>, ApiError> {
    actions.iter().map(|a| a.parse::<ScopeRule>().map_err(invalid)).collect()
}

fn scope_map_json(m: &ScopeMap) -> Value {
    json!({
        "name": m.name,
        "description": m.description,
        "actions": m.rules.iter().map(ScopeRule::to_string).collect::<Vec<_>>(),
        "type": if m.system { "SystemDefined" } else { "UserDefined" },
    })
}

fn password_json(slot: u8, created: i64, expiry: Option<i64>, value: Option<&str>) -> Value {
    let mut v =
        json!({ "name": format!("password{slot}"), "creationTime": rfc3339(created), "expiry": expiry.map(rfc3339) });
    if let Some(value) = value {
        v["value"] = json!(value);
    }
    v
}

fn token_json(t: &Token, shown: &[TokenSecret]) -> Value {
    let passwords: Vec<Value> = t
        .passwords
        .iter()
        .map(|p| {
            let value = shown.iter().find(|s| s.slot == p.slot && s.created == p.created).map(|s| s.value.as_str());
            password_json(p.slot, p.created, p.expiry, value)
        })
        .collect();
    json!({
        "name": t.name,
        "scopeMap": t.scope_map,
        "status": if t.enabled { "enabled" } else { "disabled" },
        "creationDate": rfc3339(t.created),
        "credentials": { "username": t.name, "passwords": passwords },
    })
}

fn status(s: Option<&str>) -> Result<Option<bool>, ApiError> {
    match s {
        None => Ok(None),
        Some("enabled") => Ok(Some(true)),
        Some("disabled") => Ok(Some(false)),
        Some(other) => Err(invalid(format!("status must be enabled or disabled, not {other:?}"))),
    }
}

fn expiry(days: Option<u32>) -> Option<i64> {
    days.map(|d| berth_core::principals::now_secs() + i64::from(d) * 86_400)
}

/// Routes the token and scope-map part of the admin API.
pub(super) async fn route(
    st: &AppState,
    auth: &AdminAuthorized,
    remote: &str,
    method: Method,
    segments: &[&str],
    req: Body,
) -> Result<Response, ApiError> {
    let ids = st.auth.identities().clone();
    let actor = auth.caller().subject();
    let audit = |action: &'static str, target: String| {
        let actor = actor.to_owned();
        async move { st.auth.audit(&actor, action, &target, remote).await }
    };
    match (method, segments) {
        (Method::GET, ["scope-maps"]) => {
            let all = ids.scope_maps().await.map_err(unavailable)?;
            Ok(json_response(StatusCode::OK, json!(all.iter().map(scope_map_json).collect::<Vec<_>>())))
        }
        (Method::GET, ["scope-maps", name]) => {
            let m = ids.scope_map(name).await.map_err(unavailable)?.ok_or_else(|| not_found("scope map"))?;
            Ok(json_response(StatusCode::OK, scope_map_json(&m)))
        }
        (Method::POST, ["scope-maps"]) => {
            let b: ScopeMapBody = body(req).await?;
            let name = b.name.ok_or_else(|| invalid("name is required"))?;
            if !valid_name(&name) {
                return Err(invalid("a scope-map name has 5 to 50 letters, digits or '-'"));
            }
            if ids.scope_map(&name).await.map_err(unavailable)?.is_some() {
                return Err(conflict(format!("scope map {name} already exists; use update")));
            }
            let m = ScopeMap { name, description: b.description, rules: rules(&b.actions)?, system: false };
            ids.put_scope_map(&m).await.map_err(unavailable)?;
            audit("scope-map.create", m.name.clone()).await;
            Ok(json_response(StatusCode::CREATED, scope_map_json(&m)))
        }
        (Method::PATCH, ["scope-maps", name]) => {
            let b: ScopeMapBody = body(req).await?;
            let mut m = ids.scope_map(name).await.map_err(unavailable)?.ok_or_else(|| not_found("scope map"))?;
            if m.system {
                return Err(invalid("built-in scope maps cannot be changed"));
            }
            let (add, remove) = (rules(&b.add_actions)?, rules(&b.remove_actions)?);
            m.rules.retain(|r| !remove.contains(r));
            m.rules.extend(add.into_iter().filter(|r| !m.rules.contains(r)).collect::<Vec<_>>());
            if b.description.is_some() {
                m.description = b.description;
            }
            ids.put_scope_map(&m).await.map_err(unavailable)?;
            audit("scope-map.update", m.name.clone()).await;
            Ok(json_response(StatusCode::OK, scope_map_json(&m)))
        }
        (Method::DELETE, ["scope-maps", name]) => match ids.delete_scope_map(name).await {
            Ok(true) => {
                audit("scope-map.delete", name.to_string()).await;
                Ok(StatusCode::NO_CONTENT.into_response())
            }
            Ok(false) => Err(not_found("scope map")),
            Err(berth_core::MetaError::Conflict) => Err(invalid(format!("scope map {name} is used by a token"))),
            Err(e) => Err(unavailable(e)),
        },
        (Method::GET, ["tokens"]) => {
            let all = ids.tokens().await.map_err(unavailable)?;
            Ok(json_response(StatusCode::OK, json!(all.iter().map(|t| token_json(t, &[])).collect::<Vec<_>>())))
        }
        (Method::GET, ["tokens", name]) => {
            let t = ids.token(name).await.map_err(unavailable)?.ok_or_else(|| not_found("token"))?;
            Ok(json_response(StatusCode::OK, token_json(&t, &[])))
        }
        (Method::POST, ["tokens"]) => {
            let b: TokenBody = body(req).await?;
            let name = b.name.ok_or_else(|| invalid("name is required"))?;
            if !valid_name(&name) {
                return Err(invalid("a token name has 5 to 50 letters, digits or '-' and is not a UUID"));
            }
            // A map made for the token alone; an existing one of that name is never changed.
            let own_map = format!("{name}-scope-map");
            let scope = match (b.scope_map, b.actions.is_empty()) {
                (Some(m), true) => {
                    ids.scope_map(&m).await.map_err(unavailable)?.ok_or_else(|| not_found("scope map"))?;
                    TokenScope::Existing(m)
                }
                (None, false) => TokenScope::New(ScopeMap {
                    name: own_map.clone(),
                    description: None,
                    rules: rules(&b.actions)?,
                    system: false,
                }),
                _ => return Err(invalid("give either --scope-map or --repository, not both and not neither")),
            };
            let makes_map = matches!(scope, TokenScope::New(_));
            let enabled = status(b.status.as_deref())?.unwrap_or(true);
            let created = st
                .auth
                .create_token(&name, scope, enabled, b.no_passwords, expiry(b.expiration_in_days))
                .await
                .map_err(unavailable)?;
            let created = match created {
                Ok(created) => created,
                Err(NameTaken::Token) => return Err(conflict(format!("token {name} already exists"))),
                Err(NameTaken::ScopeMap) => {
                    return Err(conflict(format!(
                        "scope map {own_map} already exists and other tokens may hold it, so nothing was \
                         changed or created; pass --scope-map {own_map} to give token {name} that map as it \
                         is, or choose another token name"
                    )));
                }
            };
            if makes_map {
                audit("scope-map.create", own_map).await;
            }
            audit("token.create", name.clone()).await;
            Ok(json_response(StatusCode::CREATED, token_json(&created.token, &created.passwords)))
        }
        (Method::PATCH, ["tokens", name]) => {
            let b: TokenBody = body(req).await?;
            if let Some(m) = &b.scope_map {
                ids.scope_map(m).await.map_err(unavailable)?.ok_or_else(|| not_found("scope map"))?;
            }
            let enabled = status(b.status.as_deref())?;
            if !ids.update_token(name, enabled, b.scope_map.as_deref()).await.map_err(unavailable)? {
                return Err(not_found("token"));
            }
            audit("token.update", name.to_string()).await;
            let t = ids.token(name).await.map_err(unavailable)?.ok_or_else(|| not_found("token"))?;
            Ok(json_response(StatusCode::OK, token_json(&t, &[])))
        }
        (Method::DELETE, ["tokens", name]) => {
            if !ids.delete_token(name).await.map_err(unavailable)? {
                return Err(not_found("token"));
            }
            audit("token.delete", name.to_string()).await;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (Method::POST, ["tokens", name, "credentials"]) => {
            let b: CredentialBody = body(req).await?;
            let slots: Vec<u8> = match (b.password1, b.password2) {
                (false, false) | (true, true) => vec![1, 2],
                (true, false) => vec![1],
                (false, true) => vec![2],
            };
            let shown = st
                .auth
                .generate_token_passwords(name, &slots, expiry(b.expiration_in_days))
                .await
                .map_err(unavailable)?;
            let shown = shown.ok_or_else(|| not_found("token"))?;
            audit("token.credential.generate", name.to_string()).await;
            let passwords: Vec<Value> =
                shown.iter().map(|s| password_json(s.slot, s.created, s.expiry, Some(&s.value))).collect();
            Ok(json_response(StatusCode::OK, json!({ "username": name, "passwords": passwords })))
        }
        _ => Err(ApiError::new(berth_core::ErrorCode::NameUnknown).detail("no such admin endpoint")),
    }
}
