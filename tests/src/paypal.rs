//! The fake PayPal's trust root as hostdeck's config takes it.

use std::path::Path;

use hostdeck_fakes::paypal::FakePaypal;

/// The fake PayPal's root certificate in a PEM file, for `paypal.cert_roots`: offline webhook
/// verification trusts PayPal's certificate only when it chains to a configured root. The
/// file is removed when this is dropped.
pub struct CertRoots(tempfile::TempPath);

impl CertRoots {
    pub fn of(paypal: &FakePaypal) -> Self {
        let file = tempfile::Builder::new()
            .prefix("paypal-roots-")
            .suffix(".pem")
            .tempfile()
            .expect("a temporary file for the PayPal roots");
        std::fs::write(file.path(), paypal.root_pem()).expect("write the PayPal roots");
        Self(file.into_temp_path())
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

/// Stores order `order` of 10.00 USD for `user` at `at`, as the top-up page creates it.
pub async fn insert_order(
    core: &hostdeck_core::Core,
    user: hostdeck_core::ids::UserId,
    order: &str,
    at: chrono::DateTime<chrono::Utc>,
) {
    use hostdeck_core::store::payments::{OrderStatus, StoredOrder};
    core.store()
        .payments()
        .insert_order(&StoredOrder {
            id: order.to_owned(),
            user,
            amount: hostdeck_core::money::Money::from_micros(10_000_000),
            currency: "USD".into(),
            request_id: format!("req-{order}"),
            status: OrderStatus::Created,
            capture_id: None,
            created_at: at,
            updated_at: at,
        })
        .await
        .expect("an order");
}

/// The body of webhook event `event`: capture `capture` of order `order` completed, for
/// `value` USD paid by `user`.
pub fn capture_completed(
    event: &str,
    order: &str,
    capture: &str,
    value: &str,
    user: hostdeck_core::ids::UserId,
) -> serde_json::Value {
    serde_json::json!({
        "id": event,
        "event_type": "PAYMENT.CAPTURE.COMPLETED",
        "resource": {
            "id": capture,
            "status": "COMPLETED",
            "amount": {"currency_code": "USD", "value": value},
            "custom_id": hostdeck_core::payments::custom_id(user),
            "supplementary_data": {"related_ids": {"order_id": order}},
        },
    })
}

/// A PayPal credit of `amount` to `wallet` under `key`, as a capture posts it.
pub fn top_up(
    store: &dyn hostdeck_core::store::Store,
    wallet: hostdeck_core::ids::AccountId,
    amount: hostdeck_core::money::Money,
    key: &str,
) -> hostdeck_core::ledger::PostingRequest {
    use hostdeck_core::ledger::{Overdraft, PostingKind, PostingRequest, SystemAccount};
    PostingRequest {
        debit: store.ledger().system_account(SystemAccount::Paypal),
        credit: wallet,
        amount,
        kind: PostingKind::TopUp,
        key: key.to_owned(),
        reference: None,
        memo: None,
        actor_user: None,
        actor_via: hostdeck_core::Via::System,
        overdraft: Overdraft::Allow,
    }
}
