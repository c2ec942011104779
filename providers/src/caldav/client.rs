//! The CalDAV client and the account it works as. Every request goes through the outbound
//! guard, with the account's Basic credentials, and reads no answer past its cap.

use std::time::Duration;

use ::http::Uri;
use libdav::dav::WebDavClient;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use super::http::{Dav, DavHttp};
use crate::ProviderError;
use crate::calendar::AccessToken;
use crate::outbound::{AddressPolicy, Outbound};

/// The largest answer read by default, counted after decompression (a listing of a busy
/// calendar is a few MiB; a gzip bomb is refused at this size).
pub const MAX_ANSWER_BYTES: u64 = 10 * 1024 * 1024;

/// What Kalends keeps (sealed) of a CalDAV account.
#[derive(Clone, Serialize, Deserialize)]
pub struct Account {
    /// The calendar home set, absolute.
    pub home: String,
    /// The user name (an Apple ID for iCloud).
    pub username: String,
    /// The app password.
    pub password: String,
}

impl Account {
    /// The sealed form the connection stores as its access token.
    pub fn to_secret(&self) -> SecretString {
        SecretString::from(serde_json::to_string(self).unwrap_or_default())
    }

    /// Reads the stored form back.
    pub fn from_token(token: &AccessToken) -> Result<Self, ProviderError> {
        serde_json::from_str(token.secret().expose_secret()).map_err(|_| ProviderError::DeadGrant {
            message: "the stored CalDAV credentials are unreadable; connect again".into(),
        })
    }
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("home", &self.home)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The CalDAV client; cheap to clone (one connection pool).
#[derive(Clone, Debug)]
pub struct CaldavCalendar {
    pub(super) outbound: Outbound,
    max_bytes: u64,
    /// Work steps for reading one listing's resources, all of them.
    pub(super) max_work: u64,
}

impl CaldavCalendar {
    /// A client whose requests give up after `timeout`. Server addresses come from staff
    /// members and from the servers themselves (the principal, the calendar home, calendar
    /// hrefs, redirects), so every request goes through the outbound guard under `addresses`
    /// (`import.allow_private_networks` and `import.allowed_addresses`), and no answer is read
    /// past [`MAX_ANSWER_BYTES`] (see [`CaldavCalendar::with_max_answer_bytes`]).
    pub fn new(timeout: Duration, addresses: AddressPolicy) -> Result<Self, ProviderError> {
        let outbound = Outbound::new(addresses, |builder| {
            builder
                .timeout(timeout)
                .connect_timeout(timeout)
                .gzip(true)
                .user_agent(concat!("Kalends/", env!("CARGO_PKG_VERSION")))
        })
        .map_err(|e| ProviderError::permanent(0, format!("http client: {e}")))?;
        Ok(Self { outbound, max_bytes: MAX_ANSWER_BYTES, max_work: kalends_ical::DEFAULT_MAX_WORK })
    }

    /// The same client reading answers up to `max_bytes` (`import.max_bytes`).
    pub fn with_max_answer_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The same client reading a listing's resources in at most `steps` of work, all of them
    /// together (`import.max_work_steps`, as for one feed); a listing that needs more fails.
    pub fn with_max_work(mut self, steps: u64) -> Self {
        self.max_work = steps;
        self
    }

    pub(super) fn dav(&self, account: &Account, url: &Uri) -> Dav {
        WebDavClient::new(url.clone(), self.http(account))
    }

    /// The account's HTTP client, for a caller that asks where answers came from
    /// ([`DavHttp::landed`]).
    pub(super) fn http(&self, account: &Account) -> DavHttp {
        DavHttp::new(self.outbound.clone(), &account.username, &account.password, self.max_bytes)
    }
}
