//! Organisation-wide connections: an administrator connects a whole Google Workspace or
//! Microsoft 365 organisation once, and every user the directory puts in scope becomes a staff
//! member whose calendar is connected like one connected by hand (a covered connection: its
//! tokens are minted by the organisation's service account for the user, or are the
//! organisation's application token addressed to the user's mailbox, instead of refreshed; see
//! `Credentials`).
//!
//! Creating one checks everything the provider will be asked later before anything is stored:
//! Google: the key, the directory as the administrator, and the tier's scopes for the
//! administrator's own calendar; Microsoft: the client secret, the directory or group, and the
//! tier's calendar permission the application was consented. Reading the directory again (on
//! demand) covers joiners and stops the leavers' calendars; deleting the connection stops every
//! covered calendar at once (their tokens are taken out of them in the same request).
//!
//! The busy-times-only tier asks for no more than free/busy (Google's `calendar.freebusy`
//! scope; Graph's `Calendars.Read`, the least `getSchedule` accepts): its covered calendars are
//! never written into and their busy times are read as free/busy.

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use kalends_core::domain::{Connection, ConnectionStatus, ConnectionTokens, NewStaff};
use kalends_core::domain::{Provider, Staff};
use kalends_core::job::Job;
use kalends_core::seal::Sealer;
use kalends_providers::ProviderError;
use kalends_providers::calendar::{AccessToken, RemoteCalendar};
use kalends_providers::provider::{CalendarProvider, Providers};
use kalends_providers::session::{Credentials, Delegation, OrganisationGrant, delegated_scopes};
use kalends_providers::tenant::{self, AppToken, Tenant, TenantError};
use kalends_providers::workspace::{DirectoryUser, Workspace, WorkspaceError};
use kalends_store::OrganisationMember;
use kalends_store::lease_end;
use kalends_store::{Actor, DirectoryRead, Lease, NewLogEntry, OrganisationAction};
use kalends_store::{Coverage, OrganisationConnection};
use kalends_store::{CoveredMember, NewConnection, NewOrganisationConnection};
use kalends_store::{OWN_CALENDAR, OrganisationPatch, Readdressed, Store, StoreError};
use secrecy::{ExposeSecret as _, SecretString};
use uuid::Uuid;

use super::connections;

/// How long a minted token is taken to last when Google does not say (it says an hour).
const MINTED_LIFETIME: chrono::Duration = chrono::Duration::minutes(55);

/// Directory users covered at the same time.
const COVERED_AT_ONCE: usize = 8;

/// Members a read asked by someone waiting for the answer covers or stops itself (a few
/// seconds' work); more are left to a background read (see [`Reach`]).
const COVERED_IN_A_REQUEST: usize = 40;

/// How many users the provider leaves unanswered in one read before the read stops, taking
/// the provider itself, not a few mailboxes, to be down.
const PROVIDER_DOWN: usize = 2 * COVERED_AT_ONCE;

/// Whether `leaving` of `members` is a departure the hourly read does not apply by itself: at
/// least five, and most of the organisation. A directory that lists far fewer users than
/// before usually means the account reading it lost its rights over them (Google answers a
/// narrowed administrator with fewer users, not a refusal), and stopping their calendars would
/// take Kalends' events out of them; a read someone asks for applies it.
fn mass_departure(leaving: usize, members: usize) -> bool {
    leaving >= 5 && leaving * 2 > members
}

/// The hourly read's refusal of a [`mass_departure`], saying what to do; `unlicensed` of the
/// `leaving` are still in the directory, their Exchange Online licences gone.
fn held_back(
    org: &Org,
    leaving: usize,
    unlicensed: usize,
    members: usize,
) -> Result<(), OrganisationError> {
    if !mass_departure(leaving, members) {
        return Ok(());
    }
    let message = if unlicensed * 2 > leaving {
        format!(
            "{unlicensed} of the {members} members lost their Exchange Online licence at once (the \
             organisation's subscription lapsing, say), so nobody was marked as left: renew the \
             licences and the calendars resume; if they did leave, read the directory again \
             (Refresh on the console, or POST .../refresh), which applies it"
        )
    } else {
        format!(
            "the directory's read left out {leaving} of the {members} members at once, so nobody was \
         marked as left: if they did leave, read the directory again (Refresh on the console, or \
         POST .../refresh), which applies it; if not, check that {} may still read all of them",
            org.directory_reader(),
        )
    };
    Err(OrganisationError::Invalid { field: org.directory_field(), message })
}

/// How long one read or change holds its organisation connection before it renews the hold
/// (every third of it, for as long as the work runs): a process that dies holding it frees it
/// within this time.
const HELD_FOR: std::time::Duration = std::time::Duration::from_secs(120);

/// Why an organisation connection could not be made, changed or refreshed.
#[derive(Debug, thiserror::Error)]
pub enum OrganisationError {
    /// A field the administrator must change, with what to do.
    #[error("{field}: {message}")]
    Invalid {
        /// The request field at fault.
        field: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
    /// The provider did not answer (or answered with a server error): nothing changed; try
    /// again.
    #[error("the provider did not answer: {0}")]
    Unreachable(ProviderError),
    /// Another read or change of the organisation connection is under way (asked by someone
    /// else, or the hourly read), in this process or another: nothing was done.
    #[error(
        "the organisation connection is being read or changed right now: try again once that is done"
    )]
    Busy,
    /// A disconnect of the organisation connection asked this read or change to stop
    /// ([`stop_asked`]): it stopped before its next member, with what it did kept.
    #[error("the organisation connection is being disconnected")]
    Disconnecting,
    /// The store failed, or the connection is not there.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The organisation connection held by one read or change ([`Store::hold_organisation`]),
/// renewed while the work runs ([`Store::hold`]); let go when the work is done, or, when the
/// work is dropped halfway (a request whose client went away), as soon as the runtime can.
struct Held<'a> {
    store: &'a Store,
    id: Uuid,
    done: bool,
}

impl<'a> Held<'a> {
    /// Runs `work` (not started yet) holding `id` of `tenant_id`, then lets it go;
    /// [`OrganisationError::Busy`] while another holds it.
    async fn around<T: Send + 'a>(
        store: &'a Store,
        tenant_id: Uuid,
        id: Uuid,
        work: impl Future<Output = Result<T, OrganisationError>> + Send + 'a,
    ) -> Result<T, OrganisationError> {
        let until = lease_end(HELD_FOR);
        if !store.hold_organisation(tenant_id, id, until).await? {
            // Not there at all is a 404, not "busy".
            store.organisation_connection(tenant_id, id).await?;
            return Err(OrganisationError::Busy);
        }
        Self::run(store, id, until, work).await
    }

    /// Runs `work` holding `id`, taken until `until` (from [`lease_end`]), then lets it go.
    async fn run<T: Send + 'a>(
        store: &'a Store,
        id: Uuid,
        until: DateTime<Utc>,
        work: impl Future<Output = Result<T, OrganisationError>> + Send + 'a,
    ) -> Result<T, OrganisationError> {
        let mut held = Held { store, id, done: false };
        match store.hold(&Lease::ORGANISATION, id.into(), until, HELD_FOR, work).await {
            Ok(Some((outcome, _))) => {
                held.release().await;
                outcome
            }
            // The database was out of reach for a whole hold: another may hold it now, and the
            // work (dropped) is for the next read to finish.
            Ok(None) => {
                held.done = true;
                Err(OrganisationError::Busy)
            }
            Err(error) => {
                held.release().await;
                Err(error.into())
            }
        }
    }

    /// Lets the connection go; when the database does not answer, [`Drop`] tries again, and the
    /// hold runs out by itself at worst. The work's outcome stands either way.
    async fn release(&mut self) {
        match self.store.release_organisation(self.id).await {
            Ok(()) => self.done = true,
            Err(error) => {
                tracing::warn!(organisation = %self.id, %error, "an organisation connection could not be let go yet");
            }
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (store, id) = (self.store.clone(), self.id);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = store.release_organisation(id).await {
                    tracing::warn!(organisation = %id, %error, "an organisation connection stays held until its hold runs out");
                }
            });
        }
    }
}

