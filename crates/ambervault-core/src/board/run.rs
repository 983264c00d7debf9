//! The run folder (docs/format.md, Run folder): creating it, `metadata.json`, the owner lock and
//! `logs/writer.log`.
//!
//! Ownership: the process that runs the writer thread holds an exclusive advisory lock on
//! `.owner.lock` for its whole life. The kernel drops the lock when that process dies in any way
//! (kill -9 included), so "lock is free but status says running" means the owner is gone.

use crate::error::{Error, Result};
use serde_json::{Map, Value};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const METADATA_FILE: &str = "metadata.json";
const LOCK_FILE: &str = ".owner.lock";

/// Held by the owner of a run; dropping it releases the lock.
pub struct OwnerLock {
    _file: File,
}

/// Take the owner lock of `run_dir` if no live process holds it.
pub fn try_lock_owner(run_dir: &Path) -> Result<Option<OwnerLock>> {
    let path = run_dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::from(e).context(path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(OwnerLock { _file: file })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::from(e).context(path.display())),
    }
}

/// Create the run folder layout. A `baseDir` that exists as a file is an I/O error naming it.
pub fn create_layout(run_dir: &Path) -> Result<()> {
    for sub in super::layout::FOLDERS {
        let p = run_dir.join(sub);
        std::fs::create_dir_all(&p).map_err(|e| Error::from(e).context(p.display()))?;
    }
    Ok(())
}

pub fn read_metadata(run_dir: &Path) -> Result<Map<String, Value>> {
    let path = run_dir.join(METADATA_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::not_found(format!(
                "{}: no run here (metadata.json missing)",
                run_dir.display()
            ))
        } else {
            Error::from(e).context(path.display())
        }
    })?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(Error::corrupt(format!(
            "{}: not a JSON object",
            path.display()
        ))),
    }
}

/// Merge `patch` into metadata.json (creating it), written to a temp file and renamed so a
/// reader never sees half a file.
pub fn update_metadata(run_dir: &Path, patch: Map<String, Value>) -> Result<Map<String, Value>> {
    let mut meta = match read_metadata(run_dir) {
        Ok(m) => m,
        Err(e) if e.kind == crate::ErrorKind::NotFound => Map::new(),
        Err(e) => return Err(e),
    };
    meta.extend(patch);
    let path = run_dir.join(METADATA_FILE);
    let tmp: PathBuf = run_dir.join(format!(".{METADATA_FILE}.{}.tmp", std::process::id()));
    let text = serde_json::to_string_pretty(&Value::Object(meta.clone()))
        .map_err(|e| Error::invalid(format!("metadata: {e}")))?;
    std::fs::write(&tmp, text).map_err(|e| Error::from(e).context(tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::from(e).context(path.display()))?;
    Ok(meta)
}

pub fn status_patch(status: &str, exit_code: Option<i64>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("status".into(), Value::from(status));
    if status != "running" {
        m.insert("finishedAt".into(), Value::from(now_iso()));
    }
    if let Some(c) = exit_code {
        m.insert("exitCode".into(), Value::from(c));
    }
    m
}

/// Append one line to `logs/writer.log`. Diagnostics must never fail the caller.
pub fn writer_log(run_dir: &Path, msg: &str) {
    let path = run_dir.join("logs").join("writer.log");
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) {
        let _ = writeln!(f, "{} {msg}", now_iso());
    }
}

/// UTC time as ISO 8601 with milliseconds, without a date crate.
pub fn now_iso() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // civil_from_days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_is_exclusive_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let a = try_lock_owner(dir.path()).unwrap();
        assert!(a.is_some());
        drop(a);
        assert!(try_lock_owner(dir.path()).unwrap().is_some());
    }

    #[test]
    fn metadata_merges() {
        let dir = tempfile::tempdir().unwrap();
        update_metadata(dir.path(), status_patch("running", None)).unwrap();
        let m = update_metadata(dir.path(), status_patch("finished", Some(0))).unwrap();
        assert_eq!(m["status"], "finished");
        assert_eq!(read_metadata(dir.path()).unwrap()["exitCode"], 0);
        assert!(now_iso().ends_with('Z'));
    }
}
