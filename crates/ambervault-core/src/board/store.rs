//! Run storage: where each decoded record lands (FORMAT.md, Run folder), written one transaction
//! per file per burst.
//!
//! Exactly once across files: `data/metadata.db` holds each writer's committed position and is
//! committed last in a burst. Column files (metrics, histograms) are not idempotent, so each keeps
//! `board_applied(writer, pos)` inside the same transaction as its rows; a burst replayed after a
//! crash between two commits skips the records a file already has. KV writes (media blobs,
//! tensors) are upserts keyed by content or step, so replaying them is harmless.

use super::batch::{MetricRows, ScalarBatches};
use super::payloads::{self, Bins};
use super::records::{Stamp, Subkind};
use super::sink::{self, ColType, ColumnFile};
use crate::conn::{self, OpenOptions};
use crate::error::{Error, Result};
use crate::kv::{Encoding, KvOptions, KvStore};
use rusqlite::{params, Connection};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Largest media payload accepted (the TS layer checks it first; this guards replayed logs).
pub const MAX_MEDIA_BYTES: usize = 256 << 20;

const META_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS steps(step INTEGER NOT NULL, global_step INTEGER NOT NULL,
    timestamp INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS media(id INTEGER PRIMARY KEY, step INTEGER NOT NULL,
    global_step INTEGER NOT NULL, timestamp INTEGER NOT NULL, name TEXT NOT NULL,
    idx INTEGER NOT NULL DEFAULT 0, media_hash TEXT NOT NULL, format TEXT NOT NULL,
    type TEXT NOT NULL, caption TEXT, width INTEGER, height INTEGER, size INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS media_by_name ON media(name, step);
CREATE TABLE IF NOT EXISTS tables(id INTEGER PRIMARY KEY, step INTEGER NOT NULL,
    global_step INTEGER NOT NULL, timestamp INTEGER NOT NULL, name TEXT NOT NULL,
    columns TEXT NOT NULL, column_types TEXT NOT NULL, rows TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tables_by_name ON tables(name, step);
CREATE TABLE IF NOT EXISTS tensors(id INTEGER PRIMARY KEY, step INTEGER NOT NULL,
    global_step INTEGER NOT NULL, timestamp INTEGER NOT NULL, name TEXT NOT NULL,
    kv_file TEXT NOT NULL, kv_key TEXT NOT NULL, dtype TEXT NOT NULL, shape TEXT NOT NULL,
    metadata TEXT);
CREATE INDEX IF NOT EXISTS tensors_by_name ON tensors(name, step);
CREATE TABLE IF NOT EXISTS kernel_density(id INTEGER PRIMARY KEY, step INTEGER NOT NULL,
    global_step INTEGER NOT NULL, timestamp INTEGER NOT NULL, name TEXT NOT NULL,
    kv_file TEXT NOT NULL, kv_key TEXT NOT NULL, points INTEGER NOT NULL,
    bandwidth REAL NOT NULL, count INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS kde_by_name ON kernel_density(name, step);
CREATE TABLE IF NOT EXISTS histograms(name TEXT PRIMARY KEY, namespace TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS board_writers(writer TEXT PRIMARY KEY, pos INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS board_names(writer TEXT NOT NULL, id INTEGER NOT NULL,
    name TEXT NOT NULL, PRIMARY KEY(writer, id));
";
/// The columns of a metric file (FORMAT.md, Run folder).
const METRIC_COLUMNS: [(&str, ColType); 4] = [
    ("step", ColType::I64),
    ("global_step", ColType::I64),
    ("timestamp", ColType::I64),
    ("value", ColType::F64),
];
const APPLIED_SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS board_applied(writer TEXT PRIMARY KEY, pos INTEGER NOT NULL)";

/// File-name form of a metric name ('/' becomes '__').
pub fn file_stem(name: &str) -> String {
    name.replace('/', "__")
}
pub fn metric_path(run_dir: &Path, name: &str) -> PathBuf {
    run_dir
        .join("data/metrics")
        .join(format!("{}.db", file_stem(name)))
}
/// Histograms are grouped by the first path component of their name.
pub fn histogram_namespace(name: &str) -> String {
    file_stem(name.split('/').next().unwrap_or(name))
}
pub fn histogram_path(run_dir: &Path, name: &str) -> PathBuf {
    run_dir
        .join("data/histograms")
        .join(format!("{}.db", histogram_namespace(name)))
}
pub fn tensor_path(run_dir: &Path, name: &str) -> PathBuf {
    run_dir
        .join("data/tensors")
        .join(format!("{}.db", file_stem(name)))
}
pub fn blobs_path(run_dir: &Path) -> PathBuf {
    run_dir.join("media/blobs.db")
}

pub fn open_metadata_db(run_dir: &Path) -> Result<Connection> {
    let c = conn::open(&run_dir.join("data/metadata.db"), &OpenOptions::default())?;
    c.execute_batch(META_SCHEMA)?;
    Ok(c)
}

/// A writer's committed position and its interned metric names.
pub type WriterProgress = (String, u64, Vec<(u32, String)>);

/// One payload record (histogram, media, table, tensor, density, output) ready to store.
pub struct Entry {
    pub writer: usize,
    pub pos: u64,
    pub stamp: Stamp,
    pub name: String,
    pub subkind: Subkind,
    pub meta: Value,
    pub data: Vec<u8>,
}

/// What one drain of the logs produced.
#[derive(Default)]
pub struct Burst {
    /// Writer ids and the position each has been read up to.
    pub writers: Vec<(String, u64)>,
    pub names: Vec<(usize, u32, String)>,
    /// Stamps of the scalar records that take a row in `steps`.
    pub steps: Vec<Stamp>,
    pub entries: Vec<Entry>,
    /// Indexes of the writers whose log was read to its end.
    pub at_end: Vec<usize>,
}

struct ColumnTarget {
    file: ColumnFile,
    applied: HashMap<String, u64>,
    /// `Store::clock` when last used, to close the least recently used file.
    used: u64,
}

/// Histogram columns of one name inside its namespace file.
#[derive(Default)]
struct HistRows {
    rows: MetricRows, // value column unused; step/global_step/timestamp
    nan: Vec<u8>,
    posinf: Vec<u8>,
    neginf: Vec<u8>,
    bins: Vec<u8>,
    edges: Vec<u8>,
    counts: Vec<u8>,
}

pub struct Store {
    run_dir: PathBuf,
    meta: Connection,
    columns: HashMap<PathBuf, ColumnTarget>,
    clock: u64,
    /// Most column files kept open at once (`descriptors::open_file_budget`).
    max_open: usize,
    /// Files opened during the current burst, newest last: the ones to close first when the
    /// budget is reached (see `make_room`).
    opened_this_burst: Vec<PathBuf>,
    /// Column files opened so far (tests check files within the budget stay open).
    #[cfg(test)]
    files_opened: u64,
    kv: HashMap<PathBuf, KvStore>,
    /// Partial output lines per (writer, stream), waiting for their newline.
    pending_output: HashMap<(usize, bool), String>,
}

impl Store {
    /// Open the run's storage as its owner (the caller holds the owner lock).
    pub fn open(run_dir: &Path) -> Result<Self> {
        let meta_path = run_dir.join("data/metadata.db");
        if !meta_path.exists() {
            // Someone else creating it meanwhile is fine: the schema is the same.
            sink::create_db_complete(&meta_path, |c| {
                c.execute_batch(META_SCHEMA)?;
                Ok(c)
            })?;
        }
        Ok(Store {
            run_dir: run_dir.to_path_buf(),
            meta: open_metadata_db(run_dir)?,
            columns: HashMap::new(),
            clock: 0,
            max_open: super::descriptors::open_file_budget(),
            opened_this_burst: Vec::new(),
            #[cfg(test)]
            files_opened: 0,
            kv: HashMap::new(),
            pending_output: HashMap::new(),
        })
    }

    /// Lower the bound on open column files (tests exercise closing without 2,048 files).
    #[cfg(test)]
    pub fn set_max_open_files(&mut self, n: usize) {
        self.max_open = n.max(1);
    }

    /// Committed positions and interned names of every writer known to this run.
    pub fn load_progress(&self) -> Result<Vec<WriterProgress>> {
        let mut st = self.meta.prepare("SELECT writer, pos FROM board_writers")?;
        let writers: Vec<(String, i64)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::new();
        let mut names = self
            .meta
            .prepare("SELECT id, name FROM board_names WHERE writer = ?")?;
        for (w, pos) in writers {
            let n: Vec<(u32, String)> = names
                .query_map([&w], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            out.push((w, pos as u64, n));
        }
        Ok(out)
    }

    /// The open column file at `path` (it must exist).
    fn column_file(&mut self, path: &Path) -> Result<&mut ColumnTarget> {
        self.clock += 1;
        if !self.columns.contains_key(path) {
            if self.columns.len() >= self.max_open {
                self.make_room();
            }
            self.opened_this_burst.push(path.to_path_buf());
            #[cfg(test)]
            {
                self.files_opened += 1;
            }
            let file = ColumnFile::open_for_writing(path)?;
            let applied = file.with_conn(|c| {
                c.execute_batch(APPLIED_SCHEMA)?;
                let mut st = c.prepare("SELECT writer, pos FROM board_applied")?;
                let rows = st.query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
                })?;
                Ok(rows.collect::<rusqlite::Result<HashMap<_, _>>>()?)
            })?;
            self.columns.insert(
                path.to_path_buf(),
                ColumnTarget {
                    file,
                    applied,
                    used: 0,
                },
            );
        }
        let f = self.columns.get_mut(path).expect("inserted above");
        f.used = self.clock;
        Ok(f)
    }

    /// Positions up to which the column file at `path` holds each writer's records (none for a
    /// file not created yet).
    fn applied(&mut self, path: &Path) -> Result<HashMap<String, u64>> {
        if !self.columns.contains_key(path) && !path.exists() {
            return Ok(HashMap::new());
        }
        Ok(self.column_file(path)?.applied.clone())
    }

    /// One transaction on a column file: the rows plus the writers' new applied positions. A
    /// file that does not exist yet is built complete with these first rows and renamed in.
    fn commit_columns(
        &mut self,
        path: &Path,
        new_cols: &[(&str, ColType)],
        touched: &[usize],
        writers: &[(String, u64)],
        cols: &[(&str, ColType, &[u8])],
    ) -> Result<()> {
        let record = |c: &Connection| -> Result<()> {
            let mut st =
                c.prepare_cached("INSERT OR REPLACE INTO board_applied(writer, pos) VALUES (?,?)")?;
            for &w in touched {
                st.execute(params![writers[w].0, writers[w].1 as i64])?;
            }
            Ok(())
        };
        if !self.columns.contains_key(path) && !path.exists() {
            return ColumnFile::create_complete(path, new_cols, APPLIED_SCHEMA, |f| {
                f.append(cols, record)
            });
        }
        let many_open = self.columns.len() >= RELEASE_CACHE_FROM;
        let f = self.column_file(path)?;
        f.file
            .append(cols, record)
            .map_err(|e| e.context(path.display()))?;
        for &w in touched {
            f.applied.insert(writers[w].0.clone(), writers[w].1);
        }
        if many_open {
            // Thousands of open files each keeping ten 32 KiB pages cached was gigabytes of
            // RSS; the next burst reads its few pages back from the OS cache instead.
            f.file
                .with_conn(|c| Ok(c.execute_batch("PRAGMA shrink_memory")?))?;
        }
        Ok(())
    }

    /// Close one column file. A burst touching more files than the budget would, with plain
    /// LRU, close every file before the next burst needs it again and reopen all of them each
    /// burst; instead the file opened last in this burst goes first (it is done for this burst),
    /// so the files that fit stay open across bursts and only the ones past the budget cycle
    /// through a slot. The least recently used file goes when none was opened in this burst.
    fn make_room(&mut self) {
        while let Some(p) = self.opened_this_burst.pop() {
            if let Some(f) = self.columns.remove(&p) {
                f.file.close_unsynced();
                return;
            }
        }
        let oldest = self
            .columns
            .iter()
            .min_by_key(|(_, f)| f.used)
            .map(|(p, _)| p.clone());
        if let Some(f) = oldest.and_then(|p| self.columns.remove(&p)) {
            f.file.close_unsynced();
        }
    }

    /// Column files open now, and opened so far.
    #[cfg(test)]
    pub fn open_files(&self) -> (usize, u64) {
        (self.columns.len(), self.files_opened)
    }

    fn kv_file(&mut self, path: &Path) -> Result<&mut KvStore> {
        if !self.kv.contains_key(path) {
            let kv = KvStore::open(path, KvOptions::default())?;
            self.kv.insert(path.to_path_buf(), kv);
        }
        Ok(self.kv.get_mut(path).expect("inserted above"))
    }

    /// Has the column file at `path` already stored the record of `writer` at `pos`?
    fn already_applied(&mut self, path: &Path, writer: &str, pos: u64) -> Result<bool> {
        Ok(self.applied(path)?.get(writer).is_some_and(|&p| pos < p))
    }

    /// Store one burst. Errors leave the committed positions where they were, so the records are
    /// read again by the next burst (or the next open).
    pub fn commit(&mut self, burst: Burst, scalars: &ScalarBatches) -> Result<()> {
        self.opened_this_burst.clear();
        let writer_ids: Vec<String> = burst.writers.iter().map(|w| w.0.clone()).collect();
        let mut hists: BTreeMap<PathBuf, (Vec<usize>, BTreeMap<String, HistRows>)> =
            BTreeMap::new();
        let mut kv_puts: BTreeMap<PathBuf, Vec<(String, Vec<u8>)>> = BTreeMap::new();
        let mut meta_rows: Vec<MetaRow> = Vec::new();
        let mut output = String::new();

        for e in burst.entries {
            let result = self.classify_payload(
                &e,
                &writer_ids,
                &mut hists,
                &mut kv_puts,
                &mut meta_rows,
                &mut output,
            );
            if let Err(err) = result {
                // One bad payload must not block the log behind it: report and move on.
                super::run::writer_log(
                    &self.run_dir,
                    &format!("dropped {} at step {}: {err}", e.name, e.stamp.step),
                );
            }
        }

        for m in scalars.touched() {
            let applied = self.applied(&m.path)?;
            let (writers, filtered) =
                m.unapplied(|w| applied.get(&writer_ids[w]).copied().unwrap_or(0));
            let rows = filtered.as_ref().unwrap_or(&m.rows);
            if rows.value.is_empty() {
                continue;
            }
            let cols: [(&str, ColType, &[u8]); 4] = [
                ("step", ColType::I64, &rows.step),
                ("global_step", ColType::I64, &rows.global_step),
                ("timestamp", ColType::I64, &rows.timestamp),
                ("value", ColType::F64, &rows.value),
            ];
            self.commit_columns(&m.path, &METRIC_COLUMNS, &writers, &burst.writers, &cols)?;
        }
        for (path, (writers, per_name)) in hists {
            let mut names: Vec<String> = Vec::new();
            for name in per_name.keys() {
                for part in [
                    "step",
                    "global_step",
                    "timestamp",
                    "nan",
                    "posinf",
                    "neginf",
                    "bins",
                    "edges",
                    "counts",
                ] {
                    names.push(format!("{name}:{part}"));
                }
            }
            let mut cols: Vec<(&str, ColType, &[u8])> = Vec::new();
            for (i, h) in per_name.values().enumerate() {
                let parts: [(ColType, &[u8]); 9] = [
                    (ColType::I64, &h.rows.step),
                    (ColType::I64, &h.rows.global_step),
                    (ColType::I64, &h.rows.timestamp),
                    (ColType::I64, &h.nan),
                    (ColType::I64, &h.posinf),
                    (ColType::I64, &h.neginf),
                    (ColType::I64, &h.bins),
                    (ColType::F64, &h.edges),
                    (ColType::I64, &h.counts),
                ];
                for (j, (t, b)) in parts.into_iter().enumerate() {
                    cols.push((&names[i * 9 + j], t, b));
                }
            }
            self.commit_columns(&path, &[], &writers, &burst.writers, &cols)?;
        }
        for (path, puts) in kv_puts {
            self.kv_file(&path)?.put_many(
                puts.iter()
                    .map(|(k, v)| (k.as_bytes(), Encoding::Raw, v.as_slice())),
            )?;
        }
        self.append_output(&output)?;

        let tx = self.meta.unchecked_transaction()?;
        {
            insert_steps(&tx, &burst.steps)?;
            for row in &meta_rows {
                row.insert(&tx)?;
            }
            let mut st = tx.prepare_cached(
                "INSERT OR REPLACE INTO board_names(writer, id, name) VALUES (?,?,?)",
            )?;
            for (w, id, name) in &burst.names {
                st.execute(params![writer_ids[*w], id, name])?;
            }
            let mut st = tx
                .prepare_cached("INSERT OR REPLACE INTO board_writers(writer, pos) VALUES (?,?)")?;
            for (w, pos) in &burst.writers {
                st.execute(params![w, *pos as i64])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn classify_payload(
        &mut self,
        e: &Entry,
        writer_ids: &[String],
        hists: &mut BTreeMap<PathBuf, (Vec<usize>, BTreeMap<String, HistRows>)>,
        kv_puts: &mut BTreeMap<PathBuf, Vec<(String, Vec<u8>)>>,
        meta_rows: &mut Vec<MetaRow>,
        output: &mut String,
    ) -> Result<()> {
        let (stamp, name, meta, data) = (&e.stamp, e.name.as_str(), &e.meta, e.data.as_slice());
        let (writer, pos, subkind) = (e.writer, e.pos, e.subkind);
        match subkind {
            Subkind::HistogramValues | Subkind::HistogramBins => {
                let bins = if subkind == Subkind::HistogramValues {
                    let range = meta
                        .get("range")
                        .and_then(|r| Some((r.get(0)?.as_f64()?, r.get(1)?.as_f64()?)));
                    let nbins = meta.get("bins").and_then(Value::as_u64).unwrap_or(64) as usize;
                    payloads::histogram(&f64s(data), nbins, range)?
                } else {
                    let all = f64s(data);
                    let n = (all.len().saturating_sub(1)) / 2;
                    if all.len() != 2 * n + 1 || n == 0 {
                        return Err(Error::corrupt(
                            "histogram bins: edges/counts sizes disagree",
                        ));
                    }
                    Bins {
                        edges: all[..=n].to_vec(),
                        counts: all[n + 1..].iter().map(|&c| c as i64).collect(),
                        nan: meta.get("nan").and_then(Value::as_i64).unwrap_or(0),
                        posinf: meta.get("posinf").and_then(Value::as_i64).unwrap_or(0),
                        neginf: meta.get("neginf").and_then(Value::as_i64).unwrap_or(0),
                    }
                };
                let path = histogram_path(&self.run_dir, name);
                if self.already_applied(&path, &writer_ids[writer], pos)? {
                    return Ok(());
                }
                let ns = histogram_namespace(name);
                meta_rows.push(MetaRow::HistogramIndex {
                    name: name.to_string(),
                    namespace: ns,
                });
                let slot = hists.entry(path).or_default();
                if !slot.0.contains(&writer) {
                    slot.0.push(writer);
                }
                let h = slot.1.entry(name.to_string()).or_default();
                h.rows.push(stamp, 0.0);
                h.nan.extend_from_slice(&bins.nan.to_le_bytes());
                h.posinf.extend_from_slice(&bins.posinf.to_le_bytes());
                h.neginf.extend_from_slice(&bins.neginf.to_le_bytes());
                h.bins
                    .extend_from_slice(&(bins.counts.len() as i64).to_le_bytes());
                for e in &bins.edges {
                    h.edges.extend_from_slice(&e.to_le_bytes());
                }
                for c in &bins.counts {
                    h.counts.extend_from_slice(&c.to_le_bytes());
                }
            }
            Subkind::Media => {
                let m = self.store_media(meta, data, kv_puts)?;
                meta_rows.push(MetaRow::Media {
                    stamp: *stamp,
                    name: name.to_string(),
                    idx: 0,
                    m,
                });
            }
            Subkind::Table => {
                // Media cells arrive as { "$media": i } pointing at meta.cells[i] (ranges of data).
                let cells = meta
                    .get("cells")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let mut stored = Vec::with_capacity(cells.len());
                for c in &cells {
                    let (off, len) = (
                        c["offset"].as_u64().unwrap_or(0) as usize,
                        c["length"].as_u64().unwrap_or(0) as usize,
                    );
                    let bytes = data
                        .get(off..off + len)
                        .ok_or_else(|| Error::corrupt("table media cell out of range"))?;
                    let m = self.store_media(c, bytes, kv_puts)?;
                    stored.push(
                        json!({ "media_hash": m.hash, "format": m.format, "type": m.kind,
                        "caption": m.caption, "width": m.width, "height": m.height }),
                    );
                }
                let mut rows = meta.get("rows").cloned().unwrap_or(Value::Array(vec![]));
                replace_media_cells(&mut rows, &stored);
                meta_rows.push(MetaRow::Table {
                    stamp: *stamp,
                    name: name.to_string(),
                    columns: meta
                        .get("columns")
                        .cloned()
                        .unwrap_or(Value::Array(vec![]))
                        .to_string(),
                    types: meta
                        .get("types")
                        .cloned()
                        .unwrap_or(Value::Array(vec![]))
                        .to_string(),
                    rows: rows.to_string(),
                });
            }
            Subkind::Tensor => {
                let dtype = meta
                    .get("dtype")
                    .and_then(Value::as_str)
                    .unwrap_or("<f4")
                    .to_string();
                let shape: Vec<u64> = meta
                    .get("shape")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default();
                let key = format!("{}", stamp.step);
                let path = tensor_path(&self.run_dir, name);
                kv_puts
                    .entry(path.clone())
                    .or_default()
                    .push((key.clone(), payloads::npy(&dtype, &shape, data)));
                meta_rows.push(MetaRow::Tensor {
                    stamp: *stamp,
                    name: name.to_string(),
                    kv_file: rel(&self.run_dir, &path),
                    kv_key: key,
                    dtype,
                    shape: json!(shape).to_string(),
                    metadata: meta.get("metadata").map(|m| m.to_string()),
                });
            }
            Subkind::KernelDensity => {
                let points = meta.get("points").and_then(Value::as_u64).unwrap_or(256) as usize;
                let bw = meta.get("bandwidth").and_then(Value::as_f64);
                let values = f64s(data);
                let (d, count) = kde_of(meta, &values, points, bw)?;
                let mut raw = Vec::with_capacity(points * 16);
                for x in d.grid.iter().chain(d.density.iter()) {
                    raw.extend_from_slice(&x.to_le_bytes());
                }
                let key = format!("kde:{}", stamp.step);
                let path = tensor_path(&self.run_dir, name);
                kv_puts
                    .entry(path.clone())
                    .or_default()
                    .push((key.clone(), payloads::npy("<f8", &[2, points as u64], &raw)));
                meta_rows.push(MetaRow::Kde {
                    stamp: *stamp,
                    name: name.to_string(),
                    kv_file: rel(&self.run_dir, &path),
                    kv_key: key,
                    points,
                    bandwidth: d.bandwidth,
                    count,
                });
            }
            Subkind::Output => {
                let stderr = meta.get("stream").and_then(Value::as_str) == Some("stderr");
                let text = String::from_utf8_lossy(data);
                let pending = self.pending_output.entry((writer, stderr)).or_default();
                collapse_output(pending, &text, stderr, output);
            }
        }
        Ok(())
    }

    fn store_media(
        &mut self,
        meta: &Value,
        data: &[u8],
        kv_puts: &mut BTreeMap<PathBuf, Vec<(String, Vec<u8>)>>,
    ) -> Result<StoredMedia> {
        if data.len() > MAX_MEDIA_BYTES {
            return Err(Error::invalid(format!(
                "media of {} bytes is over the {MAX_MEDIA_BYTES} byte limit",
                data.len()
            )));
        }
        let (bytes, width, height) = match meta.get("raw") {
            Some(r) => {
                let (w, h, c) = (
                    r["width"].as_u64().unwrap_or(0) as u32,
                    r["height"].as_u64().unwrap_or(0) as u32,
                    r["channels"].as_u64().unwrap_or(0) as u32,
                );
                (payloads::encode_png(data, w, h, c)?, Some(w), Some(h))
            }
            // Encoded bytes: the size is known only when the record says so (a synced copy of an
            // image that was logged as raw pixels).
            None => {
                let dim = |k: &str| meta.get(k).and_then(Value::as_u64).map(|d| d as u32);
                (data.to_vec(), dim("width"), dim("height"))
            }
        };
        let format = payloads::sniff_format(&bytes).to_string();
        let hash = payloads::content_hash(&bytes);
        let kind = meta
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("image")
            .to_string();
        let size = bytes.len();
        kv_puts
            .entry(blobs_path(&self.run_dir))
            .or_default()
            .push((format!("{hash}.{format}"), bytes));
        Ok(StoredMedia {
            hash,
            format,
            kind,
            caption: meta
                .get("caption")
                .and_then(Value::as_str)
                .map(str::to_string),
            width,
            height,
            size,
        })
    }

    /// Write out partial output lines (a progress bar without its final newline) at the end.
    pub fn finish_output(&mut self) -> Result<()> {
        let mut out = String::new();
        for ((_, stderr), line) in self.pending_output.drain() {
            if !line.is_empty() {
                if stderr {
                    out.push_str("[stderr] ");
                }
                out.push_str(&line);
                out.push('\n');
            }
        }
        self.append_output(&out)
    }

    /// Append captured text to `logs/output.log` (nothing to do for an empty burst).
    fn append_output(&self, text: &str) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        let path = self.run_dir.join("logs/output.log");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::from(e).context(path.display()))?;
        f.write_all(text.as_bytes())
            .map_err(|e| Error::from(e).context(path.display()))
    }

    /// Fold WAL files back into the databases (end of a run, so a copied folder is complete).
    /// A checkpoint fsyncs its WAL and its database: with thousands of metric files that is
    /// thousands of fsyncs. From `SYNC_WHOLE_FS_FROM` open files on, one syncfs makes every WAL
    /// durable, the checkpoints run without fsync, and a second syncfs makes the databases
    /// durable.
    pub fn checkpoint_all(&mut self) {
        let _ = conn::checkpoint(&self.meta);
        let whole_fs = self.columns.len() >= SYNC_WHOLE_FS_FROM && sync_filesystem(&self.run_dir);
        for f in self.columns.values() {
            if whole_fs {
                let _ = f
                    .file
                    .with_conn(|c| Ok(c.execute_batch("PRAGMA synchronous=OFF")?));
            }
            let _ = f.file.checkpoint();
        }
        if whole_fs {
            sync_filesystem(&self.run_dir);
        }
        for kv in self.kv.values_mut() {
            let _ = kv.checkpoint();
        }
    }
}

/// Open column files from which each releases its page cache after its commit.
const RELEASE_CACHE_FROM: usize = 256;

/// Open column files from which the end of a run syncs the file system instead of each file.
pub(super) const SYNC_WHOLE_FS_FROM: usize = 64;

/// Flush every dirty page of the file system holding `dir` to disk; false where that is not
/// available (then each checkpoint syncs its own file).
#[cfg(target_os = "linux")]
fn sync_filesystem(dir: &Path) -> bool {
    use std::os::fd::AsRawFd;
    let Ok(d) = std::fs::File::open(dir) else {
        return false;
    };
    // SAFETY: syncfs takes a descriptor that stays open for the call.
    unsafe { libc::syncfs(d.as_raw_fd()) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn sync_filesystem(_dir: &Path) -> bool {
    false
}

/// Rows of `steps` per INSERT: one statement per step row was a visible part of a burst of
/// small log() calls.
const STEP_ROWS_PER_INSERT: usize = 256;

fn insert_steps(c: &Connection, steps: &[Stamp]) -> Result<()> {
    let mut chunks = steps.chunks_exact(STEP_ROWS_PER_INSERT);
    if chunks.len() > 0 {
        let sql = format!(
            "INSERT INTO steps(step, global_step, timestamp) VALUES {}",
            vec!["(?,?,?)"; STEP_ROWS_PER_INSERT].join(",")
        );
        let mut st = c.prepare_cached(&sql)?;
        for chunk in chunks.by_ref() {
            for (i, s) in chunk.iter().enumerate() {
                st.raw_bind_parameter(3 * i + 1, s.step)?;
                st.raw_bind_parameter(3 * i + 2, s.global_step)?;
                st.raw_bind_parameter(3 * i + 3, s.timestamp)?;
            }
            st.raw_execute()?;
        }
    }
    let mut st =
        c.prepare_cached("INSERT INTO steps(step, global_step, timestamp) VALUES (?,?,?)")?;
    for s in chunks.remainder() {
        st.execute(params![s.step, s.global_step, s.timestamp])?;
    }
    Ok(())
}

struct StoredMedia {
    hash: String,
    format: String,
    kind: String,
    caption: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    size: usize,
}

enum MetaRow {
    HistogramIndex {
        name: String,
        namespace: String,
    },
    Media {
        stamp: Stamp,
        name: String,
        idx: i64,
        m: StoredMedia,
    },
    Table {
        stamp: Stamp,
        name: String,
        columns: String,
        types: String,
        rows: String,
    },
    Tensor {
        stamp: Stamp,
        name: String,
        kv_file: String,
        kv_key: String,
        dtype: String,
        shape: String,
        metadata: Option<String>,
    },
    Kde {
        stamp: Stamp,
        name: String,
        kv_file: String,
        kv_key: String,
        points: usize,
        bandwidth: f64,
        count: usize,
    },
}

impl MetaRow {
    fn insert(&self, c: &Connection) -> Result<()> {
        match self {
            MetaRow::HistogramIndex { name, namespace } => {
                c.prepare_cached("INSERT OR IGNORE INTO histograms(name, namespace) VALUES (?,?)")?
                    .execute(params![name, namespace])?;
            }
            MetaRow::Media {
                stamp: s,
                name,
                idx,
                m,
            } => {
                c.prepare_cached("INSERT INTO media(step, global_step, timestamp, name, idx, media_hash, format, type, caption, width, height, size) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)")?
                    .execute(params![s.step, s.global_step, s.timestamp, name, idx, m.hash, m.format, m.kind, m.caption, m.width, m.height, m.size as i64])?;
            }
            MetaRow::Table {
                stamp: s,
                name,
                columns,
                types,
                rows,
            } => {
                c.prepare_cached("INSERT INTO tables(step, global_step, timestamp, name, columns, column_types, rows) VALUES (?,?,?,?,?,?,?)")?
                    .execute(params![s.step, s.global_step, s.timestamp, name, columns, types, rows])?;
            }
            MetaRow::Tensor {
                stamp: s,
                name,
                kv_file,
                kv_key,
                dtype,
                shape,
                metadata,
            } => {
                c.prepare_cached("INSERT INTO tensors(step, global_step, timestamp, name, kv_file, kv_key, dtype, shape, metadata) VALUES (?,?,?,?,?,?,?,?,?)")?
                    .execute(params![s.step, s.global_step, s.timestamp, name, kv_file, kv_key, dtype, shape, metadata])?;
            }
            MetaRow::Kde {
                stamp: s,
                name,
                kv_file,
                kv_key,
                points,
                bandwidth,
                count,
            } => {
                c.prepare_cached("INSERT INTO kernel_density(step, global_step, timestamp, name, kv_file, kv_key, points, bandwidth, count) VALUES (?,?,?,?,?,?,?,?,?)")?
                    .execute(params![s.step, s.global_step, s.timestamp, name, kv_file, kv_key, *points as i64, bandwidth, *count as i64])?;
            }
        }
        Ok(())
    }
}

/// The density of a KDE record and how many values it summarises. A synced copy (the team
/// server) carries the computed grid and density (`precomputed`), not the values.
fn kde_of(
    meta: &Value,
    values: &[f64],
    points: usize,
    bandwidth: Option<f64>,
) -> Result<(payloads::Density, usize)> {
    if meta.get("precomputed").and_then(Value::as_bool) != Some(true) {
        return Ok((
            payloads::kernel_density(values, points, bandwidth)?,
            values.len(),
        ));
    }
    let count = meta.get("count").and_then(Value::as_u64);
    match (count, bandwidth) {
        (Some(count), Some(bw)) if values.len() == 2 * points && bw.is_finite() => Ok((
            payloads::Density {
                grid: values[..points].to_vec(),
                density: values[points..].to_vec(),
                bandwidth: bw,
            },
            count as usize,
        )),
        _ => Err(Error::corrupt(format!(
            "precomputed kernel density: {} values for {points} points, count {count:?}, bandwidth {bandwidth:?}",
            values.len()
        ))),
    }
}

fn rel(run_dir: &Path, path: &Path) -> String {
    path.strip_prefix(run_dir)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

fn f64s(data: &[u8]) -> Vec<f64> {
    data.chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect()
}

fn replace_media_cells(v: &mut Value, stored: &[Value]) {
    match v {
        Value::Object(m) => {
            if let Some(i) = m.get("$media").and_then(Value::as_u64) {
                if let Some(s) = stored.get(i as usize) {
                    *v = s.clone();
                }
                return;
            }
            for x in m.values_mut() {
                replace_media_cells(x, stored);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| replace_media_cells(x, stored)),
        _ => {}
    }
}

/// Append `text` to the output, keeping only the last state of carriage-return-updated lines
/// (progress bars) and marking stderr lines. `pending` carries the unfinished last line.
pub fn collapse_output(pending: &mut String, text: &str, stderr: bool, out: &mut String) {
    for (i, part) in text.split('\n').enumerate() {
        if i > 0 {
            let line = std::mem::take(pending);
            let line = line.strip_suffix('\r').unwrap_or(&line);
            if stderr {
                out.push_str("[stderr] ");
            }
            out.push_str(line);
            out.push('\n');
        }
        // A '\r' restarts the line: keep only what follows the last one (a trailing '\r' may
        // still be the first half of "\r\n", so it takes effect when more text arrives).
        let mut s = part;
        if !s.is_empty() && pending.ends_with('\r') {
            pending.clear();
        }
        if let Some(p) = s.strip_suffix('\r').unwrap_or(s).rfind('\r') {
            pending.clear();
            s = &s[p + 1..];
        }
        pending.push_str(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_bars_collapse_and_stderr_is_marked() {
        let mut pending = String::new();
        let mut out = String::new();
        collapse_output(&mut pending, "epoch 1\n 10%\r 50%", false, &mut out);
        collapse_output(&mut pending, "\r100%\ndone\r\n", false, &mut out);
        assert_eq!(out, "epoch 1\n100%\ndone\n");
        let mut out = String::new();
        collapse_output(&mut String::new(), "oops\n", true, &mut out);
        assert_eq!(out, "[stderr] oops\n");
    }

    #[test]
    fn metric_files_replace_slashes() {
        let d = Path::new("/r");
        assert_eq!(
            metric_path(d, "train/loss"),
            Path::new("/r/data/metrics/train__loss.db")
        );
        assert_eq!(histogram_namespace("grads/layer1"), "grads");
    }
}
