use super::*;

fn server(body: Value) -> RemoteServer {
    let parsed: VfServer = serde_json::from_value(body).expect("a server");
    remote_server(&parsed)
}

#[test]
fn a_full_server_with_live_state_maps_to_a_remote_server() {
    let mapped = server(json!({
        "id": 42, "name": "web [hd-k3f9x2m1]", "hostname": "web.example.com",
        "state": "complete", "suspended": false,
        "settings": {"resources": {"memory": 2048, "storage": 40, "cpuCores": 2, "traffic": 1000}},
        "network": {"interfaces": [{"ipv4": [
            {"address": "10.0.0.5", "enabled": true},
            {"address": "10.0.0.6", "enabled": false}
        ]}]},
        "owner": {"id": 3, "extRelationId": 7},
        "remoteState": {"state": "running"}
    }));
    assert_eq!(mapped.remote_id.as_str(), "42");
    assert_eq!(mapped.name, "web");
    assert_eq!(mapped.key.as_ref().map(CreateKey::as_str), Some("k3f9x2m1"));
    assert_eq!(mapped.owner, Some(UserId(7)));
    assert_eq!(mapped.state, ServerState::Running);
    assert_eq!(
        mapped.resources,
        Resources {
            vcpus: 2,
            memory_mib: 2048,
            disk_gib: 40
        }
    );
    assert_eq!(mapped.ipv4, vec![Ipv4Addr::new(10, 0, 0, 5)]);
}

#[test]
fn states_come_from_suspension_build_and_libvirt() {
    let state = |body: Value| server(body).state;
    assert_eq!(
        state(json!({"id": 1, "suspended": true, "state": "complete"})),
        ServerState::Suspended
    );
    assert_eq!(
        state(json!({"id": 1, "state": "queued"})),
        ServerState::Building
    );
    assert_eq!(
        state(json!({"id": 1, "state": "building"})),
        ServerState::Building
    );
    assert_eq!(
        state(json!({"id": 1, "state": "complete", "remoteState": {"state": "shutoff"}})),
        ServerState::Stopped
    );
    assert_eq!(
        state(json!({"id": 1, "state": "complete", "remoteState": false})),
        ServerState::Unknown,
        "the list does not carry the power state"
    );
}

#[test]
fn a_name_without_a_marker_is_kept_whole() {
    assert_eq!(split_name("server-5"), ("server-5".to_owned(), None));
    let (name, key) = split_name("my [box] [hd-abcdef1]");
    assert_eq!(name, "my [box]");
    assert_eq!(key.map(|k| k.to_string()), Some("abcdef1".to_owned()));
}

#[test]
fn statuses_become_failures() {
    let failure = |status, message: &str| classify(status, message, None, "server 9");
    assert!(matches!(failure(401, ""), Failure::BadCredentials { .. }));
    assert_eq!(
        failure(404, "server not found"),
        Failure::NotFound {
            what: "server 9".into()
        }
    );
    assert!(matches!(
        failure(409, "The server is suspended."),
        Failure::Conflict { .. }
    ));
    assert!(matches!(
        failure(422, "The selected package id is invalid."),
        Failure::Rejected { .. }
    ));
    assert!(matches!(
        failure(422, "The memory limit of the group is exceeded."),
        Failure::Limit { .. }
    ));
    assert!(matches!(
        failure(423, "The server has tasks pending."),
        Failure::Busy { .. }
    ));
    assert!(matches!(
        failure(503, "The hypervisor is in maintenance mode."),
        Failure::Maintenance { .. }
    ));
    assert!(matches!(
        failure(500, "boom"),
        Failure::ProviderFailed { status: 500, .. }
    ));
    assert_eq!(
        message_of(br#"{"errors":["The name field is required.","The email must be valid."]}"#),
        Some("The name field is required. The email must be valid.".into())
    );
    assert_eq!(
        message_of(br#"{"msg":"server not found"}"#),
        Some("server not found".into())
    );
}
