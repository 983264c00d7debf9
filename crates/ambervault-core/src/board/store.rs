//! Run storage: each burst of the logs becomes ONE transaction on the run's store
//! (`layout::STORE_FILE`): the points of every metric it touched, their summaries, histogram
//! and media/table/tensor/density rows, step rows, interned names, records set aside, and each
//! writer's new committed position all commit together, so a crash leaves a burst wholly stored
//! or wholly still to replay, never half. Only the bytes of media and tensors go to their KV
//! files first: they are upserts keyed by content or by step, so storing them twice is harmless.
//!
//! Metric names are data (`series.name`), never file names; a series' points live in the f64
//! column `layout::series_column(id)`.

use super::batch::ScalarBatches;
use super::classify::{Classified, Entry};
use super::dbfile;
use super::layout::{self, HISTOGRAM, SCALAR};
use super::output::Output;
use super::records::{Stamp, Subkind};
use crate::checkpointer::Checkpointer;
use crate::col::{fixed, meta, tx, ColumnHandle, ColumnWriter};
use crate::conn::{self, OpenOptions};
use crate::error::{Error, Result};
use crate::kv::{Encoding, KvOptions, KvStore};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Page cache of the writer's connection: the pages one burst touches across 10,000 series.
const STORE_CACHE_KIB: u32 = 32 << 10;

/// A writer's committed position and its interned metric names.
pub type WriterProgress = (String, u64, Vec<(u32, String)>);

/// A record that cannot be stored (a payload that does not decode or classify, a value whose
/// name id was never defined): kept in the `rejected` table instead, so the rest is stored.
pub struct Rejected {
    pub writer: usize,
    pub pos: u64,
    pub step: Option<i64>,
    pub name: Option<String>,
    pub kind: String,
    pub error: String,
    pub meta: Option<String>,
    pub data: Option<Vec<u8>>,
}

/// Largest record body kept in `rejected.data` (a larger one keeps its error and metadata).
const MAX_REJECTED_DATA: usize = 16 << 20;

impl Rejected {
    fn of_entry(e: &Entry, error: &Error) -> Self {
        Rejected {
            writer: e.writer,
            pos: e.pos,
            step: Some(e.stamp.step),
            name: Some(e.name.clone()),
            kind: format!("{:?}", e.subkind),
            error: error.to_string(),
            meta: Some(e.meta.to_string()),
            data: (e.data.len() <= MAX_REJECTED_DATA).then(|| e.data.clone()),
        }
    }

    /// A record of the log that could be framed but not decoded.
    pub fn undecodable(writer: usize, pos: u64, body: &[u8], error: &Error) -> Self {
        Self::of_record(writer, pos, body, error, "undecodable", None)
    }

    /// A record of the log (`body`, the whole record) that cannot be stored as it is.
    pub fn of_record(
        writer: usize,
        pos: u64,
        body: &[u8],
        error: &Error,
        kind: &str,
        step: Option<i64>,
    ) -> Self {
        Rejected {
            writer,
            pos,
            step,
            name: None,
            kind: kind.to_string(),
            error: error.to_string(),
            meta: None,
            data: (body.len() <= MAX_REJECTED_DATA).then(|| body.to_vec()),
        }
    }
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
    pub rejected: Vec<Rejected>,
    /// Indexes of the writers whose log was read to its end.
    pub at_end: Vec<usize>,
}

/// A series known to the store: its id and, for scalars, its column once looked up.
struct Series {
    id: i64,
    column: Option<ColumnHandle>,
}

pub struct Store {
    run_dir: PathBuf,
    /// Checkpoints off the writer thread (see `checkpointer.rs`); declared before `conn` so it
    /// lets go of the connection first.
    _checkpointer: Checkpointer,
    conn: Connection,
    scalars: HashMap<Arc<str>, Series>,
    histograms: HashMap<String, i64>,
    blobs: Option<KvStore>,
    tensors: Option<KvStore>,
    output: Output,
}

/// Open the run's store, creating it complete (column tables, `STORE_SCHEMA`, version) first
/// if it does not exist, so a reader never finds a store without its tables.
pub fn open_store(run_dir: &Path) -> Result<Connection> {
    let path = layout::store_path(run_dir);
    if !path.exists() {
        // Someone else creating it meanwhile is fine: the schema is the same.
        dbfile::create_complete(&path, layout::STORE_PAGE_SIZE, |c| {
            meta::ensure_schema(&c)?;
            c.execute_batch(layout::STORE_SCHEMA)?;
            c.pragma_update(None, "user_version", layout::LAYOUT_VERSION)?;
            Ok(c)
        })?;
    }
    conn::open(&path, &OpenOptions::default()).map_err(|e| e.context(path.display()))
}

/// The position up to which `writer` is committed (None before its first burst, or before the
/// run has a store).
pub fn committed_position(run_dir: &Path, writer: &str) -> Result<Option<u64>> {
    let path = layout::store_path(run_dir);
    if !path.exists() {
        return Ok(None);
    }
    let c = conn::open(
        &path,
        &OpenOptions {
            readonly: true,
            ..Default::default()
        },
    )?;
    let pos: Option<i64> = c
        .query_row(
            "SELECT pos FROM board_writers WHERE writer = ?",
            [writer],
            |r| r.get(0),
        )
        .optional()?;
    Ok(pos.map(|p| p as u64))
}

