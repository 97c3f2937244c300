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

use crate::error::{Error, Result};
use crate::providers::Resources;
use crate::providers::config::ProvidersConfig;
pub use crate::records::limits::{CREATE_WINDOW, CustomerLimits, InUse};

/// The largest server a provider makes when its table does not say.
pub const DEFAULT_MAX_VCPUS: u32 = 32;
pub const DEFAULT_MAX_MEMORY_MIB: u64 = 128 * 1024;
pub const DEFAULT_MAX_DISK_GIB: u64 = 2048;

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
