//! The declared inputs, one table: `--help`, the flag parser and
//! `action.yml` (held to it by a test) all read [`INPUTS`].

use crate::names;

/// One declared input: the table behind `--help`, the flag parser and `action.yml`.
pub struct InputSpec {
    pub name: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

/// Every input the action declares, in `action.yml` order.
pub const INPUTS: &[InputSpec] = &[
    InputSpec { name: "organization", default: "", help: "Turso organization slug (required)" },
    InputSpec { name: "group", default: "", help: "Turso group whose tokens are rotated (required unless `groups`, `database` or `databases`)" },
    InputSpec { name: "groups", default: "", help: "Several groups, one per line: `group=SECRET` or `group=TARGET` (see `secrets`)" },
    InputSpec { name: "database", default: "", help: "Rotate one database's tokens instead of a group's (instead of `group`)" },
    InputSpec { name: "databases", default: "", help: "Several databases, one per line: `database=SECRET` or `database=TARGET`, as in `groups`" },
    InputSpec { name: "api-token", default: "", help: "Turso Platform API token (default: env TURSO_API_TOKEN)" },
    InputSpec { name: "expiration", default: "never", help: "New token lifetime: `never` or a duration like `7d`, `2w1d30m` (units w d h m s)" },
    InputSpec { name: "authorization", default: "full-access", help: "`full-access` or `read-only`" },
    InputSpec { name: "read-attach-databases", default: "", help: "Database names (comma or newline separated) granted `read_attach`" },
    InputSpec { name: "mode", default: "invalidate", help: "`invalidate`: kill every token of the group, then create one; `roll`: create and write a new expiring token, invalidate nothing; `report`: change nothing, report each secret's age" },
    InputSpec { name: "rotate-after", default: "", help: "A duration: rotate only when a target secret is missing or older than this" },
    InputSpec { name: "secret-name", default: "", help: "GitHub secret to write, e.g. TURSO_AUTH_TOKEN (required unless dry-run, `secrets` or `groups`)" },
    InputSpec { name: "secrets", default: "", help: "Several targets, one per line: `repo:NAME`, `env:ENVIRONMENT:NAME`, `org:NAME`, `dependabot:NAME`, `cloudflare:ACCOUNT_ID:SCRIPT:NAME`, `vercel:PROJECT:NAME[:TARGETS]`, `fly:APP:NAME`, `netlify:SITE:NAME[:CONTEXTS]`" },
    InputSpec { name: "scope", default: "repository", help: "Scope of `secret-name`: `repository`, `environment`, `organization` or `dependabot`" },
    InputSpec { name: "repository", default: "$GITHUB_REPOSITORY", help: "`owner/repo` whose secret is written (its owner for organization secrets)" },
    InputSpec { name: "environment", default: "", help: "Write an environment secret of this environment (implies scope `environment`)" },
    InputSpec { name: "visibility", default: "private", help: "Organization secrets: `all`, `private` or `selected`" },
    InputSpec { name: "selected-repositories", default: "", help: "Organization secrets with visibility `selected`: repository names (comma or newline separated)" },
    InputSpec { name: "github-token", default: "", help: "Token allowed to write the secret (required unless dry-run)" },
    InputSpec { name: "dry-run", default: "false", help: "Preflight only: check access, change nothing" },
    InputSpec { name: "database-url", default: "", help: "libsql:// or https:// URL of a database in the group: the new token must run `SELECT 1` before it is written" },
    InputSpec { name: "verify", default: "true", help: "`false`: no `SELECT 1` check of the new token, even where a database is known" },
    InputSpec { name: "previous-token", default: "", help: "The token this run replaces (e.g. the current secret): after the invalidation it must be refused, proving the old token dead" },
    InputSpec { name: "token-file", default: "./turso-rotate-<group>.token", help: "Outside Actions: where the new token goes (mode 0600) if the secret write fails" },
    InputSpec { name: "audit-file", default: "", help: "Append one JSON line per rotation to this file (never a token)" },
    InputSpec { name: "reason", default: "", help: "Why this rotation happens; shown in the summary and audit trail" },
    InputSpec { name: "dispatch", default: "", help: "Consumers to tell once the secrets are written, one per line: `repository:OWNER/REPO[:EVENT_TYPE]`, `workflow:OWNER/REPO/WORKFLOW_FILE@REF`, `vercel:PROJECT`, `fly:APP` or `netlify:SITE`" },
    InputSpec { name: "dispatch-token", default: "", help: "Token for `dispatch`, when another token than `github-token` must send it" },
    InputSpec { name: "notify-url", default: "", help: "Where one message about the run goes: a Slack incoming webhook, a Microsoft Teams Workflows URL, or any HTTPS endpoint" },
    InputSpec { name: "notify-secret", default: "", help: "Standard Webhooks signing secret (`whsec_…`) for a generic `notify-url`" },
    InputSpec { name: "notify-format", default: "auto", help: "`auto` (by host), `slack`, `teams` or `json`" },
    InputSpec { name: "notify-on", default: "always", help: "`always` or `failure`" },
    InputSpec { name: "notify-email", default: "", help: "Addresses (comma or newline separated) told by email, over `smtp-url`" },
    InputSpec { name: "smtp-url", default: "", help: "SMTP server, a credential: `smtps://USER:PASSWORD@HOST[:PORT]` (TLS, port 465) or `smtp://…` (STARTTLS, port 587)" },
    InputSpec { name: "smtp-from", default: "", help: "Sender address of the email (default: the `smtp-url` user, when it is an address)" },
    InputSpec { name: "delete-protection", default: "ignore", help: "`ensure`: turn the group's delete protection on after the writes (needs `group:configure`); in `mode: report`, off is a finding" },
    InputSpec { name: "max-attempts", default: "4", help: "Attempts per request for transient failures (1-10)" },
    InputSpec { name: "timeout", default: "100s", help: "Deadline for the whole run, e.g. `100s`, `2m`" },
    InputSpec { name: "turso-api-url", default: names::DEFAULT_TURSO_API_URL, help: "Turso Platform API base URL" },
    InputSpec { name: "cloudflare-api-token", default: "", help: "Cloudflare API token with the Workers Editor role, for `cloudflare:` targets (outside Actions: env CLOUDFLARE_API_TOKEN)" },
    InputSpec { name: "vercel-token", default: "", help: "Vercel access token, for `vercel:` targets and dispatches (outside Actions: env VERCEL_TOKEN)" },
    InputSpec { name: "vercel-team", default: "", help: "Vercel team id (`team_…`) or slug that owns the projects" },
    InputSpec { name: "cloudflare-api-url", default: names::DEFAULT_CLOUDFLARE_API_URL, help: "Cloudflare API base URL" },
    InputSpec { name: "vercel-api-url", default: names::DEFAULT_VERCEL_API_URL, help: "Vercel API base URL" },
    InputSpec { name: "fly-api-token", default: "", help: "Fly.io token (an app deploy token is enough), for `fly:` targets and dispatches (outside Actions: env FLY_API_TOKEN)" },
    InputSpec { name: "netlify-token", default: "", help: "Netlify personal access token, for `netlify:` targets and dispatches (outside Actions: env NETLIFY_AUTH_TOKEN)" },
    InputSpec { name: "fly-api-url", default: names::DEFAULT_FLY_API_URL, help: "Fly Machines API base URL" },
    InputSpec { name: "netlify-api-url", default: names::DEFAULT_NETLIFY_API_URL, help: "Netlify API base URL" },
];

/// The `--help` text, generated from [`INPUTS`].
pub fn help() -> String {
    let mut out = format!(
        "{} {}\nRotate a Turso group's auth tokens and write the new token into a GitHub Actions secret.\n\n\
         Usage: turso-rotate [--INPUT VALUE]... [--show-token]\n\n\
         Each input is read from --INPUT or from the INPUT_<NAME> variable the Actions runner sets.\n\nInputs:\n",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION")
    );
    for input in INPUTS {
        let default = if input.default.is_empty() {
            String::new()
        } else {
            format!(" [default: {}]", input.default)
        };
        out.push_str(&format!("  --{:<24}{}{}\n", input.name, input.help, default));
    }
    out.push_str(
        "\nFlags:\n  --show-token              Outside Actions, include the new token in the printed outputs\n  \
         -h, --help                Print this help\n  -V, --version             Print the version\n\n\
         Exit codes: 0 done (or dry run passed), 1 a remote call failed, 2 bad input.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_every_input() {
        let text = help();
        for input in INPUTS {
            assert!(text.contains(&format!("--{}", input.name)));
        }
    }
}
