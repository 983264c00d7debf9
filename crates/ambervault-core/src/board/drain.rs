//! Reading every writer's log from its committed position and handing the records to the store
//! in bursts. Used by the writer thread and by replay after a crash.

use super::logfile::{self, position, split_position, SegmentReader, HEADER_SIZE};
use super::records::{self, Record, FLAG_NO_STEP_ROW};
use super::store::{Burst, Entry, Item, Store};
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Most bytes of log read into one burst: bounds memory and the length of one transaction.
const BURST_BYTES: u64 = 32 << 20;

struct Tail {
    id: String,
    seq: u64,
    offset: u64,
    seg: Option<SegmentReader>,
    names: HashMap<u32, String>,
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
}

impl Drainer {
    pub fn open(run_dir: &Path) -> Result<Self> {
        let store = Store::open(run_dir)?;
        let tails = store
            .load_progress()?
            .into_iter()
            .map(|(id, pos, names)| {
                let (seq, offset) = split_position(pos);
                Tail { id, seq, offset, seg: None, names: names.into_iter().collect() }
            })
            .collect();
        Ok(Drainer { run_dir: run_dir.to_path_buf(), store, tails })
    }

    /// Pick up writers that appeared since the last look (a new worker or child process).
    fn discover(&mut self) -> Result<()> {
        let wal = self.run_dir.join("wal");
        let Ok(rd) = std::fs::read_dir(&wal) else { return Ok(()) };
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().to_string();
            if e.path().is_dir() && !self.tails.iter().any(|t| t.id == id) {
                // A writer's first segment may be a later one if earlier ones were consumed and
                // deleted by a previous owner: start at the lowest present.
                let first = std::fs::read_dir(e.path())
                    .map(|r| {
                        r.flatten()
                            .filter_map(|f| f.file_name().to_str()?.strip_suffix(".log")?.parse::<u64>().ok())
                            .min()
                    })
                    .ok()
                    .flatten()
                    .unwrap_or(0);
                self.tails.push(Tail { id, seq: first, offset: HEADER_SIZE as u64, seg: None, names: HashMap::new() });
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
        let mut burst = Burst::default();
        let mut count = 0usize;
        let mut bytes = 0u64;
        let run_dir = self.run_dir.clone();
        for (wi, t) in self.tails.iter_mut().enumerate() {
            loop {
                if bytes >= BURST_BYTES {
                    break;
                }
                let (seq, offset) = (t.seq, t.offset);
                let id = t.id.clone();
                if !t.ensure_segment(&run_dir)? {
                    break;
                }
                let Some(seg) = t.seg.as_ref() else { break };
                let Some(raw) = seg.record_at(offset).map_err(|e| e.context(format!("writer {id} segment {seq}")))? else { break };
                let pos = position(seq, offset);
                let next = raw.next;
                bytes += next - offset;
                match records::decode(&raw).map_err(|e| e.context(format!("writer {id} at {seq}:{offset}")))? {
                    Record::End => {
                        t.seq += 1;
                        t.offset = HEADER_SIZE as u64;
                        t.seg = None;
                        continue;
                    }
                    Record::Name { id: nid, name } => {
                        burst.names.push((wi, nid, name.clone()));
                        t.names.insert(nid, name);
                    }
                    Record::Scalars { stamp, flags, values } => {
                        let mut named = Vec::with_capacity(values.len());
                        for (nid, v) in values {
                            let name = t.names.get(&nid).ok_or_else(|| {
                                Error::corrupt(format!("writer {id}: metric id {nid} used before its name"))
                            })?;
                            named.push((name.clone(), v));
                        }
                        let item = Item::Scalars { stamp, step_row: flags & FLAG_NO_STEP_ROW == 0, values: named };
                        burst.entries.push(Entry { writer: wi, pos, item });
                    }
                    Record::Payload { stamp, name_id, subkind, meta, data } => {
                        let name = t.names.get(&name_id).cloned().unwrap_or_default();
                        let item = Item::Payload { stamp, name, subkind, meta, data: data.to_vec() };
                        burst.entries.push(Entry { writer: wi, pos, item });
                    }
                }
                t.offset = next;
                count += 1;
            }
            burst.writers.push((t.id.clone(), t.pos()));
        }
        if count == 0 {
            return Ok(0);
        }
        if let Err(e) = self.store.commit(burst) {
            for (t, (seq, offset)) in self.tails.iter_mut().zip(saved) {
                t.seq = seq;
                t.offset = offset;
                t.seg = None;
            }
            return Err(e);
        }
        self.remove_consumed_segments();
        Ok(count)
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
            let Ok(rd) = std::fs::read_dir(&dir) else { continue };
            for f in rd.flatten() {
                let seq = f.file_name().to_str().and_then(|n| n.strip_suffix(".log")?.parse::<u64>().ok());
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
