//! The scalars of one burst, gathered per metric straight into the column bytes they are stored
//! as. The buffers live as long as the writer and are only cleared between bursts, so a steady
//! stream of bursts allocates nothing per value; a metric name is hashed once per writer and name
//! id (see `NameSlots`), never per value.

use super::records::Stamp;
use super::store::metric_path;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The four columns of metric rows (or the stamp columns of histogram rows), little-endian.
#[derive(Default)]
pub struct MetricRows {
    pub step: Vec<u8>,
    pub global_step: Vec<u8>,
    pub timestamp: Vec<u8>,
    pub value: Vec<u8>,
}

impl MetricRows {
    pub fn push(&mut self, s: &Stamp, v: f64) {
        self.step.extend_from_slice(&s.step.to_le_bytes());
        self.global_step
            .extend_from_slice(&s.global_step.to_le_bytes());
        self.timestamp.extend_from_slice(&s.timestamp.to_le_bytes());
        self.value.extend_from_slice(&v.to_le_bytes());
    }

    fn clear(&mut self) {
        self.step.clear();
        self.global_step.clear();
        self.timestamp.clear();
        self.value.clear();
    }

    /// Rows `[start, end)` of `from`, appended.
    fn extend_from(&mut self, from: &MetricRows, start: usize, end: usize) {
        let (a, b) = (start * 8, end * 8);
        self.step.extend_from_slice(&from.step[a..b]);
        self.global_step.extend_from_slice(&from.global_step[a..b]);
        self.timestamp.extend_from_slice(&from.timestamp[a..b]);
        self.value.extend_from_slice(&from.value[a..b]);
    }
}

/// One metric's rows in the current burst.
pub struct MetricBatch {
    pub name: Arc<str>,
    pub path: PathBuf,
    pub rows: MetricRows,
    /// The log position of each row's record.
    pos: Vec<u64>,
    /// `(writer index, first row)` where each writer's rows start. A burst reads the writers one
    /// after another, so each writer's rows are contiguous and in log order.
    runs: Vec<(usize, usize)>,
}

impl MetricBatch {
    /// The rows a file that already holds each writer's records below `applied(writer)` still
    /// needs, and the writers they come from. After a crash between two files' commits, a burst
    /// is read again and some files have its first records: within a writer's rows positions
    /// only grow, so the rows to skip are a prefix found by binary search, and in the usual
    /// case (nothing to skip) the buffers are used as they are.
    pub fn unapplied(&self, applied: impl Fn(usize) -> u64) -> (Vec<usize>, Option<MetricRows>) {
        let mut writers = Vec::with_capacity(self.runs.len());
        let mut kept: Vec<(usize, usize)> = Vec::with_capacity(self.runs.len());
        let mut skipped_any = false;
        for (i, &(w, start)) in self.runs.iter().enumerate() {
            let end = self.runs.get(i + 1).map_or(self.pos.len(), |r| r.1);
            let below = applied(w);
            let first = start + self.pos[start..end].partition_point(|&p| p < below);
            skipped_any |= first > start;
            if first < end {
                writers.push(w);
                kept.push((first, end));
            }
        }
        if !skipped_any {
            return (writers, None);
        }
        let mut rows = MetricRows::default();
        for (start, end) in kept {
            rows.extend_from(&self.rows, start, end);
        }
        (writers, Some(rows))
    }
}

/// Every metric seen by this writer, with the rows of the burst being read.
#[derive(Default)]
pub struct ScalarBatches {
    metrics: Vec<MetricBatch>,
    by_name: HashMap<Arc<str>, usize>,
    /// Metrics with rows in the current burst, in the order they first got one.
    touched: Vec<usize>,
}

