//! The provider layer against fakes of VirtFusion, Proxmox VE and Jelastic on 127.0.0.1: each
//! provider built from config as `hostdeck serve` builds it, a server's whole life, a sync's
//! request count, every kind of failure as the person would see it, and creates retried with
//! their key. Every story ends with the fake finding nothing wrong in what hostdeck sent.

use std::sync::Arc;
use std::time::Duration;

use hostdeck_core::config::Config;
use hostdeck_core::email::Email;
use hostdeck_core::ids::UserId;
use hostdeck_core::providers::{
    self, CreateKey, Hostname, Image, NewServer, Owner, PowerAction, Provider, ProviderError,
    RemoteId, Resources, ServerState,
};
use hostdeck_core::{Error, ErrorCode};
use hostdeck_e2e::cloud::fail_builds;
use hostdeck_fakes::jelastic::{FakeJelastic, result};
use hostdeck_fakes::proxmox::{FakeProxmox, PowerState};
use hostdeck_fakes::server::{Fault, Recorder};
use hostdeck_fakes::virtfusion::{FakeVirtFusion, Power};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// The provider `name` out of a config written as an operator would write it.
fn provider(toml: &str, name: &str) -> Arc<dyn Provider> {
    let config = Config::from_toml(toml).unwrap_or_else(|error| panic!("{error}\n{toml}"));
    providers::from_config(&config.providers)
        .unwrap_or_else(|error| panic!("{error}"))
        .require(name)
        .expect("the provider is configured")
}

fn virtfusion(fake: &FakeVirtFusion, extra: &str) -> Arc<dyn Provider> {
    let toml = format!(
        "[providers.vf]\nkind = \"virtfusion\"\nbase_url = \"{}\"\ntoken = \"{}\"\n\
         hypervisor_group_id = 1\npackage_id = 1\n{extra}",
        fake.base_url(),
        fake.token()
    );
    provider(&toml, "vf")
}

fn proxmox(fake: &FakeProxmox, extra: &str) -> Arc<dyn Provider> {
    let toml = format!(
        "[providers.pve]\nkind = \"proxmox\"\nbase_url = \"{}\"\ntoken_id = \"{}\"\n\
         token_secret = \"{}\"\nnode = \"{}\"\n{extra}",
        fake.base_url(),
        fake.token_id(),
        fake.token_secret(),
        fake.node()
    );
    provider(&toml, "pve")
}

fn jelastic(fake: &FakeJelastic, extra: &str) -> Arc<dyn Provider> {
    let toml = format!(
        "[providers.jel]\nkind = \"jelastic\"\nbase_url = \"{}\"\ntoken = \"{}\"\n{extra}",
        fake.base_url(),
        fake.token()
    );
    provider(&toml, "jel")
}

fn new_server(key: &str, image: Image) -> NewServer {
    NewServer {
        key: CreateKey::parse(key).expect("key"),
        owner: Owner {
            user: UserId(7),
            name: "Ada Lovelace".into(),
            email: Email::parse("ada@example.com").expect("email"),
        },
        name: "web".into(),
        hostname: Hostname::parse("web.example.com").expect("hostname"),
        resources: Resources {
            vcpus: 2,
            memory_mib: 2048,
            disk_gib: 40,
        },
        image,
        plan: None,
        ssh_keys: vec![
            hostdeck_core::ssh_keys::SshPublicKey::parse(crate::provider_input::ADA_KEY)
                .expect("a key"),
        ],
        root_password: None,
    }
}

/// The core error a person would get, with its code and text.
fn seen(error: ProviderError) -> (ErrorCode, String) {
    let error = Error::from(error);
    (error.code(), error.to_string())
}

fn assert_clean(recorder: &Recorder) {
    assert_eq!(
        recorder.problems(),
        Vec::<String>::new(),
        "the fake found something wrong in what hostdeck sent"
    );
}

async fn state(provider: &dyn Provider, id: &RemoteId) -> ServerState {
    provider.server(id).await.expect("the server").state
}

