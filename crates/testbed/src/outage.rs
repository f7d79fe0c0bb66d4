//! The simulated database outage, shared across processes through a deadline file in the data
//! directory, so that the API and every worker fail their database calls together.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::clock::now_ms;

/// The file name of the outage deadline (epoch milliseconds) inside the data directory.
pub const OUTAGE_FILE: &str = "db-outage-until";

/// A handle on the shared outage deadline.
#[derive(Debug, Clone)]
pub struct DbOutage {
    path: PathBuf,
}

impl DbOutage {
    /// The outage marker of a data directory.
    pub fn new(data_dir: &Path) -> DbOutage {
        DbOutage {
            path: data_dir.join(OUTAGE_FILE),
        }
    }

    /// Start an outage lasting `duration` from now, for every process sharing the data directory.
    pub fn begin(&self, duration: Duration) -> std::io::Result<u64> {
        let until =
            now_ms().saturating_add(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, until.to_string())?;
        std::fs::rename(&tmp, &self.path)?;
        Ok(until)
    }

    /// The milliseconds left in the current outage, or `None` when the database is reachable.
    pub fn remaining_ms(&self) -> Option<u64> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        let until: u64 = text.trim().parse().ok()?;
        let now = now_ms();
        (until > now).then(|| until - now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_seen_by_another_handle_and_ends() {
        let dir = tempfile::tempdir().unwrap();
        let a = DbOutage::new(dir.path());
        let b = DbOutage::new(dir.path());
        assert_eq!(b.remaining_ms(), None);
        a.begin(Duration::from_secs(60)).unwrap();
        assert!(b.remaining_ms().is_some());
        a.begin(Duration::ZERO).unwrap();
        assert_eq!(b.remaining_ms(), None);
    }
}
