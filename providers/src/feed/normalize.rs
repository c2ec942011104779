//! Turning what a user typed into a feed URL Kalends is willing to fetch.

use reqwest::Url;

use super::FetchError;

/// Parses and normalizes a feed URL as a user would paste it.
///
/// Surrounding whitespace is trimmed and `webcal://` / `webcals://` (how calendar apps
/// advertise subscriptions) become `https://`. Only `http` and `https` URLs with a host and
/// without a user name or password are accepted. The error messages are meant for the
/// person who registered the feed and never repeat the URL, which usually holds a secret.
pub fn normalize_url(input: &str) -> Result<Url, FetchError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(invalid("is empty"));
    }
    if !input.contains("://") {
        // Covers "host.example/x.ics" pasted without a scheme, and `file:`/`mailto:` forms.
        return Err(invalid(
            "must be an absolute URL starting with https://, http:// or webcal://",
        ));
    }
    // `url`'s parse errors ("invalid port number", "empty host") never echo the input.
    let url = Url::parse(&webcal_as_https(input)).map_err(|error| FetchError::InvalidUrl {
        reason: format!("is not a valid URL ({error})"),
    })?;
    check_fetchable(&url)?;
    Ok(url)
}

/// Rewrites a leading `webcal://` or `webcals://` (any case) to `https://`.
fn webcal_as_https(input: &str) -> String {
    for prefix in ["webcals://", "webcal://"] {
        let matches =
            input.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix));
        if matches {
            return format!("https://{}", &input[prefix.len()..]);
        }
    }
    input.to_owned()
}

/// The rules every URL the fetcher requests must meet, including redirect targets.
pub(super) fn check_fetchable(url: &Url) -> Result<(), FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be https, http or webcal"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Credentials in a URL end up in logs and are sent to every redirect target.
        return Err(invalid("must not contain a user name or password"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("has no host"));
    }
    Ok(())
}

/// The host for error messages and logs: never the path or query, which carry secrets.
pub(super) fn host_of(url: &Url) -> String {
    url.host_str().unwrap_or_default().to_owned()
}

fn invalid(reason: &str) -> FetchError {
    FetchError::InvalidUrl { reason: reason.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(input: &str) -> String {
        normalize_url(input).unwrap_err().to_string()
    }

    #[test]
    fn webcal_becomes_https_and_keeps_path_and_query() {
        let url = normalize_url("  webcal://host.example/x.ics?s=secret \n").unwrap();
        assert_eq!(url.as_str(), "https://host.example/x.ics?s=secret");
        let url = normalize_url("WEBCALS://host.example/x.ics").unwrap();
        assert_eq!(url.as_str(), "https://host.example/x.ics");
    }

    #[test]
    fn http_and_https_are_accepted_as_they_are() {
        for input in ["http://host.example/a.ics", "https://host.example:8443/a.ics"] {
            assert_eq!(normalize_url(input).unwrap().as_str(), input);
        }
    }

    #[test]
    fn other_schemes_are_rejected_with_a_readable_message() {
        for input in ["ftp://host.example/x.ics", "file:///etc/passwd", "javascript://h/"] {
            assert_eq!(message(input), "url: the scheme must be https, http or webcal");
        }
    }

    #[test]
    fn credentials_in_the_url_are_rejected() {
        for input in ["http://user:pw@host.example/", "https://user@host.example/"] {
            assert_eq!(message(input), "url: must not contain a user name or password");
        }
    }

    #[test]
    fn missing_hosts_and_relative_urls_are_rejected() {
        assert_eq!(message("http://:8080/x.ics"), "url: is not a valid URL (empty host)");
        assert_eq!(message("   "), "url: is empty");
        assert_eq!(
            message("host.example/x.ics"),
            "url: must be an absolute URL starting with https://, http:// or webcal://"
        );
    }

    #[test]
    fn parse_errors_do_not_repeat_the_secret_parts_of_the_url() {
        let text = message("https://host.example:99999/private-token/basic.ics");
        assert!(!text.contains("private-token"), "{text}");
        assert!(text.starts_with("url: is not a valid URL"), "{text}");
    }
}
