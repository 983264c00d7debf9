//! Board bindings: log segments handed to JS as external ArrayBuffers over the mapping, the
//! owner's writer handle, and the run reader. Conversion and error mapping only.

// napi registers these functions at load time; a `cargo test` build sees no caller.
#![cfg_attr(test, allow(dead_code))]

use crate::errors::{to_napi, IntoNapi};
use ambervault_core::board::{self, logfile, reader, writer};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::path::PathBuf;
use std::sync::Arc;

/// Create segment `seq` of `writer` in `runDir` and return it as an ArrayBuffer over the
/// memory mapping (no copy: JS writes records straight into the file's pages).
#[napi]
pub fn board_create_segment<'env>(
    env: &'env Env,
    run_dir: String,
    writer: String,
    seq: u32,
    min_size: u32,
) -> Result<ArrayBuffer<'env>> {
    let mut seg = logfile::create_segment(
        &PathBuf::from(run_dir),
        &writer,
        seq as u64,
        min_size as usize,
    )
    .napi()?;
    let (ptr, len) = (seg.map.as_mut_ptr(), seg.map.len());
    // SAFETY: the mapping (and its lock) moves into the finalizer, so it lives exactly as long as
    // the buffer.
    unsafe { ArrayBuffer::from_external(env, ptr, len, seg, |_, seg| drop(seg)) }
}

/// The owner of a run: its writer thread and lock.
#[napi]
pub struct BoardOwner {
    inner: Option<writer::BoardWriter>,
    shared: Arc<writer::Shared>,
}

#[napi]
impl BoardOwner {
    /// Create or resume the run folder (replaying a killed run first) and start the writer.
    #[napi(constructor)]
    pub fn new(run_dir: String, metadata_json: String) -> Result<Self> {
        let w = board::create_run(&PathBuf::from(run_dir), &metadata_json).napi()?;
        Ok(BoardOwner {
            shared: w.shared(),
            inner: Some(w),
        })
    }

    /// Resolves once `writer` is committed up to segment `seq`, byte `offset`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn flush(&self, writer: String, seq: u32, offset: f64) -> AsyncTask<WaitOwner> {
        AsyncTask::new(WaitOwner {
            shared: self.shared.clone(),
            writer,
            pos: logfile::position(seq as u64, offset as u64),
        })
    }

    /// Store everything, stop the writer thread, record the status; idempotent.
    #[napi]
    pub fn finish(&mut self, status: String, exit_code: Option<i32>) -> Result<()> {
        match self.inner.take() {
            Some(mut w) => w.finish(&status, exit_code.map(i64::from)).napi(),
            None => Ok(()),
        }
    }
}

pub struct WaitOwner {
    shared: Arc<writer::Shared>,
    writer: String,
    pos: u64,
}

impl Task for WaitOwner {
    type Output = ();
    type JsValue = ();
    fn compute(&mut self) -> Result<()> {
        self.shared
            .wait_committed(&self.writer, self.pos)
            .map_err(to_napi)
    }
    fn resolve(&mut self, _env: Env, _out: ()) -> Result<()> {
        Ok(())
    }
}

pub struct WaitExternal {
    run_dir: PathBuf,
    writer: String,
    pos: u64,
    timeout_ms: u64,
}

impl Task for WaitExternal {
    type Output = ();
    type JsValue = ();
    fn compute(&mut self) -> Result<()> {
        board::wait_committed_external(&self.run_dir, &self.writer, self.pos, self.timeout_ms)
            .map_err(to_napi)
    }
    fn resolve(&mut self, _env: Env, _out: ()) -> Result<()> {
        Ok(())
    }
}

/// For attached writers: resolves once the run's owner has stored `writer` up to the position.
#[napi(ts_return_type = "Promise<void>")]
pub fn board_wait_committed(
    run_dir: String,
    writer: String,
    seq: u32,
    offset: f64,
    timeout_ms: u32,
) -> AsyncTask<WaitExternal> {
    AsyncTask::new(WaitExternal {
        run_dir: PathBuf::from(run_dir),
        writer,
        pos: logfile::position(seq as u64, offset as u64),
        timeout_ms: timeout_ms as u64,
    })
}

/// Same wait, blocking (for exit hooks, where no promise can settle).
#[napi]
pub fn board_wait_committed_sync(
    run_dir: String,
    writer: String,
    seq: u32,
    offset: f64,
    timeout_ms: u32,
) -> Result<()> {
    board::wait_committed_external(
        &PathBuf::from(run_dir),
        &writer,
        logfile::position(seq as u64, offset as u64),
        timeout_ms as u64,
    )
    .napi()
}

/// Delete the log segments of a writer whose records are all stored.
#[napi]
pub fn board_release_writer(run_dir: String, writer: String) -> Result<()> {
    board::release_writer(&PathBuf::from(run_dir), &writer).napi()
}

/// Throws unless `runDir` is a run that is currently running.
#[napi]
pub fn board_check_attachable(run_dir: String) -> Result<()> {
    board::check_attachable(&PathBuf::from(run_dir)).napi()
}

/// Runs under `baseDir` as JSON `[{ runDir, project, metadata }]`.
#[napi]
pub fn board_list_runs(base_dir: String, project: Option<String>) -> Result<String> {
    let runs = reader::list_runs(&PathBuf::from(base_dir), project.as_deref()).napi()?;
    let v: Vec<serde_json::Value> = runs
        .into_iter()
        .map(|r| serde_json::json!({ "runDir": r.run_dir.to_string_lossy(), "project": r.project, "metadata": r.metadata }))
        .collect();
    Ok(serde_json::Value::Array(v).to_string())
}

