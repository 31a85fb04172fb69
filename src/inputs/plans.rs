//! The plan of the run: what each group (or database) rotates and the
//! targets its new token goes to (`secret-name`, `secrets`, `groups`,
//! `databases`), with no secret named twice and a token file each.

use std::fmt;
use std::path::{Path, PathBuf};

use super::error::{bad, shown, BadInput};
use super::raw::{Raw, Runner};
use super::targets::{Scope, Target, TargetContext};
use super::values::{file_path, lines, repo, slug};
use crate::names;

/// What a plan rotates: a whole group's tokens, or one database's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Group,
    /// One database; `group` is its group, once preflight has read it.
    Database {
        group: Option<String>,
    },
}

/// One group (or database) to rotate and the secrets its new token goes to.
#[derive(Debug, Clone)]
pub struct GroupPlan {
    /// The group's name, or the database's: it names the `token-<name>`
    /// output and the token file.
    pub group: String,
    pub subject: Subject,
    pub targets: Vec<Target>,
    /// Outside Actions: where the token is saved if a write fails.
    pub token_file: PathBuf,
}

impl GroupPlan {
    /// The database rotated, if the plan rotates one.
    pub fn database(&self) -> Option<&str> {
        matches!(self.subject, Subject::Database { .. }).then_some(self.group.as_str())
    }

    /// The group: the one rotated, or the database's (once known).
    pub fn group_of(&self) -> Option<&str> {
        match &self.subject {
            Subject::Group => Some(&self.group),
            Subject::Database { group } => group.as_deref(),
        }
    }

    /// The plan's names for JSON: `group`, and `database` for a database.
    pub fn name_fields(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut fields = serde_json::Map::new();
        fields.insert("group".into(), self.group_of().into());
        if let Some(db) = self.database() {
            fields.insert("database".into(), db.into());
        }
        fields
    }
}

impl fmt::Display for GroupPlan {
    /// "group `prod`", or "database `users` of group `prod`".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.subject {
            Subject::Group => write!(f, "group `{}`", self.group),
            Subject::Database { group: Some(group) } => write!(f, "database `{}` of group `{group}`", self.group),
            Subject::Database { group: None } => write!(f, "database `{}`", self.group),
        }
    }
}

/// `secret-name`, `secrets` and `groups`, resolved into one plan a group.
pub(super) fn plans(raw: &Raw, runner: &Runner, dry_run: bool) -> Result<Vec<GroupPlan>, BadInput> {
    let repository = match raw.get("repository").or_else(|| raw.env(names::GITHUB_REPOSITORY)) {
        Some(r) => Some(repo("repository", &r)?),
        None => None,
    };
    let ctx = TargetContext::new(raw, repository)?;
    let subject = rotated(raw)?;
    let groups = groups(raw, &ctx, subject)?;
    each_secret_once(raw, &groups, dry_run)?;
    let subject = match subject {
        Rotated::Group | Rotated::Groups => Subject::Group,
        Rotated::Database | Rotated::Databases => Subject::Database { group: None },
    };
    with_token_files(
        raw,
        groups,
        subject,
        runner.actions,
        runner.workspace.as_deref(),
        dry_run,
    )
}

/// Which of `group`, `groups`, `database`, `databases` names what is rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rotated {
    Group,
    Groups,
    Database,
    Databases,
}

impl Rotated {
    const ALL: [(Rotated, &'static str); 4] = [
        (Rotated::Group, "group"),
        (Rotated::Groups, "groups"),
        (Rotated::Database, "database"),
        (Rotated::Databases, "databases"),
    ];

    fn input(self) -> &'static str {
        Rotated::ALL
            .iter()
            .find(|(r, _)| *r == self)
            .map_or("group", |(_, i)| i)
    }

    /// What one of its names is, in an error.
    fn noun(self) -> &'static str {
        match self {
            Rotated::Group | Rotated::Groups => "group",
            Rotated::Database | Rotated::Databases => "database",
        }
    }
}

/// Exactly one of `group`, `groups`, `database` and `databases`.
fn rotated(raw: &Raw) -> Result<Rotated, BadInput> {
    let given: Vec<(Rotated, &str)> = Rotated::ALL
        .into_iter()
        .filter(|(_, input)| raw.get(input).is_some())
        .collect();
    match given[..] {
        [] => bad("Input `group` is required: the Turso group whose tokens are rotated (or `database`, to rotate one database's)."),
        [(one, _)] => Ok(one),
        [(_, a), (_, b), ..] => bad(format!(
            "Inputs `{a}` and `{b}` conflict: give one of `group`, `groups`, `database` and `databases`."
        )),
    }
}

