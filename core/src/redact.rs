//! Secrets as logs, errors and `Debug` output may show them: a URL with its password masked, or
//! by its host alone when its path or query is the secret.

/// What a hidden value shows.
pub const REDACTED: &str = "[REDACTED]";

/// `raw` with its password masked: the user part's, and the value of every query parameter
/// whose name [holds a credential](names_a_credential) (PostgreSQL reads `password` there). A
/// fragment is masked whole. A URL that does not parse (a password with an unescaped `?`, `#`
/// or `/` in it, say) shows its scheme alone: where its parts end cannot be told, so neither
/// can where its password does.
pub fn url_password_masked(raw: &str) -> String {
    if url::Url::parse(raw).is_err() {
        return unreadable(raw);
    }
    // It parsed, so the user part holds no unescaped `/`, `?` or `#`: the first of them ends it.
    let (head, fragment) = raw.split_once('#').map_or((raw, None), |(h, f)| (h, Some(f)));
    let (head, query) = head.split_once('?').map_or((head, None), |(h, q)| (h, Some(q)));
    let head = match head.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            if path.contains('@') {
                // `user:123/word@host` parses as port 123 of host `user`: a password cut short.
                return unreadable(raw);
            }
            format!("{scheme}://{}{path}", authority_masked(authority))
        }
        None => head.to_owned(),
    };
    let query = query.map(|query| format!("?{}", query_masked(query))).unwrap_or_default();
    let fragment = fragment.map(|_| format!("#{REDACTED}")).unwrap_or_default();
    format!("{head}{query}{fragment}")
}

/// A URL whose path and query are its secret (an imported feed's, a settings link's, a consent
/// page's with its `state`), as a log or a `Debug` may show it: its scheme and host alone.
pub fn url_host_only(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(url) => match url.host_str() {
            Some(host) => format!("{}://{host}/{REDACTED}", url.scheme()),
            None => format!("{}:{REDACTED}", url.scheme()),
        },
        Err(_) => REDACTED.to_owned(),
    }
}

/// Whether a query parameter named `name` (as decoded) holds a credential: a name with `pass`,
/// `secret` or `token` in it, in any case.
pub fn names_a_credential(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["pass", "secret", "token"].iter().any(|word| name.contains(word))
}

/// What a URL that does not parse shows: its scheme, when it has one.
fn unreadable(raw: &str) -> String {
    match raw.split_once(':') {
        Some((scheme, _)) if !scheme.is_empty() && scheme.chars().all(is_scheme_char) => {
            format!("{scheme}://{REDACTED}")
        }
        _ => REDACTED.to_owned(),
    }
}

fn is_scheme_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')
}

/// `user:password@host` with the password masked.
fn authority_masked(authority: &str) -> String {
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:{REDACTED}@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    }
}

/// `query` with the value of each parameter that names a credential masked; names are matched
/// as decoded (`%70assword` is `password` to the driver too).
fn query_masked(query: &str) -> String {
    let masked = query.split('&').map(|pair| {
        let decoded = url::form_urlencoded::parse(pair.as_bytes()).next();
        match (pair.split_once('='), decoded) {
            (Some((name, _)), Some((decoded, _))) if names_a_credential(&decoded) => {
                format!("{name}={REDACTED}")
            }
            _ => pair.to_owned(),
        }
    });
    masked.collect::<Vec<_>>().join("&")
}

#[cfg(test)]
mod tests {
    use super::{url_host_only, url_password_masked};

    #[test]
    fn a_password_is_masked_in_the_user_part_and_the_query_however_it_is_spelt() {
        let cases = [
            ("postgres://kal:hunter2@db/kalends", "postgres://kal:[REDACTED]@db/kalends"),
            ("redis://:hunter2@cache:6379/", "redis://:[REDACTED]@cache:6379/"),
            (
                "postgres://kal@db/k?sslmode=require&PassWord=hunter2",
                "postgres://kal@db/k?sslmode=require&PassWord=[REDACTED]",
            ),
            ("postgres://kal@db/k?%70assword=hunter2", "postgres://kal@db/k?%70assword=[REDACTED]"),
            ("postgres://kal:a%3Fb@db/k#hunter2", "postgres://kal:[REDACTED]@db/k#[REDACTED]"),
            ("sqlite://data/kalends.db?mode=rwc", "sqlite://data/kalends.db?mode=rwc"),
            ("smtp://[::1]:25", "smtp://[::1]:25"),
        ];
        for (raw, shown) in cases {
            assert_eq!(url_password_masked(raw), shown, "{raw}");
        }
    }

    #[test]
    fn a_url_whose_parts_cannot_be_told_apart_shows_its_scheme_alone() {
        for raw in [
            "postgres://kal:hun?ter2@db/k",
            "postgres://kal:hun#ter2@db/k",
            "postgres://kal:hun/ter2@db/k",
            "postgres://kal:123/hunter2@db/k",
        ] {
            assert_eq!(url_password_masked(raw), "postgres://[REDACTED]", "{raw}");
        }
        assert_eq!(url_password_masked("hunter2 is no url"), "[REDACTED]");
    }

    #[test]
    fn a_url_whose_path_is_the_secret_shows_its_host_alone() {
        let feed = "https://www.airbnb.com/calendar/ical/1.ics?s=0123secret";
        assert_eq!(url_host_only(feed), "https://www.airbnb.com/[REDACTED]");
        assert_eq!(
            url_host_only("https://u:pw@host.example:8443?t=x"),
            "https://host.example/[REDACTED]"
        );
        assert_eq!(url_host_only("https://u:p?w@host.example"), "[REDACTED]");
        assert_eq!(url_host_only("not a url 0123secret"), "[REDACTED]");
    }

    #[test]
    fn an_imports_debug_shows_its_feeds_host_alone() {
        let import = crate::domain::NewImport {
            owner: crate::domain::Owner::Resource(uuid::Uuid::nil()),
            platform: crate::domain::Platform::Airbnb,
            url: "https://www.airbnb.com/calendar/ical/1.ics?s=0123secret".into(),
            name: None,
            interval_minutes: 30,
            settings: Default::default(),
        };
        let shown = format!("{import:?}");
        assert!(shown.contains("www.airbnb.com") && !shown.contains("0123secret"), "{shown}");
    }
}
