//! The three provider fakes (VirtFusion, Proxmox VE, Jelastic) started together and
//! configured as the providers `vf`, `pve` and `jel`: what the server stories and the servers
//! benchmark run against.

use std::time::Duration;

use hostdeck_core::config::Config;
use hostdeck_core::providers::RemoteId;
use hostdeck_fakes::jelastic::FakeJelastic;
use hostdeck_fakes::proxmox::FakeProxmox;
use hostdeck_fakes::server::Fault;
use hostdeck_fakes::virtfusion::FakeVirtFusion;

/// The three provider fakes, each configured as `vf`, `pve` and `jel`.
pub struct Cloud {
    pub vf: FakeVirtFusion,
    pub pve: FakeProxmox,
    pub jel: FakeJelastic,
}

pub const PROVIDERS: [&str; 3] = ["vf", "pve", "jel"];

/// Makes VirtFusion's next `times` builds fail as a full build queue does: a 500 on `/build`.
pub fn fail_builds(vf: &FakeVirtFusion, times: usize) {
    vf.recorder().fail_next(
        "/build",
        times,
        Fault::Status(
            reqwest::StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"msg": "build queue full"}),
        ),
    );
}

impl Cloud {
    pub async fn start() -> Self {
        let pve = FakeProxmox::start().await;
        pve.set_task_duration(Duration::from_millis(10));
        Self {
            vf: FakeVirtFusion::start().await,
            pve,
            jel: FakeJelastic::start().await,
        }
    }

    /// The `[providers]` section for these fakes, with `extra` lines in each provider table.
    pub fn toml(&self, extra: &str) -> String {
        format!(
            "[providers.vf]\nkind = \"virtfusion\"\nbase_url = \"{}\"\ntoken = \"{}\"\n\
             hypervisor_group_id = 1\npackage_id = 1\n{extra}\n\
             [providers.pve]\nkind = \"proxmox\"\nbase_url = \"{}\"\ntoken_id = \"{}\"\n\
             token_secret = \"{}\"\nnode = \"{}\"\n{extra}\n\
             [providers.jel]\nkind = \"jelastic\"\nbase_url = \"{}\"\ntoken = \"{}\"\n{extra}\n",
            self.vf.base_url(),
            self.vf.token(),
            self.pve.base_url(),
            self.pve.token_id(),
            self.pve.token_secret(),
            self.pve.node(),
            self.jel.base_url(),
            self.jel.token(),
        )
    }

    pub fn config(&self, extra: &str) -> Config {
        let toml = self.toml(extra);
        Config::from_toml(&toml).unwrap_or_else(|error| panic!("{error}\n{toml}"))
    }

    /// How many servers the fake behind `provider` holds.
    pub fn count(&self, provider: &str) -> usize {
        match provider {
            "vf" => self.vf.servers().len(),
            "pve" => self.pve.guests().len(),
            _ => self.jel.environments().len(),
        }
    }

    /// Checks that no fake found anything wrong in what hostdeck sent.
    pub fn assert_clean(&self) {
        for (name, problems) in [
            ("VirtFusion", self.vf.recorder().problems()),
            ("Proxmox", self.pve.recorder().problems()),
            ("Jelastic", self.jel.recorder().problems()),
        ] {
            assert_eq!(problems, Vec::<String>::new(), "{name} found problems");
        }
    }

    /// Provider calls made so far, over the three fakes.
    pub fn calls(&self) -> u64 {
        [
            self.vf.call_counts(),
            self.pve.call_counts(),
            self.jel.call_counts(),
        ]
        .iter()
        .flat_map(|counts| counts.values())
        .sum()
    }

    pub fn set_latency(&self, latency: Duration) {
        self.vf.set_latency(latency);
        self.pve.set_latency(latency);
        self.jel.set_latency(latency);
    }

    /// `count` servers spread over the three fakes, as (provider, remote id).
    pub fn seed(&self, count: usize) -> Vec<(&'static str, RemoteId)> {
        let third = count / 3;
        let mut seeded = Vec::with_capacity(count);
        for id in self.vf.seed_servers(count - 2 * third) {
            seeded.push(("vf", RemoteId::new(id.to_string())));
        }
        for vmid in self.pve.seed_vms(third) {
            seeded.push(("pve", RemoteId::new(format!("qemu/{vmid}"))));
        }
        for name in self.jel.seed_environments(third) {
            seeded.push(("jel", RemoteId::new(name)));
        }
        seeded
    }
}
