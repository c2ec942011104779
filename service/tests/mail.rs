//! Customer emails: the MIME structure and content of invites and reminders (parsed back with
//! mail-parser), and sending them over SMTP to a local sink and into `.eml` files.

#[path = "../../tests/support/smtp_sink.rs"]
mod smtp_sink;

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone as _, Utc};
use kalends_core::domain::{Booking, BookingSpan, BookingStatus, Customer, NewBooking, TimeZone};
use kalends_core::invite::{Invite, InviteKind, invite_uid};
use kalends_ical::write::Party;
use kalends_service::mail::{
    InviteEmail, MailError, Mailer, ReminderEmail, invite_message, reminder_message,
};
use mail_parser::{MessageParser, MimeHeaders};
use secrecy::SecretString;
use smtp_sink::SmtpSink;
use uuid::Uuid;

// ------------------------------------------------------------------------------------- fixtures

const ICS_URL: &str = "https://kalends.example/i/abc123/invite.ics";

fn at(d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, d, h, mi, 0).unwrap()
}

fn zone(name: &str) -> TimeZone {
    name.parse().unwrap()
}

/// A haircut on Friday 14 March 2025, 15:00-16:30 in Johannesburg.
fn booking(title: &str) -> Booking {
    let span =
        BookingSpan::timed(at(14, 13, 0), at(14, 14, 30), zone("Africa/Johannesburg")).unwrap();
    Booking {
        id: Uuid::from_u128(0x0195_8a3c_0000_7000_8000_0000_0000_0042),
        tenant_id: Uuid::from_u128(7),
        data: NewBooking {
            external_id: None,
            resource_id: None,
            staff_ids: vec![],
            status: BookingStatus::Confirmed,
            title: title.to_owned(),
            description: Some("Please arrive 5 minutes early.".into()),
            location: Some("12 Beach Rd, Muizenberg".into()),
            customer: Some(Customer {
                name: "Ann Example".into(),
                email: Some("ann@example.com".parse().unwrap()),
                phone: None,
            }),
            span,
        },
        version: 1,
        created_at: at(1, 8, 0),
        updated_at: at(2, 9, 0),
    }
}

fn sea_breeze() -> Party<'static> {
    Party { email: "bookings@seabreeze.example", name: Some("Sea Breeze"), rsvp: false }
}

fn ann() -> Party<'static> {
    Party { email: "ann@example.com", name: Some("Ann Example"), rsvp: true }
}

fn email(booking: &Booking, kind: InviteKind, sequence: i64) -> InviteEmail<'_> {
    InviteEmail {
        invite: Invite {
            booking,
            kind,
            sequence,
            dtstamp: at(2, 9, 30),
            zone: zone("Africa/Johannesburg"),
            organizer: sea_breeze(),
            attendee: ann(),
            url: Some(ICS_URL),
        },
        first: sequence == 0,
        tenant_name: "Sea Breeze",
        reply_to: Some("Sea Breeze Front Desk <desk@seabreeze.example>"),
        customer_zone: None,
    }
}

fn reminder(booking: &Booking, now: DateTime<Utc>) -> ReminderEmail<'_> {
    ReminderEmail {
        booking,
        tenant_name: "Sea Breeze",
        from: sea_breeze(),
        reply_to: None,
        to: ann(),
        zone: zone("Africa/Johannesburg"),
        customer_zone: Some(zone("Europe/London")),
        url: Some(ICS_URL),
        now,
    }
}

fn raw(message: &lettre::Message) -> Vec<u8> {
    message.formatted()
}

fn parse(raw: &[u8]) -> mail_parser::Message<'_> {
    MessageParser::default().parse(raw).expect("a parsable message")
}

/// The MIME tree, one line per part, indented by depth: `type/subtype [disposition filename]
/// (param=value ...)` for the parameters that matter here.
fn tree(message: &mail_parser::Message<'_>) -> Vec<String> {
    let mut lines = Vec::new();
    walk(message, 0, 0, &mut lines);
    lines
}

fn walk(message: &mail_parser::Message<'_>, id: u32, depth: usize, lines: &mut Vec<String>) {
    let part = message.part(id).unwrap();
    let ct = part.content_type().unwrap();
    let mut line =
        format!("{}{}/{}", "  ".repeat(depth), ct.ctype(), ct.subtype().unwrap_or_default());
    for param in ["method", "charset", "name"] {
        if let Some(value) = ct.attribute(param) {
            line.push_str(&format!("; {param}={value}"));
        }
    }
    if let Some(cd) = part.content_disposition() {
        line.push_str(&format!(" [{} {}]", cd.ctype(), cd.attribute("filename").unwrap_or("-")));
    }
    lines.push(line);
    for &sub in part.sub_parts().unwrap_or_default() {
        walk(message, sub, depth + 1, lines);
    }
}

