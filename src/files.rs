//! Files the action writes itself: the token file and the audit trail.
//! Neither follows a symlink planted at its path, and the token file is
//! never half-written: a new private file is made beside it, then renamed
//! over the path.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context, Result};

use crate::secret::Secret;

/// Writes the token to `path`, readable by its owner only: created beside
/// it (`O_EXCL`, mode 0600, so nothing else can have it open), then renamed
/// over the path, which replaces a symlink there instead of following it.
pub fn save_token(path: &Path, token: &Secret) -> Result<()> {
    let dir = parent(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", crate::secret::random_hex(8)));
    let written = (|| -> io::Result<()> {
        let mut file = new_private_file(&temp)?;
        file.write_all(token.expose().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written.with_context(|| format!("writing {}", path.display()))
}

/// Appends `text`, creating the file if needed; a symlink at `path` is an error.
pub fn append_no_follow(path: &Path, text: &str) -> Result<()> {
    let dir = parent(path);
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .with_context(|| format!("appending to {} (a symlink there is refused)", path.display()))
}

/// Whether a file can be created in the folder of `path`: checked before a
/// rotation, so a token that must be saved is not lost to a missing folder.
pub fn check_folder(path: &Path) -> io::Result<()> {
    let dir = parent(path);
    if !fs::metadata(dir)?.is_dir() {
        return Err(io::Error::new(io::ErrorKind::NotADirectory, "not a folder"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the path"))?;
        // SAFETY: `c_path` is a valid NUL-terminated string for the call's duration.
        if unsafe { libc::access(c_path.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn new_private_file(path: &Path) -> io::Result<fs::File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// The folder `path` lives in (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("turso-rotate-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_at_the_token_path_is_replaced_not_followed() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let dir = scratch("symlink");
        let victim = dir.join("victim");
        fs::write(&victim, "keep").unwrap();
        let path = dir.join("t.token");
        symlink(&victim, &path).unwrap();
        save_token(&path, &Secret::new("tok-abcdef")).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
        assert!(!fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_to_string(&path).unwrap(), "tok-abcdef\n");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        save_token(&path, &Secret::new("tok-second")).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "tok-second\n",
            "a previous file is replaced"
        );
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2, "no temporary file left");
        let linked = dir.join("audit.jsonl");
        symlink(&victim, &linked).unwrap();
        assert!(append_no_follow(&linked, "line\n").is_err());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_folder_fails_the_check_and_the_save() {
        let dir = scratch("missing");
        let path = dir.join("nope").join("t.token");
        assert!(check_folder(&path).is_err());
        assert!(save_token(&path, &Secret::new("tok-abcdef")).is_err());
        assert!(check_folder(&dir.join("t.token")).is_ok());
        fs::remove_dir_all(&dir).unwrap();
    }
}
