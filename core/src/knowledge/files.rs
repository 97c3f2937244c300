//! Articles as files, for `hostdeck kb import` and `hostdeck kb export`: one `<slug>.md` per
//! article, TOML front matter between `+++` lines, then the Markdown body.
//!
//! ```text
//! +++
//! title = "Adding credit with PayPal"
//! kind = "faq"
//! tags = ["billing", "paypal"]
//! also_asked = ["How do I top up?"]
//! published = false
//! +++
//!
//! The body, in Markdown.
//! ```
//!
//! `also_asked` may be left out (none), and `published` too (true). [`render`] writes the
//! fields in this order, leaving out what is absent by default, so an exported file imports
//! as unchanged and a file written this way exports byte for byte.

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::records::knowledge::{ArticleContent, ArticleKind, Slug};

const FENCE: &str = "+++";

/// A file's name (`<slug>.md`) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArticleFile {
    pub name: String,
    pub text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    title: String,
    kind: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    also_asked: Vec<String>,
    published: Option<bool>,
}

/// Reads one file. A refusal names the file and the line.
pub fn parse(file: &ArticleFile) -> Result<ArticleContent> {
    let refuse = |line: usize, message: &str| {
        Error::invalid("file", format!("{}, line {line}: {message}", file.name))
    };
    let slug = file
        .name
        .strip_suffix(".md")
        .ok_or_else(|| refuse(1, "an article's file is named <slug>.md"))?;
    let slug = Slug::parse(slug).map_err(|error| refuse(1, &error.to_string()))?;
    let text = file.text.replace("\r\n", "\n");
    let mut lines = text.split_inclusive('\n');
    if lines.next().map(str::trim_end) != Some(FENCE) {
        return Err(refuse(
            1,
            "the file starts with a +++ line, then the front matter",
        ));
    }
    let mut front = String::new();
    let mut closed = false;
    let mut consumed = FENCE.len() + 1;
    for line in lines.by_ref() {
        consumed += line.len();
        if line.trim_end() == FENCE {
            closed = true;
            break;
        }
        front.push_str(line);
    }
    if !closed {
        return Err(refuse(
            front.lines().count() + 1,
            "the front matter has no closing +++ line",
        ));
    }
    let matter: FrontMatter = toml::from_str(&front).map_err(|error| {
        let line = error
            .span()
            .map_or(0, |span| front[..span.start].matches('\n').count());
        refuse(line + 2, error.message().trim())
    })?;
    let line_of = |key: &str| {
        front
            .lines()
            .position(|line| line.trim_start().starts_with(key))
            .map_or(2, |at| at + 2)
    };
    let kind = ArticleKind::parse(&matter.kind)
        .map_err(|error| refuse(line_of("kind"), &error.to_string()))?;
    let body = text.get(consumed..).unwrap_or_default();
    let body = body.strip_prefix('\n').unwrap_or(body);
    let content = ArticleContent {
        slug,
        title: matter.title,
        kind,
        tags: matter.tags,
        body: body.to_owned(),
        also_asked: matter.also_asked,
        published: matter.published.unwrap_or(true),
    };
    let body_line = front.lines().count() + 3;
    content.checked().map_err(|error| {
        let line = match &error {
            Error::Invalid {
                field: Some("body"),
                ..
            } => body_line,
            Error::Invalid {
                field: Some(field), ..
            } => line_of(field),
            _ => 2,
        };
        refuse(line, &error.to_string())
    })
}

/// The file of an article, as [`parse`] reads it.
pub fn render(content: &ArticleContent) -> ArticleFile {
    let list = |items: &[String]| {
        let quoted: Vec<String> = items.iter().map(|item| quote(item)).collect();
        format!("[{}]", quoted.join(", "))
    };
    let mut text = format!(
        "{FENCE}\ntitle = {}\nkind = {}\ntags = {}\n",
        quote(&content.title),
        quote(content.kind.as_str()),
        list(&content.tags)
    );
    if !content.also_asked.is_empty() {
        text.push_str(&format!("also_asked = {}\n", list(&content.also_asked)));
    }
    if !content.published {
        text.push_str("published = false\n");
    }
    text.push_str(&format!("{FENCE}\n\n{}\n", content.body));
    ArticleFile {
        name: format!("{}.md", content.slug),
        text,
    }
}

