//! Every environment variable the program reads, in one place, so that the
//! contract with the Actions runner can be read off a single page.

/// Prefix the runner puts before every action input (`INPUT_SECRET-NAME`).
pub const INPUT_PREFIX: &str = "INPUT_";
/// `true` when running inside GitHub Actions.
pub const GITHUB_ACTIONS: &str = "GITHUB_ACTIONS";
/// File the runner reads step outputs from.
pub const GITHUB_OUTPUT: &str = "GITHUB_OUTPUT";
/// File the runner renders as the job summary.
pub const GITHUB_STEP_SUMMARY: &str = "GITHUB_STEP_SUMMARY";
/// The checked-out workspace; the only folder a Docker action shares with later steps.
pub const GITHUB_WORKSPACE: &str = "GITHUB_WORKSPACE";
/// REST API base URL (`https://api.github.com`, or `https://HOST/api/v3` on GHES).
pub const GITHUB_API_URL: &str = "GITHUB_API_URL";
/// `owner/repo` of the workflow run; the default `repository`.
pub const GITHUB_REPOSITORY: &str = "GITHUB_REPOSITORY";
/// Web base URL, for links to the run in the audit trail.
pub const GITHUB_SERVER_URL: &str = "GITHUB_SERVER_URL";
/// Id of the workflow run, for links to the run in the audit trail.
pub const GITHUB_RUN_ID: &str = "GITHUB_RUN_ID";
/// Who started the run, for the audit trail.
pub const GITHUB_ACTOR: &str = "GITHUB_ACTOR";
/// Outside Actions, the first fallback for `github-token`, as `gh` reads it.
pub const GH_TOKEN: &str = "GH_TOKEN";
/// Outside Actions, the second fallback for `github-token`.
pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";
/// Fallback for the `api-token` input, the name Turso's own CLI uses.
pub const TURSO_API_TOKEN: &str = "TURSO_API_TOKEN";

/// Outside Actions, the fallback for `cloudflare-api-token`, as wrangler reads it.
pub const CLOUDFLARE_API_TOKEN: &str = "CLOUDFLARE_API_TOKEN";
/// Outside Actions, the fallback for `vercel-token`, as the Vercel CLI reads it.
pub const VERCEL_TOKEN: &str = "VERCEL_TOKEN";
/// Outside Actions, the fallback for `fly-api-token`, as flyctl reads it.
pub const FLY_API_TOKEN: &str = "FLY_API_TOKEN";
/// Outside Actions, the fallback for `netlify-token`, as the Netlify CLI reads it.
pub const NETLIFY_AUTH_TOKEN: &str = "NETLIFY_AUTH_TOKEN";
/// Default Fly Machines API.
pub const DEFAULT_FLY_API_URL: &str = "https://api.machines.dev";
/// Default Netlify API.
pub const DEFAULT_NETLIFY_API_URL: &str = "https://api.netlify.com/api/v1";
/// Default Cloudflare API.
pub const DEFAULT_CLOUDFLARE_API_URL: &str = "https://api.cloudflare.com/client/v4";
/// Default Vercel API.
pub const DEFAULT_VERCEL_API_URL: &str = "https://api.vercel.com";

/// Default GitHub REST API when `GITHUB_API_URL` is unset.
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";
/// Default Turso Platform API.
pub const DEFAULT_TURSO_API_URL: &str = "https://api.turso.tech";
/// Name of the throw-away secret written and deleted to prove write access.
pub const PROBE_SECRET: &str = "TURSO_ROTATE_PROBE";

/// `User-Agent` sent to every API.
pub const USER_AGENT: &str = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));
