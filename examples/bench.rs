//! Benchmarks that print figures, as a Markdown table:
//!
//! ```sh
//! cargo run --release --example bench                  # about a minute
//! cargo run --release --example bench -- --clean-build # adds a clean release build (minutes)
//! cargo run --release --example bench -- --runs 50     # more runs per median
//! ```
//!
//! It runs the real release binary against the fake Turso and GitHub APIs of
//! `tests/common/` on 127.0.0.1: one rotation end to end (whole process,
//! median of N) with the requests and connections it made to each API,
//! cold start (`--version`), peak memory, binary size, optionally a clean
//! release build, and many groups rotated by as many processes at once.
//! Nothing is asserted: the figures are for reading (`docs/benchmarks.md`).

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use common::world::{World, API_TOKEN, GH_TOKEN};
use common::Scope;
use support::display_path;

const REPO: &str = "acme/app";
const SECRET: &str = "TURSO_AUTH_TOKEN";
/// The request budget of one rotation into one secret (SPEC): requests and
/// connections to Turso, then to GitHub.
const BUDGET: Counts = Counts {
    turso: (3, 1),
    github: (4, 1),
};
/// Groups rotated at once, one process each.
const GROUP_SIZES: [usize; 3] = [1, 10, 50];
/// Repetitions of each group size; the median is shown.
const GROUP_REPEATS: usize = 3;
const GNU_TIME: &str = "/usr/bin/time";

const USAGE: &str = "\
Usage: cargo run --release --example bench [-- OPTIONS]

  --runs N        runs per median (default 20)
  --clean-build   also time `cargo build --release --locked` into a fresh
                  CARGO_TARGET_DIR under the temp directory (takes minutes)
";

struct Options {
    runs: usize,
    clean_build: bool,
}

fn parse_args() -> Result<Option<Options>, String> {
    let mut options = Options {
        runs: 20,
        clean_build: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => {
                let value = args.next().ok_or("--runs needs a number")?;
                options.runs = match value.parse() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("--runs: '{value}' is not a positive number")),
                };
            }
            "--clean-build" => options.clean_build = true,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unexpected argument '{other}'")),
        }
    }
    Ok(Some(options))
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprint!("bench: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if !support::release() {
        eprintln!(
            "bench: this example was built without --release, so it measures the debug binary; \
             run `cargo run --release --example bench` for the figures that matter"
        );
    }
    progress("building the binary");
    let bin = match support::build_binary() {
        Ok(bin) => bin,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&bin, &options) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn progress(what: &str) {
    eprintln!("bench: {what}…");
}

