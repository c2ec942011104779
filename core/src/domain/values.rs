use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An IANA time zone such as `Africa/Johannesburg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZone(chrono_tz::Tz);

impl TimeZone {
    /// Coordinated Universal Time.
    pub const UTC: TimeZone = TimeZone(chrono_tz::UTC);

    /// The chrono-tz zone, for conversions.
    pub fn tz(self) -> chrono_tz::Tz {
        self.0
    }
}

impl FromStr for TimeZone {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<chrono_tz::Tz>()
            .map(TimeZone)
            .map_err(|_| format!("{s:?} is not an IANA time zone (e.g. Europe/Paris)"))
    }
}

impl TryFrom<String> for TimeZone {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<TimeZone> for String {
    fn from(tz: TimeZone) -> String {
        tz.0.name().to_owned()
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

/// A syntactically valid email address (RFC 5322 addr-spec with a dotted domain).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Email {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        let parsed = email_address::EmailAddress::from_str(trimmed)
            .map_err(|e| format!("{trimmed:?} is not a valid email address: {e}"))?;
        if !parsed.domain().contains('.') || trimmed.contains(['<', '>', ' ']) {
            return Err(format!("{trimmed:?} is not a deliverable email address"));
        }
        Ok(Email(trimmed.to_owned()))
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones_must_be_iana_names() {
        assert_eq!(
            "Africa/Johannesburg".parse::<TimeZone>().unwrap().to_string(),
            "Africa/Johannesburg"
        );
        assert!("Mars/Olympus".parse::<TimeZone>().is_err());
        assert!("".parse::<TimeZone>().is_err());
    }

    #[test]
    fn emails_are_checked() {
        assert!("guest@example.com".parse::<Email>().is_ok());
        for bad in ["", "guest", "guest@", "@example.com", "guest@localhost", "a b@example.com"] {
            assert!(bad.parse::<Email>().is_err(), "{bad} accepted");
        }
    }
}
