//! The read side: listing runs and reading one, also while it is being written (WAL readers).
//! Opening a run whose owner is gone replays its logs first (see `claim`); a run whose replay
//! fails still opens, with what is stored, and says why in `logs/writer.log`. Folders of layout 1
//! (0.1's file per metric) are read through `legacy.rs`, read-only.

use super::layout::{self, HISTOGRAM, POINT_FIELDS, SCALAR};
use super::{claim, dbfile, legacy, run};
use crate::col::{find_column, fixed, tx};
use crate::conn::{self, OpenOptions};
use crate::error::{Error, Result};
use rusqlite::{Connection, OptionalExtension};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

pub struct RunInfo {
    pub run_dir: PathBuf,
    pub project: String,
    pub metadata: Map<String, Value>,
}

/// Runs under `base_dir` (optionally one project), oldest first.
pub fn list_runs(base_dir: &Path, project: Option<&str>) -> Result<Vec<RunInfo>> {
    let mut out = Vec::new();
    let Ok(projects) = std::fs::read_dir(base_dir) else {
        return Ok(out);
    };
    for p in projects.flatten() {
        let pname = p.file_name().to_string_lossy().to_string();
        if project.is_some_and(|want| want != pname) || !p.path().is_dir() {
            continue;
        }
        let Ok(runs) = std::fs::read_dir(p.path()) else {
            continue;
        };
        for r in runs.flatten() {
            let dir = r.path();
            if !dir.join(run::METADATA_FILE).exists() {
                continue;
            }
            let _ = settle(&dir);
            if let Ok(metadata) = run::read_metadata(&dir) {
                out.push(RunInfo {
                    run_dir: dir,
                    project: pname.clone(),
                    metadata,
                });
            }
        }
    }
    out.sort_by(|a, b| {
        let k = |r: &RunInfo| {
            r.metadata
                .get("createdAt")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        k(a).cmp(&k(b))
    });
    Ok(out)
}

/// Replay a run left `running` by an owner that is gone; a live run is left alone, and so is a
/// run of layout 1 (read-only: `amber upgrade` converts it). A replay that fails is reported in
/// writer.log and the run is read as it is stored.
fn settle(run_dir: &Path) -> Result<()> {
    let running = run::read_metadata(run_dir)?
        .get("status")
        .and_then(Value::as_str)
        == Some("running");
    if running && layout::version_of(run_dir) == layout::LAYOUT_VERSION {
        if let Err(e) = claim(run_dir) {
            run::writer_log(run_dir, &format!("replay on open failed: {e}"));
        }
    }
    Ok(())
}

/// Scalars of one metric; `step`, `global_step` and `timestamp` (ms) are exact integers.
#[derive(Debug, Default, PartialEq)]
pub struct Scalars {
    pub step: Vec<i64>,
    pub global_step: Vec<i64>,
    pub timestamp: Vec<i64>,
    pub value: Vec<f64>,
}

#[derive(Debug)]
pub struct HistogramEntry {
    pub step: i64,
    pub global_step: i64,
    pub timestamp: i64,
    pub edges: Vec<f64>,
    pub counts: Vec<i64>,
    pub nan: i64,
    pub posinf: i64,
    pub neginf: i64,
}

/// Where a scalar read starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Start {
    All,
    /// From the point at this index (0-based, in storage order).
    Index(u64),
    /// The points logged after this step: the tail of the metric whose steps are all greater.
    AfterStep(i64),
}

/// What the store keeps about a metric without reading its points.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub name: String,
    pub count: u64,
    pub last_step: Option<i64>,
    pub last_global_step: Option<i64>,
    pub last_timestamp: Option<i64>,
    /// NaN when the last value was NaN (SQLite keeps NaN as NULL).
    pub last_value: Option<f64>,
    /// Over the values that are not NaN.
    pub min: Option<f64>,
    pub max: Option<f64>,
}

pub struct RunReader {
    pub run_dir: PathBuf,
    version: u32,
    /// Layout 2: the store; layout 1: data/metadata.db. Opened on first use.
    db: Option<Connection>,
}

fn ro() -> OpenOptions {
    OpenOptions {
        readonly: true,
        ..Default::default()
    }
}

impl RunReader {
    pub fn open(run_dir: &Path) -> Result<Self> {
        run::read_metadata(run_dir)?;
        settle(run_dir)?;
        Ok(RunReader {
            run_dir: run_dir.to_path_buf(),
            version: layout::version_of(run_dir),
            db: None,
        })
    }

    /// 2, or 1 for a folder written by 0.1 (read-only).
    pub fn layout_version(&self) -> u32 {
        self.version
    }

