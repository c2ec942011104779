//! What a customer should be told, decided from the booking's current state and what they were
//! told last: pure functions, shared by `notify_customer` and `send_reminder`.

use chrono::{DateTime, Duration, NaiveTime, TimeZone as _, Utc};
use kalends_core::domain::{Booking, BookingSpan, BookingStatus, TenantSettings, TimeZone};
use kalends_store::{CustomerMessage, MessageKind, MessageStatus};
use sha2::{Digest as _, Sha256};

/// The invitation to send now, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvitePlan {
    /// Invitation/update or cancellation.
    pub kind: MessageKind,
    /// The SEQUENCE to send: one more than the last message's.
    pub revision: i64,
    /// What the customer will have been told, condensed.
    pub fingerprint: String,
}

/// What the customer is told about a booking, condensed: changes to anything else (staff,
/// internal notes, the resource) send no e-mail. A tentative booking is marked (its event says
/// so), a confirmed one is not: fingerprints written before the mark existed stay equal.
pub fn fingerprint(booking: &Booking, kind: MessageKind) -> String {
    let data = &booking.data;
    let email = data.customer.as_ref().and_then(|c| c.email.as_ref()).map(|e| e.as_str());
    let tentative = if data.status == BookingStatus::Tentative { "\u{1f}tentative" } else { "" };
    let text = format!(
        "{}\u{1f}{:?}\u{1f}{}\u{1f}{:?}\u{1f}{:?}\u{1f}{:?}{tentative}",
        kind.as_str(),
        data.span,
        data.title,
        data.location,
        data.description,
        email
    );
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The invitation owed now. A confirmed booking is invited when the tenant invites on confirm
/// (or the host asked, `resend`); a cancelled one gets a cancellation only if an invitation went
/// out (`invited`: any revision, as a later update that bounced does not take the event back
/// from the customer; `last` being one counts too); nothing is sent when the customer would be
/// told what they were told last.
pub fn plan_invite(
    booking: &Booking,
    settings: &TenantSettings,
    last: Option<&CustomerMessage>,
    invited: bool,
    resend: bool,
) -> Option<InvitePlan> {
    // An invitation still being handed over counts: the cancellation must follow it.
    let invited = invited
        || last.is_some_and(|m| {
            m.kind == MessageKind::Request
                && matches!(m.status, MessageStatus::Sent | MessageStatus::Sending)
        });
    let kind = match booking.data.status {
        BookingStatus::Cancelled if invited => MessageKind::Cancel,
        BookingStatus::Cancelled => return None,
        BookingStatus::Confirmed if settings.invite_on_confirm || resend || invited => {
            MessageKind::Request
        }
        BookingStatus::Tentative if resend || invited => MessageKind::Request,
        _ => return None,
    };
    let fingerprint = fingerprint(booking, kind);
    if !resend && last.is_some_and(|m| m.fingerprint == fingerprint) {
        return None;
    }
    let revision = last.map_or(0, |m| m.revision + 1);
    Some(InvitePlan { kind, revision, fingerprint })
}

/// Whether an invitation of the booking went out (or is going out) to any address, ever: what
/// [`plan_invite`] takes as `invited`.
pub fn ever_invited(messages: &[CustomerMessage]) -> bool {
    messages.iter().any(|m| m.reminder.is_empty() && m.kind == MessageKind::Request && went_out(m))
}

/// Whether `address` hears of the booking for the first time, as its calendar knows it: no
/// invitation went out to it (addresses compared as mail servers do, ignoring case), or the last
/// message that went there was a cancellation (the address was taken off the booking, and its
/// calendar dropped the event). Its message then reads as an invitation, whatever its SEQUENCE
/// says.
pub fn first_to(messages: &[CustomerMessage], address: &str) -> bool {
    let last = messages
        .iter()
        .filter(|m| m.reminder.is_empty() && went_out(m))
        .filter(|m| m.recipient.eq_ignore_ascii_case(address))
        .max_by_key(|m| m.revision);
    !last.is_some_and(|m| m.kind == MessageKind::Request)
}

/// Whether a message was handed to the mail server, or is being.
fn went_out(message: &CustomerMessage) -> bool {
    matches!(message.status, MessageStatus::Sent | MessageStatus::Sending)
}

/// The invitations to take back because the customer's address changed or went (`current`,
/// the booking's address now): for each other address an invitation went out to, the last one,
/// unless a cancellation was sent there since (whatever became of it: one is tried, not
/// repeated). RFC 5546 3.2.5: an organizer cancels the event for an attendee it removes.
pub fn uninvited<'m>(
    messages: &'m [CustomerMessage],
    current: Option<&str>,
) -> Vec<&'m CustomerMessage> {
    let invitations = || messages.iter().filter(|m| m.reminder.is_empty());
    let mut last: Vec<&CustomerMessage> = Vec::new();
    for m in invitations().filter(|m| m.kind == MessageKind::Request && went_out(m)) {
        match last.iter_mut().find(|l| l.recipient.eq_ignore_ascii_case(&m.recipient)) {
            Some(l) if l.revision < m.revision => *l = m,
            Some(_) => {}
            None => last.push(m),
        }
    }
    last.retain(|l| {
        let same = |address: &str| address.eq_ignore_ascii_case(&l.recipient);
        let taken_back = invitations().any(|m| {
            m.kind == MessageKind::Cancel && m.revision > l.revision && same(&m.recipient)
        });
        !current.is_some_and(same) && !taken_back
    });
    last.sort_by_key(|l| l.revision);
    last
}

