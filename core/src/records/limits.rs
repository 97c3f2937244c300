//! Ceilings on what one customer may run (`[customer_limits]`) and what the store counts
//! against them. Why they are checked where they are is told in [`crate::servers::limits`].

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::records::providers::Resources;

/// How long the window of [`CustomerLimits::creates_per_minute`] is.
pub const CREATE_WINDOW: chrono::Duration = chrono::Duration::minutes(1);

/// The `[customer_limits]` section: what one account may have at once.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CustomerLimits {
    /// Servers not deleted (those being created count).
    pub max_servers: u32,
    /// vCPUs of those servers added up.
    pub max_vcpus: u64,
    /// Memory of those servers added up, in MiB.
    pub max_memory_mib: u64,
    /// Disk of those servers added up, in GiB.
    pub max_disk_gib: u64,
    /// Creates started in the last minute (failed ones and retries count).
    pub creates_per_minute: u32,
}

impl Default for CustomerLimits {
    fn default() -> Self {
        Self {
            max_servers: 10,
            max_vcpus: 64,
            max_memory_mib: 256 * 1024,
            max_disk_gib: 4096,
            creates_per_minute: 5,
        }
    }
}

/// What a customer has now, as the store counts it inside the transaction that checks it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InUse {
    /// Servers not deleted, the one being checked left out.
    pub servers: u64,
    pub vcpus: u64,
    pub memory_mib: u64,
    pub disk_gib: u64,
    /// Creates started in the last [`CREATE_WINDOW`], the one being checked left out.
    pub recent_creates: u64,
}

impl CustomerLimits {
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (key, value) in [
            ("max_servers", u64::from(self.max_servers)),
            ("max_vcpus", self.max_vcpus),
            ("max_memory_mib", self.max_memory_mib),
            ("max_disk_gib", self.max_disk_gib),
            ("creates_per_minute", u64::from(self.creates_per_minute)),
        ] {
            if value == 0 {
                problems.push(format!("customer_limits.{key}: expected at least 1"));
            }
        }
        problems
    }

    /// Whether one more server of `size` fits beside what the customer has.
    pub fn check_create(&self, in_use: &InUse, size: &Resources) -> Result<()> {
        if in_use.recent_creates >= u64::from(self.creates_per_minute) {
            return Err(Error::RateLimited {
                message: format!(
                    "You started {} server creates in the last minute, the most allowed. Wait a \
                     minute, then try again.",
                    in_use.recent_creates
                ),
                retry_after: std::time::Duration::from_secs(60),
            });
        }
        if in_use.servers >= u64::from(self.max_servers) {
            return Err(Error::Conflict(format!(
                "You have {} servers, the most one account may have. Delete a server you no \
                 longer need, or ask support to raise your limit.",
                in_use.servers
            )));
        }
        self.check_totals(in_use, size)
    }

    /// Whether the customer's servers, with the one being resized at `size` (and left out of
    /// `in_use`), stay within the totals.
    pub fn check_totals(&self, in_use: &InUse, size: &Resources) -> Result<()> {
        let totals = [
            (
                in_use.vcpus.saturating_add(u64::from(size.vcpus)),
                self.max_vcpus,
                "vCPUs",
            ),
            (
                in_use.memory_mib.saturating_add(size.memory_mib),
                self.max_memory_mib,
                "MiB of memory",
            ),
            (
                in_use.disk_gib.saturating_add(size.disk_gib),
                self.max_disk_gib,
                "GiB of disk",
            ),
        ];
        for (total, most, what) in totals {
            if total > most {
                return Err(Error::Conflict(format!(
                    "Your servers would have {total} {what} in all, and one account may have at \
                     most {most}. Choose a smaller size or delete a server you no longer need, \
                     or ask support to raise your limit."
                )));
            }
        }
        Ok(())
    }
}