/// A TOML basic string: always double quotes, so a file's form never depends on its text.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `.md` files of `dir`, by name. Other files are left alone.
pub fn read_dir(dir: &Path) -> Result<Vec<ArticleFile>> {
    let unreadable = |error: std::io::Error| {
        Error::invalid("dir", format!("cannot read {}: {error}", dir.display()))
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let path = entry.map_err(unreadable)?.path();
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        if !name.ends_with(".md") || !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|error| {
            Error::invalid(
                "file",
                format!("{name}: cannot be read as UTF-8 text: {error}"),
            )
        })?;
        files.push(ArticleFile {
            name: name.to_owned(),
            text,
        });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// Writes each file into `dir` (created when missing), replacing files of the same name.
pub fn write_dir(dir: &Path, files: &[ArticleFile]) -> Result<()> {
    let unwritable = |error: std::io::Error| {
        Error::invalid("dir", format!("cannot write to {}: {error}", dir.display()))
    };
    std::fs::create_dir_all(dir).map_err(unwritable)?;
    for file in files {
        std::fs::write(dir.join(&file.name), &file.text).map_err(unwritable)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> ArticleFile {
        ArticleFile {
            name: name.into(),
            text: text.into(),
        }
    }

    #[test]
    fn a_file_reads_and_renders_back_byte_for_byte() {
        let text = "+++\ntitle = \"Say \\\"hi\\\"\"\nkind = \"doc\"\ntags = [\"a\", \"b c\"]\n\
                    also_asked = [\"How?\"]\npublished = false\n+++\n\n# Body\n\nText.\n";
        let content = parse(&file("say-hi.md", text)).expect("parses");
        assert_eq!(content.title, "Say \"hi\"");
        assert_eq!(content.kind, ArticleKind::Doc);
        assert_eq!(content.also_asked, ["How?"]);
        assert!(!content.published);
        assert_eq!(content.body, "# Body\n\nText.");
        assert_eq!(render(&content), file("say-hi.md", text));
    }

    #[test]
    fn defaults_are_left_out() {
        let text = "+++\ntitle = \"T\"\nkind = \"faq\"\ntags = []\n+++\n\nBody.\n";
        let content = parse(&file("t.md", text)).expect("parses");
        assert!(content.published && content.also_asked.is_empty());
        assert_eq!(render(&content).text, text);
    }

    #[test]
    fn bad_files_are_refused_with_the_file_and_line() {
        for (name, text, expected) in [
            ("Bad Name.md", "+++\n+++\n", "Bad Name.md, line 1"),
            ("a.txt", "", "a.txt, line 1"),
            ("a.md", "title = \"x\"\n", "a.md, line 1"),
            (
                "a.md",
                "+++\ntitle = \"x\"\n",
                "a.md, line 2: the front matter has no closing",
            ),
            (
                "a.md",
                "+++\ntitle = \"x\"\nkind = \"faq\"\ntags = [1]\n+++\nb\n",
                "a.md, line 4",
            ),
            (
                "a.md",
                "+++\ntitle = \"x\"\nkind = \"faq\"\ncolour = 1\n+++\nb\n",
                "a.md, line 4",
            ),
            (
                "a.md",
                "+++\ntitle = \"x\"\nkind = \"blog\"\n+++\nb\n",
                "a.md, line 3",
            ),
            (
                "a.md",
                "+++\ntitle = \"x\"\nkind = \"faq\"\n+++\n\n",
                "a.md, line 5",
            ),
        ] {
            let error = parse(&file(name, text)).expect_err(text).to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}