impl OrganisationError {
    /// How a directory read that ended in this error is kept, said in `words`: a refusal is
    /// the administrator's to act on, and they are told; a provider that did not answer is
    /// asked again by the next read.
    fn as_read<'a>(&self, words: &'a str) -> DirectoryRead<'a> {
        match self {
            Self::Unreachable(_) | Self::Busy | Self::Disconnecting | Self::Store(_) => {
                DirectoryRead::Failed(words)
            }
            Self::Invalid { .. } => DirectoryRead::Refused(words),
        }
    }

    /// What the administrator reads as the connection's last error: a field's refusal without
    /// the field's name, which means nothing on a connection already made.
    fn in_words(&self) -> String {
        match self {
            OrganisationError::Invalid { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// A Workspace's refusal, as the field the administrator must change.
    fn of(error: WorkspaceError) -> Self {
        match error {
            WorkspaceError::Provider(error) if error.is_retryable() => Self::Unreachable(error),
            error @ (WorkspaceError::NotAdmin(_) | WorkspaceError::UnknownUser(_)) => {
                Self::Invalid { field: "admin_email", message: error.to_string() }
            }
            error @ WorkspaceError::UnknownDomain(_) => {
                Self::Invalid { field: "domain", message: error.to_string() }
            }
            error @ WorkspaceError::BadUnit(_) => {
                Self::Invalid { field: "org_unit", message: error.to_string() }
            }
            error => Self::Invalid { field: "service_account_key", message: error.to_string() },
        }
    }

    /// A Microsoft tenant's refusal, as the field the administrator must change.
    fn of_tenant(error: TenantError) -> Self {
        let error = match error {
            TenantError::Provider(error) if error.is_retryable() => {
                return Self::Unreachable(error);
            }
            other => other,
        };
        let code = match &error {
            TenantError::Refused(why) => aadsts(why),
            _ => None,
        };
        let field = match (&error, code) {
            // Entra's numbers say which: AADSTS90002 the tenant, AADSTS700016 the application,
            // a refused client assertion the certificate (unknown to the application, or not
            // signed as Entra wants it).
            (TenantError::Refused(_), Some(90002)) => "tenant_id",
            (TenantError::Refused(_), Some(700016)) => "client_id",
            (TenantError::Refused(_), Some(700021 | 700024 | 700027 | 50027)) => {
                "client_certificate"
            }
            (TenantError::Refused(_), _) => "client_secret",
            (TenantError::BadCertificate(_), _) => "client_certificate",
            (TenantError::MissingPermission(_), _) => "client_id",
            (
                TenantError::OutsideScope(_)
                | TenantError::OutsideRole(_)
                | TenantError::NoMailbox(_)
                | TenantError::UnknownGroup(_),
                _,
            ) => "group_id",
            (TenantError::Provider(_), _) => "tenant_id",
        };
        Self::Invalid { field, message: error.to_string() }
    }
}

/// How a covered calendar's tokens are minted, from its coverage: the Workspace's service
/// account acting for the member's address, or the application's token for their mailbox.
pub fn delegation(coverage: Coverage) -> Delegation {
    let (grant, subject) = if coverage.provider == Provider::Microsoft.as_str() {
        let grant = OrganisationGrant::Microsoft {
            tenant_id: coverage.domain,
            client_id: coverage.service_account,
            secret: coverage.key,
        };
        (grant, coverage.directory_id)
    } else {
        (OrganisationGrant::Workspace { key: coverage.key }, coverage.email)
    };
    Delegation { grant, subject, busy_only: coverage.busy_only }
}

/// The number of an Entra refusal (`AADSTS7000215: ...` is 7000215).
fn aadsts(why: &str) -> Option<u32> {
    let digits = why.strip_prefix("AADSTS")?;
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// A Microsoft 365 organisation to connect, as its administrator describes it.
#[derive(Clone, Debug)]
pub struct MicrosoftTenant {
    /// The tenant (directory) id.
    pub tenant_id: String,
    /// The application (client) id.
    pub client_id: String,
    /// How the application proves itself: its client secret's value, or its certificate and
    /// the certificate's private key (PEM).
    pub credential: SecretString,
    /// The security group in scope (the one the application is scoped to); `None`: everyone.
    pub group_id: Option<String>,
    /// Only busy times, nothing written.
    pub busy_only: bool,
}

/// An organisation's directory and credentials, whichever the provider, and its tier.
struct Org {
    directory: Directory,
    /// Busy times only: tokens for free/busy, nothing written.
    busy_only: bool,
}

/// Whose directory and credentials.
enum Directory {
    /// A Google Workspace: its service account, the administrator the directory is read as, and
    /// the domain and unit in scope.
    Google {
        workspace: Box<Workspace>,
        admin_email: String,
        domain: String,
        org_unit: Option<String>,
    },
    /// A Microsoft 365 tenant: its application, and the group in scope.
    Microsoft { tenant: Box<Tenant>, group: Option<String> },
}

/// A user of either directory.
#[derive(Clone, Debug)]
struct OrgUser {
    id: String,
    email: String,
    name: String,
    standing: Standing,
}

/// Whether a user of the directory has a calendar to cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    /// Not suspended, not disabled, and (Microsoft) with a mailbox.
    Active,
    /// Suspended (Google) or disabled (Microsoft).
    Suspended,
    /// Enabled, but with no Exchange Online licence (Microsoft): a mailbox Exchange disables,
    /// which no call reaches until it is licensed again.
    Unlicensed,
}

impl OrgUser {
    /// Whether the user has a calendar to cover ([`Standing::Active`]).
    fn active(&self) -> bool {
        self.standing == Standing::Active
    }
}

/// What the directory says of one user looked up by id.
enum Lookup {
    /// The user as it knows them now; `None`: deleted (Google), or nothing to follow (Microsoft
    /// reaches a mailbox by its id, whatever its address).
    Found(Option<OrgUser>),
    /// The directory reader's rights do not reach them (an administrator's narrowed to other
    /// organisational units): whether they are still in scope cannot be told.
    Unseen,
}

/// A member the directory's read no longer lists, once looked up.
enum Leaver {
    /// Out of the scope: the member, followed to their new address if they were renamed.
    Left(OrganisationMember),
    /// Out of the directory reader's sight: whether they left cannot be told.
    Unseen,
}

/// Why no token could be had for one user.
enum Unminted {
    /// The provider did not answer: the whole read is retried.
    Unreachable(ProviderError),
    /// Refused for this user, in words for the administrator.
    Refused(String),
    /// The user has no mailbox the provider's calendar API reaches (Microsoft: hosted on the
    /// organisation's own Exchange server, being set up, inactive): no calendar to cover yet.
    NoMailbox,
}

impl Org {
    /// The organisation of a stored connection and its key (or secret).
    fn of(
        providers: &Providers,
        organisation: &OrganisationConnection,
        key: &SecretString,
    ) -> Result<Self, OrganisationError> {
        let directory = if organisation.provider == Provider::Microsoft.as_str() {
            let tenant = providers
                .tenant(&organisation.domain, &organisation.service_account, key)
                .map_err(OrganisationError::of_tenant)?;
            let group = organisation.org_unit.clone();
            Directory::Microsoft { tenant: Box::new(tenant), group }
        } else {
            Directory::Google {
                workspace: Box::new(workspace_of(providers, key)?),
                admin_email: organisation.admin_email.clone().unwrap_or_default(),
                domain: organisation.domain.clone(),
                org_unit: organisation.org_unit.clone(),
            }
        };
        Ok(Self { directory, busy_only: organisation.busy_only })
    }

    fn provider(&self) -> Provider {
        match self.directory {
            Directory::Google { .. } => Provider::Google,
            Directory::Microsoft { .. } => Provider::Microsoft,
        }
    }

    /// Who is in scope, in the administrator's words.
    fn scope(&self) -> String {
        match &self.directory {
            Directory::Google { domain, org_unit: Some(unit), .. } => {
                format!("the unit {unit} of {domain}")
            }
            Directory::Google { domain, org_unit: None, .. } => format!("everyone in {domain}"),
            Directory::Microsoft { group: Some(group), .. } => format!("the group {group}"),
            Directory::Microsoft { group: None, .. } => "everyone in the tenant".to_owned(),
        }
    }

    /// What its credential is called.
    fn secret_name(&self) -> &'static str {
        match self.directory {
            Directory::Google { .. } => "the service account key",
            Directory::Microsoft { .. } => "the client secret or certificate",
        }
    }

    /// Microsoft: a new application token, which the directory read and the calendars covered
    /// next then share: the one shared before may predate a permission the administrator has
    /// just consented to (Entra writes the roles into a token when it issues it). Google mints
    /// each user's token anyway.
    async fn renew(&self) -> Result<Option<AppToken>, OrganisationError> {
        match &self.directory {
            Directory::Microsoft { tenant, .. } => {
                Ok(Some(tenant.new_app_token().await.map_err(OrganisationError::of_tenant)?))
            }
            Directory::Google { .. } => Ok(None),
        }
    }

    /// Whether the grant covers the calendar access of a tier (`busy_only`): a token for the
    /// administrator's calendar with the tier's scopes (Google), or the permission among the
    /// roles of the application's token (Microsoft; the token shared since [`Self::renew`]),
    /// else Graph's answer for one of the first [`PROBED`] active `users` in scope, in case
    /// Exchange grants it itself (RBAC for Applications, which puts nothing in the token).
    async fn check_calendar_grant(
        &self,
        busy_only: bool,
        users: &[OrgUser],
    ) -> Result<(), OrganisationError> {
        match &self.directory {
            Directory::Google { workspace, admin_email, .. } => {
                let scopes = delegated_scopes(busy_only);
                workspace.user_token(admin_email, scopes).await.map_err(OrganisationError::of)?;
            }
            Directory::Microsoft { tenant, .. } => {
                let token = tenant.app_token().await.map_err(OrganisationError::of_tenant)?;
                // Read-write covers reading; the busy-times-only tier needs no more than reading.
                let enough: &[&str] = if busy_only {
                    &[tenant::READ_PERMISSION, tenant::CALENDAR_PERMISSION]
                } else {
                    &[tenant::CALENDAR_PERMISSION]
                };
                if token.roles.as_ref().is_none_or(|roles| {
                    roles.iter().any(|role| enough.iter().any(|p| role.eq_ignore_ascii_case(p)))
                }) {
                    return Ok(());
                }
                // The first members may be outside the role's scope (no group given) or have no
                // mailbox (an unlicensed administrator): a few are asked before the permission
                // is blamed.
                let mut refused = TenantError::MissingPermission(tenant::permission(busy_only));
                for user in users.iter().filter(|user| user.active()).take(PROBED) {
                    match tenant.reaches(&token.token, &user.id, &user.email, !busy_only).await {
                        Ok(()) => return Ok(()),
                        Err(TenantError::Provider(error)) if error.is_retryable() => {
                            return Err(OrganisationError::Unreachable(error));
                        }
                        Err(TenantError::Provider(_)) => {}
                        Err(other) => refused = other,
                    }
                }
                return Err(OrganisationError::of_tenant(refused));
            }
        }
        Ok(())
    }

    /// The directory's users in scope.
    async fn users(&self) -> Result<Vec<OrgUser>, OrganisationError> {
        let users = self.listed().await?;
        Ok(once_each(users))
    }

    /// The directory's listing, as it came.
    async fn listed(&self) -> Result<Vec<OrgUser>, OrganisationError> {
        match &self.directory {
            Directory::Google { workspace, admin_email, domain, org_unit } => {
                let users = workspace
                    .directory(admin_email, domain, org_unit.as_deref())
                    .await
                    .map_err(OrganisationError::of)?;
                Ok(users.into_iter().map(OrgUser::from).collect())
            }
            Directory::Microsoft { tenant, group } => {
                let token = tenant.app_token().await.map_err(OrganisationError::of_tenant)?;
                let users = tenant
                    .directory(&token.token, group.as_deref())
                    .await
                    .map_err(OrganisationError::of_tenant)?;
                Ok(users
                    .into_iter()
                    .map(|u| OrgUser {
                        standing: match (u.enabled, u.mailbox) {
                            (false, _) => Standing::Suspended,
                            (true, false) => Standing::Unlicensed,
                            (true, true) => Standing::Active,
                        },
                        id: u.id,
                        email: u.email,
                        name: u.name,
                    })
                    .collect())
            }
        }
    }

    /// Who reads the directory, in the administrator's words.
    fn directory_reader(&self) -> String {
        match &self.directory {
            Directory::Google { admin_email, .. } => admin_email.clone(),
            Directory::Microsoft { .. } => "the application".to_owned(),
        }
    }

    /// The field that names who reads the directory (and so what it lists).
    fn directory_field(&self) -> &'static str {
        match &self.directory {
            Directory::Google { .. } => "admin_email",
            Directory::Microsoft { .. } => "group_id",
        }
    }

    /// The directory user `id` as the directory knows them now, wherever they are, when their
    /// address matters: on Google, where a calendar is reached through a token for its
    /// user's address. Microsoft reaches a mailbox by its id, whatever its address.
    async fn user(&self, id: &str) -> Result<Lookup, OrganisationError> {
        match &self.directory {
            Directory::Google { workspace, admin_email, .. } => {
                match workspace.user(admin_email, id).await {
                    Ok(user) => Ok(Lookup::Found(user.map(OrgUser::from))),
                    Err(WorkspaceError::NotReadable(_)) => Ok(Lookup::Unseen),
                    Err(error) => Err(OrganisationError::of(error)),
                }
            }
            Directory::Microsoft { .. } => Ok(Lookup::Found(None)),
        }
    }

    /// A token for `user`'s calendar in a tier (`busy_only`; addressed to their mailbox), and
    /// when it runs out.
    async fn token(
        &self,
        user: &OrgUser,
        busy_only: bool,
    ) -> Result<(AccessToken, DateTime<Utc>), Unminted> {
        match &self.directory {
            Directory::Google { workspace, .. } => {
                let scopes = delegated_scopes(busy_only);
                match workspace.user_token(&user.email, scopes).await {
                    Ok(minted) => Ok((
                        minted.token,
                        minted.expires_at.unwrap_or_else(|| Utc::now() + MINTED_LIFETIME),
                    )),
                    Err(WorkspaceError::Provider(error)) if error.is_retryable() => {
                        Err(Unminted::Unreachable(error))
                    }
                    Err(refused) => Err(Unminted::Refused(refused.to_string())),
                }
            }
            Directory::Microsoft { tenant, .. } => match tenant.app_token().await {
                Ok(minted) => Ok((minted.token.for_mailbox(&user.id), minted.expires_at)),
                Err(TenantError::Provider(error)) if error.is_retryable() => {
                    Err(Unminted::Unreachable(error))
                }
                Err(refused) => Err(Unminted::Refused(refused.to_string())),
            },
        }
    }

    /// Whether `token` may write into `user`'s mailbox, for the tier that writes bookings:
    /// their default calendar updated with nothing (Microsoft; Graph's refusal in the
    /// administrator's words). A Google token's scopes say so when it is minted.
    async fn check_writing(
        &self,
        credentials: &Credentials,
        token: &AccessToken,
        user: &OrgUser,
    ) -> Result<(), Unminted> {
        let CalendarProvider::Microsoft { api, .. } = credentials.providers().get(self.provider())
        else {
            return Ok(());
        };
        if self.busy_only {
            return Ok(());
        }
        let written = api.write_nothing(token);
        match credentials.for_account(Provider::Microsoft, &user.email, written).await {
            Ok(()) => Ok(()),
            Err(error) if error.is_retryable() => Err(Unminted::Unreachable(error)),
            Err(ProviderError::NoMailbox { .. }) => Err(Unminted::NoMailbox),
            Err(error) => {
                let refused = tenant::refusal(error, &user.email, tenant::CALENDAR_PERMISSION);
                Err(Unminted::Refused(refused.to_string()))
            }
        }
    }

    /// The user's calendars with `token`, which proves the token reaches them; a refusal in the
    /// administrator's words. Busy times only: their primary calendar, once its free/busy for
    /// the next day answered (a token for free/busy may list nothing).
    async fn calendars(
        &self,
        credentials: &Credentials,
        token: &AccessToken,
        user: &OrgUser,
    ) -> Result<Vec<RemoteCalendar>, Unminted> {
        let provider = credentials.providers().get(self.provider());
        let reached = if self.busy_only {
            // Google's primary calendar's id is the user's address; Graph's schedule is asked
            // by address too.
            let primary = RemoteCalendar {
                id: user.email.to_ascii_lowercase(),
                name: user.email.to_ascii_lowercase(),
                primary: true,
                writable: false,
                time_zone: None,
            };
            let ids = [primary.id.clone()];
            let asked = provider.reaches_free_busy(token, &ids, &primary.id);
            credentials
                .for_account(self.provider(), &user.email, asked)
                .await
                .map(|()| vec![primary])
        } else {
            let listed = provider.list_calendars(token);
            credentials.for_account(self.provider(), &user.email, listed).await
        };
        match reached {
            Ok(calendars) => Ok(calendars),
            Err(error) if error.is_retryable() => Err(Unminted::Unreachable(error)),
            Err(ProviderError::NoMailbox { .. }) => Err(Unminted::NoMailbox),
            Err(error) if self.provider() == Provider::Microsoft => {
                let permission = tenant::permission(self.busy_only);
                let refused = tenant::mailbox_refusal(error, token, &user.email, permission);
                Err(Unminted::Refused(refused.to_string()))
            }
            Err(error) => Err(Unminted::Refused(error.to_string())),
        }
    }
}

