//! Runs the real binary the way the GitHub Actions runner runs a step, and
//! reads back what the runner would: exit code, output streams, the
//! `$GITHUB_OUTPUT` file (parsed with the runner's own rules) and the step
//! summary.
//!
//! The binary's path is a parameter, not `env!("CARGO_BIN_EXE_…")`, so the
//! same module also builds inside `examples/`, where that variable is unset.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Long enough for a debug build doing every retry; short enough that a
/// hung binary fails the test rather than the CI job's own timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Variables that only exist inside GitHub Actions: dropped by
/// [`Runner::outside_actions`].
const ACTIONS_ONLY: [&str; 3] = ["GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"];

/// One job's worth of directories (workspace, runner temp) and the step's
/// environment. Each [`Runner::run`] is a new step in the same job: fresh
/// output and summary files, same workspace. The directories are removed on
/// drop unless the test is failing, so they can be inspected.
pub struct Runner {
    bin: PathBuf,
    root: PathBuf,
    workspace: PathBuf,
    runner_temp: PathBuf,
    env: BTreeMap<String, String>,
    removed: Vec<String>,
    args: Vec<String>,
    in_actions: bool,
    /// Scanned for in every step's output (see [`Runner::secrets`]).
    secrets: Vec<String>,
    timeout: Duration,
    steps: Cell<usize>,
}

impl Runner {
    /// A new job around the binary at `bin`, with its own temp directories.
    pub fn new(bin: PathBuf) -> Runner {
        static JOBS: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let root = std::env::temp_dir().join(format!(
            "turso-rotate-test-{}-{}-{nanos}",
            std::process::id(),
            JOBS.fetch_add(1, Ordering::SeqCst),
        ));
        // As on a hosted runner, the runner's temp directory (which holds
        // the file-command files) is outside the workspace.
        let workspace = root.join("work").join("app");
        let runner_temp = root.join("_temp");
        for dir in [&workspace, &runner_temp.join("_runner_file_commands")] {
            fs::create_dir_all(dir).expect("create test directories");
        }
        Runner {
            bin,
            root,
            workspace,
            runner_temp,
            env: BTreeMap::new(),
            removed: Vec::new(),
            args: Vec::new(),
            in_actions: true,
            timeout: DEFAULT_TIMEOUT,
            secrets: Vec::new(),
            steps: Cell::new(0),
        }
    }

    /// An action input: `INPUT_<NAME>`, upper-cased with spaces as `_` and
    /// hyphens kept, exactly as the runner names it.
    pub fn input(self, name: &str, value: &str) -> Runner {
        let var = format!("INPUT_{}", name.replace(' ', "_").to_uppercase());
        self.env(&var, value)
    }

    /// Set a variable, overriding a default.
    pub fn env(mut self, key: &str, value: &str) -> Runner {
        self.removed.retain(|k| k != key);
        self.env.insert(key.into(), value.into());
        self
    }

    /// Unset a variable, default or not (e.g. `GITHUB_REPOSITORY`).
    pub fn remove_env(mut self, key: &str) -> Runner {
        self.env.remove(key);
        self.removed.push(key.into());
        self
    }

    pub fn arg(mut self, arg: &str) -> Runner {
        self.args.push(arg.into());
        self
    }

    /// Run as in a terminal or another CI: no `GITHUB_ACTIONS`,
    /// `GITHUB_OUTPUT` nor `GITHUB_STEP_SUMMARY`. Other defaults stay (drop
    /// them with [`Runner::remove_env`]).
    pub fn outside_actions(mut self) -> Runner {
        self.in_actions = false;
        self
    }

    /// Kill the binary and fail the test after this long.
    pub fn timeout(mut self, timeout: Duration) -> Runner {
        self.timeout = timeout;
        self
    }

    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The runner's temp directory, outside the workspace: somewhere to
    /// point `$GITHUB_OUTPUT` or `$GITHUB_STEP_SUMMARY` (with
    /// [`Runner::env`]) at a path that cannot be written. The step then
    /// reads its outputs and summary from wherever those variables point.
    pub fn runner_temp(&self) -> &Path {
        &self.runner_temp
    }

    /// Run one step. Panics if the binary cannot start, outlives the
    /// timeout, or writes a `$GITHUB_OUTPUT` file the runner would reject.
    pub fn run(&self) -> RunResult {
        self.run_while(|_| {})
    }

