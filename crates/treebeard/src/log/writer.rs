//! The log lines' way out: request threads append each line to one shared
//! buffer, and a writer thread swaps the buffer out and writes it whole.
//!
//! Instead of tracing-appender's non-blocking writer, which copies each
//! line into its own `Vec` and sends it through a channel (one allocation
//! and a channel message per line, and the writer thread's copy into its
//! buffer), a line here costs a lock and a copy into a buffer that is
//! reused from batch to batch, and no wake-up call while the writer thread
//! is busy or napping (it naps a millisecond after each batch before it
//! parks). What stays the same: the request never waits for stdout, lines
//! past the limit are dropped and counted rather than block it, an idle
//! service's lines go out at once and a busy one's many per `write(2)`,
//! and the guard writes out what is left.

use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// A batch buffer grown past this by a burst is not kept for the next.
const MAX_RETAINED_BATCH: usize = 1024 * 1024;

/// How long the guard waits for the writer thread to write what is left.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// How long the writer thread naps after a batch before it parks: lines
/// that come in meanwhile wait for it without waking it, so a busy
/// service's requests make no wake-up call (a syscall and two context
/// switches a line), and its lines go out at most a millisecond later.
const NAP: Duration = Duration::from_millis(1);

/// Hands lines to the writer thread; see the [module docs](self). Cheap to
/// clone; a `MakeWriter` for [`JsonLogLayer`](super::JsonLogLayer).
#[derive(Clone, Debug)]
pub(crate) struct LineWriter {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<Batch>,
    /// Wakes the writer thread when a line comes into an empty batch, or
    /// at shutdown.
    wake: Condvar,
    /// Tells the guard the writer thread has written everything.
    done: Condvar,
    /// Lines dropped because the batch was full.
    dropped: AtomicUsize,
    /// At most this many lines wait for the writer thread.
    max_lines: usize,
}

#[derive(Debug, Default)]
struct Batch {
    bytes: Vec<u8>,
    lines: usize,
    /// The guard dropped: the writer thread writes what is left and stops.
    closed: bool,
    /// The writer thread stopped.
    finished: bool,
    /// The writer thread waits for a wake-up (not napping, not writing).
    parked: bool,
}

impl Shared {
    fn batch(&self) -> MutexGuard<'_, Batch> {
        // A panic while holding the lock leaves whole lines behind (a
        // line is appended in one call): keep using the batch.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Keeps the writer thread; dropped, it writes out the lines still waiting
/// (for at most a second) and stops the thread.
#[derive(Debug)]
pub(crate) struct WriterGuard {
    shared: Arc<Shared>,
}

/// Counts the lines dropped because the writer fell behind.
#[derive(Clone, Debug)]
pub(crate) struct DroppedLines(Arc<Shared>);

impl DroppedLines {
    /// Lines dropped so far.
    pub(crate) fn get(&self) -> usize {
        self.0.dropped.load(Ordering::Relaxed)
    }
}

/// Starts the writer thread writing to `out`; at most `max_lines` wait.
pub(crate) fn spawn<W: Write + Send + 'static>(
    out: W,
    max_lines: usize,
) -> io::Result<(LineWriter, DroppedLines, WriterGuard)> {
    let shared = Arc::new(Shared {
        state: Mutex::new(Batch::default()),
        wake: Condvar::new(),
        done: Condvar::new(),
        dropped: AtomicUsize::new(0),
        max_lines,
    });
    let worker = shared.clone();
    thread::Builder::new()
        .name("treebeard-log-writer".to_owned())
        .spawn(move || {
            write_batches(&worker, out);
            worker.done.notify_all();
        })?;
    Ok((
        LineWriter {
            shared: shared.clone(),
        },
        DroppedLines(shared.clone()),
        WriterGuard { shared },
    ))
}