/// When each reminder of a booking is due: `(key, instant)`. Timed bookings get one per offset
/// before the start; stays get one the day before check-in at the tenant's hour, in `zone`.
pub fn reminder_times(
    booking: &Booking,
    settings: &TenantSettings,
    zone: TimeZone,
) -> Vec<(String, DateTime<Utc>)> {
    match booking.data.span {
        BookingSpan::Timed { start, .. } => settings
            .reminder_offsets_minutes
            .iter()
            .map(|minutes| (minutes.to_string(), start - Duration::minutes(i64::from(*minutes))))
            .collect(),
        BookingSpan::AllDay { start, .. } => {
            let day = start - Duration::days(1);
            let hour =
                NaiveTime::from_hms_opt(u32::from(settings.all_day_reminder_hour.min(23)), 0, 0)
                    .unwrap_or(NaiveTime::MIN);
            let local = day.and_time(hour);
            let due = zone
                .tz()
                .from_local_datetime(&local)
                .earliest()
                .map_or_else(|| Utc.from_utc_datetime(&local), |t| t.with_timezone(&Utc));
            vec![("day-before".into(), due)]
        }
    }
}

/// Why a reminder is not sent now, if it is not.
pub fn reminder_obstacle(
    booking: &Booking,
    settings: &TenantSettings,
    zone: TimeZone,
    key: &str,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
    grace: Duration,
) -> Option<Obstacle> {
    if booking.data.status != BookingStatus::Confirmed {
        return Some(Obstacle::Stale);
    }
    let current = reminder_times(booking, settings, zone).into_iter().find(|(k, _)| k == key);
    match current {
        // Rescheduled, or the tenant changed the reminder rules: another job is due at the new time.
        Some((_, at)) if at.timestamp() != due_at.timestamp() => Some(Obstacle::Stale),
        None => Some(Obstacle::Stale),
        Some(_) if now > due_at + grace => Some(Obstacle::TooLate),
        Some(_) => None,
    }
}

