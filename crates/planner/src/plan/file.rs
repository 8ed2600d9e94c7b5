//! The saved plan: its JSON document with a digest of everything `apply` acts on, read back
//! only when the digest still matches, and written only over a file that is a plan.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Plan, FORMAT_VERSION};

/// How the digest is written: the algorithm, then the hex.
/// What every digest starts with, naming its hash.
pub const DIGEST_PREFIX: &str = "sha256:";

/// The digest of a plan document, single or fleet: `sha256:` and the hex SHA-256 of `value`'s
/// compact JSON, hashed as it is serialised (a fleet's document is never held whole for it).
pub fn digest_of(value: &impl Serialize) -> String {
    let mut hasher = Hashing(Sha256::new());
    // Hashing cannot fail, nor can serialising a plan (its maps have string keys).
    let _ = serde_json::to_writer(&mut hasher, value);
    format!("{DIGEST_PREFIX}{}", hex::encode(hasher.0.finalize()))
}

/// [`digest_of`] a value whose compact JSON is at hand.
pub fn digest_of_json(compact: &[u8]) -> String {
    format!("{DIGEST_PREFIX}{}", hex::encode(Sha256::digest(compact)))
}

/// Feeds what is written to a hasher.
struct Hashing(Sha256);

impl std::io::Write for Hashing {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Why a plan file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a pai-provision plan ({why})", path.display())]
    NotAPlan { path: PathBuf, why: String },
    #[error(
        "{}: the plan's format is version {found}, newer than this pai-provision reads ({supported}); \
         apply it with the version that made it",
        path.display()
    )]
    NewerFormat { path: PathBuf, found: u64, supported: u32 },
    #[error(
        "{}: the plan's format is version {found}, which records neither the state and account it was made for \
         nor a digest of its changes; plan again with this pai-provision (format {supported})",
        path.display()
    )]
    OlderFormat { path: PathBuf, found: u64, supported: u32 },
    #[error(
        "{}: the plan was edited after `plan` saved it (its digest does not match its contents); nothing was \
         done. Apply only what was reviewed: plan again",
        path.display()
    )]
    Edited { path: PathBuf },
    #[error(
        "{}: exists and is not a plan ({why}); `plan --out` replaces only a saved plan. Choose another file",
        path.display()
    )]
    WouldReplace { path: PathBuf, why: String },
}

/// The document: the plan's fields, what it would do (derived from `summary`, so outside the
/// digest and dropped on reading), then its digest.
#[derive(Serialize)]
struct Sealed<'a> {
    #[serde(flatten)]
    plan: &'a Plan,
    would: super::Would,
    digest: String,
}

impl Plan {
    /// Hex SHA-256 of the plan's compact JSON: every field, in the order of the type, so the
    /// same plan always has the same digest and an edit to anything `apply` reads changes it.
    /// Unknown fields are not in it: a reader drops them, so they cannot be acted on. It is the
    /// `digest` field of the saved document, which `apply --expect-digest` compares.
    pub fn digest(&self) -> String {
        digest_of(self)
    }

