//! The writer thread of a run's owner: tails every log of the run, stores bursts, publishes what
//! is committed so `flush()` can wait for it, and sleeps adaptively when there is nothing to do.

use super::drain::Drainer;
use super::run::{self, OwnerLock};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

const IDLE_MIN: Duration = Duration::from_millis(1);
const IDLE_MAX: Duration = Duration::from_millis(200);
/// After a burst, how long more records may gather before the next one (unless a flush waits or
/// the logs hold a backlog). Every burst rewrites a few pages per file it touches whatever its
/// size, so many tiny bursts cost far more disk writes than a few large ones.
const BURST_GATHER: Duration = Duration::from_millis(20);

#[derive(Default)]
struct State {
    stop: bool,
    wake: bool,
    committed: HashMap<String, u64>,
    /// Writers whose log cannot be read (see `Drainer::stalled`): their flush fails.
    stalled: HashMap<String, Error>,
    /// Bumped on every failed burst, so waiters can tell a failure happened while they waited.
    errors: u64,
    last_error: Option<Error>,
}

/// What the writer thread and the callers of `flush()` share.
#[derive(Default)]
pub struct Shared {
    state: Mutex<State>,
    cv: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere; the state itself stays consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Block until `writer` is committed up to `pos`. Fails if a burst fails meanwhile.
    pub fn wait_committed(&self, writer: &str, pos: u64) -> Result<()> {
        let mut st = self.lock();
        let errors_at_start = st.errors;
        st.wake = true;
        self.cv.notify_all();
        loop {
            if st.committed.get(writer).is_some_and(|&p| p >= pos) {
                return Ok(());
            }
            if let Some(e) = st.stalled.get(writer) {
                return Err(e.clone().context("flush"));
            }
            if st.errors > errors_at_start {
                let e = st
                    .last_error
                    .clone()
                    .unwrap_or_else(|| Error::io("writer failed"));
                return Err(e.context("flush"));
            }
            if st.stop {
                return Err(Error::closed("board writer is stopped"));
            }
            st = self
                .cv
                .wait_timeout(st, Duration::from_millis(50))
                .map(|r| r.0)
                .unwrap_or_else(|p| p.into_inner().0);
            st.wake = true;
        }
    }
}

pub struct BoardWriter {
    run_dir: PathBuf,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Result<()>>>,
    _lock: OwnerLock,
}

impl BoardWriter {
    /// Start the writer of a run whose owner lock the caller holds.
    pub fn start(run_dir: &Path, lock: OwnerLock) -> Result<Self> {
        let drainer = Drainer::open(run_dir)?;
        let shared = Arc::new(Shared::default());
        let s2 = shared.clone();
        let dir = run_dir.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("ambervault-board-writer".into())
            .spawn(move || writer_loop(&dir, &s2, drainer))
            .map_err(|e| Error::io(format!("cannot start the board writer thread: {e}")))?;
        Ok(BoardWriter {
            run_dir: run_dir.to_path_buf(),
            shared,
            thread: Some(thread),
            _lock: lock,
        })
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Drain everything, stop the thread, and record the final status in metadata.json.
    pub fn finish(&mut self, status: &str, exit_code: Option<i64>) -> Result<()> {
        {
            let mut st = self.shared.lock();
            st.stop = true;
            self.shared.cv.notify_all();
        }
        let result = match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(Error::io("board writer thread panicked"))),
            None => Ok(()),
        };
        if let Err(e) = &result {
            run::writer_log(
                &self.run_dir,
                &format!("final drain failed, left in the logs for replay: {e}"),
            );
        }
        run::update_metadata(&self.run_dir, run::status_patch(status, exit_code))?;
        result
    }
}

impl Drop for BoardWriter {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.finish("finished", None);
        }
    }
}

/// Show (or clear) a writer failure in metadata.json, so a run that cannot store says so.
fn report_error(run_dir: &Path, error: Option<&Error>) {
    let mut patch = serde_json::Map::new();
    patch.insert("writerError".into(), error.map(|e| e.to_string()).into());
    let _ = run::update_metadata(run_dir, patch);
}

fn writer_loop(run_dir: &Path, shared: &Shared, mut drainer: Drainer) -> Result<()> {
    let mut idle = IDLE_MIN;
    let mut failures_at_stop = 0;
    let mut failing = false;
    loop {
        let result = drainer.drain_once();
        let mut st = shared.lock();
        match result {
            Ok(n) => {
                if failing {
                    failing = false;
                    report_error(run_dir, None);
                    run::writer_log(run_dir, "writer recovered");
                }
                st.committed = drainer.committed();
                st.stalled = drainer.stalled().clone();
                shared.cv.notify_all();
                if n > 0 {
                    if st.stop || st.wake || drainer.backlog() {
                        idle = IDLE_MIN;
                        st.wake = false;
                        continue;
                    }
                    idle = BURST_GATHER;
                } else if st.stop {
                    break;
                }
            }
            Err(e) => {
                run::writer_log(run_dir, &format!("burst failed (will retry): {e}"));
                if st.last_error.as_ref() != Some(&e) {
                    report_error(run_dir, Some(&e));
                }
                failing = true;
                st.errors += 1;
                st.last_error = Some(e.clone());
                shared.cv.notify_all();
                if st.stop {
                    failures_at_stop += 1;
                    if failures_at_stop >= 3 {
                        return Err(e);
                    }
                }
                idle = IDLE_MAX;
            }
        }
        if !st.wake {
            st = shared
                .cv
                .wait_timeout(st, idle)
                .map(|r| r.0)
                .unwrap_or_else(|p| p.into_inner().0);
            idle = if idle == BURST_GATHER {
                IDLE_MIN
            } else {
                (idle * 2).min(IDLE_MAX)
            };
        }
        st.wake = false;
    }
    drainer.close()
}
