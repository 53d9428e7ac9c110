//! `[ui]`: the web UI that `berth serve` serves under `/ui/` on its own listener.

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// `[ui]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiConfig {
    /// Served at all (on by default; off, `/ui/` is an unknown path like any other).
    pub enabled: bool,
    /// Seconds a browser session lasts after signing in (never beyond the credential used).
    pub session_secs: u64,
}

impl Default for UiConfig {
    fn default() -> Self {
        UiConfig { enabled: true, session_secs: 8 * 3600 }
    }
}

impl UiConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.session_secs == 0 || self.session_secs > 7 * 24 * 3600 {
            return Err(ConfigError("ui.session_secs must be between 1 and 604800 (a week)".into()));
        }
        Ok(())
    }
}
