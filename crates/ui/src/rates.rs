//! Request rates for the status page, from the server's own metrics: the Prometheus text
//! [`berth_server::metrics::Metrics::encode`] writes is read back into totals
//! ([`Totals::parse`]), and [`RateWindow`] keeps a few dated totals so a view can show the
//! rate over the last minutes rather than since the start. Memory is bounded: at most
//! [`KEPT`] samples, one per [`EVERY`] at most, and the totals' keys are the server's own
//! closed label sets.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Samples kept at most.
pub const KEPT: usize = 64;
/// The least time between two samples.
pub const EVERY: Duration = Duration::from_secs(5);
/// How far back a rate looks, at most.
pub const SPAN: Duration = Duration::from_secs(300);

/// Request counts and bytes, summed since the server started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Requests by route label.
    pub by_route: BTreeMap<String, u64>,
    /// Requests by status class (`2xx`, `3xx`, `4xx`, `5xx`).
    pub by_class: BTreeMap<String, u64>,
    /// Response body bytes.
    pub bytes_out: u64,
    /// Request body bytes.
    pub bytes_in: u64,
}

/// The value of label `name` in a `{a="x",b="y"}` label set.
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    labels.split(',').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"'))
    })
}

impl Totals {
    /// Reads the totals out of the server's metrics text; lines it does not know are skipped.
    pub fn parse(text: &str) -> Totals {
        let mut t = Totals::default();
        for line in text.lines() {
            let Some((series, value)) = line.rsplit_once(' ') else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            let value = value.max(0.0) as u64;
            if let Some(labels) =
                series.strip_prefix("berth_http_requests_total{").and_then(|rest| rest.strip_suffix('}'))
            {
                let route = label(labels, "route").unwrap_or("other");
                *t.by_route.entry(route.to_owned()).or_default() += value;
                let class = match label(labels, "status").and_then(|s| s.chars().next()) {
                    Some(c @ '1'..='5') => format!("{c}xx"),
                    _ => "other".to_owned(),
                };
                *t.by_class.entry(class).or_default() += value;
            } else if series == "berth_http_response_body_bytes_total" {
                t.bytes_out = value;
            } else if series == "berth_http_request_body_bytes_total" {
                t.bytes_in = value;
            }
        }
        t
    }

    /// Requests of every route.
    pub fn requests(&self) -> u64 {
        self.by_route.values().sum()
    }
}

/// Rates between two totals, per second.
#[derive(Debug, Clone, PartialEq)]
pub struct Rates {
    /// The seconds the rates are taken over.
    pub over: Duration,
    /// Whether they are averages since the server started (no earlier sample was kept).
    pub since_start: bool,
    /// Requests per second by route, busiest first.
    pub by_route: Vec<(String, f64)>,
    /// Requests per second by status class.
    pub by_class: Vec<(String, f64)>,
    /// All requests per second.
    pub requests: f64,
    /// Response bytes per second.
    pub bytes_out: f64,
    /// Request bytes per second.
    pub bytes_in: f64,
}

fn per_second(now: &BTreeMap<String, u64>, then: &BTreeMap<String, u64>, secs: f64) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = now
        .iter()
        .map(|(k, n)| (k.clone(), n.saturating_sub(then.get(k).copied().unwrap_or(0)) as f64 / secs))
        .collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

/// Rates from `then` to `now` over `over`.
pub fn rates(now: &Totals, then: &Totals, over: Duration, since_start: bool) -> Rates {
    let secs = over.as_secs_f64().max(1.0);
    Rates {
        over,
        since_start,
        by_route: per_second(&now.by_route, &then.by_route, secs),
        by_class: per_second(&now.by_class, &then.by_class, secs),
        requests: now.requests().saturating_sub(then.requests()) as f64 / secs,
        bytes_out: now.bytes_out.saturating_sub(then.bytes_out) as f64 / secs,
        bytes_in: now.bytes_in.saturating_sub(then.bytes_in) as f64 / secs,
    }
}

/// Dated totals, to take rates over a recent span.
pub struct RateWindow {
    started: Instant,
    samples: Mutex<VecDeque<(Instant, Totals)>>,
}

impl Default for RateWindow {
    fn default() -> Self {
        RateWindow { started: Instant::now(), samples: Mutex::new(VecDeque::new()) }
    }
}

impl RateWindow {
    /// How long the window (the server) has been up.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Records `now` (unless a sample is younger than [`EVERY`]) and answers the rates since
    /// the oldest sample within [`SPAN`], or since the start when there is none.
    pub fn observe(&self, now: Totals) -> Rates {
        let at = Instant::now();
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        while samples.front().is_some_and(|(t, _)| at.duration_since(*t) > SPAN) || samples.len() >= KEPT {
            samples.pop_front();
        }
        let answer = match samples.front() {
            Some((t, then)) if at.duration_since(*t) >= Duration::from_secs(1) => {
                rates(&now, then, at.duration_since(*t), false)
            }
            _ => rates(&now, &Totals::default(), self.uptime(), true),
        };
        if samples.back().is_none_or(|(t, _)| at.duration_since(*t) >= EVERY) {
            samples.push_back((at, now));
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP berth_http_requests HTTP requests answered.\n\
        # TYPE berth_http_requests counter\n\
        berth_http_requests_total{route=\"manifest\",method=\"GET\",status=\"200\"} 10\n\
        berth_http_requests_total{route=\"manifest\",method=\"HEAD\",status=\"404\"} 2\n\
        berth_http_requests_total{route=\"blob\",method=\"GET\",status=\"200\"} 30\n\
        berth_http_requests_total{route=\"blob\",method=\"GET\",status=\"503\"} 1\n\
        berth_http_response_body_bytes_total 4096\n\
        berth_http_request_body_bytes_total 512\n\
        berth_gc_runs_total{outcome=\"ok\"} 3\n\
        # EOF\n";

    #[test]
    fn the_metrics_text_reads_back_into_totals() {
        let t = Totals::parse(TEXT);
        assert_eq!(t.by_route.get("manifest"), Some(&12));
        assert_eq!(t.by_route.get("blob"), Some(&31));
        assert_eq!(t.by_class.get("2xx"), Some(&40));
        assert_eq!(t.by_class.get("4xx"), Some(&2));
        assert_eq!(t.by_class.get("5xx"), Some(&1));
        assert_eq!((t.bytes_out, t.bytes_in, t.requests()), (4096, 512, 43));
        assert_eq!(Totals::parse("garbage\nberth_http_requests_total{route=\"x\"} NaNx\n"), Totals::default());
    }

    #[test]
    fn rates_are_differences_over_time_busiest_first() {
        let then = Totals::parse(TEXT);
        let mut now = then.clone();
        *now.by_route.get_mut("blob").unwrap() += 20;
        *now.by_route.get_mut("manifest").unwrap() += 10;
        now.bytes_out += 10_000;
        let r = rates(&now, &then, Duration::from_secs(10), false);
        assert_eq!(r.by_route, [("blob".to_owned(), 2.0), ("manifest".to_owned(), 1.0)]);
        assert_eq!((r.requests, r.bytes_out), (3.0, 1000.0));
        let w = RateWindow::default();
        let first = w.observe(then.clone());
        assert!(first.since_start, "no earlier sample: averaged since the start");
        assert_eq!(w.samples.lock().unwrap().len(), 1);
        w.observe(now);
        assert_eq!(w.samples.lock().unwrap().len(), 1, "at most one sample per interval");
    }
}