/// An address nothing listens on.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn a_virtfusion_server_lives_through_create_power_suspension_and_deletion() {
    let fake = FakeVirtFusion::start().await;
    let vf = virtfusion(&fake, "");
    assert!(
        vf.health()
            .await
            .expect("healthy")
            .detail
            .contains("VirtFusion")
    );

    let created = vf
        .create(&new_server("vf-life-1", Image::Template("11".into())))
        .await
        .expect("create");
    assert_eq!(created.state, ServerState::Running);
    assert_eq!(created.name, "web");
    assert_eq!(created.hostname.as_deref(), Some("web.example.com"));
    assert_eq!(
        created.key.as_ref().map(CreateKey::as_str),
        Some("vf-life-1")
    );
    assert_eq!(created.owner, Some(UserId(7)));
    assert_eq!(
        created.resources,
        Resources {
            vcpus: 2,
            memory_mib: 2048,
            disk_gib: 40
        }
    );
    assert_eq!(created.ipv4.len(), 1);
    let user = fake.user_by_ext(7).expect("the customer's panel user");
    assert_eq!(user.email, "ada@example.com");

    let again = vf
        .create(&new_server("vf-life-1", Image::Template("11".into())))
        .await
        .expect("the same create again");
    assert_eq!(again.remote_id, created.remote_id);
    assert_eq!(fake.servers().len(), 1, "a retried create makes one server");
    let second = vf
        .create(&new_server("vf-life-2", Image::Template("12".into())))
        .await
        .expect("a second server for the same customer");
    assert_eq!(fake.servers().len(), 2);
    assert_eq!(
        fake.call_count("POST /users"),
        1,
        "the customer's user is made once"
    );

    let id = &created.remote_id;
    vf.power(id, PowerAction::Shutdown).await.expect("shutdown");
    assert_eq!(state(vf.as_ref(), id).await, ServerState::Stopped);
    vf.power(id, PowerAction::Boot).await.expect("boot");
    assert_eq!(state(vf.as_ref(), id).await, ServerState::Running);
    vf.power(id, PowerAction::Restart).await.expect("restart");
    vf.power(id, PowerAction::Poweroff).await.expect("poweroff");
    assert_eq!(state(vf.as_ref(), id).await, ServerState::Stopped);
    vf.power(id, PowerAction::Boot).await.expect("boot");

    vf.suspend(id).await.expect("suspend");
    assert_eq!(state(vf.as_ref(), id).await, ServerState::Suspended);
    let (code, text) = seen(
        vf.power(id, PowerAction::Boot)
            .await
            .expect_err("a suspended server does not boot"),
    );
    assert_eq!(code, ErrorCode::Conflict, "{text}");
    assert!(text.contains("suspended"), "{text}");
    vf.unsuspend(id).await.expect("unsuspend");
    assert_eq!(state(vf.as_ref(), id).await, ServerState::Running);

    let number: u64 = id.as_str().parse().expect("a VirtFusion id");
    fake.set_traffic(number, 1_000, 2_000);
    let usage = vf
        .usage(id)
        .await
        .expect("usage")
        .expect("VirtFusion counts traffic");
    assert_eq!((usage.rx_bytes, usage.tx_bytes), (1_000, 2_000));
    assert!(usage.period_start.is_some());

    vf.delete(id).await.expect("delete");
    vf.delete(id)
        .await
        .expect("deleting a deleted server is fine");
    assert!(fake.server(number).is_none());
    let (code, _) = seen(vf.server(id).await.expect_err("gone"));
    assert_eq!(code, ErrorCode::NotFound);
    vf.delete(&second.remote_id).await.expect("delete");
    assert_clean(fake.recorder());
}

