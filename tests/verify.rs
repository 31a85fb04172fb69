//! `database-url`: the new token must run `SELECT 1` before it is written.

mod common;

use common::world::{leaks, World};
use common::Scope;

fn world_with_db() -> World {
    let world = World::new();
    world.turso.add_database("prod", "users");
    world
}

#[test]
fn the_new_token_is_verified_before_it_is_written() {
    let world = world_with_db();
    let result = world
        .runner()
        .input("database-url", &world.turso.database_url("users"))
        .run();
    result.assert_exit(0);
    let pipeline = world
        .journal
        .position("turso", "POST", "/v2/pipeline")
        .expect("SELECT 1 sent");
    let write = world.journal.position("github", "PUT", "TURSO_AUTH_TOKEN").unwrap();
    assert!(pipeline < write, "verified before written: {:?}", world.journal.calls());
    let request = world
        .turso
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/v2/pipeline"))
        .unwrap();
    let body = request.json().unwrap();
    assert_eq!(
        body["requests"].as_array().unwrap().len(),
        1,
        "a single execute, no close"
    );
    assert_eq!(body["requests"][0]["stmt"]["sql"], "SELECT 1");
    assert!(result.stderr.contains("verified with SELECT 1"), "{}", result.stderr);
    leaks(&result, result.output("token"));
}

#[test]
fn a_propagating_key_is_waited_for() {
    let world = world_with_db();
    world.turso.propagation_delay(2);
    let result = world
        .runner()
        .input("database-url", &world.turso.database_url("users"))
        .run();
    result.assert_exit(0);
    assert_eq!(world.turso.count("POST", "/v2/pipeline"), 3);
    assert!(result.stderr.contains("may still be propagating"), "{}", result.stderr);
}

#[test]
fn a_token_that_never_works_is_still_written_after_an_invalidation() {
    let world = world_with_db();
    world.turso.add_group("other");
    world.turso.add_database("other", "elsewhere");
    // A database of another group never accepts this group's token. The
    // old tokens are dead already: the new one can only be better.
    // A short deadline bounds the wait for propagation.
    let result = world
        .runner()
        .input("database-url", &world.turso.database_url("elsewhere"))
        .input("timeout", "10s")
        .run();
    result.assert_exit(1);
    let token = result.output("token").expect("the token output is still set");
    assert_eq!(
        world
            .github
            .secret(Scope::repo("acme/app"), "TURSO_AUTH_TOKEN")
            .as_deref(),
        Some(token)
    );
    assert!(world.turso.token_valid("prod", token));
    assert!(result.stdout.contains("refuses the new token"), "{}", result.stdout);
    let error = result.error_line().to_lowercase();
    assert!(
        error.contains("verification") && error.contains("fail"),
        "says verification failed: {error}"
    );
}
