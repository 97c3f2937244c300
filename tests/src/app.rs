//! The real platform, started in-process on 127.0.0.1 on a port of its own, with a mailbox
//! that keeps every email it sends, and shortcuts to make signed-in users and API keys.

use std::sync::Arc;

use hostdeck::serve::{Running, start_with_mailer};
use hostdeck_core::Core;
use hostdeck_core::email::Email;
use hostdeck_core::identity::{Client, SignIn};
use hostdeck_core::policy::{Actor, Role, Scope, Via};
use hostdeck_core::users::{NewAccount, User};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::net::TcpListener;

use crate::mail::Mailbox;

/// The password every test user gets.
pub const PASSWORD: &str = "violet kettle orbit 42";

/// A running platform and an HTTP client for it.
pub struct TestApp {
    pub running: Running,
    pub http: reqwest::Client,
    pub mailbox: Mailbox,
}

/// The status of a response and its JSON body (`Null` when the body is empty).
pub async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.expect("a response body");
    if bytes.is_empty() {
        return (status, Value::Null);
    }
    let body = serde_json::from_slice(&bytes).unwrap_or_else(|error| {
        panic!(
            "a {status} answer is not JSON ({error}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, body)
}

/// An HTTP client whose connections come from `ip`, so the platform sees another client
/// address. Any 127.x.y.z is the loopback interface on Linux.
pub fn client_from(ip: std::net::IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(ip)
        .build()
        .expect("an HTTP client")
}

/// A browser on the portal, as the server sees it: its cookies (the session when signed in, and
/// the visit cookie) and the form token of the last page it opened.
#[derive(Debug, Clone)]
pub struct PortalVisit {
    /// The `Cookie` header it sends.
    pub cookies: String,
    /// The `csrf` field of the forms on the page it opened.
    pub token: String,
}

/// The value of the cookie `name` set by `response`, if it sets one.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| value.strip_prefix(&format!("{name}=")))
        .and_then(|value| value.split(';').next())
        .map(str::to_owned)
}

/// The `csrf` field of the first form in `html`.
pub fn form_token(html: &str) -> Option<String> {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned)
}

/// A signed-in test user.
pub struct SignedIn {
    pub user: User,
    /// A session token for `Authorization: Bearer`.
    pub token: String,
}

