//! Benchmarks that print figures, as a Markdown table:
//!
//! ```sh
//! cargo run --release --example bench                  # about a minute
//! cargo run --release --example bench -- --clean-build # adds a clean release build (minutes)
//! cargo run --release --example bench -- --runs 50     # more runs per median
//! cargo run --release --example bench -- --python      # also against Python's http.server
//! ```
//!
//! It runs the real release binary against the fake Turso and GitHub APIs of
//! `tests/common/` on 127.0.0.1: one rotation end to end (whole process,
//! median of N: wall time, and CPU time user + system as `wait4` reports it)
//! with the requests and connections it made to each API, cold start
//! (`--version`), peak memory, binary size, optionally a clean release
//! build, and many groups rotated by as many processes at once. With
//! `--python`, one rotation also runs against `examples/bench_server.py`
//! (Python's `http.server`, a server the client's authors did not shape),
//! plainly and over TLS. Nothing is asserted: the figures are for reading
//! (`docs/benchmarks.md`).

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use common::world::{World, API_TOKEN, GH_TOKEN};
use common::{FakeCloudflare, FakeVercel, Fault, FaultAction, Scope, Server, Webhook};
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
/// The independent server of `--python`, relative to the package.
const PYTHON_SERVER: &str = "examples/bench_server.py";
/// The system bundle the TLS runs extend with the Python server's CA.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

