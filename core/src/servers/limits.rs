//! Ceilings on what one customer may run, and on how large one server may be on a provider.
//!
//! Two kinds, both from the config:
//!
//! - **Per customer** (`[customer_limits]`): servers not deleted, their vCPUs, memory and disk
//!   added up, and creates in the last minute. They are checked by the store inside the
//!   transaction that writes the create's row (or holds a resize's new size), after the
//!   customer's wallet row is locked, so a burst of parallel creates is counted one after the
//!   other and never passes a ceiling together. They hold for every account, staff included:
//!   a staff account's servers are its own like anybody's, and a stolen staff session should
//!   not be a way around them.
//! - **Per provider** (`[providers.NAME]` `max_vcpus`, `max_memory_mib`, `max_disk_gib`): the
//!   largest single server, checked with the rest of a create's or a resize's choice.
//!
//! A refusal names the ceiling, what the customer has, and what to do: choose less, delete a
//! server, wait a minute, or ask support (an operator raises a ceiling in the config). No
//! config key names reach customers.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::providers::Resources;
use crate::providers::config::ProvidersConfig;

/// The largest server a provider makes when its table does not say.
pub const DEFAULT_MAX_VCPUS: u32 = 32;
pub const DEFAULT_MAX_MEMORY_MIB: u64 = 128 * 1024;
pub const DEFAULT_MAX_DISK_GIB: u64 = 2048;

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

/// Whether one server of `size` is within what the provider called `provider` may make.
pub fn check_size(providers: &ProvidersConfig, provider: &str, size: &Resources) -> Result<()> {
    let table = providers.named.get(provider);
    let most = Resources {
        vcpus: table
            .and_then(|table| table.max_vcpus)
            .unwrap_or(DEFAULT_MAX_VCPUS),
        memory_mib: table
            .and_then(|table| table.max_memory_mib)
            .unwrap_or(DEFAULT_MAX_MEMORY_MIB),
        disk_gib: table
            .and_then(|table| table.max_disk_gib)
            .unwrap_or(DEFAULT_MAX_DISK_GIB),
    };
    let refusal = |field: &'static str, what: String| {
        Err(Error::invalid(
            field,
            format!(
                "A server in {provider} has at most {what}. Choose a smaller size, or ask \
                 support if you need a larger one."
            ),
        ))
    };
    if size.vcpus > most.vcpus {
        return refusal("vcpus", format!("{} vCPUs", most.vcpus));
    }
    if size.memory_mib > most.memory_mib {
        return refusal("memory_mib", format!("{} MiB of memory", most.memory_mib));
    }
    if size.disk_gib > most.disk_gib {
        return refusal("disk_gib", format!("{} GiB of disk", most.disk_gib));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(vcpus: u32, memory_mib: u64, disk_gib: u64) -> Resources {
        Resources {
            vcpus,
            memory_mib,
            disk_gib,
        }
    }

    #[test]
    fn each_ceiling_refuses_with_what_to_do() {
        let limits = CustomerLimits::default();
        let small = size(1, 1024, 25);
        assert!(limits.check_create(&InUse::default(), &small).is_ok());
        let full = InUse {
            servers: 10,
            ..InUse::default()
        };
        let error = limits.check_create(&full, &small).expect_err("ten servers");
        assert!(error.to_string().contains("ask support"), "{error}");
        let busy = InUse {
            recent_creates: 5,
            ..InUse::default()
        };
        let error = limits
            .check_create(&busy, &small)
            .expect_err("five a minute");
        assert_eq!(error.code(), crate::ErrorCode::RateLimited);
        let cpus = InUse {
            vcpus: 63,
            ..InUse::default()
        };
        assert!(limits.check_create(&cpus, &small).is_ok());
        let error = limits
            .check_create(&cpus, &size(2, 1024, 25))
            .expect_err("65 vCPUs");
        assert!(error.to_string().contains("65 vCPUs"), "{error}");
    }

    #[test]
    fn a_provider_without_sizes_makes_the_default_largest_server() {
        let providers = ProvidersConfig::default();
        assert!(check_size(&providers, "sandbox", &size(32, 1024, 25)).is_ok());
        let error = check_size(&providers, "sandbox", &size(200_000, 1024, 25)).expect_err("huge");
        assert!(
            matches!(
                &error,
                Error::Invalid {
                    field: Some("vcpus"),
                    ..
                }
            ),
            "{error:?}"
        );
    }
}
