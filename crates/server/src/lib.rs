//! berth-server: the HTTP face of the registry.
//!
//! The axum router, its one OCI path parser ([`route`]) and endpoint tables ([`endpoint`], the admin API's
//! [`admin_endpoint`]), authentication and the single
//! authorisation point ([`auth`]), the error policy ([`error`]) with its request IDs
//! ([`request_id`]), request-body guards
//! ([`body`]), metrics, configuration, TLS, and the accept loop ([`serve`]) with its connection limits
//! ([`conns`]) and zero-copy blob sending on plain HTTP ([`zerocopy`]).
//!
//! Dependency rule: sees `berth-registry` and `berth-core`; never a concrete store. `cli`
//! wires the stores in.

pub mod admin_endpoint;
pub mod auth;
pub mod body;
pub mod cache_metrics;
pub mod config;
pub mod conns;
pub mod endpoint;
pub mod error;
pub mod handlers;
pub mod metrics;
pub mod ratelimit;
pub mod request_id;
pub mod route;
pub mod serve;
pub mod tls;
pub mod zerocopy;

pub use config::Config;
pub use handlers::{AppState, router, router_with};
