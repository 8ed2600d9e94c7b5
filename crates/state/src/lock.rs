//! Who holds a state's lock ([`LockInfo`], both backends), and the SQLite backend's lock: an
//! exclusive OS file lock on `<state>.lock`, plus a holder record inside that file so that a
//! waiting process can say who holds it. (The PostgreSQL backend's advisory lock is in
//! `postgres::lock`.)
//!
//! The kernel lock is what excludes: it is released when its holder exits, however it exits
//! (`kill -9` included), so a local state can never stay locked by a dead process. The record
//! is only information; a record left behind by a dead holder is stale and is overwritten by
//! the next holder. `force-unlock` therefore has nothing to break on a local disk: it clears a
//! stale record, and refuses to touch a lock that a live process holds (see `docs/state.md`).

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};

use super::{LiveHolder, StateError, StateLocation};
use crate::clock;

/// Who holds (or last held) the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// A fresh UUID per acquisition; `force-unlock` takes it.
    pub id: String,
    /// The command, e.g. `apply` or `state rm`.
    pub operation: String,
    pub host: String,
    pub pid: u32,
    pub created_at: String,
    pub version: String,
    /// The PostgreSQL session (backend pid) that holds the lock; PostgreSQL states only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<i32>,
}

impl LockInfo {
    /// Who holds it, briefly: `` `fleet apply` by pid 20760 on vm since 2026-12-08T10:00:00Z ``.
    pub fn brief(&self) -> String {
        format!(
            "`{}` by pid {} on {} since {}",
            self.operation, self.pid, self.host, self.created_at
        )
    }

    /// A new record for this process taking a lock for `operation`.
    pub(crate) fn new(operation: &str, session: Option<i32>) -> LockInfo {
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            operation: operation.to_owned(),
            host: clock::host_name(),
            pid: std::process::id(),
            created_at: clock::now(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            session,
        }
    }

    pub(crate) fn describe(&self) -> String {
        let session = match self.session {
            Some(s) => format!(", PostgreSQL session {s}"),
            None => String::new(),
        };
        format!(
            "lock ID {}: `{}` by pid {} on {} since {} (pai-provision {}{session})",
            self.id, self.operation, self.pid, self.host, self.created_at, self.version
        )
    }
}

/// The lock file of a state file: `<state>.lock` beside it. `state` should be the real file
/// ([`resolve`]), so that every path to one state names one lock.
pub fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// How many symlinks [`resolve`] follows, as Linux's `MAXSYMLINKS`.
const MAX_LINKS: usize = 40;

/// The file that `state` names: absolute, every symlink resolved, its own included. A state that
/// does not exist yet is resolved through its directory, which must exist, and through a
/// symlink that points at where it will be created. Two paths to one state (a symlink, a
/// symlinked directory, `..`) resolve to one path and so to one lock; the lock derived from the
/// path as written let two writers in at once.
pub(crate) fn resolve(state: &Path) -> std::io::Result<PathBuf> {
    let mut path = state.to_owned();
    for _ in 0..MAX_LINKS {
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&path)?;
                // A relative target is relative to the link's directory; `join` keeps an
                // absolute one as it is.
                path = match path.parent() {
                    Some(dir) => dir.join(target),
                    None => target,
                };
            }
            Ok(_) => return std::fs::canonicalize(&path),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let name = path.file_name().ok_or_else(|| {
                    std::io::Error::new(ErrorKind::InvalidInput, "the state path does not name a file")
                })?;
                let dir = path
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                return Ok(std::fs::canonicalize(dir)?.join(name));
            }
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// Held for as long as it lives; dropping it clears the record and releases the lock.
#[derive(Debug)]
pub struct LockGuard {
    /// Always `Some` until dropped; a test takes it to play a process that died.
    file: Option<File>,
    path: PathBuf,
    info: LockInfo,
}

impl LockGuard {
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let Some(file) = self.file.take() else { return };
        // Clear the record while the lock is still ours, then release. Closing the file would
        // release it too; failures here leave at worst a stale record, which is harmless.
        if let Err(e) = file.set_len(0) {
            tracing::debug!("clearing the lock record {}: {e}", self.path.display());
        }
        if let Err(e) = FileExt::unlock(&file) {
            tracing::debug!("releasing the lock {}: {e}", self.path.display());
        }
    }
}

fn open_lock_file(path: &Path) -> Result<File, StateError> {
    crate::private_file::options()
        .read(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| StateError::io(path, e))
}

/// `Ok(true)` when acquired, `Ok(false)` when another process holds it.
fn try_lock(file: &File, path: &Path) -> Result<bool, StateError> {
    match FileExt::try_lock_exclusive(file) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(false),
        Err(e) if e.kind() == ErrorKind::Unsupported || e.raw_os_error() == Some(37) => {
            // 37 is ENOLCK on Linux: the filesystem offers no locks.
            Err(StateError::LockUnsupported {
                path: path.to_owned(),
                source: e,
            })
        }
        Err(e) => Err(StateError::io(path, e)),
    }
}

