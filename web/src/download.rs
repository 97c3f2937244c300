//! Files to save (statements and exports), for the portal and the API alike.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// A file to save, never cached: statements and exports are private.
pub fn download(content_type: &'static str, filename: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}
