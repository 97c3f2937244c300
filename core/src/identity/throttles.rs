//! The limits on guesses and on mail sent on request, and the checks that count against them
//! (each attempt counted before its secret is checked, a right guess given back).

use std::time::Duration;

use secrecy::SecretString;

use super::{Client, Identity};
use crate::auth::password;
use crate::auth::throttle::{Limit, Taken, minutes};
use crate::email::Email;
use crate::error::{Error, Result};
use crate::records::users::UserAuth;

const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
const HOUR: Duration = Duration::from_secs(3600);
/// Sign-ins from one address against one account before that pair must wait. A right password
/// gives its attempt back.
pub(super) const SIGN_INS_PER_ACCOUNT_AND_ADDRESS: Limit = Limit {
    name: "sign_in.account_address",
    max: 5,
    window: FAILURE_WINDOW,
};
/// Sign-ins from one address, across accounts, before it must wait.
pub(super) const SIGN_INS_PER_ADDRESS: Limit = Limit {
    name: "sign_in.address",
    max: 30,
    window: FAILURE_WINDOW,
};
/// Tries at an emailed code (verification, reset) from one address for one account, and from
/// one address across accounts; each code also dies after a few wrong tries (the store's
/// `CODE_ATTEMPTS`). A right code gives its try back.
const CODE_TRIES_PER_ACCOUNT_AND_ADDRESS: Limit = Limit {
    name: "code.account_address",
    max: 5,
    window: FAILURE_WINDOW,
};
const CODE_TRIES_PER_ADDRESS: Limit = Limit {
    name: "code.address",
    max: 30,
    window: FAILURE_WINDOW,
};
/// Checks of the current password (and code) by a signed-in caller, per account and address:
/// a stolen session must not be a way to guess the password.
const PASSWORD_CHECKS_PER_ACCOUNT_AND_ADDRESS: Limit = Limit {
    name: "current_password.account_address",
    max: 5,
    window: FAILURE_WINDOW,
};
/// Sign-ups from one address.
pub(super) const SIGN_UPS_PER_ADDRESS: Limit = Limit {
    name: "sign_up.address",
    max: 5,
    window: HOUR,
};
/// Asks for mail ("resend the code", "forgot my password") from one address.
pub(super) const MAIL_ASKS_PER_ADDRESS: Limit = Limit {
    name: "mail.address",
    max: 10,
    window: HOUR,
};
/// Emails (codes, resets) one recipient is sent at the request of one address.
const EMAILS_PER_RECIPIENT_AND_ADDRESS: Limit = Limit {
    name: "mail.recipient_address",
    max: 5,
    window: HOUR,
};

impl Identity {
    /// Counts a request from `client` that sends mail to `email`: `asks` per address, and the
    /// recipient's allowance per requesting address.
    pub(super) async fn throttle_email(
        &self,
        asks: &Limit,
        email: &Email,
        client: &Client,
    ) -> Result<()> {
        let address = client.throttle_key();
        let recipient = format!("{}|{address}", email.key());
        self.throttle
            .take_all(
                &[
                    (asks, &address),
                    (&EMAILS_PER_RECIPIENT_AND_ADDRESS, &recipient),
                ],
                |wait| {
                    format!(
                        "Too many requests for email from here; try again in {}.",
                        minutes(wait)
                    )
                },
            )
            .await
            .map(drop)
    }

    /// Counts a try at an emailed code before it is checked.
    pub(super) async fn throttle_code(
        &self,
        purpose: &str,
        email: &Email,
        client: &Client,
    ) -> Result<Vec<Taken>> {
        let address = client.throttle_key();
        let pair = format!("{purpose}|{}|{address}", email.key());
        self.throttle
            .take_all(
                &[
                    (&CODE_TRIES_PER_ADDRESS, &address),
                    (&CODE_TRIES_PER_ACCOUNT_AND_ADDRESS, &pair),
                ],
                |wait| {
                    format!(
                        "Too many wrong codes; try again in {}, or ask for a new code.",
                        minutes(wait)
                    )
                },
            )
            .await
    }

    pub(super) async fn give_back(&self, taken: &[Taken]) {
        for slot in taken {
            self.throttle.give_back(slot).await;
        }
    }

    pub(super) async fn take_password_check(
        &self,
        subject: &str,
        client: &Client,
    ) -> Result<Taken> {
        let subject = format!("{subject}|{}", client.throttle_key());
        let taken = self
            .throttle
            .take_all(
                &[(&PASSWORD_CHECKS_PER_ACCOUNT_AND_ADDRESS, &subject)],
                |wait| format!("Too many wrong tries; try again in {}.", minutes(wait)),
            )
            .await?;
        taken
            .into_iter()
            .next()
            .ok_or_else(|| Error::internal("counting a password check", "no slot taken"))
    }

    /// Checks the current password before a change that needs it (password, two-factor off),
    /// counted before the check like a sign-in.
    pub(super) async fn check_current_password(
        &self,
        user: &UserAuth,
        current: SecretString,
        client: &Client,
    ) -> Result<()> {
        let taken = self
            .take_password_check(&format!("password|{}", user.user.id), client)
            .await?;
        let stored = match &user.password_hash {
            Some(hash) => hash.clone(),
            None => password::dummy_hash().await?,
        };
        if password::verify(current, stored).await? {
            self.throttle.give_back(&taken).await;
            Ok(())
        } else {
            Err(Error::invalid(
                "current_password",
                "your current password is not right",
            ))
        }
    }
}
