//! berth-testkit: what the integration tests share (dev-dependency only).
//!
//! [`TestServer`] runs the real `berth serve` binary on an ephemeral port with its own data
//! directory; [`image`] builds images with known digests and writes OCI layouts; [`oci`] is a
//! thin raw-HTTP helper for pushing and pulling with exact control over headers;
//! [`containerd::Containerd`] is a private containerd with its CRI plugin, as a node runs it;
//! [`postgres::Postgres`] a throwaway PostgreSQL cluster; [`garage::Garage`] a throwaway S3 store;
//! [`distribution::Distribution`] a throwaway CNCF distribution (an upstream, or a proxy);
//! [`fault_proxy::FaultProxy`] a counting proxy in front of an upstream that injects faults;
//! [`browser::Browser`] a headless Chromium driven over WebDriver, for tests of the web UI.

pub mod browser;
pub mod containerd;
pub mod distribution;
pub mod fault_proxy;
pub mod garage;
pub mod image;
pub mod oci;
pub mod oidc;
pub mod postgres;
mod server;

pub use server::{TestServer, basic, http_client};