impl ScalarBatches {
    /// The slot of metric `name` (created on first sight).
    pub fn slot(&mut self, run_dir: &Path, name: &Arc<str>) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        let i = self.metrics.len();
        self.metrics.push(MetricBatch {
            name: name.clone(),
            path: metric_path(run_dir, name),
            rows: MetricRows::default(),
            pos: Vec::new(),
            runs: Vec::new(),
        });
        self.by_name.insert(name.clone(), i);
        i
    }

    pub fn push(&mut self, slot: usize, writer: usize, pos: u64, stamp: &Stamp, value: f64) {
        let m = &mut self.metrics[slot];
        if m.pos.is_empty() {
            self.touched.push(slot);
        }
        if m.runs.last().is_none_or(|r| r.0 != writer) {
            m.runs.push((writer, m.pos.len()));
        }
        m.pos.push(pos);
        m.rows.push(stamp, value);
    }

    /// The metrics with rows in this burst.
    pub fn touched(&self) -> impl Iterator<Item = &MetricBatch> {
        self.touched.iter().map(|&i| &self.metrics[i])
    }

    /// Forget the rows of the last burst, keeping the buffers.
    pub fn clear(&mut self) {
        for &i in &self.touched {
            let m = &mut self.metrics[i];
            m.rows.clear();
            m.pos.clear();
            m.runs.clear();
        }
        self.touched.clear();
    }
}

/// A writer's name ids mapped to `ScalarBatches` slots. Ids are small and dense (the JS writer
/// counts them up from 1), so a vector indexed by id finds a value's metric without hashing.
#[derive(Default)]
pub struct NameSlots {
    slots: Vec<u32>,
}

/// Ids past this are looked up by name every time instead of growing the table (only a corrupt
/// or foreign log would use them).
const MAX_TABLE_ID: u32 = 1 << 22;
const NO_SLOT: u32 = u32::MAX;

impl NameSlots {
    pub fn get(&self, id: u32) -> Option<usize> {
        match self.slots.get(id as usize) {
            Some(&s) if s != NO_SLOT => Some(s as usize),
            _ => None,
        }
    }

    /// The id names another metric from now on (only a foreign log would do that).
    pub fn forget(&mut self, id: u32) {
        if let Some(s) = self.slots.get_mut(id as usize) {
            *s = NO_SLOT;
        }
    }

    pub fn set(&mut self, id: u32, slot: usize) {
        if id >= MAX_TABLE_ID {
            return;
        }
        let i = id as usize;
        if self.slots.len() <= i {
            self.slots.resize(i + 1, NO_SLOT);
        }
        self.slots[i] = slot as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(step: i64) -> Stamp {
        Stamp {
            step,
            global_step: step,
            timestamp: 0,
        }
    }

    #[test]
    fn rows_a_file_already_holds_are_skipped_per_writer() {
        let mut b = ScalarBatches::default();
        let dir = Path::new("/run");
        let s = b.slot(dir, &Arc::from("loss"));
        for (w, pos) in [(0, 10), (0, 20), (0, 30), (1, 5), (1, 15)] {
            b.push(s, w, pos, &stamp(pos as i64), pos as f64);
        }
        let m = b.touched().next().unwrap();
        // Nothing applied yet: the buffers as they are.
        let (writers, rows) = m.unapplied(|_| 0);
        assert_eq!(writers, vec![0, 1]);
        assert!(rows.is_none());
        // Writer 0 stored up to (not including) 30, writer 1 everything.
        let (writers, rows) = m.unapplied(|w| if w == 0 { 30 } else { 16 });
        assert_eq!(writers, vec![0]);
        let rows = rows.unwrap();
        assert_eq!(rows.value, 30f64.to_le_bytes().to_vec());
        assert_eq!(rows.step, 30i64.to_le_bytes().to_vec());

        b.clear();
        assert_eq!(b.touched().count(), 0);
        assert_eq!(b.slot(dir, &Arc::from("loss")), s);
    }

    #[test]
    fn name_ids_map_to_slots_and_huge_ids_are_not_tabled() {
        let mut n = NameSlots::default();
        assert_eq!(n.get(3), None);
        n.set(3, 7);
        assert_eq!(n.get(3), Some(7));
        assert_eq!(n.get(2), None);
        n.forget(3);
        assert_eq!(n.get(3), None);
        n.set(u32::MAX - 1, 1);
        assert_eq!(n.get(u32::MAX - 1), None);
    }
}
