//! The one home of interval flushing: a thread per store that calls the store's flush every
//! tick while the store lives. KVault's and ColumnVault's write-back caches both use it, so a
//! cache reaches the file even while the JS thread is busy in a training loop (a JS timer would
//! wait for it to yield), and the flush's write runs off that thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A running flusher thread; stopping it (or dropping it) joins the thread.
#[derive(Debug)]
pub struct Flusher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    /// Call `tick` every `every` until it returns false (its store is gone) or the flusher is
    /// stopped. `tick` decides itself whether there is anything to flush.
    pub fn start(every: Duration, mut tick: impl FnMut() -> bool + Send + 'static) -> Flusher {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ambervault-flush".into())
            .spawn(move || loop {
                // Sleep in short steps so stopping does not wait out a long interval.
                let mut left = every;
                while !left.is_zero() {
                    let step = left.min(Duration::from_millis(50));
                    std::thread::sleep(step);
                    left -= step;
                    if flag.load(Ordering::Acquire) {
                        return;
                    }
                }
                if !tick() {
                    return;
                }
            })
            .expect("spawn the flusher thread");
        Flusher {
            stop,
            thread: Some(thread),
        }
    }

    /// Stop the thread and wait for a flush under way to end (unless called from the flusher
    /// thread itself, e.g. by a store dropped inside its tick).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.halt();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn ticks_until_stopped_and_stop_waits() {
        let n = Arc::new(AtomicUsize::new(0));
        let c = n.clone();
        let f = Flusher::start(Duration::from_millis(5), move || {
            c.fetch_add(1, Ordering::SeqCst);
            true
        });
        std::thread::sleep(Duration::from_millis(100));
        f.stop();
        let after = n.load(Ordering::SeqCst);
        assert!(after >= 3, "ticked {after} times in 100 ms at 5 ms");
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(n.load(Ordering::SeqCst), after, "no tick after stop");
    }

    #[test]
    fn a_tick_returning_false_ends_the_thread() {
        let n = Arc::new(AtomicUsize::new(0));
        let c = n.clone();
        let f = Flusher::start(Duration::from_millis(1), move || {
            c.fetch_add(1, Ordering::SeqCst) < 2
        });
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(n.load(Ordering::SeqCst), 3);
        drop(f);
    }
}
