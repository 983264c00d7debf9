//! The scalars of one burst, gathered per metric straight into the bytes its series column
//! stores (`layout::series_column`: four f64s per point). The buffers live as long as the writer
//! and are only cleared between bursts, so a steady stream of bursts allocates nothing per value;
//! a metric name is hashed once per writer and name id (see `NameSlots`), never per value.

use super::records::Stamp;
use std::collections::HashMap;
use std::sync::Arc;

/// One metric's points in the current burst, and what they add to its summary.
pub struct MetricBatch {
    pub name: Arc<str>,
    /// `step, global_step, timestamp, value` per point, f64 little-endian.
    pub points: Vec<u8>,
    pub last: (Stamp, f64),
    /// Smallest and largest value that is not NaN (None when every value was NaN).
    pub range: Option<(f64, f64)>,
}

impl MetricBatch {
    pub fn count(&self) -> usize {
        self.points.len() / 32
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
    pub fn slot(&mut self, name: &Arc<str>) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        let i = self.metrics.len();
        self.metrics.push(MetricBatch {
            name: name.clone(),
            points: Vec::new(),
            last: (
                Stamp {
                    step: 0,
                    global_step: 0,
                    timestamp: 0,
                },
                0.0,
            ),
            range: None,
        });
        self.by_name.insert(name.clone(), i);
        i
    }

    pub fn push(&mut self, slot: usize, stamp: &Stamp, value: f64) {
        let m = &mut self.metrics[slot];
        if m.points.is_empty() {
            self.touched.push(slot);
        }
        for x in [
            stamp.step as f64,
            stamp.global_step as f64,
            stamp.timestamp as f64,
            value,
        ] {
            m.points.extend_from_slice(&x.to_le_bytes());
        }
        m.last = (*stamp, value);
        if !value.is_nan() {
            m.range = Some(match m.range {
                Some((lo, hi)) => (lo.min(value), hi.max(value)),
                None => (value, value),
            });
        }
    }

    /// The metrics with rows in this burst.
    pub fn touched(&self) -> impl Iterator<Item = &MetricBatch> {
        self.touched.iter().map(|&i| &self.metrics[i])
    }

    /// Forget the rows of the last burst, keeping the buffers.
    pub fn clear(&mut self) {
        for &i in &self.touched {
            let m = &mut self.metrics[i];
            m.points.clear();
            m.range = None;
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

    #[test]
    fn points_are_four_f64s_and_the_summary_skips_nan() {
        let mut b = ScalarBatches::default();
        let s = b.slot(&Arc::from("loss"));
        let stamp = |step| Stamp {
            step,
            global_step: 10 * step,
            timestamp: 1000 + step,
        };
        for (step, v) in [(1, 0.5), (2, f64::NAN), (3, -2.0)] {
            b.push(s, &stamp(step), v);
        }
        let m = b.touched().next().unwrap();
        assert_eq!(m.count(), 3);
        let f: Vec<f64> = m
            .points
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(f[..4], [1.0, 10.0, 1001.0, 0.5]);
        assert_eq!(m.range, Some((-2.0, 0.5)));
        assert_eq!(m.last.0.step, 3);
        b.clear();
        assert_eq!(b.touched().count(), 0);
        assert_eq!(b.slot(&Arc::from("loss")), s);
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