fn run(bin: &Path, options: &Options) -> Result<String, String> {
    let machine = machine();
    let scratch = Scratch::new()?;
    let world = World::with_bin(bin.to_path_buf());
    let groups: Vec<String> = (1..=GROUP_SIZES.iter().copied().max().unwrap_or(1))
        .map(|i| format!("g{i:02}"))
        .collect();
    for group in &groups {
        world.turso.add_group(group);
    }
    let runs = options.runs;
    let mut rows: Vec<[String; 3]> = Vec::new();

    progress(&format!("one rotation, {runs} runs (after one warm-up run)"));
    let single = rotations(&world, bin, &scratch, runs)?;
    rows.push([
        "One rotation, end to end".into(),
        duration(median(&single.times)),
        format!(
            "median of {runs} (min {}, max {}); whole process, fakes on 127.0.0.1",
            duration(min(&single.times)),
            duration(max(&single.times))
        ),
    ]);
    for (api, pick, goal) in [
        (
            "Turso",
            (|c: &Counts| c.turso) as fn(&Counts) -> (usize, usize),
            BUDGET.turso,
        ),
        ("GitHub", |c: &Counts| c.github, BUDGET.github),
    ] {
        let seen: BTreeMap<(usize, usize), usize> = single.counts.iter().fold(BTreeMap::new(), |mut m, c| {
            *m.entry(pick(c)).or_default() += 1;
            m
        });
        let result = seen
            .iter()
            .map(|((requests, connections), n)| {
                let times = if seen.len() > 1 {
                    format!(" ({n} runs)")
                } else {
                    String::new()
                };
                format!("{requests} / {connections}{times}")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let verdict = if seen.keys().all(|c| *c == goal) {
            "within"
        } else {
            "OVER"
        };
        rows.push([
            format!("{api} requests / connections per rotation"),
            result,
            format!("goal {} / {}: {verdict} budget in all {runs} runs", goal.0, goal.1),
        ]);
    }
    progress("peak memory of one rotation");
    rows.push([
        "Peak memory, one rotation".into(),
        peak_rss(&rotation(&world, bin, &scratch.dir("rss"), "prod", SECRET)?.command),
        "maximum resident set size (`/usr/bin/time -v`)".into(),
    ]);

    progress(&format!("cold start, {runs} runs of --version"));
    let mut starts = Vec::new();
    for _ in 0..=runs {
        let mut command = Command::new(bin);
        command.arg("--version");
        let (elapsed, output) = timed(&mut command)?;
        if !output.status.success() {
            return Err(format!("`{} --version` failed: {}", bin.display(), output.status));
        }
        starts.push(elapsed);
    }
    starts.remove(0); // the warm-up run
    rows.push([
        "Cold start (`--version`)".into(),
        duration(median(&starts)),
        format!(
            "median of {runs} (min {}, max {}); fork, exec, print, exit",
            duration(min(&starts)),
            duration(max(&starts))
        ),
    ]);
    let mut version = Command::new(bin);
    version.arg("--version");
    rows.push([
        "Peak memory, `--version`".into(),
        peak_rss(&version),
        "maximum resident set size (`/usr/bin/time -v`)".into(),
    ]);

    let size = fs::metadata(bin)
        .map_err(|e| format!("reading {}: {e}", bin.display()))?
        .len();
    let stripped = match fs::read(bin) {
        Ok(bytes) if bytes.windows(8).any(|w| w == b".symtab\0") => "not stripped",
        Ok(_) => "stripped",
        Err(_) => "strip state unknown",
    };
    rows.push([
        "Binary size".into(),
        format!("{} ({size} bytes)", mib(size)),
        format!("{}, {stripped}", display_path(bin)),
    ]);

    if options.clean_build {
        progress("clean release build (minutes)");
        let (elapsed, crates) = clean_build()?;
        rows.push([
            "Clean release build".into(),
            duration(elapsed),
            format!("`cargo build --release --locked` into a fresh CARGO_TARGET_DIR, {crates} crates compiled"),
        ]);
    } else {
        rows.push([
            "Clean release build".into(),
            "not measured".into(),
            "pass `--clean-build` (takes minutes)".into(),
        ]);
    }

    let workers = thread::available_parallelism().map_or(1, |n| n.get());
    let mut group_rows = Vec::new();
    let mut warnings: BTreeMap<String, usize> = BTreeMap::new();
    for size in GROUP_SIZES {
        progress(&format!(
            "{size} group(s), {workers} process(es) at a time, {GROUP_REPEATS} repetitions"
        ));
        let mut walls = Vec::new();
        let mut seen = Vec::new();
        let mut last = None;
        // A warm-up batch first, as for the single rotation.
        many_groups(&world, bin, &scratch, &groups[..size], workers)?;
        for _ in 0..GROUP_REPEATS {
            let (wall, outcome) = many_groups(&world, bin, &scratch, &groups[..size], workers)?;
            walls.push(wall);
            seen.push(outcome.warnings.len());
            for warning in &outcome.warnings {
                *warnings.entry(warning.clone()).or_default() += 1;
            }
            last = Some(outcome);
        }
        let outcome = last.expect("at least one repetition");
        let wall = median(&walls);
        let seen: Vec<String> = seen.iter().map(usize::to_string).collect();
        group_rows.push([
            size.to_string(),
            duration(wall),
            duration(wall / size as u32),
            format!("{} + {}", outcome.counts.turso.0, outcome.counts.github.0),
            format!("{} + {}", outcome.counts.turso.1, outcome.counts.github.1),
            seen.join(", "),
        ]);
    }

    let mut text = String::new();
    text.push_str("### turso-rotate benchmarks\n\n");
    text.push_str(&machine);
    text.push_str(&format!(
        "- Binary: {} ({} profile); fake Turso and GitHub APIs of `tests/common/` on 127.0.0.1, \
         run as the Actions runner runs a step\n\n",
        display_path(bin),
        if support::release() { "release" } else { "dev" }
    ));
    text.push_str(&table(&["Measure", "Result", "Detail"], &rows));
    text.push_str(&format!(
        "\nMany groups: each group its own Turso group and its own secret in {REPO}, one process per group, \
         {workers} at a time (the core count); median wall time of {GROUP_REPEATS}, after a warm-up batch.\n\n"
    ));
    text.push_str(&table(
        &[
            "Groups",
            "Wall time",
            "Per group",
            "Requests (Turso + GitHub)",
            "Connections (Turso + GitHub)",
            "Warnings (per repetition)",
        ],
        &group_rows,
    ));
    if !warnings.is_empty() {
        text.push_str("\nWarnings the processes printed (`::warning::`), with how often:\n\n");
        for (warning, n) in &warnings {
            text.push_str(&format!("- {n}x: {warning}\n"));
        }
    }
    Ok(text)
}

/// Requests and connections one API saw: `(requests, connections)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Counts {
    turso: (usize, usize),
    github: (usize, usize),
}

impl Counts {
    fn of(world: &World) -> Counts {
        Counts {
            turso: (world.turso.requests().len(), world.turso.connections()),
            github: (world.github.requests().len(), world.github.connections()),
        }
    }
}

fn clear(world: &World) {
    world.turso.clear_requests();
    world.github.clear_requests();
}

struct Single {
    times: Vec<Duration>,
    counts: Vec<Counts>,
}

/// `runs` rotations of group `prod` into the repository secret, one after
/// the other, after a warm-up run.
fn rotations(world: &World, bin: &Path, scratch: &Scratch, runs: usize) -> Result<Single, String> {
    let dir = scratch.dir("single");
    let mut single = Single {
        times: Vec::new(),
        counts: Vec::new(),
    };
    for run in 0..=runs {
        clear(world);
        let writes = world.github.secret_writes(SECRET);
        let (elapsed, output) = rotation(world, bin, &dir, "prod", SECRET)?.run()?;
        check(&output, "prod")?;
        if world.github.secret_writes(SECRET) != writes + 1 {
            return Err(format!("run {run}: the secret {SECRET} was not written"));
        }
        if run > 0 {
            single.times.push(elapsed);
            single.counts.push(Counts::of(world));
        }
    }
    Ok(single)
}

struct ManyOutcome {
    counts: Counts,
    /// The `::warning::` annotations the processes printed.
    warnings: Vec<String>,
}

/// Rotates each group into its own secret, one process per group, up to
/// `workers` at a time; returns the wall time of the whole batch.
fn many_groups(
    world: &World,
    bin: &Path,
    scratch: &Scratch,
    groups: &[String],
    workers: usize,
) -> Result<(Duration, ManyOutcome), String> {
    clear(world);
    let secret = |group: &str| format!("TURSO_TOKEN_{}", group.to_uppercase());
    let before: Vec<usize> = groups.iter().map(|g| world.github.secret_writes(&secret(g))).collect();
    // Prepared up front, so the wall time covers the processes only.
    let steps: Vec<Mutex<Step>> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| rotation(world, bin, &scratch.dir(&format!("group-{i}")), g, &secret(g)).map(Mutex::new))
        .collect::<Result<_, _>>()?;
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let warnings = Mutex::new(Vec::new());
    let started = Instant::now();
    thread::scope(|scope| {
        for _ in 0..workers.min(groups.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(step) = steps.get(i) else { break };
                let result = step
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .run()
                    .and_then(|(_, output)| {
                        warnings
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .extend(warnings_of(&output));
                        check(&output, &groups[i])
                    });
                if let Err(e) = result {
                    failures.lock().unwrap_or_else(|e| e.into_inner()).push(e);
                }
            });
        }
    });
    let wall = started.elapsed();
    let failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(first) = failures.first() {
        return Err(format!(
            "{} of {} rotations failed; the first: {first}",
            failures.len(),
            groups.len()
        ));
    }
    for (group, before) in groups.iter().zip(before) {
        if world.github.secret_writes(&secret(group)) != before + 1 {
            return Err(format!("group {group}: its secret was not written"));
        }
        if world.github.secret(Scope::repo(REPO), &secret(group)).is_none() {
            return Err(format!("group {group}: its secret is missing"));
        }
    }
    Ok((
        wall,
        ManyOutcome {
            counts: Counts::of(world),
            warnings: warnings.into_inner().unwrap_or_else(|e| e.into_inner()),
        },
    ))
}

