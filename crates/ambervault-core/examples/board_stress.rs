//! The board writer without node: log segments written the way `src/board/logWriter.ts` writes
//! them, drained by the real writer thread into a real run folder, so the writer can be profiled
//! (`perf record -g`) and timed on its own.
//!
//!   cargo run --release -p ambervault-core --example board_stress -- <dir> stress [calls] [per_call]
//!   cargo run --release -p ambervault-core --example board_stress -- <dir> names [names] [steps]
//!
//! `stress`: `calls` log() calls of `per_call` scalars each (bench/board's stress: 1M x 10).
//! `names`: `steps` steps, each logging `names` distinct metrics (one metric file per name) and
//! waiting until the writer stored it, as steps spaced out in time would (one burst per step).
//! Prints one JSON object: scalars, seconds from the first record to `finish()` returning, and
//! scalars per second to durable disk.

use ambervault_core::board::{self, logfile};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

/// Writes records into a writer's segments, rolling to the next segment when one is full.
struct LogWriter<'a> {
    run_dir: &'a Path,
    id: &'a str,
    seq: u64,
    seg: logfile::Segment,
    off: usize,
    body: Vec<u8>,
}

impl<'a> LogWriter<'a> {
    fn new(run_dir: &'a Path, id: &'a str) -> Self {
        let seg = logfile::create_segment(run_dir, id, 0, 0).expect("segment");
        LogWriter {
            run_dir,
            id,
            seq: 0,
            seg,
            off: logfile::HEADER_SIZE,
            body: Vec::new(),
        }
    }

    /// Publish `self.body` as a record of `kind`: body first, length word last (release store),
    /// as the JS writer does.
    fn publish(&mut self, kind: u32) {
        let len = (8 + self.body.len()).next_multiple_of(8);
        if self.off + len + logfile::END_RESERVE > self.seg.map.len() {
            self.put(self.off, logfile::KIND_END, 8);
            self.seq += 1;
            self.seg =
                logfile::create_segment(self.run_dir, self.id, self.seq, len).expect("segment");
            self.off = logfile::HEADER_SIZE;
        }
        let o = self.off;
        self.seg.map[o + 8..o + 8 + self.body.len()].copy_from_slice(&self.body);
        self.put(o, kind, len);
        self.off += len;
    }

    fn put(&mut self, at: usize, kind: u32, len: usize) {
        self.seg.map[at + 4..at + 8].copy_from_slice(&kind.to_le_bytes());
        // SAFETY: `at` is 8-aligned inside the page-aligned mapping.
        let word = unsafe { &*(self.seg.map.as_ptr().add(at) as *const AtomicU32) };
        word.store(len as u32, Ordering::Release);
    }

    fn name(&mut self, id: u32, name: &str) {
        self.body.clear();
        self.body.extend_from_slice(&id.to_le_bytes());
        self.body
            .extend_from_slice(&(name.len() as u32).to_le_bytes());
        self.body.extend_from_slice(name.as_bytes());
        self.publish(logfile::KIND_NAME);
    }

    fn scalars(&mut self, step: i64, values: impl ExactSizeIterator<Item = (u32, f64)>) {
        self.body.clear();
        for x in [step as f64, step as f64, 1.7e12] {
            self.body.extend_from_slice(&x.to_le_bytes());
        }
        self.body
            .extend_from_slice(&(values.len() as u32).to_le_bytes());
        self.body.extend_from_slice(&0u32.to_le_bytes());
        for (id, v) in values {
            self.body.extend_from_slice(&id.to_le_bytes());
            self.body.extend_from_slice(&0u32.to_le_bytes());
            self.body.extend_from_slice(&v.to_le_bytes());
        }
        self.publish(logfile::KIND_SCALARS);
    }

    fn position(&self) -> u64 {
        logfile::position(self.seq, self.off as u64)
    }
}

fn arg(args: &[String], i: usize, default: u64) -> u64 {
    args.get(i)
        .map_or(default, |s| s.parse().expect("a number"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 || !["stress", "names"].contains(&args[1].as_str()) {
        eprintln!("usage: board_stress <dir> stress [calls] [per_call] | names [names] [steps]");
        std::process::exit(2);
    }
    let run_dir = Path::new(&args[0]).join(format!("{}-{}", args[1], std::process::id()));
    let (mode, a, b) = match args[1].as_str() {
        "stress" => ("stress", arg(&args, 2, 1_000_000), arg(&args, 3, 10)),
        _ => ("names", arg(&args, 2, 5_000), arg(&args, 3, 10)),
    };
    let t0 = Instant::now();
    let mut owner = board::create_run(&run_dir, "{}").expect("create run");
    let shared = owner.shared();
    let mut log = LogWriter::new(&run_dir, "main");
    let (names, calls, per_call) = if mode == "stress" {
        (b, a, b)
    } else {
        (a, b, a)
    };
    for k in 0..names as u32 {
        log.name(k, &format!("m/{k}"));
    }
    for i in 0..calls {
        log.scalars(
            i as i64,
            (0..per_call as u32).map(|k| (k, i as f64 + f64::from(k))),
        );
        if mode == "names" {
            shared
                .wait_committed("main", log.position())
                .expect("step stored");
        }
    }
    let logged = t0.elapsed().as_secs_f64();
    shared
        .wait_committed("main", log.position())
        .expect("flush");
    owner.finish("finished", Some(0)).expect("finish");
    let total = t0.elapsed().as_secs_f64();
    let stored = board::reader::RunReader::open(&run_dir)
        .and_then(|mut r| r.scalars("m/0", None))
        .expect("read back")
        .value
        .len() as u64;
    assert_eq!(stored, calls, "every call stored");
    let scalars = calls * per_call;
    println!(
        "{{\"mode\":\"{mode}\",\"scalars\":{scalars},\"log_s\":{logged:.3},\"total_s\":{total:.3},\"scalars_per_s\":{:.0}}}",
        scalars as f64 / total
    );
    drop(log);
    let _ = std::fs::remove_dir_all(&run_dir);
}
