//! Reading every writer's log from its committed position and handing the records to the store
//! in bursts. Used by the writer thread and by replay after a crash.

use super::batch::{NameSlots, ScalarBatches};
use super::classify::Entry;
use super::logfile::{self, position, split_position, SegmentReader, HEADER_SIZE};
use super::records::{self, Record, FLAG_NO_STEP_ROW};
use super::store::{Burst, Rejected, Store};
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
        self.store.finish()
    }
}

/// Longest metric name, in UTF-8 bytes (docs/api.md: the rule for names).
pub const MAX_NAME_BYTES: usize = 4096;

/// The rule for metric names, checked again here for logs written by other means than `log()`:
/// non-empty, at most `MAX_NAME_BYTES`, no control characters (UTF-8 rules out lone surrogates).
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(Error::invalid(format!(
            "metric name of {} bytes (must be 1 to {MAX_NAME_BYTES})",
            name.len()
        )));
    }
    if name.chars().any(|c| c.is_ascii_control()) {
        return Err(Error::invalid(format!(
            "metric name {name:?} has control characters"
        )));
    }
    Ok(())
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
        let record = match records::decode(&raw) {
            Ok(r) => r,
            Err(e) => {
                // The record is whole (its length word is written last) but its content cannot
                // be read: set it aside and go on, rather than stop this writer for good.
                let e = e.context(format!("writer {id} at {seq}:{offset}"));
                burst
                    .rejected
                    .push(Rejected::undecodable(wi, pos, raw.body, &e));
                t.offset = next;
                *count += 1;
                continue;
            }
        };
        match record {
            Record::End => {
                t.seq += 1;
                t.offset = HEADER_SIZE as u64;
                t.seg = None;
                continue;
            }
            Record::Name { id: nid, name } => {
                t.slots.forget(nid);
                if let Err(e) = check_name(&name) {
                    // Its values are set aside too: the id stays undefined.
                    t.names.remove(&nid);
                    burst
                        .rejected
                        .push(Rejected::undecodable(wi, pos, raw.body, &e));
                } else {
                    burst.names.push((wi, nid, name.clone()));
                    t.names.insert(nid, Arc::from(name));
                }
            }
            Record::Scalars {
                stamp,
                flags,
                values,
            } => {
                if flags & FLAG_NO_STEP_ROW == 0 {
                    burst.steps.push(stamp);
                }
                let mut unknown: Vec<u32> = Vec::new();
                for (nid, v) in values {
                    let slot = match t.slots.get(nid) {
                        Some(s) => s,
                        None => {
                            // First value of this id in this writer: the one name lookup.
                            let Some(name) = t.names.get(&nid) else {
                                unknown.push(nid);
                                continue;
                            };
                            let s = batches.slot(name);
                            t.slots.set(nid, s);
                            s
                        }
                    };
                    batches.push(slot, &stamp, v);
                }
                if !unknown.is_empty() {
                    let e = Error::corrupt(format!(
                        "writer {id}: values of undefined metric ids {unknown:?}"
                    ));
                    burst.rejected.push(Rejected::of_record(
                        wi,
                        pos,
                        raw.body,
                        &e,
                        "scalars",
                        Some(stamp.step),
                    ));
                }
            }
            Record::Payload {
                stamp,
                name_id,
                subkind,
                meta,
                data,
            } => {
                let name = match (name_id, t.names.get(&name_id)) {
                    (_, Some(n)) => n.to_string(),
                    (0, None) => String::new(),
                    (_, None) => {
                        let e = Error::corrupt(format!(
                            "writer {id}: payload of undefined metric id {name_id}"
                        ));
                        burst.rejected.push(Rejected::of_record(
                            wi,
                            pos,
                            raw.body,
                            &e,
                            &format!("{subkind:?}"),
                            Some(stamp.step),
                        ));
                        t.offset = next;
                        *count += 1;
                        continue;
                    }
                };
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
    fn drains_across_segments_exactly_once_and_a_new_owner_continues() {
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

        // A new owner continues from the committed position: nothing is stored twice.
        w2.scalar(15, 1, 7.5);
        let mut d = Drainer::open(dir).unwrap();
        assert_eq!(d.drain_all().unwrap(), 1);
        d.close().unwrap();
        let mut expect2 = expect.clone();
        expect2.push(7.5);
        assert_eq!(values(dir, "train/loss"), expect2);
    }

    #[test]
    fn names_are_data_distinct_and_exact_in_one_store() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        run::create_layout(dir).unwrap();
        run::update_metadata(dir, run::status_patch("finished", Some(0))).unwrap();
        let long = "x".repeat(MAX_NAME_BYTES);
        let names = [
            "a/b",
            "a__b",
            "A/B",
            "a b",
            "..",
            ".",
            "a/./b",
            "\\",
            "CON",
            ":*?\"<>|%",
            "损失/训练",
            "/lead",
            "trail/",
            long.as_str(),
        ];
        let mut w = W {
            map: create_segment(dir, "w", 0, 0).unwrap(),
            off: HEADER_SIZE,
        };
        for (i, n) in names.iter().enumerate() {
            w.name(i as u32 + 1, n);
        }
        let mut d = Drainer::open(dir).unwrap();
        for step in 0..3 {
            for i in 0..names.len() {
                w.scalar(step, i as u32 + 1, i as f64 * 100.0 + step as f64);
            }
            d.drain_once().unwrap();
        }
        d.close().unwrap();
        let mut r = RunReader::open(dir).unwrap();
        let mut listed = r.metrics().unwrap();
        listed.sort();
        let mut want: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        want.sort();
        assert_eq!(listed, want);
        for (i, n) in names.iter().enumerate() {
            let expect: Vec<f64> = (0..3).map(|s| i as f64 * 100.0 + s as f64).collect();
            assert_eq!(values(dir, n), expect, "{n}");
        }
        // One store whatever the number of names, its WAL folded in at the end.
        let mut files: Vec<String> = std::fs::read_dir(dir.join("data"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        files.sort();
        assert_eq!(files, ["run.db", "run.db-shm", "run.db-wal"][..files.len()]);
        let wal = std::fs::metadata(dir.join("data/run.db-wal")).map_or(0, |m| m.len());
        assert_eq!(wal, 0);
        let summaries = r.summaries().unwrap();
        let s = summaries.iter().find(|s| s.name == "a__b").unwrap();
        assert_eq!(
            (s.count, s.last_step, s.last_value),
            (3, Some(2), Some(102.0))
        );
        assert_eq!((s.min, s.max), (Some(100.0), Some(102.0)));
    }

    #[test]
    fn a_record_that_cannot_be_stored_is_set_aside_and_the_rest_stored() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        run::create_layout(dir).unwrap();
        run::update_metadata(dir, run::status_patch("finished", Some(0))).unwrap();
        let mut w = W {
            map: create_segment(dir, "w", 0, 0).unwrap(),
            off: HEADER_SIZE,
        };
        w.name(1, "ok");
        w.scalar(0, 1, 1.0);
        // A payload whose metadata is not JSON, then values of an id never named.
        let mut body = Vec::new();
        for x in [1.0f64, 0.0, 0.0] {
            body.extend_from_slice(&x.to_le_bytes());
        }
        for v in [1u32, 3, 5, 0] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        body.extend_from_slice(b"{nope\0\0\0");
        w.record(logfile::KIND_PAYLOAD, &body);
        w.scalar(1, 9, 3.0);
        w.scalar(2, 1, 2.0);
        let mut d = Drainer::open(dir).unwrap();
        assert_eq!(d.drain_all().unwrap(), 5);
        assert!(d.stalled().is_empty());
        d.close().unwrap();
        assert_eq!(values(dir, "ok"), vec![1.0, 2.0]);
        let meta = run::read_metadata(dir).unwrap();
        assert_eq!(meta["writerErrors"], 2);
        let c = rusqlite::Connection::open(dir.join("data/run.db")).unwrap();
        let kinds: Vec<String> = c
            .prepare("SELECT kind FROM rejected ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(kinds, ["undecodable", "scalars"]);
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