#[tokio::test]
async fn a_proxmox_container_and_vm_live_through_create_power_suspension_and_deletion() {
    let fake = FakeProxmox::start().await;
    fake.set_task_duration(Duration::from_millis(20));
    let pve = proxmox(&fake, "");
    let health = pve.health().await.expect("healthy");
    assert!(
        health.detail.contains("node pve online"),
        "{}",
        health.detail
    );

    let template = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";
    let created = pve
        .create(&new_server("pve-life-1", Image::Template(template.into())))
        .await
        .expect("create a container");
    assert_eq!(created.remote_id.as_str(), "lxc/100");
    assert_eq!(created.state, ServerState::Running);
    assert_eq!(
        created.key.as_ref().map(CreateKey::as_str),
        Some("pve-life-1")
    );
    assert_eq!(
        created.resources,
        Resources {
            vcpus: 2,
            memory_mib: 2048,
            disk_gib: 40
        }
    );
    let guest = fake.vm("pve", 100).expect("the container");
    assert_eq!(guest.config["tags"], "hd-pve-life-1");
    assert_eq!(guest.config["hostname"], "web.example.com");

    let again = pve
        .create(&new_server("pve-life-1", Image::Template(template.into())))
        .await
        .expect("the same create again");
    assert_eq!(again.remote_id, created.remote_id);
    assert_eq!(fake.guests().len(), 1, "a retried create makes one guest");

    let id = &created.remote_id;
    let tasks = fake.tasks().len();
    pve.power(id, PowerAction::Boot)
        .await
        .expect("boot a running guest");
    assert_eq!(fake.tasks().len(), tasks, "nothing to do, nothing sent");
    pve.power(id, PowerAction::Shutdown)
        .await
        .expect("shutdown");
    assert_eq!(state(pve.as_ref(), id).await, ServerState::Stopped);
    pve.power(id, PowerAction::Restart)
        .await
        .expect("restart starts a stopped guest");
    assert_eq!(state(pve.as_ref(), id).await, ServerState::Running);
    pve.power(id, PowerAction::Restart).await.expect("reboot");
    pve.power(id, PowerAction::Poweroff)
        .await
        .expect("poweroff");
    assert_eq!(state(pve.as_ref(), id).await, ServerState::Stopped);
    pve.power(id, PowerAction::Boot).await.expect("boot");

    pve.suspend(id).await.expect("suspend");
    assert_eq!(
        fake.vm("pve", 100).map(|g| g.power),
        Some(PowerState::Stopped)
    );
    pve.unsuspend(id).await.expect("unsuspend");
    assert_eq!(state(pve.as_ref(), id).await, ServerState::Running);
    let usage = pve.usage(id).await.expect("usage").expect("counters");
    assert_eq!(
        usage.period_start, None,
        "Proxmox counts since the guest started"
    );

    pve.delete(id).await.expect("delete a running container");
    assert!(fake.vm("pve", 100).is_none());
    pve.delete(id)
        .await
        .expect("deleting a deleted guest is fine");

    let vm = pve
        .create(&new_server(
            "pve-life-2",
            Image::Iso("local:iso/debian-12.iso".into()),
        ))
        .await
        .expect("create a VM from an ISO");
    assert_eq!(vm.remote_id.as_str(), "qemu/100");
    assert_eq!(vm.state, ServerState::Running);
    assert_eq!(vm.hostname.as_deref(), Some("web.example.com"));
    let guest = fake.vm("pve", 100).expect("the VM");
    assert_eq!(guest.config["ide2"], "local:iso/debian-12.iso,media=cdrom");
    pve.power(&vm.remote_id, PowerAction::Restart)
        .await
        .expect("reboot the VM");
    pve.delete(&vm.remote_id).await.expect("delete the VM");
    assert!(fake.guests().is_empty());
    assert_clean(fake.recorder());
}

