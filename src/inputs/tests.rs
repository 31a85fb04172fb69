//! The inputs read together: each test goes through [`parse`], as the
//! binary does, and checks what one family made of its inputs.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;

fn parse_env(vars: &[(&str, &str)], args: &[&str]) -> Result<Inputs, BadInput> {
    let vars: BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    match parse(&args, &|name| vars.get(name).cloned())? {
        Command::Run(inputs) => Ok(*inputs),
        other => panic!("expected a run, got {other:?}"),
    }
}

const BASE: &[(&str, &str)] = &[
    ("INPUT_ORGANIZATION", "acme"),
    ("INPUT_GROUP", "prod"),
    ("INPUT_API-TOKEN", "api-secret"),
    ("INPUT_SECRET-NAME", "TURSO_AUTH_TOKEN"),
    ("INPUT_GITHUB-TOKEN", "gh-secret"),
    ("GITHUB_REPOSITORY", "acme/app"),
];

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut vars: Vec<_> = BASE
        .iter()
        .copied()
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
        .collect();
    vars.extend_from_slice(extra);
    vars
}

fn error(extra: &[(&'static str, &'static str)]) -> String {
    parse_env(&with(extra), &[]).unwrap_err().0
}

#[test]
fn runner_variables_are_read_with_hyphens_kept() {
    let inputs = parse_env(BASE, &[]).unwrap();
    assert_eq!(inputs.organization, "acme");
    assert_eq!(inputs.plans[0].group, "prod");
    assert_eq!(inputs.api_token.expose(), "api-secret");
    assert_eq!(
        inputs.plans[0].targets,
        vec![Target {
            scope: Scope::Repository(Repo {
                owner: "acme".into(),
                name: "app".into()
            }),
            secret: "TURSO_AUTH_TOKEN".into()
        }]
    );
    assert_eq!(inputs.expiration, Expiration::Never);
    assert_eq!(inputs.authorization, Authorization::FullAccess);
    assert!(!inputs.dry_run);
    assert!(
        !format!("{inputs:?}").contains("api-secret"),
        "Debug must redact tokens"
    );
}

#[test]
fn flags_override_and_empty_means_unset() {
    let inputs = parse_env(
        &with(&[
            ("INPUT_EXPIRATION", "  "),
            ("INPUT_API-TOKEN", ""),
            ("TURSO_API_TOKEN", "from-env"),
        ]),
        &["--group", "staging", "--authorization=read-only", "--dry-run"],
    )
    .unwrap();
    assert_eq!(inputs.plans[0].group, "staging");
    assert_eq!(inputs.expiration, Expiration::Never);
    assert_eq!(inputs.authorization, Authorization::ReadOnly);
    assert_eq!(inputs.api_token.expose(), "from-env");
    assert!(inputs.dry_run);
}

#[test]
fn each_bad_input_names_itself() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("INPUT_ORGANIZATION", "")], "`organization`"),
        (&[("INPUT_GROUP", "../etc")], "`group`"),
        (&[("INPUT_GROUP", "..")], "`group`"),
        (&[("INPUT_SECRET-NAME", "GITHUB_TOKEN")], "`secret-name`"),
        (&[("INPUT_SECRET-NAME", "1ABC")], "`secret-name`"),
        (&[("INPUT_SECRET-NAME", "A-B")], "`secret-name`"),
        (&[("INPUT_EXPIRATION", "7 days")], "`expiration`"),
        (&[("INPUT_AUTHORIZATION", "admin")], "`authorization`"),
        (&[("INPUT_DRY-RUN", "yes")], "`dry-run`"),
        (&[("INPUT_REPOSITORY", "no-slash")], "`repository`"),
        (&[("INPUT_TURSO-API-URL", "http://example.com")], "`turso-api-url`"),
        (&[("INPUT_TURSO-API-URL", "ftp://x")], "`turso-api-url`"),
        (&[("INPUT_GITHUB-TOKEN", "")], "`github-token`"),
        (&[("INPUT_API-TOKEN", "")], "`api-token`"),
        (&[("INPUT_MAX-ATTEMPTS", "0")], "`max-attempts`"),
        (&[("INPUT_TIMEOUT", "forever")], "`timeout`"),
        (&[("INPUT_SCOPE", "enterprise")], "`scope`"),
        (&[("INPUT_SCOPE", "environment")], "`environment`"),
        (&[("INPUT_GROUPS", "a=X\nb=Y")], "`groups`"),
        (&[("INPUT_VISIBILITY", "public")], "`visibility`"),
        (&[("INPUT_MODE", "soft")], "`mode`"),
        (&[("INPUT_MODE", "roll")], "`expiration`"),
        (&[("INPUT_ROTATE-AFTER", "weekly")], "`rotate-after`"),
    ];
    for (extra, name) in cases {
        let message = error(extra);
        assert!(message.contains(name), "{extra:?}: {message}");
    }
}

