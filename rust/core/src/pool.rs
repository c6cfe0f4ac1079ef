//! The shared rayon pool, sized by `FAST_AXOLOTL_NUM_THREADS` (default: all cores).
//!
//! A pool's worker threads do not survive `fork()`, so the pool remembers the
//! process id that built it and a forked child (DataLoader workers,
//! `datasets.map(num_proc=...)`) builds its own instead of waiting forever.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rayon::ThreadPool;

use crate::{Error, Result};

type Pools = HashMap<usize, Arc<ThreadPool>>;

static POOLS: Mutex<Option<(u32, Pools)>> = Mutex::new(None);

/// Threads used when a call passes `num_threads = 0`.
pub fn default_threads() -> usize {
    std::env::var("FAST_AXOLOTL_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
}

/// The pool for `num_threads` (0 = default), built once per process and size.
pub fn get(num_threads: usize) -> Result<Arc<ThreadPool>> {
    let threads = if num_threads == 0 {
        default_threads()
    } else {
        num_threads
    };
    let pid = std::process::id();
    let mut guard = POOLS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if guard.as_ref().map(|(owner, _)| *owner) != Some(pid) {
        // First use, or we are a forked child: the parent's workers do not exist here.
        // The old pools are leaked on purpose: dropping them would wait for threads that are gone.
        if let Some((_, old)) = guard.take() {
            std::mem::forget(old);
        }
        *guard = Some((pid, HashMap::new()));
    }
    let (_, pools) = guard.as_mut().expect("set above");
    if let Some(pool) = pools.get(&threads) {
        return Ok(pool.clone());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("fast-axolotl-{i}"))
        .build()
        .map_err(|e| Error::invalid(format!("cannot start {threads} threads: {e}")))?;
    let pool = Arc::new(pool);
    pools.insert(threads, pool.clone());
    Ok(pool)
}

/// Below this many elements of work, waking pool threads costs more than it saves
/// (a wake-up is tens of microseconds idle, milliseconds on a loaded machine).
pub const PARALLEL_THRESHOLD: usize = 1 << 16;

/// Whether work of `size` elements should go to the pool (else run on the caller's thread).
pub fn parallel(num_threads: usize, size: usize) -> bool {
    size >= PARALLEL_THRESHOLD
        && (if num_threads == 0 {
            default_threads()
        } else {
            num_threads
        }) > 1
}

/// Run `f` inside the pool for `num_threads`, with the caller's cancellation token as the
/// current token of the thread that runs `f`. Tasks that other workers steal do not see it:
/// parallel closures take a `cancel::Checker` captured before the split and skip their work
/// once it is cancelled; a cancelled call then returns `Error::Interrupted`.
pub fn install<T: Send>(num_threads: usize, f: impl FnOnce() -> T + Send) -> Result<T> {
    let pool = get(num_threads)?;
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
    fn pools_are_cached_per_size() {
        let a = get(2).unwrap();
        let b = get(2).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(install(3, rayon::current_num_threads).unwrap(), 3);
    }
}
