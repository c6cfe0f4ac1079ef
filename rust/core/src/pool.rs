//! The one shared rayon pool, of as many threads as the machine has cores.
//!
//! `num_threads` (an argument, or `FAST_AXOLOTL_NUM_THREADS` for the default) says how many
//! of those threads a call may keep busy; it is capped at the cores, so no value, however
//! large, starts more threads, and no value builds a pool of its own. Parallel loops split
//! their work into at most that many pieces ([`min_len`]); read-ahead queues that many jobs.
//!
//! A pool's worker threads do not survive `fork()`, so the pool remembers the process id
//! that built it and a forked child (DataLoader workers, `datasets.map(num_proc=...)`)
//! builds its own instead of waiting forever.

use std::sync::{Arc, Mutex, OnceLock};

use rayon::ThreadPool;

use crate::{Error, Result};

static POOL: Mutex<Option<(u32, Arc<ThreadPool>)>> = Mutex::new(None);

/// The cores this process may run on (affinity and cgroup quotas included).
pub fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

/// Threads used when a call passes `num_threads = 0`: `FAST_AXOLOTL_NUM_THREADS` if set to a
/// positive integer (capped at the cores), else all cores.
pub fn default_threads() -> usize {
    std::env::var("FAST_AXOLOTL_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&n| n > 0)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX).min(cores()))
        .unwrap_or_else(cores)
}

/// The threads a call with `num_threads` uses: 0 = the default, else capped at the cores.
pub fn threads(num_threads: usize) -> usize {
    if num_threads == 0 {
        default_threads()
    } else {
        num_threads.min(cores())
    }
}

/// The shared pool (built on first use, and again in a forked child).
pub fn get() -> Result<Arc<ThreadPool>> {
    let pid = std::process::id();
    let mut guard = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((owner, pool)) = guard.as_ref() {
        if *owner == pid {
            return Ok(pool.clone());
        }
        // We are a forked child: the parent's workers do not exist here. The old pool is
        // leaked on purpose: dropping it would wait for threads that are gone.
        if let Some((_, old)) = guard.take() {
            std::mem::forget(old);
        }
    }
    let size = cores();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(size)
        .thread_name(|i| format!("fast-axolotl-{i}"))
        .build()
        .map_err(|e| Error::internal(format!("cannot start {size} pool threads: {e}")))?;
    let pool = Arc::new(pool);
    *guard = Some((pid, pool.clone()));
    Ok(pool)
}

/// Below this many elements of work, waking pool threads costs more than it saves
/// (a wake-up is tens of microseconds idle, milliseconds on a loaded machine).
pub const PARALLEL_THRESHOLD: usize = 1 << 16;

/// Whether work of `size` elements should go to the pool (else run on the caller's thread).
pub fn parallel(num_threads: usize, size: usize) -> bool {
    size >= PARALLEL_THRESHOLD && threads(num_threads) > 1
}

/// The smallest piece of `items` work items a parallel loop of a call with `num_threads`
/// may hand to a thread (`with_min_len`): when the call may use fewer threads than the pool
/// has, the work splits into at most that many pieces, so no more threads are kept busy.
/// With all of them, 1 (rayon balances the load by splitting finely).
pub fn min_len(num_threads: usize, items: usize) -> usize {
    let threads = threads(num_threads);
    if threads >= cores() {
        1
    } else {
        items.div_ceil(threads).max(1)
    }
}

/// Run `f` inside the shared pool, with the caller's cancellation token as the current token
/// of the thread that runs `f`. Tasks that other workers steal do not see it: parallel
/// closures take a `cancel::Checker` captured before the split and skip their work once it
/// is cancelled; a cancelled call then returns `Error::Interrupted`.
pub fn install<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T> {
    let pool = get()?;
    let token = crate::cancel::current();
    let out = pool.install(|| crate::cancel::with_token(token.clone(), f));
    if token.is_some_and(|t| t.is_cancelled()) {
        return Err(Error::Interrupted);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pool_of_the_cores() {
        let a = get().unwrap();
        let b = get().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(install(rayon::current_num_threads).unwrap(), cores());
    }

    #[test]
    fn thread_counts_are_capped_at_the_cores() {
        assert_eq!(threads(1), 1);
        assert_eq!(threads(usize::MAX), cores());
        assert_eq!(threads(1 << 31), cores());
        assert!(threads(0) >= 1 && threads(0) <= cores());
    }

    #[test]
    fn work_splits_into_at_most_the_threads() {
        assert_eq!(min_len(usize::MAX, 1000), 1);
        if cores() > 1 {
            assert_eq!(min_len(1, 1000), 1000);
            assert_eq!(min_len(1, 0), 1);
        }
    }
}
