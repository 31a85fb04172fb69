//! The `SELECT 1` check against Turso's own engine serving the libSQL HTTP
//! API (`turso DB --sync-server 127.0.0.1:PORT`, npm package `turso`), a
//! real counterpart to the fake: it checks no token, and rejects a `close`.
//! `.ci/run` installs it and sets `TURSO_CLI`; elsewhere the test says how.

mod common;

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::world::World;
use common::Scope;

struct Engine(Child);

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_engine(cli: &str, dir: &std::path::Path) -> (Engine, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(cli)
        .arg(dir.join("verify.db"))
        .arg("--sync-server")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cli}: {e}"));
    let engine = Engine(child);
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the turso engine did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (engine, format!("http://127.0.0.1:{port}"))
}

#[test]
fn select_1_runs_on_turso_own_engine() {
    let Some(cli) = std::env::var("TURSO_CLI").ok().filter(|c| !c.is_empty()) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set TURSO_CLI (see .ci/turso-cli)"
        );
        eprintln!("TURSO_CLI is not set: run `source .ci/turso-cli` first to include this test");
        return;
    };
    let world = World::new();
    let runner = world.runner();
    let (_engine, url) = start_engine(&cli, runner.workspace());
    let result = runner.input("database-url", &url).run();
    result.assert_exit(0);
    assert!(result.stderr.contains("verified with SELECT 1"), "{}", result.stderr);
    let token = result.output("token").unwrap();
    assert_eq!(
        world
            .github
            .secret(Scope::repo("acme/app"), "TURSO_AUTH_TOKEN")
            .as_deref(),
        Some(token)
    );
}
