//! Run folders of layout 1 (ambervault 0.1): a ColumnVault file per metric under
//! `data/metrics/<name with '/' as '__'>.db` (columns step, global_step, timestamp, value), one per
//! histogram namespace under `data/histograms/`, a KVault per tensor name under `data/tensors/`,
//! and `data/metadata.db` for the rest. Read here, read-only; `upgrade` converts a folder to
//! layout 2 in place. 0.1 mapped '/' to '__' in file names, so its names read back with '/'.

use super::layout::{self, POINT_FIELDS};
use super::reader::{f64s, i64s, HistogramEntry, Scalars, Start, Summary};
use super::{dbfile, run};
use crate::col::{tx, ChunkOptions, ColumnVault, ColumnWriter};
use crate::conn::OpenOptions;
use crate::error::{Error, Result};
use crate::kv::{Encoding, KvOptions, KvStore};
use rusqlite::{params, Connection};
use std::path::{Path, PathBuf};

pub fn metadata_path(run_dir: &Path) -> PathBuf {
    run_dir.join("data/metadata.db")
}
fn metrics_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("data/metrics")
}
fn metric_path(run_dir: &Path, name: &str) -> PathBuf {
    metrics_dir(run_dir).join(format!("{}.db", name.replace('/', "__")))
}
fn histogram_path(run_dir: &Path, name: &str) -> PathBuf {
    let namespace = name.split('/').next().unwrap_or(name);
    run_dir
        .join("data/histograms")
        .join(format!("{namespace}.db"))
}

/// Does the folder hold layout 1's files?
pub fn is_legacy(run_dir: &Path) -> bool {
    metadata_path(run_dir).exists() || metrics_dir(run_dir).is_dir()
}

/// Files whose size and mtime change when a layout 1 run is written.
pub fn fingerprint_paths(run_dir: &Path) -> Vec<PathBuf> {
    let meta = metadata_path(run_dir);
    let mut wal = meta.clone().into_os_string();
    wal.push("-wal");
    vec![meta, PathBuf::from(wal), metrics_dir(run_dir)]
}

fn open_columns(path: &Path) -> Result<ColumnVault> {
    let opts = OpenOptions {
        readonly: true,
        ..Default::default()
    };
    ColumnVault::open(path, &opts, ChunkOptions::default())
}

fn column(cv: &ColumnVault, name: &str, start: u64, end: u64) -> Result<Vec<u8>> {
    let h = cv.column(name)?;
    cv.read_bytes(&h, start, end)
}

