//! The ledger against an in-memory model: for any sequence of credits, debits and transfers
//! with reused keys, the store accepts and refuses exactly what the model does and ends with
//! the same balances.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Utc;
use hostdeck_core::email::Email;
use hostdeck_core::ids::AccountId;
use hostdeck_core::ledger::{Overdraft, PostOutcome, PostingKind, PostingRequest, SystemAccount};
use hostdeck_core::money::Money;
use hostdeck_core::store::Store;
use hostdeck_core::users::NewUser;
use hostdeck_core::{ErrorCode, Role, Via};
use hostdeck_e2e::db::TestDb;
use proptest::prelude::*;

const WALLETS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Credit {
        wallet: usize,
        amount: i64,
        key: u8,
    },
    Debit {
        wallet: usize,
        amount: i64,
        key: u8,
        overdraft: bool,
    },
    Transfer {
        from: usize,
        to: usize,
        amount: i64,
        key: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    // Few keys and few amounts, so keys are often reused, sometimes with the same request.
    let amount = prop_oneof![Just(100i64), Just(250), 1i64..=1_000];
    let key = 0u8..24;
    prop_oneof![
        (0..WALLETS, amount.clone(), key.clone()).prop_map(|(wallet, amount, key)| Op::Credit {
            wallet,
            amount,
            key
        }),
        (0..WALLETS, amount.clone(), key.clone(), any::<bool>()).prop_map(
            |(wallet, amount, key, overdraft)| Op::Debit {
                wallet,
                amount,
                key,
                overdraft
            }
        ),
        (0..WALLETS, 0..WALLETS, amount, key).prop_map(|(from, to, amount, key)| Op::Transfer {
            from,
            to,
            amount,
            key
        }),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Posted,
    Replayed,
    Refused(ErrorCode),
}

/// What the ledger promises, in a few lines.
#[derive(Default)]
struct Model {
    balances: HashMap<AccountId, i64>,
    keys: HashMap<String, (AccountId, AccountId, i64)>,
}

impl Model {
    fn apply(&mut self, request: &PostingRequest, wallets: &[AccountId]) -> Outcome {
        let amount = request.amount.micros();
        if request.debit == request.credit {
            return Outcome::Refused(ErrorCode::Invalid);
        }
        if let Some(first) = self.keys.get(&request.key) {
            return if *first == (request.debit, request.credit, amount) {
                Outcome::Replayed
            } else {
                Outcome::Refused(ErrorCode::Conflict)
            };
        }
        let is_wallet = |account: AccountId| wallets.contains(&account);
        if is_wallet(request.debit)
            && request.overdraft == Overdraft::Forbid
            && self.balances.get(&request.debit).copied().unwrap_or(0) < amount
        {
            return Outcome::Refused(ErrorCode::Conflict);
        }
        for (account, delta) in [(request.debit, -amount), (request.credit, amount)] {
            if is_wallet(account) {
                *self.balances.entry(account).or_default() += delta;
            }
        }
        self.keys
            .insert(request.key.clone(), (request.debit, request.credit, amount));
        Outcome::Posted
    }
}

fn request(
    op: &Op,
    wallets: &[AccountId],
    revenue: AccountId,
    funding: AccountId,
) -> PostingRequest {
    let (debit, credit, amount, key, overdraft) = match *op {
        Op::Credit {
            wallet,
            amount,
            key,
        } => (funding, wallets[wallet], amount, key, false),
        Op::Debit {
            wallet,
            amount,
            key,
            overdraft,
        } => (wallets[wallet], revenue, amount, key, overdraft),
        Op::Transfer {
            from,
            to,
            amount,
            key,
        } => (wallets[from], wallets[to], amount, key, false),
    };
    PostingRequest {
        debit,
        credit,
        amount: Money::from_micros(amount),
        kind: PostingKind::Transfer,
        key: format!("k{key}"),
        reference: None,
        memo: None,
        actor_user: None,
        actor_via: Via::System,
        overdraft: if overdraft {
            Overdraft::Allow
        } else {
            Overdraft::Forbid
        },
    }
}

async fn run_case(ops: &[Op]) -> Result<(), TestCaseError> {
    let db = TestDb::sqlite_in_memory().await;
    let store: &Arc<dyn Store> = &db.store;
    let mut wallets = Vec::new();
    for index in 0..WALLETS {
        let user = store
            .users()
            .insert_user(
                &NewUser {
                    email: Email::parse(&format!("user{index}@example.com"))
                        .map_err(|e| TestCaseError::fail(e.to_string()))?,
                    role: Role::Customer,
                    password_hash: None,
                    email_verified: true,
                },
                Utc::now(),
            )
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        wallets.push(user.wallet);
    }
    let revenue = store.ledger().system_account(SystemAccount::Usage);
    let funding = store.ledger().system_account(SystemAccount::Paypal);
    let mut model = Model::default();
    for op in ops {
        let request = request(op, &wallets, revenue, funding);
        let expected = model.apply(&request, &wallets);
        let actual = match store.ledger().post(&request, Utc::now()).await {
            Ok(PostOutcome::Posted(_)) => Outcome::Posted,
            Ok(PostOutcome::Replayed(_)) => Outcome::Replayed,
            Err(error) => Outcome::Refused(error.code()),
        };
        prop_assert_eq!(actual, expected, "after {:?}", op);
    }
    for wallet in &wallets {
        let balance = store
            .ledger()
            .account_balance(*wallet)
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(
            balance.micros(),
            model.balances.get(wallet).copied().unwrap_or(0)
        );
    }
    let postings = store
        .ledger()
        .count_postings()
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(postings, model.keys.len() as u64);
    let discrepancies = store
        .ledger()
        .ledger_discrepancies()
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(discrepancies.is_empty(), "{:?}", discrepancies);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    #[test]
    fn the_ledger_behaves_like_its_model(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(run_case(&ops))?;
    }
}
