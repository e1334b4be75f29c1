//! Time as the core sees it: whatever the driver says it is.
//!
//! The core never reads a clock. The node passes wall-clock milliseconds; the
//! simulator passes its virtual clock. One type serves both timers and message
//! timestamps.

use std::fmt;
use std::time::Duration;

/// Milliseconds since the Unix epoch, as told by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(u64);

impl Time {
    pub const ZERO: Time = Time(0);
    pub const MAX: Time = Time(u64::MAX);
    /// The last millisecond of year 9999: the latest time a calendar date can
    /// be written for (RFC 3339 has four-digit years). Times that peers
    /// choose (a message id's clock) are clamped to it, so printing one can
    /// never fail.
    pub const LATEST_DATE: Time = Time(253_402_300_799_999);

    pub const fn from_millis(ms: u64) -> Self {
        Time(ms)
    }

    pub const fn from_secs(s: u64) -> Self {
        Time(s.saturating_mul(1000))
    }

    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// This time, or [`Time::LATEST_DATE`] if it is later.
    pub const fn clamp_to_dates(self) -> Time {
        if self.0 > Self::LATEST_DATE.0 {
            Self::LATEST_DATE
        } else {
            self
        }
    }

    /// How long after `earlier` this is; zero if it is not later.
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl std::ops::Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Time(self.0.saturating_add(ms))
    }
}

impl std::ops::Sub<Duration> for Time {
    type Output = Time;
    fn sub(self, d: Duration) -> Time {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Time(self.0.saturating_sub(ms))
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}
