//! Proxies: the binary against the fakes with `HTTPS_PROXY` and friends set.
//! Loopback APIs never go through a proxy; other hosts do, through a CONNECT
//! tunnel to a proxy on loopback that terminates TLS for made-up host names
//! (nothing is resolved, nothing leaves the machine), unless `NO_PROXY`
//! lists them.

mod common;

use common::proxy::FakeProxy;
use common::world::{World, API_TOKEN, GH_TOKEN};
use common::{RunResult, Runner};

const GITHUB_HOST: &str = "api.github.example:443";
const TURSO_HOST: &str = "turso.example:443";

/// A proxy that stands for both APIs under made-up names.
fn proxy_for(world: &World) -> FakeProxy {
    FakeProxy::start(&[
        (GITHUB_HOST, world.github.url()),
        (TURSO_HOST, world.turso.url()),
        // An address that is not loopback and refuses a direct connection.
        ("0.0.0.0:1", world.turso.url()),
    ])
}

/// The usual run, with both APIs under names only `proxy` can reach.
fn through(world: &World, proxy: &FakeProxy, turso_url: &str) -> Runner {
    world
        .runner()
        .env("GITHUB_API_URL", "https://api.github.example")
        .input("turso-api-url", turso_url)
        .env("SSL_CERT_FILE", &proxy.ca_file().to_string_lossy())
}

fn assert_rotated(world: &World, result: &RunResult) {
    result.assert_exit(0);
    let token = result.output("token").expect("token output");
    assert_eq!(
        world.secret().as_deref(),
        Some(token),
        "the secret written is the token issued"
    );
    assert!(world.turso.token_valid("prod", token));
}

#[test]
fn loopback_apis_never_go_through_a_proxy() {
    let world = World::new();
    world.turso.issue_token("prod");
    let proxy = FakeProxy::start(&[]);
    for names in [
        ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"],
        ["https_proxy", "http_proxy", "all_proxy"],
    ] {
        let runner = names.iter().fold(world.runner(), |r, name| r.env(name, &proxy.url()));
        assert_rotated(&world, &runner.run());
    }
    assert!(proxy.seen().is_empty(), "the proxy saw {:?}", proxy.seen());
}

#[test]
fn other_hosts_go_through_the_proxy_with_tls_checked_inside_the_tunnel() {
    let world = World::new();
    world.turso.issue_token("prod");
    let proxy = proxy_for(&world);
    let result = through(&world, &proxy, "https://turso.example")
        .env("https_proxy", &proxy.url())
        // Upper case loses to lower case, as in curl.
        .env("HTTPS_PROXY", "http://127.0.0.1:1")
        .run();
    assert_rotated(&world, &result);
    assert_eq!(proxy.connects(), [GITHUB_HOST, TURSO_HOST]);
    assert!(world.github.requests().len() > 1 && world.turso.requests().len() > 1);

    // A CA the binary does not trust: the tunnel is no way round TLS.
    let untrusted = proxy_for(&world);
    let result = through(&world, &untrusted, "https://turso.example")
        .env("SSL_CERT_FILE", &proxy.ca_file().to_string_lossy())
        .env("ALL_PROXY", &untrusted.url())
        .run();
    result.assert_exit(1);
    assert!(!untrusted.connects().is_empty());
}

#[test]
fn no_proxy_sends_a_host_direct() {
    let world = World::new();
    world.turso.issue_token("prod");
    let proxy = proxy_for(&world);
    // Through the proxy, the Turso API at 0.0.0.0:1 is reachable…
    let result = through(&world, &proxy, "https://0.0.0.0:1")
        .env("HTTPS_PROXY", &proxy.url())
        .env("NO_PROXY", "turso.example")
        .run();
    assert_rotated(&world, &result);
    assert_eq!(proxy.connects(), ["0.0.0.0:1", GITHUB_HOST]);

    // …and direct it refuses the connection: NO_PROXY sent it there.
    let direct = proxy_for(&world);
    let result = through(&world, &direct, "https://0.0.0.0:1")
        .env("HTTPS_PROXY", &direct.url())
        .env("no_proxy", "example.org, 0.0.0.0:8443")
        .run();
    result.assert_exit(1);
    assert!(
        !direct.connects().contains(&"0.0.0.0:1".to_owned()),
        "{:?}",
        direct.connects()
    );
}

#[test]
fn a_proxy_password_is_masked_and_never_printed() {
    let world = World::new();
    world.turso.issue_token("prod");
    let proxy = proxy_for(&world);
    let password = "proxy-pass-8d1c2e";
    let runner = through(&world, &proxy, "https://turso.example")
        .secrets(&[API_TOKEN, GH_TOKEN, password])
        .env("HTTPS_PROXY", &proxy.url_with(&format!("ci-bot:{password}@")));
    let result = runner.run();
    assert_rotated(&world, &result);
    assert!(result.masked().iter().any(|m| m == password), "{:?}", result.masked());
    let expected = format!("Basic {}", base64_of(&format!("ci-bot:{password}")));
    assert!(
        proxy
            .seen()
            .iter()
            .all(|s| s.proxy_authorization.as_deref() == Some(&expected)),
        "{:?}",
        proxy.seen()
    );

    // A proxy the binary cannot use is named by its host only.
    let result = runner
        .env("HTTPS_PROXY", &format!("socks5://ci-bot:{password}@socks.corp:1080"))
        .run();
    result.assert_exit(2);
    assert!(result.stdout.contains("socks.corp:1080"), "{}", result.stdout);
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
