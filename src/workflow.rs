//! Talking to the Actions runner: workflow commands on stdout (`::add-mask::`,
//! `::error::`), step outputs in `$GITHUB_OUTPUT`, the job summary in
//! `$GITHUB_STEP_SUMMARY`; and log lines on stderr. Everything printed
//! passes through here, scrubbed of secrets and unable to start a command.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use crate::names;
use crate::secret::{random_hex, redact, Secret};

/// Where the runner listens, read once from the environment.
#[derive(Debug, Clone, Default)]
pub struct Workflow {
    /// `GITHUB_ACTIONS=true`: workflow commands are understood and consumed.
    pub actions: bool,
    output_file: Option<PathBuf>,
    summary_file: Option<PathBuf>,
    /// Who started the run (`GITHUB_ACTOR`), for the audit trail.
    pub actor: Option<String>,
    /// Link to the workflow run, for the audit trail.
    pub run_url: Option<String>,
}

impl Workflow {
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let file = |name| env(name).filter(|v: &String| !v.trim().is_empty()).map(PathBuf::from);
        let actions = env(names::GITHUB_ACTIONS).as_deref() == Some("true");
        Workflow {
            actions,
            output_file: file(names::GITHUB_OUTPUT).filter(|_| actions),
            summary_file: file(names::GITHUB_STEP_SUMMARY).filter(|_| actions),
            actor: env(names::GITHUB_ACTOR),
            run_url: match (
                env(names::GITHUB_SERVER_URL),
                env(names::GITHUB_REPOSITORY),
                env(names::GITHUB_RUN_ID),
            ) {
                (Some(server), Some(repo), Some(id)) => {
                    Some(format!("{}/{repo}/actions/runs/{id}", server.trim_end_matches('/')))
                }
                _ => None,
            },
        }
    }

    /// Whether a later step can read this step's outputs.
    pub fn records_outputs(&self) -> bool {
        self.output_file.is_some()
    }

    /// Asks the runner to hide `token` in every later log line. Only under
    /// Actions: anywhere else the line would print the token in clear.
    pub fn mask(&self, token: &Secret) {
        if self.actions {
            println!("::add-mask::{}", defang(&escape_data(token.expose())));
        }
    }

    /// An annotation (`error`, `warning`, `notice`) under Actions, a plain
    /// `error: …` line on stderr elsewhere.
    pub fn annotate(&self, level: &str, message: &str) {
        let message = redact(message);
        if self.actions {
            println!("{}", command(level, &message));
        } else {
            eprintln!("{level}: {}", neutralize(&message));
        }
    }

    /// Writes step outputs. Under Actions each goes to `$GITHUB_OUTPUT` in
    /// the heredoc form and `tokens` are included (they were masked before);
    /// elsewhere the outputs are one JSON object on stdout, tokens only with
    /// `show_tokens`.
    pub fn outputs(
        &self,
        mut outputs: Map<String, Value>,
        tokens: &[(String, &Secret)],
        show_tokens: bool,
    ) -> Result<()> {
        if let Some(path) = &self.output_file {
            let mut text = String::new();
            for (name, value) in &outputs {
                let value = match value {
                    Value::String(s) => redact(s),
                    other => redact(&other.to_string()),
                };
                text.push_str(&heredoc(name, &value));
            }
            for (name, token) in tokens {
                text.push_str(&heredoc(name, token.expose()));
            }
            return append(path, &text).context("writing step outputs to $GITHUB_OUTPUT");
        }
        if self.actions {
            log("GITHUB_OUTPUT is not set: the step outputs are not recorded");
            return Ok(());
        }
        let mut json = Value::Object(outputs.clone());
        let mut text = redact(&json.to_string());
        if show_tokens {
            for (name, token) in tokens {
                outputs.insert(name.clone(), Value::String(token.expose().to_owned()));
            }
            json = Value::Object(outputs);
            text = json.to_string();
        }
        println!("{}", defang(&json_printable(&text)));
        Ok(())
    }

    /// Appends Markdown to the job summary (never given a token; scrubbed anyway).
    pub fn summary(&self, markdown: &str) -> Result<()> {
        match &self.summary_file {
            Some(path) => {
                append(path, &printable(&redact(markdown))).context("writing the job summary to $GITHUB_STEP_SUMMARY")
            }
            None => Ok(()),
        }
    }
}

/// One log line on stderr, scrubbed of secrets, unable to start a command.
pub fn log(message: &str) {
    eprintln!("{}", neutralize(&redact(message)));
}

