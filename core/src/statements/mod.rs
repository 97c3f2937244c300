//! Statements: a wallet's transactions filtered by kind and date, exported as CSV and as a PDF
//! statement (company, period, opening and closing balance, every line), and the daily usage
//! of the last 30 days for the dashboard's chart.
//!
//! Reads only; who may read is checked here like everywhere (own billing, or any customer's for
//! billing staff). Not here: the ledger's rules ([`crate::ledger`]) or any rendering to HTML.

mod pdf;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Duration, NaiveDate};

use crate::billing::meter::usage_of_key;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ids::ServerId;
use crate::ledger::{PostingKind, StatementLine, UsageHour, require_billing_reader};
use crate::money::{Currency, Money};
use crate::policy::Actor;
use crate::records::statements::parse_date;
pub use crate::records::statements::{StatementFilter, day_start};
use crate::records::users::User;
use crate::store::{Page, Paginated, Store};

/// Lines an export holds at most; a longer period is refused with a hint to narrow it.
pub const EXPORT_CAP: u32 = 20_000;
/// Days in a statement period when none is chosen (today and the days before it), and in the
/// usage chart: "the last 30 days" everywhere.
pub const PERIOD_DAYS: i64 = 30;
/// Days in the usage chart.
pub const CHART_DAYS: i64 = PERIOD_DAYS;

/// The statement period from the text of `from` and `to`: `to` defaults to `today`, `from` to
/// [`PERIOD_DAYS`] days ending with `to`.
pub fn period_of(
    today: NaiveDate,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(NaiveDate, NaiveDate)> {
    let to = parse_date("to", to)?.unwrap_or(today);
    let from = parse_date("from", from)?.unwrap_or(to - Duration::days(PERIOD_DAYS - 1));
    Ok((from, to))
}

/// A statement for a period, ready to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodStatement {
    /// The statement's number: the same for the same customer and period, every time it is
    /// made ([`statement_number`]).
    pub number: String,
    pub company: String,
    /// The company's legal name, address, tax number and support address, as configured.
    pub company_details: Vec<String>,
    pub customer: String,
    pub currency: Currency,
    pub from: NaiveDate,
    /// The last day of the period, inclusive.
    pub to: NaiveDate,
    pub opening: Money,
    pub closing: Money,
    /// Oldest first.
    pub lines: Vec<StatementLine>,
}

#[derive(Clone)]
pub struct Statements {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: Arc<Config>,
}

