//! The PII scrubber every output of this crate goes through.
//!
//! Log lines (field values, and the value of any field whose *name* is
//! sensitive, such as `password`), span tags (`http.url`, `error.message`)
//! and, with Sentry, error events are scrubbed by one
//! [`treebeard_pii::Scrubber`]: the defaults, or the one given to
//! [`set_scrubber`] before [`crate::init`].
//!
//! ```
//! let scrubber = treebeard::privacy::scrubber();
//! assert_eq!(scrubber.scrub("mail bob@example.com"), "mail [EMAIL]");
//! ```

use std::sync::OnceLock;

#[cfg(feature = "sentry")]
pub(crate) mod sentry;

pub use treebeard_pii::{Scrubber, ScrubberBuilder, hash_user_id, markers};

static SCRUBBER: OnceLock<Scrubber> = OnceLock::new();

/// Uses `scrubber` (say, the defaults plus your own patterns) everywhere.
///
/// Call it once, before [`crate::init`]; returns `false` (and changes
/// nothing) when a scrubber is already in use.
pub fn set_scrubber(scrubber: Scrubber) -> bool {
    SCRUBBER.set(scrubber).is_ok()
}

/// The scrubber in use: the one set with [`set_scrubber`], or the defaults.
pub fn scrubber() -> &'static Scrubber {
    SCRUBBER.get_or_init(|| Scrubber::global().clone())
}
