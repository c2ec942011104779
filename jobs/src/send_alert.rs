//! `send_alert`: e-mails a tenant's unsent alerts to its `alert_emails`, several as one digest.
//! The alerts are claimed before sending (another run meanwhile finds nothing) and marked sent
//! after; a deferred send releases them for the retry, which sends only to the addresses whose
//! e-mail did not go out.

use std::collections::VecDeque;
use std::time::Duration;

use kalends_core::domain::TenantSettings;
use kalends_store::Alert;
use kalends_store::{Store, StoreError};
use uuid::Uuid;

use crate::JobError;
use kalends_service::customer_mail::{CustomerMail, Outcome};

/// How long a run holds the alerts it sends.
const CLAIM: Duration = Duration::from_secs(5 * 60);

/// Runs the job.
#[tracing::instrument(skip_all, fields(%tenant_id))]
pub async fn run(store: &Store, mail: &CustomerMail, tenant_id: Uuid) -> Result<(), JobError> {
    let tenant = match store.tenant(tenant_id).await {
        Ok(tenant) => tenant,
        Err(StoreError::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let alerts = store.claim_alerts(tenant_id, CLAIM).await?;
    if alerts.is_empty() {
        // Another run holds the unsent ones, or held them and stopped (a worker that died, a
        // database error after its claim): this job looks again once that claim ends, so
        // nothing waits for the next alert to be sent.
        return match store.alerts_claimed_until(tenant_id).await? {
            Some(until) => {
                let wait = (until - chrono::Utc::now()).to_std().unwrap_or_default();
                let why = "another run holds the tenant's unsent alerts";
                Err(JobError::transient(why).retried_no_sooner_than(wait))
            }
            None => Ok(()),
        };
    }
    let ids: Vec<Uuid> = alerts.iter().map(|a| a.id).collect();
    // Each address gets the alerts it chose; addresses with the same choice share one e-mail,
    // unless the server refuses one of them: then each is sent its own, so that one address
    // refused (a mailbox closed) does not keep the alerts from the others.
    // Nobody left to tell (the addresses were removed meanwhile): the alerts are done.
    // A deferred e-mail does not hold up the others: the alerts are released for the retry
    // once every e-mail was tried, and the retry sends only to the addresses not told yet.
    let (mut outcome, mut deferred) = (Ok(()), None);
    let mut sends: VecDeque<(Vec<String>, Vec<&Alert>)> =
        recipients(&tenant.settings, &alerts).into();
    while let Some((to, wanted)) = sends.pop_front() {
        match mail.send_alerts(&tenant, &wanted, &to).await {
            Outcome::Sent { .. } => {
                tracing::info!(alerts = wanted.len(), recipients = to.len(), "alert e-mail sent");
                store.alerts_sent_to(&wanted, &to).await?;
            }
            Outcome::Deferred(why) => deferred = Some(why),
            Outcome::Refused(_) if to.len() > 1 => {
                sends.extend(to.into_iter().map(|address| (vec![address], wanted.clone())));
            }
            Outcome::Refused(why) => outcome = Err(JobError::permanent(why)),
        }
    }
    if let Some(why) = deferred {
        store.finish_alerts(&ids, false).await?;
        return Err(JobError::transient(why));
    }
    store.finish_alerts(&ids, true).await?;
    outcome
}

/// The e-mails to send: the addresses that chose the same alerts of `alerts` (and were not sent
/// them yet), and those alerts (oldest first), in the order of `alert_emails`.
fn recipients<'a>(
    settings: &TenantSettings,
    alerts: &'a [Alert],
) -> Vec<(Vec<String>, Vec<&'a Alert>)> {
    let mut groups: Vec<(Vec<String>, Vec<&Alert>)> = Vec::new();
    for address in &settings.alert_emails {
        let wanted: Vec<&Alert> = alerts
            .iter()
            .filter(|a| settings.alert_recipients(&a.kind).contains(&address.as_str()))
            .filter(|a| !a.sent_to.contains(address))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let ids: Vec<Uuid> = wanted.iter().map(|a| a.id).collect();
        match groups.iter_mut().find(|(_, g)| g.iter().map(|a| a.id).eq(ids.iter().copied())) {
            Some((to, _)) => to.push(address.clone()),
            None => groups.push((vec![address.clone()], wanted)),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::Utc;

    use super::*;

    fn alert(kind: &str) -> Alert {
        Alert {
            id: Uuid::now_v7(),
            kind: kind.to_owned(),
            summary: kind.to_owned(),
            facts: Vec::new(),
            link: "/dashboard".to_owned(),
            created_at: Utc::now(),
            sent_to: Vec::new(),
        }
    }

    #[test]
    fn addresses_with_the_same_choice_share_an_email_and_others_get_only_theirs() {
        let settings = TenantSettings {
            alert_emails: vec![
                "a@example.com".into(),
                "b@example.com".into(),
                "c@example.com".into(),
            ],
            alert_subscriptions: BTreeMap::from([
                ("b@example.com".to_owned(), vec!["conflict_opened".to_owned()]),
                ("c@example.com".to_owned(), vec!["booking_sync_failed".to_owned()]),
            ]),
            ..TenantSettings::default()
        };
        let alerts = [alert("import_failing"), alert("conflict_opened")];
        let groups = recipients(&settings, &alerts);
        let shown: Vec<(Vec<String>, Vec<&str>)> = groups
            .iter()
            .map(|(to, wanted)| (to.clone(), wanted.iter().map(|a| a.kind.as_str()).collect()))
            .collect();
        assert_eq!(
            shown,
            [
                (vec!["a@example.com".to_owned()], vec!["import_failing", "conflict_opened"]),
                (vec!["b@example.com".to_owned()], vec!["conflict_opened"]),
            ]
        );
        let everyone = TenantSettings {
            alert_emails: vec!["a@example.com".into(), "b@example.com".into()],
            ..TenantSettings::default()
        };
        assert_eq!(recipients(&everyone, &alerts).len(), 1, "one e-mail to both");
    }

    #[test]
    fn an_address_already_sent_an_alert_is_not_sent_it_again() {
        let settings = TenantSettings {
            alert_emails: vec!["a@example.com".into(), "b@example.com".into()],
            ..TenantSettings::default()
        };
        let mut told = alert("conflict_opened");
        told.sent_to = vec!["a@example.com".to_owned()];
        let alerts = [told, alert("import_failing")];
        let shown: Vec<(Vec<String>, Vec<&str>)> = recipients(&settings, &alerts)
            .iter()
            .map(|(to, wanted)| (to.clone(), wanted.iter().map(|a| a.kind.as_str()).collect()))
            .collect();
        assert_eq!(
            shown,
            [
                (vec!["a@example.com".to_owned()], vec!["import_failing"]),
                (vec!["b@example.com".to_owned()], vec!["conflict_opened", "import_failing"]),
            ]
        );
    }
}
