//! Large byte buffers kept for reuse, by every reader of the process: input blocks, parsed
//! columns and the string buffers of batches once dropped (by Python too: the Arrow C
//! interface releases through the buffer's owner). Memory new to the process costs a page
//! fault and a zeroing per page, as much as the copy that fills it; the allocator gives
//! large blocks back to the OS. At most [`KEEP_BYTES`] are kept, none longer than
//! [`KEEP_FOR`] unused (checked when a buffer is taken or given), and none [`KEEP_FOR`]
//! after the last reader that uses them has closed (see [`Lease`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Capacity kept in all.
const KEEP_BYTES: usize = 256 << 20;
/// How long a buffer is kept unused (as mimalloc's default purge delay).
const KEEP_FOR: Duration = Duration::from_secs(1);
/// Smaller buffers are left to the allocator.
const MIN_BYTES: usize = 64 << 10;

struct Kept {
    buffers: Vec<(Vec<u8>, Instant)>,
    bytes: usize,
}

static KEPT: Mutex<Kept> = Mutex::new(Kept {
    buffers: Vec::new(),
    bytes: 0,
});

impl Kept {
    fn expire(&mut self, now: Instant) {
        let bytes = &mut self.bytes;
        self.buffers.retain(|(buffer, since)| {
            let keep = now.duration_since(*since) < KEEP_FOR;
            if !keep {
                *bytes -= buffer.capacity();
            }
            keep
        });
    }
}

/// An empty buffer with room for `min` bytes: the smallest kept one that has, or a new one.
pub fn take(min: usize) -> Vec<u8> {
    // `try_lock`: a child forked while another thread held the lock must not wait forever.
    if let Ok(mut kept) = KEPT.try_lock() {
        kept.expire(Instant::now());
        let best = (kept.buffers.iter().enumerate())
            .filter(|(_, (b, _))| b.capacity() >= min)
            .min_by_key(|(_, (b, _))| b.capacity())
            .map(|(i, _)| i);
        if let Some(i) = best {
            let (buffer, _) = kept.buffers.swap_remove(i);
            kept.bytes -= buffer.capacity();
            return buffer;
        }
    }
    Vec::with_capacity(min)
}

/// Keep `buffer` for a later [`take`] (if there is room).
pub fn give(mut buffer: Vec<u8>) {
    let capacity = buffer.capacity();
    if capacity < MIN_BYTES || LEASES.load(std::sync::atomic::Ordering::Acquire) == 0 {
        return;
    }
    buffer.clear();
    if let Ok(mut kept) = KEPT.try_lock() {
        let now = Instant::now();
        kept.expire(now);
        if kept.bytes + capacity <= KEEP_BYTES {
            kept.bytes += capacity;
            kept.buffers.push((buffer, now));
        }
    }
}

/// Readers open that use the kept buffers.
static LEASES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Held by a reader that uses the kept buffers: [`KEEP_FOR`] after the last one is
/// dropped, they are freed (memory is not held for a process that has stopped reading).
pub struct Lease(());

impl Lease {
    pub fn new() -> Lease {
        LEASES.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Lease(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if LEASES.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
            // Freed [`KEEP_FOR`] later unless a reader opens meanwhile (reading file after
            // file reuses them), on a short-lived thread; at once if it cannot start.
            let later = std::thread::Builder::new()
                .name("fast-axolotl-recycle".into())
                .spawn(|| {
                    std::thread::sleep(KEEP_FOR);
                    release_if_unused();
                });
            if later.is_err() {
                release_if_unused();
            }
        }
    }
}

/// Free the kept buffers if no reader uses them.
fn release_if_unused() {
    let mut kept = KEPT.lock().unwrap_or_else(|p| p.into_inner());
    if LEASES.load(std::sync::atomic::Ordering::Acquire) == 0 {
        kept.buffers.clear();
        kept.bytes = 0;
    }
}

/// The owner of a batch's buffer: gives it back when the batch is dropped.
struct Owner(Vec<u8>);

impl Drop for Owner {
    fn drop(&mut self) {
        give(std::mem::take(&mut self.0));
    }
}

/// `values` as an Arrow buffer given back (see [`give`]) when dropped.
pub fn buffer(values: Vec<u8>) -> arrow_buffer::Buffer {
    let len = values.len();
    let ptr = std::ptr::NonNull::new(values.as_ptr().cast_mut()).expect("not null");
    let owner = Arc::new(Owner(values));
    // SAFETY: `ptr` points to the `len` initialised bytes of the vector `owner` holds (moving
    // a Vec does not move its heap memory), alive as long as the buffer holds `owner`.
    unsafe { arrow_buffer::Buffer::from_custom_allocation(ptr, len, owner) }
}