/// The binary set up as the Actions runner starts a step: a clean
/// environment with the `GITHUB_*` variables and the `INPUT_*` ones, fresh
/// output and summary files in `dir`, the workspace as working directory.
fn rotation(world: &World, bin: &Path, dir: &Path, group: &str, secret: &str) -> Result<Step, String> {
    let workspace = dir.join("workspace");
    let commands = dir.join("_runner_file_commands");
    for d in [&workspace, &commands] {
        fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
    }
    let output = commands.join("set_output");
    let summary = commands.join("step_summary");
    let turso_url = world.turso.url();
    let github_url = world.github.api_url();
    let vars: [(&str, &str); 19] = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_OUTPUT", path_str(&output)?),
        ("GITHUB_STEP_SUMMARY", path_str(&summary)?),
        ("GITHUB_WORKSPACE", path_str(&workspace)?),
        ("GITHUB_REPOSITORY", REPO),
        ("GITHUB_API_URL", &github_url),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_RUN_ID", "42"),
        ("GITHUB_ACTOR", "octocat"),
        ("RUNNER_TEMP", path_str(dir)?),
        ("RUNNER_OS", "Linux"),
        ("INPUT_ORGANIZATION", "acme"),
        ("INPUT_GROUP", group),
        ("INPUT_API-TOKEN", API_TOKEN),
        ("INPUT_SECRET-NAME", secret),
        ("INPUT_GITHUB-TOKEN", GH_TOKEN),
        ("INPUT_TURSO-API-URL", &turso_url),
        ("INPUT_EXPIRATION", "15d"),
        ("INPUT_DRY-RUN", ""),
    ];
    let mut command = Command::new(bin);
    command.env_clear().envs(vars).current_dir(&workspace);
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    Ok(Step {
        command,
        files: vec![output, summary],
    })
}