#[tokio::test]
async fn a_jelastic_environment_lives_through_create_power_suspension_and_deletion() {
    let fake = FakeJelastic::start().await;
    let jel = jelastic(&fake, "");
    jel.health().await.expect("healthy");

    let created = jel
        .create(&new_server(
            "jel-life-1",
            Image::Template("ubuntu-vps".into()),
        ))
        .await
        .expect("create");
    assert_eq!(created.remote_id.as_str(), "hd-jel-life-1");
    assert_eq!(created.state, ServerState::Running);
    assert_eq!(created.name, "web");
    assert_eq!(created.resources.memory_mib, 2048);
    assert_eq!(created.resources.disk_gib, 40, "the disk the plan sells");
    let env = fake.environment("hd-jel-life-1").expect("the environment");
    assert_eq!(env.nodes[0].flexible_cloudlets, 16);
    assert_eq!(env.nodes[0].disk_limit_mb, 40 * 1024);

    let again = jel
        .create(&new_server(
            "jel-life-1",
            Image::Template("ubuntu-vps".into()),
        ))
        .await
        .expect("the same create again");
    assert_eq!(again.remote_id, created.remote_id);
    assert_eq!(
        fake.environments().len(),
        1,
        "a retried create makes one environment"
    );

    let id = &created.remote_id;
    jel.power(id, PowerAction::Boot)
        .await
        .expect("boot a running environment");
    jel.power(id, PowerAction::Shutdown)
        .await
        .expect("shutdown");
    assert_eq!(state(jel.as_ref(), id).await, ServerState::Stopped);
    jel.power(id, PowerAction::Poweroff)
        .await
        .expect("poweroff a stopped one");
    jel.power(id, PowerAction::Restart)
        .await
        .expect("restart starts it");
    assert_eq!(state(jel.as_ref(), id).await, ServerState::Running);
    jel.power(id, PowerAction::Restart)
        .await
        .expect("restart a running one");
    assert_eq!(state(jel.as_ref(), id).await, ServerState::Running);

    jel.suspend(id).await.expect("suspend");
    assert_eq!(state(jel.as_ref(), id).await, ServerState::Stopped);
    jel.unsuspend(id).await.expect("unsuspend");
    assert_eq!(state(jel.as_ref(), id).await, ServerState::Running);
    assert_eq!(jel.usage(id).await.expect("usage"), None);

    jel.delete(id).await.expect("delete");
    jel.delete(id)
        .await
        .expect("deleting a deleted environment is fine");
    assert!(fake.environments().is_empty());
    let (code, _) = seen(jel.server(id).await.expect_err("gone"));
    assert_eq!(code, ErrorCode::NotFound);
    for call in fake.recorder().calls() {
        assert!(
            !call.uri.contains(fake.token()),
            "the session travels in the form, never in a URL: {}",
            call.uri
        );
    }
    assert_clean(fake.recorder());
}

#[tokio::test]
async fn a_sync_makes_one_request_per_page_never_one_per_server() {
    let vf_fake = FakeVirtFusion::start().await;
    vf_fake.seed_servers(10_000);
    let vf = virtfusion(&vf_fake, "");
    let servers = providers::list_all(vf.as_ref()).await.expect("list");
    assert_eq!(servers.len(), 10_000);
    assert_eq!(
        vf_fake.call_count("GET /servers"),
        50,
        "10,000 / 200 a page"
    );
    assert_eq!(vf_fake.call_count("GET /servers/{id}"), 0);
    assert!(servers.iter().all(|server| server.owner.is_some()));

    let small_pages = virtfusion(&vf_fake, "page_size = 75");
    let before = vf_fake.call_count("GET /servers");
    let servers = providers::list_all(small_pages.as_ref())
        .await
        .expect("list");
    assert_eq!(servers.len(), 10_000);
    assert_eq!(
        vf_fake.call_count("GET /servers") - before,
        10_000_u64.div_ceil(75)
    );
    assert_clean(vf_fake.recorder());

    let pve_fake = FakeProxmox::start().await;
    pve_fake.seed_vms(1_000);
    let pve = proxmox(&pve_fake, "");
    let guests = providers::list_all(pve.as_ref()).await.expect("list");
    assert_eq!(guests.len(), 1_000);
    assert!(
        guests
            .iter()
            .all(|guest| guest.state == ServerState::Running)
    );
    assert_eq!(pve_fake.call_count("GET /nodes/{node}/qemu"), 1);
    assert_eq!(pve_fake.call_count("GET /nodes/{node}/lxc"), 1);
    assert_eq!(
        pve_fake.call_count("GET /nodes/{node}/qemu/{vmid}/status/current"),
        0
    );
    assert_clean(pve_fake.recorder());

    let jel_fake = FakeJelastic::start().await;
    jel_fake.seed_environments(1_000);
    let jel = jelastic(&jel_fake, "");
    assert_eq!(
        providers::list_all(jel.as_ref()).await.expect("list").len(),
        1_000
    );
    assert_eq!(jel_fake.call_count("environment/control/rest/getenvs"), 1);
    assert_eq!(
        jel_fake.call_count("environment/control/rest/getenvinfo"),
        0
    );
    assert_clean(jel_fake.recorder());
}