/// One line that the runner cannot read as a workflow command, and that a
/// terminal shows as text.
fn neutralize(message: &str) -> String {
    let line = defang(&printable(&message.replace(['\r', '\n'], " ")));
    if line.trim_start().starts_with("::") {
        format!("> {line}")
    } else {
        line
    }
}

/// Whether a terminal or a text view could act on `c` rather than show it:
/// a control character other than tab and line feed (C0, DEL, C1) or a
/// Unicode bidirectional override or isolate, which reorders what follows.
fn unprintable(c: char) -> bool {
    matches!(
        c,
        '\0'..='\x08' | '\x0b'..='\x1f' | '\x7f'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

/// Text shown as text: every unprintable character becomes an escape,
/// `\x1b` for C0 and DEL, `\u{9b}` or `\u{202e}` above. Tab and line feed
/// stay (a caller that needs one line folds line feeds first).
pub fn printable(text: &str) -> String {
    escape_with(text, |c| match u32::from(c) {
        n @ 0..=0x7f => format!("\\x{n:02x}"),
        n => format!("\\u{{{n:x}}}"),
    })
}

/// [`printable`] for JSON text: the escapes are JSON's own (`\u009b`), so
/// the text still parses to the same value.
fn json_printable(text: &str) -> String {
    escape_with(text, |c| format!("\\u{:04x}", u32::from(c)))
}

fn escape_with(text: &str, escape: impl Fn(char) -> String) -> String {
    if !text.chars().any(unprintable) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| if unprintable(c) { escape(c) } else { c.to_string() })
        .collect()
}

/// Breaks up the runner's legacy `##[command]` syntax, which it obeys
/// anywhere in a line of stdout or stderr (a `##[stop-commands]` would turn
/// a later `::add-mask::` into plain text). Replacing every `##[` with
/// `## [` cannot form a new one.
fn defang(line: &str) -> String {
    line.replace("##[", "## [")
}

/// A workflow command line: its data escaped, line breaks as `%0A`, shown
/// as text, no `##[`.
fn command(name: &str, data: &str) -> String {
    format!("::{name}::{}", defang(&printable(&escape_data(data))))
}

/// Escapes a workflow command's data: `%`, CR and LF, as the runner expects.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// `name<<DELIM\nvalue\nDELIM\n` with a random delimiter that the value does not contain.
fn heredoc(name: &str, value: &str) -> String {
    loop {
        let delimiter = format!("ghadelimiter_{}", random_hex(16));
        if !value.contains(&delimiter) {
            return format!("{name}<<{delimiter}\n{value}\n{delimiter}\n");
        }
    }
}

fn append(path: &PathBuf, text: &str) -> Result<()> {
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_data_is_escaped() {
        assert_eq!(escape_data("50%\r\n::set-output"), "50%25%0D%0A::set-output");
    }

    #[test]
    fn a_multi_line_annotation_keeps_its_line_breaks_and_escapes_controls() {
        assert_eq!(
            command("error", "Group `a`: failed.\nRe-run: \x1b[2J\u{202e}"),
            "::error::Group `a`: failed.%0ARe-run: \\x1b[2J\\u{202e}"
        );
    }

    #[test]
    fn log_lines_cannot_start_commands() {
        assert_eq!(neutralize("::add-mask::x\nfoo"), "> ::add-mask::x foo");
        assert_eq!(neutralize("##[set-output name=a]b"), "## [set-output name=a]b");
        assert_eq!(neutralize("x ###[stop-commands]a ##[b"), "x ### [stop-commands]a ## [b");
        assert_eq!(neutralize("plain"), "plain");
    }

    #[test]
    fn server_text_is_shown_as_text() {
        assert_eq!(
            printable("a\x1b[2J\x1b]0;t\x07\u{9b}\u{202e}\u{2066}\x7f\tb\nc\r"),
            "a\\x1b[2J\\x1b]0;t\\x07\\u{9b}\\u{202e}\\u{2066}\\x7f\tb\nc\\x0d"
        );
        assert_eq!(printable("é ü 日本"), "é ü 日本");
        assert_eq!(neutralize("x\x1b[31m\ny"), "x\\x1b[31m y");
        assert_eq!(json_printable("{\"a\":\"\u{9b}\u{202e}\"}"), r#"{"a":"\u009b\u202e"}"#);
    }

    #[test]
    fn heredoc_wraps_multiline_values() {
        let text = heredoc("results", "a\nb");
        let mut lines = text.lines();
        let delimiter = lines.next().unwrap().strip_prefix("results<<").unwrap().to_owned();
        assert_eq!(lines.collect::<Vec<_>>(), ["a", "b", delimiter.as_str()]);
    }
}
