//! `action.yml` declares what the program reads and writes: its inputs are
//! exactly [`INPUTS`] (names, order, defaults, descriptions) and its outputs
//! exactly those of SPEC.md. Read as text with simple line scanning: the file
//! is ours and keeps one shape (two-space indents, `description: >-` blocks,
//! quoted defaults).
//!
//! The rule for defaults: a default that the program works out at run time
//! (`$GITHUB_REPOSITORY`, `./turso-rotate-<group>.token`, any with `$` or
//! `<`) is documentation. `action.yml` gives `default: ""` (an empty input
//! counts as unset, so the program fills it in) and names it in the
//! description. Every other default is the same string in both places.

use std::fs;
use std::path::Path;

use turso_rotate::inputs::INPUTS;

/// SPEC.md: the inputs that are required outright (the rest are optional or
/// required only in some cases, which their descriptions say).
const REQUIRED: &[&str] = &["organization", "api-token"];

/// SPEC.md, Outputs.
const OUTPUTS: &[&str] = &[
    "token",
    "expires-at",
    "rotated-at",
    "secret-updated",
    "results",
    "rotated",
    "invalidated",
    "revocation-proven",
    "report",
];

/// One entry under `inputs:` or `outputs:`.
#[derive(Debug, Default)]
struct Entry {
    name: String,
    description: Option<String>,
    required: Option<String>,
    default: Option<String>,
}

fn action_yml() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("action.yml");
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// The lines of a top-level section (`inputs:`), up to the next top-level key.
fn section<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    let header = format!("{key}:");
    let mut lines = text.lines().skip_while(|l| l.trim_end() != header);
    assert!(lines.next().is_some(), "action.yml has no top-level `{header}`");
    lines
        .take_while(|l| l.is_empty() || l.starts_with(' ') || l.starts_with('#'))
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect()
}

/// A scalar value: `"quoted"`, `'quoted'` or plain.
fn scalar(value: &str) -> String {
    let value = value.trim();
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote).and_then(|v| v.strip_suffix(quote)) {
            return inner.to_owned();
        }
    }
    value.to_owned()
}

/// Entries at two spaces, their keys at four, block-scalar text deeper.
fn entries(lines: &[&str]) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        assert!(!line.contains('\t'), "tab in action.yml: {line:?}");
        match indent(line) {
            2 => {
                let name = line
                    .trim()
                    .strip_suffix(':')
                    .unwrap_or_else(|| panic!("not an entry: {line:?}"));
                entries.push(Entry {
                    name: name.to_owned(),
                    ..Entry::default()
                });
                i += 1;
            }
            4 => {
                let entry = entries.last_mut().expect("a key before the first entry");
                let (key, value) = line
                    .trim()
                    .split_once(':')
                    .unwrap_or_else(|| panic!("not a key: {line:?}"));
                let value = value.trim();
                i += 1;
                let value = if value.starts_with('>') || value.starts_with('|') {
                    let mut text = Vec::new();
                    while i < lines.len() && indent(lines[i]) > 4 {
                        text.push(lines[i].trim());
                        i += 1;
                    }
                    text.join(" ")
                } else {
                    scalar(value)
                };
                let slot = match key {
                    "description" => &mut entry.description,
                    "required" => &mut entry.required,
                    "default" => &mut entry.default,
                    other => panic!("unexpected key `{other}` in `{}`", entry.name),
                };
                assert!(slot.is_none(), "`{key}` twice in `{}`", entry.name);
                *slot = Some(value);
            }
            _ => panic!("unexpected indentation: {line:?}"),
        }
    }
    entries
}

/// A default the program works out at run time: documentation, not a value.
fn computed(default: &str) -> bool {
    default.contains('$') || default.contains('<')
}

#[test]
fn inputs_are_exactly_inputs_in_order() {
    let inputs = entries(&section(&action_yml(), "inputs"));
    let names: Vec<&str> = inputs.iter().map(|e| e.name.as_str()).collect();
    let expected: Vec<&str> = INPUTS.iter().map(|i| i.name).collect();
    assert_eq!(names, expected, "action.yml inputs differ from INPUTS (src/inputs.rs)");
}