/// The parts whose content type is `ctype/subtype`.
fn parts_of<'m>(
    message: &'m mail_parser::Message<'m>,
    ctype: &str,
    subtype: &str,
) -> Vec<&'m mail_parser::MessagePart<'m>> {
    message
        .parts
        .iter()
        .filter(|p| {
            p.content_type().is_some_and(|ct| {
                ct.ctype() == ctype && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case(subtype))
            })
        })
        .collect()
}

/// The inline calendar part's text.
fn calendar_of(message: &mail_parser::Message<'_>) -> String {
    let parts = parts_of(message, "text", "calendar");
    assert_eq!(parts.len(), 1);
    String::from_utf8(parts[0].contents().to_vec()).unwrap()
}

/// The unfolded value of the first `name` property in `ics`.
fn ics_value(ics: &str, name: &str) -> String {
    let unfolded = ics.replace("\r\n ", "");
    let prefix = format!("{name}:");
    unfolded
        .split("\r\n")
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name} in {ics}"))
        .to_owned()
}

fn html_of(message: &mail_parser::Message<'_>) -> String {
    message.body_html(0).unwrap().into_owned()
}

fn text_of(message: &mail_parser::Message<'_>) -> String {
    message.body_text(0).unwrap().into_owned()
}

// ------------------------------------------------------------------------------- invite content

#[test]
fn an_invite_has_exactly_the_imip_mime_tree() {
    let b = booking("Haircut");
    for (kind, method) in [(InviteKind::Request, "REQUEST"), (InviteKind::Cancel, "CANCEL")] {
        let bytes = raw(&invite_message(&email(&b, kind, 0)).unwrap());
        let message = parse(&bytes);
        assert_eq!(
            tree(&message),
            [
                "multipart/mixed".to_owned(),
                "  multipart/alternative".to_owned(),
                "    text/plain; charset=utf-8".to_owned(),
                "    text/html; charset=utf-8".to_owned(),
                // The mime crate lower-cases the charset value (which is case-insensitive).
                format!("    text/calendar; method={method}; charset=utf-8"),
                "  application/ics; name=invite.ics [attachment invite.ics]".to_owned(),
            ]
        );
    }
}

#[test]
fn the_method_parameter_equals_the_method_inside() {
    let b = booking("Haircut");
    for kind in [InviteKind::Request, InviteKind::Cancel] {
        let bytes = raw(&invite_message(&email(&b, kind, 1)).unwrap());
        let message = parse(&bytes);
        let part = parts_of(&message, "text", "calendar")[0];
        let param = part.content_type().unwrap().attribute("method").unwrap().to_owned();
        assert_eq!(ics_value(&calendar_of(&message), "METHOD"), param);
        assert_eq!(param, kind.method().as_str());
    }
}

#[test]
fn the_attachment_holds_the_same_bytes_as_the_inline_part() {
    // Non-ASCII text makes lettre pick a transfer encoding; both copies must decode the same.
    for title in ["Haircut", "Überraschung für Zoë 🎂 — Größe XXL, mit Torte und vielen Kerzen"]
    {
        let b = booking(title);
        let bytes = raw(&invite_message(&email(&b, InviteKind::Request, 0)).unwrap());
        let message = parse(&bytes);
        let attachment = parts_of(&message, "application", "ics");
        assert_eq!(attachment.len(), 1);
        assert_eq!(attachment[0].contents(), calendar_of(&message).as_bytes());
        let first_word = title.split(' ').next().unwrap();
        assert!(calendar_of(&message).contains(&format!("SUMMARY:{first_word}")));
        for part in [parts_of(&message, "text", "calendar")[0], attachment[0]] {
            let encoding = part.content_transfer_encoding().unwrap();
            assert_eq!(encoding, "base64");
        }
    }
}

