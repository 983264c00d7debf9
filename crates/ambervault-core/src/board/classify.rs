//! What a payload record (histogram, media, table, tensor, kernel density) becomes in the run's
//! store: the rows for the burst's transaction and the bytes for the blob and tensor stores. It
//! only reads the record; `store.rs` writes what it returns.

use super::layout;
use super::payloads::{self, Bins};
use super::records::{Stamp, Subkind};
use crate::error::{Error, Result};
use rusqlite::{params, Connection};
use serde_json::{json, Value};

/// Largest media payload accepted (the TS layer checks it first; this guards replayed logs).
pub const MAX_MEDIA_BYTES: usize = 256 << 20;

/// One payload record read from a writer's log.
pub struct Entry {
    pub writer: usize,
    pub pos: u64,
    pub stamp: Stamp,
    pub name: String,
    pub subkind: Subkind,
    pub meta: Value,
    pub data: Vec<u8>,
}

/// One histogram occurrence.
pub struct HistogramRow {
    pub name: String,
    pub stamp: Stamp,
    pub bins: Bins,
}

/// Everything the payload records of one burst become.
#[derive(Default)]
pub struct Classified {
    pub histograms: Vec<HistogramRow>,
    pub rows: Vec<MetaRow>,
    /// Media bytes by `<sha256>.<format>` (media/blobs.db).
    pub blobs: Vec<(String, Vec<u8>)>,
    /// .npy payloads by key (data/tensors.db).
    pub tensors: Vec<(String, Vec<u8>)>,
}

impl Classified {
    /// Add one payload record (not output: the store keeps output text itself). On an error
    /// nothing of the record is kept but media bytes already hashed, which nothing refers to.
    pub fn add(&mut self, e: &Entry) -> Result<()> {
        let (stamp, name, meta, data) = (&e.stamp, e.name.as_str(), &e.meta, e.data.as_slice());
        match e.subkind {
            Subkind::HistogramValues => {
                let range = meta
                    .get("range")
                    .and_then(|r| Some((r.get(0)?.as_f64()?, r.get(1)?.as_f64()?)));
                let nbins = meta.get("bins").and_then(Value::as_u64).unwrap_or(64) as usize;
                let bins = payloads::histogram(&f64s(data), nbins, range)?;
                self.histogram(name, stamp, bins);
            }
            Subkind::HistogramBins => {
                let all = f64s(data);
                let n = (all.len().saturating_sub(1)) / 2;
                if all.len() != 2 * n + 1 || n == 0 {
                    return Err(Error::corrupt(
                        "histogram bins: edges/counts sizes disagree",
                    ));
                }
                let count = |k: &str| meta.get(k).and_then(Value::as_i64).unwrap_or(0);
                let bins = Bins {
                    edges: all[..=n].to_vec(),
                    counts: all[n + 1..].iter().map(|&c| c as i64).collect(),
                    nan: count("nan"),
                    posinf: count("posinf"),
                    neginf: count("neginf"),
                };
                self.histogram(name, stamp, bins);
            }
            Subkind::Media => {
                let m = self.store_media(meta, data)?;
                self.rows.push(MetaRow::Media {
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
                    let bytes = off
                        .checked_add(len)
                        .and_then(|end| data.get(off..end))
                        .ok_or_else(|| Error::corrupt("table media cell out of range"))?;
                    let m = self.store_media(c, bytes)?;
                    stored.push(
                        json!({ "media_hash": m.hash, "format": m.format, "type": m.kind,
                        "caption": m.caption, "width": m.width, "height": m.height }),
                    );
                }
                let mut rows = meta.get("rows").cloned().unwrap_or(Value::Array(vec![]));
                replace_media_cells(&mut rows, &stored);
                let list = |k: &str| {
                    meta.get(k)
                        .cloned()
                        .unwrap_or(Value::Array(vec![]))
                        .to_string()
                };
                self.rows.push(MetaRow::Table {
                    stamp: *stamp,
                    name: name.to_string(),
                    columns: list("columns"),
                    types: list("types"),
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
                let key = tensor_key("tensor", stamp.step, name);
                self.tensors
                    .push((key.clone(), payloads::npy(&dtype, &shape, data)));
                self.rows.push(MetaRow::Tensor {
                    stamp: *stamp,
                    name: name.to_string(),
                    kv_file: layout::TENSORS_FILE.to_string(),
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
                let key = tensor_key("kde", stamp.step, name);
                self.tensors
                    .push((key.clone(), payloads::npy("<f8", &[2, points as u64], &raw)));
                self.rows.push(MetaRow::Kde {
                    stamp: *stamp,
                    name: name.to_string(),
                    kv_file: layout::TENSORS_FILE.to_string(),
                    kv_key: key,
                    points,
                    bandwidth: d.bandwidth,
                    count,
                });
            }
            Subkind::Output => {
                return Err(Error::invalid("output is not a payload to classify"));
            }
        }
        Ok(())
    }

    fn histogram(&mut self, name: &str, stamp: &Stamp, bins: Bins) {
        self.histograms.push(HistogramRow {
            name: name.to_string(),
            stamp: *stamp,
            bins,
        });
    }

    fn store_media(&mut self, meta: &Value, data: &[u8]) -> Result<StoredMedia> {
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
        self.blobs.push((format!("{hash}.{format}"), bytes));
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
}

/// Key of a tensor or density payload in data/tensors.db: unique per kind, step and name (the
/// step's digits end at the first '/', so any name is safe after it).
fn tensor_key(kind: &str, step: i64, name: &str) -> String {
    format!("{kind}/{step}/{name}")
}

pub struct StoredMedia {
    hash: String,
    format: String,
    kind: String,
    caption: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    size: usize,
}

pub enum MetaRow {
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
    pub fn insert(&self, c: &Connection) -> Result<()> {
        match self {
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

pub fn f64s(data: &[u8]) -> Vec<f64> {
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
