//! A refusal of an organisation's credentials, kept a while for the calendars they cover.
//!
//! An organisation's credentials (a Workspace's service-account key, a Microsoft 365
//! application's secret or certificate) are shared by every calendar it covers. When the
//! provider refuses them in a way no user's grant can get past (the delegation not granted for
//! the scopes, the key or the secret refused), forty calendars due together would otherwise
//! cost forty refused grants. The refusal is told to the calendars asking with the same
//! credentials for [`KEPT_FOR`] instead; the checks of a creation, change or refresh ask anew,
//! and a grant that succeeds forgets it.

use chrono::{DateTime, Utc};

/// How long a refusal is told instead of asking the provider again.
pub(crate) const KEPT_FOR: chrono::Duration = chrono::Duration::seconds(60);

/// A refusal, and until when it stands.
#[derive(Clone, Debug)]
pub(crate) struct Kept<E> {
    refusal: E,
    until: DateTime<Utc>,
}

impl<E> Kept<E> {
    /// `refusal`, standing for [`KEPT_FOR`] from now.
    pub(crate) fn now(refusal: E) -> Self {
        Kept { refusal, until: Utc::now() + KEPT_FOR }
    }

    /// The refusal, while it stands at `now`.
    pub(crate) fn standing(&self, now: DateTime<Utc>) -> Option<&E> {
        (self.until > now).then_some(&self.refusal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_stands_for_a_minute_and_then_no_longer() {
        let now = Utc::now();
        let kept = Kept::now("refused");
        assert_eq!(kept.standing(now), Some(&"refused"));
        assert_eq!(kept.standing(now + chrono::Duration::seconds(59)), Some(&"refused"));
        assert_eq!(kept.standing(now + chrono::Duration::seconds(61)), None);
    }
}
