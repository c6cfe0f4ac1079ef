//! Cooperative cancellation (Ctrl-C): a token set by the caller, checked by long loops.
//!
//! The binding runs long calls on a helper thread with a fresh [`Token`] installed as the
//! thread's current token (see `interruptible` in rust/python/src/errors.rs); when Python
//! reports a signal it cancels the token, and the next [`check`] in the work returns
//! [`Error::Interrupted`]. [`crate::pool::install`] carries the caller's token into the
//! pool, so checks inside parallel loops see it too. Without a token, `check` is one
//! thread-local read and never fails.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::{Error, Result};

/// Set once to stop the work it is installed for.
#[derive(Clone, Debug, Default)]
pub struct Token(Arc<AtomicBool>);

impl Token {
    pub fn new() -> Self {
        Token::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Token>> = const { RefCell::new(None) };
}

/// The token installed on this thread, if any.
pub fn current() -> Option<Token> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Run `f` with `token` (or none) as this thread's current token, then restore the previous one.
pub fn with_token<T>(token: Option<Token>, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Token>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let previous = CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), token));
    let _restore = Restore(previous);
    f()
}

/// `Err(Interrupted)` when this thread's current token was cancelled.
pub fn check() -> Result<()> {
    CURRENT.with(|c| match &*c.borrow() {
        Some(token) if token.is_cancelled() => Err(Error::Interrupted),
        _ => Ok(()),
    })
}

/// The current token, captured to be checked from other threads (parallel closures).
#[derive(Clone, Debug, Default)]
pub struct Checker(Option<Token>);

impl Checker {
    pub fn cancelled(&self) -> bool {
        self.0.as_ref().is_some_and(Token::is_cancelled)
    }

    pub fn check(&self) -> Result<()> {
        if self.cancelled() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }
}

/// Capture this thread's current token for use on other threads.
pub fn checker() -> Checker {
    Checker(current())
}

/// Free a large value on a background thread: after a cancel, unmapping hundreds of MB of
/// output (tens of ms) would otherwise delay the KeyboardInterrupt.
pub fn discard<T: Send + 'static>(value: T) {
    // If no thread can be started, the closure (and the value) is dropped right here.
    let _ = std::thread::Builder::new()
        .name("fast-axolotl-free".into())
        .spawn(move || drop(value));
}

/// Items between two checks in a long loop: each item costs at least nanoseconds, so this is a
/// check every few hundred microseconds at most, and its cost (a thread-local read) is noise.
pub const EVERY: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_sees_only_the_installed_token() {
        assert!(check().is_ok());
        let token = Token::new();
        with_token(Some(token.clone()), || {
            assert!(check().is_ok());
            token.cancel();
            assert!(matches!(check(), Err(Error::Interrupted)));
            with_token(None, || assert!(check().is_ok()));
            assert!(check().is_err());
        });
        assert!(check().is_ok());
    }

    #[test]
    fn the_pool_carries_the_token() {
        use rayon::prelude::*;
        let token = Token::new();
        let (seen, result) = with_token(Some(token.clone()), || {
            let seen = crate::pool::install(|| {
                let checker = checker();
                token.cancel();
                (0..64)
                    .into_par_iter()
                    .filter(|_| checker.cancelled())
                    .count()
            });
            (check().is_err(), seen)
        });
        assert!(seen);
        assert!(matches!(result, Err(Error::Interrupted)));
    }
}