impl From<DirectoryUser> for OrgUser {
    fn from(user: DirectoryUser) -> Self {
        let standing = if user.suspended { Standing::Suspended } else { Standing::Active };
        Self { id: user.id, email: user.email, name: user.name, standing }
    }
}

/// A Google Workspace to connect, as its administrator describes it.
#[derive(Clone, Debug)]
pub struct GoogleWorkspace {
    /// The service account's JSON key, as Google Cloud handed it out.
    pub key: SecretString,
    /// The Workspace's primary domain.
    pub domain: String,
    /// A Workspace administrator, whom the directory is read as.
    pub admin_email: String,
    /// The organisational unit in scope (and those below it); `None`: the whole domain.
    pub org_unit: Option<String>,
    /// Only busy times, nothing written.
    pub busy_only: bool,
}

/// What every operation here needs.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The database.
    pub store: &'a Store,
    /// Seals keys and tokens.
    pub sealer: &'a Sealer,
    /// The providers, configured, and the accounts' request budgets (a covered calendar's first
    /// listing draws on its account's, as a connection's calls do).
    pub credentials: &'a Credentials,
    /// When a newly covered calendar's next scheduled import is due.
    pub next_import_at: DateTime<Utc>,
}

impl Context<'_> {
    fn providers(&self) -> &Providers {
        self.credentials.providers()
    }
}

/// The Workspace of a key, or the field to fix.
fn workspace_of(providers: &Providers, key: &SecretString) -> Result<Workspace, OrganisationError> {
    let json: serde_json::Value =
        serde_json::from_str(key.expose_secret()).map_err(|e| OrganisationError::Invalid {
            field: "service_account_key",
            message: format!("the service account key is not JSON: {e}"),
        })?;
    providers.workspace(&json).map_err(OrganisationError::of)
}

/// Reads the directory in scope and checks the calendar access on the administrator's own
/// calendar (Google) or the application's consented permissions (Microsoft): what creating or
/// changing the connection must prove first.
async fn check(org: &Org) -> Result<Vec<OrgUser>, OrganisationError> {
    org.renew().await?;
    let users = org.users().await?;
    org.check_calendar_grant(org.busy_only, &users).await?;
    Ok(users)
}

/// Connects a Google Workspace: checked first (nothing is stored when Google refuses), then
/// stored with its key sealed, and every user in scope covered (a user Google does not answer
/// for leaves the connection in `error` until the next read covers them).
pub async fn create_google(
    cx: Context<'_>,
    tenant_id: Uuid,
    input: GoogleWorkspace,
    by: Actor,
) -> Result<OrganisationConnection, OrganisationError> {
    let workspace = workspace_of(cx.providers(), &input.key)?;
    let service_account = workspace.service_account().to_owned();
    let directory = Directory::Google {
        workspace: Box::new(workspace),
        admin_email: input.admin_email.clone(),
        domain: input.domain.clone(),
        org_unit: input.org_unit.clone(),
    };
    let org = Org { directory, busy_only: input.busy_only };
    let new = NewOrganisationConnection {
        provider: Provider::Google.as_str().to_owned(),
        domain: input.domain,
        admin_email: Some(input.admin_email),
        org_unit: input.org_unit,
        busy_only: input.busy_only,
        service_account,
        key: input.key,
    };
    create(cx, tenant_id, org, new, by).await
}

/// Connects a Microsoft 365 organisation: its application's secret, directory (or group) and
/// calendar permission checked first (nothing is stored when Microsoft refuses), then stored
/// with the secret sealed, and every user in scope covered.
pub async fn create_microsoft(
    cx: Context<'_>,
    tenant_id: Uuid,
    input: MicrosoftTenant,
    by: Actor,
) -> Result<OrganisationConnection, OrganisationError> {
    let tenant = cx
        .providers()
        .tenant(&input.tenant_id, &input.client_id, &input.credential)
        .map_err(OrganisationError::of_tenant)?;
    let directory =
        Directory::Microsoft { tenant: Box::new(tenant), group: input.group_id.clone() };
    let org = Org { directory, busy_only: input.busy_only };
    let new = NewOrganisationConnection {
        provider: Provider::Microsoft.as_str().to_owned(),
        domain: input.tenant_id,
        admin_email: None,
        org_unit: input.group_id,
        busy_only: input.busy_only,
        service_account: input.client_id,
        key: input.credential,
    };
    create(cx, tenant_id, org, new, by).await
}

async fn create(
    cx: Context<'_>,
    tenant_id: Uuid,
    org: Org,
    mut new: NewOrganisationConnection,
    by: Actor,
) -> Result<OrganisationConnection, OrganisationError> {
    let users = check(&org).await?;
    if let Directory::Microsoft { tenant, .. } = &org.directory {
        // Kept by the tenant's id, whichever of its names it was given by: the same
        // organisation is then never connected twice under two names.
        let token = tenant.app_token().await.map_err(OrganisationError::of_tenant)?;
        if let Some(id) = token.tenant_id {
            new.domain = id;
        }
    }
    let entry = NewLogEntry {
        action: OrganisationAction::Connected,
        by,
        detail: log::connected(active(&users), &org.scope(), org.busy_only),
    };
    let held_until = lease_end(HELD_FOR);
    let provider = org.provider();
    let organisation = cx
        .store
        .create_organisation_connection(tenant_id, new, cx.sealer, &entry, held_until)
        .await
        .map_err(|error| match error {
            StoreError::DuplicateOrganisation => connected_already(provider),
            error => error.into(),
        })?;
    tracing::info!(organisation = %organisation.id, users = users.len(), "organisation connected");
    // The credentials are proven and stored: the provider failing for a user now is the
    // connection's `error` to show (the next read covers them), not a refused creation.
    let covered = async {
        match apply_directory(cx, &organisation, &org, users, by).await {
            Ok(moved) => Ok(moved.waiting),
            Err(OrganisationError::Unreachable(_) | OrganisationError::Invalid { .. }) => Ok(0),
            Err(error) => Err(error),
        }
    };
    let waiting = match Held::run(cx.store, organisation.id, held_until, covered).await {
        Ok(waiting) => waiting,
        // Stored and proven: the database failing halfway, or the hold lost with it, leaves the
        // members to a background read (or the scheduler's), rather than answering a refusal
        // for a connection that exists.
        Err(error @ (OrganisationError::Store(_) | OrganisationError::Busy)) => {
            tracing::warn!(organisation = %organisation.id, %error, "the new organisation's members are left to the next read of its directory");
            1
        }
        Err(error) => return Err(error),
    };
    let organisation = cx.store.organisation_connection(tenant_id, organisation.id).await?;
    in_background(cx, &organisation, waiting).await;
    Ok(organisation)
}

