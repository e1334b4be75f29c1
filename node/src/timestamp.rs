//! Dates for people and for XMPP, from times that may come from a peer.
//!
//! humantime's RFC 3339 `Display` fails for years past 9999, and
//! `to_string()` on a failing `Display` panics; a group message's clock is
//! the author's choice. Everything printed here is clamped first
//! ([`Time::clamp_to_dates`]), so formatting a time never panics.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairn_protocol::time::Time;

/// The wall clock, as the core wants it.
pub fn now() -> Time {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Time::from_millis(ms)
}

/// `2026-12-03T13:48:16Z`.
pub fn rfc3339_seconds(ms: u64) -> String {
    humantime::format_rfc3339_seconds(system_time(ms)).to_string()
}

/// `2026-12-03T13:48:16.123Z`.
pub fn rfc3339_millis(ms: u64) -> String {
    humantime::format_rfc3339_millis(system_time(ms)).to_string()
}

fn system_time(ms: u64) -> std::time::SystemTime {
    let ms = Time::from_millis(ms).clamp_to_dates().as_millis();
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_time_at_all_prints_as_a_date() {
        for ms in [
            0,
            1,
            1_764_769_696_000,
            Time::LATEST_DATE.as_millis(),
            u64::MAX,
        ] {
            let s = rfc3339_millis(ms);
            assert!(s.ends_with('Z'), "{s}");
            assert!(!rfc3339_seconds(ms).is_empty());
        }
        assert_eq!(rfc3339_seconds(u64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339_seconds(0), "1970-01-01T00:00:00Z");
    }
}