#[napi(object)]
pub struct ScalarSeries {
    pub step: Float64Array,
    pub global_step: Float64Array,
    pub timestamp: Float64Array,
    pub value: Float64Array,
}

#[napi(object)]
pub struct HistogramStep {
    pub step: i64,
    pub global_step: i64,
    pub timestamp: i64,
    pub edges: Float64Array,
    pub counts: Float64Array,
    pub nan: i64,
    pub posinf: i64,
    pub neginf: i64,
}

fn as_f64(v: Vec<i64>) -> Float64Array {
    Float64Array::new(v.into_iter().map(|x| x as f64).collect())
}

/// A run opened for reading.
#[napi]
pub struct RunHandle {
    inner: reader::RunReader,
}

#[napi]
impl RunHandle {
    #[napi(constructor)]
    pub fn new(run_dir: String) -> Result<Self> {
        Ok(RunHandle {
            inner: reader::RunReader::open(&PathBuf::from(run_dir)).napi()?,
        })
    }
    #[napi]
    pub fn metadata_json(&self) -> Result<String> {
        Ok(serde_json::Value::Object(self.inner.metadata().napi()?).to_string())
    }
    #[napi]
    pub fn metrics(&mut self) -> Result<Vec<String>> {
        self.inner.metrics().napi()
    }
    /// `since`: only the points after that step; `from`: only the points from that index on.
    #[napi]
    pub fn scalars(
        &mut self,
        name: String,
        max_points: Option<u32>,
        since: Option<i64>,
        from: Option<i64>,
    ) -> Result<ScalarSeries> {
        let start = match (since, from) {
            (Some(s), _) => reader::Start::AfterStep(s),
            (None, Some(i)) => reader::Start::Index(i.max(0) as u64),
            (None, None) => reader::Start::All,
        };
        let s = self
            .inner
            .scalars_from(&name, start, max_points.map(|m| m as usize))
            .napi()?;
        Ok(ScalarSeries {
            step: as_f64(s.step),
            global_step: as_f64(s.global_step),
            timestamp: as_f64(s.timestamp),
            value: Float64Array::new(s.value),
        })
    }
    #[napi]
    pub fn histogram_names(&mut self) -> Result<Vec<String>> {
        self.inner.histogram_names().napi()
    }
    #[napi]
    pub fn histograms(&mut self, name: String) -> Result<Vec<HistogramStep>> {
        let h = self.inner.histograms(&name).napi()?;
        Ok(h.into_iter()
            .map(|e| HistogramStep {
                step: e.step,
                global_step: e.global_step,
                timestamp: e.timestamp,
                edges: Float64Array::new(e.edges),
                counts: as_f64(e.counts),
                nan: e.nan,
                posinf: e.posinf,
                neginf: e.neginf,
            })
            .collect())
    }
    /// Rows of `media`, `tables`, `tensors` or `kernel_density` for `name`, as JSON.
    #[napi]
    pub fn rows_json(&mut self, table: String, name: String) -> Result<String> {
        let rows = self.inner.rows(&table, &name).napi()?;
        Ok(
            serde_json::Value::Array(rows.into_iter().map(serde_json::Value::Object).collect())
                .to_string(),
        )
    }
    #[napi]
    pub fn names(&mut self, table: String) -> Result<Vec<String>> {
        self.inner.names(&table).napi()
    }
    #[napi]
    pub fn media_bytes(&self, key: String) -> Result<Buffer> {
        Ok(self.inner.media_bytes(&key).napi()?.into())
    }
    #[napi]
    pub fn kv_bytes(&self, kv_file: String, key: String) -> Result<Buffer> {
        Ok(self.inner.kv_bytes(&kv_file, &key).napi()?.into())
    }
    #[napi]
    pub fn output(&self) -> Result<String> {
        self.inner.output().napi()
    }
    #[napi]
    pub fn output_file(&self) -> String {
        self.inner.output_file().to_string_lossy().into_owned()
    }
    /// 2, or 1 for a folder written by 0.1 (read-only until `boardUpgradeRun`).
    #[napi]
    pub fn layout_version(&self) -> u32 {
        self.inner.layout_version()
    }
    /// Changes whenever something is stored in the run.
    #[napi]
    pub fn fingerprint(&self) -> String {
        self.inner.fingerprint()
    }
    /// Every metric's count, last point, min and max, without reading its points.
    #[napi]
    pub fn summaries(&mut self) -> Result<Vec<MetricSummary>> {
        let to_f64 = |v: Option<i64>| v.map(|x| x as f64);
        Ok(self
            .inner
            .summaries()
            .napi()?
            .into_iter()
            .map(|s| MetricSummary {
                name: s.name,
                count: s.count as f64,
                last_step: to_f64(s.last_step),
                last_global_step: to_f64(s.last_global_step),
                last_timestamp: to_f64(s.last_timestamp),
                last_value: s.last_value,
                min: s.min,
                max: s.max,
            })
            .collect())
    }
}

#[napi(object)]
pub struct MetricSummary {
    pub name: String,
    pub count: f64,
    pub last_step: Option<f64>,
    pub last_global_step: Option<f64>,
    pub last_timestamp: Option<f64>,
    pub last_value: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Convert a 0.1 run folder (a file per metric) to the current layout in place; false when
/// there was nothing to convert.
#[napi]
pub fn board_upgrade_run(run_dir: String) -> Result<bool> {
    board::upgrade_run(&PathBuf::from(run_dir)).napi()
}