/// A prepared run of the binary and the step files it writes to.
struct Step {
    command: Command,
    files: Vec<PathBuf>,
}

impl Step {
    /// Runs it with empty step files, as the runner gives each step.
    fn run(&mut self) -> Result<(Duration, Output), String> {
        for path in &self.files {
            fs::write(path, "").map_err(|e| format!("resetting {}: {e}", path.display()))?;
        }
        timed(&mut self.command)
    }
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str().ok_or_else(|| format!("{} is not UTF-8", path.display()))
}

/// Runs `command` to the end; the time covers spawn to exit.
fn timed(command: &mut Command) -> Result<(Duration, Output), String> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let output = command
        .output()
        .map_err(|e| format!("cannot start {}: {e}", command.get_program().to_string_lossy()))?;
    Ok((started.elapsed(), output))
}

/// A failed run becomes an error with its exit status, stderr and
/// `::error::` annotations (the binary never prints a token in them; the
/// rest of stdout, which carries the `::add-mask::` line, is never shown).
fn check(output: &Output, group: &str) -> Result<(), String> {
    if output.status.success() {
        return Ok(());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let errors: Vec<&str> = stdout.lines().filter(|l| l.starts_with("::error::")).collect();
    Err(format!(
        "rotating group {group} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim(),
        errors.join("\n")
    ))
}

/// The text of each `::warning::` annotation on stdout.
fn warnings_of(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("::warning::"))
        .map(|w| w.replace("%0A", " ").replace("%0D", " ").replace("%25", "%"))
        .collect()
}