/// Why a reminder job sends nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Obstacle {
    /// The booking moved, was cancelled or is tentative: this reminder is not owed (any other
    /// reminder that is owed has its own job).
    Stale,
    /// Its moment passed longer ago than the grace window (the system was down): recorded as
    /// skipped.
    TooLate,
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use kalends_core::domain::{Customer, NewBooking};
    use uuid::Uuid;

    use super::*;

    fn booking(status: BookingStatus, span: BookingSpan) -> Booking {
        Booking {
            id: Uuid::now_v7(),
            tenant_id: Uuid::now_v7(),
            data: NewBooking {
                external_id: None,
                resource_id: None,
                staff_ids: vec![],
                status,
                title: "Massage".into(),
                description: None,
                location: Some("Room 2".into()),
                customer: Some(Customer {
                    name: "Ann".into(),
                    email: Some("ann@example.com".parse().unwrap()),
                    phone: None,
                }),
                span,
            },
            version: 1,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn timed(start: &str) -> BookingSpan {
        let start = at(start);
        BookingSpan::timed(start, start + Duration::hours(1), TimeZone::UTC).unwrap()
    }

    fn sent(plan: &InvitePlan) -> CustomerMessage {
        CustomerMessage {
            id: Uuid::now_v7(),
            booking_id: Uuid::now_v7(),
            kind: plan.kind,
            revision: plan.revision,
            reminder: String::new(),
            fingerprint: plan.fingerprint.clone(),
            recipient: "ann@example.com".into(),
            status: MessageStatus::Sent,
            message_id: None,
            error: None,
            created_at: Utc::now(),
            finished_at: None,
        }
    }

    #[test]
    fn an_address_invited_before_in_any_case_is_not_told_for_the_first_time() {
        let told = |kind, revision, to: &str, status| CustomerMessage {
            kind,
            revision,
            recipient: to.into(),
            status,
            ..sent(&InvitePlan { kind, revision, fingerprint: String::new() })
        };
        let mut messages =
            vec![told(MessageKind::Request, 0, "Ann@Example.com", MessageStatus::Sent)];
        assert!(!first_to(&messages, "ann@example.com"));
        assert!(first_to(&messages, "bob@example.com"), "a new address hears it first");
        assert!(first_to(&[], "ann@example.com"));
        // Taken off the booking (the event cancelled there), then given it back.
        messages.push(told(MessageKind::Cancel, 1, "ann@example.com", MessageStatus::Sent));
        messages.push(told(MessageKind::Request, 2, "bob@example.com", MessageStatus::Sent));
        assert!(first_to(&messages, "ann@example.com"), "her calendar dropped the event");
        assert!(ever_invited(&messages));
        // A cancellation that never went out took nothing back.
        messages[1].status = MessageStatus::Failed;
        assert!(!first_to(&messages, "ann@example.com"));
        assert!(!ever_invited(&messages[1..2]), "a cancellation is no invitation");
    }

    #[test]
    fn a_confirmed_booking_is_invited_then_updated_only_when_the_customer_would_notice() {
        let settings = TenantSettings::default();
        let mut b = booking(BookingStatus::Confirmed, timed("2030-01-02T10:00:00Z"));
        let first = plan_invite(&b, &settings, None, false, false).unwrap();
        assert_eq!((first.kind, first.revision), (MessageKind::Request, 0));
        let last = sent(&first);
        b.data.staff_ids.push(Uuid::now_v7());
        assert_eq!(
            plan_invite(&b, &settings, Some(&last), false, false),
            None,
            "staff changes send nothing"
        );
        b.data.span = timed("2030-01-03T10:00:00Z");
        let update = plan_invite(&b, &settings, Some(&last), false, false).unwrap();
        assert_eq!((update.kind, update.revision), (MessageKind::Request, 1));
        b.data.status = BookingStatus::Cancelled;
        let cancel = plan_invite(&b, &settings, Some(&sent(&update)), false, false).unwrap();
        assert_eq!((cancel.kind, cancel.revision), (MessageKind::Cancel, 2));
        assert_eq!(
            plan_invite(&b, &settings, Some(&sent(&cancel)), false, false),
            None,
            "one cancellation"
        );
    }

    #[test]
    fn a_cancellation_follows_an_invitation_even_when_the_last_update_bounced() {
        let settings = TenantSettings::default();
        let mut b = booking(BookingStatus::Confirmed, timed("2030-01-02T10:00:00Z"));
        let first = plan_invite(&b, &settings, None, false, false).unwrap();
        b.data.span = timed("2030-01-03T10:00:00Z");
        let update = plan_invite(&b, &settings, Some(&sent(&first)), true, false).unwrap();
        let bounced = CustomerMessage { status: MessageStatus::Failed, ..sent(&update) };
        b.data.status = BookingStatus::Cancelled;
        let cancel = plan_invite(&b, &settings, Some(&bounced), true, false).unwrap();
        assert_eq!((cancel.kind, cancel.revision), (MessageKind::Cancel, 2));
        let again = plan_invite(&b, &settings, Some(&sent(&cancel)), true, true).unwrap();
        assert_eq!((again.kind, again.revision), (MessageKind::Cancel, 3), "sent again if asked");
    }

    #[test]
    fn a_tentative_booking_confirmed_tells_the_customer_and_a_confirmed_fingerprint_is_as_before() {
        let settings = TenantSettings::default();
        let mut b = booking(BookingStatus::Tentative, timed("2030-01-02T10:00:00Z"));
        let first = plan_invite(&b, &settings, None, false, true).unwrap();
        b.data.status = BookingStatus::Confirmed;
        let update = plan_invite(&b, &settings, Some(&sent(&first)), true, false).unwrap();
        assert_eq!((update.kind, update.revision), (MessageKind::Request, 1));
        // Computed the way it was before tentative bookings were marked.
        let data = &b.data;
        let email = data.customer.as_ref().and_then(|c| c.email.as_ref()).map(|e| e.as_str());
        let text = format!(
            "request\u{1f}{:?}\u{1f}{}\u{1f}{:?}\u{1f}{:?}\u{1f}{:?}",
            data.span, data.title, data.location, data.description, email
        );
        let before: String =
            Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(update.fingerprint, before);
    }

    #[test]
    fn nothing_is_sent_for_tentative_bookings_or_cancellations_nobody_was_invited_to() {
        let settings = TenantSettings::default();
        let tentative = booking(BookingStatus::Tentative, timed("2030-01-02T10:00:00Z"));
        assert_eq!(plan_invite(&tentative, &settings, None, false, false), None);
        assert!(
            plan_invite(&tentative, &settings, None, false, true).is_some(),
            "unless the host asks"
        );
        let cancelled = booking(BookingStatus::Cancelled, timed("2030-01-02T10:00:00Z"));
        assert_eq!(plan_invite(&cancelled, &settings, None, false, false), None);
        let quiet = TenantSettings { invite_on_confirm: false, ..TenantSettings::default() };
        let confirmed = booking(BookingStatus::Confirmed, timed("2030-01-02T10:00:00Z"));
        assert_eq!(plan_invite(&confirmed, &quiet, None, false, false), None);
        let resent = plan_invite(&confirmed, &quiet, None, false, true).unwrap();
        let again = plan_invite(&confirmed, &quiet, Some(&sent(&resent)), false, true).unwrap();
        assert_eq!(again.revision, 1, "a resend is a new revision");
    }

    #[test]
    fn reminders_follow_the_start_and_stays_are_reminded_the_evening_before_in_their_zone() {
        let settings = TenantSettings::default();
        let b = booking(BookingStatus::Confirmed, timed("2030-01-02T10:00:00Z"));
        assert_eq!(
            reminder_times(&b, &settings, TimeZone::UTC),
            vec![
                ("1440".into(), at("2030-01-01T10:00:00Z")),
                ("60".into(), at("2030-01-02T09:00:00Z"))
            ]
        );
        let day = |d| NaiveDate::from_ymd_opt(2030, 7, d).unwrap();
        let stay =
            booking(BookingStatus::Confirmed, BookingSpan::all_day(day(10), day(12)).unwrap());
        let zone: TimeZone = "Africa/Johannesburg".parse().unwrap();
        assert_eq!(
            reminder_times(&stay, &settings, zone),
            vec![("day-before".into(), at("2030-07-09T07:00:00Z"))]
        );
    }

    #[test]
    fn a_moved_booking_makes_its_old_reminder_stale_and_a_late_one_is_skipped() {
        let settings = TenantSettings::default();
        let grace = Duration::minutes(30);
        let mut b = booking(BookingStatus::Confirmed, timed("2030-01-02T10:00:00Z"));
        let due = at("2030-01-02T09:00:00Z");
        let check = |b: &Booking, now| {
            reminder_obstacle(b, &settings, TimeZone::UTC, "60", due, now, grace)
        };
        assert_eq!(check(&b, due), None);
        assert_eq!(check(&b, due + Duration::minutes(29)), None, "late but still useful");
        assert_eq!(check(&b, due + Duration::minutes(31)), Some(Obstacle::TooLate));
        b.data.span = timed("2030-01-02T12:00:00Z");
        assert_eq!(check(&b, due), Some(Obstacle::Stale));
        b.data.span = timed("2030-01-02T10:00:00Z");
        b.data.status = BookingStatus::Cancelled;
        assert_eq!(check(&b, due), Some(Obstacle::Stale));
    }

    #[test]
    fn an_address_no_longer_the_customers_is_uninvited_once_and_only_after_an_invitation() {
        let message = |kind, revision, to: &str, status| CustomerMessage {
            kind,
            revision,
            recipient: to.into(),
            status,
            ..sent(&InvitePlan { kind, revision, fingerprint: String::new() })
        };
        let ann = message(MessageKind::Request, 0, "Ann@Example.com", MessageStatus::Sent);
        let history = vec![ann.clone()];
        let revisions = |found: Vec<&CustomerMessage>| -> Vec<i64> {
            found.iter().map(|m| m.revision).collect()
        };
        assert!(uninvited(&history, Some("ann@example.com")).is_empty(), "the same, any case");
        assert_eq!(revisions(uninvited(&history, Some("bob@example.com"))), [0]);
        assert_eq!(revisions(uninvited(&history, None)), [0], "address removed");
        // Bob invited before Ann's cancellation went (it was deferred): Ann is still owed it.
        let bob_first = message(MessageKind::Request, 1, "bob@example.com", MessageStatus::Sent);
        assert_eq!(revisions(uninvited(&[ann.clone(), bob_first], Some("bob@example.com"))), [0]);
        // Taken back (even if that bounced), then Bob invited and his invitation refused: Ann
        // is not told again.
        let taken = message(MessageKind::Cancel, 1, "ann@example.com", MessageStatus::Failed);
        let bob = message(MessageKind::Request, 2, "bob@example.com", MessageStatus::Failed);
        assert!(uninvited(&[ann, taken, bob], Some("bob@example.com")).is_empty());
        // Never invited (refused at once): nothing to take back.
        let refused = message(MessageKind::Request, 0, "ann@example.com", MessageStatus::Failed);
        assert!(uninvited(&[refused], Some("bob@example.com")).is_empty());
    }
}