/// Leaves the `waiting` members of a read asked by someone to a background read, queued once
/// the read has let the organisation go (held, it would be left alone). The read is owed on
/// the connection itself ([`DirectoryRead::Owed`]): a job that cannot be queued, or is
/// lost, is made up by the scheduler's next pass over the directories.
async fn in_background(cx: Context<'_>, organisation: &OrganisationConnection, waiting: usize) {
    if waiting == 0 {
        return;
    }
    let (tenant_id, organisation_id) = (organisation.tenant_id, organisation.id);
    match cx.store.enqueue(&Job::RefreshOrganisation { tenant_id, organisation_id }).await {
        Ok(()) => {
            tracing::info!(organisation = %organisation_id, waiting, "members left to a background read of the directory");
        }
        Err(error) => {
            tracing::warn!(organisation = %organisation_id, %error, "the background read could not be queued; the scheduler's next pass queues it");
        }
    }
}

/// The tenant connected this organisation already (or another request did at the same moment),
/// said on the field that names it.
fn connected_already(provider: Provider) -> OrganisationError {
    let (field, message) = match provider {
        Provider::Microsoft => (
            "tenant_id",
            "this Microsoft 365 organisation is connected already: refresh or change that \
             connection instead",
        ),
        _ => (
            "domain",
            "this Workspace is connected already: refresh or change that connection instead",
        ),
    };
    OrganisationError::Invalid { field, message: message.to_owned() }
}

/// A change the administrator asks for.
#[derive(Clone, Debug, Default)]
pub struct Change {
    /// Another administrator (Google).
    pub admin_email: Option<String>,
    /// Another unit or group (`Some(None)`: everyone).
    pub org_unit: Option<Option<String>>,
    /// A replacement key, or client secret or certificate.
    pub key: Option<SecretString>,
    /// The other tier: busy times only (`true`) or bookings written too (`false`).
    pub busy_only: Option<bool>,
}

impl Change {
    /// Whether it changes nothing (an empty patch).
    pub fn is_empty(&self) -> bool {
        self.admin_email.is_none()
            && self.org_unit.is_none()
            && self.key.is_none()
            && self.busy_only.is_none()
    }
}

/// Changes the administrator, the unit (group), the key (secret) or the tier: checked like a
/// creation, then the directory applied with the new scope; one read or change at a time. A new tier moves every covered
/// calendar at once: into busy times only, Kalends' events are removed from it (with a token of
/// the tier it leaves, which may still write) and it takes no more bookings; out of it, it
/// becomes the member's calendar for bookings and is given the upcoming ones.
pub async fn update(
    cx: Context<'_>,
    tenant_id: Uuid,
    id: Uuid,
    change: Change,
    by: Actor,
) -> Result<OrganisationConnection, OrganisationError> {
    let changed = change_held(cx, tenant_id, id, change, by);
    let (organisation, waiting) = Held::around(cx.store, tenant_id, id, changed).await?;
    in_background(cx, &organisation, waiting).await;
    Ok(organisation)
}

/// The change, and how many members it left to a background read.
async fn change_held(
    cx: Context<'_>,
    tenant_id: Uuid,
    id: Uuid,
    change: Change,
    by: Actor,
) -> Result<(OrganisationConnection, usize), OrganisationError> {
    let current = cx.store.organisation_connection(tenant_id, id).await?;
    let was_busy_only = current.busy_only;
    let key = match &change.key {
        Some(key) => key.clone(),
        None => cx.store.organisation_key(tenant_id, id, cx.sealer).await?,
    };
    // What the log says changed: a setting given as it was is no change.
    let was_admin =
        |a: &String| current.admin_email.as_ref().is_some_and(|c| c.eq_ignore_ascii_case(a));
    let said = Change {
        admin_email: change.admin_email.clone().filter(|a| !was_admin(a)),
        org_unit: change.org_unit.clone().filter(|unit| *unit != current.org_unit),
        key: change.key.clone(),
        busy_only: change.busy_only.filter(|tier| *tier != was_busy_only),
    };
    let changed = OrganisationConnection {
        admin_email: change.admin_email.clone().or(current.admin_email.clone()),
        org_unit: change.org_unit.clone().unwrap_or(current.org_unit.clone()),
        busy_only: change.busy_only.unwrap_or(was_busy_only),
        ..current
    };
    let org = Org::of(cx.providers(), &changed, &key)?;
    let users = check(&org).await?;
    if said.busy_only == Some(true) {
        // The calendars give Kalends' events back first, with the access being left.
        org.check_calendar_grant(false, &users).await.map_err(|error| match error {
            OrganisationError::Invalid { field, message } => OrganisationError::Invalid {
                field,
                message: format!(
                    "{message}. Moving into busy times only first removes Kalends' events from \
                     the covered calendars, which needs this access: keep it until the change \
                     is made, then narrow the grant"
                ),
            },
            other => other,
        })?;
    }
    let service_account = match &org.directory {
        Directory::Google { workspace, .. } => workspace.service_account().to_owned(),
        Directory::Microsoft { tenant, .. } => tenant.client_id().to_owned(),
    };
    let entry = NewLogEntry {
        action: OrganisationAction::Changed,
        by,
        detail: log::changed(&said, &org.scope(), active(&users), org.secret_name()),
    };
    let patch = OrganisationPatch {
        admin_email: change.admin_email,
        org_unit: change.org_unit,
        key: change.key.map(|key| (key, service_account)),
        busy_only: said.busy_only,
    };
    let organisation =
        cx.store.update_organisation_connection(tenant_id, id, patch, cx.sealer, &entry).await?;
    // Stored and logged: as after a creation, the provider failing for a user now is the
    // connection's `error` to show, not a refused change (asked again, it would be logged twice).
    // A new tier leaves every covered calendar out of it, and so covered again.
    let waiting = match apply_directory(cx, &organisation, &org, users, by).await {
        Ok(moved) => moved.waiting,
        Err(OrganisationError::Unreachable(_) | OrganisationError::Invalid { .. }) => 0,
        Err(error) => return Err(error),
    };
    Ok((cx.store.organisation_connection(tenant_id, id).await?, waiting))
}

/// Reads the directory again: joiners covered, leavers' calendars stopped. A refusal is kept on
/// the connection (its `status` and `last_error`) for the administrator, and answered. The log
/// records who joined and who left; a read asked for (`by` a key or the console) is logged even
/// when nobody did, the hourly one only when someone did. One read or change at a time.
pub async fn refresh(
    cx: Context<'_>,
    tenant_id: Uuid,
    id: Uuid,
    by: Actor,
) -> Result<OrganisationConnection, OrganisationError> {
    let read = refresh_held(cx, tenant_id, id, by);
    let (organisation, waiting) = Held::around(cx.store, tenant_id, id, read).await?;
    in_background(cx, &organisation, waiting).await;
    Ok(organisation)
}

/// The read, and how many members it left to a background read.
async fn refresh_held(
    cx: Context<'_>,
    tenant_id: Uuid,
    id: Uuid,
    by: Actor,
) -> Result<(OrganisationConnection, usize), OrganisationError> {
    let organisation = cx.store.organisation_connection(tenant_id, id).await?;
    let key = cx.store.organisation_key(tenant_id, id, cx.sealer).await?;
    let read = match Org::of(cx.providers(), &organisation, &key) {
        Ok(org) => match org.renew().await {
            Ok(token) => {
                // A Microsoft 365 organisation stored by another of its tenant's names (before
                // creations kept the id) is kept by the id from now on.
                let named = token.and_then(|token| token.tenant_id);
                if let Some(tid) = named.filter(|tid| *tid != organisation.domain)
                    && !cx.store.keep_organisation_by_tenant_id(tenant_id, id, &tid).await?
                {
                    tracing::warn!(organisation = %id, "the same Microsoft 365 organisation is connected twice under two names: disconnect one");
                }
                org.users().await.map(|users| (org, users))
            }
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    };
    let (org, users) = match read {
        Ok(read) => read,
        Err(error) => {
            cx.store.record_organisation_refresh(id, error.as_read(&error.in_words())).await?;
            return Err(error);
        }
    };
    let in_scope = active(&users);
    let moved = apply_directory(cx, &organisation, &org, users, by).await?;
    let by = deciding(&organisation, by);
    if by != Actor::Schedule || !moved.is_empty() {
        let entry = NewLogEntry {
            action: OrganisationAction::Refreshed,
            by,
            detail: log::refreshed(&moved, in_scope),
        };
        let at = (tenant_id, id, organisation.provider.as_str(), organisation.domain.as_str());
        cx.store.log_organisation(at, &entry).await?;
    }
    Ok((cx.store.organisation_connection(tenant_id, id).await?, moved.waiting))
}

/// Disconnects the organisation: every covered calendar is disconnected now (its tokens out of
/// it, the Kalends events removed from it by the queued cleanup when `remove_events`), then the
/// key and the members are forgotten. A read or change under way is asked to stop before its
/// next member and waited for up to `wait`; past it, [`OrganisationError::Busy`] to try again,
/// and the read goes on.
pub async fn delete(
    cx: Context<'_>,
    tenant_id: Uuid,
    id: Uuid,
    remove_events: bool,
    by: Actor,
    wait: std::time::Duration,
) -> Result<(), OrganisationError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut asked = false;
    loop {
        let work = async { Ok(delete_held(cx, tenant_id, id, remove_events, by).await?) };
        match Held::around(cx.store, tenant_id, id, work).await {
            // A read (a large directory's background read may run for minutes) or a change
            // holds it: asked to stop before its next member, it lets go within a few calls.
            Err(OrganisationError::Busy) if tokio::time::Instant::now() < deadline => {
                if !asked {
                    cx.store.ask_organisation_stop(tenant_id, id, true).await?;
                    asked = true;
                }
                tokio::time::sleep(STOP_POLL).await;
            }
            // Given up: the reads go on as before, until someone asks again.
            Err(OrganisationError::Busy) if asked => {
                cx.store.ask_organisation_stop(tenant_id, id, false).await?;
                return Err(OrganisationError::Busy);
            }
            done => return done,
        }
    }
}

/// How often a waiting disconnect tries to take the connection.
const STOP_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// How long a disconnect's request to stop is honoured: a read started within it stops at
/// once, so that the disconnect, not the next read, takes the connection.
const STOP_HONOURED: chrono::Duration = chrono::Duration::minutes(1);

/// [`OrganisationError::Disconnecting`] when a disconnect has asked the read or change holding
/// `organisation` to stop, checked before each member it covers or stops.
async fn stop_asked(
    cx: Context<'_>,
    organisation: &OrganisationConnection,
) -> Result<(), OrganisationError> {
    let since = Utc::now() - STOP_HONOURED;
    if cx.store.organisation_stop_asked(organisation.id, since).await? {
        return Err(OrganisationError::Disconnecting);
    }
    Ok(())
}

