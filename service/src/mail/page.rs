//! The body of a customer email, once, rendered twice: as a branded HTML page (maud, so every
//! value is escaped) and as plain text that says the same in words.

use maud::{DOCTYPE, Markup, html};

/// What a customer email says.
#[derive(Clone, Debug)]
pub(crate) struct Page<'a> {
    /// The tenant's name: the brand at the top and the signature.
    pub tenant: &'a str,
    /// The customer's name, for the greeting.
    pub greeting_name: Option<&'a str>,
    /// The first sentence, e.g. "Sea Breeze has booked you in."
    pub intro: String,
    /// The booking's title.
    pub title: &'a str,
    /// Shown next to the title, e.g. "Cancelled".
    pub badge: Option<&'static str>,
    /// Labelled facts: when, the customer's time, where.
    pub facts: Vec<(&'static str, String)>,
    /// The booking's own text.
    pub description: Option<&'a str>,
    /// Buttons: label and URL.
    pub links: Vec<(&'static str, String)>,
    /// The words above the buttons ("Add to calendar"), if any.
    pub links_title: Option<&'static str>,
}

const FONT: &str =
    "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;";

impl Page<'_> {
    /// The HTML document, with inline styles as mail clients want them.
    pub(crate) fn html(&self, subject: &str) -> String {
        let markup = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (subject) }
                }
                body style={ "margin:0;padding:0;background:#f3f4f6;" (FONT) } {
                    table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f3f4f6;" {
                        tr { td align="center" style="padding:24px 12px;" { (self.card()) } }
                    }
                }
            }
        };
        markup.into_string()
    }

    fn card(&self) -> Markup {
        html! {
            table role="presentation" width="100%" cellpadding="0" cellspacing="0"
                style="max-width:560px;background:#ffffff;border-radius:8px;border:1px solid #e5e7eb;" {
                tr { td style="padding:20px 32px;border-bottom:1px solid #e5e7eb;font-size:18px;font-weight:600;color:#111827;" { (self.tenant) } }
                tr { td style="padding:28px 32px;color:#111827;font-size:15px;line-height:1.5;" {
                    p style="margin:0 0 12px;" { (self.greeting()) }
                    p style="margin:0 0 20px;" { (self.intro) }
                    h1 style="margin:0 0 16px;font-size:22px;line-height:1.3;" {
                        (self.title)
                        @if let Some(badge) = self.badge {
                            " " span style="display:inline-block;padding:2px 8px;border-radius:4px;background:#fee2e2;color:#991b1b;font-size:13px;vertical-align:middle;" { (badge) }
                        }
                    }
                    (self.facts_table())
                    @if let Some(description) = self.description {
                        p style="margin:20px 0 0;white-space:pre-line;color:#374151;" { (description) }
                    }
                    (self.links_block())
                } }
                tr { td style="padding:16px 32px;border-top:1px solid #e5e7eb;color:#6b7280;font-size:12px;" {
                    "Sent by " (self.tenant) "."
                } }
            }
        }
    }

    fn facts_table(&self) -> Markup {
        html! {
            table role="presentation" cellpadding="0" cellspacing="0" style="border-collapse:collapse;" {
                @for (label, value) in &self.facts {
                    tr {
                        td style="padding:4px 16px 4px 0;color:#6b7280;vertical-align:top;white-space:nowrap;" { (label) }
                        td style="padding:4px 0;vertical-align:top;" { (value) }
                    }
                }
            }
        }
    }

    fn links_block(&self) -> Markup {
        html! {
            @if !self.links.is_empty() {
                @if let Some(title) = self.links_title {
                    p style="margin:24px 0 8px;font-weight:600;" { (title) }
                }
                p style=(if self.links_title.is_some() { "margin:0;" } else { "margin:24px 0 0;" }) {
                    @for (label, url) in &self.links {
                        a href=(url) style="display:inline-block;margin:0 8px 8px 0;padding:8px 14px;border-radius:6px;background:#111827;color:#ffffff;text-decoration:none;font-size:14px;" { (label) }
                    }
                }
            }
        }
    }

    fn greeting(&self) -> String {
        match self.greeting_name.map(str::trim).filter(|n| !n.is_empty()) {
            Some(name) => format!("Hello {name},"),
            None => "Hello,".to_owned(),
        }
    }

    /// The plain-text alternative.
    pub(crate) fn text(&self) -> String {
        let mut out = format!("{}\n\n{}\n\n{}", self.greeting(), self.intro, self.title);
        if let Some(badge) = self.badge {
            out.push_str(&format!(" ({badge})"));
        }
        out.push_str("\n\n");
        for (label, value) in &self.facts {
            out.push_str(&format!("{label}: {value}\n"));
        }
        if let Some(description) = self.description {
            out.push_str(&format!("\n{description}\n"));
        }
        if !self.links.is_empty() {
            out.push('\n');
            if let Some(title) = self.links_title {
                out.push_str(&format!("{title}:\n"));
            }
            for (label, url) in &self.links {
                out.push_str(&format!("- {label}: {url}\n"));
            }
        }
        out.push_str(&format!("\n-- \n{}\n", self.tenant));
        out
    }
}