impl TestApp {
    pub async fn start(core: Core) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let mailbox = Mailbox::default();
        let running = start_with_mailer(Arc::new(core), listener, Arc::new(mailbox.clone()))
            .expect("start the platform");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        Self {
            running,
            http,
            mailbox,
        }
    }

    /// The platform with the mailer its config asks for, as `hostdeck serve` starts it: email
    /// goes over SMTP to `smtp.url` (a real server, see [`crate::smtp`]), and `mailbox` stays
    /// empty.
    pub async fn start_with_smtp(core: Core) -> Self {
        assert!(
            core.config.smtp.url.is_some(),
            "start_with_smtp needs smtp.url in the config"
        );
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let running = hostdeck::serve::start(Arc::new(core), listener)
            .expect("start the platform with its configured mailer");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        Self {
            running,
            http,
            mailbox: Mailbox::default(),
        }
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

    /// GET with a bearer token.
    pub async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET")
    }

    /// POST JSON, with a bearer token when given.
    pub async fn post_json(
        &self,
        token: Option<&str>,
        path: &str,
        body: &Value,
    ) -> reqwest::Response {
        let mut request = self.http.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("POST")
    }

    /// Sends `method path`, with a bearer token and a JSON body when given.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = self.http.request(method.clone(), self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request
            .send()
            .await
            .unwrap_or_else(|error| panic!("{method} {path}: {error}"))
    }

    /// Opens `path` on the portal as a browser would, signed in with `session` when given, and
    /// keeps the cookies and the page's form token for [`TestApp::portal_post`].
    pub async fn portal_visit(&self, session: Option<&str>, path: &str) -> PortalVisit {
        let mut request = self.http.get(self.url(path));
        if let Some(session) = session {
            request = request.header("cookie", format!("hd_session={session}"));
        }
        let page = request.send().await.expect("GET a portal page");
        assert_eq!(page.status(), 200, "GET {path}");
        let visit = set_cookie(&page, "hd_csrf").expect("a visit cookie");
        let html = page.text().await.expect("a page");
        let token = form_token(&html).unwrap_or_else(|| panic!("a form on {path}: {html}"));
        let cookies = match session {
            Some(session) => format!("hd_session={session}; hd_csrf={visit}"),
            None => format!("hd_csrf={visit}"),
        };
        PortalVisit { cookies, token }
    }

    /// Posts a portal form as the browser of `visit` would (same origin, its token added).
    pub async fn portal_post(
        &self,
        visit: &PortalVisit,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("csrf", &visit.token);
        for (name, value) in fields {
            form.append_pair(name, value);
        }
        self.http
            .post(self.url(path))
            .header("cookie", &visit.cookies)
            .header("origin", self.url(""))
            .header("sec-fetch-site", "same-origin")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.finish())
            .send()
            .await
            .unwrap_or_else(|error| panic!("POST {path}: {error}"))
    }

    /// Signs in over the API with a password and returns the session token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let (status, body) = answer(
            self.post_json(
                None,
                "/api/v1/auth/login",
                &serde_json::json!({ "email": email, "password": password }),
            )
            .await,
        )
        .await;
        assert_eq!(status, 200, "sign-in of {email}: {body}");
        body["token"]
            .as_str()
            .unwrap_or_else(|| panic!("a token for {email}: {body}"))
            .to_owned()
    }

    /// Turns two-factor on over the API, as a person with an authenticator app would: enrol,
    /// then confirm with the current code. Returns the new session token and the secret.
    pub async fn turn_on_two_factor(&self, token: &str) -> (String, String) {
        let (status, enrolment) = answer(
            self.send(
                reqwest::Method::POST,
                "/api/v1/auth/2fa/enroll",
                Some(token),
                None,
            )
            .await,
        )
        .await;
        assert_eq!(status, 200, "enrolment: {enrolment}");
        let secret = enrolment["secret"].as_str().expect("a secret").to_owned();
        let code = hostdeck_core::auth::totp::code_at(&secret, self.core().clock.now().timestamp())
            .expect("a code");
        let (status, session) = answer(
            self.post_json(
                Some(token),
                "/api/v1/auth/2fa/confirm",
                &serde_json::json!({ "code": code }),
            )
            .await,
        )
        .await;
        assert_eq!(status, 200, "confirmation: {session}");
        (
            session["token"].as_str().expect("a token").to_owned(),
            secret,
        )
    }

    /// A verified account with `role`, signed in (with two-factor for staff, as the platform
    /// requires), straight through core.
    pub async fn user(&self, email: &str, role: Role) -> SignedIn {
        let core = self.core();
        let user = core
            .users
            .create(
                &Actor::cli(),
                NewAccount {
                    email: Email::parse(email).expect("email"),
                    role,
                    password: SecretString::from(PASSWORD),
                    email_verified: true,
                },
            )
            .await
            .expect("create a test user");
        let client = Client {
            address: "127.0.0.1".into(),
            user_agent: "tests".into(),
        };
        let session = if role == Role::Customer {
            match core
                .identity
                .sign_in(email, SecretString::from(PASSWORD), None, &client)
                .await
                .expect("sign in")
            {
                SignIn::Session(session) => session,
                SignIn::TwoFactorRequired => panic!("no two-factor yet"),
            }
        } else {
            core.auth
                .sessions
                .issue(user.id, true, "tests")
                .await
                .expect("a staff session")
        };
        SignedIn {
            user,
            token: session.token.expose_secret().to_owned(),
        }
    }

    /// An API key of `user` with `scopes`.
    pub async fn api_key(&self, user: &SignedIn, scopes: &[Scope]) -> String {
        let actor = Actor {
            two_factor: user.user.role != Role::Customer,
            ..Actor::user(user.user.id, user.user.role, Via::Api)
        };
        let created = self
            .core()
            .auth
            .api_keys
            .create(&actor, "test key", scopes, None)
            .await
            .expect("an API key");
        created.key.expose_secret().to_owned()
    }
}
