//! Text a remote server wrote, as Kalends keeps it.

/// `text` without control characters other than tab and line breaks: none of them is readable
/// on a page or in a calendar, and PostgreSQL's `text` refuses NUL outright, so a calendar event
/// titled with one (a calendar app's bug, or a hostile server) would otherwise stop its whole
/// calendar's import there and nowhere else.
pub fn printable(text: &str) -> String {
    text.chars().filter(|&c| !c.is_control() || matches!(c, '\t' | '\n' | '\r')).collect()
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_are_dropped_and_line_breaks_kept() {
        assert_eq!(printable("Den\u{0}tist\u{7}\u{1b}[31m"), "Dentist[31m");
        assert_eq!(printable("two\r\nlines\tand\u{85} more"), "two\r\nlines\tand more");
        assert_eq!(printable("Zoë 🎉"), "Zoë 🎉");
    }
}