/// The holder record in a lock file, if it holds a complete one.
pub fn read_holder(lock_file: &Path) -> Option<LockInfo> {
    let mut text = String::new();
    File::open(lock_file).ok()?.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

/// Whether a process holds the lock of `lock_file` now, asked without waiting: a shared lock
/// is refused while a writer holds its exclusive one. A record left by a killed process is no
/// lock: the kernel released its lock when it died. An unanswerable question counts as held.
pub fn is_held(lock_file: &Path) -> bool {
    let Ok(file) = File::open(lock_file) else {
        return false;
    };
    match FileExt::try_lock_shared(&file) {
        Ok(()) => {
            let _ = FileExt::unlock(&file);
            false
        }
        Err(_) => true,
    }
}

fn write_holder(file: &mut File, info: &LockInfo) -> std::io::Result<()> {
    // The record holds no secrets: ids, host, pid, command and times.
    let json = serde_json::to_string(info).map_err(std::io::Error::other)?;
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(json.as_bytes())?;
    file.sync_data()
}

/// Takes the lock of the state at `state`, waiting up to `timeout`. Creates the lock file and
/// the state's directory if needed (never the state file itself).
///
/// `state` is resolved first ([`resolve`]): the lock is the real file's.
pub fn acquire(state: &Path, operation: &str, timeout: Duration) -> Result<LockGuard, StateError> {
    if let Some(dir) = state.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| StateError::io(dir, e))?;
    }
    let real = resolve(state).map_err(|e| StateError::io(state, e))?;
    let path = lock_path(&real);
    let mut file = open_lock_file(&path)?;
    let started = Instant::now();
    let mut announced = false;
    while !try_lock(&file, &path)? {
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(StateError::Locked {
                location: StateLocation::File(state.to_owned()),
                holder: read_holder(&path).map(Box::new),
                waited,
            });
        }
        if !announced {
            announced = true;
            match read_holder(&path) {
                Some(h) => tracing::info!("waiting for the state lock: {}", h.describe()),
                None => tracing::info!("waiting for the state lock {}", path.display()),
            }
        }
        std::thread::sleep((timeout - waited).min(Duration::from_millis(50)));
    }
    if let Some(stale) = read_holder(&path) {
        tracing::info!(
            "the previous holder of the state lock ended without releasing it cleanly; its record was: {}",
            stale.describe()
        );
    }
    let info = LockInfo::new(operation, None);
    write_holder(&mut file, &info).map_err(|e| StateError::io(&path, e))?;
    Ok(LockGuard {
        file: Some(file),
        path,
        info,
    })
}

/// What `force-unlock` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlocked {
    /// The record that was cleared: its process was gone and the OS had released its lock.
    pub stale: LockInfo,
}

/// Clears the stale record of lock `id`. Refuses when a live process holds the lock (breaking
/// it would let two writers in at once), when the ID does not match, or when nothing is locked.
pub fn force_unlock(state: &Path, id: &str) -> Result<Unlocked, StateError> {
    let path = match resolve(state) {
        Ok(real) => lock_path(&real),
        // No directory, so no lock file either.
        Err(e) if e.kind() == ErrorKind::NotFound => lock_path(state),
        Err(e) => return Err(StateError::io(state, e)),
    };
    let refused = |held: bool, holder: Option<LockInfo>| StateError::UnlockRefused {
        location: StateLocation::File(state.to_owned()),
        requested: id.to_owned(),
        live: held.then_some(LiveHolder::Process),
        holder: holder.map(Box::new),
    };
    if !path.exists() {
        return Err(refused(false, None));
    }
    let file = open_lock_file(&path)?;
    if !try_lock(&file, &path)? {
        return Err(refused(true, read_holder(&path)));
    }
    let result = match read_holder(&path) {
        Some(stale) if stale.id == id => {
            file.set_len(0).map_err(|e| StateError::io(&path, e))?;
            file.sync_data().map_err(|e| StateError::io(&path, e))?;
            Ok(Unlocked { stale })
        }
        other => Err(refused(false, other)),
    };
    // The file closes below, which releases the lock we took to look.
    let _ = FileExt::unlock(&file);
    result
}

pub(crate) fn locked_message(state: &StateLocation, holder: Option<&LockInfo>, waited: Duration) -> String {
    let who = match holder {
        Some(h) => h.describe(),
        None => "a process that has not yet recorded itself".to_owned(),
    };
    format!(
        "the state {state} is locked by another process ({who}); gave up after {:.1}s. \
         Wait for it to finish or raise --lock-timeout. A holder that exits releases the lock, \
         even when it is killed",
        waited.as_secs_f64()
    )
}

