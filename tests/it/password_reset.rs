//! A stranger guessing at someone's reset code: the short code dies after its wrong tries, but
//! the link in the owner's inbox still resets the password.

use hostdeck_core::Role;
use hostdeck_core::identity::Client;
use hostdeck_core::store::CODE_ATTEMPTS;
use hostdeck_e2e::app::TestApp;
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::mail::{code_in, link_param};
use hostdeck_e2e::on_both_engines;
use secrecy::SecretString;

on_both_engines!(a_stranger_guessing_at_the_code_does_not_kill_the_owners_reset_link);

const NEW_PASSWORD: &str = "copper kettle sings 41";

fn client(address: &str) -> Client {
    Client {
        address: address.to_owned(),
        user_agent: "test".to_owned(),
    }
}

async fn a_stranger_guessing_at_the_code_does_not_kill_the_owners_reset_link(db: TestDb) {
    let app = TestApp::start(db.core_now().await).await;
    app.user("olga@example.com", Role::Customer).await;
    let owner = client("198.51.100.7");
    let stranger = client("203.0.113.9");
    let accounts = &app.core().identity;

    accounts
        .forgot_password("olga@example.com", &owner)
        .await
        .expect("the owner asks for a reset");
    let mail = app.mailbox.wait_for("olga@example.com", "Reset your").await;
    let token = link_param(&mail.text, "token").expect("a reset link with a token");
    let code = code_in(mail.text.split("code").last().expect("text"), 6).expect("a reset code");

    // The stranger uses up every try at the short code.
    for guess in 0..CODE_ATTEMPTS {
        let refused = accounts
            .reset_password(
                "olga@example.com",
                &format!("{guess:06}"),
                SecretString::from("stranger picks this 99 times"),
                &stranger,
            )
            .await;
        assert!(refused.is_err(), "guess {guess} refused");
    }

    // The short code is out of tries, even for its owner...
    let dead = accounts
        .reset_password(
            "olga@example.com",
            &code,
            SecretString::from(NEW_PASSWORD),
            &owner,
        )
        .await;
    assert!(
        dead.is_err(),
        "the code died after {CODE_ATTEMPTS} wrong tries"
    );

    // ...but the link still works, once.
    accounts
        .reset_password(
            "olga@example.com",
            &token,
            SecretString::from(NEW_PASSWORD),
            &owner,
        )
        .await
        .expect("the owner's link resets the password");
    let again = accounts
        .reset_password(
            "olga@example.com",
            &token,
            SecretString::from(NEW_PASSWORD),
            &owner,
        )
        .await;
    assert!(again.is_err(), "a link works once");
    app.login("olga@example.com", NEW_PASSWORD).await;
}

on_both_engines!(guesses_either_side_of_a_quarter_hour_share_one_window);

/// Throttle windows start at the first attempt, not at the clock's quarter hours: five wrong
/// passwords just before 10:15 and a sixth just after are still one window.
async fn guesses_either_side_of_a_quarter_hour_share_one_window(db: TestDb) {
    use chrono::TimeZone;
    let start = chrono::Utc
        .with_ymd_and_hms(2026, 12, 7, 10, 14, 59)
        .single()
        .expect("a time");
    let clock = std::sync::Arc::new(hostdeck_core::clock::ManualClock::new(start));
    let app = TestApp::start(db.core(clock.clone()).await).await;
    app.user("pia@example.com", Role::Customer).await;
    let attacker = client("203.0.113.50");
    let accounts = &app.core().identity;
    for guess in 0..5 {
        let refused = accounts
            .sign_in(
                "pia@example.com",
                SecretString::from(format!("wrong guess {guess}")),
                None,
                &attacker,
            )
            .await
            .expect_err("a wrong password");
        assert_eq!(refused.code(), hostdeck_core::ErrorCode::Unauthenticated);
    }
    clock.advance(chrono::Duration::seconds(2));
    let sixth = accounts
        .sign_in(
            "pia@example.com",
            SecretString::from(hostdeck_e2e::app::PASSWORD),
            None,
            &attacker,
        )
        .await
        .expect_err("the sixth try waits, even with the right password");
    assert_eq!(sixth.code(), hostdeck_core::ErrorCode::RateLimited);
}
