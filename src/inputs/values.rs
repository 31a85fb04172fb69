//! The values every family is made of: names (slugs, secret and variable
//! names, repositories, environments), URLs, file paths, booleans and
//! lists. Each checks one value and says, naming the input, what it expected.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use super::error::{bad, shown, BadInput};
use super::raw::Raw;
use crate::names;

/// A required input's value, or an error saying what it is for.
pub(super) fn required(raw: &Raw, name: &str, what: &str) -> Result<String, BadInput> {
    raw.get(name)
        .ok_or_else(|| BadInput(format!("Input `{name}` is required: {what}.")))
}

/// `true`/`false` as YAML writes them (`True`, `TRUE` too, like `core.getBooleanInput`).
pub(super) fn boolean(raw: &Raw, name: &str) -> Result<bool, BadInput> {
    match raw.get(name).as_deref() {
        None | Some("false" | "False" | "FALSE") => Ok(false),
        Some("true" | "True" | "TRUE") => Ok(true),
        Some(other) => bad(format!(
            "Input `{name}`: '{other}' is not a boolean. Expected `true` or `false`."
        )),
    }
}

/// Items separated by commas or newlines, trimmed, empty ones dropped.
pub(super) fn list(value: Option<String>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Non-empty lines, trimmed; `#` starts a comment line.
pub(super) fn lines(value: Option<String>) -> Vec<String> {
    value
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|s| !s.is_empty() && !s.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Letters, digits, `-`, `_`, `.`; never `.` or `..`, so it cannot walk a URL path.
pub fn slug(input: &str, value: &str) -> Result<String, BadInput> {
    let ok = !value.is_empty()
        && value.len() <= 100
        && value != "."
        && value != ".."
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(value.to_owned())
    } else {
        bad(format!(
            "Input `{input}`: '{}' is not a valid name. Expected letters, digits, `-`, `_` and `.`.",
            shown(value)
        ))
    }
}

/// Cloudflare's rule for a Worker's name: `^[a-z0-9_][a-z0-9-_]*$`.
pub(super) fn worker_script(input: &str, value: &str) -> Result<String, BadInput> {
    let ok = !value.is_empty()
        && !value.starts_with('-')
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'));
    if ok {
        Ok(value.to_owned())
    } else {
        bad(format!(
            "Input `{input}`: '{}' is not a Worker name. Expected lower-case letters, digits, `-` and `_`, not starting with `-`.",
            shown(value)
        ))
    }
}

/// GitHub's rules: letters, digits and `_`, not starting with a digit or `GITHUB_`.
pub fn secret_name(input: &str, value: &str) -> Result<String, BadInput> {
    let ok = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !value.to_ascii_uppercase().starts_with("GITHUB_");
    if value.eq_ignore_ascii_case(names::PROBE_SECRET) {
        return bad(format!(
            "Input `{input}`: {} is reserved for the write-access probe, which is written and deleted in every run.",
            names::PROBE_SECRET
        ));
    }
    if ok {
        Ok(value.to_owned())
    } else {
        bad(format!("Input `{input}`: '{}' is not a valid secret name. Expected letters, digits and `_`, not starting with a digit or GITHUB_.", shown(value)))
    }
}

/// A Worker secret's or Vercel variable's name: letters, digits and `_`,
/// not starting with a digit (what both platforms' apps read as a name).
pub(super) fn platform_name(input: &str, value: &str) -> Result<String, BadInput> {
    if value.eq_ignore_ascii_case(names::PROBE_SECRET) {
        return secret_name(input, value);
    }
    let ok = value.len() <= 255
        && value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(value.to_owned())
    } else {
        bad(format!(
            "Input `{input}`: '{}' is not a valid variable name. Expected letters, digits and `_`, not starting with a digit.",
            shown(value)
        ))
    }
}

/// `owner/name` of a repository.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Repo {
    pub owner: String,
    pub name: String,
}

impl fmt::Display for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// `owner/name`, each part a [`slug`].
pub(super) fn repo(input: &str, value: &str) -> Result<Repo, BadInput> {
    match value.split_once('/') {
        Some((owner, name)) if slug(input, owner).is_ok() && slug(input, name).is_ok() => Ok(Repo {
            owner: owner.to_owned(),
            name: name.to_owned(),
        }),
        _ => bad(format!(
            "Input `{input}`: '{}' is not a repository. Expected owner/name.",
            shown(value)
        )),
    }
}

/// A GitHub environment's name: 1 to 255 characters, no control characters.
pub(super) fn environment_name(input: &str, value: &str) -> Result<String, BadInput> {
    if value.is_empty() || value.len() > 255 || value.chars().any(char::is_control) {
        return bad(format!(
            "Input `{input}`: '{}' is not an environment name.",
            shown(value)
        ));
    }
    Ok(value.to_owned())
}

