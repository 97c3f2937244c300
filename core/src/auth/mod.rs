//! Authentication: passwords now; sessions, API keys and rate limits join as they are built.

pub mod password;
