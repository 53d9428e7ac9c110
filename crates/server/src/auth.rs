//! Authentication and the single authorisation point.
//!
//! Authentication turns a request's credentials into a [`Caller`]; it never decides access.
//! Authorisation is [`authorize`]: it computes what the route needs ([`required_access`]),
//! asks the pure policy function [`berth_core::access::grant`], and only on success builds an
//! [`Authorized`] value. Handlers take `Authorized`, whose constructor is private to this
//! module, so no handler can run without passing through here.

use crate::error::ApiError;
use crate::route::OciRoute;
use berth_core::ErrorCode;
use berth_core::access::{self, Access, Action, Policy};
use http::{HeaderValue, Method, header};

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No credentials.
    Anonymous,
}

/// A route the caller may use. Only [`authorize`] constructs one.
#[derive(Debug)]
pub struct Authorized {
    route: OciRoute,
    caller: Caller,
}

impl Authorized {
    /// The route that was authorised.
    pub fn route(&self) -> &OciRoute {
        &self.route
    }

    /// Who was authorised.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }
}

/// What `method` on `route` needs, following distribution's `appendAccessRecords`: reads
/// need pull; writes need pull and push; deletes need delete; a mount also needs pull on its
/// source; the catalog needs `registry:catalog:*`. `/v2/` needs no access, only a caller.
pub fn required_access(route: &OciRoute, method: &Method, mount_from: Option<&str>) -> Vec<Access> {
    let Some(repo) = route.repo() else {
        return match route {
            OciRoute::Catalog => vec![Access::catalog()],
            _ => Vec::new(),
        };
    };
    let name = repo.as_str();
    let mut wanted = match (method, route) {
        (&Method::GET | &Method::HEAD, _) => vec![Access::repository(name, &[Action::Pull])],
        (&Method::DELETE, OciRoute::Upload { .. }) => vec![Access::repository(name, &[Action::Pull, Action::Push])],
        (&Method::DELETE, _) => vec![Access::repository(name, &[Action::Delete])],
        _ => vec![Access::repository(name, &[Action::Pull, Action::Push])],
    };
    if let (OciRoute::Uploads { .. }, Some(from)) = (route, mount_from) {
        wanted.push(Access::repository(from, &[Action::Pull]));
    }
    wanted
}

/// The one authorisation point. On refusal the caller gets `challenge`'s 401.
pub fn authorize(
    policy: &Policy,
    caller: Caller,
    route: OciRoute,
    method: &Method,
    mount_from: Option<&str>,
    challenge: &Challenge,
) -> Result<Authorized, ApiError> {
    let wanted = required_access(&route, method, mount_from);
    let granted = access::grant(policy, &wanted);
    if access::covers(&granted, &wanted) { Ok(Authorized { route, caller }) } else { Err(challenge.refuse(&wanted)) }
}

/// Where clients get tokens: the `realm` and `service` of `WWW-Authenticate`.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// Token endpoint URL.
    pub realm: String,
    /// Service name (the registry host).
    pub service: String,
}

impl Challenge {
    /// 401 with a `Bearer` challenge naming the scopes that were missing.
    pub fn refuse(&self, wanted: &[Access]) -> ApiError {
        let mut value = format!("Bearer realm=\"{}\",service=\"{}\"", self.realm, self.service);
        let scopes: Vec<String> = wanted.iter().map(Access::to_string).collect();
        if !scopes.is_empty() {
            value.push_str(&format!(",scope=\"{}\"", scopes.join(" ")));
        }
        let value = HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
        ApiError::new(ErrorCode::Unauthorized).header(header::WWW_AUTHENTICATE, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::RepoName;

    #[test]
    fn access_table() {
        let name = RepoName::parse("team/app").unwrap();
        let uploads = OciRoute::Uploads { name: name.clone() };
        let tags = OciRoute::Tags { name };
        let s = |v: Vec<Access>| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        assert_eq!(s(required_access(&tags, &Method::GET, None)), ["repository:team/app:pull"]);
        assert_eq!(
            s(required_access(&uploads, &Method::POST, Some("other"))),
            ["repository:other:pull", "repository:team/app:pull,push"]
                .iter()
                .rev()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
        );
        assert_eq!(s(required_access(&OciRoute::Catalog, &Method::GET, None)), ["registry:catalog:*"]);
        assert!(required_access(&OciRoute::Base, &Method::GET, None).is_empty());
    }
}
