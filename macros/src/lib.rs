//! hostdeck-macros: `#[sql_bounds]` and `#[row_bounds]`, the bounds every generic impl and row
//! reader of the SQL store needs, written once.
//!
//! `impl<DB> UserStore for SqlStore<DB>` reads and writes `i64`, `String`, times and options,
//! runs statements on `&mut DB::Connection` and reads columns by name. Each of those is a bound
//! on a type other than `DB` (`i64: Column<DB>`, `&mut DB::Connection: Executor<...>`), and Rust
//! implies only bounds on `Self` from a trait, so without this every impl would repeat the same
//! where-clause. The attribute appends it to the impl it sits on:
//!
//! ```text
//! #[sql_bounds]                       // DB: crate::store::sql::Engine
//! #[sql_bounds(billing::BillingDialect)] // DB: that trait instead
//! ```
//!
//! It must come before `#[async_trait]`, which then sees the full where-clause.
//! `#[row_bounds]` does the same for a function that reads a record out of a row,
//! `fn user_from_row<R: Row>(row: &R) -> Result<User>`: columns by name, of the same types. The emitted
//! paths are the core crate's own (`crate::store::sql::Column`), so it serves hostdeck-core only.

use proc_macro::{Delimiter, TokenStream, TokenTree};

/// What every generic SQL impl requires of the engine, besides the engine trait itself.
const BOUNDS: &str = "
    for<'c> &'c mut DB::Connection: ::sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: ::sqlx::IntoArguments<'q, DB>,
    for<'a> &'a str: ::sqlx::ColumnIndex<DB::Row>,
    usize: ::sqlx::ColumnIndex<DB::Row>,
    i64: crate::store::sql::Column<DB>,
    bool: crate::store::sql::Column<DB>,
    String: crate::store::sql::Column<DB>,
    ::chrono::DateTime<::chrono::Utc>: crate::store::sql::Column<DB>,
    Option<i64>: crate::store::sql::Column<DB>,
    Option<String>: crate::store::sql::Column<DB>,
    Option<::chrono::DateTime<::chrono::Utc>>: crate::store::sql::Column<DB>,
";

/// What a function generic over a row `R` needs to read its columns.
const ROW_BOUNDS: &str = "
    for<'a> &'a str: ::sqlx::ColumnIndex<R>,
    i64: crate::store::sql::Column<R::Database>,
    bool: crate::store::sql::Column<R::Database>,
    String: crate::store::sql::Column<R::Database>,
    ::chrono::DateTime<::chrono::Utc>: crate::store::sql::Column<R::Database>,
    Option<i64>: crate::store::sql::Column<R::Database>,
    Option<String>: crate::store::sql::Column<R::Database>,
    Option<::chrono::DateTime<::chrono::Utc>>: crate::store::sql::Column<R::Database>,
";

/// Appends the store's where-clause to an `impl<DB> ... for SqlStore<DB> { ... }`: `DB` must
/// implement the trait named in the attribute (`crate::store::sql::Engine` when none is named)
/// and carry [`BOUNDS`].
#[proc_macro_attribute]
pub fn sql_bounds(engine: TokenStream, item: TokenStream) -> TokenStream {
    let engine = if engine.is_empty() {
        "crate::store::sql::Engine".to_owned()
    } else {
        engine.to_string()
    };
    with_where(item, &format!("DB: {engine}, {BOUNDS}"))
}

/// Appends [`ROW_BOUNDS`] to a function generic over a row type `R`.
#[proc_macro_attribute]
pub fn row_bounds(_: TokenStream, item: TokenStream) -> TokenStream {
    with_where(item, ROW_BOUNDS)
}

/// `item` (an impl or a function: its last token is the braced body) with `bounds` added to
/// its where-clause.
fn with_where(item: TokenStream, bounds: &str) -> TokenStream {
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();
    let body = match tokens.pop() {
        Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Brace => group,
        _ => return error("the bounds go on an impl block or a function with a body"),
    };
    let has_where = tokens
        .iter()
        .any(|token| matches!(token, TokenTree::Ident(ident) if ident.to_string() == "where"));
    let joint = if has_where { "," } else { "where" };
    let clause: TokenStream = match format!("{joint} {bounds}").parse() {
        Ok(clause) => clause,
        Err(_) => return error("the attribute takes the path of the engine's trait"),
    };
    let mut out: TokenStream = tokens.into_iter().collect();
    out.extend(clause);
    out.extend([TokenTree::Group(body)]);
    out
}

fn error(message: &str) -> TokenStream {
    format!("compile_error!({message:?});")
        .parse()
        .unwrap_or_default()
}
