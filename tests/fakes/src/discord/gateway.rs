//! The gateway: a websocket on its own loopback port speaking Discord's gateway v10 in plain
//! text frames. HELLO on connect, IDENTIFY -> READY, heartbeats -> ACK, sequence numbers on every
//! dispatch, RESUME -> replay of what the session missed + RESUMED, several shards at once.
//!
//! A session outlives its connection: events for a shard whose socket is down are kept and
//! replayed when the bot resumes, as Discord does. Every frame the bot sends is recorded in the
//! fake's [`Recorder`](crate::server::Recorder) with the method [`GATEWAY`] and the URI
//! `/gateway/<OPCODE NAME>`, so gateway mistakes show up in `problems()` beside REST ones.

use std::sync::Arc;

use axum::http::{HeaderMap, Method};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use super::Shared;
use super::world::{INTENT_MESSAGE_CONTENT, World};
use crate::server::Call;

/// The method name gateway frames are recorded under.
pub const GATEWAY: &str = "GATEWAY";

pub fn gateway_method() -> Method {
    Method::from_bytes(GATEWAY.as_bytes()).expect("GATEWAY is a valid method token")
}

/// What the fake sends down one connection.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Text(String),
    /// A close frame with Discord's close code and reason, then the end of the connection.
    Close(u16, &'static str),
    /// The end of the connection without a close frame, as when a network drops.
    Drop,
}

#[derive(Debug)]
pub(crate) struct Link {
    id: u64,
    tx: UnboundedSender<Outgoing>,
}

/// One identified gateway session of one shard.
#[derive(Debug)]
pub(crate) struct Session {
    pub id: String,
    /// `[shard_id, shard_count]` from IDENTIFY.
    pub shard: [u64; 2],
    pub intents: u64,
    pub seq: u64,
    /// Every dispatch sent in this session, in sequence order, for replay on RESUME.
    history: Vec<String>,
    link: Option<Link>,
}

impl Session {
    fn dispatch(&mut self, event: &str, data: Value) {
        self.seq += 1;
        let frame = json!({"op": 0, "s": self.seq, "t": event, "d": data}).to_string();
        self.history.push(frame.clone());
        if let Some(link) = &self.link {
            let _ = link.tx.send(Outgoing::Text(frame));
        }
    }

    fn send(&self, outgoing: Outgoing) {
        if let Some(link) = &self.link {
            let _ = link.tx.send(outgoing);
        }
    }

    pub fn connected(&self) -> bool {
        self.link.is_some()
    }
}

/// The gateway's state, kept inside the fake's world.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    pub live: Vec<Session>,
    /// Every IDENTIFY payload (`d`) received, oldest first.
    pub identifies: Vec<Value>,
    pub resumes: usize,
    pub heartbeats: usize,
    /// Close codes the fake sent, oldest first.
    pub closes: Vec<u16>,
    next_link: u64,
    next_session: u64,
}

/// Discord's shard formula: `(guild_id >> 22) % shard_count`; DMs go to shard 0.
pub fn shard_for(guild_id: Option<u64>, shard_count: u64) -> u64 {
    guild_id.map_or(0, |guild_id| (guild_id >> 22) % shard_count.max(1))
}

impl Sessions {
    /// The session that receives events of `guild_id` (or DMs).
    pub fn session_for(&mut self, guild_id: Option<u64>) -> Option<&mut Session> {
        self.live
            .iter_mut()
            .rev()
            .find(|session| session.shard[0] == shard_for(guild_id, session.shard[1]))
    }

    /// Sends a dispatch to the shard that owns `guild_id`; `false` when no session exists.
    pub fn dispatch(&mut self, guild_id: Option<u64>, event: &str, data: Value) -> bool {
        match self.session_for(guild_id) {
            Some(session) => {
                session.dispatch(event, data);
                true
            }
            None => false,
        }
    }

    /// Every shard of the bot's announced shard count has a connected session.
    pub fn all_shards_ready(&self) -> bool {
        let Some(count) = self.live.iter().map(|session| session.shard[1]).max() else {
            return false;
        };
        (0..count).all(|shard_id| {
            self.live
                .iter()
                .any(|session| session.shard == [shard_id, count] && session.connected())
        })
    }

