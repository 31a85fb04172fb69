//! What `examples/sandbox.rs` and `examples/bench.rs` share beyond the fakes
//! (those live in `tests/common/`, shared with the integration tests): the
//! binary, built on demand, and fingerprints that show two secret values are
//! equal without printing either.
//!
//! Each example uses a subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// `sha256:` and the first 12 hex digits of the value's SHA-256: enough to
/// see that two values are equal, useless for recovering either.
pub fn fingerprint(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// `true` when this example was built with `--release`; the binary is then
/// built the same way.
pub fn release() -> bool {
    !cfg!(debug_assertions)
}

/// Builds the binary with `$CARGO build --bin turso-rotate` (`--release` to
/// match this example) and returns its path: an example gets no
/// `CARGO_BIN_EXE_*`, so it finds the binary in the profile directory its own
/// executable sits under (`target/debug/examples/sandbox` ->
/// `target/debug/turso-rotate`).
pub fn build_binary() -> Result<PathBuf, String> {
    let mut command = cargo();
    command
        .args(["build", "--quiet", "--bin", "turso-rotate", "--manifest-path"])
        .arg(manifest());
    if release() {
        command.arg("--release");
    }
    let shown = format!(
        "{} build --bin turso-rotate{}",
        command.get_program().to_string_lossy(),
        if release() { " --release" } else { "" }
    );
    let status = command
        .status()
        .map_err(|e| format!("cannot start `{shown}`: {e} (is cargo on PATH?)"))?;
    if !status.success() {
        return Err(format!("`{shown}` failed ({status}); its errors are above"));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate this example's executable: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("unexpected location of this example: {}", exe.display()))?;
    let bin = profile_dir.join(format!("turso-rotate{}", std::env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        return Err(format!(
            "`{shown}` succeeded but {} does not exist (a --target-dir or --target given to `cargo run` \
             is not passed on: use CARGO_TARGET_DIR instead)",
            bin.display()
        ));
    }
    Ok(bin)
}

/// `$CARGO` (set by `cargo run`; else `cargo` from PATH), without the
/// variables `cargo run` sets for the package it runs.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    // `cargo run` gives this example the package's CARGO_PKG_* and
    // CARGO_MANIFEST_* variables. Build scripts that watch them (ring's
    // does) would see them change and rebuild half the tree, here and again
    // at the next `cargo run`.
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_MANIFEST_")
            || matches!(&*name, "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE")
        {
            command.env_remove(&key);
        }
    }
    command
}

/// This package's Cargo.toml.
pub fn manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")
}

/// The path as a person would type it: relative to the current directory
/// when it lies under it.
pub fn display_path(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// A word for a POSIX shell: bare when it is safe, single-quoted otherwise.
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if safe {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
