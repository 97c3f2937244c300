//! Outbox rows: a message to queue, and one leased for sending. The worker is
//! [`crate::notify`].

/// A message for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutboxMessage {
    pub channel: String,
    pub recipient: String,
    pub payload: serde_json::Value,
}

/// A message leased for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: i64,
    pub channel: String,
    pub recipient: String,
    pub payload: serde_json::Value,
    pub attempts: i64,
}