    pub fn metadata(&self) -> Result<Map<String, Value>> {
        run::read_metadata(&self.run_dir)
    }

    /// The run's database (None while it has none yet).
    fn db(&mut self) -> Result<Option<&Connection>> {
        if self.db.is_none() {
            let path = if self.version == 1 {
                legacy::metadata_path(&self.run_dir)
            } else {
                layout::store_path(&self.run_dir)
            };
            if !path.exists() {
                return Ok(None);
            }
            self.db = Some(conn::open(&path, &ro())?);
        }
        Ok(self.db.as_ref())
    }

    /// A token that changes whenever something is stored in the run (its store commits): a live
    /// view compares it to skip reading a run that did not change.
    pub fn fingerprint(&self) -> String {
        let stat = |p: PathBuf| {
            std::fs::metadata(p).map_or_else(
                |_| "-".to_string(),
                |m| {
                    let t = m
                        .modified()
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_nanos());
                    format!("{}:{t}", m.len())
                },
            )
        };
        let files = if self.version == 1 {
            legacy::fingerprint_paths(&self.run_dir)
        } else {
            let store = layout::store_path(&self.run_dir);
            vec![store.clone(), wal_of(&store)]
        };
        files.into_iter().map(stat).collect::<Vec<_>>().join("|")
    }

    /// Scalar metric names, in byte order.
    pub fn metrics(&mut self) -> Result<Vec<String>> {
        if self.version == 1 {
            return legacy::metrics(&self.run_dir);
        }
        let Some(c) = self.db()? else {
            return Ok(Vec::new());
        };
        let mut st = c.prepare_cached("SELECT name FROM series WHERE kind = ? ORDER BY name")?;
        let names = st
            .query_map([SCALAR], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(names)
    }

    /// Every metric's summary (count, last point, min and max), in name order.
    pub fn summaries(&mut self) -> Result<Vec<Summary>> {
        if self.version == 1 {
            return legacy::summaries(&self.run_dir);
        }
        let Some(c) = self.db()? else {
            return Ok(Vec::new());
        };
        let mut st = c.prepare_cached(
            "SELECT name, count, last_step, last_global_step, last_timestamp, last_value, min, max
             FROM series WHERE kind = ? ORDER BY name",
        )?;
        let rows = st.query_map([SCALAR], |r| {
            let count: i64 = r.get(1)?;
            let last_value: Option<f64> = r.get(5)?;
            Ok(Summary {
                name: r.get(0)?,
                count: count.max(0) as u64,
                last_step: r.get(2)?,
                last_global_step: r.get(3)?,
                last_timestamp: r.get(4)?,
                last_value: last_value.or((count > 0).then_some(f64::NAN)),
                min: r.get(6)?,
                max: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn scalars(&mut self, name: &str, max_points: Option<usize>) -> Result<Scalars> {
        self.scalars_from(name, Start::All, max_points)
    }

    /// The points of a metric from `start` on (then downsampled to `max_points`). Only the new
    /// tail is read, so polling a live metric costs what was added since.
    pub fn scalars_from(
        &mut self,
        name: &str,
        start: Start,
        max_points: Option<usize>,
    ) -> Result<Scalars> {
        let s = if self.version == 1 {
            legacy::scalars_from(&self.run_dir, name, start)?
        } else {
            let run_dir = self.run_dir.clone();
            let missing =
                || Error::not_found(format!("metric {name} in run {}", run_dir.display()));
            let c = self.db()?.ok_or_else(missing)?;
            tx::read_tx(c, |c| read_points(c, &run_dir, name, start))?.ok_or_else(missing)?
        };
        Ok(match max_points {
            Some(m) if s.value.len() > m => downsample(&s, m),
            _ => s,
        })
    }

    pub fn histogram_names(&mut self) -> Result<Vec<String>> {
        if self.version == 1 {
            return names_of(self.db()?, "SELECT name FROM histograms ORDER BY name", &[]);
        }
        names_of(
            self.db()?,
            "SELECT name FROM series WHERE kind = ? ORDER BY name",
            &[HISTOGRAM],
        )
    }

    pub fn histograms(&mut self, name: &str) -> Result<Vec<HistogramEntry>> {
        let run_dir = self.run_dir.clone();
        let missing = || Error::not_found(format!("histogram {name} in run {}", run_dir.display()));
        if self.version == 1 {
            return legacy::histograms(&self.run_dir, name)?.ok_or_else(missing);
        }
        let Some(c) = self.db()? else {
            return Err(missing());
        };
        let mut st = c.prepare_cached(
            "SELECT h.step, h.global_step, h.timestamp, h.edges, h.counts, h.nan, h.posinf, h.neginf
             FROM histograms h JOIN series s ON s.id = h.series
             WHERE s.kind = ? AND s.name = ? ORDER BY h.rowid",
        )?;
        let rows = st.query_map([HISTOGRAM, name], |r| {
            Ok(HistogramEntry {
                step: r.get(0)?,
                global_step: r.get(1)?,
                timestamp: r.get(2)?,
                edges: f64s(&r.get::<_, Vec<u8>>(3)?),
                counts: i64s(&r.get::<_, Vec<u8>>(4)?),
                nan: r.get(5)?,
                posinf: r.get(6)?,
                neginf: r.get(7)?,
            })
        })?;
        let out: Vec<HistogramEntry> = rows.collect::<rusqlite::Result<_>>()?;
        if out.is_empty() {
            return Err(missing());
        }
        Ok(out)
    }

    /// Rows of a table for `name` as JSON objects (media, tables, tensors, kernel_density),
    /// ordered by step.
    pub fn rows(&mut self, table: &str, name: &str) -> Result<Vec<Map<String, Value>>> {
        check_table(table)?;
        let Some(c) = self.db()? else {
            return Ok(Vec::new());
        };
        let mut st = c.prepare_cached(&format!(
            "SELECT * FROM {table} WHERE name = ? ORDER BY step, id"
        ))?;
        let cols: Vec<String> = st.column_names().iter().map(|s| s.to_string()).collect();
        let rows = st.query_map([name], |r| {
            let mut m = Map::new();
            for (i, cname) in cols.iter().enumerate() {
                let v = match r.get_ref(i)? {
                    rusqlite::types::ValueRef::Null => Value::Null,
                    rusqlite::types::ValueRef::Integer(x) => Value::from(x),
                    rusqlite::types::ValueRef::Real(x) => Value::from(x),
                    rusqlite::types::ValueRef::Text(t) => {
                        Value::from(String::from_utf8_lossy(t).to_string())
                    }
                    rusqlite::types::ValueRef::Blob(_) => Value::Null,
                };
                m.insert(cname.clone(), v);
            }
            Ok(m)
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Names present in one of the tables.
    pub fn names(&mut self, table: &str) -> Result<Vec<String>> {
        check_table(table)?;
        names_of(
            self.db()?,
            &format!("SELECT DISTINCT name FROM {table} ORDER BY name"),
            &[],
        )
    }

    /// Stored media bytes by key (`<sha256>.<format>`).
    pub fn media_bytes(&self, key: &str) -> Result<Vec<u8>> {
        dbfile::kv_get(&layout::blobs_path(&self.run_dir), key.as_bytes())?
            .ok_or_else(|| Error::not_found(format!("media {key} in {}", self.run_dir.display())))
    }

    /// .npy bytes of a tensor or KDE row (`kv_file` relative to the run).
    pub fn kv_bytes(&self, kv_file: &str, key: &str) -> Result<Vec<u8>> {
        if kv_file.contains("..") || Path::new(kv_file).is_absolute() {
            return Err(Error::invalid(format!(
                "kv file {kv_file} leaves the run folder"
            )));
        }
        dbfile::kv_get(&self.run_dir.join(kv_file), key.as_bytes())?
            .ok_or_else(|| Error::not_found(format!("{key} in {kv_file}")))
    }

    /// The run's captured output (it only grows).
    pub fn output_file(&self) -> PathBuf {
        layout::output_path(&self.run_dir)
    }

    pub fn output(&self) -> Result<String> {
        match std::fs::read_to_string(layout::output_path(&self.run_dir)) {
            Ok(s) => Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(Error::from(e).context(layout::OUTPUT_FILE)),
        }
    }
}

fn wal_of(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}

fn check_table(table: &str) -> Result<()> {
    if ["media", "tables", "tensors", "kernel_density"].contains(&table) {
        Ok(())
    } else {
        Err(Error::invalid(format!("unknown run table {table}")))
    }
}

/// Points per backward read when looking for the first point after a step.
const BACKWARD_POINTS: u64 = 4096;

/// The points of scalar series `name` from `start` on, in one read transaction (None when the
/// run has no such metric).
fn read_points(
    c: &Connection,
    run_dir: &Path,
    name: &str,
    start: Start,
) -> Result<Option<Scalars>> {
    let id: Option<i64> = c
        .prepare_cached("SELECT id FROM series WHERE kind = ? AND name = ?")?
        .query_row([SCALAR, name], |r| r.get(0))
        .optional()?;
    let Some(id) = id else { return Ok(None) };
    let label = run_dir.display().to_string();
    let col = find_column(c, &label, &layout::series_column(id))?
        .ok_or_else(|| Error::corrupt(format!("{label}: metric {name:?} has no column")))?;
    let m = col.fixed()?;
    let fields = POINT_FIELDS as u64;
    let n = crate::col::meta::length(c, m.col_id, &m.name)? / fields;
    let read = |from: u64, to: u64| -> Result<Vec<f64>> {
        let mut bytes = vec![0u8; ((to - from) * fields * 8) as usize];
        fixed::read(c, m, from * fields, &mut bytes)?;
        Ok(f64s(&bytes))
    };
    let from = match start {
        Start::All => 0,
        Start::Index(i) => i.min(n),
        Start::AfterStep(since) => {
            // Backwards in blocks, so a live poll reads about as many points as were added.
            let mut end = n;
            let mut first = 0;
            while end > 0 {
                let lo = end.saturating_sub(BACKWARD_POINTS);
                let block = read(lo, end)?;
                if let Some(k) = block
                    .chunks_exact(POINT_FIELDS)
                    .rposition(|p| p[0] as i64 <= since)
                {
                    first = lo + k as u64 + 1;
                    break;
                }
                end = lo;
            }
            first
        }
    };
    let points = read(from, n)?;
    let mut s = Scalars::default();
    for p in points.chunks_exact(POINT_FIELDS) {
        s.step.push(p[0] as i64);
        s.global_step.push(p[1] as i64);
        s.timestamp.push(p[2] as i64);
        s.value.push(p[3]);
    }
    Ok(Some(s))
}

fn names_of(c: Option<&Connection>, sql: &str, params: &[&str]) -> Result<Vec<String>> {
    let Some(c) = c else { return Ok(Vec::new()) };
    let mut st = c.prepare_cached(sql)?;
    let v = st
        .query_map(rusqlite::params_from_iter(params), |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

pub(super) fn i64s(b: &[u8]) -> Vec<i64> {
    b.chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect()
}
pub(super) fn f64s(b: &[u8]) -> Vec<f64> {
    b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect()
}

/// Keep at most `max` points: split into `max / 2` buckets and keep each bucket's minimum and
/// maximum (in step order), so spikes survive. NaN/±Inf points are kept when they are a bucket's
/// only extremes is not needed: a non-finite value is always kept, since it is what a user looks for.
pub fn downsample(s: &Scalars, max: usize) -> Scalars {
    let n = s.value.len();
    // Two points are the series' ends, kept so a line ends where the metric does (and a live
    // chart resumes after its real last step); the others are two extremes per bucket.
    let buckets = (max.saturating_sub(2) / 2).max(1);
    let mut keep: Vec<usize> = Vec::with_capacity(max);
    for b in 0..buckets {
        let (lo, hi) = (b * n / buckets, ((b + 1) * n / buckets).min(n));
        if lo >= hi {
            continue;
        }
        let (mut imin, mut imax) = (lo, lo);
        let mut special = None;
        for i in lo..hi {
            let v = s.value[i];
            if !v.is_finite() {
                special.get_or_insert(i);
                continue;
            }
            if !s.value[imin].is_finite() || v < s.value[imin] {
                imin = i;
            }
            if !s.value[imax].is_finite() || v > s.value[imax] {
                imax = i;
            }
        }
        let mut idx = vec![imin, imax];
        if let Some(sp) = special {
            idx.push(sp);
        }
        idx.sort_unstable();
        idx.dedup();
        keep.extend(idx);
    }
    if n > 0 {
        if keep.first() != Some(&0) {
            keep.insert(0, 0);
        }
        if keep.last() != Some(&(n - 1)) {
            keep.push(n - 1);
        }
    }
    let pick_i = |v: &Vec<i64>| keep.iter().map(|&i| v[i]).collect();
    Scalars {
        step: pick_i(&s.step),
        global_step: pick_i(&s.global_step),
        timestamp: pick_i(&s.timestamp),
        value: keep.iter().map(|&i| s.value[i]).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsample_keeps_spikes() {
        let n = 10_000;
        let mut s = Scalars::default();
        for i in 0..n {
            s.step.push(i);
            s.global_step.push(0);
            s.timestamp.push(0);
            s.value.push(if i == 4321 {
                1e9
            } else if i == 777 {
                -1e9
            } else {
                (i as f64).sin()
            });
        }
        let d = downsample(&s, 100);
        assert!(d.value.len() <= 100);
        assert!(d.value.contains(&1e9) && d.value.contains(&-1e9));
        assert!(d.step.windows(2).all(|w| w[0] < w[1]));
    }
}
