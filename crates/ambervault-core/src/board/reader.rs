//! The read side: listing runs and reading one, also while it is being written (WAL readers).
//! Opening a run whose owner is gone replays its logs first (see `claim`).

use super::sink::{self, ColumnFile};
use super::store::{self, histogram_path, metric_path};
use super::{claim, run};
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

/// Replay a run left `running` by an owner that is gone; a live run is left alone.
fn settle(run_dir: &Path) -> Result<()> {
    let running = run::read_metadata(run_dir)?
        .get("status")
        .and_then(Value::as_str)
        == Some("running");
    if running {
        drop(claim(run_dir)?);
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

/// Index of the first point of the metric's tail whose steps are all `> since`, read backwards
/// in chunks so a live poll reads only about as many steps as were added.
fn first_after_step(c: &ColumnFile, n: u64, since: i64) -> Result<u64> {
    const CHUNK: u64 = 4096;
    let mut end = n;
    while end > 0 {
        let lo = end.saturating_sub(CHUNK);
        let steps = i64s(&c.read("step", lo, end)?);
        if let Some(k) = steps.iter().rposition(|&s| s <= since) {
            return Ok(lo + k as u64 + 1);
        }
        end = lo;
    }
    Ok(0)
}

pub struct RunReader {
    pub run_dir: PathBuf,
    meta_db: Option<Connection>,
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
            meta_db: None,
        })
    }

    pub fn metadata(&self) -> Result<Map<String, Value>> {
        run::read_metadata(&self.run_dir)
    }

    fn meta_db(&mut self) -> Result<Option<&Connection>> {
        if self.meta_db.is_none() {
            let path = self.run_dir.join("data/metadata.db");
            if !path.exists() {
                return Ok(None);
            }
            self.meta_db = Some(conn::open(&path, &ro())?);
        }
        Ok(self.meta_db.as_ref())
    }

    /// Scalar metric names ('__' in file names shown as '/').
    pub fn metrics(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = std::fs::read_dir(self.run_dir.join("data/metrics"))
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        Some(
                            e.file_name()
                                .to_str()?
                                .strip_suffix(".db")?
                                .replace("__", "/"),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        Ok(names)
    }

    pub fn scalars(&self, name: &str, max_points: Option<usize>) -> Result<Scalars> {
        self.scalars_from(name, Start::All, max_points)
    }

    /// The points of a metric from `start` on (then downsampled to `max_points`). Only the new
    /// tail is read from SQLite, so polling a live metric costs what was added since.
    pub fn scalars_from(
        &self,
        name: &str,
        start: Start,
        max_points: Option<usize>,
    ) -> Result<Scalars> {
        let path = metric_path(&self.run_dir, name);
        if !path.exists() {
            return Err(Error::not_found(format!(
                "metric {name} in run {}",
                self.run_dir.display()
            )));
        }
        let c = ColumnFile::open_readonly(&path)?;
        // The four columns grow in one transaction; reading up to `value`'s length keeps them
        // aligned even if a burst commits between the reads.
        let n = c.len("value")?;
        let from = match start {
            Start::All => 0,
            Start::Index(i) => i.min(n),
            Start::AfterStep(since) => first_after_step(&c, n, since)?,
        };
        if from >= n {
            return Ok(Scalars::default());
        }
        let s = Scalars {
            step: i64s(&c.read("step", from, n)?),
            global_step: i64s(&c.read("global_step", from, n)?),
            timestamp: i64s(&c.read("timestamp", from, n)?),
            value: f64s(&c.read("value", from, n)?),
        };
        Ok(match max_points {
            Some(m) if s.value.len() > m => downsample(&s, m),
            _ => s,
        })
    }

    pub fn histogram_names(&mut self) -> Result<Vec<String>> {
        names_of(self.meta_db()?, "SELECT name FROM histograms ORDER BY name")
    }

    pub fn histograms(&self, name: &str) -> Result<Vec<HistogramEntry>> {
        let path = histogram_path(&self.run_dir, name);
        if !path.exists() {
            return Err(Error::not_found(format!(
                "histogram {name} in run {}",
                self.run_dir.display()
            )));
        }
        let c = ColumnFile::open_readonly(&path)?;
        let col = |s: &str| format!("{name}:{s}");
        let rows = c.len(&col("bins"))?;
        if rows == 0 {
            return Err(Error::not_found(format!(
                "histogram {name} in run {}",
                self.run_dir.display()
            )));
        }
        let read_i = |s: &str| -> Result<Vec<i64>> { Ok(i64s(&c.read(&col(s), 0, rows)?)) };
        let (step, gs, ts, nan, pi, ni, bins) = (
            read_i("step")?,
            read_i("global_step")?,
            read_i("timestamp")?,
            read_i("nan")?,
            read_i("posinf")?,
            read_i("neginf")?,
            read_i("bins")?,
        );
        let n: u64 = bins.iter().map(|&b| b as u64).sum();
        let counts = i64s(&c.read(&col("counts"), 0, n)?);
        let edges = f64s(&c.read(&col("edges"), 0, n + rows)?);
        let mut out = Vec::with_capacity(rows as usize);
        let (mut co, mut eo) = (0usize, 0usize);
        for i in 0..rows as usize {
            let b = bins[i] as usize;
            let (Some(cs), Some(es)) = (counts.get(co..co + b), edges.get(eo..eo + b + 1)) else {
                return Err(Error::corrupt(format!(
                    "histogram {name}: bins beyond stored counts"
                )));
            };
            out.push(HistogramEntry {
                step: step[i],
                global_step: gs[i],
                timestamp: ts[i],
                edges: es.to_vec(),
                counts: cs.to_vec(),
                nan: nan[i],
                posinf: pi[i],
                neginf: ni[i],
            });
            co += b;
            eo += b + 1;
        }
        Ok(out)
    }

    /// Rows of a metadata.db table for `name` as JSON objects (media, tables, tensors,
    /// kernel_density), ordered by step.
    pub fn rows(&mut self, table: &str, name: &str) -> Result<Vec<Map<String, Value>>> {
        if !["media", "tables", "tensors", "kernel_density"].contains(&table) {
            return Err(Error::invalid(format!("unknown run table {table}")));
        }
        let Some(c) = self.meta_db()? else {
            return Ok(Vec::new());
        };
        let mut st = c.prepare(&format!(
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

    /// Names present in one of the metadata.db tables.
    pub fn names(&mut self, table: &str) -> Result<Vec<String>> {
        if !["media", "tables", "tensors", "kernel_density"].contains(&table) {
            return Err(Error::invalid(format!("unknown run table {table}")));
        }
        names_of(
            self.meta_db()?,
            &format!("SELECT DISTINCT name FROM {table} ORDER BY name"),
        )
    }

    /// Stored media bytes by key (`<sha256>.<format>`).
    pub fn media_bytes(&self, key: &str) -> Result<Vec<u8>> {
        sink::kv_get(&store::blobs_path(&self.run_dir), key.as_bytes())?
            .ok_or_else(|| Error::not_found(format!("media {key} in {}", self.run_dir.display())))
    }

    /// .npy bytes of a tensor or KDE row (`kv_file` relative to the run).
    pub fn kv_bytes(&self, kv_file: &str, key: &str) -> Result<Vec<u8>> {
        if kv_file.contains("..") {
            return Err(Error::invalid(format!(
                "kv file {kv_file} leaves the run folder"
            )));
        }
        sink::kv_get(&self.run_dir.join(kv_file), key.as_bytes())?
            .ok_or_else(|| Error::not_found(format!("{key} in {kv_file}")))
    }

    pub fn output(&self) -> Result<String> {
        match std::fs::read_to_string(self.run_dir.join("logs/output.log")) {
            Ok(s) => Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(Error::from(e).context("logs/output.log")),
        }
    }
}

fn names_of(c: Option<&Connection>, sql: &str) -> Result<Vec<String>> {
    let Some(c) = c else { return Ok(Vec::new()) };
    let exists: Option<i64> = c
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE name = 'histograms'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_none() {
        return Ok(Vec::new());
    }
    let mut st = c.prepare(sql)?;
    let v = st
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

fn i64s(b: &[u8]) -> Vec<i64> {
    b.chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect()
}
fn f64s(b: &[u8]) -> Vec<f64> {
    b.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect()
}

/// Keep at most `max` points: split into `max / 2` buckets and keep each bucket's minimum and
/// maximum (in step order), so spikes survive. NaN/±Inf points are kept when they are a bucket's
/// only extremes is not needed: a non-finite value is always kept, since it is what a user looks for.
pub fn downsample(s: &Scalars, max: usize) -> Scalars {
    let n = s.value.len();
    let buckets = (max / 2).max(1);
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

    #[test]
    fn scalars_from_starts_at_an_index_or_after_a_step() {
        use super::sink::ColType;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        run::create_layout(dir).unwrap();
        run::update_metadata(dir, run::status_patch("finished", Some(0))).unwrap();
        // 10,000 points (more than one backward chunk); step 7 appears twice (a repeated step).
        let steps: Vec<i64> = (0..10_000).map(|i| if i > 7 { i - 1 } else { i }).collect();
        let le_i = |v: &[i64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let values: Vec<u8> = (0..10_000)
            .flat_map(|i| (i as f64 * 0.5).to_le_bytes())
            .collect();
        let zeros = le_i(&vec![0; 10_000]);
        let mut c = ColumnFile::open_for_writing(&metric_path(dir, "m")).unwrap();
        c.append(
            &[
                ("step", ColType::I64, &le_i(&steps)),
                ("global_step", ColType::I64, &zeros),
                ("timestamp", ColType::I64, &zeros),
                ("value", ColType::F64, &values),
            ],
            |_| Ok(()),
        )
        .unwrap();
        drop(c);
        let r = RunReader::open(dir).unwrap();
        let all = r.scalars("m", None).unwrap();
        assert_eq!(all.value.len(), 10_000);
        let tail = r.scalars_from("m", Start::Index(9_990), None).unwrap();
        assert_eq!(tail.value, all.value[9_990..].to_vec());
        assert_eq!(tail.step, all.step[9_990..].to_vec());
        assert!(r
            .scalars_from("m", Start::Index(10_000), None)
            .unwrap()
            .value
            .is_empty());
        assert!(r
            .scalars_from("m", Start::Index(99_999), None)
            .unwrap()
            .value
            .is_empty());
        // After step 6: both points of step 7 and everything later.
        let after = r.scalars_from("m", Start::AfterStep(6), None).unwrap();
        assert_eq!(after.step[..3], [7, 7, 8]);
        assert_eq!(after.value.len(), 10_000 - 7);
        // Far back (crosses chunks) and before the first step.
        let back = r.scalars_from("m", Start::AfterStep(100), None).unwrap();
        assert_eq!(back.step[0], 101);
        assert_eq!(back.value, all.value[102..].to_vec());
        assert_eq!(
            r.scalars_from("m", Start::AfterStep(-1), None).unwrap(),
            all
        );
        assert!(r
            .scalars_from("m", Start::AfterStep(9_998), None)
            .unwrap()
            .value
            .is_empty());
        let ds = r
            .scalars_from("m", Start::AfterStep(100), Some(50))
            .unwrap();
        assert!(ds.value.len() <= 50 && ds.step[0] > 100);
        assert_eq!(
            r.scalars_from("nope", Start::Index(0), None)
                .unwrap_err()
                .kind,
            crate::ErrorKind::NotFound
        );
    }
}