impl Store {
    /// Open the run's storage as its owner (the caller holds the owner lock).
    pub fn open(run_dir: &Path) -> Result<Self> {
        let conn = open_store(run_dir)?;
        conn.execute_batch(&format!(
            "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-{STORE_CACHE_KIB}; PRAGMA mmap_size=0"
        ))?;
        meta::ensure_schema(&conn)?;
        let mut store = Store {
            run_dir: run_dir.to_path_buf(),
            _checkpointer: Checkpointer::attach(&conn, &layout::store_path(run_dir)),
            conn,
            scalars: HashMap::new(),
            histograms: HashMap::new(),
            blobs: None,
            tensors: None,
            output: Output::new(run_dir),
        };
        store.load_series()?;
        Ok(store)
    }

    /// (Re)read the ids of the known series (after a failed burst, ids it assigned are gone).
    fn load_series(&mut self) -> Result<()> {
        self.scalars.clear();
        self.histograms.clear();
        let mut st = self.conn.prepare("SELECT id, kind, name FROM series")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (id, kind, name) = row?;
            if kind == SCALAR {
                self.scalars
                    .insert(Arc::from(name), Series { id, column: None });
            } else if kind == HISTOGRAM {
                self.histograms.insert(name, id);
            }
        }
        Ok(())
    }

    /// Committed positions and interned names of every writer known to this run.
    pub fn load_progress(&self) -> Result<Vec<WriterProgress>> {
        let mut st = self.conn.prepare("SELECT writer, pos FROM board_writers")?;
        let writers: Vec<(String, i64)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::new();
        let mut names = self
            .conn
            .prepare("SELECT id, name FROM board_names WHERE writer = ?")?;
        for (w, pos) in writers {
            let n: Vec<(u32, String)> = names
                .query_map([&w], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            out.push((w, pos as u64, n));
        }
        Ok(out)
    }

    /// Store one burst. Errors leave the committed positions where they were, so the records are
    /// read again by the next burst (or the next open). Returns how many records were set aside.
    pub fn commit(&mut self, burst: Burst, scalars: &ScalarBatches) -> Result<usize> {
        let writer_ids: Vec<String> = burst.writers.iter().map(|w| w.0.clone()).collect();
        let mut payloads = Classified::default();
        let mut rejected = burst.rejected;
        let mut output = String::new();
        for e in &burst.entries {
            if e.subkind == Subkind::Output {
                let stderr = e.meta.get("stream").and_then(|s| s.as_str()) == Some("stderr");
                self.output.add(
                    e.writer,
                    stderr,
                    &String::from_utf8_lossy(&e.data),
                    &mut output,
                );
            } else if let Err(err) = payloads.add(e) {
                rejected.push(Rejected::of_entry(e, &err));
            }
        }
        self.put_payload_bytes(&mut payloads)?;
        self.output.append(&output)?;

        let result = tx::write_tx(&self.conn, |c| {
            let w = ColumnWriter::new(c);
            for m in scalars.touched() {
                let s = scalar_series(c, &w, &mut self.scalars, &m.name)?;
                if s.column.is_none() {
                    let name = layout::series_column(s.id);
                    s.column = Some(
                        w.column(&name)?
                            .ok_or_else(|| missing_column(s.id, &m.name))?,
                    );
                }
                let col = s.column.as_ref().expect("looked up above");
                fixed::append(c, col.fixed()?, &m.points)?;
                let (last, value) = &m.last;
                let (lo, hi) = m.range.unzip();
                c.prepare_cached(
                    "UPDATE series SET count = count + ?1, last_step = ?2, last_global_step = ?3,
                       last_timestamp = ?4, last_value = ?5,
                       min = coalesce(min(min, ?6), ?6, min), max = coalesce(max(max, ?7), ?7, max)
                     WHERE id = ?8",
                )?
                .execute(params![
                    m.count() as i64,
                    last.step,
                    last.global_step,
                    last.timestamp,
                    value,
                    lo,
                    hi,
                    s.id
                ])?;
            }
            for h in &payloads.histograms {
                let id = histogram_series(c, &mut self.histograms, &h.name)?;
                let edges: Vec<u8> = h.bins.edges.iter().flat_map(|e| e.to_le_bytes()).collect();
                let counts: Vec<u8> = h.bins.counts.iter().flat_map(|n| n.to_le_bytes()).collect();
                let s = &h.stamp;
                c.prepare_cached(
                    "INSERT INTO histograms(series, step, global_step, timestamp, nan, posinf, neginf, edges, counts)
                     VALUES (?,?,?,?,?,?,?,?,?)",
                )?
                .execute(params![id, s.step, s.global_step, s.timestamp, h.bins.nan, h.bins.posinf, h.bins.neginf, edges, counts])?;
                c.prepare_cached("UPDATE series SET count = count + 1, last_step = ?1, last_global_step = ?2, last_timestamp = ?3 WHERE id = ?4")?
                    .execute(params![s.step, s.global_step, s.timestamp, id])?;
            }
            for row in &payloads.rows {
                row.insert(c)?;
            }
            insert_steps(c, &burst.steps)?;
            let mut st = c.prepare_cached(
                "INSERT INTO rejected(writer, pos, step, name, kind, error, meta, data) VALUES (?,?,?,?,?,?,?,?)",
            )?;
            for r in &rejected {
                st.execute(params![
                    writer_ids[r.writer],
                    r.pos as i64,
                    r.step,
                    r.name,
                    r.kind,
                    r.error,
                    r.meta,
                    r.data
                ])?;
            }
            let mut st = c.prepare_cached(
                "INSERT OR REPLACE INTO board_names(writer, id, name) VALUES (?,?,?)",
            )?;
            for (w, id, name) in &burst.names {
                st.execute(params![writer_ids[*w], id, name])?;
            }
            let mut st =
                c.prepare_cached("INSERT OR REPLACE INTO board_writers(writer, pos) VALUES (?,?)")?;
            for (w, pos) in &burst.writers {
                st.execute(params![w, *pos as i64])?;
            }
            Ok(())
        });
        if let Err(e) = result {
            // Series created by the failed burst are gone again: forget their ids.
            self.load_series()?;
            return Err(e);
        }
        if !rejected.is_empty() {
            self.report_rejected(&rejected, &writer_ids);
        }
        Ok(rejected.len())
    }

    /// Media and tensor bytes go to their KV files before the burst's transaction refers to them.
    fn put_payload_bytes(&mut self, payloads: &mut Classified) -> Result<()> {
        for (slot, path, puts) in [
            (
                &mut self.blobs,
                layout::blobs_path(&self.run_dir),
                &payloads.blobs,
            ),
            (
                &mut self.tensors,
                layout::tensors_path(&self.run_dir),
                &payloads.tensors,
            ),
        ] {
            if puts.is_empty() {
                continue;
            }
            let kv = match slot {
                Some(kv) => kv,
                None => slot.insert(KvStore::open(&path, KvOptions::default())?),
            };
            kv.put_many(
                puts.iter()
                    .map(|(k, v)| (k.as_bytes(), Encoding::Raw, v.as_slice())),
            )?;
        }
        payloads.blobs.clear();
        payloads.tensors.clear();
        Ok(())
    }

    /// Say in writer.log what was set aside, and count it in metadata.json (`writerErrors`).
    fn report_rejected(&self, rejected: &[Rejected], writer_ids: &[String]) {
        for r in rejected {
            super::run::writer_log(
                &self.run_dir,
                &format!(
                    "set aside a record of writer {} ({}, step {:?}, name {:?}): {}",
                    writer_ids[r.writer], r.kind, r.step, r.name, r.error
                ),
            );
        }
        let total: rusqlite::Result<i64> =
            self.conn
                .query_row("SELECT count(*) FROM rejected", [], |r| r.get(0));
        if let Ok(total) = total {
            let mut patch = serde_json::Map::new();
            patch.insert("writerErrors".into(), total.into());
            let _ = super::run::update_metadata(&self.run_dir, patch);
        }
    }

    /// The run is ending: partial output lines written out, WALs folded into their databases
    /// (so a copied folder is complete).
    pub fn finish(&mut self) -> Result<()> {
        self.output.finish()?;
        let _ = conn::checkpoint(&self.conn);
        for kv in [&mut self.blobs, &mut self.tensors].into_iter().flatten() {
            let _ = kv.checkpoint();
        }
        Ok(())
    }
}