#[tokio::test]
async fn a_provider_that_is_down_is_unavailable_with_a_clear_message() {
    let down = closed_port();
    let configs = [
        (
            "vf",
            format!(
                "[providers.vf]\nkind = \"virtfusion\"\nbase_url = \"{down}\"\ntoken = \"t\"\n\
                 hypervisor_group_id = 1\npackage_id = 1\n"
            ),
            "1",
        ),
        (
            "pve",
            format!(
                "[providers.pve]\nkind = \"proxmox\"\nbase_url = \"{down}\"\n\
                 token_id = \"root@pam!hostdeck\"\ntoken_secret = \"s\"\nnode = \"pve\"\n"
            ),
            "qemu/100",
        ),
        (
            "jel",
            format!("[providers.jel]\nkind = \"jelastic\"\nbase_url = \"{down}\"\ntoken = \"t\"\n"),
            "hd-some-env",
        ),
    ];
    for (name, toml, id) in configs {
        let provider = provider(&toml, name);
        let (code, text) = seen(provider.health().await.expect_err("nothing listens"));
        assert_eq!(code, ErrorCode::Unavailable, "{name}: {text}");
        assert!(text.contains("cannot be reached"), "{name}: {text}");
        assert!(
            !text.contains("127.0.0.1"),
            "no internal address in a public message: {text}"
        );
        let (code, text) = seen(
            provider
                .power(&RemoteId::new(id), PowerAction::Boot)
                .await
                .expect_err("nothing listens"),
        );
        assert_eq!(code, ErrorCode::Unavailable, "{name}: {text}");
    }
}

#[tokio::test]
async fn a_virtfusion_listing_that_repeats_a_page_fails_the_create_instead_of_looping() {
    let fake = FakeVirtFusion::start().await;
    let vf = virtfusion(&fake, "");
    // Every listing says "page 1 of 2", whichever page was asked for.
    fake.recorder().fail_always(
        "/api/v1/servers",
        Fault::Status(
            StatusCode::OK,
            json!({"data": [], "current_page": 1, "last_page": 2, "per_page": 20, "total": 40}),
        ),
    );
    let create = tokio::time::timeout(
        Duration::from_secs(10),
        vf.create(&new_server("vf-pages-1", Image::Template("11".into()))),
    )
    .await
    .expect("the create ends");
    let error = create.expect_err("the listing repeats itself");
    assert!(
        matches!(&error.failure, providers::Failure::Protocol(detail) if detail.contains("returned page 2 twice")),
        "{error:?}"
    );
    assert!(fake.servers().is_empty(), "nothing was created");
}