/// Why `force-unlock` refused, for both backends: `live` is whoever holds the lock now (an
/// OS process, or a PostgreSQL session), `holder` the record found.
pub(crate) fn unlock_refused_message(
    state: &StateLocation,
    requested: &str,
    live: Option<LiveHolder>,
    holder: Option<&LockInfo>,
) -> String {
    // A PostgreSQL record speaks for the live holder only if it names the holding session.
    let recorded = |h: &LockInfo| match live {
        Some(LiveHolder::Session(s)) => h.session == Some(s),
        _ => true,
    };
    match (live, holder) {
        (Some(live), Some(h)) if recorded(h) && h.id == requested => match live {
            LiveHolder::Session(s) => format!(
                "refusing to force-unlock {state}: {} is held by a live PostgreSQL session. Breaking it would let two \
                 writers change the state at once. The session ends, and PostgreSQL releases the lock, when that \
                 process exits or its connection drops; if the process is stuck (a CI job hung on a runner that is \
                 still up), cancel it. As a last resort a database administrator can end the session with \
                 `SELECT pg_terminate_backend({s});` pai-provision never does that itself: the holder would lose its \
                 lock in the middle of a run (it stops at its next write, which checks the serial)",
                h.describe()
            ),
            _ => {
                let remote = if h.host != clock::host_name() {
                    format!(
                        " It was taken on another host ({}); on a network filesystem the server releases it when \
                         that host's lease expires.",
                        h.host
                    )
                } else {
                    String::new()
                };
                format!(
                    "refusing to force-unlock {state}: {} is held by a live process (the operating system still \
                     holds its lock). Breaking it would let two writers change the state at once. Stop that process \
                     or let it finish; its lock is released when it exits.{remote}",
                    h.describe()
                )
            }
        },
        (Some(_), Some(h)) if recorded(h) => format!(
            "refusing to force-unlock {state}: it is locked under ID {}, not {requested} ({})",
            h.id,
            h.describe()
        ),
        (Some(live), _) => {
            let who = match live {
                LiveHolder::Session(s) => format!("PostgreSQL session {s}"),
                _ => "a live process".to_owned(),
            };
            format!("refusing to force-unlock {state}: {who} holds its lock and has not recorded itself yet")
        }
        (None, Some(h)) => format!(
            "{state} is not locked; the leftover record is of lock ID {}, not {requested} ({})",
            h.id,
            h.describe()
        ),
        (None, None) => format!("{state} is not locked"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_times_out_naming_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.db");
        let first = acquire(&state, "apply", Duration::ZERO).unwrap();
        let err = acquire(&state, "state rm", Duration::from_millis(120)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&first.info().id), "{msg}");
        assert!(msg.contains("`apply`"), "{msg}");
        assert!(msg.contains(&format!("pid {}", std::process::id())), "{msg}");
        drop(first);
        let second = acquire(&state, "state rm", Duration::ZERO).unwrap();
        assert_eq!(read_holder(&lock_path(&state)).unwrap(), *second.info());
        assert!(!state.exists(), "taking the lock must not create the state");
    }

    #[test]
    fn waiter_gets_the_lock_once_released() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.db");
        let first = acquire(&state, "apply", Duration::ZERO).unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(first);
        });
        let started = Instant::now();
        let second = acquire(&state, "refresh", Duration::from_secs(10)).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(90));
        assert_eq!(second.info().operation, "refresh");
        releaser.join().unwrap();
    }

    #[test]
    fn release_clears_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.db");
        drop(acquire(&state, "apply", Duration::ZERO).unwrap());
        assert_eq!(read_holder(&lock_path(&state)), None);
        assert_eq!(std::fs::metadata(lock_path(&state)).unwrap().len(), 0);
    }

    #[test]
    fn force_unlock_table() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.db");
        let lock = lock_path(&state);

        // Nothing locked, no lock file.
        let err = force_unlock(&state, "x").unwrap_err();
        assert!(err.to_string().ends_with("is not locked"), "{err}");

        // A live holder: refused whatever the ID.
        let live = acquire(&state, "apply", Duration::ZERO).unwrap();
        let err = force_unlock(&state, &live.info().id).unwrap_err();
        assert!(err.to_string().contains("held by a live process"), "{err}");
        let err = force_unlock(&state, "other").unwrap_err();
        assert!(err.to_string().contains("not other"), "{err}");
        let live_info = live.info().clone();
        abandon(live);
        assert_eq!(read_holder(&lock).unwrap(), live_info);

        // Stale record, wrong ID: refused and kept.
        let err = force_unlock(&state, "other").unwrap_err();
        assert!(err.to_string().contains("not locked"), "{err}");
        assert!(read_holder(&lock).is_some());

        // Stale record, right ID: cleared.
        let done = force_unlock(&state, &live_info.id).unwrap();
        assert_eq!(done.stale, live_info);
        assert_eq!(read_holder(&lock), None);
    }

    /// Closes the lock file without clearing the record, as the kernel does for a killed process.
    fn abandon(mut guard: LockGuard) {
        drop(guard.file.take());
    }
}
