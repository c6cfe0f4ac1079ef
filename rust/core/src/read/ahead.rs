//! Ordered read-ahead on the shared pool: jobs run in parallel, results come back in
//! the order the jobs were queued. The caller bounds how many are queued at once.

use std::collections::VecDeque;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use rayon::ThreadPool;

use crate::error::{Error, Result};
use crate::pool;

pub struct Ahead<T> {
    pool: Arc<ThreadPool>,
    threads: usize,
    queue: VecDeque<Receiver<std::result::Result<T, String>>>,
}

impl<T: Send + 'static> Ahead<T> {
    pub fn new(num_threads: usize) -> Result<Self> {
        let pool = pool::get()?;
        let threads = pool::threads(num_threads);
        Ok(Ahead {
            pool,
            threads,
            queue: VecDeque::new(),
        })
    }

    /// Threads of the pool (how many jobs are worth queueing).
    pub fn threads(&self) -> usize {
        self.threads
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn push(&mut self, job: impl FnOnce() -> T + Send + 'static) {
        let (tx, rx) = sync_channel(1);
        self.pool.spawn(move || {
            // A panic must not abort the process (rayon's default): its message goes to
            // `pop` as an internal error. If the receiver is gone (the reader was dropped),
            // the result is not needed.
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))
                .map_err(|panic| panic_message(panic.as_ref()));
            let _ = tx.send(out);
        });
        self.queue.push_back(rx);
    }

    /// The oldest job's result (waiting for it), or None if nothing is queued.
    pub fn pop(&mut self) -> Result<Option<T>> {
        let Some(rx) = self.queue.pop_front() else {
            return Ok(None);
        };
        match rx.recv() {
            Ok(Ok(out)) => Ok(Some(out)),
            Ok(Err(what)) => Err(Error::internal(format!("a decoding job panicked: {what}"))),
            Err(_) => Err(Error::internal("a decoding job ended without a result")),
        }
    }

    pub fn clear(&mut self) {
        self.queue.clear();
    }
}

/// The text a panic carries (`panic!` with a literal or a formatted message).
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// A decoded chunk of a record source (JSON, CSV): the batch of its good records, how many
/// it skipped (`on_error="skip"`), and the error that ended it (the records before it are in
/// the batch, as when streaming).
pub struct Decoded {
    pub batch: Option<arrow_array::RecordBatch>,
    pub skipped: u64,
    pub error: Option<Error>,
}

/// The read-ahead of a record source: chunks of records are split on the caller's thread and
/// decoded on the pool, `threads + 1` chunks ahead of the consumer (on the caller's thread
/// when the pool has one thread); batches and errors come out in input order.
#[derive(Default)]
pub struct Chunked {
    ahead: Option<Ahead<Decoded>>,
    serial: bool,
    failed: Option<Error>,
    done: bool,
    /// Records skipped by the decoded chunks so far.
    pub skipped: u64,
    /// Chunks queued beyond `threads + 1` (for sources whose jobs do not all yield a batch).
    pub extra_depth: usize,
}

impl Chunked {
    /// The next non-empty batch, or the error that ended the input (after the batch of the
    /// records before it). `gather` returns the next chunk (None at the end of the input);
    /// `decode` turns a chunk into a [`Decoded`] (on the pool).
    pub fn next_batch<C, D>(
        &mut self,
        num_threads: usize,
        mut gather: impl FnMut() -> Option<C>,
        decode: D,
    ) -> Result<Option<arrow_array::RecordBatch>>
    where
        C: Send + 'static,
        D: Fn(C) -> Decoded + Clone + Send + 'static,
    {
        loop {
            if let Some(e) = self.failed.take() {
                if let Some(ahead) = self.ahead.as_mut() {
                    ahead.clear(); // results still being decoded are not needed
                }
                self.done = true;
                return Err(e);
            }
            if self.done {
                return Ok(None);
            }
            let Some(decoded) = self.next_decoded(num_threads, &mut gather, &decode)? else {
                self.done = true;
                return Ok(None);
            };
            self.skipped += decoded.skipped;
            self.failed = decoded.error;
            if let Some(batch) = decoded.batch {
                return Ok(Some(batch));
            }
        }
    }

    fn next_decoded<C, D>(
        &mut self,
        num_threads: usize,
        gather: &mut impl FnMut() -> Option<C>,
        decode: &D,
    ) -> Result<Option<Decoded>>
    where
        C: Send + 'static,
        D: Fn(C) -> Decoded + Clone + Send + 'static,
    {
        if self.ahead.is_none() && !self.serial {
            let ahead = Ahead::new(num_threads)?;
            if ahead.threads() <= 1 {
                self.serial = true;
            } else {
                self.ahead = Some(ahead);
            }
        }
        let depth = self.extra_depth + 1;
        let Some(ahead) = self.ahead.as_mut() else {
            return Ok(gather().map(decode));
        };
        while ahead.len() < ahead.threads() + depth {
            let Some(chunk) = gather() else { break };
            let job = decode.clone();
            ahead.push(move || job(chunk));
        }
        ahead.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_queue_order() {
        let mut ahead = Ahead::new(2).unwrap();
        for i in 0..8u64 {
            ahead.push(move || {
                std::thread::sleep(std::time::Duration::from_millis(8 - i));
                i
            });
        }
        let got: Vec<u64> = std::iter::from_fn(|| ahead.pop().unwrap()).collect();
        assert_eq!(got, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn a_panicking_job_is_an_internal_error_with_its_message() {
        let mut ahead: Ahead<u32> = Ahead::new(2).unwrap();
        ahead.push(|| panic!("row 7 broke the decoder"));
        match ahead.pop() {
            Err(Error::Internal(message)) => assert!(message.contains("row 7 broke"), "{message}"),
            other => panic!("expected an internal error, got {:?}", other.map(|_| ())),
        }
    }
}