#[test]
fn request_update_and_cancel_keep_the_uid_and_raise_the_sequence() {
    let b = booking("Haircut");
    let mut uids = Vec::new();
    let mut sequences = Vec::new();
    for (kind, sequence) in
        [(InviteKind::Request, 0), (InviteKind::Request, 1), (InviteKind::Cancel, 2)]
    {
        let bytes = raw(&invite_message(&email(&b, kind, sequence)).unwrap());
        let ics = calendar_of(&parse(&bytes));
        uids.push(ics_value(&ics, "UID"));
        sequences.push(ics_value(&ics, "SEQUENCE").parse::<i64>().unwrap());
        if kind == InviteKind::Cancel {
            assert_eq!(ics_value(&ics, "STATUS"), "CANCELLED");
        }
    }
    assert_eq!(uids, vec![invite_uid(b.id); 3]);
    assert_eq!(sequences, [0, 1, 2]);
}

#[test]
fn subjects_say_invitation_updated_or_cancelled_with_the_date() {
    let b = booking("Haircut");
    let subject = |kind, sequence| {
        let bytes = raw(&invite_message(&email(&b, kind, sequence)).unwrap());
        parse(&bytes).subject().unwrap().to_owned()
    };
    assert_eq!(subject(InviteKind::Request, 0), "Invitation: Haircut on Fri 14 Mar 2025 at 15:00");
    assert_eq!(subject(InviteKind::Request, 3), "Updated: Haircut on Fri 14 Mar 2025 at 15:00");
    assert_eq!(subject(InviteKind::Cancel, 4), "Cancelled: Haircut on Fri 14 Mar 2025 at 15:00");
}

#[test]
fn headers_name_the_tenant_and_the_customer() {
    let b = booking("Haircut");
    let message = invite_message(&email(&b, InviteKind::Request, 0)).unwrap();
    let envelope = message.envelope();
    assert_eq!(envelope.from().unwrap().to_string(), "bookings@seabreeze.example");
    assert_eq!(
        envelope.to().iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["ann@example.com"]
    );
    let bytes = raw(&message);
    let parsed = parse(&bytes);
    let from = parsed.from().unwrap().first().unwrap();
    assert_eq!(
        (from.name(), from.address()),
        (Some("Sea Breeze"), Some("bookings@seabreeze.example"))
    );
    let to = parsed.to().unwrap().first().unwrap();
    assert_eq!((to.name(), to.address()), (Some("Ann Example"), Some("ann@example.com")));
    let reply_to = parsed.reply_to().unwrap().first().unwrap();
    assert_eq!(reply_to.address(), Some("desk@seabreeze.example"));
    let id = parsed.message_id().unwrap();
    assert!(id.ends_with("@seabreeze.example"), "{id}");
    assert_eq!(parsed.date().unwrap().to_timestamp(), at(2, 9, 30).timestamp());
    // Every message gets its own id.
    let again = raw(&invite_message(&email(&b, InviteKind::Request, 0)).unwrap());
    assert_ne!(parse(&again).message_id().unwrap(), id);
}

#[test]
fn the_html_escapes_what_the_tenant_typed() {
    let mut b = booking("<script>alert('x')</script> & co");
    b.data.location = Some("<img src=x onerror=alert(1)>".into());
    let bytes = raw(&invite_message(&email(&b, InviteKind::Request, 0)).unwrap());
    let html = html_of(&parse(&bytes));
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains("&lt;script&gt;alert('x')&lt;/script&gt; &amp; co"), "{html}");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "{html}");
}

#[test]
fn a_line_break_in_the_title_cannot_add_a_header() {
    let b = booking("Haircut\r\nBcc: mallory@example.net");
    let message = invite_message(&email(&b, InviteKind::Request, 0)).unwrap();
    assert_eq!(message.envelope().to().len(), 1);
    let bytes = raw(&message);
    let parsed = parse(&bytes);
    assert_eq!(
        parsed.subject().unwrap(),
        "Invitation: Haircut Bcc: mallory@example.net on Fri 14 Mar 2025 at 15:00"
    );
    assert!(parsed.bcc().is_none());
}

