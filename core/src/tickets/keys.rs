//! Idempotency keys of opens and replies (the API's `Idempotency-Key`): a client that sends a
//! request again with its key gets the first result, and the ticket or message is made once.
//! The key is stored with what its request made, in the write's own transaction
//! (`ticket_request_keys`), so it names that or nothing: a request that failed leaves its key
//! free for a corrected one. The same key with another request is `idempotency_mismatch`, in
//! words that say nothing of the first; of two requests sent at once with one key, one acts
//! and the other is answered with what it made. A key is honoured for [`KEYS_KEPT`] (a day, as
//! payment APIs do); the tickets' minute job forgets older ones.

use super::{OpenTicket, Tickets};
use crate::error::{Error, Result};
use crate::idempotency::{Fingerprint, MISMATCH};
use crate::policy::Actor;
use crate::records::tickets::{KeyedRequest, RequestKey, Ticket, TicketId, TicketMessage};

/// How long a key is honoured.
pub const KEYS_KEPT: chrono::Duration = chrono::Duration::hours(24);

/// The longest key a client may send.
const MAX_KEY: usize = 200;

/// What a request sent with a key answers, and whether an earlier request with the key made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyed<T> {
    pub value: T,
    pub replayed: bool,
}

fn checked_key(key: &str) -> Result<String> {
    let key = key.trim();
    if key.is_empty() || key.len() > MAX_KEY || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::invalid(
            "Idempotency-Key",
            "Use 1 to 200 printable ASCII characters without spaces.",
        ));
    }
    Ok(key.to_owned())
}

fn text_of(number: Option<i64>) -> String {
    number.map(|number| number.to_string()).unwrap_or_default()
}

impl Tickets {
    /// [`Tickets::open`] once per `key` of the actor.
    pub async fn open_once(
        &self,
        actor: &Actor,
        request: OpenTicket,
        key: &str,
    ) -> Result<Keyed<Ticket>> {
        let key = checked_key(key)?;
        let Some(user) = actor.user else {
            let value = self.open(actor, request).await?;
            return Ok(Keyed {
                value,
                replayed: false,
            });
        };
        let server = text_of(request.server.map(|server| server.0));
        let customer = text_of(request.customer.map(|customer| customer.0));
        let fingerprint = Fingerprint::of(&[
            request.subject.as_str(),
            request.body.as_str(),
            request.department.as_str(),
            request.priority.map_or("", |priority| priority.as_str()),
            server.as_str(),
            customer.as_str(),
        ]);
        let request_key = RequestKey {
            scope: format!("ticket-open:{user}"),
            key,
            fingerprint: fingerprint.as_str().to_owned(),
        };
        if let Some(found) = self.keyed(&request_key).await? {
            return self.opened_before(actor, &found).await;
        }
        match self
            .open_with(actor, request, Some(request_key.clone()))
            .await
        {
            Ok(value) => Ok(Keyed {
                value,
                replayed: false,
            }),
            // A request with the same key may have made it meanwhile.
            Err(error) => match self.keyed(&request_key).await? {
                Some(found) => self.opened_before(actor, &found).await,
                None => Err(error),
            },
        }
    }

    /// [`Tickets::reply`] (without attachments) once per `key` of the actor on the ticket.
    pub async fn reply_once(
        &self,
        actor: &Actor,
        id: TicketId,
        body: &str,
        key: &str,
    ) -> Result<Keyed<TicketMessage>> {
        let key = checked_key(key)?;
        let Some(user) = actor.user else {
            let value = self.reply(actor, id, body, Vec::new()).await?;
            return Ok(Keyed {
                value,
                replayed: false,
            });
        };
        let request_key = RequestKey {
            scope: format!("ticket-reply:{user}:{id}"),
            key,
            fingerprint: Fingerprint::of(&[body]).as_str().to_owned(),
        };
        if let Some(found) = self.keyed(&request_key).await? {
            return self.replied_before(actor, &found).await;
        }
        match self
            .reply_with(actor, id, (body, Vec::new()), Some(request_key.clone()))
            .await
        {
            Ok(value) => Ok(Keyed {
                value,
                replayed: false,
            }),
            Err(error) => match self.keyed(&request_key).await? {
                Some(found) => self.replied_before(actor, &found).await,
                None => Err(error),
            },
        }
    }

    /// What the key made, if it was used with this very request; a mismatch otherwise.
    async fn keyed(&self, key: &RequestKey) -> Result<Option<KeyedRequest>> {
        match self
            .store
            .tickets()
            .request_key(&key.scope, &key.key)
            .await?
        {
            Some(found) if found.fingerprint == key.fingerprint => Ok(Some(found)),
            Some(_) => Err(Error::KeyReused(MISMATCH.to_owned())),
            None => Ok(None),
        }
    }

    async fn opened_before(&self, actor: &Actor, found: &KeyedRequest) -> Result<Keyed<Ticket>> {
        Ok(Keyed {
            value: self.get(actor, found.ticket).await?,
            replayed: true,
        })
    }

    async fn replied_before(
        &self,
        actor: &Actor,
        found: &KeyedRequest,
    ) -> Result<Keyed<TicketMessage>> {
        let value = self
            .messages(actor, found.ticket)
            .await?
            .into_iter()
            .find(|message| message.id == found.message)
            .ok_or_else(|| {
                Error::internal("answering a repeated reply", "its message is not listed")
            })?;
        Ok(Keyed {
            value,
            replayed: true,
        })
    }
}
