//! E-mails to customers (invitations, updates, cancellations, reminders): each is claimed before it
//! is sent, keyed by (booking, kind, revision, reminder), so that it goes out at most once even if
//! its job runs twice; then recorded as sent (with its Message-ID), failed or skipped.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::outbox::{INSERT, encode};
use super::{Pool, Store, StoreError, corrupt, now, with_pool, with_read_pool};
use kalends_core::job::Job;

/// What kind of e-mail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// An invitation or an update (iTIP `REQUEST`).
    Request,
    /// A cancellation (iTIP `CANCEL`).
    Cancel,
    /// A reminder before the start.
    Reminder,
}

impl MessageKind {
    /// The database word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Cancel => "cancel",
            Self::Reminder => "reminder",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "request" => Some(Self::Request),
            "cancel" => Some(Self::Cancel),
            "reminder" => Some(Self::Reminder),
            _ => None,
        }
    }
}

/// Where an e-mail stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    /// Claimed; being handed to the mail server (or interrupted while it was).
    Sending,
    /// Accepted by the mail server.
    Sent,
    /// Refused for good; `error` has the server's words.
    Failed,
    /// Not sent on purpose; `error` says why (e.g. a reminder whose moment had passed).
    Skipped,
}

impl MessageStatus {
    /// The database word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "sending" => Some(Self::Sending),
            "sent" => Some(Self::Sent),
            "failed" => Some(Self::Failed),
            "skipped" => Some(Self::Skipped),
            _ => None,
        }
    }
}

/// An e-mail about to be sent.
#[derive(Clone, Debug)]
pub struct NewMessage<'a> {
    /// Owner.
    pub tenant_id: Uuid,
    /// The booking it is about.
    pub booking_id: Uuid,
    /// Invitation, cancellation or reminder.
    pub kind: MessageKind,
    /// The invite revision (SEQUENCE); for a reminder, the instant it was due (Unix seconds).
    pub revision: i64,
    /// Which reminder; empty for invitations.
    pub reminder: &'a str,
    /// What the customer is told, condensed.
    pub fingerprint: &'a str,
    /// The customer's address.
    pub recipient: &'a str,
}

/// A recorded e-mail.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CustomerMessage {
    /// Id.
    pub id: Uuid,
    /// The booking.
    pub booking_id: Uuid,
    /// Invitation, cancellation or reminder.
    pub kind: MessageKind,
    /// The invite revision; for a reminder, the instant it was due (Unix seconds).
    pub revision: i64,
    /// Which reminder; empty for invitations.
    pub reminder: String,
    /// What the customer was told, condensed.
    #[serde(skip)]
    pub fingerprint: String,
    /// The address it went to.
    pub recipient: String,
    /// Where it stands.
    pub status: MessageStatus,
    /// The Message-ID, once sent.
    pub message_id: Option<String>,
    /// The server's words (failed) or why it was skipped.
    pub error: Option<String>,
    /// Claimed at.
    pub created_at: DateTime<Utc>,
    /// Sent, failed or skipped at.
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: Uuid,
    booking_id: Uuid,
    kind: String,
    revision: i64,
    reminder: String,
    fingerprint: String,
    recipient: String,
    status: String,
    message_id: Option<String>,
    error: Option<String>,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, booking_id, kind, revision, reminder, fingerprint, recipient, status, \
                       message_id, error, created_at, finished_at";

impl TryFrom<MessageRow> for CustomerMessage {
    type Error = StoreError;
    fn try_from(r: MessageRow) -> Result<Self, StoreError> {
        let bad = |what: &str| corrupt(format!("customer message {} has an unknown {what}", r.id));
        Ok(CustomerMessage {
            id: r.id,
            booking_id: r.booking_id,
            kind: MessageKind::parse(&r.kind).ok_or_else(|| bad("kind"))?,
            revision: r.revision,
            reminder: r.reminder,
            fingerprint: r.fingerprint,
            recipient: r.recipient,
            status: MessageStatus::parse(&r.status).ok_or_else(|| bad("status"))?,
            message_id: r.message_id,
            error: r.error,
            created_at: r.created_at,
            finished_at: r.finished_at,
        })
    }
}

impl Store {
    /// Claims an e-mail before sending it; `None` when it was already claimed (sent, being
    /// sent, failed or skipped): the caller must not send it.
    pub async fn claim_message(&self, new: &NewMessage<'_>) -> Result<Option<Uuid>, StoreError> {
        self.insert_message(new, MessageStatus::Sending, None).await
    }

    /// Records an e-mail that is not sent on purpose, with why (once).
    pub async fn skip_message(&self, new: &NewMessage<'_>, why: &str) -> Result<(), StoreError> {
        self.insert_message(new, MessageStatus::Skipped, Some(why)).await.map(|_| ())
    }