#[test]
fn the_invite_offers_add_to_calendar_links_and_the_details() {
    let b = booking("Haircut");
    let bytes = raw(&invite_message(&email(&b, InviteKind::Request, 0)).unwrap());
    let message = parse(&bytes);
    let html = html_of(&message);
    let text = text_of(&message);
    for body in [&html, &text] {
        assert!(body.contains(ICS_URL), "{body}");
        assert!(body.contains("Sea Breeze"), "{body}");
        assert!(body.contains("Fri 14 Mar 2025, 15:00–16:30 SAST"), "{body}");
        assert!(body.contains("12 Beach Rd, Muizenberg"), "{body}");
        assert!(body.contains("Please arrive 5 minutes early."), "{body}");
        assert!(body.contains("Hello Ann Example,"), "{body}");
    }
    assert!(html.contains(
        "https://calendar.google.com/calendar/render?action=TEMPLATE&amp;text=Haircut&amp;dates=20250314T130000Z%2F20250314T143000Z&amp;details=Please+arrive"
    ), "{html}");
    assert!(html.contains(
        "https://outlook.live.com/calendar/0/deeplink/compose?path=%2Fcalendar%2Faction%2Fcompose&amp;rru=addevent&amp;subject=Haircut&amp;startdt=2025-03-14T13%3A00%3A00Z"
    ), "{html}");
    assert!(text.contains("- Google Calendar: https://calendar.google.com/calendar/render?action=TEMPLATE&text=Haircut&"), "{text}");
    assert!(
        text.contains("- Outlook.com: https://outlook.live.com/calendar/0/deeplink/compose?"),
        "{text}"
    );
    assert!(text.contains("has booked you in."), "{text}");
}

#[test]
fn times_are_also_shown_in_the_customer_zone() {
    let b = booking("Haircut");
    let mut e = email(&b, InviteKind::Request, 0);
    e.customer_zone = Some(zone("America/New_York"));
    let bytes = raw(&invite_message(&e).unwrap());
    let text = text_of(&parse(&bytes));
    assert!(text.contains("When: Fri 14 Mar 2025, 15:00–16:30 SAST"), "{text}");
    assert!(text.contains("Your time: Fri 14 Mar 2025, 09:00–10:30 EDT"), "{text}");
    // The same zone is not repeated.
    e.customer_zone = Some(zone("Africa/Johannesburg"));
    let bytes = raw(&invite_message(&e).unwrap());
    assert!(!text_of(&parse(&bytes)).contains("Your time"));
}

#[test]
fn a_cancellation_says_so_and_offers_nothing_to_add() {
    let b = booking("Haircut");
    let bytes = raw(&invite_message(&email(&b, InviteKind::Cancel, 2)).unwrap());
    let message = parse(&bytes);
    let (html, text) = (html_of(&message), text_of(&message));
    for body in [&html, &text] {
        assert!(body.contains("has cancelled this booking"), "{body}");
        assert!(body.contains("Cancelled"), "{body}");
        assert!(!body.contains("calendar.google.com"), "{body}");
        assert!(!body.contains(ICS_URL), "{body}");
    }
}

#[test]
fn an_update_says_the_details_changed() {
    let b = booking("Haircut");
    let bytes = raw(&invite_message(&email(&b, InviteKind::Request, 1)).unwrap());
    assert!(text_of(&parse(&bytes)).contains("has changed your booking"));
}

#[test]
fn an_all_day_invite_shows_dates_and_writes_date_values() {
    let mut b = booking("Stay in the Dune Room");
    let day = |d| NaiveDate::from_ymd_opt(2025, 3, d).unwrap();
    b.data.span = BookingSpan::all_day(day(14), day(17)).unwrap();
    let mut e = email(&b, InviteKind::Request, 0);
    e.customer_zone = Some(zone("America/New_York"));
    let bytes = raw(&invite_message(&e).unwrap());
    let message = parse(&bytes);
    assert_eq!(message.subject().unwrap(), "Invitation: Stay in the Dune Room on Fri 14 Mar 2025");
    let text = text_of(&message);
    assert!(text.contains("When: Fri 14 Mar 2025 – Sun 16 Mar 2025 (3 days)"), "{text}");
    assert!(!text.contains("Your time"), "{text}");
    assert!(text.contains("allday=true"), "{text}");
    let ics = calendar_of(&message);
    assert!(ics.contains("DTSTART;VALUE=DATE:20250314\r\n"), "{ics}");
    assert!(ics.contains("DTEND;VALUE=DATE:20250317\r\n"), "{ics}");
}

#[test]
fn a_bad_address_is_a_permanent_error_that_does_not_repeat_it() {
    let b = booking("Haircut");
    let mut e = email(&b, InviteKind::Request, 0);
    e.invite.attendee.email = "not an address";
    let error = invite_message(&e).unwrap_err();
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("invalid recipient address"), "{error}");
    assert!(!error.to_string().contains("not an address"), "{error}");
}

// ----------------------------------------------------------------------------------- reminders