    pub fn send_to_all(&self, outgoing: impl Fn() -> Outgoing) {
        for session in &self.live {
            session.send(outgoing());
        }
    }

    fn unlink(&mut self, link_id: u64) {
        for session in &mut self.live {
            if session.link.as_ref().is_some_and(|link| link.id == link_id) {
                session.link = None;
            }
        }
    }
}

/// Accepts gateway connections until the fake is dropped.
pub(crate) async fn serve(shared: Arc<Shared>, listener: TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(connection(shared.clone(), stream));
    }
}

async fn connection(shared: Arc<Shared>, stream: TcpStream) {
    if shared.with(|world| world.down) {
        // Down: the connection ends before the websocket handshake.
        return;
    }
    let mut query = String::new();
    let upgrade = tokio_tungstenite::accept_hdr_async(stream, QueryCapture(&mut query)).await;
    let Ok(socket) = upgrade else {
        return;
    };
    let (mut sink, mut frames) = socket.split();
    let (tx, mut rx) = unbounded_channel();
    let link_id = shared.with(|world| {
        world.sessions.next_link += 1;
        world.sessions.next_link
    });
    let mut problems = Vec::new();
    if !query.split('&').any(|pair| pair == "v=10") {
        problems.push(format!(
            "the gateway URL must ask for v=10 (the fake speaks gateway v10); the query was {query:?}"
        ));
    }
    record(&shared, "CONNECT", json!({"query": query}), problems);
    let interval = shared.with(|world| world.settings.heartbeat_interval.as_millis() as u64);
    let _ = tx.send(Outgoing::Text(
        json!({"op": 10, "s": null, "t": null, "d": {"heartbeat_interval": interval}}).to_string(),
    ));

    let writer = async move {
        while let Some(outgoing) = rx.recv().await {
            match outgoing {
                Outgoing::Text(text) => {
                    if sink.send(Message::Text(text)).await.is_err() {
                        return;
                    }
                }
                Outgoing::Close(code, reason) => {
                    let frame = CloseFrame {
                        code: code.into(),
                        reason: reason.into(),
                    };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    return;
                }
                Outgoing::Drop => return,
            }
        }
    };
    let mut link = Connection {
        shared: shared.clone(),
        tx,
        link_id,
        session: None,
    };
    let reader = async move {
        while let Some(Ok(message)) = frames.next().await {
            match message {
                Message::Text(text) => link.frame(&text),
                Message::Binary(_) => link.refuse(
                    "BINARY",
                    Value::Null,
                    "the bot sent a binary frame; Discord's JSON encoding takes text frames",
                    4002,
                    "Error while decoding payload.",
                ),
                Message::Close(_) => return,
                _ => {}
            }
        }
    };
    tokio::select! {
        () = writer => {}
        () = reader => {}
    }
    shared.with(|world| world.sessions.unlink(link_id));
    shared.touch();
}

/// Keeps the query string of the websocket upgrade, where the bot names the gateway version.
struct QueryCapture<'a>(&'a mut String);

impl Callback for QueryCapture<'_> {
    fn on_request(self, request: &Request, response: Response) -> Result<Response, ErrorResponse> {
        *self.0 = request.uri().query().unwrap_or_default().to_owned();
        Ok(response)
    }
}

fn record(shared: &Shared, what: &str, body: Value, problems: Vec<String>) {
    shared.recorder.record(Call {
        method: gateway_method(),
        uri: format!("/gateway/{what}"),
        headers: HeaderMap::new(),
        body,
        problems,
    });
}

/// One gateway connection, from the fake's side.
struct Connection {
    shared: Arc<Shared>,
    tx: UnboundedSender<Outgoing>,
    link_id: u64,
    /// The session this connection identified or resumed.
    session: Option<String>,
}