/// The writer thread: swaps the batch out and writes it, naps, and parks
/// when a nap brought no lines.
fn write_batches(shared: &Shared, mut out: impl Write) {
    let mut spare = Vec::new();
    let mut napped = false;
    loop {
        let mut batch = shared.batch();
        if batch.bytes.is_empty() {
            if batch.closed {
                // Everything written: from here, under the same lock,
                // lines go straight out (see `write`).
                batch.finished = true;
                return;
            }
            if !napped {
                drop(batch);
                thread::sleep(NAP);
                napped = true;
                continue;
            }
            batch.parked = true;
            while batch.bytes.is_empty() && !batch.closed {
                batch = shared
                    .wake
                    .wait(batch)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            batch.parked = false;
            napped = false;
            continue;
        }
        std::mem::swap(&mut batch.bytes, &mut spare);
        batch.lines = 0;
        drop(batch);
        // Nowhere to report a failed write to stdout: the lines are lost.
        let _ = out.write_all(&spare).and_then(|()| out.flush());
        spare.clear();
        if spare.capacity() > MAX_RETAINED_BATCH {
            spare = Vec::new();
        }
        napped = false;
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        let mut batch = self.shared.batch();
        batch.closed = true;
        self.shared.wake.notify_one();
        // Bounded: a stdout that blocks must not hold the process's exit.
        let _ = self
            .shared
            .done
            .wait_timeout_while(batch, FLUSH_TIMEOUT, |batch| !batch.finished);
    }
}

impl Write for LineWriter {
    /// Appends one line (the JSON layer writes each line in one call).
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut batch = self.shared.batch();
        if batch.finished {
            // After the guard: written here, as nothing else will.
            drop(batch);
            let _ = io::stdout().write_all(line);
            return Ok(line.len());
        }
        if batch.lines >= self.shared.max_lines {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(line.len());
        }
        batch.bytes.extend_from_slice(line);
        batch.lines += 1;
        let parked = batch.parked;
        drop(batch);
        if parked {
            self.shared.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LineWriter {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
// Test helpers outside #[test] fns unwrap too.
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Barrier;

    use super::*;

    /// Collects what the writer thread writes; `gate` holds it in its
    /// first write until the test opens it.
    #[derive(Clone, Default)]
    struct Sink {
        written: Arc<Mutex<Vec<u8>>>,
        writes: Arc<AtomicUsize>,
        gate: Option<Arc<Barrier>>,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if let Some(gate) = self.gate.take() {
                gate.wait();
            }
            self.writes.fetch_add(1, Ordering::Relaxed);
            self.written.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn text(sink: &Sink) -> String {
        String::from_utf8(sink.written.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn lines_from_many_threads_all_arrive_whole_and_the_guard_flushes() {
        let sink = Sink::default();
        let (writer, dropped, guard) = spawn(sink.clone(), 100_000).unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                thread::spawn(move || {
                    for i in 0..1000 {
                        let line = format!("{{\"thread\":{t},\"i\":{i}}}\n");
                        writer.make_writer().write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(guard);
        let text = text(&sink);
        let mut lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4000);
        lines.sort_unstable();
        lines.dedup();
        assert_eq!(lines.len(), 4000, "every line once, none torn");
        assert_eq!(dropped.get(), 0);
        // Batched: fewer writes than lines (the threads outpace the writer
        // at least sometimes).
        assert!(sink.writes.load(Ordering::Relaxed) <= 4000);
    }

    #[test]
    fn a_stuck_writer_drops_lines_past_the_limit_and_counts_them() {
        let gate = Arc::new(Barrier::new(2));
        let sink = Sink {
            gate: Some(gate.clone()),
            ..Sink::default()
        };
        let (writer, dropped, guard) = spawn(sink.clone(), 10).unwrap();
        let mut w = writer.make_writer();
        // The first line wakes the thread, which then blocks in its write.
        w.write_all(b"first\n").unwrap();
        while writer.shared.batch().lines > 0 {
            thread::yield_now();
        }
        for i in 0..25 {
            w.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        assert_eq!(dropped.get(), 15, "10 wait, the rest are dropped");
        gate.wait();
        drop(guard);
        let text = text(&sink);
        assert!(text.starts_with("first\nline 0\n"), "{text}");
        assert_eq!(text.lines().count(), 11);
        // After the guard, lines still go out (straight to stdout).
        w.write_all(b"{\"after\":\"guard\"}\n").unwrap();
        assert_eq!(dropped.get(), 15);
    }
}
