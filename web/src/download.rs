//! Files to save (statements and exports), for the portal and the API alike.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use hostdeck_core::Core;
use hostdeck_core::statements::StatementFilter;

use crate::auth::Caller;

/// The caller's transactions matching `kind`, `from` and `to` (as people type them) as CSV.
pub async fn transactions_csv(
    core: &Core,
    caller: &Caller,
    kind: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
) -> hostdeck_core::Result<Response> {
    let filter = StatementFilter::parse(kind, from, to)?;
    let csv = core
        .statements
        .csv(caller.actor(), &caller.0.user, &filter)
        .await?;
    Ok(download(
        "text/csv; charset=utf-8",
        "transactions.csv",
        csv.into_bytes(),
    ))
}

/// The caller's statement of a period (`from` and `to` as typed; the last 30 days by default)
/// as PDF.
pub async fn statement_pdf(
    core: &Core,
    caller: &Caller,
    from: Option<&str>,
    to: Option<&str>,
) -> hostdeck_core::Result<Response> {
    let (from, to) = core.statements.period_of(from, to)?;
    let pdf = core
        .statements
        .pdf(caller.actor(), &caller.0.user, from, to)
        .await?;
    Ok(download(
        "application/pdf",
        &format!("statement-{from}-{to}.pdf"),
        pdf,
    ))
}

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