impl Statements {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: Arc<Config>) -> Self {
        Self {
            store,
            clock,
            config,
        }
    }

    /// The statement period from the text of `from` and `to`, by default the last
    /// [`PERIOD_DAYS`] days up to today.
    pub fn period_of(
        &self,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<(NaiveDate, NaiveDate)> {
        period_of(self.clock.now().date_naive(), from, to)
    }

    fn may_read(actor: &Actor, owner: &User) -> Result<()> {
        require_billing_reader(actor, owner)
    }

    /// A page of the wallet's transactions matching `filter`, newest first.
    pub async fn transactions(
        &self,
        actor: &Actor,
        owner: &User,
        filter: &StatementFilter,
        page: Page,
    ) -> Result<Paginated<StatementLine>> {
        Self::may_read(actor, owner)?;
        check_range(filter)?;
        let mut listed = self
            .store
            .payments()
            .statement_filtered(owner.wallet, filter, page)
            .await?;
        self.describe(owner, &mut listed.items).await?;
        Ok(listed)
    }

    /// Names the server and the hour of every usage line and usage refund (its key says
    /// which). A server of someone else's is never named: it cannot be in this wallet's usage,
    /// but the check is cheap.
    async fn describe(&self, owner: &User, lines: &mut [StatementLine]) -> Result<()> {
        let mut names: HashMap<ServerId, String> = HashMap::new();
        for line in lines.iter_mut() {
            // A refund's key is its charge's under `usage-refund:`: the same server and hour.
            let named = match line.kind {
                PostingKind::Usage => usage_of_key(&line.key),
                PostingKind::UsageRefund => line
                    .key
                    .strip_prefix("usage-refund:")
                    .and_then(|rest| usage_of_key(&format!("usage:{rest}"))),
                _ => None,
            };
            let Some((server, hour)) = named else {
                continue;
            };
            let name = match names.get(&server) {
                Some(name) => name.clone(),
                None => {
                    let name = match self.store.servers().server(server).await? {
                        Some(found) if found.user == owner.id => found.name,
                        _ => format!("#{server}"),
                    };
                    names.insert(server, name.clone());
                    name
                }
            };
            line.usage = Some(UsageHour { server, name, hour });
        }
        Ok(())
    }

    async fn all_lines(
        &self,
        owner: &User,
        filter: &StatementFilter,
    ) -> Result<Vec<StatementLine>> {
        check_range(filter)?;
        let mut lines = self
            .store
            .payments()
            .statement_lines(owner.wallet, filter, EXPORT_CAP + 1)
            .await?;
        if lines.len() > EXPORT_CAP as usize {
            return Err(Error::invalid(
                "from",
                format!("an export holds at most {EXPORT_CAP} lines; choose a shorter period"),
            ));
        }
        self.describe(owner, &mut lines).await?;
        Ok(lines)
    }

    /// The matching transactions as CSV, oldest first.
    pub async fn csv(
        &self,
        actor: &Actor,
        owner: &User,
        filter: &StatementFilter,
    ) -> Result<String> {
        Self::may_read(actor, owner)?;
        let lines = self.all_lines(owner, filter).await?;
        let currency = self.config.billing.currency.code();
        let mut out = String::from(
            "id,date,kind,amount,currency,balance_after,reference,memo,description\r\n",
        );
        for line in &lines {
            let row = [
                line.id.to_string(),
                line.created_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                line.kind.as_str().to_owned(),
                line.amount.amount_text(),
                currency.to_owned(),
                line.balance_after
                    .map(Money::amount_text)
                    .unwrap_or_default(),
                csv_text(line.reference.as_deref().unwrap_or("")),
                csv_text(line.memo.as_deref().unwrap_or("")),
                csv_text(&line.description().unwrap_or_default()),
            ];
            out.push_str(&row.join(","));
            out.push_str("\r\n");
        }
        Ok(out)
    }

    /// The statement of `from..=to` (whole UTC days): balances and every line.
    pub async fn period(
        &self,
        actor: &Actor,
        owner: &User,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<PeriodStatement> {
        Self::may_read(actor, owner)?;
        if to < from {
            return Err(Error::invalid("to", "the period ends before it starts"));
        }
        let start = day_start(from);
        let end = day_start(to) + Duration::days(1);
        let filter = StatementFilter {
            kind: None,
            from: Some(start),
            until: Some(end),
        };
        let lines = self.all_lines(owner, &filter).await?;
        let payments = self.store.payments();
        Ok(PeriodStatement {
            number: statement_number(owner, from, to),
            company: self.config.company.name.clone(),
            company_details: self.config.company.details(),
            customer: owner.email.clone(),
            currency: self.config.billing.currency.clone(),
            from,
            to,
            opening: payments.balance_before(owner.wallet, start).await?,
            closing: payments.balance_before(owner.wallet, end).await?,
            lines,
        })
    }

    /// The statement of `from..=to` as a PDF document.
    pub async fn pdf(
        &self,
        actor: &Actor,
        owner: &User,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<u8>> {
        let statement = self.period(actor, owner, from, to).await?;
        Ok(pdf::render(&statement, self.clock.now()))
    }

    /// Usage charged on each of the last 30 UTC days, oldest first (today last).
    pub async fn daily_usage(
        &self,
        actor: &Actor,
        owner: &User,
    ) -> Result<Vec<(NaiveDate, Money)>> {
        Self::may_read(actor, owner)?;
        let today = self.clock.now().date_naive();
        let first = today - Duration::days(CHART_DAYS - 1);
        let mut days: Vec<(NaiveDate, Money)> = (0..CHART_DAYS)
            .map(|offset| (first + Duration::days(offset), Money::ZERO))
            .collect();
        let charges = self
            .store
            .payments()
            .usage_since(owner.wallet, day_start(first))
            .await?;
        for (at, amount) in charges {
            let index = (at.date_naive() - first).num_days();
            if let Some((_, total)) = usize::try_from(index).ok().and_then(|i| days.get_mut(i)) {
                *total = total.checked_add(amount).unwrap_or(*total);
            }
        }
        Ok(days)
    }
}

/// A statement's number, `S-{customer}-{first day}-{last day}`: stable, so a statement made
/// again for the same period carries the same number, and unique per customer and period.
pub fn statement_number(owner: &User, from: NaiveDate, to: NaiveDate) -> String {
    format!(
        "S-{}-{}-{}",
        owner.id,
        from.format("%Y%m%d"),
        to.format("%Y%m%d")
    )
}

fn check_range(filter: &StatementFilter) -> Result<()> {
    if let (Some(from), Some(until)) = (filter.from, filter.until)
        && until <= from
    {
        return Err(Error::invalid("to", "the period ends before it starts"));
    }
    Ok(())
}

/// A CSV field: quoted when it must be, and never read as a formula by a spreadsheet.
fn csv_text(text: &str) -> String {
    let mut text = text.replace(['\r', '\n'], " ");
    if text.starts_with(['=', '+', '-', '@', '\t']) {
        text.insert(0, '\'');
    }
    if text.contains([',', '"']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_read_whole_days() {
        let filter = StatementFilter::parse(Some("top_up"), Some("2026-01-01"), Some("2026-01-31"))
            .expect("a filter");
        assert_eq!(filter.kind, Some(PostingKind::TopUp));
        assert_eq!(
            filter.until.map(|t| t.to_rfc3339()),
            Some("2026-02-01T00:00:00+00:00".into())
        );
        assert!(StatementFilter::parse(Some("bogus"), None, None).is_err());
        assert!(StatementFilter::parse(None, Some("31/01/2026"), None).is_err());
        assert!(StatementFilter::parse(None, None, Some("262143-12-31")).is_err());
        assert!(StatementFilter::parse(None, Some("1969-12-31"), None).is_err());
    }

    #[test]
    fn the_default_period_is_the_charts_thirty_days() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 31).expect("a date");
        let (from, to) = period_of(today, None, None).expect("a period");
        assert_eq!(to, today);
        assert_eq!((to - from).num_days() + 1, CHART_DAYS);
        assert_eq!(from, NaiveDate::from_ymd_opt(2026, 3, 2).expect("a date"));
        let (from, to) = period_of(today, None, Some("2026-01-31")).expect("a period");
        assert_eq!(
            (from.to_string(), to.to_string()),
            ("2026-01-02".into(), "2026-01-31".into())
        );
        assert!(period_of(today, Some("soon"), None).is_err());
    }

    #[test]
    fn csv_fields_are_quoted_and_inert() {
        assert_eq!(csv_text("plain"), "plain");
        assert_eq!(csv_text("a,b"), "\"a,b\"");
        assert_eq!(csv_text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_text("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_text("line\nbreak"), "line break");
    }
}
