//! Runs the real `chorus` CLI binary against a [`TestApp`]: with pipes, or
//! under a pseudo-terminal to read what it draws there.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{binary, TestApp};

/// What a run left: its exit code and its output.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Standard output as JSON (for `--json` runs).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// `chorus` aimed at `app` with `key`, away from any config file here.
pub fn command(app: &TestApp, key: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(binary("chorus"));
    cmd.args(args)
        .env("CHORUS_URL", &app.address)
        .env("CHORUS_API_KEY", key)
        .env("CHORUS_CLI_CONFIG", "/nonexistent/chorus.toml")
        .env_remove("CHORUS_PROFILE")
        .stdin(Stdio::null());
    cmd
}

/// Runs `chorus args…` with pipes, at most 180 s.
pub async fn run(app: &TestApp, key: &str, args: &[&str]) -> Ran {
    let mut cmd = command(app, key, args);
    let out = tokio::time::timeout(Duration::from_secs(180), tokio::task::spawn_blocking(move || cmd.output()))
        .await
        .expect("chorus ended within 180 s")
        .unwrap()
        .expect("chorus runs (build it with `cargo build --bins`)");
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `chorus args…` with stdout and stderr on a 120×30 pseudo-terminal,
/// at most 180 s; returns its exit code and everything the terminal got.
pub async fn run_in_terminal(app: &TestApp, key: &str, args: &[&str]) -> (i32, String) {
    let size = nix::pty::Winsize { ws_row: 30, ws_col: 120, ws_xpixel: 0, ws_ypixel: 0 };
    let pty = nix::pty::openpty(Some(&size), None).expect("a pseudo-terminal");
    let mut cmd = command(app, key, args);
    cmd.env("TERM", "xterm-256color")
        .stdout(Stdio::from(pty.slave.try_clone().unwrap()))
        .stderr(Stdio::from(pty.slave));
    let read = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("chorus runs");
        // Our copies of the terminal's end close with the command, so the
        // read below ends when the child exits.
        drop(cmd);
        let mut master = std::fs::File::from(pty.master);
        let mut screen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match master.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => screen.extend_from_slice(&buf[..n]),
                // Linux answers EIO once every slave end is closed.
                Err(e) if e.raw_os_error() == Some(nix::libc::EIO) => break,
                Err(e) => panic!("reading the terminal: {e}"),
            }
        }
        let code = child.wait().unwrap().code().unwrap_or(-1);
        (code, String::from_utf8_lossy(&screen).into_owned())
    });
    tokio::time::timeout(Duration::from_secs(180), read).await.expect("chorus ended within 180 s").unwrap()
}
