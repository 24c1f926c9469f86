//! How a time is written for a person: in the offset of the place it belongs to, with that
//! offset said, `2026-12-01 09:00 (UTC+08:00)`.

use chrono::{DateTime, FixedOffset, NaiveDateTime};

pub fn for_people(t: &DateTime<FixedOffset>) -> String {
    format!("{} (UTC{})", t.format("%Y-%m-%d %H:%M"), t.format("%:z"))
}

/// Who reads what the server says: their language, and the offset of their place for the times
/// the server keeps in UTC (a reservation's deadline), shown as `2026-12-01 17:30 (UTC+08:00)`.
#[derive(Debug, Clone, Copy)]
pub struct Reader {
    pub zh: bool,
    pub offset: FixedOffset,
}

impl Reader {
    /// A time kept in UTC, in the reader's offset.
    pub fn time(&self, utc: NaiveDateTime) -> String {
        for_people(&utc.and_utc().with_timezone(&self.offset))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_time_keeps_its_offset() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-01T09:05:59+08:00").unwrap();
        assert_eq!(super::for_people(&t), "2026-12-01 09:05 (UTC+08:00)");
    }
}
