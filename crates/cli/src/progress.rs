//! How a copy reports itself on stderr: indicatif bars (one per blob in flight and one
//! overall) when stderr is a terminal, one line per finished blob and manifest otherwise,
//! nothing with `--quiet`.

use berth_client::copy::{Event, Observer};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

/// The observer for a copy: bars on a terminal, lines otherwise, `None` when quiet.
pub fn observer(quiet: bool) -> Option<Observer> {
    if quiet {
        None
    } else if std::io::stderr().is_terminal() {
        Some(Bars::new().into_observer())
    } else {
        Some(Arc::new(line))
    }
}

/// One line per finished blob and manifest.
fn line(e: Event) {
    match e {
        Event::Blob { digest, bytes: 0 } => eprintln!("blob {digest}: already there"),
        Event::Blob { digest, bytes } => eprintln!("blob {digest}: {bytes} bytes copied"),
        Event::Manifest(digest) => eprintln!("manifest {digest}: written"),
        Event::Started { .. } | Event::Progress { .. } => {}
    }
}

/// Bars for blobs in flight, under one bar for the whole copy.
struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    blobs: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        overall.set_prefix("total");
        Bars { multi, overall, blobs: Mutex::new(HashMap::new()) }
    }

    fn into_observer(self) -> Observer {
        Arc::new(move |e| self.on(e))
    }

    fn on(&self, e: Event) {
        let mut blobs = self.blobs.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            Event::Started { digest, size } => {
                self.overall.inc_length(size);
                let bar = self.multi.insert_before(&self.overall, ProgressBar::new(size));
                bar.set_style(
                    ProgressStyle::with_template("{prefix:>12} [{bar:40}] {bytes}/{total_bytes}")
                        .expect("a valid template")
                        .progress_chars("=> "),
                );
                bar.set_prefix(digest.hex()[..12].to_owned());
                blobs.insert(digest.to_string(), bar);
            }
            Event::Progress { digest, bytes } => {
                if let Some(bar) = blobs.get(&digest.to_string()) {
                    bar.inc(bytes);
                    self.overall.inc(bytes);
                }
            }
            Event::Blob { digest, bytes } => {
                if let Some(bar) = blobs.remove(&digest.to_string()) {
                    // Bytes that never crossed (present, mounted, local) still count as done.
                    self.overall.inc(bar.length().unwrap_or(0).saturating_sub(bar.position()));
                    bar.finish_and_clear();
                }
                let what = if bytes == 0 { "already there".to_owned() } else { format!("{bytes} bytes copied") };
                self.multi.suspend(|| eprintln!("blob {digest}: {what}"));
            }
            Event::Manifest(digest) => {
                self.multi.suspend(|| eprintln!("manifest {digest}: written"));
            }
        }
        if blobs.is_empty() && self.overall.position() >= self.overall.length().unwrap_or(0) {
            self.overall.finish_and_clear();
        }
    }
}