    /// The JSON document: what `--out` saves and, through `render::json`, what `--format json`
    /// prints. It lives here rather than in `render` because `save` writes it and `plan` must
    /// not depend on `render`.
    pub(crate) fn to_json(&self) -> String {
        let sealed = Sealed {
            plan: self,
            would: self.summary.would(),
            digest: self.digest(),
        };
        let mut s = serde_json::to_string_pretty(&sealed).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Reads a plan document, refusing other documents, other formats and a plan whose digest
    /// does not match its contents.
    pub fn from_json(text: &str, path: &Path) -> Result<Plan, PlanFileError> {
        let not_a_plan = |why: String| PlanFileError::NotAPlan {
            path: path.to_owned(),
            why,
        };
        let mut value: serde_json::Value = serde_json::from_str(text).map_err(|e| not_a_plan(e.to_string()))?;
        if value.get("fleet_path").is_some() {
            return Err(not_a_plan(
                "it is a fleet plan: apply it with `pai-provision fleet apply`".into(),
            ));
        }
        let version = format_version(&value).ok_or_else(|| not_a_plan("no `format_version`".into()))?;
        if version > u64::from(FORMAT_VERSION) {
            return Err(PlanFileError::NewerFormat {
                path: path.to_owned(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if version < u64::from(FORMAT_VERSION) {
            return Err(PlanFileError::OlderFormat {
                path: path.to_owned(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let recorded = value
            .as_object_mut()
            .and_then(|o| o.remove("digest"))
            .and_then(|d| d.as_str().map(str::to_owned))
            .ok_or_else(|| not_a_plan("no `digest`".into()))?;
        let plan: Plan = serde_json::from_value(value).map_err(|e| not_a_plan(e.to_string()))?;
        if plan.digest() != recorded {
            return Err(PlanFileError::Edited { path: path.to_owned() });
        }
        Ok(plan)
    }

    pub fn load(path: &Path) -> Result<Plan, PlanFileError> {
        let text = std::fs::read_to_string(path).map_err(|e| PlanFileError::Io {
            path: path.to_owned(),
            source: e,
        })?;
        Plan::from_json(&text, path)
    }

    /// Writes the JSON document ([`write_document`]): `--out` pointed at the state or the
    /// manifest by mistake must not destroy it.
    pub fn save(&self, path: &Path) -> Result<(), PlanFileError> {
        write_document(path, &self.to_json()).map_err(|e| match e {
            WriteError::Io(source) => PlanFileError::Io {
                path: path.to_owned(),
                source,
            },
            WriteError::WouldReplace(why) => PlanFileError::WouldReplace {
                path: path.to_owned(),
                why,
            },
        })
    }
}

/// Why a plan document was not written.
#[derive(Debug)]
pub enum WriteError {
    Io(std::io::Error),
    /// Something that is not a plan is at the path; why not.
    WouldReplace(String),
}

/// Writes a plan document (a plan, or a fleet plan) atomically: a temporary file beside it,
/// synced, then renamed over it. Only over nothing or over a plan document of any kind and
/// format version (JSON with a `format_version`): anything else at the path is kept. The file
/// is its owner's alone (0600 on Unix), and no more open than the plan it replaces: a plan
/// names the accounts, what they buy and where the orders go.
pub fn write_document(path: &Path, text: &str) -> Result<(), WriteError> {
    write_document_with(path, |out| out.write_all(text.as_bytes()))
}

/// [`write_document`], the document written by `write` into the temporary file: a fleet plan
/// of 10,000 accounts need not be held as one string.
pub fn write_document_with(
    path: &Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    let replaced = replaceable(path)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4()));
    let written = private_file(replaced.as_ref())
        .open(&temp)
        .and_then(|file| {
            let mut out = std::io::BufWriter::new(file);
            write(&mut out)?;
            out.into_inner().map_err(std::io::IntoInnerError::into_error)
        })
        .and_then(|file| file.sync_all())
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.map_err(WriteError::Io)
}

fn format_version(value: &serde_json::Value) -> Option<u64> {
    value.get("format_version").and_then(serde_json::Value::as_u64)
}

/// A new file for a plan: created here (never an existing one reused), readable and writable
/// by its owner only, and by them only as far as the plan it replaces allowed.
fn private_file(replaced: Option<&std::fs::Metadata>) -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(replaced.map_or(0o600, |meta| 0o600 & meta.permissions().mode()));
    }
    #[cfg(not(unix))]
    let _ = replaced;
    options
}

/// Whether `path` may be replaced by a plan: it does not exist (`None`), or it is a plan
/// document of any kind and format version (an old plan is replaced by a new one; its
/// metadata is returned).
fn replaceable(path: &Path) -> Result<Option<std::fs::Metadata>, WriteError> {
    let would_replace = |why: &str| WriteError::WouldReplace(why.to_owned());
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(WriteError::Io(e)),
    };
    if !meta.is_file() {
        return Err(would_replace("not a regular file"));
    }
    // Read as a stream, keeping only the version: an old fleet plan can be hundreds of megabytes.
    #[derive(serde::Deserialize)]
    struct Versioned {
        format_version: Option<serde::de::IgnoredAny>,
    }
    let file = std::fs::File::open(path).map_err(WriteError::Io)?;
    match serde_json::from_reader::<_, Versioned>(std::io::BufReader::new(file)) {
        Ok(Versioned {
            format_version: Some(_),
        }) => Ok(Some(meta)),
        Ok(Versioned { format_version: None }) => Err(would_replace("JSON without a `format_version`")),
        Err(e) if e.is_io() => Err(WriteError::Io(e.into())),
        Err(e) if e.is_data() => Err(would_replace("JSON without a `format_version`")),
        Err(_) => Err(would_replace("not JSON")),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::write_document;

    #[test]
    fn a_plan_file_is_its_owners_alone_and_never_wider_than_the_one_it_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        let mode = || std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        let plan = "{\"format_version\": 1}\n";
        for (before, after) in [
            (None, 0o600),
            (Some(0o644), 0o600),
            (Some(0o600), 0o600),
            (Some(0o400), 0o400),
        ] {
            if let Some(before) = before {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(before)).unwrap();
            }
            write_document(&path, plan).unwrap();
            assert_eq!(mode(), after, "{before:?}");
        }
    }
}
