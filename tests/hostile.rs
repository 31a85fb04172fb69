//! Hostile input: arbitrary input values, flags and response texts never
//! panic and never take unbounded room; every failure is a clean error.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use turso_rotate::apis::seal::ScopeKey;
use turso_rotate::apis::turso;
use turso_rotate::http::retry::{detail, parse_retry_after, Reply};
use turso_rotate::inputs::{self, parse_duration, Command};
use turso_rotate::secret::Secret;

const NAMES: &[&str] = &[
    "INPUT_ORGANIZATION",
    "INPUT_GROUP",
    "INPUT_GROUPS",
    "INPUT_API-TOKEN",
    "INPUT_EXPIRATION",
    "INPUT_AUTHORIZATION",
    "INPUT_READ-ATTACH-DATABASES",
    "INPUT_MODE",
    "INPUT_ROTATE-AFTER",
    "INPUT_SECRET-NAME",
    "INPUT_SECRETS",
    "INPUT_SCOPE",
    "INPUT_REPOSITORY",
    "INPUT_ENVIRONMENT",
    "INPUT_VISIBILITY",
    "INPUT_SELECTED-REPOSITORIES",
    "INPUT_GITHUB-TOKEN",
    "INPUT_DRY-RUN",
    "INPUT_DATABASE-URL",
    "INPUT_TOKEN-FILE",
    "INPUT_AUDIT-FILE",
    "INPUT_MAX-ATTEMPTS",
    "INPUT_TIMEOUT",
    "INPUT_TURSO-API-URL",
    "GITHUB_ACTIONS",
    "GITHUB_WORKSPACE",
    "GITHUB_REPOSITORY",
    "GITHUB_API_URL",
];

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[a-zA-Z0-9_./:@%-]{0,30}",
        "(true|false|never|7d|30d|roll|invalidate|repo:A|env:x:B|org:C|acme/app|http://127.0.0.1:1|https://x|\\.\\.|/tmp/x)",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn input_parsing_never_panics(
        values in proptest::collection::vec((0..NAMES.len(), any_text()), 0..12),
        args in proptest::collection::vec(any_text(), 0..6),
    ) {
        let env: Vec<(&str, String)> = values.into_iter().map(|(i, v)| (NAMES[i], v)).collect();
        let lookup = |name: &str| env.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
        match inputs::parse(&args, &lookup) {
            Ok(Command::Run(parsed)) => {
                prop_assert!(!parsed.plans.is_empty());
                let debug = format!("{:?}", parsed);
                prop_assert!(debug.contains("api_token: ***"), "Debug shows the API token");
            }
            Ok(_) => {}
            Err(e) => {
                prop_assert!(e.0.starts_with("Input") || e.0.contains("flag") || e.0.contains("argument") || e.0.contains("Inputs") || e.0.contains("Secret"), "{}", e.0);
                prop_assert!(!e.0.contains('\n'), "one line: {:?}", e.0);
            }
        }
    }

    #[test]
    fn durations_parse_or_refuse(text in ".{0,24}") {
        let _ = parse_duration(&text);
    }

    #[test]
    fn well_formed_durations_add_up(w in 0u64..100, d in 0u64..100, h in 0u64..100, m in 0u64..100, s in 1u64..100) {
        let text = format!("{w}w{d}d{h}h{m}m{s}s");
        prop_assert_eq!(parse_duration(&text), Some(Duration::from_secs(w * 604_800 + d * 86_400 + h * 3_600 + m * 60 + s)));
    }

    #[test]
    fn urls_are_checked_without_panic(text in any_text()) {
        if let Ok(url) = inputs::url("turso-api-url", &text) {
            prop_assert!(url.starts_with("https://") || url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost") || url.starts_with("http://[::1]"), "{}", url);
        }
    }

    #[test]
    fn token_claims_from_any_text(text in ".{0,200}", payload in proptest::collection::vec(any::<u8>(), 0..200)) {
        use base64::Engine;
        let _ = turso::Expiry::of(&Secret::new(text));
        let jwt = format!("x.{}.y", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload));
        // Whatever the claim, a known expiry can be written as RFC 3339.
        let _ = turso_rotate::report::rfc3339(turso::Expiry::of(&Secret::new(jwt)).at());
    }

    #[test]
    fn response_texts_are_bounded(body in ".{0,2000}", retry in ".{0,40}", reset in ".{0,20}") {
        prop_assert!(detail(&body).chars().count() <= 302);
        let _ = parse_retry_after(&retry, SystemTime::now());
        let reply = Reply::from_parts(429, body, |name| match name {
            "retry-after" => Some(retry.clone()),
            "x-ratelimit-remaining" => Some("0".into()),
            "x-ratelimit-reset" => Some(reset.clone()),
            _ => None,
        });
        prop_assert_eq!(reply.status, 429);
    }

    #[test]
    fn any_rate_limit_reset_is_a_wait_not_a_panic(reset in any::<u64>(), retry in any::<u64>()) {
        let reply = Reply::from_parts(403, String::new(), |name| match name {
            "retry-after" => Some(retry.to_string()),
            "x-ratelimit-remaining" => Some("0".into()),
            "x-ratelimit-reset" => Some(reset.to_string()),
            _ => None,
        });
        prop_assert!(reply.rate_limit_reset.is_some());
    }

    #[test]
    fn public_keys_from_any_text(key in ".{0,80}") {
        let _ = ScopeKey::from_base64("1".into(), &key);
    }
}
