//! Timestamps as the state and plans store them: RFC 3339 in UTC, to the second.

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

const FORMAT: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// `2026-11-26T09:30:00Z`.
pub fn format(t: OffsetDateTime) -> String {
    // Every field of the description exists on an OffsetDateTime, so formatting cannot fail.
    t.to_offset(UtcOffset::UTC).format(FORMAT).unwrap_or_default()
}

pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

/// The current time, for [`crate::Plan::build`], so that callers need no `time` dependency.
pub fn now_utc() -> OffsetDateTime {
    OffsetDateTime::now_utc()
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
    fn formats_utc_to_the_second() {
        let t = OffsetDateTime::from_unix_timestamp(1_795_685_400).unwrap();
        assert_eq!(format(t), "2026-11-26T09:30:00Z");
        let shifted = t.to_offset(UtcOffset::from_hms(8, 0, 0).unwrap());
        assert_eq!(format(shifted), "2026-11-26T09:30:00Z");
    }
}
