//! What the Kubernetes side reads from the cluster and the kubelet never panics: Secret
//! contents (`.dockerconfigjson`, `.dockercfg`, `auth` values), credential-provider requests
//! on stdin, and the keyring's matching of registry keys against image names.
#![no_main]
use berth_kube::{dockercfg, keyring, provider};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&[u8], &str, &str)| {
    let (bytes, a, b) = input;
    let _ = dockercfg::parse_docker_config_json(bytes);
    let _ = dockercfg::parse_dockercfg(bytes);
    let _ = dockercfg::decode_auth(a, b);
    let _ = provider::parse_request(bytes);
    if let Some(key) = keyring::key_of(a) {
        // The doctor's explanation and the matcher agree.
        assert_eq!(keyring::matches(&key, b), keyring::mismatch(&key, b).is_none(), "{key} vs {b}");
    }
});
