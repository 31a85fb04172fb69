//! Self-test of the Turso fake's database, configuration and validation
//! routes and of its libSQL refusals, over real HTTP and without the binary.

mod common;

use serde_json::{json, Value};

use common::{FakeTurso, LibsqlErrors};

const KEY: &str = "turso-api-key";

struct Api {
    turso: FakeTurso,
    agent: ureq::Agent,
}

impl Api {
    /// Org `acme`, group `prod` with databases `app` and `users`.
    fn new() -> Api {
        let turso = FakeTurso::start("acme", KEY);
        turso
            .add_group("prod")
            .add_database("prod", "app")
            .add_database("prod", "users");
        Api {
            turso,
            agent: common::test_agent(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1{path}", self.turso.url())
    }

    /// (status, body as JSON or `null`) of a Platform API call.
    fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path))
            .header("Authorization", format!("Bearer {KEY}"))
            .header("Content-Type", "application/json")
            .body(body.unwrap_or("").to_string())
            .unwrap();
        let mut response = self.agent.run(request).expect("request");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn token(&self, path: &str, query: &str, body: Option<&str>) -> String {
        let (status, answer) = self.call("POST", &format!("{path}/auth/tokens{query}"), body);
        assert_eq!(status, 200, "{answer}");
        answer["jwt"].as_str().unwrap().to_string()
    }