#[test]
fn a_roll_needs_an_expiration_longer_than_rotate_after() {
    let roll = |expiration, after| {
        parse_env(
            &with(&[
                ("INPUT_MODE", "roll"),
                ("INPUT_EXPIRATION", expiration),
                ("INPUT_ROTATE-AFTER", after),
            ]),
            &[],
        )
    };
    assert!(roll("5d", "7d").unwrap_err().0.contains("longer than `rotate-after`"));
    assert!(roll("7d", "7d").is_err());
    let inputs = roll("30d", "7d").unwrap();
    assert_eq!(inputs.mode, Mode::Roll);
    assert_eq!(inputs.rotate_after, Some(Duration::from_secs(7 * 86_400)));
}

#[test]
fn a_group_named_twice_is_bad_input() {
    let vars = [
        ("INPUT_ORGANIZATION", "acme"),
        ("INPUT_API-TOKEN", "t0ken"),
        ("INPUT_GITHUB-TOKEN", "gh-t0ken"),
        ("GITHUB_REPOSITORY", "acme/app"),
        ("INPUT_GROUPS", "prod=A\nstaging=B\nprod=C"),
    ];
    assert!(parse_env(&vars, &[]).unwrap_err().0.contains("twice"));
}

#[test]
fn targets_of_every_scope() {
    let vars = with(&[
        ("INPUT_SECRET-NAME", ""),
        ("INPUT_SECRETS", "repo:A\nenv:Production 1:B\norg:C\ndependabot:D"),
        ("INPUT_SELECTED-REPOSITORIES", "app, web"),
    ]);
    let inputs = parse_env(&vars, &[]).unwrap();
    let scopes: Vec<String> = inputs.plans[0].targets.iter().map(|t| t.to_string()).collect();
    assert_eq!(
        scopes,
        [
            "A in repository acme/app",
            "B in environment `Production 1` of acme/app",
            "C in organization acme",
            "D in Dependabot secrets of acme/app"
        ]
    );
    assert!(
        matches!(&inputs.plans[0].targets[2].scope, Scope::Organization(_, Visibility::Selected(r)) if r == &["app", "web"])
    );
}

#[test]
fn environment_implies_its_scope() {
    let inputs = parse_env(&with(&[("INPUT_ENVIRONMENT", "production")]), &[]).unwrap();
    assert!(matches!(&inputs.plans[0].targets[0].scope, Scope::Environment(_, e) if e == "production"));
}

#[test]
fn the_notification_format_follows_the_host() {
    let format = |url: &'static str| {
        let inputs = parse_env(&with(&[("INPUT_NOTIFY-URL", url)]), &[]).unwrap();
        let notify = inputs.notify.expect("a notification");
        (notify.format, notify.host)
    };
    assert_eq!(
        format("https://hooks.slack.com/services/T0/B0/x").0,
        NotifyFormat::Slack
    );
    let (teams, host) =
        format("https://prod-01.westus.logic.azure.com:443/workflows/a/triggers/manual/paths/invoke?sig=x");
    assert_eq!(
        (teams, host.as_str()),
        (NotifyFormat::Teams, "prod-01.westus.logic.azure.com")
    );
    assert_eq!(
        format("https://default1.environment.api.powerplatform.com/p?sig=x").0,
        NotifyFormat::Teams
    );
    assert_eq!(format("https://hooks.example.com/turso").0, NotifyFormat::Json);
    // A look-alike host is not Slack.
    assert_eq!(format("https://hooks.slack.com.evil.example/x").0, NotifyFormat::Json);
    let error = parse_env(
        &with(&[
            ("INPUT_NOTIFY-URL", "https://hooks.example.com/t"),
            ("INPUT_NOTIFY-FORMAT", "slack"),
            ("INPUT_NOTIFY-SECRET", "whsec_a2V5"),
        ]),
        &[],
    )
    .unwrap_err()
    .0;
    assert!(error.contains("`notify-secret`"), "{error}");
}
