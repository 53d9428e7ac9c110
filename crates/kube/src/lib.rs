//! berth-kube: the Kubernetes side of Berth, as the kubelet and kubectl see it.
//!
//! [`secret`]: the `kubernetes.io/dockerconfigjson` Secret `kubectl create secret
//! docker-registry` makes, byte for byte ([`gostr`]: Go's JSON escaping and go-yaml's scalar
//! quoting, which that byte identity rests on). [`dockercfg`]: secret contents as the kubelet
//! parses them ([`gojson`]: JSON as Go's `encoding/json` decodes it into structs).
//! [`keyring`]: which credentials the kubelet tries for an image, in which order ([`glob`]:
//! Go's `filepath.Match`; [`gourl`]: Go's `url.Parse`). [`objects`]: pods, workloads,
//! secrets and service accounts read from files. [`podauth`]: the credentials the kubelet
//! offers for a pod.
//! [`kubelet`]: the pull itself, through a runtime's CRI image service ([`cri`]) or into an
//! OCI layout with Berth's client. [`provider`]: the kubelet credential-provider plugin's
//! request and response; [`workload`]: the objects a cluster needs for its pods to pull with
//! their service-account tokens; [`connect`]: those for pods that pull with a secret.
//! [`doctor`]: why a pull would fail, asking the registry
//! ([`probe`]) with each credential, and why a service-account token is refused
//! ([`federated_doctor`]). [`jwt`]: a token's claims, read without verifying.
//!
//! Dependency rule: depends on `berth-core` and `berth-client` only; never on the server side.
#![deny(missing_docs)]

pub mod connect;
pub mod cri;
pub mod dockercfg;
pub mod doctor;
pub mod federated_doctor;
pub mod glob;
pub mod gojson;
pub mod gostr;
pub mod gourl;
pub mod jwt;
pub mod keyring;
pub mod kubelet;
pub mod objects;
pub mod podauth;
pub mod probe;
pub mod provider;
pub mod secret;
pub mod workload;
