//! `berth gc`, `berth purge` and `berth audit`: the registry's housekeeping, run by the server.

use super::{NO_BODY, RegistryArg, call_as, show};
use crate::output::{self, OutputArgs};
use anyhow::{Context, Result, bail};
use berth_core::admin_api::{AuditEntry, GcRequest, PurgeRequest};
use clap::Args;
use reqwest::Method;
use serde_json::Value;

/// `berth gc`.
#[derive(Args)]
pub struct GcArgs {
    /// Only report what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub registry: RegistryArg,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `berth gc`: asks the server to collect garbage now (or to report what it would).
pub fn gc(args: GcArgs) -> Result<()> {
    let body = GcRequest { dry_run: args.dry_run };
    let report: Value = call_as(&args.registry, Method::POST, "gc", Some(&body))?;
    output::print(&report, &args.out)
}

/// `berth purge`.
#[derive(Args)]
pub struct PurgeArgs {
    /// Delete manifests no tag names (the only kind of purge Berth does; required so the
    /// command says what it deletes).
    #[arg(long, required = true)]
    pub untagged: bool,
    /// Only manifests older than this: 30m, 12h, 7d, 0 (all).
    #[arg(long)]
    pub ago: String,
    /// Only in this repository.
    #[arg(long)]
    pub repository: Option<String>,
    /// Only report what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub registry: RegistryArg,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `7d`, `12h`, `30m`, `45s` or `0` as seconds.
fn age_secs(s: &str) -> Result<u64> {
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits.parse().with_context(|| format!("--ago {s:?}: write a number and a unit, e.g. 7d or 12h"))?;
    let per = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" | "" if n == 0 || unit == "s" => 1,
        _ => bail!("--ago {s:?}: the unit must be d, h, m or s, e.g. 7d"),
    };
    n.checked_mul(per).with_context(|| format!("--ago {s:?} is too long"))
}

/// `berth purge --untagged`: deletes manifests no tag names (nor index lists, nor that are
/// referrers), older than `--ago`, as `acr purge --untagged`; their layers go at the next GC.
pub fn purge(args: PurgeArgs) -> Result<()> {
    let body = PurgeRequest { ago_secs: age_secs(&args.ago)?, repository: args.repository, dry_run: args.dry_run };
    let report: Value = call_as(&args.registry, Method::POST, "purge", Some(&body))?;
    output::print(&report, &args.out)
}

/// `berth audit`.
#[derive(Args)]
pub struct AuditArgs {
    /// How many of the newest events.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    #[command(flatten)]
    pub registry: RegistryArg,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `berth audit`: the newest events of the audit log (who changed or deleted what, from where).
pub fn audit(args: AuditArgs) -> Result<()> {
    let path = format!("audit?limit={}", args.limit);
    show::<Vec<AuditEntry>>(&args.registry, Method::GET, &path, NO_BODY, &args.out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages() {
        assert_eq!(super::age_secs("7d").unwrap(), 604_800);
        assert_eq!(super::age_secs("12h").unwrap(), 43_200);
        assert_eq!(super::age_secs("30m").unwrap(), 1_800);
        assert_eq!(super::age_secs("45s").unwrap(), 45);
        assert_eq!(super::age_secs("0").unwrap(), 0);
        for bad in ["", "d", "7", "7w", "-1d", "99999999999999999999d"] {
            assert!(super::age_secs(bad).is_err(), "{bad}");
        }
    }
}
