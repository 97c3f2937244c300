//! Records: the plain types the store reads and writes, and the pure rules on them that both
//! the store and the services need. The bottom floor of the crate: these files import only
//! each other, [`crate::ids`], [`crate::money`], [`crate::email`], [`crate::text`],
//! [`crate::policy`] and [`crate::error`]. Services re-export what they own from here.

pub mod assistant;
pub mod audit;
pub mod auth;
pub mod knowledge;
pub mod ledger;
pub mod limits;
pub mod meter;
pub mod outbox;
pub mod payments;
pub mod providers;
pub mod servers;
pub mod ssh_keys;
pub mod statements;
pub mod status;
pub mod tickets;
pub mod users;