#[tokio::test]
async fn virtfusion_pending_tasks_maintenance_and_timeouts_are_told_apart() {
    let fake = FakeVirtFusion::start().await;
    let vf = virtfusion(&fake, "timeout = \"300ms\"");
    let server = vf
        .create(&new_server("vf-fault-1", Image::Template("11".into())))
        .await
        .expect("create");
    let id = &server.remote_id;
    let number: u64 = id.as_str().parse().expect("id");

    fake.set_busy(number, true);
    let (code, text) = seen(vf.power(id, PowerAction::Restart).await.expect_err("423"));
    assert_eq!(code, ErrorCode::Conflict, "{text}");
    assert!(
        text.contains("tasks pending") && text.contains("try again in a minute"),
        "{text}"
    );
    fake.set_busy(number, false);

    fake.set_maintenance(true);
    let (code, text) = seen(vf.suspend(id).await.expect_err("503"));
    assert_eq!(code, ErrorCode::Unavailable, "{text}");
    assert!(text.contains("maintenance"), "{text}");
    fake.set_maintenance(false);

    // A read that hangs every time: three attempts, then "did not answer".
    fake.recorder()
        .fail_always(&format!("/api/v1/servers/{number}"), Fault::Hang);
    let (code, text) = seen(vf.server(id).await.expect_err("hangs"));
    assert_eq!(code, ErrorCode::Unavailable, "{text}");
    assert!(text.contains("did not answer within 300ms"), "{text}");
    assert!(
        !text.contains("check the server"),
        "a read changes nothing: {text}"
    );
    fake.recorder().heal();

    // A read that fails once is retried and succeeds: the 502 went out, then a second request
    // reached the fake.
    let faulted = fake.recorder().faults_applied();
    let reads = fake
        .recorder()
        .calls_to(&Method::GET, &format!("/servers/{number}"))
        .len();
    fake.recorder().fail_next(
        &format!("/api/v1/servers/{number}"),
        1,
        Fault::Status(StatusCode::BAD_GATEWAY, json!({})),
    );
    assert_eq!(state(vf.as_ref(), id).await, ServerState::Running);
    assert_eq!(
        fake.recorder().faults_applied(),
        faulted + 1,
        "the 502 was sent"
    );
    assert_eq!(
        fake.recorder()
            .calls_to(&Method::GET, &format!("/servers/{number}"))
            .len(),
        reads + 1,
        "the retry reached the fake"
    );

    // A power action whose answer never comes is not sent again: it may have happened.
    let powered = fake.call_count("POST /servers/{id}/power/{action}");
    fake.recorder().fail_next("/power/", 1, Fault::Hang);
    let (code, text) = seen(
        vf.power(id, PowerAction::Poweroff)
            .await
            .expect_err("hangs"),
    );
    assert_eq!(code, ErrorCode::Unavailable, "{text}");
    assert!(text.contains("may still have been carried out"), "{text}");
    fake.recorder().fail_next("/power/", 1, Fault::Drop);
    let (code, _) = seen(
        vf.power(id, PowerAction::Poweroff)
            .await
            .expect_err("dropped"),
    );
    assert_eq!(code, ErrorCode::Unavailable);
    assert_eq!(
        fake.call_count("POST /servers/{id}/power/{action}"),
        powered,
        "no power action was sent twice"
    );
    assert_eq!(fake.server(number).map(|s| s.power), Some(Power::Running));
    assert_clean(fake.recorder());
}

#[tokio::test]
async fn bad_credentials_are_an_internal_error_that_names_the_keys_to_fix() {
    let vf_fake = FakeVirtFusion::start().await;
    let toml = format!(
        "[providers.vf]\nkind = \"virtfusion\"\nbase_url = \"{}\"\ntoken = \"wrong-token\"\n\
         hypervisor_group_id = 1\npackage_id = 1\n",
        vf_fake.base_url()
    );
    let (code, text) = seen(provider(&toml, "vf").health().await.expect_err("401"));
    assert_eq!(code, ErrorCode::Internal);
    assert!(text.contains("refused hostdeck's credentials"), "{text}");
    assert!(text.contains("providers.vf.token"), "{text}");
    assert!(!text.contains("wrong-token"), "{text}");

    let pve_fake = FakeProxmox::start().await;
    let toml = format!(
        "[providers.pve]\nkind = \"proxmox\"\nbase_url = \"{}\"\ntoken_id = \"{}\"\n\
         token_secret = \"not-the-secret\"\nnode = \"pve\"\n",
        pve_fake.base_url(),
        pve_fake.token_id()
    );
    let pve = provider(&toml, "pve");
    let (code, text) = seen(pve.health().await.expect_err("401"));
    assert_eq!(code, ErrorCode::Internal);
    assert!(
        text.contains("invalid token value!"),
        "the reason phrase is kept: {text}"
    );
    assert!(
        text.contains("providers.pve.token_id and providers.pve.token_secret"),
        "{text}"
    );
    assert!(!text.contains("not-the-secret"), "{text}");

    let jel_fake = FakeJelastic::start().await;
    let toml = format!(
        "[providers.jel]\nkind = \"jelastic\"\nbase_url = \"{}\"\ntoken = \"stale-token\"\n",
        jel_fake.base_url()
    );
    let (code, text) = seen(provider(&toml, "jel").health().await.expect_err("702"));
    assert_eq!(code, ErrorCode::Internal);
    assert!(text.contains("providers.jel.token"), "{text}");

    assert_clean(vf_fake.recorder());
    assert_clean(pve_fake.recorder());
    assert_clean(jel_fake.recorder());
}

