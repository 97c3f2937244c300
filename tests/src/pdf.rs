//! Reading a PDF back as text with poppler's `pdftotext`, as a person's PDF reader would.
//! Needs `HOSTDECK_TEST_PDFTOTEXT`: the path of pdftotext (Debian's poppler-utils:
//! `/usr/bin/pdftotext`).

use std::process::Command;

pub const PDFTOTEXT_VAR: &str = "HOSTDECK_TEST_PDFTOTEXT";

/// The text of `pdf`, laid out as on the page; `None` (test skipped) without pdftotext.
pub fn pdftotext(pdf: &[u8]) -> Option<String> {
    let program = crate::need(PDFTOTEXT_VAR, "pdftotext (poppler-utils)")?;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("statement.pdf");
    std::fs::write(&path, pdf).expect("write the PDF");
    let output = Command::new(&program)
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
        .unwrap_or_else(|error| panic!("run {program}: {error}"));
    assert!(
        output.status.success(),
        "pdftotext could not read the PDF: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}