async fn delete_held(
    cx: Context<'_>,
    tenant_id: Uuid,
    id: Uuid,
    remove_events: bool,
    by: Actor,
) -> Result<(), StoreError> {
    cx.store.organisation_connection(tenant_id, id).await?;
    let members = cx.store.organisation_members(tenant_id, id).await?;
    // The calendars the organisation covered: counted from the members, whose rows stay until
    // the last step, so that a disconnection stopped halfway and asked again logs them all.
    let covered = members.iter().filter(|m| m.state != "left" && m.connection_id.is_some());
    let stopped = covered.count();
    // No token is minted here: each calendar's cleanup keeps the organisation's key and mints
    // one itself when the calendar's last has run out, so the request asks the provider
    // nothing, however large the directory and however slow its token endpoint. A few at a
    // time, as calendars are covered.
    let mut stops = Vec::new();
    for member in &members {
        stops.push(async move { stop_covering(cx, tenant_id, member, remove_events, None).await });
    }
    let mut stopping = futures::stream::iter(stops).buffer_unordered(COVERED_AT_ONCE);
    while let Some(done) = stopping.next().await {
        done?;
    }
    let entry = NewLogEntry {
        action: OrganisationAction::Disconnected,
        by,
        detail: log::disconnected(stopped, remove_events),
    };
    cx.store.delete_organisation_connection(tenant_id, id, &entry).await?;
    tracing::info!(organisation = %id, "organisation disconnected");
    Ok(())
}

/// How many members' mailboxes are asked at most, in turn, whether Exchange grants the
/// application calendar access that its token does not show.
const PROBED: usize = 5;

/// How many of the directory's users may be covered (not suspended, not disabled).
fn active(users: &[OrgUser]) -> usize {
    users.iter().filter(|u| u.active()).count()
}

/// Disconnects a member's covered calendar, if it is still connected. When Kalends' events are
/// to be removed and `org` is given, the calendar first gets a token minted now, for its own
/// tier (one still taking bookings under an organisation moving into busy times only gets a
/// token that may remove them) and for the member as the directory names them now (a renamed
/// member's new address): the cleanup inherits it. Without `org`, the cleanup starts with the
/// calendar's last token and mints another through the coverage it keeps when that one has
/// run out (see `connection_cleanups`). A user no longer in the directory gets none; their
/// calendar went with them.
async fn stop_covering(
    cx: Context<'_>,
    tenant_id: Uuid,
    member: &OrganisationMember,
    remove_events: bool,
    org: Option<&Org>,
) -> Result<(), StoreError> {
    let Some(connection_id) = member.connection_id else {
        return Ok(());
    };
    let connection = match cx.store.connection(tenant_id, connection_id).await {
        Err(StoreError::NotFound) => return Ok(()),
        other => other?,
    };
    if connection.status == ConnectionStatus::Revoked {
        return Ok(());
    }
    if let Some(org) = org.filter(|_| remove_events) {
        let user = OrgUser {
            id: member.directory_id.clone(),
            email: member.email.clone(),
            name: String::new(),
            standing: Standing::Active,
        };
        match org.token(&user, connection.busy_only).await {
            Ok((token, expires_at)) => {
                let tokens = ConnectionTokens {
                    access_token: token.secret().clone(),
                    refresh_token: None,
                    expires_at,
                };
                cx.store.store_refreshed_tokens(connection.id, &tokens, cx.sealer).await?;
            }
            Err(Unminted::Unreachable(error)) => {
                tracing::info!(connection = %connection.id, %error, "no fresh token for the cleanup; it uses the calendar's last one");
            }
            Err(Unminted::Refused(error)) => {
                tracing::info!(connection = %connection.id, %error, "no fresh token for the cleanup; it uses the calendar's last one");
            }
            Err(Unminted::NoMailbox) => {}
        }
    }
    connections::disconnect(cx.store, &connection, remove_events, Utc::now(), None).await?;
    Ok(())
}

/// Brings the members in line with the directory's `users`: each active user in scope covered
/// (a staff member matched by address, or added), each member no longer there (or suspended,
/// or disabled) marked `left` with their calendar disconnected and Kalends' events removed
/// from it.
///
/// A member counts as covered while their calendar is active in the organisation's tier;
/// otherwise (not covered yet, failed, disconnected, or in the other tier after a change of
/// tier, even one stopped halfway) they are covered again. A calendar that still takes bookings
/// under a busy-times-only organisation is first disconnected with Kalends' events removed,
/// through a token minted for its own tier (or else its last).
///
/// Asked by someone waiting for the answer (`by` a key or the console, [`Reach::Answer`]), a
/// read with more members to cover or stop than [`COVERED_IN_A_REQUEST`] does none of them: it
/// says how many wait ([`Moved::waiting`]) and the caller leaves them to a background read,
/// owed on the connection as theirs.
async fn apply_directory(
    cx: Context<'_>,
    organisation: &OrganisationConnection,
    org: &Org,
    users: Vec<OrgUser>,
    by: Actor,
) -> Result<Moved, OrganisationError> {
    // How it went is kept on the connection: a user the provider did not answer for is covered
    // by the next read (hourly, or `refresh`), and the administrator sees why meanwhile.
    let outcome = apply_users(cx, organisation, org, users, by).await;
    match &outcome {
        Ok(moved) => {
            let read = match moved.waiting {
                0 => DirectoryRead::Done,
                members => DirectoryRead::Owed { members, by },
            };
            cx.store.record_organisation_refresh(organisation.id, read).await?;
        }
        // The disconnect forgets the connection: nothing to keep on it.
        Err(OrganisationError::Store(_) | OrganisationError::Disconnecting) => {}
        Err(error) => {
            let words = error.in_words();
            cx.store.record_organisation_refresh(organisation.id, error.as_read(&words)).await?;
        }
    }
    outcome
}

/// Who a directory read run `by` decides as: a background read doing what someone's refresh
/// left owed decides as they would, and is logged as theirs.
fn deciding(organisation: &OrganisationConnection, by: Actor) -> Actor {
    match (by, organisation.read_owed_by) {
        (Actor::Schedule, Some(asked)) => asked,
        _ => by,
    }
}

/// How much of a directory read is done before its caller hears back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reach {
    /// Everything: the background read.
    All,
    /// Someone waits for the answer: up to [`COVERED_IN_A_REQUEST`] members covered or stopped,
    /// more left to the background read.
    Answer,
}

impl Reach {
    /// The reach of a read asked `by`.
    fn of(by: Actor) -> Self {
        if by == Actor::Schedule { Self::All } else { Self::Answer }
    }
}

/// Who joined the directory's scope and who left it (their addresses), and whose address
/// changed (from, to), as one read found; or how many members it left to a background read.
#[derive(Debug, Default)]
struct Moved {
    joined: Vec<String>,
    left: Vec<String>,
    readdressed: Vec<(String, String)>,
    /// Members already covered whose calendar was covered again, and is now active in the
    /// organisation's tier: moved to it, or failing before.
    again: usize,
    waiting: usize,
}

/// What covering one user changed, as the read reports it (addresses).
#[derive(Debug, Default)]
struct Covered {
    /// A user with no member before who is one now (a member without a mailbox is none).
    joined: Option<String>,
    /// A member who left for want of a mailbox.
    left: Option<String>,
    /// See [`Moved::again`].
    again: bool,
}

impl Moved {
    /// Counts what the covers of one read changed.
    fn count(&mut self, covers: Vec<Covered>) {
        for covered in covers {
            self.joined.extend(covered.joined);
            self.left.extend(covered.left);
            self.again += usize::from(covered.again);
        }
    }

    fn is_empty(&self) -> bool {
        self.joined.is_empty()
            && self.left.is_empty()
            && self.readdressed.is_empty()
            && self.waiting == 0
    }
}

async fn apply_users(
    cx: Context<'_>,
    organisation: &OrganisationConnection,
    org: &Org,
    users: Vec<OrgUser>,
    by: Actor,
) -> Result<Moved, OrganisationError> {
    let (tenant_id, reach) = (organisation.tenant_id, Reach::of(by));
    let known = cx.store.organisation_members(tenant_id, organisation.id).await?;
    let connections = cx.store.list_connections(tenant_id, None).await?;
    // A member's calendar while it is connected: active, or failing for now (it still holds
    // whatever Kalends wrote into it).
    let held = |id: Option<Uuid>| {
        connections.iter().find(|c| Some(c.id) == id && c.status != ConnectionStatus::Revoked)
    };
    let unlicensed: std::collections::HashSet<String> =
        users.iter().filter(|u| u.standing == Standing::Unlicensed).map(|u| u.id.clone()).collect();
    let in_scope: Vec<OrgUser> = users.into_iter().filter(OrgUser::active).collect();
    let current =
        |user: &OrgUser| known.iter().find(|m| m.directory_id == user.id && m.state != "left");
    let leavers: Vec<&OrganisationMember> = known
        .iter()
        .filter(|m| m.state != "left" && !in_scope.iter().any(|u| u.id == m.directory_id))
        .collect();
    let members = known.iter().filter(|m| m.state != "left").count();
    // What the hourly read holds back (a mass departure, leavers out of the reader's sight), a
    // person's refresh applies, however many members it has to stop.
    let decided_by = deciding(organisation, by);
    if decided_by == Actor::Schedule {
        let lapsed = leavers.iter().filter(|m| unlicensed.contains(&m.directory_id)).count();
        held_back(org, leavers.len(), lapsed, members)?;
    }
    let covered = |user: &OrgUser| {
        current(user).is_some_and(|m| covers(organisation, m, held(m.connection_id), user))
    };
    let to_cover: Vec<OrgUser> = in_scope.into_iter().filter(|u| !covered(u)).collect();
    let waiting = leavers.len() + to_cover.len();
    if reach == Reach::Answer && waiting > COVERED_IN_A_REQUEST {
        return Ok(Moved { waiting, ..Moved::default() });
    }
    let mut moved = Moved::default();
    for member in leavers {
        stop_asked(cx, organisation).await?;
        let lapsed = unlicensed.contains(&member.directory_id);
        if mark_left(cx, organisation, org, member, lapsed, decided_by).await? {
            moved.left.push(member.email.clone());
        }
    }
    // A user back in scope is the member who left: the same staff member, and the same
    // calendar connected again, under a new address if they were renamed while out of it.
    let returning = |user: &OrgUser| known.iter().find(|m| m.directory_id == user.id);
    // Staff members who are someone in the directory already: a joiner is not matched to one
    // by address (a new user given a renamed one's old address before the rename was seen).
    let taken: &[(String, Uuid)] =
        &known.iter().map(|m| (m.directory_id.clone(), m.staff_id)).collect::<Vec<_>>();
    let mut joiners = Vec::new();
    for user in to_cover {
        let member = current(&user).or_else(|| returning(&user));
        let calendar = member.and_then(|m| held(m.connection_id));
        // The same directory user under a new primary address (an administrator's rename):
        // covered again, which follows the address with everything kept under it.
        let readdressed = member.filter(|m| !m.email.eq_ignore_ascii_case(&user.email));
        if let Some(member) = readdressed {
            moved.readdressed.push((member.email.clone(), user.email.to_ascii_lowercase()));
        }
        let writing = organisation.busy_only && calendar.is_some_and(|c| !c.busy_only);
        joiners.push(cover_one(cx, organisation, org, user, member, writing, taken));
    }
    moved.count(cover_each(joiners).await?);
    Ok(moved)
}

