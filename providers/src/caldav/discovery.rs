//! Finding an account's calendars from the address a staff member typed: the principal (at the
//! address, else behind `/.well-known/caldav`), its calendar home, its calendars that hold
//! events. Each failure is a message the settings form shows.

use ::http::Uri;
use libdav::caldav::FindCalendarHomeSet;
use libdav::dav::{FindPropertyHrefs, RequestError, WebDavError};
use libdav::names;

use super::client::{Account, CaldavCalendar};
use super::failure::is_unauthorized;
use super::http::{Dav, DavError, DavHttp, HttpError, parse_url, resolve};
use crate::calendar::RemoteCalendar;

/// What discovering an account found.
#[derive(Clone, Debug)]
pub struct Discovered {
    /// The account to store.
    pub account: Account,
    /// Its calendars that hold events (at least one).
    pub calendars: Vec<RemoteCalendar>,
}

/// Why an account could not be connected; each says what the staff member can do.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// Not an http(s) URL.
    #[error("the server address must be an http:// or https:// URL")]
    BadUrl,
    /// 401 or 403.
    #[error("the server refused the user name or password (use an app password)")]
    WrongCredentials,
    /// Nothing answered.
    #[error("the server could not be reached: {0}")]
    Unreachable(String),
    /// It answered, but not as a CalDAV server.
    #[error("this address is not a CalDAV server ({0})")]
    NotCaldav(String),
    /// The server (or an address it handed back) is refused by the address rules, or it
    /// answered more than Kalends reads.
    #[error("{0}")]
    Refused(String),
    /// CalDAV, but no calendar holds events.
    #[error("the account has no calendar that holds events")]
    NoCalendars,
}

impl CaldavCalendar {
    /// Finds the account's calendars from the address given: `current-user-principal` there,
    /// else at `/.well-known/caldav`, then the principal's `calendar-home-set`; only calendars
    /// that hold VEVENTs. Nothing is stored here.
    pub async fn discover(
        &self,
        server_url: &str,
        username: &str,
        password: &str,
    ) -> Result<Discovered, DiscoveryError> {
        let url = parse_url(server_url).ok_or(DiscoveryError::BadUrl)?;
        let mut account =
            Account { home: url.to_string(), username: username.into(), password: password.into() };
        let http = self.http(&account);
        let home = match principal(&http, &url).await? {
            Some(principal) => home_set(&http, &principal).await?.unwrap_or_else(|| url.clone()),
            None => url.clone(),
        };
        account.home = home.to_string();
        let calendars = self.calendars_at(&account, &home).await.map_err(discovery_error)?;
        if calendars.is_empty() {
            return Err(DiscoveryError::NoCalendars);
        }
        Ok(Discovered { account, calendars })
    }
}

/// The principal named at `url`, else at `/.well-known/caldav` (followed where it redirects,
/// another host included: the href is read relative to where the answer came from).
async fn principal(http: &DavHttp, url: &Uri) -> Result<Option<Uri>, DiscoveryError> {
    let dav = Dav::new(url.clone(), http.clone());
    for path in [url.path(), "/.well-known/caldav"] {
        match dav.request(FindPropertyHrefs::new(path, &names::CURRENT_USER_PRINCIPAL)).await {
            Ok(found) => {
                if let Some(href) = found.hrefs.into_iter().next() {
                    return Ok(Some(resolve(&http.landed().unwrap_or_else(|| url.clone()), &href)));
                }
            }
            Err(error) if is_unauthorized(&error) => return Err(DiscoveryError::WrongCredentials),
            Err(WebDavError::Request(RequestError::Client(error))) => {
                return Err(client_error(&error));
            }
            Err(_) => {}
        }
    }
    Ok(None)
}

/// The principal's calendar home, asked on the principal's host, absolute.
async fn home_set(http: &DavHttp, principal: &Uri) -> Result<Option<Uri>, DiscoveryError> {
    let dav = Dav::new(principal.clone(), http.clone());
    let found =
        dav.request(FindCalendarHomeSet::new(principal.path())).await.map_err(discovery_error)?;
    let base = http.landed().unwrap_or_else(|| principal.clone());
    Ok(found.home_sets.first().map(|home| resolve(&base, home)))
}

fn discovery_error(error: DavError) -> DiscoveryError {
    match error {
        e if is_unauthorized(&e) => DiscoveryError::WrongCredentials,
        WebDavError::Request(RequestError::Client(e)) => client_error(&e),
        WebDavError::BadStatusCode(status) => {
            DiscoveryError::NotCaldav(format!("it answered {status}"))
        }
        other => DiscoveryError::NotCaldav(other.to_string()),
    }
}

/// Why the HTTP client got no usable answer, for the form.
fn client_error(error: &HttpError) -> DiscoveryError {
    match error {
        HttpError::Transport(_) => DiscoveryError::Unreachable(chain(error)),
        refused => DiscoveryError::Refused(refused.to_string()),
    }
}

/// An error with its causes (the resolver's refusal of a private address sits deep in reqwest's).
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
