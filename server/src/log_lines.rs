//! The host's log lines, written in batches by a thread of their own.
//!
//! A request's line is appended to a shared buffer under a lock (a copy of ~150 bytes, no
//! system call); the writer thread wakes when the buffer goes from empty to not, writes what
//! is there, and then looks again every [`BATCH_WINDOW`] while lines keep coming, writing each
//! window's lines in one `write`. Under load that is one system call per window, and no
//! wake-up from the requests, instead of a wake-up, a `write` and the channel's
//! spinning per line (what `tracing-appender`'s per-line channel cost here: about three system
//! calls and a context switch per request, measured with `strace -c` under `wrk`).
//!
//! A slow reader of the sink never blocks a request: past [`MAX_PENDING_BYTES`] waiting, new
//! lines are dropped and counted, and the count is written once the sink takes lines again.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the writer waits between two batches while lines keep coming.
pub const BATCH_WINDOW: Duration = Duration::from_millis(2);
/// Bytes waiting for the sink past which new lines are dropped.
pub const MAX_PENDING_BYTES: usize = 8 << 20;

/// Where lines go (a subscriber's writer: `move || lines.clone()`): every clone appends to the
/// same buffer. Each `write` is kept or dropped whole (a formatter writes a line in one call).
#[derive(Clone)]
pub struct LogLines {
    shared: Arc<Shared>,
}

/// The writer thread; dropping it writes what is left and waits for the thread.
pub struct LogWriterGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    dropped: u64,
    writer_asleep: bool,
    shutdown: bool,
}

impl LogLines {
    /// Starts the writer thread (named `thread_name`) over `sink`.
    pub fn start(
        sink: Box<dyn Write + Send>,
        thread_name: &str,
    ) -> io::Result<(LogLines, LogWriterGuard)> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
        });
        let for_thread = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(thread_name.to_string())
            .spawn(move || write_batches(&for_thread, sink))?;
        let guard = LogWriterGuard {
            shared: Arc::clone(&shared),
            thread: Some(thread),
        };
        Ok((LogLines { shared }, guard))
    }
}

impl std::fmt::Debug for LogLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogLines").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for LogWriterGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriterGuard").finish_non_exhaustive()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock leaves whole lines behind: go on with them.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Write for LogLines {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut pending = self.shared.lock();
        if pending.bytes.len() + line.len() > MAX_PENDING_BYTES {
            pending.dropped += 1;
            return Ok(line.len());
        }
        let first = pending.bytes.is_empty();
        pending.bytes.extend_from_slice(line);
        let wake = first && pending.writer_asleep;
        drop(pending);
        if wake {
            self.shared.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // The writer thread writes every batch out at once; nothing is held back here.
        Ok(())
    }
}

impl Drop for LogWriterGuard {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The writer thread: under a stream of lines, one batch per [`BATCH_WINDOW`] (lines arriving
/// meanwhile need no wake-up); after a window without lines, it sleeps until the next one. On
/// shutdown it writes what is left.
fn write_batches(shared: &Shared, mut sink: Box<dyn Write + Send>) {
    // The two buffers trade places: lines gather in one while the other is written.
    let mut spare = Vec::new();
    let mut pending = shared.lock();
    loop {
        if pending.bytes.is_empty() && pending.dropped == 0 {
            if pending.shutdown {
                break;
            }
            pending.writer_asleep = true;
            pending = shared
                .wake
                .wait(pending)
                .unwrap_or_else(PoisonError::into_inner);
            pending.writer_asleep = false;
            continue;
        }
        let mut batch = std::mem::replace(&mut pending.bytes, spare);
        let dropped = std::mem::take(&mut pending.dropped);
        let shutdown = pending.shutdown;
        drop(pending);
        write_batch(sink.as_mut(), &batch, dropped);
        batch.clear();
        spare = batch;
        if !shutdown {
            std::thread::sleep(BATCH_WINDOW);
        }
        pending = shared.lock();
    }
}

/// Writes one batch, and the count of lines dropped before it.
fn write_batch(sink: &mut dyn Write, batch: &[u8], dropped: u64) {
    // Nowhere to report a failing sink but the sink: its lines are lost.
    let _ = sink.write_all(batch);
    if dropped > 0 {
        let _ = writeln!(
            sink,
            "faasm: {dropped} log lines dropped (more than {MAX_PENDING_BYTES} bytes waited for this output)"
        );
    }
    let _ = sink.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// A sink whose bytes the test reads, optionally stuck until released.
    #[derive(Clone, Default)]
    struct Captured {
        bytes: Arc<Mutex<Vec<u8>>>,
        stuck: Arc<AtomicBool>,
        /// Set by the first write.
        entered: Arc<AtomicBool>,
    }

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.entered.store(true, Ordering::Release);
            while self.stuck.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(1));
            }
            self.bytes.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.bytes.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn lines_from_many_threads_arrive_whole_and_in_each_threads_order() {
        let sink = Captured::default();
        let (lines, guard) = LogLines::start(Box::new(sink.clone()), "test-log").unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut lines = lines.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        lines
                            .write_all(format!("thread {t} line {i}\n").as_bytes())
                            .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(guard);
        let text = sink.text();
        assert_eq!(text.lines().count(), 4000);
        for t in 0..4 {
            let numbers: Vec<usize> = text
                .lines()
                .filter_map(|line| line.strip_prefix(&format!("thread {t} line ")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(numbers, (0..1000).collect::<Vec<_>>(), "thread {t}");
        }
    }

    #[test]
    fn a_line_is_written_within_a_few_windows_without_more_coming() {
        let sink = Captured::default();
        let (mut lines, _guard) = LogLines::start(Box::new(sink.clone()), "test-log").unwrap();
        lines.write_all(b"alone\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while sink.text().is_empty() {
            assert!(std::time::Instant::now() < deadline, "the line never came");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(sink.text(), "alone\n");
    }

    #[test]
    fn a_stuck_sink_drops_lines_past_the_bound_and_says_how_many() {
        let sink = Captured::default();
        sink.stuck.store(true, Ordering::Release);
        let (mut lines, guard) = LogLines::start(Box::new(sink.clone()), "test-log").unwrap();
        let mut line = vec![b'x'; 1023];
        line.push(b'\n');
        // The writer takes the first line and sticks in the sink; the rest wait for it.
        lines.write_all(&line).unwrap();
        while !sink.entered.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let fits = MAX_PENDING_BYTES / line.len();
        let written = 1 + fits + 100;
        for _ in 1..written {
            lines.write_all(&line).unwrap();
        }
        sink.stuck.store(false, Ordering::Release);
        drop(guard);
        let text = sink.text();
        let kept = text.lines().filter(|l| l.starts_with('x')).count();
        assert_eq!(kept, 1 + fits, "kept {kept} of {written}");
        assert!(
            text.ends_with(&format!(
                "faasm: 100 log lines dropped (more than {MAX_PENDING_BYTES} bytes waited for this output)\n"
            )),
            "no count of the dropped lines at the end"
        );
    }
}