pub fn metrics(run_dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(metrics_dir(run_dir))
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

pub fn scalars_from(run_dir: &Path, name: &str, start: Start) -> Result<Scalars> {
    let path = metric_path(run_dir, name);
    if !path.exists() {
        return Err(Error::not_found(format!(
            "metric {name} in run {}",
            run_dir.display()
        )));
    }
    let cv = open_columns(&path)?;
    // The four columns grow in one transaction; reading up to `value`'s length keeps them
    // aligned.
    let n = cv.len(&cv.column("value")?)?;
    let steps = i64s(&column(&cv, "step", 0, n)?);
    let from = match start {
        Start::All => 0,
        Start::Index(i) => i.min(n),
        Start::AfterStep(since) => steps
            .iter()
            .rposition(|&s| s <= since)
            .map_or(0, |k| k as u64 + 1),
    };
    Ok(Scalars {
        step: steps[from as usize..].to_vec(),
        global_step: i64s(&column(&cv, "global_step", from, n)?),
        timestamp: i64s(&column(&cv, "timestamp", from, n)?),
        value: f64s(&column(&cv, "value", from, n)?),
    })
}

pub fn summaries(run_dir: &Path) -> Result<Vec<Summary>> {
    let mut out = Vec::new();
    for name in metrics(run_dir)? {
        let s = scalars_from(run_dir, &name, Start::All)?;
        let n = s.value.len();
        let finite = s.value.iter().copied().filter(|v| !v.is_nan());
        out.push(Summary {
            count: n as u64,
            last_step: s.step.last().copied(),
            last_global_step: s.global_step.last().copied(),
            last_timestamp: s.timestamp.last().copied(),
            last_value: s.value.last().copied(),
            min: finite.clone().reduce(f64::min),
            max: finite.reduce(f64::max),
            name,
        });
    }
    Ok(out)
}

/// A histogram's entries (None when the run has none by that name).
pub fn histograms(run_dir: &Path, name: &str) -> Result<Option<Vec<HistogramEntry>>> {
    let path = histogram_path(run_dir, name);
    if !path.exists() {
        return Ok(None);
    }
    let cv = open_columns(&path)?;
    let col = |s: &str| format!("{name}:{s}");
    if !cv.has(&col("bins"))? {
        return Ok(None);
    }
    let rows = cv.len(&cv.column(&col("bins"))?)?;
    let read_i = |s: &str| -> Result<Vec<i64>> { Ok(i64s(&column(&cv, &col(s), 0, rows)?)) };
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
    let counts = i64s(&column(&cv, &col("counts"), 0, n)?);
    let edges = f64s(&column(&cv, &col("edges"), 0, n + rows)?);
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
    Ok(Some(out))
}

/// Tables copied from data/metadata.db as they are (same columns in both layouts).
const COPIED_TABLES: [&str; 5] = ["steps", "media", "tables", "board_writers", "board_names"];

/// Convert a layout 1 folder to layout 2 in place. The caller holds the run's owner lock.
/// Crash-safe: the new store is built beside the old files and takes its name in one step
/// (`dbfile::create_complete`); only then is `layoutVersion` set and are the old files removed.
/// A crash before that leaves the folder as it was; after it, a layout 2 folder whose leftover
/// old files the next upgrade removes. Returns false when there was nothing to convert.
pub fn upgrade(run_dir: &Path) -> Result<bool> {
    let store_path = layout::store_path(run_dir);
    if store_path.exists() {
        remove_old_files(run_dir);
        return Ok(false);
    }
    if !is_legacy(run_dir) {
        return Ok(false);
    }
    let mut tensors: Option<KvStore> = None;
    dbfile::create_complete(&store_path, layout::STORE_PAGE_SIZE, |c| {
        crate::col::meta::ensure_schema(&c)?;
        c.execute_batch(layout::STORE_SCHEMA)?;
        c.pragma_update(None, "user_version", layout::LAYOUT_VERSION)?;
        // ATTACH cannot run inside a transaction: the old metadata is attached around it.
        let meta = metadata_path(run_dir);
        let attached = meta.exists();
        if attached {
            c.execute(
                "ATTACH DATABASE ? AS old",
                [format!("file:{}?mode=ro", meta.display())],
            )?;
        }
        let copied = tx::write_tx(&c, |c| {
            copy_metrics(c, run_dir)?;
            if attached {
                copy_metadata(c, run_dir, &mut tensors)?;
            }
            Ok(())
        });
        if attached {
            c.execute("DETACH DATABASE old", [])?;
        }
        copied?;
        Ok(c)
    })?;
    if let Some(mut kv) = tensors {
        kv.checkpoint()?;
    }
    let mut patch = serde_json::Map::new();
    patch.insert("layoutVersion".into(), layout::LAYOUT_VERSION.into());
    run::update_metadata(run_dir, patch)?;
    remove_old_files(run_dir);
    run::writer_log(
        run_dir,
        "upgraded from layout 1 (a file per metric) to layout 2",
    );
    Ok(true)
}

fn copy_metrics(c: &Connection, run_dir: &Path) -> Result<()> {
    let w = ColumnWriter::new(c);
    for name in metrics(run_dir)? {
        let s = scalars_from(run_dir, &name, Start::All)?;
        c.execute(
            "INSERT INTO series(kind, name, count) VALUES (?, ?, ?)",
            params![layout::SCALAR, name, s.value.len() as i64],
        )?;
        let id = c.last_insert_rowid();
        let col = w.create(&layout::series_column(id), "f64", layout::SERIES_CHUNKS)?;
        let mut points = Vec::with_capacity(s.value.len() * POINT_FIELDS * 8);
        for i in 0..s.value.len() {
            for x in [
                s.step[i] as f64,
                s.global_step[i] as f64,
                s.timestamp[i] as f64,
                s.value[i],
            ] {
                points.extend_from_slice(&x.to_le_bytes());
            }
        }
        crate::col::fixed::append(c, col.fixed()?, &points)?;
        let finite = s.value.iter().copied().filter(|v| !v.is_nan());
        c.execute(
            "UPDATE series SET last_step = ?, last_global_step = ?, last_timestamp = ?,
               last_value = ?, min = ?, max = ? WHERE id = ?",
            params![
                s.step.last(),
                s.global_step.last(),
                s.timestamp.last(),
                s.value.last(),
                finite.clone().reduce(f64::min),
                finite.reduce(f64::max),
                id
            ],
        )?;
    }
    Ok(())
}

/// Copy the attached `old` metadata.db's rows, histograms and tensor payloads.
fn copy_metadata(c: &Connection, run_dir: &Path, tensors: &mut Option<KvStore>) -> Result<()> {
    for t in COPIED_TABLES {
        c.execute_batch(&format!("INSERT INTO main.{t} SELECT * FROM old.{t}"))?;
    }
    let hist_names: Vec<String> = c
        .prepare("SELECT name FROM old.histograms ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for name in hist_names {
        let Some(entries) = histograms(run_dir, &name)? else {
            continue;
        };
        c.execute(
            "INSERT INTO series(kind, name, count) VALUES (?, ?, ?)",
            params![layout::HISTOGRAM, name, entries.len() as i64],
        )?;
        let id = c.last_insert_rowid();
        for h in entries {
            let edges: Vec<u8> = h.edges.iter().flat_map(|e| e.to_le_bytes()).collect();
            let counts: Vec<u8> = h.counts.iter().flat_map(|n| n.to_le_bytes()).collect();
            c.execute(
                "INSERT INTO histograms(series, step, global_step, timestamp, nan, posinf, neginf, edges, counts)
                 VALUES (?,?,?,?,?,?,?,?,?)",
                params![id, h.step, h.global_step, h.timestamp, h.nan, h.posinf, h.neginf, edges, counts],
            )?;
        }
    }
    // Tensor and density payloads move into the one tensor store, keyed as layout 2 keys them.
    for (table, kind) in [("tensors", "tensor"), ("kernel_density", "kde")] {
        let rows: Vec<(i64, i64, String, String, String)> = c
            .prepare(&format!(
                "SELECT id, step, name, kv_file, kv_key FROM old.{table}"
            ))?
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        c.execute_batch(&format!(
            "INSERT INTO main.{table} SELECT * FROM old.{table}"
        ))?;
        for (id, step, name, file, key) in rows {
            if file.contains("..") {
                continue;
            }
            let Some(bytes) = dbfile::kv_get(&run_dir.join(&file), key.as_bytes())? else {
                continue;
            };
            let new_key = format!("{kind}/{step}/{name}");
            let kv = match tensors {
                Some(kv) => kv,
                None => tensors.insert(KvStore::open(
                    layout::tensors_path(run_dir),
                    KvOptions::default(),
                )?),
            };
            kv.put_many([(new_key.as_bytes(), Encoding::Raw, bytes.as_slice())])?;
            c.execute(
                &format!("UPDATE main.{table} SET kv_file = ?, kv_key = ? WHERE id = ?"),
                params![layout::TENSORS_FILE, new_key, id],
            )?;
        }
    }
    Ok(())
}

/// Remove layout 1's files (best effort: what stays is removed by the next upgrade).
fn remove_old_files(run_dir: &Path) {
    dbfile::remove_db_files(&metadata_path(run_dir));
    for dir in ["data/metrics", "data/histograms", "data/tensors"] {
        let _ = std::fs::remove_dir_all(run_dir.join(dir));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::reader::RunReader;

    fn le<T: Copy, const N: usize>(v: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
        v.iter().flat_map(|x| f(*x)).collect()
    }

    /// A folder as 0.1 wrote it: a metric file, a histogram namespace file, a tensor file and
    /// data/metadata.db.
    fn layout_1_run(dir: &Path) {
        run::update_metadata(dir, run::status_patch("finished", Some(0))).unwrap();
        std::fs::create_dir_all(dir.join("data/metrics")).unwrap();
        let cv = ColumnVault::open(
            &metric_path(dir, "a/b"),
            &OpenOptions::default(),
            ChunkOptions::default(),
        )
        .unwrap();
        let ints = |v: &[i64]| le(v, i64::to_le_bytes);
        for (col, ty, bytes) in [
            ("step", "i64", ints(&[0, 1, 2])),
            ("global_step", "i64", ints(&[0, 0, 5])),
            ("timestamp", "i64", ints(&[10, 20, 30])),
            ("value", "f64", le(&[0.5, f64::NAN, -1.0], f64::to_le_bytes)),
        ] {
            let h = cv.ensure(col, ty).unwrap();
            cv.extend_bytes(&h, &bytes).unwrap();
        }
        drop(cv);
        let hv = ColumnVault::open(
            &histogram_path(dir, "grads/w"),
            &OpenOptions::default(),
            ChunkOptions::default(),
        )
        .unwrap();
        for (part, ty, bytes) in [
            ("step", "i64", ints(&[4])),
            ("global_step", "i64", ints(&[1])),
            ("timestamp", "i64", ints(&[40])),
            ("nan", "i64", ints(&[0])),
            ("posinf", "i64", ints(&[0])),
            ("neginf", "i64", ints(&[0])),
            ("bins", "i64", ints(&[2])),
            ("edges", "f64", le(&[0.0, 0.5, 1.0], f64::to_le_bytes)),
            ("counts", "i64", ints(&[3, 7])),
        ] {
            let h = hv.ensure(&format!("grads/w:{part}"), ty).unwrap();
            hv.extend_bytes(&h, &bytes).unwrap();
        }
        drop(hv);
        let mut kv = KvStore::open(dir.join("data/tensors/t.db"), KvOptions::default()).unwrap();
        kv.put_many([(&b"3"[..], Encoding::Raw, &b"npy-bytes"[..])])
            .unwrap();
        drop(kv);
        let c = Connection::open(metadata_path(dir)).unwrap();
        c.execute_batch(layout::STORE_SCHEMA).unwrap();
        c.execute_batch(
            "DROP TABLE series; DROP TABLE histograms; DROP TABLE rejected;
             CREATE TABLE histograms(name TEXT PRIMARY KEY, namespace TEXT NOT NULL);
             INSERT INTO histograms VALUES ('grads/w', 'grads');
             INSERT INTO steps VALUES (0, 0, 10), (1, 0, 20), (2, 5, 30);
             INSERT INTO tensors(step, global_step, timestamp, name, kv_file, kv_key, dtype, shape)
               VALUES (3, 0, 35, 't', 'data/tensors/t.db', '3', '<f4', '[2]');",
        )
        .unwrap();
    }

    #[test]
    fn a_layout_1_folder_reads_as_it_is_and_upgrades_in_place() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        layout_1_run(dir);
        let check = |r: &mut RunReader| {
            assert_eq!(r.metrics().unwrap(), ["a/b"]);
            let s = r.scalars("a/b", None).unwrap();
            assert_eq!(s.step, [0, 1, 2]);
            assert_eq!(s.global_step, [0, 0, 5]);
            assert_eq!(s.timestamp, [10, 20, 30]);
            assert_eq!(s.value[0], 0.5);
            assert!(s.value[1].is_nan());
            assert_eq!(s.value[2], -1.0);
            let sum = &r.summaries().unwrap()[0];
            assert_eq!(
                (sum.count, sum.last_step, sum.min, sum.max),
                (3, Some(2), Some(-1.0), Some(0.5))
            );
            let h = r.histograms("grads/w").unwrap();
            assert_eq!((h[0].step, h[0].counts.clone()), (4, vec![3, 7]));
            assert_eq!(r.histogram_names().unwrap(), ["grads/w"]);
            let t = r.rows("tensors", "t").unwrap();
            let file = t[0]["kv_file"].as_str().unwrap().to_string();
            let key = t[0]["kv_key"].as_str().unwrap().to_string();
            assert_eq!(r.kv_bytes(&file, &key).unwrap(), b"npy-bytes");
        };
        let mut r = RunReader::open(dir).unwrap();
        assert_eq!(r.layout_version(), 1);
        check(&mut r);
        drop(r);

        assert!(crate::board::upgrade_run(dir).unwrap());
        let mut r = RunReader::open(dir).unwrap();
        assert_eq!(r.layout_version(), 2);
        check(&mut r);
        assert_eq!(run::read_metadata(dir).unwrap()["layoutVersion"], 2);
        for old in [
            "data/metadata.db",
            "data/metrics",
            "data/histograms",
            "data/tensors",
        ] {
            assert!(!dir.join(old).exists(), "{old} left behind");
        }
        assert!(!crate::board::upgrade_run(dir).unwrap());
    }

    #[test]
    fn an_upgrade_cut_short_leaves_the_folder_as_it_was() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        layout_1_run(dir);
        // A metric file that cannot be read makes the upgrade fail half way.
        std::fs::write(metric_path(dir, "broken"), b"not a database").unwrap();
        assert!(crate::board::upgrade_run(dir).is_err());
        assert!(!layout::store_path(dir).exists());
        assert!(!dbfile::tmp_path(&layout::store_path(dir)).exists());
        let mut r = RunReader::open(dir).unwrap();
        assert_eq!(r.layout_version(), 1);
        assert_eq!(r.scalars("a/b", None).unwrap().step, [0, 1, 2]);
    }
}