    /// (status, body) of `SELECT 1` at `endpoint` with this Authorization.
    fn select(&self, endpoint: &str, authorization: Option<&str>) -> (u16, Value) {
        let mut request = self.agent.post(format!("{endpoint}/v2/pipeline"));
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        let mut response = request
            .send(r#"{"baton":null,"requests":[{"type":"execute","stmt":{"sql":"SELECT 1"}}]}"#)
            .expect("request");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Status of `SELECT 1` with `jwt` at the database's own Hostname.
    fn works(&self, db: &str, jwt: &str) -> u16 {
        let host = format!("http://{}", self.turso.database_host(db));
        let status = self.select(&host, Some(&format!("Bearer {jwt}"))).0;
        assert_eq!(status == 200, self.turso.token_valid_for(db, jwt), "the helper agrees");
        status
    }
}

#[test]
fn a_database_is_read_with_its_own_host() {
    let api = Api::new();
    api.turso.set_database_delete_protection("app", true);
    let (status, answer) = api.call("GET", "/organizations/acme/databases/app", None);
    assert_eq!(status, 200);
    let db = &answer["database"];
    assert_eq!(db["Name"], "app");
    assert_eq!(db["DbId"], api.turso.database_id("app"));
    assert_eq!(db["group"], "prod");
    assert_eq!(db["delete_protection"], true);
    let host = db["Hostname"].as_str().unwrap();
    assert_eq!(host, api.turso.database_host("app"));
    assert!(host.starts_with("127.0.0.1:"), "{host}");

    let jwt = api.turso.issue_token("prod");
    let (status, body) = api.select(&format!("http://{host}"), Some(&format!("Bearer {jwt}")));
    assert_eq!((status, &body["results"][0]["type"]), (200, &json!("ok")));
    assert_eq!(api.turso.database_server("app").count("POST", "/v2/pipeline"), 1);
    assert_eq!(
        api.select(&api.turso.database_url("app"), Some(&format!("Bearer {jwt}")))
            .0,
        200
    );

    let (status, answer) = api.call("GET", "/organizations/acme/databases/nope", None);
    assert_eq!(status, 404);
    assert_eq!(
        answer["error"],
        "could not find database with name nope: record not found"
    );
}

#[test]
fn rotating_one_database_kills_its_tokens_only() {
    let api = Api::new();
    let group_token = api.turso.issue_token("prod");
    let app = api.token(
        "/organizations/acme/databases/app",
        "?expiration=1d&authorization=read-only",
        None,
    );
    let users = api.token("/organizations/acme/databases/users", "", None);
    let claims = api.turso.claims(&app);
    assert_eq!(
        (&claims["id"], &claims["a"]),
        (&json!(api.turso.database_id("app")), &json!("ro"))
    );
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        86_400
    );
    assert_eq!(api.works("app", &app), 200);
    assert_eq!(
        api.works("users", &app),
        401,
        "a database token is for that database only"
    );
    assert!(!api.turso.token_valid("prod", &app), "not a group token");

    let (status, answer) = api.call("POST", "/organizations/acme/databases/app/auth/rotate", None);
    assert_eq!((status, answer), (200, Value::Null));
    assert_eq!(api.turso.database_rotations("app"), 1);
    assert_eq!(api.turso.rotations("prod"), 0);
    assert_eq!(api.works("app", &app), 401);
    assert_eq!(api.works("app", &group_token), 200, "group tokens live on");
    assert_eq!(api.works("users", &users), 200, "other databases' tokens live on");
    let fresh = api.token(
        "/organizations/acme/databases/app",
        "",
        Some(r#"{"permissions":{"read_attach":{"databases":["users"]}}}"#),
    );
    assert_eq!(api.turso.claims(&fresh)["p"], json!({"roa": {"ns": ["users"]}}));
    assert_eq!(api.works("app", &fresh), 200);

    api.call("POST", "/organizations/acme/groups/prod/auth/rotate", None);
    assert_eq!(
        api.works("app", &group_token),
        401,
        "a group rotation kills group tokens"
    );

    api.turso.refuse_single_rotation("users");
    let (status, answer) = api.call("POST", "/organizations/acme/databases/users/auth/rotate", None);
    assert_eq!(status, 400);
    assert_eq!(
        answer["error"],
        "cannot rotate credentials for a single database in a group"
    );
    assert_eq!(api.works("users", &users), 200, "a refused rotation changes nothing");
    assert_eq!(api.turso.database_rotations("users"), 0);
}

#[test]
fn token_requests_are_held_to_the_schema() {
    let api = Api::new();
    for path in ["/organizations/acme/groups/prod", "/organizations/acme/databases/app"] {
        for (query, body) in [
            ("?expiration=7y", None),
            ("?expiration=", None),
            ("?authorization=admin", None),
            ("?authorization=read_only", None),
            ("", Some("not json")),
            ("", Some("[]")),
            ("", Some(r#"{"permissions":"all"}"#)),
            ("", Some(r#"{"permissions":{"read_attach":[]}}"#)),
            ("", Some(r#"{"permissions":{"read_attach":{"databases":"users"}}}"#)),
            ("", Some(r#"{"permissions":{"read_attach":{"databases":[1]}}}"#)),
        ] {
            let (status, answer) = api.call("POST", &format!("{path}/auth/tokens{query}"), body);
            assert_eq!(status, 400, "{path} {query} {body:?}");
            assert!(answer["error"].is_string(), "{answer}");
        }
        api.token(path, "?expiration=never&authorization=full-access", Some("{}"));
        for (method, rest) in [
            ("GET", "/auth/rotate"),
            ("GET", "/auth/tokens"),
            ("DELETE", ""),
            ("POST", "/configuration"),
        ] {
            assert_eq!(
                api.call(method, &format!("{path}{rest}"), None).0,
                405,
                "{method} {rest}"
            );
        }
        let (status, answer) = api.call("GET", &format!("{path}/nothing"), None);
        assert_eq!((status, answer["error"].is_string()), (404, true));
    }
    let (status, answer) = api.call("GET", "/organizations/acme/nothing", None);
    assert_eq!((status, answer["error"].is_string()), (404, true));
    assert_eq!(api.call("GET", "/organizations/other/databases/app", None).0, 404);
}

#[test]
fn configurations_read_and_patch_with_the_scope() {
    let api = Api::new();
    let group = "/organizations/acme/groups/prod/configuration";
    assert_eq!(api.call("GET", group, None), (200, json!({"delete_protection": false})));
    for bad in [None, Some("true"), Some(r#"{"delete_protection":"yes"}"#)] {
        assert_eq!(api.call("PATCH", group, bad).0, 400, "{bad:?}");
    }
    assert_eq!(
        api.call("PATCH", group, Some(r#"{"delete_protection":true}"#)),
        (200, json!({"delete_protection": true}))
    );
    assert!(api.turso.delete_protection("prod"));
    let (_, answer) = api.call("GET", "/organizations/acme/groups/prod", None);
    assert_eq!(answer["group"]["delete_protection"], true);

    let db = "/organizations/acme/databases/app/configuration";
    api.turso
        .set_allow_rules("app", &["203.0.113.7"], &["vpce-0fe6c8807461bba49"]);
    let (status, answer) = api.call("GET", db, None);
    assert_eq!(status, 200);
    assert_eq!(answer["allowed_ips"], json!(["203.0.113.7"]));
    assert_eq!(answer["allowed_aws_vpc_ids"], json!(["vpce-0fe6c8807461bba49"]));
    assert_eq!(answer["delete_protection"], false);
    assert_eq!(api.call("PATCH", db, Some(r#"{"allowed_ips":"10.0.0.0/8"}"#)).0, 400);
    let (status, answer) = api.call("PATCH", db, Some(r#"{"delete_protection":true,"allowed_ips":[]}"#));
    assert_eq!((status, &answer["allowed_ips"]), (200, &json!([])));
    assert_eq!(api.turso.database_configuration("app")["delete_protection"], true);
    let (_, answer) = api.call("GET", "/organizations/acme/databases/app", None);
    assert_eq!(answer["database"]["delete_protection"], true);

    api.turso.deny_method("PATCH", "/configuration");
    assert_eq!(api.call("GET", group, None).0, 200, "reading needs no more scope");
    let (status, answer) = api.call("PATCH", group, Some(r#"{"delete_protection":false}"#));
    assert_eq!((status, answer["error"].is_string()), (403, true));
    assert_eq!(api.call("PATCH", db, Some("{}")).0, 403);
    assert!(api.turso.delete_protection("prod"), "a refused patch changes nothing");
}

#[test]
fn the_api_token_expiry_is_validated() {
    let api = Api::new();
    assert_eq!(api.call("GET", "/auth/validate", None), (200, json!({"exp": -1})));
    api.turso.set_api_token_exp(1_900_000_000);
    assert_eq!(
        api.call("GET", "/auth/validate", None),
        (200, json!({"exp": 1_900_000_000}))
    );
    assert_eq!(api.call("POST", "/auth/validate", None).0, 405);
    let mut response = api
        .agent
        .get(api.url("/auth/validate"))
        .header("Authorization", "Bearer wrong")
        .call()
        .unwrap();
    assert_eq!(response.status(), 401);
    let answer: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    assert!(answer["error"].is_string());
}

#[test]
fn libsql_refuses_as_the_real_server_does() {
    let api = Api::new();
    let host = format!("http://{}", api.turso.database_host("app"));
    let old = api.turso.issue_token("prod");
    api.call("POST", "/organizations/acme/groups/prod/auth/rotate", None);
    let expired = api
        .turso
        .issue_token_with("prod", &json!({"iat": 1, "exp": 2, "a": "rw"}));
    let other_db = api.turso.database_id("users");
    let elsewhere = api
        .turso
        .issue_token_with("prod", &json!({"iat": 1, "id": other_db, "a": "rw"}));
    let cases = [
        (
            None,
            401,
            "Unauthorized: `Expected authorization header but none given`",
            "AUTH_HEADER_NOT_FOUND",
            "Expected authorization header but none given",
        ),
        (
            Some("Basic dXNlcjpwYXNz".to_string()),
            401,
            "Unauthorized: `The authentication scheme in the `Authorization` HTTP header is not supported`",
            "AUTH_HTTP_HEADER_UNSUPPORTED_SCHEME",
            "The authentication scheme in the `Authorization` HTTP header is not supported",
        ),
        (
            Some(format!("Bearer {old}")),
            401,
            "Unauthorized: `The JWT is invalid`",
            "AUTH_JWT_INVALID",
            "The JWT is invalid",
        ),
        (
            Some(format!("Bearer {expired}")),
            401,
            "Unauthorized: `The JWT has expired`",
            "AUTH_JWT_EXPIRED",
            "The JWT has expired",
        ),
    ];
    for (authorization, status, text, code, message) in &cases {
        let answer = api.select(&host, authorization.as_deref());
        assert_eq!(answer, (*status, json!({ "error": text })), "{authorization:?}");
        api.turso.libsql_errors(LibsqlErrors::Coded);
        let answer = api.select(&host, authorization.as_deref());
        let coded = json!({"message": format!("Authentication failed: {message}"), "code": code});
        assert_eq!(answer, (*status, coded), "{authorization:?}");
        api.turso.libsql_errors(LibsqlErrors::Text);
    }
    let forbidden = format!(
        "Authorization forbidden: Current session doesn't not have Read permission to namespace {}",
        api.turso.database_id("app")
    );
    assert_eq!(
        api.select(&host, Some(&format!("Bearer {elsewhere}"))),
        (403, json!({ "error": forbidden }))
    );
    assert_eq!(
        api.select(&format!("{}/db/nope", api.turso.url()), None),
        (404, json!({"error": "Namespace `nope` doesn't exist"}))
    );
    let unknown = api.agent.post(format!("{host}/v2/nothing")).send("{}").unwrap();
    assert_eq!(unknown.status(), 404);
}
