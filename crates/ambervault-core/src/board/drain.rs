//! Reading every writer's log from its committed position and handing the records to the store
//! in bursts. Used by the writer thread and by replay after a crash.

use super::batch::{NameSlots, ScalarBatches};
use super::logfile::{self, position, split_position, SegmentReader, HEADER_SIZE};
use super::records::{self, Record, FLAG_NO_STEP_ROW};
use super::store::{Burst, Entry, Store};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Most bytes of log read into one burst: bounds memory and the length of one transaction.
const BURST_BYTES: u64 = 32 << 20;

struct Tail {
    id: String,
    seq: u64,
    offset: u64,
    seg: Option<SegmentReader>,
    names: HashMap<u32, Arc<str>>,
    slots: NameSlots,
}

impl Tail {
    fn pos(&self) -> u64 {
        position(self.seq, self.offset)
    }
    /// Open the segment to read once its file exists; false while it does not.
    fn ensure_segment(&mut self, run_dir: &Path) -> Result<bool> {
        if self.seg.as_ref().is_none_or(|s| s.seq != self.seq) {
            let path = logfile::segment_path(run_dir, &self.id, self.seq);
            if !path.exists() {
                self.seg = None;
                return Ok(false);
            }
            self.seg = Some(SegmentReader::open(&path)?);
        }
        Ok(true)
    }
}

pub struct Drainer {
    run_dir: PathBuf,
    store: Store,
    tails: Vec<Tail>,
    /// The scalars of the burst being read, per metric (buffers kept between bursts).
    batches: ScalarBatches,
    stalled: HashMap<String, Error>,
    /// The last burst stopped at its byte budget: more is waiting.
    backlog: bool,
}

impl Drainer {
    pub fn open(run_dir: &Path) -> Result<Self> {
        let store = Store::open(run_dir)?;
        let tails = store
            .load_progress()?
            .into_iter()
            .map(|(id, pos, names)| {
                let (seq, offset) = split_position(pos);
                Tail {
                    id,
                    seq,
                    offset,
                    seg: None,
                    names: names
                        .into_iter()
                        .map(|(id, n)| (id, Arc::from(n)))
                        .collect(),
                    slots: NameSlots::default(),
                }
            })
            .collect();
        Ok(Drainer {
            run_dir: run_dir.to_path_buf(),
            store,
            tails,
            batches: ScalarBatches::default(),
            stalled: HashMap::new(),
            backlog: false,
        })
    }

