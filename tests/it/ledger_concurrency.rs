//! Many writers at once: 32 tasks post 10,000 mixed credits, debits and transfers over 100
//! wallets, reusing keys, on both engines. Every balance must equal its postings, every key
//! must post once, and no error but the ledger's own refusals may reach a caller.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::Utc;
use hostdeck_core::email::Email;
use hostdeck_core::ids::{AccountId, PostingId};
use hostdeck_core::ledger::{Overdraft, PostingKind, PostingRequest, SystemAccount};
use hostdeck_core::money::Money;
use hostdeck_core::store::Store;
use hostdeck_core::users::NewUser;
use hostdeck_core::{ErrorCode, Role, Via};
use hostdeck_e2e::db::TestDb;

const TASKS: usize = 32;
const OPERATIONS: usize = 10_000;
const WALLETS: usize = 100;
/// Fewer keys than operations, so about a third of the operations reuse a key.
const KEYS: u64 = 7_000;

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn thirty_two_writers() {
        super::thirty_two_writers(hostdeck_e2e::db::TestDb::sqlite_with(40).await).await;
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn thirty_two_writers() {
        if let Some(db) = hostdeck_e2e::db::TestDb::postgres_with(40).await {
            super::thirty_two_writers(db).await;
        }
    }
}

/// A small deterministic mixer, so every use of a key describes the same request.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// The request a key stands for; `tampered` changes its amount (a client bug, or an attack).
fn request_for(
    key: u64,
    tampered: bool,
    wallets: &[AccountId],
    funding: AccountId,
    revenue: AccountId,
) -> PostingRequest {
    let h = mix(key);
    let a = wallets[(h % WALLETS as u64) as usize];
    let b = wallets[((h >> 8) % WALLETS as u64) as usize];
    let amount = 1_000 + (h >> 16) % 50_000 + u64::from(tampered);
    let (debit, credit, overdraft) = match (h >> 40) % 3 {
        0 => (funding, a, Overdraft::Forbid),
        1 => (
            a,
            revenue,
            if (h >> 42).is_multiple_of(2) {
                Overdraft::Allow
            } else {
                Overdraft::Forbid
            },
        ),
        _ if a != b => (a, b, Overdraft::Forbid),
        _ => (funding, a, Overdraft::Forbid),
    };
    PostingRequest {
        debit,
        credit,
        amount: Money::from_micros(amount as i64),
        kind: PostingKind::Transfer,
        key: format!("op:{key}"),
        reference: None,
        memo: None,
        actor_user: None,
        actor_via: Via::System,
        overdraft,
    }
}

type Outcomes = Vec<(String, Result<(bool, PostingId), ErrorCode>)>;

async fn thirty_two_writers(db: TestDb) {
    let store: Arc<dyn Store> = db.store.clone();
    let mut wallets = Vec::with_capacity(WALLETS);
    for index in 0..WALLETS {
        let user = store
            .users()
            .insert_user(
                &NewUser {
                    email: Email::parse(&format!("wallet{index}@example.com")).expect("email"),
                    role: Role::Customer,
                    password_hash: None,
                    email_verified: true,
                },
                Utc::now(),
            )
            .await
            .expect("a user");
        wallets.push(user.wallet);
    }
    let wallets = Arc::new(wallets);
    let funding = store.ledger().system_account(SystemAccount::Paypal);
    let revenue = store.ledger().system_account(SystemAccount::Usage);

    let mut tasks = Vec::with_capacity(TASKS);
    for task in 0..TASKS {
        let (store, wallets) = (store.clone(), wallets.clone());
        tasks.push(tokio::spawn(async move {
            let mut outcomes: Outcomes = Vec::new();
            for n in (task..OPERATIONS).step_by(TASKS) {
                let h = mix(n as u64 ^ 0x9e37_79b9);
                let key = h % KEYS;
                let tampered = (h >> 20).is_multiple_of(33);
                let request = request_for(key, tampered, &wallets, funding, revenue);
                let outcome = store
                    .ledger()
                    .post(&request, Utc::now())
                    .await
                    .map(|outcome| (outcome.is_new(), outcome.posting().id))
                    .map_err(|error| {
                        assert_eq!(
                            error.code(),
                            ErrorCode::Conflict,
                            "only the ledger's refusals may surface: {error:?}"
                        );
                        error.code()
                    });
                outcomes.push((request.key, outcome));
            }
            outcomes
        }));
    }
    let mut posted: HashMap<String, PostingId> = HashMap::new();
    let mut replayed: Vec<(String, PostingId)> = Vec::new();
    let mut total = 0;
    for task in tasks {
        for (key, outcome) in task.await.expect("a writer task") {
            total += 1;
            match outcome {
                Ok((true, id)) => assert!(
                    posted.insert(key.clone(), id).is_none(),
                    "{key} posted twice"
                ),
                Ok((false, id)) => replayed.push((key, id)),
                Err(_) => {}
            }
        }
    }
    assert_eq!(total, OPERATIONS);
    assert!(
        posted.len() > OPERATIONS / 3,
        "most keys post: {}",
        posted.len()
    );
    assert!(!replayed.is_empty(), "some keys are replayed");
    for (key, id) in &replayed {
        assert_eq!(
            posted.get(key),
            Some(id),
            "a replay of {key} returns its first posting"
        );
    }
    assert_eq!(
        store.ledger().count_postings().await.expect("count"),
        posted.len() as u64,
        "each key posts once"
    );
    let keys: HashSet<_> = posted.keys().collect();
    for key in keys.iter().take(200) {
        let stored = store
            .ledger()
            .posting_by_key(key)
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(Some(&stored.id), posted.get(*key));
    }
    let discrepancies = store.ledger().ledger_discrepancies().await.expect("check");
    assert!(
        discrepancies.is_empty(),
        "every balance equals its postings: {discrepancies:?}"
    );
}
