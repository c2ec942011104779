//! Reading a JSON document as a request's fields: serde's complaint about a wrong, unknown or
//! missing field becomes that field's problem.

use serde::de::DeserializeOwned;

use super::FieldError;

/// Why a JSON document did not read.
#[derive(Debug)]
pub enum JsonError {
    /// It is not JSON at all (serde's words).
    Malformed(String),
    /// A field is wrong, unknown or missing.
    Field(FieldError),
}

/// Deserializes `bytes`, turning serde's error into a field-level problem.
pub fn read<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() {
            return JsonError::Malformed(inner.to_string());
        }
        let path = e.path().to_string();
        let message = inner.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
        JsonError::Field(field_error(&path, without_value(message)))
    })
}

/// serde names unknown and missing fields only in its message; put them in the path.
fn field_error(path: &str, message: String) -> FieldError {
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|rest| rest.split('`').next());
    match named {
        Some(name) => {
            let field = if path == "." || path.is_empty() {
                name.to_owned()
            } else if path == name || path.ends_with(&format!(".{name}")) {
                path.to_owned()
            } else {
                format!("{path}.{name}")
            };
            let message = if message.starts_with("unknown") {
                format!(
                    "unknown field{}",
                    message
                        .split_once(", expected")
                        .map_or(String::new(), |(_, rest)| format!("; expected{rest}"))
                )
            } else {
                "is required".to_owned()
            };
            FieldError::new(field, message)
        }
        None => FieldError::new(if path == "." { String::new() } else { path.to_owned() }, message),
    }
}

/// serde quotes the value it refused (``invalid type: integer `12345`, expected a string``): a
/// secret sent with the wrong type would come back in the answer, and be logged wherever answers
/// are. The value is left out, its kind kept.
fn without_value(message: String) -> String {
    for head in ["invalid type: ", "invalid value: "] {
        if let Some((refused, expected)) =
            message.strip_prefix(head).and_then(|rest| rest.rsplit_once(", expected "))
        {
            let kind = refused.split(['`', '"']).next().unwrap_or_default().trim();
            return format!("{head}{kind}, expected {expected}");
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Credentials {
        client_secret: String,
        limit: u8,
    }

    fn refusal(body: &str) -> FieldError {
        match read::<Credentials>(body.as_bytes()) {
            Err(JsonError::Field(error)) => error,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_value_of_the_wrong_type_is_named_by_its_kind_and_never_echoed() {
        let error = refusal(r#"{"client_secret": 918273645, "limit": 1}"#);
        assert_eq!(error.field, "client_secret");
        assert_eq!(error.message, "invalid type: integer, expected a string");
        let error = refusal(r#"{"client_secret": "s", "limit": "hunter2, expected 7"}"#);
        assert_eq!(error.field, "limit");
        assert_eq!(error.message, "invalid type: string, expected u8");
        let error = refusal(r#"{"client_secret": "s", "limit": 300}"#);
        assert!(!error.message.contains("300"), "{}", error.message);
        assert!(error.message.starts_with("invalid value: integer, expected"), "{}", error.message);
    }
}