/// Peak resident memory of `command`, from GNU time's `-v` report, or why
/// it is not known.
fn peak_rss(command: &Command) -> String {
    if !Path::new(GNU_TIME).is_file() {
        return "n/a (no /usr/bin/time: `apt-get install -y time`)".into();
    }
    let report = std::env::temp_dir().join(format!("turso-rotate-bench-time-{}", std::process::id()));
    let mut timed_command = Command::new(GNU_TIME);
    timed_command
        .arg("-v")
        .arg("-o")
        .arg(&report)
        .arg(command.get_program());
    timed_command.args(command.get_args());
    timed_command.env_clear();
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            timed_command.env(key, value);
        }
    }
    if let Some(dir) = command.get_current_dir() {
        timed_command.current_dir(dir);
    }
    let result = timed(&mut timed_command);
    let text = fs::read_to_string(&report).unwrap_or_default();
    let _ = fs::remove_file(&report);
    match result {
        Ok((_, output)) if output.status.success() => {}
        _ => return "n/a (`/usr/bin/time -v` failed)".into(),
    }
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map_or_else(
            || "n/a (no maximum resident set size reported)".into(),
            |kb| mib(kb * 1024),
        )
}

/// Times `cargo build --release --locked` into a fresh target directory;
/// returns the time and the number of crates compiled.
fn clean_build() -> Result<(Duration, usize), String> {
    let target = std::env::temp_dir().join(format!("turso-rotate-clean-build-{}", std::process::id()));
    let _ = fs::remove_dir_all(&target);
    let mut command = support::cargo();
    command
        .args(["build", "--release", "--locked", "--manifest-path"])
        .arg(support::manifest())
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("CARGO_BUILD_TARGET_DIR");
    let result = timed(&mut command);
    let _ = fs::remove_dir_all(&target);
    let (elapsed, output) = result?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("the clean build failed ({}):\n{stderr}", output.status));
    }
    let crates = stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("Compiling "))
        .count();
    Ok((elapsed, crates))
}

/// Per-run directories under the temp directory, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, String> {
        let dir = std::env::temp_dir().join(format!("turso-rotate-bench-{}", std::process::id()));
        fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        Ok(Scratch(dir))
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Date, CPUs, CPU model, memory, kernel and toolchain, as Markdown list items.
fn machine() -> String {
    let cpus = thread::available_parallelism().map_or("?".into(), |n| n.to_string());
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".into(), |(_, m)| m.trim().to_owned());
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or("unknown".into(), |kb| format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0));
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").map_or("?".into(), |k| k.trim().to_owned());
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("rustc: unknown".into(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_owned()
        });
    format!(
        "- Date: {}\n- Machine: {cpus} CPUs (nproc), {model}, {memory} RAM, Linux {kernel}, {}\n- Toolchain: {rustc}\n",
        humantime::format_rfc3339_seconds(SystemTime::now()),
        std::env::consts::ARCH,
    )
}

fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut text = format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(N));
    for row in rows {
        text.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    text
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

fn min(times: &[Duration]) -> Duration {
    times.iter().copied().min().unwrap_or_default()
}

fn max(times: &[Duration]) -> Duration {
    times.iter().copied().max().unwrap_or_default()
}

fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 60.0 {
        format!("{} min {:.0} s", (secs / 60.0).floor(), secs % 60.0)
    } else if secs >= 10.0 {
        format!("{secs:.1} s")
    } else if secs >= 1.0 {
        format!("{secs:.2} s")
    } else {
        format!("{:.1} ms", secs * 1000.0)
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / 1024.0 / 1024.0)
}