/// Covers `user`, a joiner or the `member` they were (left, failing, or in the other tier:
/// one still `writing` into their calendar under a busy-times-only organisation is stopped
/// first), and saves the member it comes to; what that changed.
async fn cover_one(
    cx: Context<'_>,
    organisation: &OrganisationConnection,
    org: &Org,
    user: OrgUser,
    member: Option<&OrganisationMember>,
    writing: bool,
    taken: &[(String, Uuid)],
) -> Result<Covered, OrganisationError> {
    stop_asked(cx, organisation).await?;
    let joining = member.is_none_or(|m| m.state == "left").then(|| user.email.to_ascii_lowercase());
    // A member under the same address (a renamed one counts as readdressed), whose calendar
    // counts as covered again once it is active.
    let again = member.is_some_and(|m| m.email.eq_ignore_ascii_case(&user.email));
    let member = match member.filter(|_| writing) {
        Some(member) => Some(stop_writing(cx, organisation, org, &user, member).await?),
        None => member.cloned(),
    };
    let Some(member) = cover_user(cx, organisation, org, user, member.as_ref(), taken).await?
    else {
        return Ok(Covered::default());
    };
    cx.store.save_organisation_member(organisation.tenant_id, organisation.id, &member).await?;
    let gone = member.state == "left";
    Ok(Covered {
        left: (joining.is_none() && gone).then(|| member.email.clone()),
        joined: joining.filter(|_| !gone),
        again: again && member.state == "active",
    })
}

/// Whether `member` counts as covering `user`: their calendar is active in the organisation's
/// tier under the address the directory gives now (a calendar left at the old one, its giving
/// up stopped halfway, is not).
fn covers(
    organisation: &OrganisationConnection,
    member: &OrganisationMember,
    calendar: Option<&Connection>,
    user: &OrgUser,
) -> bool {
    member.state == "active"
        && member.email.eq_ignore_ascii_case(&user.email)
        && calendar.is_some_and(|c| {
            c.status == ConnectionStatus::Active
                && c.busy_only == organisation.busy_only
                && c.account_email.eq_ignore_ascii_case(&member.email)
        })
}

/// A member no longer in the directory's scope: their calendar disconnected with Kalends'
/// events removed, and they are marked `left`, not forgotten; whether they were.
///
/// One the directory reader may no longer see (its administrator's rights narrowed to other
/// units) may not have left at all: the hourly read keeps their calendar, the member `failed`
/// saying what to do, and only a read someone asks for stops it (as for a [`mass_departure`]).
async fn mark_left(
    cx: Context<'_>,
    organisation: &OrganisationConnection,
    org: &Org,
    member: &OrganisationMember,
    unlicensed: bool,
    by: Actor,
) -> Result<bool, OrganisationError> {
    let tenant_id = organisation.tenant_id;
    let member = match follow_leaver(cx, organisation, org, member).await? {
        Leaver::Left(member) => member,
        Leaver::Unseen if by == Actor::Schedule => {
            let unseen = OrganisationMember {
                state: "failed".into(),
                last_error: Some(out_of_sight(org, &member.email)),
                ..member.clone()
            };
            cx.store.save_organisation_member(tenant_id, organisation.id, &unseen).await?;
            return Ok(false);
        }
        Leaver::Unseen => member.clone(),
    };
    stop_covering(cx, tenant_id, &member, true, Some(org)).await?;
    // Exchange disables the mailbox of a licence taken away (and keeps it 30 days): the
    // cleanup's calls may no longer reach it.
    let why = match unlicensed {
        true => {
            "no Exchange Online licence any more; once Exchange has disabled the mailbox, \
                 Kalends' events stay in it. Licensed again, the next read covers it again"
        }
        false => "no longer in the directory's scope",
    };
    let left =
        OrganisationMember { state: "left".into(), last_error: Some(why.into()), ..member.clone() };
    cx.store.save_organisation_member(tenant_id, organisation.id, &left).await?;
    tracing::info!(organisation = %organisation.id, staff = %member.staff_id, "a member left the organisation's scope");
    Ok(true)
}

/// A leaver the directory still has under another address (renamed as they left the scope,
/// before a read saw the rename), followed there first, so that Kalends' events really leave
/// their calendar: a token for the old address is refused, and a Google calendar named by the
/// address has the new one's id. A calendar the staff member connected themselves under the
/// new address keeps its account ([`Readdressed::keep_account`]). A suspended leaver gets no
/// token under any address, and a deleted one has none: both stay as they are. A leaver who
/// cannot be looked up or followed now (the provider busy) is stopped under the address Kalends
/// has, as before the lookup existed: one leaver never holds up the read. One the directory
/// reader's rights do not reach is [`Leaver::Unseen`].
async fn follow_leaver(
    cx: Context<'_>,
    organisation: &OrganisationConnection,
    org: &Org,
    member: &OrganisationMember,
) -> Result<Leaver, OrganisationError> {
    let mut followed = member.clone();
    let user = match org.user(&member.directory_id).await {
        Ok(Lookup::Found(Some(user)))
            if user.active() && !user.email.eq_ignore_ascii_case(&member.email) =>
        {
            user
        }
        Ok(Lookup::Found(_)) => return Ok(Leaver::Left(followed)),
        Ok(Lookup::Unseen) => return Ok(Leaver::Unseen),
        Err(OrganisationError::Store(error)) => return Err(error.into()),
        Err(error) => return Ok(Leaver::Left(not_followed(organisation, followed, &error))),
    };
    let mut outcome = follow_member(cx, organisation, org, &user, &mut followed, false).await;
    if let Ok(Followed::TakenByHand) = outcome {
        outcome = follow_member(cx, organisation, org, &user, &mut followed, true).await;
    }
    match outcome {
        Ok(_) => Ok(Leaver::Left(followed)),
        Err(OrganisationError::Store(error)) => Err(error.into()),
        Err(error) => Ok(Leaver::Left(not_followed(organisation, member.clone(), &error))),
    }
}

/// Why a member out of the directory reader's sight is not marked as left, and what to do.
fn out_of_sight(org: &Org, email: &str) -> String {
    let reader = org.directory_reader();
    format!(
        "{reader} may no longer read {email} in the directory, so Kalends cannot tell whether \
         they left: if they did, read the directory again (Refresh on the console, or POST \
         .../refresh), which stops their calendar; if not, give {reader} back its rights over \
         their organisational unit"
    )
}

fn not_followed(
    organisation: &OrganisationConnection,
    member: OrganisationMember,
    error: &OrganisationError,
) -> OrganisationMember {
    tracing::info!(organisation = %organisation.id, staff = %member.staff_id, %error, "a leaver could not be followed to their address now; their calendar is stopped under the one Kalends has");
    member
}

/// Each user of a listing once, as the last page that had them lists them: a listing paged by
/// address can list a user renamed while it is read twice, and two covers of one user at once
/// would add their staff member twice.
fn once_each(mut users: Vec<OrgUser>) -> Vec<OrgUser> {
    let mut seen = std::collections::HashSet::new();
    users.reverse();
    users.retain(|user| seen.insert(user.id.clone()));
    users.reverse();
    users
}

/// Runs the `joiners`' covers a few at a time: a directory of hundreds is covered in a bounded
/// time, and the provider's token endpoint and calendar list are not hit by all of them at
/// once. Every write happens inside the futures: one awaited outside them would wait for a
/// database connection that a future no longer polled holds (SQLite has one writer).
///
/// A user the provider does not answer for (a mailbox being set up, a moment's throttling)
/// keeps nobody else from being covered: the read goes on and reports the first such error at
/// the end, and the next read covers them. So many that the provider itself is down stop it.
/// What the covers answered, in the `joiners`' order.
async fn cover_each<T>(
    joiners: Vec<impl Future<Output = Result<T, OrganisationError>>>,
) -> Result<Vec<T>, OrganisationError> {
    let numbered = joiners
        .into_iter()
        .enumerate()
        .map(|(n, joiner)| async move { joiner.await.map(|answer| (n, answer)) });
    let mut covered = futures::stream::iter(numbered).buffer_unordered(COVERED_AT_ONCE);
    let (mut unanswered, mut first, mut answers) = (0, None, Vec::new());
    while let Some(done) = covered.next().await {
        match done {
            Ok(answer) => answers.push(answer),
            Err(error @ OrganisationError::Unreachable(_)) => {
                first.get_or_insert(error);
                unanswered += 1;
                if unanswered >= PROVIDER_DOWN {
                    break;
                }
            }
            Err(error) => return Err(error),
        }
    }
    answers.sort_by_key(|(n, _)| *n);
    first.map_or_else(|| Ok(answers.into_iter().map(|(_, answer)| answer).collect()), Err)
}