    /// Pick up writers that appeared since the last look (a new worker or child process).
    fn discover(&mut self) -> Result<()> {
        let wal = self.run_dir.join("wal");
        let Ok(rd) = std::fs::read_dir(&wal) else {
            return Ok(());
        };
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().to_string();
            if e.path().is_dir() && !self.tails.iter().any(|t| t.id == id) {
                // A writer's first segment may be a later one if earlier ones were consumed and
                // deleted by a previous owner: start at the lowest present.
                let first = logfile::segment_seqs(&self.run_dir, &id)
                    .into_iter()
                    .min()
                    .unwrap_or(0);
                self.tails.push(Tail {
                    id,
                    seq: first,
                    offset: HEADER_SIZE as u64,
                    seg: None,
                    names: HashMap::new(),
                    slots: NameSlots::default(),
                });
            }
        }
        Ok(())
    }

    /// Positions every writer has been committed up to.
    pub fn committed(&self) -> HashMap<String, u64> {
        self.tails.iter().map(|t| (t.id.clone(), t.pos())).collect()
    }

    /// Read what is new in every log and store it as one burst. Returns the number of records.
    /// On a storage error, positions are left where they were, to be read again.
    pub fn drain_once(&mut self) -> Result<usize> {
        self.discover()?;
        let saved: Vec<(u64, u64)> = self.tails.iter().map(|t| (t.seq, t.offset)).collect();
        // Whatever fails (reading a log or storing the burst), every position goes back to
        // where it was: records are never skipped, only read again.
        // Writers gone before this read (their lock is free) cannot add anything after it.
        let gone: Vec<bool> = self
            .tails
            .iter()
            .map(|t| logfile::writer_gone(&self.run_dir, &t.id))
            .collect();
        let result = self.read_burst().and_then(|(count, burst)| {
            let at_end = burst.at_end.clone();
            if count == 0 {
                Ok((0, at_end))
            } else {
                self.store
                    .commit(burst, &self.batches)
                    .map(|_| (count, at_end))
            }
        });
        match result {
            Ok((count, at_end)) => {
                if count > 0 {
                    self.remove_consumed_segments();
                }
                self.adopt_gone_writers(&gone, &at_end);
                Ok(count)
            }
            Err(e) => {
                for (t, (seq, offset)) in self.tails.iter_mut().zip(saved) {
                    t.seq = seq;
                    t.offset = offset;
                    t.seg = None;
                }
                Err(e)
            }
        }
    }

    fn read_burst(&mut self) -> Result<(usize, Burst)> {
        let mut burst = Burst::default();
        self.batches.clear();
        let mut count = 0usize;
        let mut bytes = 0u64;
        let run_dir = self.run_dir.clone();
        for (wi, t) in self.tails.iter_mut().enumerate() {
            let read = read_tail(
                &run_dir,
                wi,
                t,
                &mut burst,
                &mut self.batches,
                &mut count,
                &mut bytes,
            );
            if matches!(read, Ok(true)) {
                burst.at_end.push(wi);
            }
            // A log that cannot be read (a corrupt segment) stops its own writer at the bad
            // record, not the run: what came before it and every other writer are stored. It is
            // read again on each burst, in case the file was only not ready yet.
            match read {
                Ok(_) => {
                    if self.stalled.remove(&t.id).is_some() {
                        super::run::writer_log(&run_dir, &format!("writer {} resumed", t.id));
                    }
                }
                Err(e) => {
                    t.seg = None;
                    if self.stalled.get(&t.id) != Some(&e) {
                        super::run::writer_log(
                            &run_dir,
                            &format!("writer {} stopped (its other records wait): {e}", t.id),
                        );
                    }
                    self.stalled.insert(t.id.clone(), e);
                }
            }
            burst.writers.push((t.id.clone(), t.pos()));
        }
        self.backlog = bytes >= BURST_BYTES;
        Ok((count, burst))
    }

    /// Did the last burst leave records behind (it reached its byte budget)?
    pub fn backlog(&self) -> bool {
        self.backlog
    }

    /// Writers whose log cannot be read past their committed position, with the reason.
    pub fn stalled(&self) -> &HashMap<String, Error> {
        &self.stalled
    }

    /// A writer that is gone (a terminated worker, a killed process) and whose every record is
    /// now stored needs its log no more: delete its folder now rather than at the end of the run.
    fn adopt_gone_writers(&mut self, gone: &[bool], at_end: &[usize]) {
        for &i in at_end {
            let t = &mut self.tails[i];
            if gone.get(i) != Some(&true) || self.stalled.contains_key(&t.id) {
                continue;
            }
            // The tail stays (with its position), so a folder that could not be fully deleted
            // is never read again from its start.
            t.seg = None;
            if std::fs::remove_dir_all(logfile::writer_dir(&self.run_dir, &t.id)).is_ok() {
                super::run::writer_log(
                    &self.run_dir,
                    &format!(
                        "writer {} is gone and fully stored: its log is deleted",
                        t.id
                    ),
                );
            }
        }
    }

    /// Drain until the logs hold nothing new.
    pub fn drain_all(&mut self) -> Result<usize> {
        let mut total = 0;
        loop {
            let n = self.drain_once()?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }

    /// Segments before each writer's current one are fully stored: free their disk.
    fn remove_consumed_segments(&self) {
        for t in &self.tails {
            let dir = logfile::writer_dir(&self.run_dir, &t.id);
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for f in rd.flatten() {
                let seq = f
                    .file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".log")?.parse::<u64>().ok());
                if seq.is_some_and(|s| s < t.seq) {
                    let _ = std::fs::remove_file(f.path());
                }
            }
        }
    }

    /// The run is ending: stored partial output lines, WAL merged into the database files.
    pub fn close(mut self) -> Result<()> {
        self.store.finish_output()?;
        self.store.checkpoint_all();
        Ok(())
    }
}

