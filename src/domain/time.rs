//! How a time is written for a person: in the offset of the place it belongs to, with that
//! offset said, `2026-12-01 09:00 (UTC+08:00)`.

use chrono::{DateTime, FixedOffset};

pub fn for_people(t: &DateTime<FixedOffset>) -> String {
    format!("{} (UTC{})", t.format("%Y-%m-%d %H:%M"), t.format("%:z"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_time_keeps_its_offset() {
        let t = chrono::DateTime::parse_from_rfc3339("2026-12-01T09:05:59+08:00").unwrap();
        assert_eq!(super::for_people(&t), "2026-12-01 09:05 (UTC+08:00)");
    }
}