#[test]
fn a_reminder_is_text_and_html_with_the_ics_link_and_no_calendar_part() {
    let b = booking("Haircut");
    let bytes = raw(&reminder_message(&reminder(&b, at(14, 12, 0))).unwrap());
    let message = parse(&bytes);
    assert_eq!(
        tree(&message),
        ["multipart/alternative", "  text/plain; charset=utf-8", "  text/html; charset=utf-8"]
    );
    assert_eq!(message.subject().unwrap(), "Reminder: Haircut starts in 1 hour");
    let (html, text) = (html_of(&message), text_of(&message));
    for body in [&html, &text] {
        assert!(body.contains(ICS_URL), "{body}");
        assert!(body.contains("your booking starts in 1 hour"), "{body}");
        assert!(body.contains("Fri 14 Mar 2025, 13:00–14:30 GMT"), "{body}");
    }
    assert!(text.contains("Your time: Fri 14 Mar 2025, 13:00–14:30 GMT"), "{text}");
}

#[test]
fn a_reminder_the_day_before_says_tomorrow_at_the_local_time() {
    let b = booking("Haircut");
    let bytes = raw(&reminder_message(&reminder(&b, at(13, 13, 0))).unwrap());
    assert_eq!(parse(&bytes).subject().unwrap(), "Reminder: Haircut starts tomorrow at 15:00");
}

// -------------------------------------------------------------------------------------- sending

fn secret(url: &str) -> SecretString {
    SecretString::from(url.to_owned())
}

fn with_credentials(sink: &SmtpSink) -> SecretString {
    secret(&format!("smtp://mailer:p%40ss@{}", sink.addr()))
}

#[tokio::test]
async fn an_invite_sent_over_smtp_arrives_whole_at_the_sink() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::smtp(&with_credentials(&sink), Duration::from_secs(5)).unwrap();
    let b = booking("Haircut");
    let message = invite_message(&email(&b, InviteKind::Request, 0)).unwrap();
    let expected = message.formatted();
    let sent = mailer.send(message).await.unwrap();

    let received = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].from, "bookings@seabreeze.example");
    assert_eq!(received[0].to, ["ann@example.com"]);
    // lettre ends the data with CRLF "." CRLF after a message that already ends in CRLF, so the
    // server sees one empty line more.
    assert_eq!(received[0].data, [expected.as_slice(), b"\r\n"].concat());
    let parsed = parse(&received[0].data);
    assert_eq!(format!("<{}>", parsed.message_id().unwrap()), sent.message_id);
    assert_eq!(ics_value(&calendar_of(&parsed), "UID"), invite_uid(b.id));
    assert_eq!(sink.logins(), ["mailer"]);
}

#[tokio::test]
async fn a_451_on_rcpt_is_transient_and_the_next_send_goes_through() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::smtp(&secret(&sink.url()), Duration::from_secs(5)).unwrap();
    let b = booking("Haircut");
    sink.defer_next(1, "451 4.3.0 Try again later");
    let error = mailer.send(invite_message(&email(&b, InviteKind::Request, 0)).unwrap()).await;
    assert_eq!(error, Err(MailError::Transient("451 4.3.0 Try again later".into())));
    assert!(error.unwrap_err().is_retryable());
    mailer.send(invite_message(&email(&b, InviteKind::Request, 0)).unwrap()).await.unwrap();
    assert_eq!(sink.wait_for(1, Duration::from_secs(5)).await.len(), 1);
}

#[tokio::test]
async fn a_550_on_rcpt_is_permanent_with_the_code_and_the_server_words() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::smtp(&secret(&sink.url()), Duration::from_secs(5)).unwrap();
    let reply = "550 5.1.1 <ann@example.com>: Recipient address rejected: unknown mailbox";
    sink.refuse_recipient("Ann@Example.com", reply);
    let b = booking("Haircut");
    let error =
        mailer.send(invite_message(&email(&b, InviteKind::Request, 0)).unwrap()).await.unwrap_err();
    assert_eq!(error, MailError::Permanent { code: Some(550), message: reply.into() });
    assert!(!error.is_retryable());
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn a_refused_login_is_retried_and_the_send_goes_through_once_it_is_fixed() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::smtp(&with_credentials(&sink), Duration::from_secs(5)).unwrap();
    let b = booking("Haircut");
    sink.refuse_logins(Some("535 5.7.8 Authentication credentials invalid"));
    let error =
        mailer.send(invite_message(&email(&b, InviteKind::Request, 0)).unwrap()).await.unwrap_err();
    assert!(error.is_retryable(), "the password is the operator's to fix: {error:?}");
    assert!(error.to_string().contains("535 5.7.8"), "{error}");
    sink.refuse_logins(None);
    mailer.send(invite_message(&email(&b, InviteKind::Request, 0)).unwrap()).await.unwrap();
    assert_eq!(sink.wait_for(1, Duration::from_secs(5)).await.len(), 1);
}