/// A base URL: `https://`, or `http://` for a loopback host only, so that no
/// token travels in clear over a network. `libsql://` means `https://`.
/// Credentials, a query or a fragment are refused: they are where tokens
/// hide (`?authToken=…`), and an error never echoes them.
pub fn url(input: &str, value: &str) -> Result<String, BadInput> {
    checked_url(input, value, false)
}

/// `notify-url`: as [`url`], but a query is kept (a Teams Workflows URL
/// carries its signature there). The whole URL is a credential.
pub(super) fn webhook_url(value: &str) -> Result<String, BadInput> {
    checked_url("notify-url", value, true)
}

/// `host` of `scheme://host[:port]/…`, without the port.
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_port = rest.split(['/', '?', '#']).next().unwrap_or("");
    match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.rsplit_once(':').map_or(host_port, |(h, _)| h),
    }
}

fn checked_url(input: &str, value: &str, keep_query: bool) -> Result<String, BadInput> {
    let value = if keep_query { value } else { value.trim_end_matches('/') };
    let (scheme, rest) = value.split_once("://").unwrap_or(("", value));
    let host_port = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host_port.contains('@') || rest.contains('#') || (!keep_query && rest.contains('?')) {
        return bad(format!(
            "Input `{input}`: the URL carries credentials, a query or a fragment (not shown here). Expected https://HOST[/PATH] alone; a token goes in its own input."
        ));
    }
    let host = host_of(value);
    let valid_host = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':'));
    let loopback = matches!(host, "127.0.0.1" | "localhost" | "::1");
    let valid_path = rest.chars().all(|c| c.is_ascii_graphic());
    match scheme {
        _ if !valid_host || !valid_path => {}
        "https" => return Ok(value.to_owned()),
        "libsql" => return Ok(format!("https://{rest}")),
        "http" if loopback => return Ok(value.to_owned()),
        "http" => {
            return bad(format!(
                "Input `{input}`: http://{} is not a loopback host: a token would travel in clear. Use https://.",
                shown(host_port)
            ))
        }
        _ => {}
    }
    bad(format!(
        "Input `{input}`: not a URL ({}). Expected https://HOST[/PATH].",
        match scheme {
            "https" | "http" | "libsql" => "bad host or path",
            _ => "no https:// scheme",
        }
    ))
}

/// Under Actions a file must lie inside the workspace: the container sees
/// nothing else, and a file written elsewhere is lost with it.
pub(super) fn file_path(
    input: &str,
    value: &str,
    actions: bool,
    workspace: Option<&Path>,
) -> Result<PathBuf, BadInput> {
    let path = Path::new(value);
    let base = match workspace {
        Some(w) if actions => w.to_path_buf(),
        _ => PathBuf::new(),
    };
    let mut full = if path.is_absolute() {
        PathBuf::new()
    } else {
        base.clone()
    };
    for part in path.components() {
        match part {
            Component::ParentDir => {
                if !full.pop() {
                    full.push("..");
                }
            }
            Component::CurDir => {}
            other => full.push(other),
        }
    }
    if actions && workspace.is_some() && !full.starts_with(&base) {
        return bad(format!("Input `{input}`: '{}' is outside $GITHUB_WORKSPACE ({}): a Docker action's container sees only the workspace. Use a path inside it.", shown(value), base.display()));
    }
    if full.as_os_str().is_empty() {
        return bad(format!("Input `{input}`: '{}' is not a file path.", shown(value)));
    }
    Ok(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_take_https_or_loopback_http() {
        assert_eq!(url("x", "https://api.turso.tech/").unwrap(), "https://api.turso.tech");
        assert_eq!(url("x", "http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(url("x", "http://[::1]:9").unwrap(), "http://[::1]:9");
        assert_eq!(
            url("x", "libsql://db-acme.turso.io").unwrap(),
            "https://db-acme.turso.io"
        );
        assert!(url("x", "http://localhost.evil.com").is_err());
        assert!(url("x", "http://127.0.0.1@evil.com").is_err());
        assert!(url("x", "https://").is_err());
        for hidden in [
            "libsql://db-acme.turso.io?authToken=eyJSECRET",
            "https://user:pw-SECRET@db.example.com",
            "https://db.example.com/#SECRET",
        ] {
            let error = url("database-url", hidden).unwrap_err().0;
            assert!(error.contains("`database-url`") && !error.contains("SECRET"), "{error}");
        }
    }

    #[test]
    fn files_under_actions_stay_in_the_workspace() {
        let ws = Path::new("/github/workspace");
        assert_eq!(file_path("f", "a.jsonl", true, Some(ws)).unwrap(), ws.join("a.jsonl"));
        assert!(file_path("f", "../a.jsonl", true, Some(ws)).is_err());
        assert!(file_path("f", "/tmp/a", true, Some(ws)).is_err());
        assert_eq!(file_path("f", "/tmp/a", false, Some(ws)).unwrap(), Path::new("/tmp/a"));
    }
}
