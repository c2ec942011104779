//! Organisation-wide connections: an administrator connects a whole Google Workspace once, and
//! every user the directory puts in scope becomes a staff member whose calendar is connected
//! like one connected by hand (a covered connection: its tokens are minted for the user by the
//! organisation's service account instead of refreshed; see `Credentials`).
//!
//! Creating one checks everything Google will be asked later before anything is stored: the key,
//! the directory as the administrator, and the calendar scopes for the administrator's own
//! calendar. Reading the directory again (on demand) covers joiners and stops the leavers'
//! calendars; deleting the connection stops every covered calendar at once (their tokens are
//! taken out of them in the same request).

use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use kalends_core::domain::{ConnectionStatus, ConnectionTokens, NewStaff};
use kalends_core::domain::{Provider, Staff};
use kalends_core::seal::Sealer;
use kalends_providers::ProviderError;
use kalends_providers::provider::Providers;
use kalends_providers::session::CALENDAR_SCOPES;
use kalends_providers::workspace::{DirectoryUser, Workspace, WorkspaceError};
use kalends_store::{NewConnection, NewOrganisationConnection, OrganisationConnection};
use kalends_store::{OrganisationMember, OrganisationPatch, Store, StoreError};
use secrecy::{ExposeSecret as _, SecretString};
use uuid::Uuid;

use super::connections;

/// How long a minted token is taken to last when Google does not say (it says an hour).
const MINTED_LIFETIME: chrono::Duration = chrono::Duration::minutes(55);