#[tokio::test]
async fn relaying_denied_is_retried_and_an_unknown_mailbox_is_not() {
    let sink = SmtpSink::start().await;
    let mailer = Mailer::smtp(&secret(&sink.url()), Duration::from_secs(5)).unwrap();
    let b = booking("Haircut");
    for (reply, retried) in [
        ("554 5.7.1 <ann@example.com>: Relay access denied", true),
        ("550 5.7.1 Sending suspended for this account", true),
        ("554 Message rejected: Email address is not verified", true),
        ("552 5.3.4 Message size exceeds fixed limit", false),
        ("550 5.7.1 <ann@example.com>: Recipient address rejected: Access denied", false),
        ("553 5.1.3 Bad recipient address syntax", false),
        ("550 Mailbox unavailable", false),
    ] {
        sink.refuse_recipient("ann@example.com", reply);
        let message = invite_message(&email(&b, InviteKind::Request, 0)).unwrap();
        let error = mailer.send(message).await.unwrap_err();
        assert_eq!(error.is_retryable(), retried, "{reply}: {error:?}");
    }
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mailer = Mailer::smtp(&secret(&format!("smtp://{addr}")), Duration::from_secs(5)).unwrap();
    let b = booking("Haircut");
    let error =
        mailer.send(invite_message(&email(&b, InviteKind::Request, 0)).unwrap()).await.unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_as_transient() {
    // Accepts connections but never sends the greeting; lettre alone would wait forever, as its
    // timeout covers only the TCP connect on Tokio.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let mailer =
        Mailer::smtp(&secret(&format!("smtp://{addr}")), Duration::from_millis(300)).unwrap();
    let b = booking("Haircut");
    let started = std::time::Instant::now();
    let error =
        mailer.send(invite_message(&email(&b, InviteKind::Request, 0)).unwrap()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert!(matches!(&error, MailError::Transient(m) if m.contains("within")), "{error:?}");
}

#[tokio::test]
async fn smtp_urls_are_checked_and_the_password_stays_secret() {
    let mailer =
        Mailer::smtp(&secret("smtps://mailer:hunter2@mail.example:465"), Duration::from_secs(5))
            .unwrap();
    let debug = format!("{mailer:?}");
    assert!(debug.contains("smtps://mail.example:465"), "{debug}");
    assert!(!debug.contains("hunter2"), "{debug}");
    Mailer::smtp(&secret("smtp://mail.example?tls=required"), Duration::from_secs(5)).unwrap();
    for bad in ["ftp://mail.example", "smtp://mail.example?tls=sometimes", "not a url"] {
        let error = Mailer::smtp(&secret(bad), Duration::from_secs(5)).unwrap_err();
        assert!(!error.is_retryable(), "{bad}: {error:?}");
    }
    let error =
        Mailer::smtp(&secret("ftp://u:hunter2@mail.example"), Duration::from_secs(5)).unwrap_err();
    assert!(!error.to_string().contains("hunter2"), "{error}");
}

#[test]
fn an_smtp_mailer_needs_a_tokio_runtime() {
    let error = Mailer::smtp(&secret("smtp://mail.example"), Duration::from_secs(5)).unwrap_err();
    assert!(error.to_string().contains("Tokio runtime"), "{error}");
}

#[tokio::test]
async fn the_file_mailer_writes_an_eml_that_parses() {
    let dir = std::env::temp_dir().join(format!("kalends-mail-{}", Uuid::now_v7()));
    let mailer = Mailer::files(dir.join("outbox")).unwrap();
    let b = booking("Haircut");
    let sent =
        mailer.send(invite_message(&email(&b, InviteKind::Cancel, 1)).unwrap()).await.unwrap();
    let files: Vec<_> =
        std::fs::read_dir(dir.join("outbox")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].extension().unwrap(), "eml");
    let bytes = std::fs::read(&files[0]).unwrap();
    let parsed = parse(&bytes);
    assert_eq!(format!("<{}>", parsed.message_id().unwrap()), sent.message_id);
    assert_eq!(ics_value(&calendar_of(&parsed), "METHOD"), "CANCEL");
    std::fs::remove_dir_all(&dir).unwrap();
}
