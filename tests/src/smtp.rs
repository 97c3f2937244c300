//! A real SMTP server for one test: aiosmtpd (Debian's python3-aiosmtpd) on 127.0.0.1 on a port
//! of its own, storing every message it accepts in a Maildir that the test reads back. The
//! platform reaches it exactly as it reaches a production mail server, through `smtp.url`.
//!
//! `HOSTDECK_TEST_SMTP` names the command that starts aiosmtpd's command line program, split on
//! spaces: `aiosmtpd` (the Debian package's `/usr/bin/aiosmtpd`), or `/usr/bin/python3 -m
//! aiosmtpd` for the module of a given Python. Without it the test is skipped (a failure on CI).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::process::{Process, free_port};

pub const SMTP_VAR: &str = "HOSTDECK_TEST_SMTP";

/// How long aiosmtpd may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running aiosmtpd, killed when dropped, and its mailbox.
pub struct SmtpServer {
    port: u16,
    maildir: PathBuf,
    process: Process,
    _dir: tempfile::TempDir,
}

/// One message as the SMTP server received it, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Envelope recipients (`RCPT TO`), as the server recorded them.
    pub to: Vec<String>,
    /// The `From:` header.
    pub from: String,
    /// The `Subject:` header, with RFC 2047 encoded words decoded.
    pub subject: String,
    /// The plain text body, with its transfer encoding (quoted-printable, base64) undone.
    pub text: String,
    /// The message as stored, headers and all.
    pub raw: String,
}

