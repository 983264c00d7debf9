//! Board: non-blocking, kill-safe experiment logging into run folders (docs/format.md, Run folder).
//!
//! - `layout`: the files and tables of a run folder (layout 2); `legacy`: reading and upgrading
//!   0.1's folders (layout 1).
//! - `logfile`: the memory-mapped, append-only log segments that `log()` writes into.
//! - `records`: the record layouts inside a segment.
//! - `batch`: a burst's scalars gathered per metric; `classify`: what a payload record becomes;
//!   `output`: captured stdout/stderr.
//! - `drain` + `store`: reading logs from the committed positions into the run's store, one
//!   transaction per burst (`dbfile`: creating database files complete).
//! - `writer`: the owner's writer thread; `run`: metadata.json, the owner lock, writer.log.
//! - `payloads`: histogram bins, PNG, .npy, kernel density, content hashes.
//! - `reader`: the read side (list runs, scalars with downsampling, media, tables, tensors).

pub(crate) mod batch;
pub(crate) mod classify;
pub(crate) mod dbfile;
pub(crate) mod drain;
pub(crate) mod layout;
pub(crate) mod legacy;
pub mod logfile;
pub(crate) mod output;
pub(crate) mod payloads;
pub mod reader;
pub mod records;
pub(crate) mod run;
pub(crate) mod store;
pub mod writer;

use crate::error::{Error, Result};
use std::path::Path;

/// Take ownership of a run if no live process owns it. A run left `running` by an owner that is
/// gone (killed) is first replayed from its committed positions and marked `killed`.
/// `Ok(None)` means a live owner holds the run.
pub fn claim(run_dir: &Path) -> Result<Option<run::OwnerLock>> {
    let Some(lock) = run::try_lock_owner(run_dir)? else {
        return Ok(None);
    };
    let status = run::read_metadata(run_dir)
        .ok()
        .and_then(|m| m.get("status").and_then(|s| s.as_str()).map(str::to_string));
    if legacy::is_legacy(run_dir) {
        // 0.1's folders are converted before anything is stored or replayed into them.
        legacy::upgrade(run_dir)?;
    }
    if status.as_deref() == Some("running") {
        replay(run_dir)?;
        run::update_metadata(run_dir, run::status_patch("killed", None))?;
        run::writer_log(
            run_dir,
            "owner was gone: run replayed from its logs and marked killed",
        );
    }
    Ok(Some(lock))
}

/// Store everything the logs hold past the committed positions. The caller holds the lock.
pub fn replay(run_dir: &Path) -> Result<usize> {
    if !run_dir.join("wal").exists() {
        return Ok(0);
    }
    let mut d = drain::Drainer::open(run_dir)?;
    let n = d.drain_all()?;
    d.close()?;
    Ok(n)
}

/// Create (or resume) the run folder and start its writer. `metadata` is the JSON object the
/// caller wants in metadata.json; status and timestamps are added here.
pub fn create_run(run_dir: &Path, metadata: &str) -> Result<writer::BoardWriter> {
    let patch: serde_json::Map<String, serde_json::Value> = serde_json::from_str(metadata)
        .map_err(|e| Error::invalid(format!("run metadata is not a JSON object: {e}")))?;
    run::create_layout(run_dir)?;
    let lock = claim(run_dir)?.ok_or_else(|| {
        Error::invalid(format!(
            "{}: run is owned by another live Board (use Board.attach to log into it)",
            run_dir.display()
        ))
    })?;
    let mut meta = patch;
    let existing = run::read_metadata(run_dir).ok();
    if existing.as_ref().and_then(|m| m.get("createdAt")).is_none() {
        meta.insert("createdAt".into(), run::now_iso().into());
    }
    meta.insert("status".into(), "running".into());
    meta.insert("layoutVersion".into(), layout::LAYOUT_VERSION.into());
    meta.insert("exitCode".into(), serde_json::Value::Null);
    meta.insert("finishedAt".into(), serde_json::Value::Null);
    run::update_metadata(run_dir, meta)?;
    writer::BoardWriter::start(run_dir, lock)
}

/// Convert a run folder of layout 1 to layout 2 in place (`amber upgrade`). False when there was
/// nothing to convert; an `InvalidArgument` error while a live process owns the run.
pub fn upgrade_run(run_dir: &Path) -> Result<bool> {
    run::read_metadata(run_dir)?;
    let _lock = run::try_lock_owner(run_dir)?.ok_or_else(|| {
        Error::invalid(format!(
            "{}: run is being written by a live process; upgrade it once that ends",
            run_dir.display()
        ))
    })?;
    legacy::upgrade(run_dir)
}

/// Delete a writer's log segments once everything it wrote is stored (its `flush`/`finish`
/// returned and it writes no more), so a finished run folder holds only the SQLite files.
/// Best effort: a segment still mapped elsewhere (Windows) stays until the next cleanup.
pub fn release_writer(run_dir: &Path, writer: &str) -> Result<()> {
    if writer.is_empty() || writer.contains(['/', '\\']) || writer.contains("..") {
        return Err(Error::invalid(format!(
            "writer id {writer:?} is not a plain name"
        )));
    }
    let _ = std::fs::remove_dir_all(logfile::writer_dir(run_dir, writer));
    Ok(())
}

/// Check that a run exists and is running, for `Board.attach`.
pub fn check_attachable(run_dir: &Path) -> Result<()> {
    let meta = run::read_metadata(run_dir)?;
    match meta.get("status").and_then(|s| s.as_str()) {
        Some("running") => Ok(()),
        other => Err(Error::invalid(format!(
            "{}: cannot attach to a run whose status is {}",
            run_dir.display(),
            other.unwrap_or("unknown")
        ))),
    }
}

/// For writers without a writer thread (attached loggers): wait until the owner committed
/// `writer` up to `pos`. If the owner is gone, store the logs ourselves.
pub fn wait_committed_external(
    run_dir: &Path,
    writer: &str,
    pos: u64,
    timeout_ms: u64,
) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(timeout_ms);
    loop {
        let committed = store::committed_position(run_dir, writer)?;
        if committed.is_some_and(|p| p >= pos) {
            return Ok(());
        }
        if let Some(_lock) = run::try_lock_owner(run_dir)? {
            replay(run_dir)?;
            continue;
        }
        if std::time::Instant::now() > deadline {
            return Err(Error::io(format!(
                "{}: the run's owner did not store writer {writer} in {timeout_ms} ms",
                run_dir.display()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
