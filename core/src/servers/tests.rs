use chrono::Utc;

use super::*;
use crate::ids::UserId;
use crate::providers::{Resources, ServerState};

#[test]
fn client_keys_are_per_user_and_stable() {
    let a = client_key(UserId(1), "3f1e2a9c-0b7d-4a51-9e0f-8c2d6b1a7e44").expect("a key");
    assert_eq!(
        client_key(UserId(1), "3f1e2a9c-0b7d-4a51-9e0f-8c2d6b1a7e44").expect("again"),
        a
    );
    assert_ne!(
        client_key(UserId(2), "3f1e2a9c-0b7d-4a51-9e0f-8c2d6b1a7e44").expect("b"),
        a
    );
    assert_eq!(a.as_str().len(), 25);
    assert!(client_key(UserId(1), " ").is_err());
}

#[test]
fn the_hourly_price_is_the_burn_rate_of_the_server() {
    use chrono::TimeZone;
    let at = Utc
        .with_ymd_and_hms(2026, 11, 21, 9, 0, 0)
        .single()
        .expect("a time");
    let mut server = Server {
        id: ServerId(1),
        user: UserId(1),
        provider: "vf".into(),
        remote_id: None,
        key: "k".into(),
        name: "web".into(),
        hostname: "web.example.com".into(),
        plan: "small".into(),
        resources: Resources {
            vcpus: 1,
            memory_mib: 1024,
            disk_gib: 25,
        },
        image: "template:11".into(),
        location: None,
        state: ServerStatus::Running,
        suspended_at: None,
        suspend_reason: None,
        rate: Rate {
            running: 5_000_000,
            stopped: 36_500,
            hours: 730,
            since: at,
        },
        billed_until: at,
        created_at: at,
        state_changed_at: at,
        deleted_at: None,
    };
    // $5 a month is 6,849.3 micros an hour: shown rounded up, as /balance shows it.
    assert_eq!(server.hourly(), Money::from_micros(6_850));
    server.suspended_at = Some(at);
    assert_eq!(server.hourly(), Money::from_micros(50));
    server.suspended_at = None;
    server.state = ServerStatus::Stopped;
    assert_eq!(server.hourly(), Money::from_micros(50));
}

#[test]
fn states_round_trip_and_provider_states_map() {
    for state in ServerStatus::ALL {
        assert_eq!(ServerStatus::parse(state.as_str()).ok(), Some(state));
    }
    assert_eq!(
        ServerStatus::from_remote(ServerState::Suspended),
        ServerStatus::Stopped
    );
    assert!(!ServerStatus::Creating.is_on_provider());
    assert!(ServerStatus::Unknown.is_on_provider());
}