impl Connection {
    fn frame(&mut self, text: &str) {
        let Ok(frame) = serde_json::from_str::<Value>(text) else {
            self.refuse(
                "UNPARSABLE",
                Value::String(text.to_owned()),
                "the bot sent a frame that is not JSON",
                4002,
                "Error while decoding payload.",
            );
            return;
        };
        let op = frame["op"].as_u64();
        let authenticated = self.session.is_some();
        match op {
            Some(1) => self.heartbeat(frame),
            Some(2) if authenticated => self.refuse(
                "IDENTIFY",
                frame,
                "IDENTIFY on a connection that already identified or resumed",
                4005,
                "Already authenticated.",
            ),
            Some(2) => self.identify(frame),
            Some(6) => self.resume(frame),
            Some(3 | 4 | 8 | 31) if authenticated => {
                let name = match op {
                    Some(3) => "PRESENCE_UPDATE",
                    Some(4) => "VOICE_STATE_UPDATE",
                    Some(8) => "REQUEST_GUILD_MEMBERS",
                    _ => "REQUEST_SOUNDBOARD_SOUNDS",
                };
                record(&self.shared, name, frame, Vec::new());
            }
            Some(3 | 4 | 8 | 31) => self.refuse(
                "UNAUTHENTICATED",
                frame,
                "the bot sent a payload before IDENTIFY",
                4003,
                "Not authenticated.",
            ),
            _ => self.refuse(
                "UNKNOWN_OPCODE",
                frame,
                "the bot sent an opcode Discord does not take from clients",
                4001,
                "Unknown opcode.",
            ),
        }
        self.shared.touch();
    }

    /// Records a frame Discord would refuse, and closes the connection as Discord does.
    fn refuse(&self, what: &str, frame: Value, problem: &str, code: u16, reason: &'static str) {
        record(&self.shared, what, frame, vec![problem.to_owned()]);
        self.close(code, reason);
    }

    fn close(&self, code: u16, reason: &'static str) {
        self.shared.with(|world| world.sessions.closes.push(code));
        let _ = self.tx.send(Outgoing::Close(code, reason));
    }

    fn send(&self, frame: Value) {
        let _ = self.tx.send(Outgoing::Text(frame.to_string()));
    }

    fn heartbeat(&self, frame: Value) {
        let mut problems = Vec::new();
        if !(frame["d"].is_null() || frame["d"].is_u64()) {
            problems.push("a heartbeat's d must be the last sequence number or null".to_owned());
        }
        self.shared.with(|world| world.sessions.heartbeats += 1);
        record(&self.shared, "HEARTBEAT", frame, problems);
        self.send(json!({"op": 11, "s": null, "t": null, "d": null}));
    }

    fn token_matches(world: &World, token: &Value) -> bool {
        let token = token.as_str().unwrap_or_default();
        let token = token.strip_prefix("Bot ").unwrap_or(token);
        token == world.settings.token
    }