/// Each group and its targets: `group` with `secret-name` and `secrets`,
/// or `groups`, a line a group.
fn groups(raw: &Raw, ctx: &TargetContext, rotated: Rotated) -> Result<Vec<(String, Vec<Target>)>, BadInput> {
    let mut shared = Vec::new();
    if let Some(name) = raw.get("secret-name") {
        shared.push(ctx.target("secret-name", &name)?);
    }
    for line in lines(raw.get("secrets")) {
        shared.push(ctx.target("secrets", &line)?);
    }

    let mut plans: Vec<(String, Vec<Target>)> = Vec::new();
    let input = rotated.input();
    let value = raw.get(input).unwrap_or_default();
    match rotated {
        Rotated::Group | Rotated::Database => plans.push((slug(input, &value)?, shared)),
        Rotated::Groups | Rotated::Databases => {
            if !shared.is_empty() {
                let noun = rotated.noun();
                return bad(format!("Input `{input}` names each {noun}'s secret (`{noun}=SECRET`): leave `secret-name` and `secrets` empty."));
            }
            for line in lines(Some(value)) {
                let (name, target) = match line.split_once('=') {
                    Some((g, t)) => (slug(input, g.trim())?, vec![ctx.target(input, t.trim())?]),
                    None => (slug(input, &line)?, Vec::new()),
                };
                if plans.iter().any(|(g, _)| *g == name) {
                    return bad(format!("Input `{input}` names {} `{name}` twice: two runs for one {} at once can leave a dead token in the secret.", rotated.noun(), rotated.noun()));
                }
                plans.push((name, target));
            }
        }
    }
    Ok(plans)
}

/// Every group has a secret (unless dry-run), and no secret receives two tokens.
fn each_secret_once(raw: &Raw, plans: &[(String, Vec<Target>)], dry_run: bool) -> Result<(), BadInput> {
    let mut seen: Vec<&Target> = Vec::new();
    let noun = if raw.get("database").or_else(|| raw.get("databases")).is_some() {
        "database"
    } else {
        "group"
    };
    for (group, targets) in plans {
        if targets.is_empty() && !dry_run {
            return bad(format!("Input `secret-name` is required (no secret to write for {noun} `{group}`): the GitHub secret that receives the new token."));
        }
        for target in targets {
            if let Some(first) = seen.iter().find(|t| same_secret(t, target)) {
                return Err(named_twice(raw, first, target));
            }
            seen.push(target);
        }
    }
    Ok(())
}

/// The error for a secret two targets name, naming the input they came from.
fn named_twice(raw: &Raw, first: &Target, target: &Target) -> BadInput {
    let input = match (raw.get("groups"), raw.get("databases"), raw.get("secrets")) {
        (Some(_), _, _) => "groups",
        (None, Some(_), _) => "databases",
        (None, None, Some(_)) => "secrets",
        (None, None, None) => "secret-name",
    };
    let overlapping = match (&first.scope, &target.scope) {
        (Scope::Vercel { targets: a, .. }, Scope::Vercel { targets: b, .. }) if a != b => {
            Some("Vercel variable (their targets overlap)")
        }
        (Scope::Netlify { contexts: a, .. }, Scope::Netlify { contexts: b, .. }) if a != b => {
            Some("Netlify variable (their contexts overlap)")
        }
        _ => None,
    };
    BadInput(match overlapping {
        None => format!(
            "Input `{input}`: secret {} is named twice: each secret can receive only one token.",
            target.secret
        ),
        Some(what) => format!(
            "Input `{input}`: `{}` and `{}` are the same {what}: each secret can receive only one token.",
            first.spec(),
            target.spec()
        ),
    })
}

/// Each group's `token-file`, whose folder must take a token outside Actions.
fn with_token_files(
    raw: &Raw,
    plans: Vec<(String, Vec<Target>)>,
    subject: Subject,
    actions: bool,
    workspace: Option<&Path>,
    dry_run: bool,
) -> Result<Vec<GroupPlan>, BadInput> {
    let token_file = raw.get("token-file");
    if token_file.is_some() && plans.len() > 1 {
        return bad("Input `token-file` holds one token: leave it empty with `groups` or `databases` (each gets ./turso-rotate-<name>.token).");
    }
    plans
        .into_iter()
        .map(|(group, targets)| {
            let path = token_file
                .clone()
                .unwrap_or_else(|| format!("turso-rotate-{group}.token"));
            let token_file = file_path("token-file", &path, actions, workspace)?;
            // Outside Actions the file is where a token goes if a write fails:
            // its folder must take it before anything is rotated.
            if !actions && !dry_run {
                if let Err(e) = crate::files::check_folder(&token_file) {
                    return bad(format!(
                        "Input `token-file`: cannot create {} ({e}): a token that fails to reach its secret would be lost. Use a writable folder.",
                        shown(&token_file.display().to_string())
                    ));
                }
            }
            Ok(GroupPlan {
                token_file,
                group,
                subject: subject.clone(),
                targets,
            })
        })
        .collect()
}

/// Whether two targets are one secret. GitHub compares secret, owner,
/// repository and environment names without case; two Vercel targets of
/// one project and name whose target sets overlap are one variable.
fn same_secret(a: &Target, b: &Target) -> bool {
    match (&a.scope, &b.scope) {
        (Scope::Vercel { project: p, targets: t }, Scope::Vercel { project: q, targets: u }) => {
            p.eq_ignore_ascii_case(q)
                && a.secret.eq_ignore_ascii_case(&b.secret)
                && ((t.production && u.production) || (t.preview && u.preview))
        }
        (Scope::Netlify { site: p, contexts: t }, Scope::Netlify { site: q, contexts: u }) => {
            p.eq_ignore_ascii_case(q) && a.secret.eq_ignore_ascii_case(&b.secret) && t.overlap(*u)
        }
        _ => a.to_string().eq_ignore_ascii_case(&b.to_string()),
    }
}
