//! Which files of a policy directory are read: the regular files directly in it whose name ends
//! in `.rego`, except `*_test.rego`. A symbolic link is refused, not followed: what is evaluated
//! must be what was reviewed in the directory, not whatever the link points to on the machine
//! that runs the plan.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::PolicyError;

/// A policy file: its name in the directory, its path and its text.
pub(crate) struct PolicyFile {
    pub name: String,
    pub path: PathBuf,
    pub text: String,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PolicyError {
    let path = path.to_owned();
    move |source| PolicyError::Io { path, source }
}

/// The policy files of `dir`, in name order. Subdirectories are not read; a symbolic link or
/// any other entry that is not a regular file (a FIFO, a socket) is an error naming it.
pub(crate) fn policy_files(dir: &Path) -> Result<Vec<PolicyFile>, PolicyError> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".rego") || name.ends_with("_test.rego") {
            continue;
        }
        let path = entry.path();
        // The entry itself, not what a link points to.
        let kind = entry.file_type().map_err(io(&path))?;
        if kind.is_symlink() {
            return Err(PolicyError::Symlink { path });
        }
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(PolicyError::NotRegular { path });
        }
        found.push((name, path));
    }
    found.sort();
    found
        .into_iter()
        .map(|(name, path)| {
            let text = read_regular(&path)?;
            Ok(PolicyFile { name, path, text })
        })
        .collect()
}

/// The text of a regular file, opened without following a link: a file replaced by a link
/// after the directory was listed is refused too.
fn read_regular(path: &Path) -> Result<String, PolicyError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: a FIFO swapped in must not hang the open; it is refused below.
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let mut file = match options.open(path) {
        Ok(file) => file,
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(PolicyError::Symlink { path: path.to_owned() }),
        Err(e) => return Err(io(path)(e)),
    };
    if !file.metadata().map_err(io(path))?.is_file() {
        return Err(PolicyError::NotRegular { path: path.to_owned() });
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(io(path))?;
    Ok(text)
}
