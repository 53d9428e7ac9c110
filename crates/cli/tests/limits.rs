//! Limits that keep one anonymous client from exhausting the server (issue 11): what a client
//! sends never becomes a metric label.

mod common;

use common::{raw, raw_get, server};

/// The value at the end of a `/metrics` line.
fn value(line: &str) -> u64 {
    line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Issue 11, item 2: every request method a client invents is counted under
/// `method="other"`, so a flood of invented methods adds no metric series (each series lives as
/// long as the process).
#[test]
fn invented_methods_add_no_metric_series() {
    const REQUESTS: usize = 300;
    let s = server(&[]);
    let paths = ["/v2/", "/v2/some/repo/manifests/latest", "/healthz", "/nowhere"];
    for i in 0..REQUESTS {
        let method = format!("INVENTED{i:04}{}", "X".repeat(200));
        let path = paths[i % paths.len()];
        let request = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", s.addr);
        let (status, text) = raw(&s.addr, request.as_bytes());
        assert!(status >= 400, "{method} {path}: {text}");
    }
    let (status, text) = raw_get(&s, "/metrics");
    assert_eq!(status, 200, "{text}");
    let leaked = text.lines().filter(|l| l.contains("INVENTED")).count();
    assert_eq!(leaked, 0, "{leaked} metric lines carry a method a client invented");
    let requests: Vec<&str> = text.lines().filter(|l| l.starts_with("berth_http_requests_total{")).collect();
    let other: u64 = requests.iter().filter(|l| l.contains("method=\"other\"")).map(|l| value(l)).sum();
    assert_eq!(other, REQUESTS as u64, "every invented method is counted as other:\n{text}");
    // One series per (route, method, status) the server produced: a handful, not one per request.
    assert!(requests.len() <= 2 * paths.len(), "{} request series:\n{text}", requests.len());
    let latency = text.lines().filter(|l| l.starts_with("berth_http_request_duration_seconds_count{")).count();
    assert!(latency <= 2 * paths.len(), "{latency} latency series:\n{text}");
}