#[test]
fn inputs_have_the_same_defaults_and_descriptions() {
    let inputs = entries(&section(&action_yml(), "inputs"));
    for (entry, spec) in inputs.iter().zip(INPUTS) {
        let name = spec.name;
        let description = entry
            .description
            .as_deref()
            .unwrap_or_else(|| panic!("`{name}` has no description"));
        assert!(
            description.starts_with(spec.help),
            "`{name}`: description should start with the --help text {:?}, got {description:?}",
            spec.help
        );
        let default = entry
            .default
            .as_deref()
            .unwrap_or_else(|| panic!("`{name}` has no default"));
        if computed(spec.default) {
            assert_eq!(
                default, "",
                "`{name}`: a run-time default is documentation, not a YAML default"
            );
            assert!(
                description.contains(spec.default),
                "`{name}`: the description should name the run-time default {:?}",
                spec.default
            );
        } else {
            assert_eq!(default, spec.default, "`{name}`: default differs from INPUTS");
        }
    }
}

#[test]
fn required_follows_the_spec() {
    let inputs = entries(&section(&action_yml(), "inputs"));
    for entry in &inputs {
        let expected = if REQUIRED.contains(&entry.name.as_str()) {
            "true"
        } else {
            "false"
        };
        assert_eq!(entry.required.as_deref(), Some(expected), "`{}`: required", entry.name);
    }
}

#[test]
fn api_token_says_where_its_default_comes_from() {
    let inputs = entries(&section(&action_yml(), "inputs"));
    let api_token = inputs.iter().find(|e| e.name == "api-token").expect("api-token input");
    let description = api_token.description.as_deref().unwrap_or_default();
    assert!(
        description.contains("TURSO_API_TOKEN") && description.contains("`env:`"),
        "{description}"
    );
}

#[test]
fn outputs_are_exactly_the_specs() {
    let outputs = entries(&section(&action_yml(), "outputs"));
    let names: Vec<&str> = outputs.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, OUTPUTS);
    for entry in &outputs {
        assert!(
            entry.description.as_deref().is_some_and(|d| !d.is_empty()),
            "output `{}` has no description",
            entry.name
        );
        assert!(
            entry.default.is_none() && entry.required.is_none(),
            "output `{}`",
            entry.name
        );
    }
}

#[test]
fn runs_the_docker_image() {
    let text = action_yml();
    let runs = section(&text, "runs");
    let key = |k: &str| {
        runs.iter()
            .find_map(|l| l.trim().strip_prefix(&format!("{k}:")).map(scalar))
            .unwrap_or_else(|| panic!("runs.{k} missing"))
    };
    assert_eq!(key("using"), "docker");
    // The Dockerfile on branches; a release commit pins the pushed image by digest.
    let image = key("image");
    let pinned = image
        .strip_prefix("docker://ghcr.io/")
        .and_then(|rest| rest.split_once("@sha256:"))
        .is_some_and(|(_, hex)| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(image == "Dockerfile" || pinned, "runs.image: {image}");
}

#[test]
fn dockerfile_follows_githubs_rules_for_actions() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let last_stage: Vec<&str> = text
        .lines()
        .rev()
        .take_while(|l| !l.starts_with("FROM "))
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    let from = text.lines().rev().find(|l| l.starts_with("FROM ")).unwrap_or_default();
    assert_eq!(from, "FROM scratch");
    for instruction in ["USER", "WORKDIR"] {
        assert!(
            !last_stage.iter().any(|l| l.starts_with(&format!("{instruction} "))),
            "no {instruction} in the final stage of a Docker action"
        );
    }
    assert!(
        last_stage.contains(&r#"ENTRYPOINT ["/turso-rotate"]"#),
        "absolute exec-form ENTRYPOINT"
    );
}
