//! Passages: an article's body cut where a reader would cut it, at its headings, and a long
//! section again into windows of whole paragraphs, so a search result points at the passage
//! that answers and an answer quotes a few hundred words, not a whole guide.

/// A section longer than this many words is cut into windows of whole paragraphs.
pub const WINDOW_WORDS: usize = 160;

/// One passage of an article.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage {
    /// The heading the passage is under, without `#` marks; empty before the first heading.
    pub heading: String,
    /// The passage's Markdown, headings excluded.
    pub text: String,
}

/// The passages of `body`, in order. Every body has at least one.
pub fn passages(body: &str) -> Vec<Passage> {
    let mut sections: Vec<(String, Vec<String>)> = vec![(String::new(), Vec::new())];
    let mut paragraph = String::new();
    let mut fenced = false;
    for line in body.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        let heading = !fenced && line.starts_with('#');
        if heading || (!fenced && line.trim().is_empty()) {
            close(&mut sections, &mut paragraph);
        }
        if heading {
            sections.push((line.trim_start_matches('#').trim().to_owned(), Vec::new()));
        } else if fenced || !line.trim().is_empty() {
            if !paragraph.is_empty() {
                paragraph.push('\n');
            }
            paragraph.push_str(line);
        }
    }
    close(&mut sections, &mut paragraph);
    let mut out = Vec::new();
    for (heading, paragraphs) in sections {
        let mut window = String::new();
        let mut words = 0;
        for paragraph in paragraphs {
            let count = paragraph.split_whitespace().count();
            if words > 0 && words + count > WINDOW_WORDS {
                out.push(Passage {
                    heading: heading.clone(),
                    text: std::mem::take(&mut window),
                });
                words = 0;
            }
            if !window.is_empty() {
                window.push_str("\n\n");
            }
            window.push_str(&paragraph);
            words += count;
        }
        if !window.is_empty() {
            out.push(Passage {
                heading,
                text: window,
            });
        }
    }
    if out.is_empty() {
        out.push(Passage {
            heading: String::new(),
            text: body.trim().to_owned(),
        });
    }
    out
}

fn close(sections: &mut [(String, Vec<String>)], paragraph: &mut String) {
    if !paragraph.trim().is_empty()
        && let Some((_, paragraphs)) = sections.last_mut()
    {
        paragraphs.push(std::mem::take(paragraph));
    }
    paragraph.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_cut_at_headings_and_long_sections_into_windows() {
        let long = "word ".repeat(100);
        let body = format!("Intro.\n\n## First\nOne.\n\nTwo.\n\n## Second\n{long}\n\n{long}\n");
        let cut = passages(&body);
        let headings: Vec<&str> = cut.iter().map(|p| p.heading.as_str()).collect();
        assert_eq!(headings, ["", "First", "Second", "Second"]);
        assert_eq!(cut[1].text, "One.\n\nTwo.");
    }

    #[test]
    fn code_fences_stay_whole() {
        let cut = passages("```\n# not a heading\n\nstill code\n```\n");
        assert_eq!(cut.len(), 1);
        assert!(cut[0].text.contains("# not a heading"));
    }
}