/// Directory users covered at the same time.
const COVERED_AT_ONCE: usize = 8;

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
    /// Google did not answer (or answered with a server error): nothing changed; try again.
    #[error("Google did not answer: {0}")]
    Unreachable(ProviderError),
    /// The store failed, or the connection is not there.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OrganisationError {
    /// A Workspace's refusal, as the field the administrator must change.
    fn of(error: WorkspaceError) -> Self {
        match error {
            WorkspaceError::Provider(error) => Self::Unreachable(error),
            error @ (WorkspaceError::NotAdmin(_) | WorkspaceError::UnknownUser(_)) => {
                Self::Invalid { field: "admin_email", message: error.to_string() }
            }
            error => Self::Invalid { field: "service_account_key", message: error.to_string() },
        }
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
    /// Google, configured.
    pub providers: &'a Providers,
    /// When a newly covered calendar's next scheduled import is due.
    pub next_import_at: DateTime<Utc>,
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

/// Reads the directory in scope and checks the calendar scopes on the administrator's own
/// calendar: what creating or changing the connection must prove first.
async fn check(
    workspace: &Workspace,
    admin_email: &str,
    domain: &str,
    org_unit: Option<&str>,
) -> Result<Vec<DirectoryUser>, OrganisationError> {
    let users =
        workspace.directory(admin_email, domain, org_unit).await.map_err(OrganisationError::of)?;
    workspace.user_token(admin_email, CALENDAR_SCOPES).await.map_err(OrganisationError::of)?;
    Ok(users)
}

/// Connects a Google Workspace: checked first (nothing is stored when Google refuses), then
/// stored with its key sealed, and every user in scope covered (a user Google does not answer
/// for leaves the connection in `error` until the next read covers them).
pub async fn create_google(
    cx: Context<'_>,
    tenant_id: Uuid,
    input: GoogleWorkspace,
) -> Result<OrganisationConnection, OrganisationError> {
    if input.busy_only {
        return Err(OrganisationError::Invalid {
            field: "busy_only",
            message: "the busy-times-only tier is not available yet: connect with busy_only false"
                .into(),
        });
    }
    let workspace = workspace_of(cx.providers, &input.key)?;
    let users =
        check(&workspace, &input.admin_email, &input.domain, input.org_unit.as_deref()).await?;
    let new = NewOrganisationConnection {
        provider: Provider::Google.as_str().to_owned(),
        domain: input.domain,
        admin_email: input.admin_email,
        org_unit: input.org_unit,
        busy_only: input.busy_only,
        service_account: workspace.service_account().to_owned(),
        key: input.key,
    };
    let organisation = cx.store.create_organisation_connection(tenant_id, new, cx.sealer).await?;
    tracing::info!(organisation = %organisation.id, users = users.len(), "organisation connected");
    // The credentials are proven and stored: Google failing for a user now is the connection's
    // `error` to show (the next read covers them), not a refused creation.
    match apply_directory(cx, &organisation, &workspace, users).await {
        Ok(()) | Err(OrganisationError::Unreachable(_) | OrganisationError::Invalid { .. }) => {}
        Err(error @ OrganisationError::Store(_)) => return Err(error),
    }
    Ok(cx.store.organisation_connection(tenant_id, organisation.id).await?)
}

/// A change the administrator asks for.
#[derive(Clone, Debug, Default)]
pub struct Change {
    /// Another administrator.
    pub admin_email: Option<String>,
    /// Another unit (`Some(None)`: the whole domain).
    pub org_unit: Option<Option<String>>,
    /// A replacement key.
    pub key: Option<SecretString>,
}

/// Changes the administrator, the unit or the key: checked like a creation, then the
/// directory applied with the new scope.
pub async fn update(
    cx: Context<'_>,
    tenant_id: Uuid,
    id: Uuid,
    change: Change,
) -> Result<OrganisationConnection, OrganisationError> {
    let current = cx.store.organisation_connection(tenant_id, id).await?;
    let key = match &change.key {
        Some(key) => key.clone(),
        None => cx.store.organisation_key(tenant_id, id, cx.sealer).await?,
    };
    let workspace = workspace_of(cx.providers, &key)?;
    let admin_email = change.admin_email.clone().unwrap_or(current.admin_email.clone());
    let org_unit = change.org_unit.clone().unwrap_or(current.org_unit.clone());
    let users = check(&workspace, &admin_email, &current.domain, org_unit.as_deref()).await?;
    let patch = OrganisationPatch {
        admin_email: change.admin_email,
        org_unit: change.org_unit,
        key: change.key.map(|key| (key, workspace.service_account().to_owned())),
    };
    let organisation =
        cx.store.update_organisation_connection(tenant_id, id, patch, cx.sealer).await?;
    apply_directory(cx, &organisation, &workspace, users).await?;
    Ok(cx.store.organisation_connection(tenant_id, id).await?)
}

/// Reads the directory again: joiners covered, leavers' calendars stopped. A refusal is kept on
/// the connection (its `status` and `last_error`) for the administrator, and answered.
pub async fn refresh(
    cx: Context<'_>,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<OrganisationConnection, OrganisationError> {
    let organisation = cx.store.organisation_connection(tenant_id, id).await?;
    let key = cx.store.organisation_key(tenant_id, id, cx.sealer).await?;
    let workspace = workspace_of(cx.providers, &key)?;
    let read = workspace
        .directory(
            &organisation.admin_email,
            &organisation.domain,
            organisation.org_unit.as_deref(),
        )
        .await;
    let users = match read {
        Ok(users) => users,
        Err(error) => {
            let error = OrganisationError::of(error);
            cx.store.record_organisation_refresh(id, Some(&error.to_string())).await?;
            return Err(error);
        }
    };
    apply_directory(cx, &organisation, &workspace, users).await?;
    Ok(cx.store.organisation_connection(tenant_id, id).await?)
}

/// Disconnects the organisation: every covered calendar is disconnected now (its tokens out of
/// it, the Kalends events removed from it by the queued cleanup when `remove_events`), then the
/// key and the members are forgotten.
pub async fn delete(
    cx: Context<'_>,
    tenant_id: Uuid,
    id: Uuid,
    remove_events: bool,
) -> Result<(), StoreError> {
    // The key mints each cleanup a fresh token; one that no longer opens (sealed under a secret
    // key since removed) or parses only means the cleanups use the calendars' last tokens.
    let workspace = match cx.store.organisation_key(tenant_id, id, cx.sealer).await {
        Ok(key) => workspace_of(cx.providers, &key).ok(),
        Err(StoreError::Corrupt(_)) => None,
        Err(other) => return Err(other),
    };
    let members = cx.store.organisation_members(tenant_id, id).await?;
    for member in &members {
        stop_covering(cx, tenant_id, member, remove_events, workspace.as_ref()).await?;
    }
    cx.store.delete_organisation_connection(tenant_id, id).await?;
    tracing::info!(organisation = %id, "organisation disconnected");
    Ok(())
}

/// Disconnects a member's covered calendar, if it is still connected. When Kalends' events are
/// to be removed, the calendar first gets a token minted now through `workspace`: the cleanup
/// inherits the calendar's token and has no way to mint one, and the last one minted may be at
/// the end of its hour (a user no longer in the Workspace gets none; their calendar went with
/// them).
async fn stop_covering(
    cx: Context<'_>,
    tenant_id: Uuid,
    member: &OrganisationMember,
    remove_events: bool,
    workspace: Option<&Workspace>,
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
    if let Some(workspace) = workspace.filter(|_| remove_events) {
        match workspace.user_token(&member.email, CALENDAR_SCOPES).await {
            Ok(minted) => {
                let tokens = ConnectionTokens {
                    access_token: minted.token.secret().clone(),
                    refresh_token: None,
                    expires_at: minted.expires_at.unwrap_or_else(|| Utc::now() + MINTED_LIFETIME),
                };
                cx.store.store_refreshed_tokens(connection.id, &tokens, cx.sealer).await?;
            }
            Err(error) => {
                tracing::info!(connection = %connection.id, %error, "no fresh token for the cleanup; it uses the calendar's last one");
            }
        }
    }
    connections::disconnect(cx.store, &connection, remove_events, Utc::now(), None).await?;
    Ok(())
}

/// Brings the members in line with the directory's `users`: each active user in scope covered
/// (a staff member matched by address, or added), each member no longer there (or suspended)
/// marked `left` with their calendar disconnected and Kalends' events removed from it.
async fn apply_directory(
    cx: Context<'_>,
    organisation: &OrganisationConnection,
    workspace: &Workspace,
    users: Vec<DirectoryUser>,
) -> Result<(), OrganisationError> {
    // How it went is kept on the connection: a user Google did not answer for is covered by the
    // next read (hourly, or `refresh`), and the administrator sees why meanwhile.
    let outcome = apply_users(cx, organisation, workspace, users).await;
    match &outcome {
        Ok(()) => cx.store.record_organisation_refresh(organisation.id, None).await?,
        Err(OrganisationError::Store(_)) => {}
        Err(error) => {
            let error = error.to_string();
            cx.store.record_organisation_refresh(organisation.id, Some(&error)).await?;
        }
    }
    outcome
}

async fn apply_users(
    cx: Context<'_>,
    organisation: &OrganisationConnection,
    workspace: &Workspace,
    users: Vec<DirectoryUser>,
) -> Result<(), OrganisationError> {
    let tenant_id = organisation.tenant_id;
    let known = cx.store.organisation_members(tenant_id, organisation.id).await?;
    let in_scope: Vec<DirectoryUser> = users.into_iter().filter(|u| !u.suspended).collect();
    for member in &known {
        if member.state != "left" && !in_scope.iter().any(|u| u.id == member.directory_id) {
            stop_covering(cx, tenant_id, member, true, Some(workspace)).await?;
            let left = OrganisationMember {
                state: "left".into(),
                last_error: Some("no longer in the directory's scope".into()),
                ..member.clone()
            };
            cx.store.save_organisation_member(tenant_id, organisation.id, &left).await?;
            tracing::info!(organisation = %organisation.id, staff = %member.staff_id, "a member left the organisation's scope");
        }
    }
    let mut joiners = Vec::new();
    for user in in_scope {
        if !known.iter().any(|m| m.directory_id == user.id && m.state == "active") {
            joiners.push(async move {
                let member = cover(cx, tenant_id, workspace, user).await?;
                cx.store.save_organisation_member(tenant_id, organisation.id, &member).await?;
                Ok::<_, OrganisationError>(())
            });
        }
    }
    // A few users at a time: a Workspace of hundreds is covered in a bounded time, and Google's
    // token endpoint and calendar list are not hit by all of them at once. Every write happens
    // inside the stream's futures: one awaited outside it would wait for a database connection
    // that a future it no longer polls holds (SQLite has one writer).
    let mut covered = futures::stream::iter(joiners).buffer_unordered(COVERED_AT_ONCE);
    while let Some(done) = covered.next().await {
        done?;
    }
    Ok(())
}

/// Covers one directory user: their staff member (found by address, or added with the
/// directory's id as `external_id`), and their calendar connected with a token minted for them.
/// A user Google refuses is a `failed` member saying why; the others go on.
async fn cover(
    cx: Context<'_>,
    tenant_id: Uuid,
    workspace: &Workspace,
    user: DirectoryUser,
) -> Result<OrganisationMember, OrganisationError> {
    let staff = staff_for(cx.store, tenant_id, &user).await?;
    let email = user.email.to_ascii_lowercase();
    let member = |connection_id, error: Option<String>| OrganisationMember {
        directory_id: user.id.clone(),
        staff_id: staff.id,
        email: email.clone(),
        connection_id,
        state: if error.is_some() { "failed" } else { "active" }.into(),
        last_error: error,
    };
    let minted = match workspace.user_token(&email, CALENDAR_SCOPES).await {
        Ok(minted) => minted,
        Err(WorkspaceError::Provider(error)) => return Err(OrganisationError::Unreachable(error)),
        Err(refused) => return Ok(member(None, Some(refused.to_string()))),
    };
    let google = cx.providers.get(Provider::Google);
    let calendars = match google.list_calendars(&minted.token).await {
        Ok(calendars) => calendars.into_iter().map(Into::into).collect(),
        Err(error) if error.is_retryable() => return Err(OrganisationError::Unreachable(error)),
        Err(error) => return Ok(member(None, Some(error.to_string()))),
    };
    let expires_at = minted.expires_at.unwrap_or_else(|| Utc::now() + MINTED_LIFETIME);
    let new = NewConnection {
        staff_id: staff.id,
        provider: Provider::Google,
        account_email: email.clone(),
        calendars,
        tokens: ConnectionTokens {
            access_token: minted.token.secret().clone(),
            refresh_token: None,
            expires_at,
        },
    };
    let connection =
        connections::connected(cx.store, cx.sealer, tenant_id, new, cx.next_import_at).await?;
    Ok(member(Some(connection.id), None))
}

/// The staff member a directory user is: the one with their address, or a new one.
async fn staff_for(
    store: &Store,
    tenant_id: Uuid,
    user: &DirectoryUser,
) -> Result<Staff, StoreError> {
    if let Some(staff) = store.staff_by_email(tenant_id, &user.email).await? {
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
