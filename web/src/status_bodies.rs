//! The public status routes' bodies (`GET /api/v1/status`, its `summary.json`, and the `/status`
//! page as anybody not signed in sees it), each written once per report this process composes
//! (every two seconds at most, and at every change) instead of once per request: anyone reads
//! them, often, and what they show moves only with the report.

use std::sync::RwLock;

use axum::body::Bytes;
use hostdeck_core::Error;
use hostdeck_core::status::Status;

/// Which body.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    Status,
    Summary,
    Page,
}

#[derive(Default)]
pub struct StatusBodies {
    slots: [RwLock<Option<(String, Bytes)>>; 3],
}

impl StatusBodies {
    /// The body kept for what the report shows now (`Status::stamp`), if there is one: the
    /// answer to most requests, without composing anything.
    pub fn now(&self, status: &Status, which: Body) -> Option<Bytes> {
        let key = status.stamp()?;
        self.slots[which as usize]
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|(kept, _)| *kept == key)
            .map(|(_, body)| body.clone())
    }

    /// The body kept for `key` (`Status::stamp_of` the report it shows), or `write`'s, kept for
    /// the next request with the same key.
    pub fn get_or_write(
        &self,
        which: Body,
        key: String,
        write: impl FnOnce() -> Result<Vec<u8>, Error>,
    ) -> Result<Bytes, Error> {
        let slot = &self.slots[which as usize];
        let kept = slot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|(kept, _)| *kept == key)
            .map(|(_, body)| body.clone());
        if let Some(body) = kept {
            return Ok(body);
        }
        let body = Bytes::from(write()?);
        *slot.write().unwrap_or_else(|p| p.into_inner()) = Some((key, body.clone()));
        Ok(body)
    }
}
