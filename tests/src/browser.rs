//! Headless Chromium for one test, driven over WebDriver by chromedriver on a free loopback
//! port, as a person would use the portal: open a page, type into a form's fields, press its
//! button. Every page it lands on is saved as a screenshot, `NN-page.png`, under
//! `target/test-output/<test>/`, so what the portal looked like can be checked afterwards.
//!
//! `HOSTDECK_TEST_CHROMEDRIVER` is the path of chromedriver (Debian's chromium-driver:
//! `/usr/bin/chromedriver`); a `chromium` beside it is the browser it drives. Without it the
//! test is skipped (a failure on CI). The browser runs with a fresh profile and without any of
//! its own network traffic, and is killed with chromedriver when the test lets go of it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::process::{Process, free_port};

pub const CHROMEDRIVER_VAR: &str = "HOSTDECK_TEST_CHROMEDRIVER";

/// The desktop window the screenshots are taken in.
pub const WIDTH: u32 = 1280;
pub const HEIGHT: u32 = 900;
/// A phone's width, for screenshots of the narrow layout.
pub const NARROW_WIDTH: u32 = 390;

/// How long chromedriver may take to answer, and a page to load or a click to land.
const START_TIMEOUT: Duration = Duration::from_secs(20);
const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

/// The flags Chromium needs here: no sandbox (tests may run as root), no GPU, and none of the
/// browser's own connections (updates, sync, safe browsing), which a closed network refuses.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
];

/// A browser session on the platform at `base`.
pub struct Browser {
    client: Option<Client>,
    base: String,
    output: PathBuf,
    shots: u32,
    // Dropped in this order: chromedriver and its browser, then the browser's profile.
    driver: Process,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless browser for the test named `test`, on the platform
    /// whose address is `base` (`http://127.0.0.1:PORT`), or returns `None` (the test is
    /// skipped) when `HOSTDECK_TEST_CHROMEDRIVER` is not set.
    pub async fn start(test: &str, base: &str) -> Option<Self> {
        let chromedriver = crate::need(CHROMEDRIVER_VAR, "Chromium and chromedriver")?;
        let output = output_dir(test);
        let profile = tempfile::Builder::new()
            .prefix("hostdeck-chromium")
            .tempdir()
            .expect("a temporary browser profile");
        let log = output.join("chromedriver.log");
        // A port can be taken between choosing it and chromedriver binding it: try a few.
        for _ in 0..3 {
            let port = free_port();
            let mut start = Command::new(&chromedriver);
            start
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let mut driver = Process::spawn("chromedriver", start);
            if !wait_until_ready(port, &mut driver).await {
                driver.kill();
                continue;
            }
            let client = session(port, &chromedriver, profile.path()).await;
            println!("screenshots of {test}: {}", output.display());
            return Some(Self {
                client: Some(client),
                base: base.trim_end_matches('/').to_owned(),
                output,
                shots: 0,
                driver,
                _profile: profile,
            });
        }
        panic!(
            "chromedriver ({chromedriver}) did not start on 127.0.0.1; its log is {}",
            log.display()
        )
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the browser session is open")
    }

    /// The folder the screenshots go to.
    pub fn output_dir(&self) -> &Path {
        &self.output
    }

    /// Opens `path` of the platform (or any absolute URL), waits for it, and saves a
    /// screenshot.
    pub async fn open(&mut self, path: &str) -> PathBuf {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        self.client()
            .goto(&url)
            .await
            .unwrap_or_else(|error| panic!("open {url}: {error}"));
        self.wait_until_loaded().await;
        self.shot_of_page().await
    }

    /// Types `value` into the field called `name` of the form that posts to `form`, after
    /// clearing what it held.
    pub async fn fill(&self, form: &str, fields: &[(&str, &str)]) {
        for (name, value) in fields {
            let field = self.find(&field_selector(form, name)).await;
            field
                .clear()
                .await
                .unwrap_or_else(|error| panic!("clear {name} of {form}: {error}"));
            field
                .send_keys(value)
                .await
                .unwrap_or_else(|error| panic!("type into {name} of {form}: {error}"));
        }
    }

    /// Ticks the checkbox `name` with `value` in the form that posts to `form`.
    pub async fn check(&self, form: &str, name: &str, value: &str) {
        let selector = format!(
            "{} [name=\"{name}\"][value=\"{value}\"]",
            form_selector(form)
        );
        let checkbox = self.find(&selector).await;
        let ticked = checkbox
            .is_selected()
            .await
            .unwrap_or_else(|error| panic!("read {selector}: {error}"));
        if !ticked {
            checkbox
                .click()
                .await
                .unwrap_or_else(|error| panic!("tick {selector}: {error}"));
        }
    }