/// Covers one directory user: their staff member (the one the organisation covered them as
/// `before`; otherwise found by address, unless `taken` says that staff member is another
/// directory user (directory id, staff id), or added with the directory's id as
/// `external_id`), and their calendar connected with a token for them. A user the provider
/// refuses is a `failed` member saying why; the others go on. A calendar of that address the
/// staff member connected themselves (any connection but the member's) stays theirs: covering
/// it would put it in the organisation's tier and hand its grant to the organisation's
/// disconnects. A member whose address changed is followed to the new one.
///
/// A user whose mailbox the calendar API does not reach (hosted on the organisation's own
/// Exchange server, still being set up) has no calendar to cover, as one without a licence:
/// no member and no staff member (`None`), and a member who had one leaves, saying why.
async fn cover_user(
    cx: Context<'_>,
    organisation: &OrganisationConnection,
    org: &Org,
    user: OrgUser,
    before: Option<&OrganisationMember>,
    taken: &[(String, Uuid)],
) -> Result<Option<OrganisationMember>, OrganisationError> {
    let tenant_id = organisation.tenant_id;
    let ours = before.and_then(|m| m.connection_id);
    let known = known_staff(cx.store, tenant_id, &user, before.map(|m| m.staff_id), taken).await?;
    let email = user.email.to_ascii_lowercase();
    // A member whose address changed keeps the old one until the move is made: a read that
    // stops before it (the provider refusing the new address for now) finds the change again.
    let old = before.map(|m| m.email.as_str()).filter(|old| *old != email);
    let mut address = old.unwrap_or(&email);
    let member =
        |staff_id, address: &str, connection_id, error: Option<String>| OrganisationMember {
            directory_id: user.id.clone(),
            staff_id,
            email: address.to_owned(),
            connection_id,
            state: if error.is_some() { "failed" } else { "active" }.into(),
            last_error: error,
        };
    let own_calendar =
        |staff_id, address| member(staff_id, address, None, Some(format!("{email}{OWN_CALENDAR}")));
    let by_hand = |staff_id, address| {
        connected_by_hand(cx, tenant_id, staff_id, org.provider(), address, ours)
    };
    // A staff member Kalends does not know yet has connected nothing by hand.
    if let Some(staff) = &known
        && let Some((_, theirs)) = by_hand(staff.id, &email).await?
    {
        let covered = old.map(|old| member(staff.id, old, ours, None));
        if follow_to_their_own(cx, organisation, org, &user, covered, theirs).await? {
            address = &email;
        }
        return Ok(Some(own_calendar(staff.id, address)));
    }
    // A calendar the organisation's grant refused (connected, its member failing): listing it
    // proves reading only, and writing may be what was taken back.
    let refused = before.is_some_and(|m| m.state == "failed" && m.connection_id.is_some());
    let (token, expires_at, calendars) = match reach(cx, org, &user, refused).await {
        Ok(reached) => reached,
        Err(Unminted::Unreachable(error)) => return Err(OrganisationError::Unreachable(error)),
        Err(Unminted::NoMailbox) => return no_mailbox(cx, organisation, before).await,
        Err(Unminted::Refused(why)) => {
            let staff = staff_or_add(cx.store, tenant_id, &user, known).await?;
            return Ok(Some(member(staff.id, address, None, Some(why))));
        }
    };
    let staff = staff_or_add(cx.store, tenant_id, &user, known).await?;
    if let Some(old) = old {
        // Their own calendar under the old address: its grant follows the renamed account, so
        // it follows the address as a covered one does, and stays theirs; covering the same
        // calendar again would put each booking in it twice.
        let theirs = by_hand(staff.id, old).await?.map(|(id, _)| id);
        let moved = Readdress { from: old, to: &email, calendars: &calendars, keep_account: false };
        match follow_address(cx, organisation, &user, staff.id, theirs.or(ours), moved).await {
            Ok(()) if theirs.is_some() => return Ok(Some(own_calendar(staff.id, &email))),
            Ok(()) => address = &email,
            Err(StoreError::DuplicateConnection) => {
                return Ok(Some(own_calendar(staff.id, address)));
            }
            Err(error) => return Err(error.into()),
        }
    }
    match connect_covered(cx, organisation, org, &user, staff.id, (token, expires_at, calendars))
        .await
    {
        Ok(connection) => Ok(Some(member(staff.id, address, Some(connection.id), None))),
        // The staff member connected it themselves while the provider was asked.
        Err(StoreError::DuplicateConnection) => Ok(Some(own_calendar(staff.id, address))),
        Err(error) => Err(error.into()),
    }
}

/// Connects `user`'s calendars (`reached`: the token minted for them, its expiry, and the
/// calendars it lists) for their staff member, saved with the organisation's member.
async fn connect_covered(
    cx: Context<'_>,
    organisation: &OrganisationConnection,
    org: &Org,
    user: &OrgUser,
    staff_id: Uuid,
    reached: (AccessToken, DateTime<Utc>, Vec<RemoteCalendar>),
) -> Result<Connection, StoreError> {
    let (token, expires_at, calendars) = reached;
    let email = user.email.to_ascii_lowercase();
    let new = NewConnection {
        staff_id,
        provider: org.provider(),
        account_email: email.clone(),
        calendars: calendars.into_iter().map(Into::into).collect(),
        tokens: ConnectionTokens {
            access_token: token.secret().clone(),
            refresh_token: None,
            expires_at,
        },
        busy_only: org.busy_only,
    };
    // Saved with its member: a calendar saved alone (the member's row failing, the process
    // dying) would pass at the next read for one the staff member connected themselves.
    let covered =
        CoveredMember { organisation_id: organisation.id, directory_id: user.id.clone(), email };
    let tenant_id = organisation.tenant_id;
    connections::covered(cx.store, cx.sealer, tenant_id, new, cx.next_import_at, covered).await
}

/// A user whose mailbox the calendar API does not reach: no member if they were none (`None`);
/// a member who was one leaves, their calendar stopped (nothing of Kalends' can be taken out
/// of a mailbox the API does not reach), saying why and that the next read covers them once
/// the mailbox is there.
async fn no_mailbox(
    cx: Context<'_>,
    organisation: &OrganisationConnection,
    before: Option<&OrganisationMember>,
) -> Result<Option<OrganisationMember>, OrganisationError> {
    let Some(before) = before else {
        return Ok(None);
    };
    stop_covering(cx, organisation.tenant_id, before, false, None).await?;
    let why = "no Exchange Online mailbox the calendar API reaches (hosted on the organisation's \
               own Exchange server, inactive, or still being set up); once it has one, the next \
               read covers it";
    let left = OrganisationMember {
        state: "left".into(),
        last_error: Some(why.into()),
        connection_id: None,
        ..before.clone()
    };
    Ok(Some(left))
}

/// Disconnects the calendar a member still has written into, moving into busy times only,
/// with Kalends' events removed from it; the member as it is then. A member whose address
/// changed is followed to the new one first: the cleanup's token is asked for that address, and
/// a calendar named by the address is reached by its new id. The provider refusing the new
/// address for now, the cleanup tries the old one.
async fn stop_writing(
    cx: Context<'_>,
    organisation: &OrganisationConnection,
    org: &Org,
    user: &OrgUser,
    member: &OrganisationMember,
) -> Result<OrganisationMember, OrganisationError> {
    let mut member = member.clone();
    if !member.email.eq_ignore_ascii_case(&user.email)
        && let Followed::TakenByHand =
            follow_member(cx, organisation, org, user, &mut member, false).await?
    {
        // Connected by hand under the new address: `cover_user` gives this one up, through a
        // token for that address and the calendar's new id.
        return Ok(member);
    }
    stop_covering(cx, organisation.tenant_id, &member, true, Some(org)).await?;
    Ok(member)
}

