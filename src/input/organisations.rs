//! An organisation-wide connection's fields, from the API's body or the console's form: the
//! Workspace or Microsoft 365 organisation to connect, or every field at fault.

use kalends_core::domain::Email;
use kalends_service::organisations::{GoogleWorkspace, MicrosoftTenant};
use secrecy::SecretString;
use serde::Deserialize;

use super::FieldError;

/// A service account's JSON key as submitted (the object, or its text): read like the JSON it
/// is, and never shown by `Debug`, so that a logged request or field set cannot carry it.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct KeyJson(pub serde_json::Value);

impl std::fmt::Debug for KeyJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyJson([not shown])")
    }
}

/// What an administrator submitted to connect a Google Workspace.
#[derive(Debug, Default)]
pub struct GoogleFields<'a> {
    /// The service account's JSON key: the object, or its text (a form's paste, a file read).
    pub service_account_key: Option<KeyJson>,
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
    /// Or the application's certificate with its private key (PEM).
    pub client_certificate: Option<SecretString>,
    /// The security group in scope.
    pub group_id: Option<&'a str>,
    /// Only busy times.
    pub busy_only: bool,
    /// Fields of another provider that were given (each refused by name).
    pub foreign: Vec<&'static str>,
}

/// The organisation the fields describe, or every field at fault.
pub fn microsoft_tenant(fields: MicrosoftFields<'_>) -> Result<MicrosoftTenant, Vec<FieldError>> {
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
    let group_id = match fields.group_id.and_then(group_of).transpose() {
        Ok(group) => group,
        Err(error) => {
            errors.push(error);
            None
        }
    };
    let credential = match credential_of(fields.client_secret, fields.client_certificate) {
        Ok(credential) => Some(credential),
        Err(error) => {
            errors.push(error);
            None
        }
    };
    match credential {
        Some(credential) if errors.is_empty() => Ok(MicrosoftTenant {
            tenant_id,
            client_id,
            credential,
            group_id,
            busy_only: fields.busy_only,
        }),
        _ => Err(errors),
    }
}

/// How a Microsoft application proves itself: its client secret's value, or its certificate with
/// the private key (PEM), exactly one of them; `None` of both: the field to fill.
pub fn credential_of(
    secret: Option<SecretString>,
    certificate: Option<SecretString>,
) -> Result<SecretString, FieldError> {
    use secrecy::ExposeSecret as _;
    let given =
        |value: Option<SecretString>| value.filter(|v| !v.expose_secret().trim().is_empty());
    let long = |value: &Option<SecretString>| {
        value.as_ref().is_some_and(|v| v.expose_secret().len() > MAX_CREDENTIAL_BYTES)
    };
    if long(&secret) {
        return Err(too_long("client_secret", "a client secret's value"));
    }
    if long(&certificate) {
        return Err(too_long("client_certificate", "a certificate with its private key"));
    }
    match (given(secret), given(certificate)) {
        (Some(_), Some(_)) => Err(FieldError::new(
            "client_certificate",
            "give the client secret or the certificate, not both",
        )),
        (Some(secret), None) if secret.expose_secret().trim_start().starts_with("-----BEGIN") => {
            Err(FieldError::new("client_secret", "a certificate goes in client_certificate"))
        }
        (Some(secret), None) => Ok(secret),
        (None, Some(certificate))
            if certificate.expose_secret().contains("-----BEGIN CERTIFICATE-----") =>
        {
            Ok(certificate)
        }
        (None, Some(_)) => Err(FieldError::new(
            "client_certificate",
            "the application's certificate and its private key, in PEM (-----BEGIN CERTIFICATE----- ...)",
        )),
        (None, None) => Err(FieldError::new(
            "client_secret",
            "required: the client secret's value (or the application's certificate, in client_certificate)",
        )),
    }
}

/// A security group's object id, lower case; `None` when blank (the whole tenant). Graph
/// knows a group only by its object id, never by its name.
pub fn group_of(text: &str) -> Option<Result<String, FieldError>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(match text.parse::<uuid::Uuid>() {
        Ok(id) => Ok(id.hyphenated().to_string()),
        Err(_) => Err(FieldError::new(
            "group_id",
            "the security group's object ID (a GUID such as 3b5f9d2e-1c4a-4e8b-9f6d-7a2c1e0b4d5f), \
             as the Microsoft Entra admin center shows it under Groups, the group, Overview; not \
             its name",
        )),
    })
}

/// The longest credential taken (a service account's key, a client secret, a certificate with
/// its private key): Google's keys are about 2.3 KB and a PEM pair a few; anything longer is
/// not one, and would be sealed, kept and copied into every covered calendar's cleanup.
pub const MAX_CREDENTIAL_BYTES: usize = 16 * 1024;

/// A key given as the JSON object or as its text, kept as text.
pub fn key_of(KeyJson(value): KeyJson) -> Result<SecretString, FieldError> {
    let text = match value {
        serde_json::Value::String(text) if !text.trim().is_empty() => text,
        object @ serde_json::Value::Object(_) => object.to_string(),
        _ => {
            return Err(FieldError::new(
                "service_account_key",
                "the service account's JSON key: the object Google Cloud downloads, or its text",
            ));
        }
    };
    if text.len() > MAX_CREDENTIAL_BYTES {
        return Err(too_long("service_account_key", "the JSON key Google Cloud downloads"));
    }
    Ok(SecretString::from(text))
}

/// A credential over [`MAX_CREDENTIAL_BYTES`], named with what belongs in `field`.
fn too_long(field: &str, what: &str) -> FieldError {
    FieldError::new(
        field,
        format!("longer than {} KiB: {what} is a few", MAX_CREDENTIAL_BYTES / 1024),
    )
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
