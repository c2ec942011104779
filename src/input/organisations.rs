//! An organisation-wide connection's fields, from the API's body or the console's form: the
//! Workspace or Microsoft 365 organisation to connect, or every field at fault.

use kalends_core::domain::Email;
use kalends_service::organisations::{GoogleWorkspace, MicrosoftTenant};
use secrecy::SecretString;

use super::FieldError;

/// What an administrator submitted to connect a Google Workspace.
#[derive(Debug, Default)]
pub struct GoogleFields<'a> {
    /// The service account's JSON key: the object, or its text (a form's paste, a file read).
    pub service_account_key: Option<serde_json::Value>,
    /// The Workspace's primary domain.
    pub domain: Option<&'a str>,
    /// A Workspace administrator.
    pub admin_email: Option<&'a str>,
    /// The organisational unit in scope.
    pub org_unit: Option<&'a str>,
    /// Only busy times.
    pub busy_only: bool,
    /// Fields of another provider that were given (each refused by name).
    pub foreign: Vec<&'static str>,
}

/// The Workspace the fields describe, or every field at fault.
pub fn google_workspace(fields: GoogleFields<'_>) -> Result<GoogleWorkspace, Vec<FieldError>> {
    let mut errors: Vec<FieldError> = fields
        .foreign
        .iter()
        .map(|field| FieldError::new(*field, "a Microsoft field; this is a Google connection"))
        .collect();
    let key = match fields.service_account_key.map(key_of) {
        Some(Ok(key)) => Some(key),
        Some(Err(error)) => {
            errors.push(error);
            None
        }
        None => {
            errors.push(FieldError::new("service_account_key", "required: the JSON key"));
            None
        }
    };
    let domain = fields.domain.unwrap_or_default().trim().to_ascii_lowercase();
    if domain.is_empty() || domain.contains('@') || !domain.contains('.') {
        errors
            .push(FieldError::new("domain", "required: the Workspace's domain, salon.example say"));
    }
    let admin_email = match fields.admin_email {
        Some(admin) => email_of("admin_email", admin, &mut errors),
        None => {
            errors.push(FieldError::new("admin_email", "required: a Workspace administrator"));
            String::new()
        }
    };
    match key {
        Some(key) if errors.is_empty() => Ok(GoogleWorkspace {
            key,
            domain,
            admin_email,
            org_unit: fields.org_unit.and_then(org_unit_of),
            busy_only: fields.busy_only,
        }),
        _ => Err(errors),
    }
}

/// What an administrator submitted to connect a Microsoft 365 organisation.
#[derive(Debug, Default)]
pub struct MicrosoftFields<'a> {
    /// The tenant (directory) id.
    pub tenant_id: Option<&'a str>,
    /// The application (client) id.
    pub client_id: Option<&'a str>,
    /// The client secret's value.
    pub client_secret: Option<SecretString>,
    /// The security group in scope.
    pub group_id: Option<&'a str>,
    /// Only busy times.
    pub busy_only: bool,
    /// Fields of another provider that were given (each refused by name).
    pub foreign: Vec<&'static str>,
}

/// The organisation the fields describe, or every field at fault.
pub fn microsoft_tenant(fields: MicrosoftFields<'_>) -> Result<MicrosoftTenant, Vec<FieldError>> {
    use secrecy::ExposeSecret as _;
    let mut errors: Vec<FieldError> = fields
        .foreign
        .iter()
        .map(|field| FieldError::new(*field, "a Google field; this is a Microsoft connection"))
        .collect();
    let mut id = |field: &'static str, value: Option<&str>, what: &str| {
        let value = value.unwrap_or_default().trim().to_ascii_lowercase();
        if value.is_empty() {
            errors.push(FieldError::new(field, format!("required: {what}")));
        } else if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.') {
            errors.push(FieldError::new(
                field,
                format!("{what}, as the Microsoft Entra admin center shows it"),
            ));
        }
        value
    };
    let tenant_id = id("tenant_id", fields.tenant_id, "the directory (tenant) id");
    let client_id = id("client_id", fields.client_id, "the application (client) id");
    let group_id = fields
        .group_id
        .filter(|group| !group.trim().is_empty())
        .map(|group| id("group_id", Some(group), "the security group's object id"));
    let client_secret =
        fields.client_secret.filter(|secret| !secret.expose_secret().trim().is_empty());
    if client_secret.is_none() {
        errors.push(FieldError::new("client_secret", "required: the client secret's value"));
    }
    match client_secret {
        Some(client_secret) if errors.is_empty() => Ok(MicrosoftTenant {
            tenant_id,
            client_id,
            client_secret,
            group_id,
            busy_only: fields.busy_only,
        }),
        _ => Err(errors),
    }
}

/// A key given as the JSON object or as its text, kept as text.
pub fn key_of(value: serde_json::Value) -> Result<SecretString, FieldError> {
    match value {
        serde_json::Value::String(text) if !text.trim().is_empty() => Ok(SecretString::from(text)),
        object @ serde_json::Value::Object(_) => Ok(SecretString::from(object.to_string())),
        _ => Err(FieldError::new(
            "service_account_key",
            "the service account's JSON key: the object Google Cloud downloads, or its text",
        )),
    }
}

/// An administrator's address, lower case; a problem with it is added to `errors`.
pub fn email_of(field: &str, value: &str, errors: &mut Vec<FieldError>) -> String {
    if value.trim().parse::<Email>().is_err() {
        errors.push(FieldError::new(field, "an e-mail address"));
    }
    value.trim().to_ascii_lowercase()
}

/// `/Staff` for `Staff` or `/Staff/`; `None` for the root.
pub fn org_unit_of(value: &str) -> Option<String> {
    let trimmed = value.trim().trim_matches('/');
    (!trimmed.is_empty()).then(|| format!("/{trimmed}"))
}