/// Whether `user`'s member moves to the address the directory gives now, under which the staff
/// member connected the calendar themselves (`theirs`, its status), from the `covered` member's
/// old one: the covered calendar is given up for a working own one, and with none covered, the
/// member and the staff member's e-mail simply follow.
async fn follow_to_their_own(
    cx: Context<'_>,
    organisation: &OrganisationConnection,
    org: &Org,
    user: &OrgUser,
    covered: Option<OrganisationMember>,
    theirs: ConnectionStatus,
) -> Result<bool, OrganisationError> {
    match covered {
        Some(covered) if covered.connection_id.is_some() => {
            if theirs != ConnectionStatus::Active {
                return Ok(false);
            }
            give_up_covered(cx, organisation, org, user, covered).await
        }
        Some(member) => {
            let email = user.email.to_ascii_lowercase();
            let moved =
                Readdress { from: &member.email, to: &email, calendars: &[], keep_account: true };
            follow_address(cx, organisation, user, member.staff_id, None, moved).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// How following a member to the address the directory gives now went.
enum Followed {
    /// The member and their covered calendar are under the new address.
    Moved,
    /// The provider refuses the new address for now: nothing changed.
    Refused,
    /// The staff member connected the new address by hand: nothing changed.
    TakenByHand,
}

/// Follows `member` (their covered calendar included) to `user`'s address, with the calendars
/// listed for it through a token for it; `keep_account` as [`Readdressed::keep_account`]. The
/// member is changed only when moved.
async fn follow_member(
    cx: Context<'_>,
    organisation: &OrganisationConnection,
    org: &Org,
    user: &OrgUser,
    member: &mut OrganisationMember,
    keep_account: bool,
) -> Result<Followed, OrganisationError> {
    let calendars = match reach(cx, org, user, false).await {
        Ok((_, _, calendars)) => calendars,
        Err(Unminted::Unreachable(error)) => return Err(OrganisationError::Unreachable(error)),
        Err(Unminted::Refused(_) | Unminted::NoMailbox) => return Ok(Followed::Refused),
    };
    let email = user.email.to_ascii_lowercase();
    let moved = Readdress { from: &member.email, to: &email, calendars: &calendars, keep_account };
    let (staff_id, ours) = (member.staff_id, member.connection_id);
    match follow_address(cx, organisation, user, staff_id, ours, moved).await {
        Ok(()) => {
            member.email = email;
            Ok(Followed::Moved)
        }
        Err(StoreError::DuplicateConnection) => Ok(Followed::TakenByHand),
        Err(error) => Err(error.into()),
    }
}

/// A token for `user` in the organisation's tier, and their calendars as it lists them.
async fn reach(
    cx: Context<'_>,
    org: &Org,
    user: &OrgUser,
    refused: bool,
) -> Result<(AccessToken, DateTime<Utc>, Vec<RemoteCalendar>), Unminted> {
    let (token, expires_at) = org.token(user, org.busy_only).await?;
    let calendars = org.calendars(cx.credentials, &token, user).await?;
    if refused {
        org.check_writing(cx.credentials, &token, user).await?;
    }
    Ok((token, expires_at, calendars))
}

/// Gives up the `covered` member's calendar, still under their old address, for the one the
/// staff member connected themselves under the new address: two connections to one calendar
/// would put each booking in it twice. The member is followed to the new address (the covered
/// calendar keeps its account, the new one being theirs) and the covered calendar is
/// disconnected with Kalends' events taken out of it, through a token for the new address.
/// `false`: the provider refuses the new address for now, nothing changed; the next read tries
/// again.
async fn give_up_covered(
    cx: Context<'_>,
    organisation: &OrganisationConnection,
    org: &Org,
    user: &OrgUser,
    mut covered: OrganisationMember,
) -> Result<bool, OrganisationError> {
    match follow_member(cx, organisation, org, user, &mut covered, true).await? {
        Followed::Moved => {
            stop_covering(cx, organisation.tenant_id, &covered, true, Some(org)).await?;
            Ok(true)
        }
        Followed::Refused | Followed::TakenByHand => Ok(false),
    }
}

/// The status of the connection the staff member made themselves to the account `email`, if
/// any: one of theirs to it, not revoked, other than the covered one (`ours`).
async fn connected_by_hand(
    cx: Context<'_>,
    tenant_id: Uuid,
    staff_id: Uuid,
    provider: Provider,
    email: &str,
    ours: Option<Uuid>,
) -> Result<Option<(Uuid, ConnectionStatus)>, StoreError> {
    let theirs = cx.store.list_connections(tenant_id, Some(staff_id)).await?;
    Ok(theirs
        .into_iter()
        .find(|c| {
            c.provider == provider
                && c.account_email.eq_ignore_ascii_case(email)
                && c.status != ConnectionStatus::Revoked
                && Some(c.id) != ours
        })
        .map(|c| (c.id, c.status)))
}

/// A member's address as one read found it changed, with the calendars listed for the new
/// one.
struct Readdress<'a> {
    from: &'a str,
    to: &'a str,
    calendars: &'a [RemoteCalendar],
    /// The covered calendar keeps the old address as its account (see
    /// [`Readdressed::keep_account`]).
    keep_account: bool,
}

/// Follows a covered member (`staff_id`, their calendar `ours`) to their new address, with
/// what Kalends keeps under a calendar named by the address (Google's primary one, a
/// busy-times-only one), which may have been renamed with it.
async fn follow_address(
    cx: Context<'_>,
    organisation: &OrganisationConnection,
    user: &OrgUser,
    staff_id: Uuid,
    ours: Option<Uuid>,
    moved: Readdress<'_>,
) -> Result<(), StoreError> {
    let Readdress { from, to, calendars, keep_account } = moved;
    let listed = |id: &str| calendars.iter().find(|c| c.id.eq_ignore_ascii_case(id));
    let calendar = listed(from)
        .is_none()
        .then(|| listed(to))
        .flatten()
        .map(|c| (from.to_owned(), c.id.clone()));
    let readdressed = Readdressed {
        organisation_id: organisation.id,
        directory_id: user.id.clone(),
        staff_id,
        old: from.to_owned(),
        new: to.to_owned(),
        connection_id: ours,
        calendar,
        keep_account,
    };
    cx.store.follow_member_address(organisation.tenant_id, &readdressed).await?;
    tracing::info!(organisation = %organisation.id, staff = %staff_id, "a member's address changed in the directory");
    Ok(())
}

/// The staff member a directory user already is: the one the organisation covered them as
/// (`known`, unless the host removed them since), or the one with their address who is not
/// another user of the directory (`taken`: directory id, staff id).
async fn known_staff(
    store: &Store,
    tenant_id: Uuid,
    user: &OrgUser,
    known: Option<Uuid>,
    taken: &[(String, Uuid)],
) -> Result<Option<Staff>, StoreError> {
    if let Some(id) = known {
        match store.staff(tenant_id, id).await {
            Err(StoreError::NotFound) => {}
            found => return found.map(Some),
        }
    }
    let staff = store.staff_by_email(tenant_id, &user.email).await?;
    Ok(staff.filter(|staff| !taken.iter().any(|(other, id)| *other != user.id && *id == staff.id)))
}

/// The staff member `known` ([`known_staff`]), or a new one for the directory user, added when
/// the user has a calendar to cover or a refusal to show.
async fn staff_or_add(
    store: &Store,
    tenant_id: Uuid,
    user: &OrgUser,
    known: Option<Staff>,
) -> Result<Staff, StoreError> {
    if let Some(staff) = known {
        return Ok(staff);
    }
    let name = if user.name.trim().is_empty() { user.email.clone() } else { user.name.clone() };
    let new = NewStaff {
        external_id: Some(user.id.clone()),
        name,
        email: user.email.parse().ok(),
        time_zone: None,
    };
    match store.create_staff(tenant_id, new.clone()).await {
        // The host uses that id for someone else: keep theirs, add this one without.
        Err(StoreError::DuplicateExternalId) => {
            store.create_staff(tenant_id, NewStaff { external_id: None, ..new }).await
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(why: &str) -> &'static str {
        match OrganisationError::of_tenant(TenantError::Refused(why.into())) {
            OrganisationError::Invalid { field, .. } => field,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn each_entra_refusal_points_at_the_field_to_fix_by_its_whole_number() {
        assert_eq!(field("AADSTS90002: Tenant 'x' not found."), "tenant_id");
        assert_eq!(field("AADSTS700016: Application with identifier"), "client_id");
        // 7000215 starts like 700021: the secret, not the certificate.
        assert_eq!(field("AADSTS7000215: Invalid client secret provided."), "client_secret");
        assert_eq!(
            field("AADSTS700021: Client assertion application identifier"),
            "client_certificate"
        );
        assert_eq!(field("AADSTS700027: The certificate with identifier"), "client_certificate");
        assert_eq!(field("invalid_client"), "client_secret");
    }

    #[test]
    fn a_user_a_listing_has_twice_is_covered_once_as_last_listed() {
        let user = |id: &str, email: &str| OrgUser {
            id: id.into(),
            email: email.into(),
            name: String::new(),
            standing: Standing::Active,
        };
        let listed = vec![
            user("1", "ann@salon.example"),
            user("2", "bo@salon.example"),
            user("1", "ann.b@salon.example"),
            user("3", "cy@salon.example"),
        ];
        let once: Vec<(String, String)> =
            once_each(listed).into_iter().map(|user| (user.id, user.email)).collect();
        let expected =
            [("2", "bo@salon.example"), ("1", "ann.b@salon.example"), ("3", "cy@salon.example")];
        assert_eq!(once, expected.map(|(id, email)| (id.to_owned(), email.to_owned())));
    }
}

/// What the organisation log says a change did: words for the administrator, never a secret.
mod log {
    use super::Change;

    /// "2 users in scope (the unit Staff of salon.example)", and the tier.
    pub(super) fn connected(users: usize, scope: &str, busy_only: bool) -> String {
        let tier = if busy_only { "; busy times only, nothing written" } else { "" };
        format!("{} in scope ({scope}){tier}", users_in(users))
    }

    /// What changed, and who is in scope now.
    pub(super) fn changed(change: &Change, scope: &str, users: usize, secret: &str) -> String {
        let mut what = Vec::new();
        if let Some(admin) = &change.admin_email {
            what.push(format!("administrator set to {admin}"));
        }
        if change.org_unit.is_some() {
            what.push(format!("scope set to {scope}"));
        }
        if change.key.is_some() {
            what.push(format!("{secret} replaced"));
        }
        match change.busy_only {
            Some(true) => {
                what.push("busy times only from now: Kalends' events being removed".into());
            }
            Some(false) => what.push("bookings written from now, not only busy times read".into()),
            None => {}
        }
        if what.is_empty() {
            what.push("nothing changed".to_owned());
        }
        format!("{}; {} in scope", what.join(", "), users_in(users))
    }

    /// Who joined and who left the scope (the first few by address), and how many are in it.
    pub(super) fn refreshed(moved: &super::Moved, in_scope: usize) -> String {
        const NAMED: usize = 5;
        let named = |what: &str, who: &[String]| {
            let mut said = format!("{} {what}", users_in(who.len()));
            if !who.is_empty() {
                let more = who.len().saturating_sub(NAMED);
                let mut names = who.iter().take(NAMED).cloned().collect::<Vec<_>>().join(", ");
                if more > 0 {
                    names.push_str(&format!(" and {more} more"));
                }
                said.push_str(&format!(" ({names})"));
            }
            said
        };
        let readdressed = match moved.readdressed.len() {
            0 => String::new(),
            n => {
                let said = moved.readdressed.iter().take(NAMED);
                let mut names: Vec<String> =
                    said.map(|(old, new)| format!("{old} is now {new}")).collect();
                if n > NAMED {
                    names.push(format!("{} more", n - NAMED));
                }
                let what = if n == 1 { "address" } else { "addresses" };
                format!("{n} {what} changed ({}); ", names.join(", "))
            }
        };
        if moved.waiting > 0 {
            let them = if moved.waiting == 1 { "member" } else { "members" };
            return format!(
                "{} in scope; {} {them} to cover or stop, in the background",
                users_in(in_scope),
                moved.waiting
            );
        }
        let again = match moved.again {
            0 => String::new(),
            1 => "1 calendar covered again; ".to_owned(),
            n => format!("{n} calendars covered again; "),
        };
        format!(
            "{}; {}; {readdressed}{again}{} in scope",
            named("joined", &moved.joined),
            named("left", &moved.left),
            users_in(in_scope)
        )
    }

    /// How many covered calendars stopped, and what became of Kalends' events in them.
    pub(super) fn disconnected(stopped: usize, remove_events: bool) -> String {
        let calendars = if stopped == 1 { "calendar" } else { "calendars" };
        let events = if remove_events {
            "Kalends' events are being removed from them"
        } else {
            "Kalends' events were left in them"
        };
        format!("{stopped} covered {calendars} stopped; {events}")
    }

    fn users_in(n: usize) -> String {
        if n == 1 { "1 user".to_owned() } else { format!("{n} users") }
    }

    #[cfg(test)]
    mod tests {
        use secrecy::SecretString;

        use super::*;

        #[test]
        fn a_disconnection_says_how_many_calendars_stopped_and_what_became_of_the_events() {
            assert_eq!(
                disconnected(2, true),
                "2 covered calendars stopped; Kalends' events are being removed from them"
            );
            assert_eq!(
                disconnected(1, false),
                "1 covered calendar stopped; Kalends' events were left in them"
            );
        }

        #[test]
        fn a_change_names_each_setting_changed_and_only_that_the_secret_was_replaced() {
            let change = Change {
                admin_email: Some("it@salon.example".into()),
                org_unit: Some(None),
                key: Some(SecretString::from("-----BEGIN PRIVATE KEY-----")),
                busy_only: None,
            };
            let said = changed(&change, "everyone in salon.example", 3, "the service account key");
            assert_eq!(
                said,
                "administrator set to it@salon.example, scope set to everyone in salon.example, \
                 the service account key replaced; 3 users in scope"
            );
        }

        #[test]
        fn a_read_of_the_directory_names_the_first_joiners_and_leavers() {
            let moved = crate::organisations::Moved {
                joined: (1..=7).map(|n| format!("u{n}@salon.example")).collect(),
                left: vec!["bo@salon.example".into()],
                readdressed: Vec::new(),
                again: 0,
                waiting: 0,
            };
            assert_eq!(
                refreshed(&moved, 9),
                "7 users joined (u1@salon.example, u2@salon.example, u3@salon.example, \
                 u4@salon.example, u5@salon.example and 2 more); 1 user left (bo@salon.example); \
                 9 users in scope"
            );
            let renamed = crate::organisations::Moved {
                readdressed: vec![("bo@salon.example".into(), "bo.ng@salon.example".into())],
                ..Default::default()
            };
            assert_eq!(
                refreshed(&renamed, 2),
                "0 users joined; 0 users left; 1 address changed (bo@salon.example is now \
                 bo.ng@salon.example); 2 users in scope"
            );
            let tier = crate::organisations::Moved { again: 62, ..Default::default() };
            assert_eq!(
                refreshed(&tier, 62),
                "0 users joined; 0 users left; 62 calendars covered again; 62 users in scope"
            );
            let many = crate::organisations::Moved { waiting: 120, ..Default::default() };
            assert_eq!(
                refreshed(&many, 130),
                "130 users in scope; 120 members to cover or stop, in the background"
            );
            let nobody = crate::organisations::Moved::default();
            assert_eq!(refreshed(&nobody, 2), "0 users joined; 0 users left; 2 users in scope");
        }

        #[test]
        fn a_connection_says_who_is_in_scope_and_the_tier() {
            assert_eq!(connected(1, "the group staff", false), "1 user in scope (the group staff)");
            assert_eq!(
                connected(0, "everyone in the tenant", true),
                "0 users in scope (everyone in the tenant); busy times only, nothing written"
            );
        }
    }
}
