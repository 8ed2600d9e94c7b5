//! Timestamps as the state and plans store them: RFC 3339 in UTC, to the second, and the
//! [`Clock`] the writer reads them from (the system's, or a test's).

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

const FORMAT: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// `2026-11-26T09:30:00Z`.
pub fn format(t: OffsetDateTime) -> String {
    // Every field of the description exists on an OffsetDateTime, so formatting cannot fail.
    t.to_offset(UtcOffset::UTC).format(FORMAT).unwrap_or_default()
}

/// [`format()`], rounded up to the next whole second: for a deadline, which must not come early.
pub fn format_ceil(t: OffsetDateTime) -> String {
    let whole = t.replace_nanosecond(0).unwrap_or(t);
    format(if whole < t {
        whole + time::Duration::SECOND
    } else {
        whole
    })
}

/// A time as [`format()`] wrote it.
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

/// The current time, for `pai_planner::Plan::build`, so that callers need no `time` dependency.
pub fn now_utc() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Where the writer reads the time it stamps rows and history entries with. Production uses
/// [`SystemClock`]; a test passes its own (to [`crate::StateWriter::with_clock`]) so that
/// two writes a second apart need not wait for the wall clock.
pub trait Clock: std::fmt::Debug + Send + Sync {
    fn now_utc(&self) -> OffsetDateTime;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_utc(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// The name of this machine, for lock holders and run records.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_and_read_back() {
        let t = OffsetDateTime::from_unix_timestamp(1_795_685_400).unwrap();
        assert_eq!(format_ceil(t), "2026-11-26T09:30:00Z");
        let later = t + time::Duration::milliseconds(1);
        assert_eq!(format_ceil(later), "2026-11-26T09:30:01Z");
        assert_eq!(format(later), "2026-11-26T09:30:00Z");
        assert_eq!(parse(&format_ceil(later)), Some(t + time::Duration::SECOND));
        assert_eq!(parse("yesterday"), None);
    }

    #[test]
    fn formats_utc_to_the_second() {
        let t = OffsetDateTime::from_unix_timestamp(1_795_685_400).unwrap();
        assert_eq!(format(t), "2026-11-26T09:30:00Z");
        let shifted = t.to_offset(UtcOffset::from_hms(8, 0, 0).unwrap());
        assert_eq!(format(shifted), "2026-11-26T09:30:00Z");
    }
}
