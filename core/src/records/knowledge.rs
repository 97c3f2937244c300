//! Knowledge-base articles as stored: a [`Slug`] valid once it exists, the [`ArticleKind`], and
//! the [`Article`] itself with the checks every door shares. Managing, importing and searching
//! them is [`crate::knowledge`].

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{Error, Result};

/// The longest slug accepted.
pub const MAX_SLUG: usize = 80;
/// The longest title accepted, in characters.
pub const MAX_TITLE: usize = 160;
/// The longest body accepted, in bytes (about 30 printed pages).
pub const MAX_BODY: usize = 100_000;
/// The most tags and "also asked as" phrasings one article keeps.
pub const MAX_TAGS: usize = 20;
pub const MAX_ALSO_ASKED: usize = 30;
/// The longest tag and "also asked as" phrasing, in characters.
pub const MAX_TAG: usize = 40;
pub const MAX_PHRASING: usize = 200;

/// An article's name in addresses and file names: lowercase ASCII letters and digits in words
/// joined by single hyphens, 1 to [`MAX_SLUG`] characters (`top-up-with-paypal`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Slug(String);

impl Slug {
    pub fn parse(text: &str) -> Result<Self> {
        let well_formed = !text.is_empty()
            && text.len() <= MAX_SLUG
            && text.split('-').all(|word| {
                !word.is_empty()
                    && word
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if !well_formed {
            return Err(Error::invalid(
                "slug",
                format!(
                    "A slug is 1 to {MAX_SLUG} lowercase letters and digits in words joined by \
                     single hyphens, such as top-up-with-paypal; {text:?} is not one."
                ),
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where the article is read in the portal, relative to the portal's address.
    pub fn help_path(&self) -> String {
        format!("/help/{}", self.0)
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A short answer to one question, or a longer guide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ArticleKind {
    Faq,
    Doc,
}

impl ArticleKind {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "faq" => Ok(Self::Faq),
            "doc" => Ok(Self::Doc),
            other => Err(Error::invalid(
                "kind",
                format!("An article's kind is faq or doc, not {other:?}."),
            )),
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Faq => "faq",
            Self::Doc => "doc",
        }
    }
}

/// What an article says, as written by an admin or read from a file; [`Article`] adds when it
/// was last changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArticleContent {
    pub slug: Slug,
    pub title: String,
    pub kind: ArticleKind,
    /// Lowercase words or short phrases, searched with more weight than the body.
    pub tags: Vec<String>,
    /// Markdown.
    pub body: String,
    /// Other ways people ask the same question, searched like the title.
    pub also_asked: Vec<String>,
    /// Drafts are seen by admins only.
    pub published: bool,
}

impl ArticleContent {
    /// The content with its text checked and tidied: title and phrasings trimmed, tags
    /// lowercased, trailing blank space of the body removed. The refusal names the field.
    pub fn checked(self) -> Result<Self> {
        let title = crate::text::name("title", "The title", &self.title, MAX_TITLE)?;
        let body = self.body.trim_end().trim_start_matches(['\n', '\r']);
        if body.trim().is_empty() {
            return Err(Error::invalid("body", "The article's body is empty."));
        }
        if body.len() > MAX_BODY {
            return Err(Error::invalid(
                "body",
                format!("An article's body is at most {MAX_BODY} bytes; split it in two."),
            ));
        }
        let body = crate::text::note("body", "The body", body, MAX_BODY)?;
        let tags = checked_list("tags", "A tag", &self.tags, MAX_TAGS, MAX_TAG)?
            .into_iter()
            .map(|tag| tag.to_lowercase())
            .collect();
        let also_asked = checked_list(
            "also_asked",
            "An \"also asked as\" phrasing",
            &self.also_asked,
            MAX_ALSO_ASKED,
            MAX_PHRASING,
        )?;
        Ok(Self {
            title,
            tags,
            body,
            also_asked,
            ..self
        })
    }
}

fn checked_list(
    field: &'static str,
    what: &str,
    items: &[String],
    max_items: usize,
    max_chars: usize,
) -> Result<Vec<String>> {
    if items.len() > max_items {
        return Err(Error::invalid(
            field,
            format!("An article keeps at most {max_items} {field}."),
        ));
    }
    items
        .iter()
        .map(|item| crate::text::name(field, what, item, max_chars))
        .collect()
}

/// An article as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Article {
    #[serde(flatten)]
    pub content: ArticleContent,
    pub updated_at: DateTime<Utc>,
}

/// One stored embedding: the vector of the passage whose text hashes to `text_hash`, from
/// `model` at `dims` dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEmbedding {
    pub model: String,
    pub dims: u32,
    /// SHA-256 (hex) of the passage's article title, heading and text; see
    /// `knowledge::embeddings`.
    pub text_hash: String,
    pub vector: Vec<f32>,
}

impl StoredEmbedding {
    /// The vector as stored: its little-endian f32 values in base64.
    pub fn encoded_vector(&self) -> String {
        use base64::Engine as _;
        let bytes: Vec<u8> = self.vector.iter().flat_map(|v| v.to_le_bytes()).collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Reads [`Self::encoded_vector`]'s form back; `None` when it is not one.
    pub fn decode_vector(text: &str) -> Option<Vec<f32>> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?;
        if bytes.len() % 4 != 0 {
            return None;
        }
        Some(
            bytes
                .chunks_exact(4)
                .map(|four| f32::from_le_bytes([four[0], four[1], four[2], four[3]]))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_words_joined_by_single_hyphens() {
        for good in ["a", "top-up", "ssh-keys-2", "2fa"] {
            assert!(Slug::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a--b",
            "Top-up",
            "a_b",
            "a b",
            "ä",
            "../x",
            &"a".repeat(81),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn content_is_checked_and_tidied() {
        let content = ArticleContent {
            slug: Slug::parse("x").expect("slug"),
            title: "  Title ".into(),
            kind: ArticleKind::Faq,
            tags: vec!["PayPal".into()],
            body: "\nBody text.\n\n".into(),
            also_asked: vec![],
            published: true,
        };
        let checked = content.clone().checked().expect("valid");
        assert_eq!(checked.title, "Title");
        assert_eq!(checked.tags, ["paypal"]);
        assert_eq!(checked.body, "Body text.");
        let empty = ArticleContent {
            body: " \n".into(),
            ..content.clone()
        };
        assert!(empty.checked().is_err());
        let hidden = ArticleContent {
            title: "a\u{202E}b".into(),
            ..content
        };
        assert!(hidden.checked().is_err());
    }

    #[test]
    fn a_vector_reads_back_as_it_was_stored() {
        let embedding = StoredEmbedding {
            model: "m".into(),
            dims: 3,
            text_hash: "h".into(),
            vector: vec![0.25, -1.5, 3.0e-7],
        };
        let text = embedding.encoded_vector();
        assert_eq!(
            StoredEmbedding::decode_vector(&text),
            Some(embedding.vector)
        );
        assert_eq!(StoredEmbedding::decode_vector("AAA"), None);
    }
}
