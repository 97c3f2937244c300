//! Outside programs a test starts (an SMTP server, chromedriver and the browser it starts): each
//! in a process group of its own on a free loopback port, and killed with everything it started
//! when the test lets go of it, passed or failed.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

/// A port on 127.0.0.1 that was free a moment ago. Another process may take it before the
/// program that is given it binds it: callers retry with a new port when their program exits
/// at start.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port on 127.0.0.1")
}

/// A running program and the process group it leads.
pub struct Process {
    name: String,
    child: Child,
    stopped: bool,
}

impl Process {
    /// Starts `command` as the leader of a new process group, so that what it starts in turn
    /// (chromedriver's browser) is stopped with it.
    pub fn spawn(name: &str, mut command: Command) -> Self {
        command.process_group(0);
        let child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {name} ({command:?}): {error}"));
        Self {
            name: name.to_owned(),
            child,
            stopped: false,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the program has already stopped, and how.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Kills the whole group and reaps the leader (once; later calls do nothing).
    pub fn kill(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        // The group id is the leader's pid, which stays taken until the leader is reaped below,
        // so `kill -- -PGID` reaches this group and no other.
        let group = format!("-{}", self.child.id());
        let killed = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(std::process::Stdio::null())
            .status();
        if !matches!(killed, Ok(status) if status.success()) {
            let _ = self.child.kill();
        }
        if self.child.wait().is_err() {
            eprintln!(
                "{} (pid {}) could not be reaped",
                self.name,
                self.child.id()
            );
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}