fn missing_column(id: i64, name: &str) -> Error {
    Error::corrupt(format!(
        "series {id} ({name:?}) has no column {}",
        layout::series_column(id)
    ))
}

/// The scalar series `name`, created with its column on first sight (inside the burst's
/// transaction: a failed burst forgets it again, see `Store::load_series`).
fn scalar_series<'a>(
    c: &Connection,
    w: &ColumnWriter<'_>,
    known: &'a mut HashMap<Arc<str>, Series>,
    name: &Arc<str>,
) -> Result<&'a mut Series> {
    if !known.contains_key(name) {
        let id = insert_series(c, SCALAR, name)?;
        let column = w.create(&layout::series_column(id), "f64", layout::SERIES_CHUNKS)?;
        known.insert(
            name.clone(),
            Series {
                id,
                column: Some(column),
            },
        );
    }
    Ok(known.get_mut(name).expect("inserted above"))
}

fn histogram_series(c: &Connection, known: &mut HashMap<String, i64>, name: &str) -> Result<i64> {
    if let Some(&id) = known.get(name) {
        return Ok(id);
    }
    let id = insert_series(c, HISTOGRAM, name)?;
    known.insert(name.to_string(), id);
    Ok(id)
}

fn insert_series(c: &Connection, kind: &str, name: &str) -> Result<i64> {
    c.prepare_cached("INSERT INTO series(kind, name) VALUES (?, ?)")?
        .execute(params![kind, name])?;
    Ok(c.last_insert_rowid())
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