#[tokio::test]
async fn proxmox_task_failures_locks_and_slow_tasks() {
    let fake = FakeProxmox::start().await;
    fake.set_task_duration(Duration::from_millis(20));
    let pve = proxmox(&fake, "task_timeout = \"300ms\"");
    let vm = pve
        .create(&new_server(
            "pve-fault-1",
            Image::Iso("local:iso/debian-12.iso".into()),
        ))
        .await
        .expect("create");
    let id = &vm.remote_id;
    pve.power(id, PowerAction::Poweroff)
        .await
        .expect("poweroff");

    fake.fail_next_task("start failed: QEMU exited with code 1");
    let (code, text) = seen(
        pve.power(id, PowerAction::Boot)
            .await
            .expect_err("the task fails"),
    );
    assert_eq!(code, ErrorCode::Internal, "{text}");
    assert!(
        text.contains("start failed: QEMU exited with code 1"),
        "{text}"
    );
    assert!(
        text.contains("UPID:pve:"),
        "the task is named for the log: {text}"
    );
    assert_eq!(
        fake.vm("pve", 100).map(|g| g.power),
        Some(PowerState::Stopped)
    );

    fake.lock(100, "backup");
    let (code, text) = seen(pve.power(id, PowerAction::Boot).await.expect_err("locked"));
    assert_eq!(code, ErrorCode::Conflict, "{text}");
    assert!(text.contains("locked (backup)"), "{text}");
    fake.unlock(100);
    pve.power(id, PowerAction::Boot)
        .await
        .expect("boots once unlocked");

    fake.fail_next_task("unable to create CT 101 - no space left on device");
    let (code, text) = seen(
        pve.create(&new_server(
            "pve-fault-2",
            Image::Template("local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz".into()),
        ))
        .await
        .expect_err("no space"),
    );
    assert_eq!(code, ErrorCode::Conflict, "{text}");
    assert!(text.contains("smaller plan"), "{text}");
    assert_eq!(fake.guests().len(), 1, "a failed create leaves nothing");

    // A create whose task outlasts the wait: "still working", and the retry finds that guest.
    fake.set_task_duration(Duration::from_secs(2));
    let slow = new_server(
        "pve-slow-1",
        Image::Template("local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz".into()),
    );
    let (code, text) = seen(pve.create(&slow).await.expect_err("too slow"));
    assert_eq!(code, ErrorCode::Unavailable, "{text}");
    assert!(text.contains("still working on it"), "{text}");
    let retried = pve.create(&slow).await.expect("the retry finds it");
    assert_eq!(retried.remote_id.as_str(), "lxc/101");
    assert_eq!(retried.state, ServerState::Building);
    assert_eq!(fake.guests().len(), 2, "one VM and one container, no more");

    let (code, _) = seen(
        pve.server(&RemoteId::new("qemu/4242"))
            .await
            .expect_err("unknown guest"),
    );
    assert_eq!(code, ErrorCode::NotFound);
    assert_clean(fake.recorder());
}

#[tokio::test]
async fn a_virtfusion_build_that_fails_leaves_nothing_and_the_retry_makes_one_server() {
    let fake = FakeVirtFusion::start().await;
    let vf = virtfusion(&fake, "");
    let new = new_server("vf-retry-1", Image::Template("11".into()));
    fail_builds(&fake, 1);
    let (code, text) = seen(vf.create(&new).await.expect_err("the build fails"));
    assert_eq!(code, ErrorCode::Unavailable, "{text}");
    assert!(fake.servers().is_empty(), "the unbuilt server was removed");

    let server = vf.create(&new).await.expect("the retry");
    let again = vf.create(&new).await.expect("and again");
    assert_eq!(server.remote_id, again.remote_id);
    assert_eq!(fake.servers().len(), 1);

    let (code, text) = seen(
        vf.create(&new_server("vf-retry-2", Image::Iso("debian.iso".into())))
            .await
            .expect_err("no ISO on VirtFusion"),
    );
    assert_eq!(code, ErrorCode::Invalid, "{text}");
    let (code, text) = seen(
        vf.create(&new_server("vf-retry-3", Image::Template("99".into())))
            .await
            .expect_err("an unknown template"),
    );
    assert_eq!(code, ErrorCode::Invalid, "{text}");
    assert!(
        text.contains("does not offer operating system template 99"),
        "{text}"
    );
    assert_eq!(
        fake.servers().len(),
        1,
        "nothing was created for the refused template"
    );
    assert_clean(fake.recorder());
}