/// Read one writer's new records into `burst`, up to the burst's byte budget. On an error the
/// writer's position stays at the record that could not be read.
fn read_tail(
    run_dir: &Path,
    wi: usize,
    t: &mut Tail,
    burst: &mut Burst,
    batches: &mut ScalarBatches,
    count: &mut usize,
    bytes: &mut u64,
) -> Result<bool> {
    loop {
        if *bytes >= BURST_BYTES {
            return Ok(false);
        }
        let (seq, offset) = (t.seq, t.offset);
        if !t.ensure_segment(run_dir)? {
            return Ok(true);
        }
        let id = &t.id;
        let Some(seg) = t.seg.as_ref() else {
            return Ok(true);
        };
        let Some(raw) = seg
            .record_at(offset)
            .map_err(|e| e.context(format!("writer {id} segment {seq}")))?
        else {
            return Ok(true);
        };
        let pos = position(seq, offset);
        let next = raw.next;
        *bytes += next - offset;
        match records::decode(&raw)
            .map_err(|e| e.context(format!("writer {id} at {seq}:{offset}")))?
        {
            Record::End => {
                t.seq += 1;
                t.offset = HEADER_SIZE as u64;
                t.seg = None;
                continue;
            }
            Record::Name { id: nid, name } => {
                burst.names.push((wi, nid, name.clone()));
                t.names.insert(nid, Arc::from(name));
                t.slots.forget(nid);
            }
            Record::Scalars {
                stamp,
                flags,
                values,
            } => {
                if flags & FLAG_NO_STEP_ROW == 0 {
                    burst.steps.push(stamp);
                }
                for (nid, v) in values {
                    let slot = match t.slots.get(nid) {
                        Some(s) => s,
                        None => {
                            // First value of this id in this writer: the one name lookup.
                            let name = t.names.get(&nid).ok_or_else(|| {
                                Error::corrupt(format!(
                                    "writer {id}: metric id {nid} used before its name"
                                ))
                            })?;
                            let s = batches.slot(run_dir, name);
                            t.slots.set(nid, s);
                            s
                        }
                    };
                    batches.push(slot, wi, pos, &stamp, v);
                }
            }
            Record::Payload {
                stamp,
                name_id,
                subkind,
                meta,
                data,
            } => {
                let name = t
                    .names
                    .get(&name_id)
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                burst.entries.push(Entry {
                    writer: wi,
                    pos,
                    stamp,
                    name,
                    subkind,
                    meta,
                    data: data.to_vec(),
                });
            }
        }
        t.offset = next;
        *count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::logfile::{create_segment, KIND_END, KIND_NAME, KIND_SCALARS};
    use crate::board::reader::RunReader;
    use crate::board::run;

    /// Writes records the way the JS writer does (length word last).
    struct W {
        map: logfile::Segment,
        off: usize,
    }
    impl W {
        fn record(&mut self, kind: u32, body: &[u8]) {
            let len = (8 + body.len()).next_multiple_of(8);
            let o = self.off;
            self.map.map[o + 4..o + 8].copy_from_slice(&kind.to_le_bytes());
            self.map.map[o + 8..o + 8 + body.len()].copy_from_slice(body);
            self.map.map[o..o + 4].copy_from_slice(&(len as u32).to_le_bytes());
            self.off += len;
        }
        fn name(&mut self, id: u32, name: &str) {
            let mut b = id.to_le_bytes().to_vec();
            b.extend_from_slice(&(name.len() as u32).to_le_bytes());
            b.extend_from_slice(name.as_bytes());
            self.record(KIND_NAME, &b);
        }
        fn scalar(&mut self, step: i64, id: u32, v: f64) {
            let mut b = Vec::new();
            for x in [step as f64, 0.0, 1000.0] {
                b.extend_from_slice(&x.to_le_bytes());
            }
            b.extend_from_slice(&1u32.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&id.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&v.to_le_bytes());
            self.record(KIND_SCALARS, &b);
        }
    }

    fn values(dir: &Path, name: &str) -> Vec<f64> {
        RunReader::open(dir)
            .unwrap()
            .scalars(name, None)
            .unwrap()
            .value
    }

    #[test]
    fn drains_across_segments_exactly_once_even_after_a_lost_offset_commit() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        run::create_layout(dir).unwrap();
        run::update_metadata(dir, run::status_patch("finished", Some(0))).unwrap();
        let mut w = W {
            map: create_segment(dir, "w1", 0, 0).unwrap(),
            off: HEADER_SIZE,
        };
        w.name(1, "train/loss");
        for i in 0..10 {
            w.scalar(i, 1, i as f64 * 0.5);
        }
        w.record(KIND_END, &[]);
        let mut w2 = W {
            map: create_segment(dir, "w1", 1, 0).unwrap(),
            off: HEADER_SIZE,
        };
        for i in 10..15 {
            w2.scalar(i, 1, i as f64 * 0.5);
        }

        let mut d = Drainer::open(dir).unwrap();
        assert_eq!(d.drain_all().unwrap(), 16);
        d.close().unwrap();
        let expect: Vec<f64> = (0..15).map(|i| i as f64 * 0.5).collect();
        assert_eq!(values(dir, "train/loss"), expect);
        // The consumed first segment is gone; the live one stays.
        assert!(!logfile::segment_path(dir, "w1", 0).exists());
        assert!(logfile::segment_path(dir, "w1", 1).exists());

        // A crash after the metric file committed but before metadata.db did: the committed
        // position falls back, the records are read again, and the metric file skips them.
        let meta = super::super::store::open_metadata_db(dir).unwrap();
        meta.execute(
            "UPDATE board_writers SET pos = ?",
            [position(1, HEADER_SIZE as u64) as i64],
        )
        .unwrap();
        drop(meta);
        w2.scalar(15, 1, 7.5);
        let mut d = Drainer::open(dir).unwrap();
        assert_eq!(d.drain_all().unwrap(), 6);
        d.close().unwrap();
        let mut expect2 = expect.clone();
        expect2.push(7.5);
        assert_eq!(values(dir, "train/loss"), expect2);
    }

    #[test]
    fn more_metrics_than_open_files_are_all_stored_and_listed_complete() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        run::create_layout(dir).unwrap();
        run::update_metadata(dir, run::status_patch("finished", Some(0))).unwrap();
        // A crash in the middle of building a metric file left its temporary file behind.
        let stale = dir.join("data/metrics/m__0.db.tmp");
        std::fs::write(&stale, b"half a file").unwrap();
        let n = 40u32;
        let mut w = W {
            map: create_segment(dir, "w", 0, 0).unwrap(),
            off: HEADER_SIZE,
        };
        for round in 0..2 {
            for i in 0..n {
                if round == 0 {
                    w.name(i, &format!("m/{i}"));
                }
                w.scalar(round, i, f64::from(i) + f64::from(round as u32) / 2.0);
            }
            let mut d = Drainer::open(dir).unwrap();
            d.store.set_max_open_files(16); // fewer than the metrics: files get closed and reopened
            d.drain_all().unwrap();
            d.close().unwrap();
        }
        let r = RunReader::open(dir).unwrap();
        let names = r.metrics().unwrap();
        assert_eq!(names.len(), n as usize);
        for i in [0, 1, 17, 39] {
            assert_eq!(
                values(dir, &format!("m/{i}")),
                vec![f64::from(i), f64::from(i) + 0.5]
            );
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.join("data/metrics"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|f| f.contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn bursts_with_more_metrics_than_the_budget_reopen_only_the_files_past_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        run::create_layout(dir).unwrap();
        run::update_metadata(dir, run::status_patch("finished", Some(0))).unwrap();
        let (n, budget, steps) = (40u32, 16usize, 4i64);
        let mut w = W {
            map: create_segment(dir, "w", 0, 0).unwrap(),
            off: HEADER_SIZE,
        };
        for i in 0..n {
            w.name(i, &format!("m/{i}"));
        }
        let mut d = Drainer::open(dir).unwrap();
        d.store.set_max_open_files(budget);
        let mut opened_before = 0;
        for step in 0..steps {
            for i in 0..n {
                w.scalar(step, i, f64::from(i) * 10.0 + step as f64);
            }
            d.drain_once().unwrap();
            let (open, opened) = d.store.open_files();
            assert!(open <= budget, "{open} files open, budget {budget}");
            // The first burst creates the files (built closed, opened on next use), the second
            // opens each once; later ones find budget - 1 files still open and reopen only the
            // rest (through the one slot left), each once.
            let expect = match step {
                0 => 0,
                1 => n as usize,
                _ => n as usize - (budget - 1),
            };
            assert_eq!(opened - opened_before, expect as u64, "burst {step}");
            opened_before = opened;
        }
        d.close().unwrap();
        for i in [0, 14, 15, 39] {
            let expect: Vec<f64> = (0..steps).map(|s| f64::from(i) * 10.0 + s as f64).collect();
            assert_eq!(values(dir, &format!("m/{i}")), expect, "m/{i}");
        }
    }

    #[test]
    fn closing_with_many_open_metric_files_leaves_them_checkpointed_and_complete() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        run::create_layout(dir).unwrap();
        run::update_metadata(dir, run::status_patch("finished", Some(0))).unwrap();
        // More than the count from which closing syncs the file system once, not each file.
        let n = 2 * super::super::store::SYNC_WHOLE_FS_FROM as u32;
        let mut w = W {
            map: create_segment(dir, "w", 0, 0).unwrap(),
            off: HEADER_SIZE,
        };
        for i in 0..n {
            w.name(i, &format!("m/{i}"));
            w.scalar(0, i, f64::from(i));
        }
        let mut d = Drainer::open(dir).unwrap();
        d.drain_once().unwrap();
        // The second step appends to open files: their rows sit in the WAL until closing.
        for i in 0..n {
            w.scalar(1, i, f64::from(i) + 0.5);
        }
        d.drain_once().unwrap();
        assert_eq!(d.store.open_files().0, n as usize);
        d.close().unwrap();
        for i in 0..n {
            let path = super::super::store::metric_path(dir, &format!("m/{i}"));
            let mut wal = path.clone().into_os_string();
            wal.push("-wal");
            let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
            assert_eq!(wal_len, 0, "m/{i} left {wal_len} bytes in its WAL");
            assert_eq!(
                values(dir, &format!("m/{i}")),
                vec![f64::from(i), f64::from(i) + 0.5]
            );
        }
    }

    #[test]
    fn a_corrupt_log_stops_only_its_writer_and_resumes_once_readable() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        run::create_layout(dir).unwrap();
        run::update_metadata(dir, run::status_patch("finished", Some(0))).unwrap();
        let mut a = W {
            map: create_segment(dir, "a", 0, 0).unwrap(),
            off: HEADER_SIZE,
        };
        a.name(1, "x");
        a.scalar(0, 1, 1.0);
        // Writer "b" has a segment that cannot be read: "a" is stored all the same...
        let b_path = logfile::segment_path(dir, "b", 0);
        std::fs::create_dir_all(b_path.parent().unwrap()).unwrap();
        std::fs::write(&b_path, vec![0u8; 4096]).unwrap();
        let mut d = Drainer::open(dir).unwrap();
        assert_eq!(d.drain_once().unwrap(), 2);
        assert_eq!(values(dir, "x"), vec![1.0]);
        assert!(d.stalled().contains_key("b"));
        assert!(!d.stalled().contains_key("a"));
        let log = std::fs::read_to_string(dir.join("logs/writer.log")).unwrap();
        assert!(log.contains("writer b stopped"), "{log}");
        // ...and keeps being stored while "b" stays stuck.
        a.scalar(1, 1, 2.0);
        assert_eq!(d.drain_once().unwrap(), 1);
        assert_eq!(values(dir, "x"), vec![1.0, 2.0]);
        // Once "b" is readable, it is stored from where it stopped.
        std::fs::remove_file(&b_path).unwrap();
        let mut b = W {
            map: create_segment(dir, "b", 0, 0).unwrap(),
            off: HEADER_SIZE,
        };
        b.name(1, "y");
        b.scalar(0, 1, 5.0);
        d.drain_all().unwrap();
        assert!(d.stalled().is_empty());
        d.close().unwrap();
        assert_eq!(values(dir, "y"), vec![5.0]);
    }

    #[test]
    fn a_torn_length_word_is_corruption_not_a_panic() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut w = W {
            map: create_segment(dir, "w", 0, 0).unwrap(),
            off: HEADER_SIZE,
        };
        w.map.map[HEADER_SIZE..HEADER_SIZE + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut d = Drainer::open(dir).unwrap();
        assert_eq!(d.drain_once().unwrap(), 0);
        let e = &d.stalled()["w"];
        assert_eq!(e.kind, crate::ErrorKind::Corrupt, "{e}");
    }
}
