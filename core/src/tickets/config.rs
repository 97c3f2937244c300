//! `[tickets]`: departments, limits, the SLA targets, auto-close and where staff are told.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::records::tickets::Priority;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TicketsConfig {
    /// The departments a ticket is filed under (lowercase words).
    pub departments: Vec<String>,
    /// Tickets one customer may have open at once.
    pub max_open_per_customer: u32,
    /// Messages one person may write a minute, over every ticket and door.
    pub messages_per_minute: u32,
    /// How long after a close the customer may reopen the ticket (staff may at any time).
    #[serde(with = "humantime_serde")]
    pub reopen_within: Duration,
    /// Time to the first staff response, per priority.
    pub first_response: PriorityTargets,
    /// Time to the close, per priority.
    pub resolution: PriorityTargets,
    /// Staff are warned this long before a deadline passes.
    #[serde(with = "humantime_serde")]
    pub warn_before: Duration,
    /// A ticket awaiting the customer this long gets a warning that it will close...
    #[serde(with = "humantime_serde")]
    pub autoclose_warn_after: Duration,
    /// ...and closes this long after the warning unless somebody writes.
    #[serde(with = "humantime_serde")]
    pub autoclose_after: Duration,
    /// The Discord channel where staff are told of new tickets, SLA warnings and breaches.
    pub staff_channel_id: Option<u64>,
    /// The Discord role pinged when a deadline passes: the one mention the platform makes.
    pub escalation_role_id: Option<u64>,
}

/// A duration per priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityTargets {
    #[serde(with = "humantime_serde")]
    pub low: Duration,
    #[serde(with = "humantime_serde")]
    pub normal: Duration,
    #[serde(with = "humantime_serde")]
    pub high: Duration,
    #[serde(with = "humantime_serde")]
    pub urgent: Duration,
}

impl PriorityTargets {
    pub fn of(&self, priority: Priority) -> Duration {
        match priority {
            Priority::Low => self.low,
            Priority::Normal => self.normal,
            Priority::High => self.high,
            Priority::Urgent => self.urgent,
        }
    }
}

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

impl Default for TicketsConfig {
    fn default() -> Self {
        Self {
            departments: ["billing", "technical", "sales", "abuse"]
                .map(str::to_owned)
                .to_vec(),
            max_open_per_customer: 5,
            messages_per_minute: 10,
            reopen_within: Duration::from_secs(7 * DAY),
            first_response: PriorityTargets {
                low: Duration::from_secs(24 * HOUR),
                normal: Duration::from_secs(8 * HOUR),
                high: Duration::from_secs(2 * HOUR),
                urgent: Duration::from_secs(30 * 60),
            },
            resolution: PriorityTargets {
                low: Duration::from_secs(7 * DAY),
                normal: Duration::from_secs(3 * DAY),
                high: Duration::from_secs(DAY),
                urgent: Duration::from_secs(8 * HOUR),
            },
            warn_before: Duration::from_secs(30 * 60),
            autoclose_warn_after: Duration::from_secs(3 * DAY),
            autoclose_after: Duration::from_secs(2 * DAY),
            staff_channel_id: None,
            escalation_role_id: None,
        }
    }
}

impl TicketsConfig {
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.departments.is_empty() {
            problems.push("tickets.departments: expected at least one department".to_owned());
        }
        for department in &self.departments {
            let word = !department.is_empty()
                && department.len() <= 32
                && department
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !word {
                problems.push(format!(
                    "tickets.departments: {department:?} should be a lowercase word \
                     (a-z, 0-9, -; up to 32 characters)"
                ));
            }
        }
        if self.max_open_per_customer == 0 {
            problems.push("tickets.max_open_per_customer: expected at least 1".to_owned());
        }
        if self.messages_per_minute == 0 {
            problems.push("tickets.messages_per_minute: expected at least 1".to_owned());
        }
        for (key, targets) in [
            ("first_response", &self.first_response),
            ("resolution", &self.resolution),
        ] {
            for priority in Priority::ALL {
                if targets.of(*priority) < Duration::from_secs(60) {
                    problems.push(format!("tickets.{key}.{priority}: expected at least 1m"));
                }
            }
        }
        if self.autoclose_warn_after < Duration::from_secs(60)
            || self.autoclose_after < Duration::from_secs(60)
        {
            problems.push(
                "tickets.autoclose_warn_after and tickets.autoclose_after: expected at least 1m"
                    .to_owned(),
            );
        }
        problems
    }

    /// Whether `department` is one of the configured ones.
    pub fn has_department(&self, department: &str) -> bool {
        self.departments.iter().any(|known| known == department)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_sound() {
        let config = TicketsConfig::default();
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        assert_eq!(
            config.first_response.of(Priority::Urgent),
            Duration::from_secs(1800)
        );
        assert!(config.has_department("abuse"));
    }

    #[test]
    fn bad_values_are_named() {
        let config = TicketsConfig {
            departments: vec!["Sales Team".into()],
            max_open_per_customer: 0,
            ..TicketsConfig::default()
        };
        let problems = config.problems().join("\n");
        assert!(problems.contains("tickets.departments"));
        assert!(problems.contains("tickets.max_open_per_customer"));
    }
}
