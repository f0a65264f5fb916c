//! Time. Services read the clock through [`Clock`] so that expiry rules can be tested
//! without sleeping.

use std::sync::Mutex;
use time::OffsetDateTime;

pub type Timestamp = OffsetDateTime;

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// A number in [0, 1) that differs between processes and calls: for jitter, never for
/// secrets.
pub fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, RandomState};
    let bits = RandomState::new().hash_one(std::time::Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self(Mutex::new(start))
    }
    pub fn advance(&self, by: time::Duration) {
        let mut now = self.0.lock().expect("clock lock");
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().expect("clock lock")
    }
}

/// RFC 3339 text of a timestamp (UTC, as stored and sent on the wire).
pub fn rfc3339(at: Timestamp) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .expect("every UTC timestamp formats as RFC 3339")
}

/// Parses RFC 3339 text written by [`rfc3339`].
pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}
