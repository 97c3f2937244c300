//! A statement as a PDF: A4 pages of text in the standard Helvetica font (nothing embedded),
//! written with pdf-writer. Text outside Latin-1 is shown as `?`, since the standard fonts
//! have no other glyphs.

use chrono::{DateTime, Utc};
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

use super::PeriodStatement;

const WIDTH: f32 = 595.0;
const HEIGHT: f32 = 842.0;
const MARGIN: f32 = 50.0;
const LEADING: f32 = 14.0;
/// Lines of transactions on the first page and on the others.
const FIRST_PAGE_LINES: usize = 36;
/// Where the columns of a transaction start. Details are set a size smaller, so a usage line's
/// server and hour fit.
const KIND_X: f32 = MARGIN + 85.0;
const DETAILS_X: f32 = MARGIN + 140.0;
const AMOUNT_X: f32 = MARGIN + 360.0;
const BALANCE_X: f32 = MARGIN + 430.0;
/// Characters of details that fit their column at 8 points.
const DETAILS_CHARS: usize = 46;
const PAGE_LINES: usize = 52;

/// Latin-1 bytes for WinAnsiEncoding; anything else becomes `?`.
fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match u32::from(c) {
            0x20..=0x7e | 0xa0..=0xff => u8::try_from(u32::from(c)).unwrap_or(b'?'),
            // WinAnsiEncoding's en dash, ellipsis and euro sign.
            0x2013 => 0x96,
            0x2026 => 0x85,
            0x20ac => 0x80,
            _ => b'?',
        })
        .collect()
}

struct Page {
    content: Content,
    y: f32,
}

impl Page {
    fn new() -> Self {
        Self {
            content: Content::new(),
            y: HEIGHT - MARGIN,
        }
    }

    fn text(&mut self, x: f32, size: f32, bold: bool, text: &str) {
        let font = if bold { Name(b"F2") } else { Name(b"F1") };
        self.content.begin_text();
        self.content.set_font(font, size);
        self.content.next_line(x, self.y);
        self.content.show(Str(&latin1(text)));
        self.content.end_text();
    }

    fn down(&mut self, by: f32) {
        self.y -= by;
    }
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(3)).collect();
        cut.push_str("...");
        cut
    }
}

fn header_row(page: &mut Page) {
    let columns = [
        (MARGIN, "Date"),
        (KIND_X, "Kind"),
        (DETAILS_X, "Details"),
        (AMOUNT_X, "Amount"),
        (BALANCE_X, "Balance"),
    ];
    for (x, title) in columns {
        page.text(x, 9.0, true, title);
    }
    page.down(LEADING);
}

pub(super) fn render(statement: &PeriodStatement, generated: DateTime<Utc>) -> Vec<u8> {
    let currency = &statement.currency;
    let mut first = Page::new();
    {
        let page = &mut first;
        page.text(MARGIN, 18.0, true, &statement.company);
        page.down(16.0);
        for detail in &statement.company_details {
            page.text(MARGIN, 9.0, false, &clip(detail, 90));
            page.down(11.0);
        }
        page.down(10.0);
        page.text(MARGIN, 13.0, false, "Statement of account");
        page.down(20.0);
        for line in [
            format!("Statement number: {}", statement.number),
            format!("Customer: {}", statement.customer),
            format!(
                "Period: {} to {} (UTC)",
                statement.from.format("%Y-%m-%d"),
                statement.to.format("%Y-%m-%d")
            ),
            format!("Opening balance: {}", statement.opening.display(currency)),
            format!("Closing balance: {}", statement.closing.display(currency)),
            format!("Transactions: {}", statement.lines.len()),
            format!("Generated: {}", generated.format("%Y-%m-%d %H:%M UTC")),
        ] {
            page.text(MARGIN, 10.0, false, &line);
            page.down(LEADING);
        }
        page.down(10.0);
        header_row(page);
    }
    let mut pages = vec![first];
    let mut on_page = 0;
    let mut capacity = FIRST_PAGE_LINES;
    for line in &statement.lines {
        if on_page == capacity {
            let mut page = Page::new();
            header_row(&mut page);
            pages.push(page);
            on_page = 0;
            capacity = PAGE_LINES;
        }
        let Some(page) = pages.last_mut() else {
            break;
        };
        let details = match (&line.usage, &line.reference, &line.memo) {
            // The hour is what the line is for: only the name is shortened to fit.
            (Some(usage), _, _) => usage.describe(10),
            (None, Some(reference), Some(memo)) => format!("{reference}: {memo}"),
            (None, Some(text), None) | (None, None, Some(text)) => text.clone(),
            (None, None, None) => String::new(),
        };
        page.text(
            MARGIN,
            9.0,
            false,
            &line.created_at.format("%Y-%m-%d %H:%M").to_string(),
        );
        page.text(KIND_X, 9.0, false, &line.kind.as_str().replace('_', " "));
        page.text(DETAILS_X, 8.0, false, &clip(&details, DETAILS_CHARS));
        page.text(AMOUNT_X, 9.0, false, &line.amount.display(currency));
        page.text(
            BALANCE_X,
            9.0,
            false,
            &line
                .balance_after
                .map(|balance| balance.display(currency))
                .unwrap_or_default(),
        );
        page.down(LEADING);
        on_page += 1;
    }

    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let mut next = 5;
    let mut ids = Vec::new();
    for _ in &pages {
        ids.push((Ref::new(next), Ref::new(next + 1)));
        next += 2;
    }
    pdf.catalog(catalog).pages(tree);
    let count = i32::try_from(ids.len()).unwrap_or(i32::MAX);
    pdf.pages(tree)
        .kids(ids.iter().map(|(page, _)| *page))
        .count(count);
    pdf.type1_font(regular)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    for (page, (page_id, content_id)) in pages.into_iter().zip(&ids) {
        let mut writer = pdf.page(*page_id);
        writer
            .media_box(Rect::new(0.0, 0.0, WIDTH, HEIGHT))
            .parent(tree)
            .contents(*content_id);
        let mut resources = writer.resources();
        resources
            .fonts()
            .pair(Name(b"F1"), regular)
            .pair(Name(b"F2"), bold);
        resources.finish();
        writer.finish();
        pdf.stream(*content_id, &page.content.finish());
    }
    pdf.finish()
}