    /// Presses the submit button of the form that posts to `form`, waits for the page it
    /// leads to, and saves a screenshot of it.
    pub async fn submit(&mut self, form: &str) -> PathBuf {
        let selector = format!("{} button[type=\"submit\"]", form_selector(form));
        let button = self.find(&selector).await;
        self.mark_page().await;
        button
            .click()
            .await
            .unwrap_or_else(|error| panic!("press {selector}: {error}"));
        self.wait_for_new_page(&selector).await;
        self.shot_of_page().await
    }

    /// The visible text of the first element matching the CSS `selector`.
    pub async fn text(&self, selector: &str) -> String {
        self.find(selector)
            .await
            .text()
            .await
            .unwrap_or_else(|error| panic!("read the text of {selector}: {error}"))
    }

    /// Whether an element matches the CSS `selector`.
    pub async fn has(&self, selector: &str) -> bool {
        self.client()
            .find_all(Locator::Css(selector))
            .await
            .is_ok_and(|found| !found.is_empty())
    }

    /// The visible text of the whole page.
    pub async fn page_text(&self) -> String {
        self.text("body").await
    }

    /// The path and query of the page the browser is on.
    pub async fn path(&self) -> String {
        let url = self
            .client()
            .current_url()
            .await
            .unwrap_or_else(|error| panic!("read the current address: {error}"));
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The page's title.
    pub async fn title(&self) -> String {
        self.client()
            .title()
            .await
            .unwrap_or_else(|error| panic!("read the title: {error}"))
    }

    /// Saves a screenshot of the whole page at the desktop width as `NN-label.png`.
    pub async fn shot(&mut self, label: &str) -> PathBuf {
        self.shot_at(label, WIDTH).await
    }

    /// Saves a screenshot of the whole page laid out at `width` CSS pixels as `NN-label.png`,
    /// then goes back to the desktop width.
    pub async fn shot_at(&mut self, label: &str, width: u32) -> PathBuf {
        let client = self.client().clone();
        resize(&client, width, HEIGHT).await;
        // Grow the window to the page's full height, so the screenshot shows all of it.
        let full: u32 = client
            .execute(
                "return Math.ceil(document.documentElement.scrollHeight)",
                vec![],
            )
            .await
            .ok()
            .and_then(|height| height.as_u64())
            .map_or(HEIGHT, |height| height.clamp(200, 6000) as u32);
        if full > HEIGHT {
            resize(&client, width, full).await;
        }
        let png = client
            .screenshot()
            .await
            .unwrap_or_else(|error| panic!("take a screenshot: {error}"));
        resize(&client, WIDTH, HEIGHT).await;
        self.shots += 1;
        let path = self
            .output
            .join(format!("{:02}-{}.png", self.shots, file_label(label)));
        std::fs::write(&path, png)
            .unwrap_or_else(|error| panic!("write {}: {error}", path.display()));
        path
    }

    /// What spills out sideways when the page is laid out at `width` CSS pixels: the page
    /// wider than the window, or a card (or `main`) whose content is wider than itself. Empty
    /// when everything fits; a table that scrolls inside its own box is fine.
    pub async fn overflow_at(&mut self, width: u32) -> Vec<String> {
        let client = self.client().clone();
        resize(&client, width, HEIGHT).await;
        let found = client
            .execute(
                "const out = [];\
                 const root = document.documentElement;\
                 if (root.scrollWidth > window.innerWidth + 1) {\
                   out.push('the page is ' + root.scrollWidth + 'px wide in ' + window.innerWidth);\
                 }\
                 document.querySelectorAll('main, .card').forEach((box) => {\
                   if (box.scrollWidth > box.clientWidth + 1) {\
                     const title = box.querySelector('h1, h2');\
                     out.push((title ? title.textContent.trim() : box.tagName) + ': ' +\
                       box.scrollWidth + 'px of content in ' + box.clientWidth);\
                   }\
                 });\
                 return out;",
                vec![],
            )
            .await
            .unwrap_or_else(|error| panic!("measure the page: {error}"));
        resize(&client, WIDTH, HEIGHT).await;
        found
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Ends the browser session, then chromedriver. (Dropping the browser kills both.)
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        }
        self.driver.kill();
    }

    async fn find(&self, selector: &str) -> fantoccini::elements::Element {
        match self.client().find(Locator::Css(selector)).await {
            Ok(element) => element,
            Err(error) => {
                let path = self.path().await;
                panic!("no {selector} on {path}: {error}")
            }
        }
    }

