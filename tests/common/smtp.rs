//! A real SMTP server on loopback: aiosmtpd (PyPI) running
//! `tests/smtp_server.py` in a child process on a free port of 127.0.0.1.
//! It speaks TLS from the start ([`Mode::Tls`], for `smtps://`), requires
//! STARTTLS ([`Mode::StartTls`]) or offers no TLS ([`Mode::Plain`]), with a
//! certificate for `localhost` and 127.0.0.1 from the test's CA; with
//! [`SmtpServer::auth`] it requires AUTH (LOGIN or PLAIN), refused before
//! TLS. It stores what it accepts, and answers a chosen reply to RCPT or
//! DATA a number of times on demand.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use super::ca::TestCa;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Tls,
    StartTls,
    Plain,
}

/// The SMTP command a fault answers.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    Rcpt,
    Data,
}

/// What to start: see [`SmtpServer::new`].
pub struct SmtpServer {
    mode: Mode,
    auth: Option<(String, String)>,
    fault: Option<(Stage, String, u32)>,
}

/// A running server; stopped and its files removed on drop.
pub struct Running {
    child: Child,
    _stdin: ChildStdin,
    pub port: u16,
    mode: Mode,
    dir: PathBuf,
}

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// The user that authenticated, if any.
    pub auth_user: Option<String>,
    /// Whether the session was encrypted when the message came.
    pub tls: bool,
    /// The message as sent, headers and body.
    pub raw: String,
}

impl Received {
    /// The first header `name` (any case), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.raw.split("\r\n\r\n").next().unwrap_or_default();
        let mut lines = head.split("\r\n").peekable();
        while let Some(line) = lines.next() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            if key.eq_ignore_ascii_case(name) {
                let mut value = value.trim().to_owned();
                while let Some(more) = lines.next_if(|l| l.starts_with([' ', '\t'])) {
                    value.push(' ');
                    value.push_str(more.trim());
                }
                return Some(value);
            }
        }
        None
    }

    /// What follows the header.
    pub fn body(&self) -> &str {
        self.raw.split_once("\r\n\r\n").map_or("", |(_, body)| body)
    }
}

impl SmtpServer {
    pub fn new(mode: Mode) -> SmtpServer {
        SmtpServer {
            mode,
            auth: None,
            fault: None,
        }
    }

    /// Requires AUTH with this user and password.
    pub fn auth(mut self, user: &str, password: &str) -> SmtpServer {
        self.auth = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// Answers `reply` (e.g. `451 4.3.0 Try again later`) to `stage`, the
    /// first `times` times (0: every time).
    pub fn fault(mut self, stage: Stage, reply: &str, times: u32) -> SmtpServer {
        self.fault = Some((stage, reply.to_owned(), times));
        self
    }

    /// Starts it with a certificate from `ca`.
    pub fn start(self, ca: &TestCa) -> Running {
        let dir = std::env::temp_dir().join(format!("turso-rotate-smtp-{}", super::unique_tag()));
        std::fs::create_dir_all(&dir).expect("create the server's directory");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py");
        let mut command = Command::new("python3");
        command
            .arg(script)
            .arg("--out")
            .arg(&dir)
            .arg("--mode")
            .arg(match self.mode {
                Mode::Tls => "tls",
                Mode::StartTls => "starttls",
                Mode::Plain => "plain",
            });
        if self.mode != Mode::Plain {
            let issued = ca.issue(&["localhost", "127.0.0.1"], &dir);
            command
                .arg("--cert")
                .arg(issued.cert_file)
                .arg("--key")
                .arg(issued.key_file);
        }
        if let Some((user, password)) = &self.auth {
            command.args(["--user", user, "--password", password]);
        }
        if let Some((stage, reply, times)) = &self.fault {
            let stage = match stage {
                Stage::Rcpt => "rcpt",
                Stage::Data => "data",
            };
            command.args(["--fault-on", stage, "--fault-reply", reply, "--fault-times"]);
            command.arg(times.to_string());
        }
        let log = std::fs::File::create(dir.join("server.log")).expect("create the server log");
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start python3 (the SMTP server needs python3 with aiosmtpd)");
        let stdin = child.stdin.take().expect("stdin");
        let mut line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let _ = stdout.read_line(&mut line);
        let Some(port) = line.trim().strip_prefix("READY ").and_then(|p| p.parse().ok()) else {
            let _ = child.kill();
            let _ = child.wait();
            let mut log = String::new();
            let _ = std::fs::File::open(dir.join("server.log")).and_then(|mut f| f.read_to_string(&mut log));
            panic!("the SMTP server did not start (`python3 -m pip install aiosmtpd`?): {log}");
        };
        Running {
            child,
            _stdin: stdin,
            port,
            mode: self.mode,
            dir,
        }
    }
}

impl Running {
    /// `smtps://` or `smtp://`, then `userinfo` (e.g. `user:pw@`), then 127.0.0.1:PORT.
    pub fn url_with(&self, userinfo: &str) -> String {
        let scheme = if self.mode == Mode::Tls { "smtps" } else { "smtp" };
        format!("{scheme}://{userinfo}127.0.0.1:{}", self.port)
    }

    /// The messages accepted so far, in order.
    pub fn messages(&self) -> Vec<Received> {
        let mut messages = Vec::new();
        for n in 1.. {
            let base = self.dir.join(n.to_string());
            let Ok(meta) = std::fs::read_to_string(base.with_extension("json")) else {
                break;
            };
            let meta: serde_json::Value = serde_json::from_str(&meta).expect("the server's record");
            let raw = std::fs::read(base.with_extension("eml")).expect("the message");
            messages.push(Received {
                mail_from: meta["mail_from"].as_str().unwrap_or_default().to_owned(),
                rcpt_tos: meta["rcpt_tos"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                auth_user: meta["auth_user"].as_str().map(str::to_owned),
                tls: meta["tls"].as_bool().unwrap_or(false),
                raw: String::from_utf8_lossy(&raw).into_owned(),
            });
        }
        messages
    }

    /// One line per fault answered: `STAGE REPLY`.
    pub fn faults(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("faults.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
