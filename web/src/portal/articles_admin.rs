//! The admins' help-article pages: the list (published and drafts, last updated), a form to
//! write or edit one with a preview of its Markdown as the help pages render it, publish and
//! unpublish, and delete after a confirmation. Everything needs `ManageKnowledge` (core
//! checks it again); forms carry the CSRF token the portal middleware checks.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use hostdeck_core::knowledge::{Article, ArticleContent, ArticleKind, Slug};
use hostdeck_core::{Error, Permission};

use super::context::{
    NoticeQuery, PageContext, PortalError, PortalForm, render, see_other, shown, staff, when,
};
use crate::AppState;
use crate::auth::Caller;
use crate::markdown;

pub struct ArticleRow {
    slug: String,
    title: String,
    kind: &'static str,
    published: bool,
    updated: String,
}

#[derive(askama::Template)]
#[template(path = "admin/articles.html")]
struct ArticlesPage {
    page: PageContext,
    articles: Vec<ArticleRow>,
    published: usize,
    drafts: usize,
}

pub async fn list(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PortalError> {
    let caller = staff(&state, caller, Permission::ManageKnowledge).await?;
    let mut articles = state.core.knowledge.manage_list(caller.actor()).await?;
    articles.sort_by_key(|article| std::cmp::Reverse(article.updated_at));
    let published = articles.iter().filter(|a| a.content.published).count();
    Ok(render(&ArticlesPage {
        page: page.notice(query.notice.as_deref()),
        drafts: articles.len() - published,
        published,
        articles: articles
            .iter()
            .map(|article| ArticleRow {
                slug: article.content.slug.to_string(),
                title: article.content.title.clone(),
                kind: article.content.kind.as_str(),
                published: article.content.published,
                updated: when(article.updated_at),
            })
            .collect(),
    }))
}

/// The edit form's fields, as typed (kept as typed when they are refused).
#[derive(Default)]
pub struct Fields {
    slug: String,
    title: String,
    kind: String,
    tags: String,
    also_asked: String,
    body: String,
    published: bool,
}

impl Fields {
    fn of(content: &ArticleContent) -> Self {
        Self {
            slug: content.slug.to_string(),
            title: content.title.clone(),
            kind: content.kind.as_str().to_owned(),
            tags: content.tags.join(", "),
            also_asked: content.also_asked.join("\n"),
            body: content.body.clone(),
            published: content.published,
        }
    }

    fn from_form(form: &PortalForm) -> Self {
        Self {
            slug: form.get("slug").trim().to_owned(),
            title: form.get("title").to_owned(),
            kind: form.get("kind").to_owned(),
            tags: form.get("tags").to_owned(),
            also_asked: form.get("also_asked").to_owned(),
            body: form.get("body").replace("\r\n", "\n"),
            published: form.get("published") == "on",
        }
    }

    fn content(&self) -> hostdeck_core::Result<ArticleContent> {
        Ok(ArticleContent {
            slug: Slug::parse(&self.slug)?,
            title: self.title.trim().to_owned(),
            kind: ArticleKind::parse(&self.kind)?,
            tags: self
                .tags
                .split(',')
                .map(str::trim)
                .filter(|tag| !tag.is_empty())
                .map(str::to_owned)
                .collect(),
            body: self.body.clone(),
            also_asked: self
                .also_asked
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
                .collect(),
            published: self.published,
        })
    }
}

#[derive(askama::Template)]
#[template(path = "admin/article_edit.html")]
struct EditPage {
    page: PageContext,
    /// `false` for a new article: the slug can still be chosen.
    existing: bool,
    fields: Fields,
    updated: String,
    /// The body rendered as the help pages render it; raw HTML in it is escaped by
    /// [`markdown::to_html`], so it is marked safe in the template.
    preview: Option<String>,
}

pub async fn new_article(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
) -> Result<Response, PortalError> {
    staff(&state, caller, Permission::ManageKnowledge).await?;
    Ok(render(&EditPage {
        page,
        existing: false,
        fields: Fields {
            kind: "faq".into(),
            ..Fields::default()
        },
        updated: String::new(),
        preview: None,
    }))
}

pub async fn edit(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path(slug): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PortalError> {
    let caller = staff(&state, caller, Permission::ManageKnowledge).await?;
    let article: Article = state
        .core
        .knowledge
        .for_editing(caller.actor(), &slug)
        .await?;
    Ok(render(&EditPage {
        page: page.notice(query.notice.as_deref()),
        existing: true,
        preview: Some(markdown::to_html(&article.content.body)),
        fields: Fields::of(&article.content),
        updated: when(article.updated_at),
    }))
}

/// `POST /admin/articles`: `action=preview` shows the form again with the preview;
/// anything else saves.
pub async fn save(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = staff(&state, caller, Permission::ManageKnowledge).await?;
    let fields = Fields::from_form(&form);
    let existing = form.get("existing") == "yes";
    let again = |page: PageContext, fields: Fields| {
        render(&EditPage {
            page,
            existing,
            preview: Some(markdown::to_html(&fields.body)),
            fields,
            updated: String::new(),
        })
    };
    if form.get("action") == "preview" {
        return Ok(again(page, fields));
    }
    let outcome = match fields.content() {
        Ok(content) => state.core.knowledge.save(caller.actor(), content).await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok(_) => Ok(see_other(&format!(
            "/admin/articles/{}?notice=article-saved",
            fields.slug
        ))),
        Err(error @ Error::Invalid { .. }) => Ok(again(page.error(shown(&error)), fields)),
        Err(error) => Err(PortalError(error)),
    }
}

/// `POST /admin/articles/{slug}/publish` and `.../unpublish`.
pub async fn publish(
    State(state): State<AppState>,
    caller: Option<Caller>,
    Path((slug, action)): Path<(String, String)>,
    _form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = staff(&state, caller, Permission::ManageKnowledge).await?;
    let published = match action.as_str() {
        "publish" => true,
        "unpublish" => false,
        _ => {
            return Err(PortalError(Error::NotFound(
                "There is no such page.".into(),
            )));
        }
    };
    state
        .core
        .knowledge
        .set_published(caller.actor(), &slug, published)
        .await?;
    let notice = if published {
        "article-published"
    } else {
        "article-unpublished"
    };
    Ok(see_other(&format!(
        "/admin/articles/{slug}?notice={notice}"
    )))
}

#[derive(askama::Template)]
#[template(path = "admin/article_delete.html")]
struct DeletePage {
    page: PageContext,
    slug: String,
    title: String,
}

/// The confirmation before a delete.
pub async fn confirm_delete(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path(slug): Path<String>,
) -> Result<Response, PortalError> {
    let caller = staff(&state, caller, Permission::ManageKnowledge).await?;
    let article = state
        .core
        .knowledge
        .for_editing(caller.actor(), &slug)
        .await?;
    Ok(render(&DeletePage {
        page,
        slug: article.content.slug.to_string(),
        title: article.content.title,
    }))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Option<Caller>,
    Path(slug): Path<String>,
    _form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = staff(&state, caller, Permission::ManageKnowledge).await?;
    state.core.knowledge.delete(caller.actor(), &slug).await?;
    Ok(see_other("/admin/articles?notice=article-deleted"))
}