    /// A screenshot named after the page's path: `/account` -> `NN-account.png`.
    async fn shot_of_page(&mut self) -> PathBuf {
        let path = self.path().await;
        let page = path
            .split('?')
            .next()
            .unwrap_or_default()
            .trim_matches('/')
            .to_owned();
        let label = if page.is_empty() { "home".into() } else { page };
        self.shot(&label).await
    }

    /// Marks the current document, so the next one can be told from it.
    async fn mark_page(&self) {
        self.client()
            .execute("window.__hostdeckOldPage = true; return true", vec![])
            .await
            .unwrap_or_else(|error| panic!("mark the page: {error}"));
    }

    async fn wait_for_new_page(&self, after: &str) {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        loop {
            let state = self
                .client()
                .execute(
                    "return window.__hostdeckOldPage ? 'old' : document.readyState",
                    vec![],
                )
                .await;
            if matches!(&state, Ok(Value::String(state)) if state == "complete") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no new page after {after} within {PAGE_TIMEOUT:?} (last state: {state:?})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_until_loaded(&self) {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        loop {
            let state = self
                .client()
                .execute("return document.readyState", vec![])
                .await;
            if matches!(&state, Ok(Value::String(state)) if state == "complete") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the page did not load within {PAGE_TIMEOUT:?} ({state:?})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The session cannot be closed politely without awaiting; killing chromedriver's
        // process group takes the browser with it.
        self.driver.kill();
    }
}

fn form_selector(form: &str) -> String {
    format!("form[action=\"{form}\"]")
}

fn field_selector(form: &str, name: &str) -> String {
    format!("{} [name=\"{name}\"]", form_selector(form))
}

fn file_label(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// `target/test-output/<test>/`, emptied of the screenshots of an earlier run.
pub fn output_dir(test: &str) -> PathBuf {
    let dir = target_dir().join("test-output").join(file_label(test));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|error| panic!("create {}: {error}", dir.display()));
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.filter_map(Result::ok) {
            if entry.path().extension().is_some_and(|ext| ext == "png") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    dir
}

/// Cargo's target directory: the test binary lives in `<target>/<profile>/deps/`.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let deps = exe.parent()?;
            (deps.file_name()? == "deps").then(|| deps.parent()?.parent().map(Path::to_path_buf))?
        })
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// Whether chromedriver on `port` says it is ready before the start timeout, while it runs.
async fn wait_until_ready(port: u16, driver: &mut Process) -> bool {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("an HTTP client");
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if driver.exited().is_some() {
            return false;
        }
        if let Ok(response) = http
            .get(format!("http://127.0.0.1:{port}/status"))
            .send()
            .await
            && let Ok(status) = response.json::<Value>().await
            && status["value"]["ready"] == true
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A new session: headless Chromium with an empty profile of its own.
async fn session(port: u16, chromedriver: &str, profile: &Path) -> Client {
    let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|arg| (*arg).to_owned()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.push(format!("--window-size={WIDTH},{HEIGHT}"));
    let mut options = json!({ "args": args });
    let beside = Path::new(chromedriver).with_file_name("chromium");
    if beside.is_file() {
        options["binary"] = json!(beside);
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert("goog:chromeOptions".into(), options);
    let client = tokio::time::timeout(
        START_TIMEOUT,
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}")),
    )
    .await
    .unwrap_or_else(|_| panic!("Chromium did not start within {START_TIMEOUT:?}"))
    .unwrap_or_else(|error| panic!("start Chromium through chromedriver: {error}"));
    client
        .update_timeouts(TimeoutConfiguration::new(
            Some(PAGE_TIMEOUT),
            Some(PAGE_TIMEOUT),
            Some(Duration::ZERO),
        ))
        .await
        .unwrap_or_else(|error| panic!("set the browser's timeouts: {error}"));
    resize(&client, WIDTH, HEIGHT).await;
    client
}

/// Sizes the window so that the page's viewport is `width` x `height` CSS pixels.
async fn resize(client: &Client, width: u32, height: u32) {
    client
        .set_window_size(width, height)
        .await
        .unwrap_or_else(|error| panic!("resize the window: {error}"));
    // The window's frame takes some of its size; make up for it so the layout sees `width`.
    let inner = client
        .execute("return [window.innerWidth, window.innerHeight]", vec![])
        .await
        .ok()
        .and_then(|size| Some((size[0].as_u64()? as u32, size[1].as_u64()? as u32)));
    if let Some((inner_width, inner_height)) = inner
        && (inner_width != width || inner_height != height)
    {
        let outer_width = width + width.saturating_sub(inner_width);
        let outer_height = height + height.saturating_sub(inner_height);
        client
            .set_window_size(outer_width, outer_height)
            .await
            .unwrap_or_else(|error| panic!("resize the window: {error}"));
    }
}