const USAGE: &str = "\
Usage: cargo run --release --example bench [-- OPTIONS]

  --runs N        runs per median (default 20)
  --clean-build   also time `cargo build --release --locked` into a fresh
                  CARGO_TARGET_DIR under the temp directory (takes minutes)
  --python        also time one rotation against examples/bench_server.py
                  (Python's http.server), plain and over TLS (needs python3,
                  and openssl for TLS, on PATH)
  --bin PATH      measure this binary (e.g. the static one of
                  .ci/build-static) instead of building target/release's
  --quick         no many-groups runs
  --under 'CMD ARGS'
                  only run one rotation, under CMD (split at spaces, the
                  binary's path appended): a profiler such as
                  '/usr/bin/valgrind.bin --tool=callgrind
                  --callgrind-out-file=/tmp/cg.out', 'perf stat' or
                  'strace -f -c' (no /bin/sh wrapper: dash drops the
                  hyphenated INPUT_* variables; see docs/benchmarks.md)
";

struct Options {
    runs: usize,
    clean_build: bool,
    python: bool,
    bin: Option<PathBuf>,
    quick: bool,
    under: Option<String>,
}

fn parse_args() -> Result<Option<Options>, String> {
    let mut options = Options {
        runs: 20,
        clean_build: false,
        python: false,
        bin: None,
        quick: false,
        under: None,
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
            "--python" => options.python = true,
            "--quick" => options.quick = true,
            "--under" => options.under = Some(args.next().ok_or("--under needs a command")?),
            "--bin" => options.bin = Some(args.next().ok_or("--bin needs a path")?.into()),
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
    let bin = match &options.bin {
        Some(bin) => bin.clone(),
        None => {
            progress("building the binary");
            match support::build_binary() {
                Ok(bin) => bin,
                Err(e) => {
                    eprintln!("bench: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };
    if let Some(wrapper) = &options.under {
        return match under(&bin, wrapper) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench: {e}");
                ExitCode::FAILURE
            }
        };
    }
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
    let fakes = Apis::of(&world);
    let runs = options.runs;
    let mut rows: Vec<[String; 3]> = Vec::new();

    progress(&format!("one rotation, {runs} runs (after one warm-up run)"));
    let single = rotations(&world, &fakes, bin, &scratch, runs)?;
    rows.extend(rotation_rows(&single.costs, "fakes on 127.0.0.1"));
    for (api, pick, goal) in [
        (
            "Turso",
            (|c: &Counts| c.turso) as fn(&Counts) -> (usize, usize),
            BUDGET.turso,
        ),
        ("GitHub", |c: &Counts| c.github, BUDGET.github),
    ] {
        rows.push(budget_row(api, &single.counts, pick, goal));
    }
    rows.push([
        "Peak memory, one rotation".into(),
        mib(median_of(&single.costs, |c| c.max_rss)),
        format!("maximum resident set size (`wait4`'s `ru_maxrss`), median of {runs}"),
    ]);

    progress(&format!("variants (roll, consumers, platforms), {runs} runs each"));
    rows.extend(variants(&world, &fakes, bin, &scratch, runs)?);

    let window_runs = runs.min(5);
    progress(&format!(
        "outage window, writes {WRITE_DELAY:?} each, {window_runs} runs"
    ));
    rows.extend(window(&world, &fakes, bin, &scratch, window_runs)?);
    progress(&format!(
        "{SCALE_GROUPS} groups in one process, requests {REQUEST_DELAY:?} each"
    ));
    rows.extend(scale(&world, &fakes, bin, &scratch, &groups)?);

    progress(&format!("cold start, {runs} runs of --version"));
    let mut starts = Vec::new();
    for _ in 0..=runs {
        let mut command = Command::new(bin);
        command.arg("--version");
        let (cost, output) = timed(&mut command)?;
        if !output.status.success() {
            return Err(format!("`{} --version` failed: {}", bin.display(), output.status));
        }
        starts.push(cost);
    }
    starts.remove(0); // the warm-up run
    let walls: Vec<Duration> = starts.iter().map(|c| c.wall).collect();
    let cpus: Vec<Duration> = starts.iter().map(Cost::cpu).collect();
    rows.push([
        "Cold start (`--version`)".into(),
        format!("{}, {} CPU", duration(median(&walls)), duration(median(&cpus))),
        format!(
            "median of {runs} (wall min {}, max {}); fork, exec, print, exit",
            duration(min(&walls)),
            duration(max(&walls))
        ),
    ]);
    rows.push([
        "Peak memory, `--version`".into(),
        mib(median_of(&starts, |c| c.max_rss)),
        format!("maximum resident set size (`wait4`'s `ru_maxrss`), median of {runs}"),
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
        let (cost, crates) = clean_build()?;
        rows.push([
            "Clean release build".into(),
            duration(cost.wall),
            format!(
                "`cargo build --release --locked` into a fresh CARGO_TARGET_DIR, {crates} crates compiled; \
                 {} CPU (user + system of cargo and everything it ran)",
                duration(cost.cpu())
            ),
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
    let sizes: &[usize] = if options.quick { &[] } else { &GROUP_SIZES };
    for &size in sizes {
        progress(&format!(
            "{size} group(s), {workers} process(es) at a time, {GROUP_REPEATS} repetitions"
        ));
        let mut walls = Vec::new();
        let mut cpus = Vec::new();
        let mut seen = Vec::new();
        let mut last = None;
        // A warm-up batch first, as for the single rotation.
        many_groups(&world, &fakes, bin, &scratch, &groups[..size], workers)?;
        for _ in 0..GROUP_REPEATS {
            let (wall, outcome) = many_groups(&world, &fakes, bin, &scratch, &groups[..size], workers)?;
            walls.push(wall);
            cpus.push(outcome.cpu);
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
            duration(median(&cpus) / size as u32),
            format!("{} + {}", outcome.counts.turso.0, outcome.counts.github.0),
            format!("{} + {}", outcome.counts.turso.1, outcome.counts.github.1),
            seen.join(", "),
        ]);
    }

    let python_rows = if options.python {
        progress(&format!(
            "one rotation against Python's http.server, {runs} runs (after one warm-up run)"
        ));
        let mut rows = python(bin, &scratch, runs, false)?;
        progress(&format!(
            "one rotation against Python's http.server over TLS, {runs} runs (after one warm-up run)"
        ));
        // A binary that cannot do it (one whose Turso client ignores
        // SSL_CERT_FILE) gets a row that says why, not a failed bench.
        match python(bin, &scratch, runs, true) {
            Ok(tls) => rows.extend(tls),
            Err(e) => rows.push([
                "One rotation over TLS".into(),
                "failed".into(),
                e.lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("")
                    .replace('|', "\\|"),
            ]),
        }
        Some(rows)
    } else {
        None
    };

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
    if !group_rows.is_empty() {
        text.push_str(&format!(
            "\nMany groups: each group its own Turso group and its own secret in {REPO}, one process per group, \
             {workers} at a time (the core count); median of {GROUP_REPEATS}, after a warm-up batch. \
             CPU: user + system of all the processes, per group.\n\n"
        ));
        text.push_str(&table(
            &[
                "Groups",
                "Wall time",
                "Per group",
                "CPU per group",
                "Requests (Turso + GitHub)",
                "Connections (Turso + GitHub)",
                "Warnings (per repetition)",
            ],
            &group_rows,
        ));
    }
    if !warnings.is_empty() {
        text.push_str("\nWarnings the processes printed (`::warning::`), with how often:\n\n");
        for (warning, n) in &warnings {
            text.push_str(&format!("- {n}x: {warning}\n"));
        }
    }
    if let Some(python_rows) = python_rows {
        text.push_str(&format!(
            "\nThe same rotation against `{PYTHON_SERVER}` (Python's `http.server`, HTTP/1.1 keep-alive, \
             one server per API), not against the fakes; then over TLS, with `SSL_CERT_FILE` naming \
             {SYSTEM_BUNDLE} plus the bench's own CA, so that both clients load a real-size bundle \
             and make a real handshake (ECDSA P-256):\n\n"
        ));
        text.push_str(&table(&["Measure", "Result", "Detail"], &python_rows));
    }
    Ok(text)
}

/// One rotation into one secret under `wrapper` (a profiler), after a
/// plain warm-up run; what the wrapper prints goes to stderr.
fn under(bin: &Path, wrapper: &str) -> Result<(), String> {
    let scratch = Scratch::new()?;
    let world = World::with_bin(bin.to_path_buf());
    let apis = Apis::of(&world);
    let dir = scratch.dir("under");
    let (_, output) = rotation(&apis, bin, &dir, "prod", SECRET)?.run()?;
    check(&output, "prod")?;
    let mut words = wrapper.split_whitespace();
    let program = words.next().ok_or("--under: an empty command")?;
    let mut step = rotation(&apis, Path::new(program), &dir, "prod", SECRET)?;
    step.command.args(words).arg(bin);
    let (cost, output) = step.run()?;
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    check(&output, "prod")?;
    eprintln!(
        "bench: one rotation under `{wrapper}` took {} ({} CPU)",
        duration(cost.wall),
        duration(cost.cpu())
    );
    Ok(())
}

/// The rows for one rotation: wall time and CPU time, medians.
fn rotation_rows(costs: &[Cost], servers: &str) -> Vec<[String; 3]> {
    let runs = costs.len();
    let walls: Vec<Duration> = costs.iter().map(|c| c.wall).collect();
    let cpus: Vec<Duration> = costs.iter().map(Cost::cpu).collect();
    let users: Vec<Duration> = costs.iter().map(|c| c.user).collect();
    let systems: Vec<Duration> = costs.iter().map(|c| c.system).collect();
    vec![
        [
            "One rotation, end to end".into(),
            duration(median(&walls)),
            format!(
                "median of {runs} (min {}, max {}); whole process, {servers}",
                duration(min(&walls)),
                duration(max(&walls))
            ),
        ],
        [
            "One rotation, CPU (user + system)".into(),
            duration(median(&cpus)),
            format!(
                "median of {runs} (min {}, max {}; user {} + system {}); the process alone, from `wait4`",
                duration(min(&cpus)),
                duration(max(&cpus)),
                duration(median(&users)),
                duration(median(&systems))
            ),
        ],
    ]
}

/// "Turso requests / connections per rotation" and its verdict.
fn budget_row(api: &str, counts: &[Counts], pick: fn(&Counts) -> (usize, usize), goal: (usize, usize)) -> [String; 3] {
    let runs = counts.len();
    let seen: BTreeMap<(usize, usize), usize> = counts.iter().fold(BTreeMap::new(), |mut m, c| {
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
    [
        format!("{api} requests / connections per rotation"),
        result,
        format!("goal {} / {}: {verdict} budget in all {runs} runs", goal.0, goal.1),
    ]
}

/// `runs` rotations against `examples/bench_server.py`, after a warm-up
/// run; with `tls`, over HTTPS, trusting the system bundle plus the
/// server's CA through `SSL_CERT_FILE`.
fn python(bin: &Path, scratch: &Scratch, runs: usize, tls: bool) -> Result<Vec<[String; 3]>, String> {
    let name = if tls { "python-tls" } else { "python" };
    let dir = scratch.dir(name);
    let server = PythonServer::start(tls.then(|| scratch.dir(&format!("{name}-certificates"))).as_deref())?;
    let mut step = rotation(&server.apis, bin, &dir, "prod", SECRET)?;
    if let Some(ca) = &server.ca {
        let system = fs::read(SYSTEM_BUNDLE).map_err(|e| format!("reading {SYSTEM_BUNDLE}: {e}"))?;
        let ca = fs::read(ca).map_err(|e| format!("reading {}: {e}", ca.display()))?;
        let bundle = dir.join("bundle.pem");
        fs::write(&bundle, [system, ca].concat()).map_err(|e| format!("writing {}: {e}", bundle.display()))?;
        step.command.env("SSL_CERT_FILE", &bundle);
    }
    let mut costs = Vec::new();
    let mut counts = Vec::new();
    for run in 0..=runs {
        server.reset()?;
        let (cost, output) = step.run()?;
        check(&output, "prod")?;
        if run > 0 {
            costs.push(cost);
            counts.push(server.counts()?);
        }
    }
    let (label, servers) = if tls {
        (" over TLS", "Python's http.server with TLS on 127.0.0.1")
    } else {
        ("", "Python's http.server on 127.0.0.1")
    };
    let mut rows = rotation_rows(&costs, servers);
    rows.push(budget_row("Turso", &counts, |c: &Counts| c.turso, BUDGET.turso));
    rows.push(budget_row("GitHub", &counts, |c: &Counts| c.github, BUDGET.github));
    for row in &mut rows {
        row[0].push_str(label);
    }
    Ok(rows)
}

/// `python3 examples/bench_server.py`, stopped (stdin closed) on drop.
struct PythonServer {
    child: Child,
    apis: Apis,
    /// The plain HTTP server that counts and resets.
    control: String,
    /// With TLS: the CA that signed the servers' certificate.
    ca: Option<PathBuf>,
}

impl PythonServer {
    /// With `tls`, the servers speak HTTPS and keep their certificates there.
    fn start(tls: Option<&Path>) -> Result<PythonServer, String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(PYTHON_SERVER);
        let mut command = Command::new("python3");
        command.arg(&script);
        if let Some(dir) = tls {
            fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
            command.arg("--tls").arg(dir);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start `python3 {}`: {e}", script.display()))?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        let url = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .map(str::to_owned)
        };
        let (Some(turso), Some(github), Some(control)) = (url("turso="), url("github="), url("control=")) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{PYTHON_SERVER} did not print its URLs (got {line:?}; with TLS it needs `openssl` on PATH)"
            ));
        };
        Ok(PythonServer {
            child,
            apis: Apis { turso, github },
            control,
            ca: url("ca=").map(PathBuf::from),
        })
    }

    fn reset(&self) -> Result<(), String> {
        control(&self.control, "POST", "/reset").map(drop)
    }

    fn counts(&self) -> Result<Counts, String> {
        let of = |api: &str| -> Result<(usize, usize), String> {
            let text = control(&self.control, "GET", api)?;
            let mut numbers = text.split_whitespace().map(str::parse::<usize>);
            match (numbers.next(), numbers.next()) {
                (Some(Ok(requests)), Some(Ok(connections))) => Ok((requests, connections)),
                _ => Err(format!("{}{api} answered {text:?}", self.control)),
            }
        };
        Ok(Counts {
            turso: of("/turso")?,
            github: of("/github")?,
        })
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// One request to the Python server's control server over its own
/// connection (`Connection: close`); the body of the answer.
fn control(url: &str, method: &str, path: &str) -> Result<String, String> {
    let address = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).map_err(|e| format!("connecting to {url}: {e}"))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("{method} {url}{path}: {e}"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("{method} {url}{path}: {e}"))?;
    match answer.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 2") => Ok(body.to_owned()),
        _ => Err(format!("{method} {url}{path} answered {answer:?}")),
    }
}

/// Base URLs of the two APIs the binary is pointed at.
struct Apis {
    turso: String,
    github: String,
}

impl Apis {
    fn of(world: &World) -> Apis {
        Apis {
            turso: world.turso.url(),
            github: world.github.api_url(),
        }
    }
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
    costs: Vec<Cost>,
    counts: Vec<Counts>,
}

/// `runs` rotations of group `prod` into the repository secret, one after
/// the other, after a warm-up run.
fn rotations(world: &World, apis: &Apis, bin: &Path, scratch: &Scratch, runs: usize) -> Result<Single, String> {
    let dir = scratch.dir("single");
    let mut single = Single {
        costs: Vec::new(),
        counts: Vec::new(),
    };
    for run in 0..=runs {
        clear(world);
        let writes = world.github.secret_writes(SECRET);
        let (cost, output) = rotation(apis, bin, &dir, "prod", SECRET)?.run()?;
        check(&output, "prod")?;
        if world.github.secret_writes(SECRET) != writes + 1 {
            return Err(format!("run {run}: the secret {SECRET} was not written"));
        }
        if run > 0 {
            single.costs.push(cost);
            single.counts.push(Counts::of(world));
        }
    }
    Ok(single)
}

/// One run shape beside the invalidating rotation into one secret.
struct Variant {
    name: &'static str,
    /// Extra `INPUT_*` variables (and their values) on top of [`rotation`]'s.
    inputs: Vec<(&'static str, String)>,
    /// Requests it may make, per API, in [`variants`]' order of APIs.
    budget: [usize; 5],
}

/// The roll, a rotation that tells its consumers, and the platform
/// targets: each run `runs` times; a row each with its requests per API
/// (Turso, GitHub, webhook, Cloudflare, Vercel) and its cost.
fn variants(
    world: &World,
    apis: &Apis,
    bin: &Path,
    scratch: &Scratch,
    runs: usize,
) -> Result<Vec<[String; 3]>, String> {
    world.github.add_repo("acme/web");
    let webhook = Webhook::start("/hooks/bench").signed_with("whsec_YmVuY2gtd2ViaG9vay1rZXk=");
    let cloudflare = FakeCloudflare::start(CF_TOKEN);
    cloudflare.add_worker("0123abcd", "api");
    let vercel = FakeVercel::start(VERCEL_TOKEN);
    vercel.add_project("web");
    vercel.add_live_deployment("web");
    let mut platforms = vec![
        ("INPUT_SECRET-NAME", String::new()),
        (
            "INPUT_SECRETS",
            format!("cloudflare:0123abcd:api:{SECRET}\nvercel:web:{SECRET}"),
        ),
        ("INPUT_DISPATCH", "vercel:web".into()),
    ];
    platforms.extend(platform_inputs(&cloudflare, &vercel));
    let shapes = [
        Variant {
            name: "Roll (`mode: roll`, nothing invalidated)",
            inputs: vec![("INPUT_MODE", "roll".into())],
            budget: [2, 4, 0, 0, 0],
        },
        Variant {
            name: "Rotation, one repository dispatch, one signed notification",
            inputs: vec![
                ("INPUT_DISPATCH", "repository:acme/web".into()),
                ("INPUT_NOTIFY-URL", webhook.notify_url()),
                ("INPUT_NOTIFY-SECRET", "whsec_YmVuY2gtd2ViaG9vay1rZXk=".into()),
            ],
            budget: [3, 5, 1, 0, 0],
        },
        Variant {
            name: "Rotation into a Worker secret and a Vercel variable, Vercel redeployed",
            inputs: platforms,
            budget: [3, 0, 0, 4, 6],
        },
    ];
    let servers: [&Server; 5] = [&world.turso, &world.github, &webhook, &cloudflare, &vercel];
    let mut rows = Vec::new();
    for (n, shape) in shapes.iter().enumerate() {
        let dir = scratch.dir(&format!("variant-{n}"));
        let mut step = rotation(apis, bin, &dir, "prod", SECRET)?;
        for (name, value) in &shape.inputs {
            step.command.env(name, value);
        }
        let mut costs = Vec::new();
        let mut counts = Vec::new();
        for run in 0..=runs {
            servers.iter().for_each(|s| s.clear_requests());
            let (cost, output) = step.run()?;
            check(&output, "prod")?;
            if run > 0 {
                costs.push(cost);
                counts.push(servers.map(|s| s.requests().len()));
            }
        }
        let most = counts.iter().copied().max().unwrap_or_default();
        let within = most.iter().zip(shape.budget).all(|(seen, budget)| *seen <= budget);
        let apis = ["Turso", "GitHub", "webhook", "Cloudflare", "Vercel"];
        let requests: Vec<String> = apis
            .iter()
            .zip(most)
            .filter(|(_, seen)| *seen > 0)
            .map(|(api, seen)| format!("{api} {seen}"))
            .collect();
        let walls: Vec<Duration> = costs.iter().map(|c| c.wall).collect();
        let cpus: Vec<Duration> = costs.iter().map(Cost::cpu).collect();
        rows.push([
            shape.name.into(),
            format!("{}, {} CPU", duration(median(&walls)), duration(median(&cpus))),
            format!(
                "requests: {} ({}); median of {runs}",
                requests.join(", "),
                if within { "within budget" } else { "OVER BUDGET" }
            ),
        ]);
    }
    Ok(rows)
}

struct ManyOutcome {
    counts: Counts,
    /// The `::warning::` annotations the processes printed.
    warnings: Vec<String>,
    /// CPU time (user + system) of all the processes.
    cpu: Duration,
}

/// Rotates each group into its own secret, one process per group, up to
/// `workers` at a time; returns the wall time of the whole batch.
fn many_groups(
    world: &World,
    apis: &Apis,
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
        .map(|(i, g)| rotation(apis, bin, &scratch.dir(&format!("group-{i}")), g, &secret(g)).map(Mutex::new))
        .collect::<Result<_, _>>()?;
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let warnings = Mutex::new(Vec::new());
    let cpu = Mutex::new(Duration::ZERO);
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
                    .and_then(|(cost, output)| {
                        *cpu.lock().unwrap_or_else(|e| e.into_inner()) += cost.cpu();
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
            cpu: cpu.into_inner().unwrap_or_else(|e| e.into_inner()),
        },
    ))
}

/// The binary set up as the Actions runner starts a step: a clean
/// environment with the `GITHUB_*` variables and the `INPUT_*` ones, fresh
/// output and summary files in `dir`, the workspace as working directory.
fn rotation(apis: &Apis, bin: &Path, dir: &Path, group: &str, secret: &str) -> Result<Step, String> {
    let workspace = dir.join("workspace");
    let commands = dir.join("_runner_file_commands");
    for d in [&workspace, &commands] {
        fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
    }
    let output = commands.join("set_output");
    let summary = commands.join("step_summary");
    let vars: [(&str, &str); 19] = [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_OUTPUT", path_str(&output)?),
        ("GITHUB_STEP_SUMMARY", path_str(&summary)?),
        ("GITHUB_WORKSPACE", path_str(&workspace)?),
        ("GITHUB_REPOSITORY", REPO),
        ("GITHUB_API_URL", &apis.github),
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
        ("INPUT_TURSO-API-URL", &apis.turso),
        ("INPUT_EXPIRATION", "15d"),
        ("INPUT_DRY-RUN", ""),
    ];
    let mut command = Command::new(bin);
    command.env_clear().envs(vars).current_dir(&workspace);
    // Nothing else of this environment, not even SSL_CERT_FILE or
    // SSL_CERT_DIR: a Docker action's container sees neither.
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
    fn run(&mut self) -> Result<(Cost, Output), String> {
        for path in &self.files {
            fs::write(path, "").map_err(|e| format!("resetting {}: {e}", path.display()))?;
        }
        timed(&mut self.command)
    }
}

fn path_str(path: &Path) -> Result<&str, String> {
    path.to_str().ok_or_else(|| format!("{} is not UTF-8", path.display()))
}

/// What one process cost, as the kernel accounted it.
#[derive(Clone, Copy, Debug)]
struct Cost {
    /// Spawn to exit, as the parent saw it.
    wall: Duration,
    /// CPU time in user and in kernel mode (`wait4`'s `ru_utime`,
    /// `ru_stime`), the process and any children it waited for.
    user: Duration,
    system: Duration,
    /// Peak resident memory in bytes (`ru_maxrss`).
    max_rss: u64,
}

impl Cost {
    fn cpu(&self) -> Duration {
        self.user + self.system
    }
}

/// Runs `command` to the end and reaps it with `wait4`, which also hands
/// back the CPU time and peak memory the kernel accounted to it; the wall
/// time covers spawn to exit.
fn timed(command: &mut Command) -> Result<(Cost, Output), String> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", command.get_program().to_string_lossy()))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let (status, usage) = wait4(&child)?;
    let wall = started.elapsed();
    let output = Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let cost = Cost {
        wall,
        user: time(usage.ru_utime),
        system: time(usage.ru_stime),
        max_rss: usage.ru_maxrss as u64 * 1024, // kilobytes on Linux
    };
    Ok((cost, output))
}

/// Waits for `child` with `wait4(2)`: its exit status and resource usage.
/// The child is reaped here, so `Child::wait` must not be called after.
fn wait4(child: &Child) -> Result<(ExitStatus, libc::rusage), String> {
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; zeroes are a valid value for it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to a c_int and a rusage owned by this frame.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            return Ok((ExitStatus::from_raw(status), usage));
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("wait4 for process {pid}: {error}"));
        }
    }
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

/// Times `cargo build --release --locked` into a fresh target directory;
/// returns what it cost (CPU: cargo and every compiler it waited for) and
/// the number of crates compiled.
fn clean_build() -> Result<(Cost, usize), String> {
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
    let (cost, output) = result?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("the clean build failed ({}):\n{stderr}", output.status));
    }
    let crates = stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("Compiling "))
        .count();
    Ok((cost, crates))
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

fn median_of(costs: &[Cost], pick: fn(&Cost) -> u64) -> u64 {
    let mut values: Vec<u64> = costs.iter().map(pick).collect();
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or_default()
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

/// How long each fake takes over a write in [`window`].
const WRITE_DELAY: Duration = Duration::from_millis(100);
/// How long each fake takes over every request in [`scale`].
const REQUEST_DELAY: Duration = Duration::from_millis(20);
/// Groups in [`scale`], all in one process (`groups`).
const SCALE_GROUPS: usize = 50;
/// Groups the product rotates at once (`PARALLEL_GROUPS` in src/rotate.rs).
const PARALLEL_GROUPS: usize = 4;
const CF_TOKEN: &str = "cf-bench-token-0123456789";
const VERCEL_TOKEN: &str = "vercel-bench-token-0123456789";

/// The platform inputs of a run that writes to Cloudflare and Vercel.
fn platform_inputs(cloudflare: &FakeCloudflare, vercel: &FakeVercel) -> Vec<(&'static str, String)> {
    vec![
        ("INPUT_CLOUDFLARE-API-TOKEN", CF_TOKEN.into()),
        ("INPUT_CLOUDFLARE-API-URL", cloudflare.api_url()),
        ("INPUT_VERCEL-TOKEN", VERCEL_TOKEN.into()),
        ("INPUT_VERCEL-API-URL", vercel.api_url()),
    ]
}

/// What a run's journal says about the writes after the invalidation.
struct Window {
    /// The rotate call's answer to the last write's answer.
    window: Duration,
    /// Each write after the rotate call, arrival to answer.
    writes: Vec<Duration>,
    /// The summary's "Without a valid secret" cell.
    summary: String,
}

/// The writes of one group, read from the journal: every request to a
/// target's API (not Turso) after the rotate call's answer, and when each
/// was answered.
fn window_of(world: &World, servers: &[&Server], summary: &Path) -> Result<Window, String> {
    let entries = world.journal.entries();
    let server = |label: &str| servers.iter().find(|s| s.label() == label).copied();
    let rotated = entries
        .iter()
        .find(|(label, r)| *label == "turso" && r.method == "POST" && r.path.ends_with("/auth/rotate"))
        .and_then(|(_, r)| world.turso.answered_at(r))
        .ok_or("no answered rotate call in the journal")?;
    let mut last = rotated;
    let mut writes = Vec::new();
    for (label, r) in entries.iter().filter(|(label, r)| *label != "turso" && r.at >= rotated) {
        let answered = server(label)
            .and_then(|s| s.answered_at(r))
            .ok_or_else(|| format!("{label} {} was not answered", r.line()))?;
        writes.push(answered - r.at);
        last = last.max(answered);
    }
    let text = fs::read_to_string(summary).map_err(|e| format!("reading {}: {e}", summary.display()))?;
    Ok(Window {
        window: last - rotated,
        writes,
        summary: summary_window(&text).unwrap_or_else(|| "not found".into()),
    })
}

/// The first row's "Without a valid secret" cell of the summary's table.
fn summary_window(summary: &str) -> Option<String> {
    let mut lines = summary.lines();
    let header = lines.find(|l| l.contains("Without a valid secret"))?;
    let column = header.split('|').position(|c| c.trim() == "Without a valid secret")?;
    let row = lines.find(|l| l.starts_with('|') && !l.starts_with("|---"))?;
    row.split('|').nth(column).map(|c| c.trim().to_owned())
}

/// One group with a GitHub secret, a Vercel variable and a Worker secret,
/// each API taking [`WRITE_DELAY`] over every write: the time the group is
/// without a valid secret against its slowest write.
fn window(world: &World, apis: &Apis, bin: &Path, scratch: &Scratch, runs: usize) -> Result<Vec<[String; 3]>, String> {
    let cloudflare = FakeCloudflare::start(CF_TOKEN).with_journal(&world.journal);
    cloudflare.add_worker("0123abcd", "api");
    let vercel = FakeVercel::start(VERCEL_TOKEN).with_journal(&world.journal);
    vercel.add_project("web");
    // The probes share a write's route on Cloudflare and Vercel, so they
    // wait too; they come before the rotate call, outside the window.
    world
        .github
        .fault(Fault::new("PUT", &format!("/secrets/{SECRET}"), FaultAction::Delay(WRITE_DELAY)).always());
    cloudflare.fault(Fault::new("PUT", "/secrets", FaultAction::Delay(WRITE_DELAY)).always());
    for method in ["POST", "PATCH"] {
        vercel.fault(Fault::new(method, "/env", FaultAction::Delay(WRITE_DELAY)).always());
    }
    let dir = scratch.dir("window");
    let mut step = rotation(apis, bin, &dir, "prod", SECRET)?;
    step.command.env("INPUT_SECRET-NAME", "").env(
        "INPUT_SECRETS",
        format!("repo:{SECRET}\nvercel:web:{SECRET}\ncloudflare:0123abcd:api:{SECRET}"),
    );
    step.command.envs(platform_inputs(&cloudflare, &vercel));
    let servers: [&Server; 4] = [&world.turso, &world.github, &cloudflare, &vercel];
    let mut windows = Vec::new();
    for run in 0..=runs {
        world.journal.clear();
        servers.iter().for_each(|s| s.clear_requests());
        let (_, output) = step.run()?;
        check(&output, "prod")?;
        if run > 0 {
            windows.push(window_of(world, &servers, &step.files[1])?);
        }
    }
    world.github.clear_faults();
    let measured: Vec<Duration> = windows.iter().map(|w| w.window).collect();
    let slowest: Vec<Duration> = windows
        .iter()
        .map(|w| w.writes.iter().copied().max().unwrap_or_default())
        .collect();
    let sums: Vec<Duration> = windows.iter().map(|w| w.writes.iter().sum()).collect();
    let writes = windows.last().map_or(0, |w| w.writes.len());
    let mut cells: Vec<&str> = windows.iter().map(|w| w.summary.as_str()).collect();
    cells.dedup();
    Ok(vec![
        [
            "Window: one group into GitHub, Vercel and Cloudflare, writes 100 ms each".into(),
            duration(median(&measured)),
            format!(
                "rotate call answered -> last write answered, median of {runs}; summary's \"Without a valid secret\": {}",
                cells.join(", ")
            ),
        ],
        [
            "Window: slowest single write, and the sum of the writes".into(),
            format!("{}, sum {}", duration(median(&slowest)), duration(median(&sums))),
            format!(
                "{writes} writes after the rotate call, arrival to answer at the fakes; a window near the sum \
                 means one API after another, near the slowest write means all at once"
            ),
        ],
    ])
}

/// [`SCALE_GROUPS`] groups in one process, every fake taking
/// [`REQUEST_DELAY`] over every request: wall time, requests and
/// connections per API, against the bound the request count implies.
fn scale(
    world: &World,
    apis: &Apis,
    bin: &Path,
    scratch: &Scratch,
    groups: &[String],
) -> Result<Vec<[String; 3]>, String> {
    let vercel = FakeVercel::start(VERCEL_TOKEN).with_journal(&world.journal);
    vercel.add_project("web");
    let groups = &groups[..SCALE_GROUPS.min(groups.len())];
    // `groups` takes one target per group: every other group writes a
    // GitHub secret, the rest a Vercel variable.
    let lines: Vec<String> = groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let name = format!("TURSO_TOKEN_{}", g.to_uppercase());
            match i % 2 {
                0 => format!("{g}=repo:{name}"),
                _ => format!("{g}=vercel:web:{name}"),
            }
        })
        .collect();
    let servers: [&Server; 3] = [&world.turso, &world.github, &vercel];
    for server in servers {
        server.fault(Fault::new("*", "", FaultAction::Delay(REQUEST_DELAY)).always());
    }
    let dir = scratch.dir("scale");
    let mut step = rotation(apis, bin, &dir, "", "")?;
    step.command
        .env("INPUT_GROUP", "")
        .env("INPUT_SECRET-NAME", "")
        .env("INPUT_GROUPS", lines.join("\n"))
        .env("INPUT_VERCEL-TOKEN", VERCEL_TOKEN)
        .env("INPUT_VERCEL-API-URL", vercel.api_url());
    let mut walls = Vec::new();
    let mut last = None;
    for _ in 0..GROUP_REPEATS {
        world.journal.clear();
        servers.iter().for_each(|s| s.clear_requests());
        let (cost, output) = step.run()?;
        check(&output, "all")?;
        walls.push(cost.wall);
        let entries = world.journal.entries();
        let before = entries
            .iter()
            .position(|(label, r)| *label == "turso" && r.path.ends_with("/auth/rotate"))
            .unwrap_or(entries.len());
        let github_writes = entries[before..]
            .iter()
            .filter(|(label, r)| *label == "github" && r.method == "PUT")
            .count();
        last = Some((
            servers.map(|s| (s.requests().len(), s.connections())),
            before,
            entries.len() - before,
            github_writes,
        ));
    }
    for server in servers {
        server.clear_faults();
    }
    let (counts, pre, post, github_writes) = last.expect("at least one run");
    let g = groups.len();
    let per_group = post / g.max(1);
    let rounds = g.div_ceil(PARALLEL_GROUPS);
    let d = REQUEST_DELAY.as_millis();
    let bound = REQUEST_DELAY * (pre + (rounds * per_group).max(github_writes)) as u32;
    let per_api: Vec<String> = ["Turso", "GitHub", "Vercel"]
        .iter()
        .zip(counts)
        .map(|(api, (requests, connections))| format!("{api} {requests} / {connections}"))
        .collect();
    Ok(vec![
        [
            format!("Scale: {g} groups in one process (`groups`), every request 20 ms"),
            duration(median(&walls)),
            format!(
                "wall, median of {GROUP_REPEATS}; half the groups write a GitHub secret, half a Vercel variable"
            ),
        ],
        ["Scale: requests / connections per API".into(), per_api.join(", "), "one run".into()],
        [
            "Scale: lower bound".into(),
            duration(bound),
            format!(
                "d × (pre + max(⌈G/P⌉ × k, W)) = {d} ms × ({pre} + max(⌈{g}/{PARALLEL_GROUPS}⌉ × {per_group}, {github_writes})): \
                 pre = requests before the first rotate call (preflight, one after another), G groups rotated P at a time, \
                 k = requests per group after it (rotate, create, write), W = GitHub writes (serial on one connection)"
            ),
        ],
    ])
}
