//! Help articles' Markdown as HTML, safe to put in a page: raw HTML in the text is shown as
//! text (escaped), never passed through; links keep only `http(s)` addresses and paths on this
//! site (`/help/...`), anything else (`javascript:`, `data:`, `//elsewhere`) becomes its text;
//! images become their text. The parser is pulldown-cmark (CommonMark), whose writer escapes
//! text and attributes.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

/// Whether a link may be followed from a help page.
pub fn allowed_link(dest: &str) -> bool {
    let lower = dest.trim().to_ascii_lowercase();
    lower.starts_with("https://")
        || lower.starts_with("http://")
        || (lower.starts_with('/') && !lower.starts_with("//") && !lower.starts_with("/\\"))
        || lower.starts_with('#')
}

/// The article's Markdown as safe HTML.
pub fn to_html(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    // Whether each open link was kept (links do not nest in CommonMark, but be exact).
    let mut links: Vec<bool> = Vec::new();
    let events = Parser::new_ext(markdown, options).filter_map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
        Event::Start(Tag::Link { dest_url, .. }) if !allowed_link(&dest_url) => {
            links.push(false);
            None
        }
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            links.push(true);
            Some(Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }))
        }
        Event::End(TagEnd::Link) => match links.pop() {
            Some(true) => Some(Event::End(TagEnd::Link)),
            _ => None,
        },
        Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => None,
        Event::Start(Tag::HtmlBlock) | Event::End(TagEnd::HtmlBlock) => None,
        Event::FootnoteReference(name) => Some(Event::Text(CowStr::from(format!("[{name}]")))),
        other => Some(other),
    });
    let mut out = String::with_capacity(markdown.len() * 2);
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_is_shown_as_text() {
        let out = to_html("Hi <script>alert(1)</script>\n\n<div onclick=x>block</div>\n");
        assert!(!out.contains("<script"), "{out}");
        assert!(!out.contains("<div"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
    }

    #[test]
    fn only_web_links_are_kept() {
        let out = to_html(
            "[a](javascript:alert(1)) [b](https://example.com/x) [c](/help/ssh-keys) \
             [d](//evil.example) [e](data:text/html,x) ![img](https://example.com/i.png)",
        );
        assert!(!out.contains("javascript"), "{out}");
        assert!(!out.contains("data:"), "{out}");
        assert!(!out.contains("evil.example"), "{out}");
        assert!(!out.contains("<img"), "{out}");
        assert!(
            out.contains(r#"<a href="https://example.com/x">b</a>"#),
            "{out}"
        );
        assert!(out.contains(r#"<a href="/help/ssh-keys">c</a>"#), "{out}");
        assert!(out.starts_with("<p>a "), "{out}");
        assert!(out.contains("img"), "{out}");
    }

    #[test]
    fn markdown_is_rendered() {
        let out = to_html("# Title\n\n- one\n- **two**\n\n`code`");
        assert!(out.contains("<h1>Title</h1>"), "{out}");
        assert!(out.contains("<strong>two</strong>"), "{out}");
        assert!(out.contains("<code>code</code>"), "{out}");
    }
}
