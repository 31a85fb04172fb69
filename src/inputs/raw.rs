//! The raw words: `--flags` from the command line and the `INPUT_*`
//! variables the runner sets, looked up by input name. Nothing here checks
//! a value; the families do that.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::error::{bad, BadInput};
use super::spec::INPUTS;
use crate::names;

/// Raw input values: `--flags` first, then `INPUT_*` variables.
pub(super) struct Raw<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    flags: BTreeMap<String, String>,
}

impl<'a> Raw<'a> {
    pub(super) fn new(env: &'a dyn Fn(&str) -> Option<String>, flags: BTreeMap<String, String>) -> Self {
        Raw { env, flags }
    }
}

impl Raw<'_> {
    /// The trimmed value; empty counts as unset, as the runner sets every declared input.
    pub(super) fn get(&self, name: &str) -> Option<String> {
        let value = match self.flags.get(name) {
            Some(v) => Some(v.clone()),
            None => (self.env)(&input_var(name)),
        }?;
        let value = value.trim();
        (!value.is_empty()).then(|| value.to_owned())
    }

    /// A variable of the environment itself (not an input), trimmed; empty counts as unset.
    pub(super) fn env(&self, name: &str) -> Option<String> {
        (self.env)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// What the runner says about where the run happens.
    pub(super) fn runner(&self) -> Runner {
        Runner {
            actions: self.env(names::GITHUB_ACTIONS).as_deref() == Some("true"),
            workspace: self.env(names::GITHUB_WORKSPACE).map(PathBuf::from),
        }
    }
}

/// Where the run happens.
pub(super) struct Runner {
    /// Under GitHub Actions (`GITHUB_ACTIONS=true`).
    pub actions: bool,
    /// `GITHUB_WORKSPACE`, the only folder a Docker action's container shares.
    pub workspace: Option<PathBuf>,
}

/// The variable the runner sets for an input: upper-cased, spaces to `_`, hyphens kept.
pub fn input_var(name: &str) -> String {
    format!("{}{}", names::INPUT_PREFIX, name.to_uppercase().replace(' ', "_"))
}

/// What the command line asks for, before any value is checked.
pub(super) enum Args {
    Help,
    Version,
    Run {
        /// `--name value` or `--name=value`, by input name.
        flags: BTreeMap<String, String>,
        show_token: bool,
    },
}

/// Splits the command line into flags; only declared inputs are taken.
pub(super) fn args(args: &[String]) -> Result<Args, BadInput> {
    let mut flags = BTreeMap::new();
    let mut show_token = false;
    let mut args = args.iter().peekable();
    while let Some(arg) = args.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            return match arg.as_str() {
                "-h" => Ok(Args::Help),
                "-V" => Ok(Args::Version),
                // Never echoed: a stray value may well be a token.
                _ => bad(
                    "Unexpected argument without a --flag before it. Inputs are given as --name value (see --help).",
                ),
            };
        };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (flag, None),
        };
        match name {
            "help" => return Ok(Args::Help),
            "version" => return Ok(Args::Version),
            "show-token" => {
                show_token = match inline.as_deref() {
                    None | Some("true" | "True" | "TRUE") => true,
                    Some("false" | "False" | "FALSE") => false,
                    Some(_) => return bad("Flag --show-token takes no value (or `true`/`false`)."),
                };
                continue;
            }
            _ => {}
        }
        if !INPUTS.iter().any(|i| i.name == name) {
            return bad(format!("Unknown flag --{name} (see --help for the inputs)."));
        }
        let value = match inline {
            Some(v) => v,
            None if name == "dry-run" && args.peek().is_none_or(|a| a.starts_with("--")) => "true".into(),
            None => match args.next() {
                Some(v) if !v.starts_with("--") => v.clone(),
                _ => return bad(format!("Flag --{name} needs a value.")),
            },
        };
        flags.insert(name.to_owned(), value);
    }
    Ok(Args::Run { flags, show_token })
}
