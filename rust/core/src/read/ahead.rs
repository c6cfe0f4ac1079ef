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
    queue: VecDeque<Receiver<T>>,
}

impl<T: Send + 'static> Ahead<T> {
    pub fn new(num_threads: usize) -> Result<Self> {
        let pool = pool::get(num_threads)?;
        let threads = pool.current_num_threads();
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
            // A panic must not abort the process (rayon's default): the sender is then
            // dropped and `pop` reports an error. If the receiver is gone (the reader was
            // dropped), the result is not needed.
            if let Ok(out) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)) {
                let _ = tx.send(out);
            }
        });
        self.queue.push_back(rx);
    }

    /// The oldest job's result (waiting for it), or None if nothing is queued.
    pub fn pop(&mut self) -> Result<Option<T>> {
        let Some(rx) = self.queue.pop_front() else {
            return Ok(None);
        };
        rx.recv()
            .map(Some)
            .map_err(|_| Error::invalid("internal: a decoding job stopped without a result"))
    }

    pub fn clear(&mut self) {
        self.queue.clear();
    }
}