    fn identify(&mut self, frame: Value) {
        let d = &frame["d"];
        let mut problems = Vec::new();
        for property in ["os", "browser", "device"] {
            if !d["properties"][property].is_string() {
                problems.push(format!("IDENTIFY lacks properties.{property}"));
            }
        }
        if let Some(threshold) = d["large_threshold"].as_u64()
            && !(50..=250).contains(&threshold)
        {
            problems.push(format!(
                "IDENTIFY large_threshold {threshold} is outside 50..=250"
            ));
        }
        let shard = match &d["shard"] {
            Value::Null => Some([0, 1]),
            Value::Array(pair) => match (
                pair.first().and_then(Value::as_u64),
                pair.get(1).and_then(Value::as_u64),
            ) {
                (Some(id), Some(count)) if pair.len() == 2 && count > 0 && id < count => {
                    Some([id, count])
                }
                _ => None,
            },
            _ => None,
        };
        let outcome = self.shared.with(|world| {
            if !Self::token_matches(world, &d["token"]) {
                return Err((
                    4004,
                    "Authentication failed.",
                    "IDENTIFY with a wrong token",
                ));
            }
            let Some(intents) = d["intents"].as_u64() else {
                return Err((
                    4013,
                    "Invalid intent(s).",
                    "IDENTIFY without numeric intents",
                ));
            };
            if intents & INTENT_MESSAGE_CONTENT != 0 && !world.message_content_enabled {
                // Not the bot's mistake but the developer portal's setting: no problem recorded.
                return Err((4014, "Disallowed intent(s).", ""));
            }
            let Some(shard) = shard else {
                return Err((
                    4010,
                    "Invalid shard.",
                    "IDENTIFY with an invalid shard pair",
                ));
            };
            let sessions = &mut world.sessions;
            sessions.identifies.push(d.clone());
            sessions.next_session += 1;
            let id = format!("session-{}", sessions.next_session);
            // A new IDENTIFY for a shard ends that shard's earlier session.
            sessions.live.retain(|session| session.shard != shard);
            let mut session = Session {
                id: id.clone(),
                shard,
                intents,
                seq: 0,
                history: Vec::new(),
                link: Some(Link {
                    id: self.link_id,
                    tx: self.tx.clone(),
                }),
            };
            let guilds: Vec<Value> = world
                .guilds
                .keys()
                .filter(|guild_id| shard_for(Some(**guild_id), shard[1]) == shard[0])
                .map(|guild_id| json!({"id": guild_id.to_string(), "unavailable": true}))
                .collect();
            let ready = json!({
                "v": 10,
                "user": world.bot_user(),
                "guilds": guilds,
                "session_id": id,
                "resume_gateway_url": world.gateway_url,
                "shard": shard,
                "application": {"id": world.settings.application_id.to_string(), "flags": 0},
                "private_channels": [],
                "_trace": ["hostdeck-fakes"],
            });
            session.dispatch("READY", ready);
            world.sessions.live.push(session);
            Ok(id)
        });
        match outcome {
            Ok(id) => {
                self.session = Some(id);
                record(&self.shared, "IDENTIFY", frame, problems);
            }
            Err((code, reason, problem)) => {
                if !problem.is_empty() {
                    problems.push(problem.to_owned());
                }
                record(&self.shared, "IDENTIFY", frame, problems);
                self.close(code, reason);
            }
        }
    }

    fn resume(&mut self, frame: Value) {
        let d = &frame["d"];
        let session_id = d["session_id"].as_str().unwrap_or_default().to_owned();
        let seq = d["seq"].as_u64();
        enum Outcome {
            Resumed,
            Refused(u16, &'static str, &'static str),
            Invalid,
        }
        let outcome = self.shared.with(|world| {
            if !Self::token_matches(world, &d["token"]) {
                return Outcome::Refused(
                    4004,
                    "Authentication failed.",
                    "RESUME with a wrong token",
                );
            }
            let Some(seq) = seq else {
                return Outcome::Refused(
                    4002,
                    "Error while decoding payload.",
                    "RESUME without seq",
                );
            };
            let link = Link {
                id: self.link_id,
                tx: self.tx.clone(),
            };
            let Some(session) = world
                .sessions
                .live
                .iter_mut()
                .find(|session| session.id == session_id)
            else {
                return Outcome::Invalid;
            };
            if seq > session.seq {
                return Outcome::Refused(4007, "Invalid seq.", "RESUME with a sequence never sent");
            }
            let missed = session.history[seq as usize..].to_vec();
            session.link = Some(link);
            for frame in missed {
                session.send(Outgoing::Text(frame));
            }
            session.dispatch("RESUMED", json!({"_trace": ["hostdeck-fakes"]}));
            world.sessions.resumes += 1;
            Outcome::Resumed
        });
        match outcome {
            Outcome::Resumed => {
                self.session = Some(session_id);
                record(&self.shared, "RESUME", frame, Vec::new());
            }
            Outcome::Invalid => {
                // Discord's answer to a session it no longer knows: identify again.
                record(&self.shared, "RESUME", frame, Vec::new());
                self.send(json!({"op": 9, "s": null, "t": null, "d": false}));
            }
            Outcome::Refused(code, reason, problem) => {
                record(&self.shared, "RESUME", frame, vec![problem.to_owned()]);
                self.close(code, reason);
            }
        }
    }
}
