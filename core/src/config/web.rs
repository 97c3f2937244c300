//! `[web]`: the HTTP listener, its limits, and which proxies may name the client address.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Address the web server listens on.
    pub bind: SocketAddr,
    /// The address people use to reach the portal (for links in emails); `https` turns on
    /// secure cookies.
    pub public_url: Option<url::Url>,
    /// A request that takes longer is answered 408 and its work dropped.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Reverse proxies (addresses or CIDR networks) whose `X-Forwarded-For` is believed; the
    /// client is the rightmost address in it that is not one of these. Empty: the peer is the
    /// client and the header is ignored.
    pub trusted_proxies: Vec<TrustedProxy>,
    /// How long a connection may take to send a request's headers, counted from when it opens
    /// and, on a kept-alive connection, from the end of the previous answer (so an idle
    /// connection is closed after this long too).
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A connection on which no byte moves either way for this long is closed (a stalled
    /// upload, a client that stops reading its answer).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// The longest wait for the next part of a request body.
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// Connections served at once; further ones wait to be accepted.
    pub max_connections: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 1024 * 1024,
            trusted_proxies: Vec::new(),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(20),
            max_connections: 1024,
        }
    }
}

impl WebConfig {
    /// The portal's address of `path` (`/tickets/4`) for links in emails: `public_url`, or
    /// the bound address while none is set.
    pub fn portal_url(&self, path: &str) -> String {
        match &self.public_url {
            Some(url) => format!("{}{path}", url.as_str().trim_end_matches('/')),
            None => format!("http://{}{path}", self.bind),
        }
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy, the rightmost
    /// address in `X-Forwarded-For` (its values in order, as bytes) that is not a trusted proxy.
    /// Entries left of that are whatever the client wrote, so they are never believed. An entry
    /// that is no address (not UTF-8, garbage) where the client should be names the client by
    /// an opaque `xff:` id of its text: never the proxy, which would make every client behind
    /// it one.
    pub fn client_address<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a [u8]>,
    ) -> String {
        let trusted = |ip: &IpAddr| self.trusted_proxies.iter().any(|p| p.contains(*ip));
        let mut client = peer.to_canonical();
        if !trusted(&client) {
            return client.to_string();
        }
        let hops = forwarded_for
            .flat_map(|value| value.split(|b| *b == b','))
            .rev();
        for hop in hops {
            let Some(ip) = parse_hop(hop) else {
                return opaque_hop(hop);
            };
            client = ip;
            if !trusted(&client) {
                break;
            }
        }
        client.to_string()
    }
}

/// One `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:80`.
fn parse_hop(hop: &[u8]) -> Option<IpAddr> {
    let hop = std::str::from_utf8(hop).ok()?.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
        .map(|ip| ip.to_canonical())
}

/// A client known only by an `X-Forwarded-For` entry that is no address.
fn opaque_hop(hop: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(hop.trim_ascii());
    let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("xff:{short}")
}

/// An address or a network, written `10.0.0.1`, `10.0.0.0/8` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy {
    network: IpAddr,
    prefix: u8,
}

impl TrustedProxy {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for TrustedProxy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wrong = || {
            format!(
                "{text:?} is not an address or network; write it like \"10.0.0.1\" or \"10.0.0.0/8\""
            )
        };
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let network = address
            .parse::<IpAddr>()
            .map_err(|_| wrong())?
            .to_canonical();
        let most = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= most)
                .ok_or_else(wrong)?,
            None => most,
        };
        Ok(Self { network, prefix })
    }
}

impl std::fmt::Display for TrustedProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl<'de> Deserialize<'de> for TrustedProxy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for TrustedProxy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