    async fn insert_message(
        &self,
        new: &NewMessage<'_>,
        status: MessageStatus,
        error: Option<&str>,
    ) -> Result<Option<Uuid>, StoreError> {
        let (id, at) = (Uuid::now_v7(), now());
        let finished = (status != MessageStatus::Sending).then_some(at);
        let inserted = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO customer_messages (id, tenant_id, booking_id, kind, revision, reminder, \
                 fingerprint, recipient, status, error, created_at, finished_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (booking_id, revision, reminder) DO NOTHING",
            )
            .bind(id)
            .bind(new.tenant_id)
            .bind(new.booking_id)
            .bind(new.kind.as_str())
            .bind(new.revision)
            .bind(new.reminder)
            .bind(new.fingerprint)
            .bind(new.recipient)
            .bind(status.as_str())
            .bind(error)
            .bind(at)
            .bind(finished)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok((inserted == 1).then_some(id))
    }

    /// Records how a claimed e-mail ended: sent (with its Message-ID) or failed (with why).
    pub async fn finish_message(
        &self,
        id: Uuid,
        status: MessageStatus,
        message_id: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE customer_messages SET status = $1, message_id = $2, error = $3, finished_at = $4 \
                 WHERE id = $5",
            )
            .bind(status.as_str())
            .bind(message_id)
            .bind(error)
            .bind(now())
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Gives up a claim after a failure that sent nothing (the server deferred or could not be
    /// reached), so that a retry can claim it again.
    pub async fn release_message(&self, id: Uuid) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM customer_messages WHERE id = $1 AND status = 'sending'")
                .bind(id)
                .execute(pool)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Puts back up to `limit` e-mails claimed before `claimed_before` and never finished (the
    /// worker died between the claim and the mail server's answer): each claim is released and
    /// its booking owes a `notify_customer` again, which sends whatever is still owed (the
    /// invitation, and through the reminders it schedules, a reminder), in one transaction so
    /// that none is lost and, across workers, none is put back twice. Returns how many.
    pub async fn requeue_stale_messages(
        &self,
        claimed_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<usize, StoreError> {
        const SELECT: &str = "SELECT id, tenant_id, booking_id FROM customer_messages \
             WHERE status = 'sending' AND created_at < $1 ORDER BY created_at LIMIT $2";
        let sql = match self.pool {
            Pool::Sqlite { .. } => SELECT.to_owned(),
            Pool::Postgres(_) => format!("{SELECT} FOR UPDATE SKIP LOCKED"),
        };
        let at = now();
        let released = with_pool!(self, |pool| async {
            let mut tx = pool.begin().await?;
            let stale: Vec<(Uuid, Uuid, Uuid)> = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(claimed_before)
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
            for (id, tenant_id, booking_id) in &stale {
                sqlx::query("DELETE FROM customer_messages WHERE id = $1 AND status = 'sending'")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let job = Job::NotifyCustomer {
                    tenant_id: *tenant_id,
                    booking_id: *booking_id,
                    resend: false,
                };
                sqlx::query(INSERT).bind(encode(&job)?).bind(at).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(stale.len())
        }
        .await)?;
        if released > 0 {
            self.outbox_signal.notify_one();
        }
        Ok(released)
    }

    /// The booking's invitations and cancellations (not its reminders), oldest first, whatever
    /// their status, read from the primary: what was told to which address, for the next
    /// message's wording; the last is [`Store::last_invite`]'s.
    pub async fn invitations(&self, booking_id: Uuid) -> Result<Vec<CustomerMessage>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM customer_messages WHERE booking_id = $1 AND kind <> 'reminder' \
             ORDER BY revision, id"
        );
        let rows: Vec<MessageRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(booking_id).fetch_all(pool).await
        })?;
        rows.into_iter().map(CustomerMessage::try_from).collect()
    }

    /// The booking's latest invitation or cancellation (highest revision), whatever its status.
    pub async fn last_invite(
        &self,
        booking_id: Uuid,
    ) -> Result<Option<CustomerMessage>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM customer_messages WHERE booking_id = $1 AND kind <> 'reminder' \
             ORDER BY revision DESC LIMIT 1"
        );
        let row: Option<MessageRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(booking_id)
                .fetch_optional(pool)
                .await
        })?;
        row.map(CustomerMessage::try_from).transpose()
    }

    /// Every e-mail recorded for a booking, oldest first.
    pub async fn customer_messages(
        &self,
        booking_id: Uuid,
    ) -> Result<Vec<CustomerMessage>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM customer_messages WHERE booking_id = $1 ORDER BY created_at, id"
        );
        let rows: Vec<MessageRow> = with_read_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(booking_id).fetch_all(pool).await
        })?;
        rows.into_iter().map(CustomerMessage::try_from).collect()
    }
}
