use reqwest::StatusCode;
use serde_json::json;

use std::net::Ipv4Addr;

use super::wire::{Now, state_of};
use super::*;
use crate::providers::ServerState;

fn status(body: Value) -> Status {
    serde_json::from_value(body).expect("a status")
}

#[test]
fn container_ids_and_numbers_may_come_as_strings() {
    let listed = status(json!({"vmid": "200", "name": "ct-1", "status": "running",
        "cpus": 1, "maxmem": 1073741824_u64, "maxdisk": "8589934592"}));
    let server = remote_server(Guest::Lxc, listed.vmid.expect("vmid"), &listed, None);
    assert_eq!(server.remote_id.as_str(), "lxc/200");
    assert_eq!(server.state, ServerState::Running);
    assert_eq!(
        server.resources,
        Resources {
            vcpus: 1,
            memory_mib: 1024,
            disk_gib: 8
        }
    );
}

#[test]
fn the_key_and_addresses_come_from_the_config() {
    let listed = status(
        json!({"vmid": 101, "name": "web.example.com", "status": "stopped", "lock": "create"}),
    );
    let config = json!({"tags": "hd-k3f9x2m1;other", "net0": "name=eth0,bridge=vmbr0,ip=10.1.2.3/24,gw=10.1.2.1"});
    let server = remote_server(Guest::Lxc, 101, &listed, config.as_object());
    assert_eq!(server.state, ServerState::Building);
    assert_eq!(
        server.key.map(|k| k.to_string()),
        Some("k3f9x2m1".to_owned())
    );
    assert_eq!(server.ipv4, vec![Ipv4Addr::new(10, 1, 2, 3)]);
    let paused = status(json!({"status": "running", "qmpstatus": "paused"}));
    assert_eq!(state_of(&paused), ServerState::Suspended);
}

#[test]
fn power_actions_send_only_what_is_missing() {
    assert_eq!(steps(PowerAction::Boot, &Now::Running), Ok(&[][..]));
    assert_eq!(steps(PowerAction::Boot, &Now::Stopped), Ok(&["start"][..]));
    assert_eq!(
        steps(PowerAction::Restart, &Now::Stopped),
        Ok(&["start"][..])
    );
    assert_eq!(
        steps(PowerAction::Restart, &Now::Running),
        Ok(&["reboot"][..])
    );
    assert_eq!(
        steps(PowerAction::Shutdown, &Now::Paused),
        Ok(&["stop"][..])
    );
    assert_eq!(steps(PowerAction::Poweroff, &Now::Stopped), Ok(&[][..]));
    assert!(matches!(
        steps(PowerAction::Boot, &Now::Locked("backup".into())),
        Err(Failure::Busy { .. })
    ));
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "replies read best with their body built inline"
)]
fn reply(status: u16, reason: Option<&str>, body: Value) -> Reply {
    Reply {
        status: StatusCode::from_u16(status).expect("status"),
        reason: reason.map(str::to_owned),
        body: serde_json::to_vec(&body).expect("json"),
        retry_after: None,
    }
}

#[test]
fn reason_phrases_and_errors_become_failures() {
    let what = "guest qemu/100";
    assert!(matches!(
        failure_of(&reply(401, Some("invalid token value!"), Value::Null), what),
        Failure::BadCredentials { detail } if detail.contains("invalid token value!")
    ));
    assert_eq!(
        failure_of(
            &reply(
                500,
                Some("Configuration file 'nodes/pve/qemu-server/100.conf' does not exist"),
                json!({"data": null})
            ),
            what
        ),
        Failure::NotFound { what: what.into() }
    );
    assert!(matches!(
        failure_of(
            &reply(500, Some("VM is locked (backup)"), Value::Null),
            what
        ),
        Failure::Busy { .. }
    ));
    assert!(matches!(
        failure_of(&reply(500, Some("unable to create VM 100 - VM 100 already exists on node 'pve'"), Value::Null), what),
        Failure::Conflict { detail } if detail.contains("already exists")
    ));
    let rejected = failure_of(
        &reply(
            400,
            Some("Parameter verification failed."),
            json!({"data": null, "errors": {"memory": "value must have a minimum value of 16\n"}}),
        ),
        what,
    );
    assert_eq!(
        rejected,
        Failure::Rejected {
            detail: "Parameter verification failed. memory: value must have a minimum value of 16"
                .into()
        }
    );
    assert!(matches!(
        failure_of(&reply(500, None, json!({"message": "something odd\n"})), what),
        Failure::ProviderFailed { status: 500, detail } if detail == "something odd"
    ));
}

#[test]
fn keys_are_url_encoded_as_the_schema_wants() {
    assert_eq!(
        url_encoded("ssh-ed25519 AAAA+/= a@b\nx"),
        "ssh-ed25519%20AAAA%2B%2F%3D%20a%40b%0Ax"
    );
}

#[test]
fn volumes_cannot_smuggle_properties() {
    assert!(volume_ok("local:iso/debian-12.iso"));
    assert!(volume_ok(
        "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
    ));
    assert!(!volume_ok("debian-12.iso"));
    assert!(!volume_ok("local:iso/x.iso,media=disk"));
    assert!(!volume_ok("local:iso/x y.iso"));
}
