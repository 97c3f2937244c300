//! The real platform, started in-process on 127.0.0.1 on a port of its own.

use std::sync::Arc;

use hostdeck::serve::{Running, start};
use hostdeck_core::Core;
use tokio::net::TcpListener;

/// A running platform and an HTTP client for it.
pub struct TestApp {
    pub running: Running,
    pub http: reqwest::Client,
}

impl TestApp {
    pub async fn start(core: Core) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let running = start(Arc::new(core), listener).expect("start the platform");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        Self { running, http }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.addr)
    }

    pub fn core(&self) -> &Core {
        &self.running.core
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }
}
