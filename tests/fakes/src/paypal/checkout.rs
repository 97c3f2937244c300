//! The buyer's side: the page behind an order's `approve` link, with a "Pay" button (a form
//! POST) and a "Cancel" link, plain enough for a WebDriver test to click.
//!
//! Paying approves the order and sends the browser back to the order's return URL with
//! `token` (the order id) and `PayerID`, as PayPal does; cancelling sends it to the cancel URL
//! with `token`. An order without those URLs ends on a page of the fake's own.

use axum::http::StatusCode;

use super::api::{Exchange, Reply};
use super::{OrderStatus, Shared, books};

impl Shared {
    /// `GET /checkoutnow?token=ORDER_ID`.
    pub(super) fn checkout_page(&self, ex: &Exchange) -> Reply {
        let token = ex.query("token").unwrap_or_default();
        let books = self.books();
        let Some(order) = books.orders.get(&token) else {
            return page(
                StatusCode::NOT_FOUND,
                "No such order",
                "<p id=\"error\">This payment link is not valid.</p>",
            );
        };
        if order.status == OrderStatus::Completed {
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Already paid",
                "<p id=\"error\">This order has already been paid.</p>",
            );
        }
        let id = escape(&order.id);
        let amount = format!(
            "{} {}",
            escape(&order.amount.value),
            escape(&order.amount.currency_code)
        );
        let description = order.unit["description"]
            .as_str()
            .map(|text| format!("<p id=\"description\">{}</p>", escape(text)))
            .unwrap_or_default();
        let body = format!(
            "<h1>Pay <span id=\"amount\">{amount}</span></h1>\n\
             {description}\n\
             <p>to {merchant}, as {buyer}</p>\n\
             <form id=\"approve\" method=\"post\" action=\"/checkoutnow/approve\">\n\
             <input type=\"hidden\" name=\"token\" value=\"{id}\">\n\
             <button id=\"pay\" type=\"submit\">Pay</button>\n\
             </form>\n\
             <p><a id=\"cancel\" href=\"/checkoutnow/cancel?token={id}\">Cancel</a></p>",
            merchant = books::MERCHANT_EMAIL,
            buyer = books::BUYER_EMAIL,
        );
        page(StatusCode::OK, "PayPal Checkout", &body)
    }

    /// `POST /checkoutnow/approve` with the form field `token`.
    pub(super) fn checkout_approve(&self, ex: &Exchange) -> Reply {
        let token = ex.form("token").unwrap_or_default();
        let mut books = self.books();
        let payer_id = books.payer_id.clone();
        let Some(order) = books.orders.get_mut(&token) else {
            return page(
                StatusCode::NOT_FOUND,
                "No such order",
                "<p id=\"error\">This payment link is not valid.</p>",
            );
        };
        if order.status == OrderStatus::Completed {
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Already paid",
                "<p id=\"error\">This order has already been paid.</p>",
            );
        }
        order.status = OrderStatus::Approved;
        order.updated = books::now();
        let target = order
            .return_url
            .clone()
            .unwrap_or_else(|| format!("{}/checkoutnow/done", self.base_url()));
        Reply::SeeOther(with_query(
            &target,
            &[("token", &token), ("PayerID", &payer_id)],
        ))
    }

    /// `GET /checkoutnow/cancel?token=ORDER_ID`: the order stays CREATED, as at PayPal.
    pub(super) fn checkout_cancel(&self, ex: &Exchange) -> Reply {
        let token = ex.query("token").unwrap_or_default();
        let books = self.books();
        let Some(order) = books.orders.get(&token) else {
            return page(
                StatusCode::NOT_FOUND,
                "No such order",
                "<p id=\"error\">This payment link is not valid.</p>",
            );
        };
        let target = order
            .cancel_url
            .clone()
            .unwrap_or_else(|| format!("{}/checkoutnow/done", self.base_url()));
        Reply::SeeOther(with_query(&target, &[("token", &token)]))
    }

    pub(super) fn checkout_done(&self) -> Reply {
        page(
            StatusCode::OK,
            "PayPal Checkout",
            "<p id=\"done\">You can close this window.</p>",
        )
    }
}

fn page(status: StatusCode, title: &str, body: &str) -> Reply {
    Reply::Html(
        status,
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>{title}</title></head>\n<body>\n{body}\n</body></html>\n"
        ),
    )
}

/// `url` with `pairs` added to its query, keeping what it already has.
fn with_query(url: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            parsed.query_pairs_mut().extend_pairs(pairs);
            parsed.into()
        }
        Err(_) => {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish();
            let separator = if url.contains('?') { '&' } else { '?' };
            format!("{url}{separator}{query}")
        }
    }
}

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            other => other.to_string(),
        })
        .collect()
}