impl SmtpServer {
    /// Starts aiosmtpd on a free port and waits until it greets, or returns `None` (the test is
    /// skipped) when `HOSTDECK_TEST_SMTP` is not set.
    pub async fn start() -> Option<Self> {
        let command = crate::need(SMTP_VAR, "an SMTP server (Debian's python3-aiosmtpd)")?;
        let words: Vec<&str> = command.split_whitespace().collect();
        let (program, args) = words
            .split_first()
            .unwrap_or_else(|| panic!("{SMTP_VAR} is blank"));
        let dir = tempfile::Builder::new()
            .prefix("hostdeck-smtp")
            .tempdir()
            .expect("a temporary directory");
        let maildir = dir.path().join("Maildir");
        let log = dir.path().join("aiosmtpd.log");
        // A port can be taken between choosing it and aiosmtpd binding it: try a few.
        for _ in 0..3 {
            let port = free_port();
            let mut start = Command::new(program);
            start
                .args(args)
                .args(["-n", "-l", &format!("127.0.0.1:{port}")])
                .args(["-c", "aiosmtpd.handlers.Mailbox"])
                .arg(&maildir)
                .stdin(Stdio::null())
                .stdout(log_file(&log))
                .stderr(log_file(&log));
            let mut process = Process::spawn("aiosmtpd", start);
            if wait_for_greeting(port, &mut process).await {
                return Some(Self {
                    port,
                    maildir,
                    process,
                    _dir: dir,
                });
            }
            process.kill();
        }
        panic!(
            "aiosmtpd ({command}) did not start on 127.0.0.1; its log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The value of `smtp.url` that sends mail here: plain SMTP, as to a relay on the same host.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// Every message received so far, oldest first.
    pub fn all(&self) -> Vec<Received> {
        let mut files: Vec<(SystemTime, PathBuf)> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(self.maildir.join(sub)).ok())
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let modified = entry.metadata().ok()?.modified().ok()?;
                Some((modified, entry.path()))
            })
            .collect();
        files.sort();
        files
            .iter()
            .filter_map(|(_, path)| std::fs::read(path).ok())
            .map(|bytes| parse(&String::from_utf8_lossy(&bytes)))
            .collect()
    }

    /// The newest message to `address` (by envelope recipient or `To:`), if any.
    pub fn newest_to(&self, address: &str) -> Option<Received> {
        self.all()
            .into_iter()
            .rev()
            .find(|message| message.is_to(address))
    }

    /// Waits up to ten seconds for a message to `address` whose subject contains `subject`,
    /// and returns the newest such.
    pub async fn wait_for(&self, address: &str, subject: &str) -> Received {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self
                .all()
                .into_iter()
                .rev()
                .find(|message| message.is_to(address) && message.subject.contains(subject));
            if let Some(message) = found {
                return message;
            }
            if Instant::now() > deadline {
                let subjects: Vec<(Vec<String>, String)> = self
                    .all()
                    .into_iter()
                    .map(|message| (message.to, message.subject))
                    .collect();
                panic!(
                    "the SMTP server on port {} received no email to {address} about {subject:?}; \
                     it has: {subjects:?}",
                    self.port
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the server now (it is also stopped when dropped).
    pub fn stop(&mut self) {
        self.process.kill();
    }
}

impl Received {
    /// Whether `address` is among the envelope recipients.
    pub fn is_to(&self, address: &str) -> bool {
        self.to
            .iter()
            .any(|recipient| recipient.eq_ignore_ascii_case(address))
    }
}

fn log_file(path: &Path) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

/// Whether the server on `port` sends its 220 greeting before the start timeout, while the
/// process is still running.
async fn wait_for_greeting(port: u16, process: &mut Process) -> bool {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if process.exited().is_some() {
            return false;
        }
        if let Ok(Ok(mut stream)) = tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect(("127.0.0.1", port)),
        )
        .await
        {
            let mut greeting = [0u8; 512];
            let read =
                tokio::time::timeout(Duration::from_secs(2), stream.read(&mut greeting)).await;
            if let Ok(Ok(n)) = read
                && greeting[..n].starts_with(b"220")
            {
                let _ = stream.write_all(b"QUIT\r\n").await;
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Reads a stored message: headers, recipients, subject and plain text body.
pub fn parse(raw: &str) -> Received {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = split_message(&raw);
    let headers = header_fields(head);
    let mut to: Vec<String> = header(&headers, "X-RcptTo")
        .map(|list| list.split(',').map(|r| bare_address(r.trim())).collect())
        .unwrap_or_default();
    if to.is_empty() {
        to = header(&headers, "To")
            .map(|list| list.split(',').map(|r| bare_address(r.trim())).collect())
            .unwrap_or_default();
    }
    Received {
        to,
        from: header(&headers, "From")
            .map(decode_words)
            .unwrap_or_default(),
        subject: header(&headers, "Subject")
            .map(decode_words)
            .unwrap_or_default(),
        text: text_of(&headers, body),
        raw,
    }
}

fn split_message(message: &str) -> (&str, &str) {
    message.split_once("\n\n").unwrap_or((message, ""))
}

/// Header fields in order, folded lines joined.
fn header_fields(head: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    fields
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// `Name <a@b>` or `a@b` -> `a@b`.
fn bare_address(text: &str) -> String {
    match (text.rfind('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close => text[open + 1..close].to_owned(),
        _ => text.to_owned(),
    }
}

/// A parameter of a header value, such as `boundary` of a `Content-Type`.
fn parameter(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|part| {
        let (key, value) = part.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// The plain text of a body: the first text/plain part of a multipart message, with its
/// transfer encoding undone.
fn text_of(headers: &[(String, String)], body: &str) -> String {
    let content_type = header(headers, "Content-Type").unwrap_or("text/plain");
    if content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/")
        && let Some(boundary) = parameter(content_type, "boundary")
    {
        let delimiter = format!("--{boundary}");
        for part in body.split(&delimiter).skip(1) {
            if part.starts_with("--") {
                break;
            }
            let part = part.strip_prefix('\n').unwrap_or(part);
            let (head, part_body) = split_message(part);
            let part_headers = header_fields(head);
            let kind = header(&part_headers, "Content-Type")
                .unwrap_or("text/plain")
                .to_ascii_lowercase();
            if kind.starts_with("text/plain") || kind.starts_with("multipart/") {
                return text_of(&part_headers, part_body.trim_end_matches('\n'));
            }
        }
        return String::new();
    }
    let encoding = header(headers, "Content-Transfer-Encoding")
        .unwrap_or("7bit")
        .to_ascii_lowercase();
    let bytes = match encoding.as_str() {
        "quoted-printable" => quoted_printable(body, false),
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(body.split_whitespace().collect::<String>())
            .unwrap_or_else(|error| panic!("a base64 body that does not decode ({error}): {body}")),
        _ => body.as_bytes().to_vec(),
    };
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Undoes quoted-printable (RFC 2045), or the Q encoding of header words (RFC 2047) when
/// `header_word` is set (where `_` is a space).
fn quoted_printable(text: &str, header_word: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                    }
                    None => {
                        out.push(b'=');
                        i += 1;
                    }
                }
            }
            b'_' if header_word => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`) in a header value;
/// the space between two encoded words is dropped, as the RFC says.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, candidate) = rest.split_at(start);
        let decoded = encoded_word(candidate);
        match decoded {
            Some((text, used)) => {
                if !(after_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&text);
                rest = &candidate[used..];
                after_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &candidate[2..];
                after_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

/// One encoded word at the start of `text`: its text and how many bytes it took.
fn encoded_word(text: &str) -> Option<(String, usize)> {
    let inner = text.strip_prefix("=?")?;
    let (_charset, rest) = inner.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let payload = &rest[..end];
    let bytes = match encoding {
        "B" | "b" => base64::engine::general_purpose::STANDARD
            .decode(payload)
            .ok()?,
        "Q" | "q" => quoted_printable(payload, true),
        _ => return None,
    };
    let used = text.len() - rest.len() + end + 2;
    Some((String::from_utf8_lossy(&bytes).into_owned(), used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_aiosmtpd_stores() {
        let stored = "From: Example Hosting <no-reply@example.test>\n\
            To: ann@example.test\n\
            Subject: =?utf-8?b?WW91ciBjb2RlOg==?= =?utf-8?q?_caf=C3=A9?= 123456\n\
            Content-Transfer-Encoding: quoted-printable\n\
            X-RcptTo: ann@example.test, bob@example.test\n\
            \n\
            Hello caf=C3=A9, your code is 123456. A long line goes on and on and o=\n\
            n until it is wrapped.\n";
        let message = parse(stored);
        assert_eq!(message.subject, "Your code: café 123456");
        assert_eq!(message.to, ["ann@example.test", "bob@example.test"]);
        assert_eq!(message.from, "Example Hosting <no-reply@example.test>");
        assert_eq!(
            message.text,
            "Hello café, your code is 123456. A long line goes on and on and on until it is wrapped.\n"
        );
    }

    #[test]
    fn reads_base64_and_multipart_bodies() {
        let stored = "To: <ann@example.test>\n\
            Content-Type: multipart/alternative; boundary=\"b1\"\n\
            \n\
            --b1\n\
            Content-Type: text/plain; charset=utf-8\n\
            Content-Transfer-Encoding: base64\n\
            \n\
            SGVsbG8gd29ybGQ=\n\
            --b1\n\
            Content-Type: text/html\n\
            \n\
            <p>Hello</p>\n\
            --b1--\n";
        let message = parse(stored);
        assert_eq!(message.to, ["ann@example.test"]);
        assert_eq!(message.text, "Hello world");
    }
}