    /// Run one step while `during` runs on a thread of its own, given the
    /// process id (to send it a signal, as a cancelled run does).
    pub fn run_while(&self, during: impl FnOnce(u32) + Send + 'static) -> RunResult {
        let step = self.steps.get() + 1;
        self.steps.set(step);
        let commands = self.runner_temp.join("_runner_file_commands");
        let output_file = commands.join(format!("set_output_{step}"));
        let summary_file = commands.join(format!("step_summary_{step}"));
        fs::write(&output_file, "").expect("create GITHUB_OUTPUT");
        fs::write(&summary_file, "").expect("create GITHUB_STEP_SUMMARY");

        let mut vars: BTreeMap<String, OsString> = BTreeMap::new();
        for key in ["PATH", "LLVM_PROFILE_FILE"] {
            // LLVM_PROFILE_FILE lets coverage tools see into the child.
            if let Some(value) = std::env::var_os(key) {
                vars.insert(key.into(), value);
            }
        }
        let defaults: [(&str, OsString); 11] = [
            ("GITHUB_ACTIONS", "true".into()),
            ("GITHUB_OUTPUT", output_file.clone().into()),
            ("GITHUB_STEP_SUMMARY", summary_file.clone().into()),
            ("GITHUB_WORKSPACE", self.workspace.clone().into()),
            ("GITHUB_REPOSITORY", "acme/app".into()),
            ("GITHUB_API_URL", "https://api.github.com".into()),
            ("GITHUB_SERVER_URL", "https://github.com".into()),
            ("GITHUB_RUN_ID", "42".into()),
            ("GITHUB_ACTOR", "octocat".into()),
            ("RUNNER_TEMP", self.runner_temp.clone().into()),
            ("RUNNER_OS", "Linux".into()),
        ];
        for (key, value) in defaults {
            if self.in_actions || !ACTIONS_ONLY.contains(&key) {
                vars.insert(key.into(), value);
            }
        }
        for (key, value) in &self.env {
            vars.insert(key.clone(), value.into());
        }
        for key in &self.removed {
            vars.remove(key);
        }

        let started = Instant::now();
        let mut child = Command::new(&self.bin)
            .args(&self.args)
            .env_clear()
            .envs(&vars)
            .current_dir(&self.workspace)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        let pid = child.id();
        let during = thread::spawn(move || during(pid));
        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the binary") {
                break status;
            }
            if started.elapsed() > self.timeout {
                let _ = child.kill();
                let _ = child.wait();
                // A grandchild may still hold the pipes: do not wait on it.
                thread::sleep(Duration::from_millis(100));
                let partial = |r: thread::JoinHandle<Vec<u8>>| {
                    if r.is_finished() {
                        join(r)
                    } else {
                        "(pipe still open)".to_string()
                    }
                };
                panic!(
                    "the binary ran over {:?} and was killed\n--- stdout\n{}\n--- stderr\n{}",
                    self.timeout,
                    partial(stdout),
                    partial(stderr)
                );
            }
            thread::sleep(Duration::from_millis(5));
        };
        let elapsed = started.elapsed();
        if let Err(panic) = during.join() {
            std::panic::resume_unwind(panic);
        }

        // Read back the files the step was given, which a test may have
        // pointed elsewhere (or at something that cannot be written).
        let step_output = vars.get("GITHUB_OUTPUT").map(PathBuf::from);
        let outputs = match &step_output {
            Some(path) => match fs::read_to_string(path) {
                Ok(text) => parse_github_output(&text)
                    .unwrap_or_else(|e| panic!("the runner would reject GITHUB_OUTPUT: {e}\n--- file\n{text}")),
                Err(e) if *path == output_file => panic!("read GITHUB_OUTPUT: {e}"),
                Err(_) => BTreeMap::new(),
            },
            None => BTreeMap::new(),
        };
        let summary = vars
            .get("GITHUB_STEP_SUMMARY")
            .and_then(|path| fs::read_to_string(path).ok())
            .unwrap_or_default();
        let result = RunResult {
            code: status.code(),
            stdout: join(stdout),
            stderr: join(stderr),
            outputs,
            summary,
            elapsed,
            workspace: self.workspace.clone(),
            files: snapshot(&self.root)
                .into_iter()
                .filter(|(path, _)| Some(path) != step_output.as_ref())
                .collect(),
        };
        if !self.secrets.is_empty() {
            let mut secrets: Vec<String> = self.secrets.clone();
            secrets.extend(result.masked());
            // The token file is where a token is meant to go when no output can hold it.
            let token_files: Vec<&Path> = result
                .files
                .iter()
                .map(|(p, _)| p.as_path())
                .filter(|p| p.extension().is_some_and(|e| e == "token"))
                .collect();
            result.assert_no_leak_except(&secrets.iter().map(String::as_str).collect::<Vec<_>>(), &token_files);
        }
        result
    }

    /// Every step of this job fails if one of `secrets`, or a token it
    /// masked, shows anywhere but the mask line: no test can forget the scan.
    pub fn secrets(mut self, secrets: &[&str]) -> Runner {
        self.secrets = secrets.iter().map(|s| s.to_string()).collect();
        self
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("test files kept in {}", self.root.display());
        } else {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

/// What one step left behind.
#[derive(Debug)]
pub struct RunResult {
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// `$GITHUB_OUTPUT` as the runner parses it; empty outside Actions.
    pub outputs: BTreeMap<String, String>,
    pub summary: String,
    pub elapsed: Duration,
    /// The job's workspace; it exists as long as the [`Runner`] does.
    pub workspace: PathBuf,
    /// Every file of the job after the step (workspace and runner temp),
    /// except `$GITHUB_OUTPUT` files, which may legitimately hold the
    /// masked token.
    pub files: Vec<(PathBuf, Vec<u8>)>,
}

impl RunResult {
    pub fn output(&self, name: &str) -> Option<&str> {
        self.outputs.get(name).map(String::as_str)
    }

    /// The first entry of the `results` output whose `field` is `value`.
    pub fn results_entry(&self, field: &str, value: &str) -> serde_json::Value {
        let text = self
            .output("results")
            .unwrap_or_else(|| panic!("no results output\n{}", self.stdout));
        let results: Vec<serde_json::Value> = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
        results
            .into_iter()
            .find(|e| e[field] == value)
            .unwrap_or_else(|| panic!("no results entry with {field} {value}: {text}"))
    }

    /// Panics with both streams when the exit code is not `code`, so a
    /// failing test shows why.
    pub fn assert_exit(&self, code: i32) -> &RunResult {
        assert_eq!(
            self.code,
            Some(code),
            "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Bad input: exit 2 and an error line that names `named` (an input).
    /// `case` says which input was bad, for the failure message.
    pub fn assert_bad_input(&self, named: &str, case: &str) -> &RunResult {
        self.assert_exit(2);
        assert!(self.error_line().contains(named), "{case}: {}", self.stdout);
        self
    }

    /// The first `::error::` line on stdout, or "" when there is none.
    pub fn error_line(&self) -> &str {
        self.stdout
            .lines()
            .find(|l| l.starts_with("::error::"))
            .unwrap_or_default()
    }

    /// Values of the `::add-mask::` lines on stdout.
    pub fn masked(&self) -> Vec<String> {
        self.stdout
            .lines()
            .filter_map(|l| l.strip_prefix("::add-mask::"))
            .map(str::to_string)
            .collect()
    }

    /// Panics if a secret shows in stdout, stderr, the summary or any file
    /// of the job other than `$GITHUB_OUTPUT`. The one exception is stdout's
    /// `::add-mask::<secret>` line, which the runner consumes. For a JWT the
    /// signature alone counts too, since the header is the same in every
    /// token. The message names the place, never the secret.
    pub fn assert_no_leak(&self, secrets: &[&str]) {
        self.assert_no_leak_except(secrets, &[]);
    }

    /// [`RunResult::assert_no_leak`], allowing the secrets in the given
    /// files (such as a token file the binary was asked to write).
    pub fn assert_no_leak_except(&self, secrets: &[&str], allowed_files: &[&Path]) {
        for (index, secret) in secrets.iter().enumerate() {
            assert!(!secret.is_empty(), "secret #{index} is empty");
            let mask_line = format!("::add-mask::{secret}");
            let stdout: String = self
                .stdout
                .lines()
                .filter(|l| *l != mask_line)
                .collect::<Vec<_>>()
                .join("\n");
            let mut places: Vec<(String, &[u8])> = vec![
                ("stdout".into(), stdout.as_bytes()),
                ("stderr".into(), self.stderr.as_bytes()),
                ("the step summary".into(), self.summary.as_bytes()),
            ];
            for (path, content) in &self.files {
                if !allowed_files.iter().any(|a| same_file(a, path)) {
                    places.push((format!("file {}", path.display()), content));
                }
            }
            for needle in needles(secret) {
                for (place, haystack) in &places {
                    if let Some(line) = find_line(haystack, needle.as_bytes()) {
                        panic!(
                            "secret #{index} ({} chars) leaked in {place}, line {line}",
                            secret.len()
                        );
                    }
                }
            }
        }
    }
}

/// The secret, plus a JWT's signature on its own.
fn needles(secret: &str) -> Vec<&str> {
    let mut needles = vec![secret];
    let parts: Vec<&str> = secret.split('.').collect();
    if parts.len() == 3 && parts[2].len() >= 16 {
        needles.push(parts[2]);
    }
    needles
}

/// The 1-based line of the first occurrence of `needle`.
fn find_line(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let at = haystack.windows(needle.len()).position(|w| w == needle)?;
    Some(haystack[..at].iter().filter(|&&b| b == b'\n').count() + 1)
}

fn same_file(a: &Path, b: &Path) -> bool {
    a == b || fs::canonicalize(a).ok() == fs::canonicalize(b).ok()
}

/// Parses a `$GITHUB_OUTPUT` file with the runner's rules (its
/// `SetOutputFileCommand`): empty lines are skipped; `name=value`; or
/// `name<<DELIMITER`, then the value's lines, then a line equal to
/// DELIMITER, the value keeping the file's own line breaks; the first of
/// `=` and `<<` on the line decides. Anything else, an empty name or
/// delimiter, a missing delimiter, or a value line without a line break,
/// is an error, as the runner fails the step for it. A name set twice keeps
/// its last value.
pub fn parse_github_output(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut outputs = BTreeMap::new();
    let mut lines = Lines { text, at: 0 };
    while let Some((line, _)) = lines.next_line() {
        if line.is_empty() {
            continue;
        }
        let equals = line.find('=');
        let heredoc = line.find("<<");
        let (name, value) = match (equals, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => (&line[..e], line[e + 1..].to_string()),
            (_, Some(h)) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                if name.is_empty() || delimiter.is_empty() {
                    return Err(format!("invalid format {line:?}: name and delimiter must not be empty"));
                }
                let start = lines.at;
                let mut end = start;
                loop {
                    match lines.next_line() {
                        None => return Err(format!("matching delimiter {delimiter:?} not found")),
                        Some((l, _)) if l == delimiter => break,
                        Some((_, None)) => return Err("EOF marker missing new line".to_string()),
                        Some((_, Some(newline))) => end = lines.at - newline.len(),
                    }
                }
                (name, text[start..end].to_string())
            }
            _ => return Err(format!("invalid format {line:?}")),
        };
        if name.is_empty() {
            return Err(format!("invalid format {line:?}: name must not be empty"));
        }
        outputs.insert(name.to_string(), value);
    }
    Ok(outputs)
}

/// Lines split at `\n` or `\r\n`, remembering which break ended each, as
/// the runner's reader does.
struct Lines<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Lines<'a> {
    fn next_line(&mut self) -> Option<(&'a str, Option<&'static str>)> {
        if self.at >= self.text.len() {
            return None;
        }
        let rest = &self.text[self.at..];
        let Some(n) = rest.find('\n') else {
            self.at = self.text.len();
            return Some((rest, None));
        };
        self.at += n + 1;
        Some(match rest[..n].strip_suffix('\r') {
            Some(line) => (line, Some("\r\n")),
            None => (&rest[..n], Some("\n")),
        })
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

fn join(reader: thread::JoinHandle<Vec<u8>>) -> String {
    String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned()
}

/// Every file under `dir` except `$GITHUB_OUTPUT` files.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            files.extend(snapshot(&path));
        } else if kind.is_file() && !entry.file_name().to_string_lossy().starts_with("set_output_") {
            if let Ok(content) = fs::read(&path) {
                files.push((path, content));
            }
        }
    }
    files
}