#[tokio::test]
async fn jelastic_failures_slow_creates_and_limits() {
    let fake = FakeJelastic::start().await;
    let jel = jelastic(&fake, "task_timeout = \"300ms\"");
    fake.fail_next_operation(result::FAILED, "out of cloudlets");
    let (code, text) = seen(
        jel.create(&new_server(
            "jel-fault-1",
            Image::Template("ubuntu-vps".into()),
        ))
        .await
        .expect_err("limit"),
    );
    assert_eq!(code, ErrorCode::Conflict, "{text}");
    assert!(text.contains("out of cloudlets"), "{text}");
    assert!(fake.environments().is_empty());

    // The platform answers only when done; a create that outlasts the wait is retried by key.
    fake.set_operation_duration(Duration::from_secs(1));
    let slow = new_server("jel-slow-1", Image::Template("ubuntu-vps".into()));
    let (code, text) = seen(jel.create(&slow).await.expect_err("too slow"));
    assert_eq!(code, ErrorCode::Unavailable, "{text}");
    assert!(text.contains("may still have been carried out"), "{text}");
    let retried = jel.create(&slow).await.expect("the retry finds it");
    assert_eq!(retried.remote_id.as_str(), "hd-jel-slow-1");
    assert_eq!(fake.environments().len(), 1);
    assert_clean(fake.recorder());
}

#[tokio::test]
async fn provider_clients_never_show_their_secrets() {
    let vf_fake = FakeVirtFusion::start().await;
    let pve_fake = FakeProxmox::start().await;
    let jel_fake = FakeJelastic::start().await;
    let toml = format!(
        "[providers.vf]\nkind = \"virtfusion\"\nbase_url = \"{}\"\ntoken = \"{}\"\n\
         hypervisor_group_id = 1\npackage_id = 1\n\
         [providers.pve]\nkind = \"proxmox\"\nbase_url = \"{}\"\ntoken_id = \"{}\"\n\
         token_secret = \"{}\"\nnode = \"pve\"\n\
         [providers.jel]\nkind = \"jelastic\"\nbase_url = \"{}\"\ntoken = \"{}\"\n",
        vf_fake.base_url(),
        vf_fake.token(),
        pve_fake.base_url(),
        pve_fake.token_id(),
        pve_fake.token_secret(),
        jel_fake.base_url(),
        jel_fake.token()
    );
    let config = Config::from_toml(&toml).expect("config");
    let secrets = [vf_fake.token(), pve_fake.token_secret(), jel_fake.token()];
    let built = providers::from_config(&config.providers).expect("providers");
    assert_eq!(built.names().collect::<Vec<_>>(), vec!["jel", "pve", "vf"]);
    let shown = [
        format!("{config:?}"),
        config.redacted_toml(),
        format!("{built:?}"),
        format!(
            "{:?}",
            providers::virtfusion::VirtFusion::new("vf", &config.providers.named["vf"])
        ),
        format!(
            "{:?}",
            providers::proxmox::Proxmox::new("pve", &config.providers.named["pve"])
        ),
        format!(
            "{:?}",
            providers::jelastic::Jelastic::new("jel", &config.providers.named["jel"])
        ),
    ];
    for text in &shown {
        for secret in secrets {
            assert!(!text.contains(secret), "a secret in: {text}");
        }
    }
    for provider in built.iter() {
        provider.health().await.expect("healthy");
    }
    assert_clean(vf_fake.recorder());
    assert_clean(pve_fake.recorder());
    assert_clean(jel_fake.recorder());
}
