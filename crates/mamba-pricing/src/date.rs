//! [`PriceDate`]: the UTC day a price comes into force.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SECONDS_PER_DAY: u64 = 86_400;

/// A calendar day in UTC (`YYYY-MM-DD`), from 1970 on: when a price starts to apply. A price
/// that starts on a day applies to requests made from that day's midnight UTC.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use mamba_pricing::PriceDate;
///
/// let day: PriceDate = "2025-06-10".parse()?;
/// assert_eq!(day.to_string(), "2025-06-10");
/// assert_eq!(day.start(), UNIX_EPOCH + Duration::from_secs(1_749_513_600));
/// assert!("2025-02-30".parse::<PriceDate>().is_err());
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PriceDate {
    /// Days since 1970-01-01.
    days: u32,
}

impl PriceDate {
    /// The day `year-month-day`, or `None` for a day that does not exist or is before 1970.
    pub fn from_ymd(year: u32, month: u32, day: u32) -> Option<PriceDate> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        let days = days_from_civil(year, month, day)?;
        Some(PriceDate { days })
    }

    /// Midnight UTC at the start of the day.
    pub fn start(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(u64::from(self.days) * SECONDS_PER_DAY)
    }

    /// The UTC day `time` falls on (times before 1970 fall on 1970-01-01).
    pub fn of(time: SystemTime) -> PriceDate {
        let seconds = time
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        let days = u32::try_from(seconds / SECONDS_PER_DAY).unwrap_or(u32::MAX);
        PriceDate { days }
    }

    /// `(year, month, day)`.
    pub fn ymd(self) -> (u32, u32, u32) {
        civil_from_days(self.days)
    }
}

fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a valid date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: u32, month: u32, day: u32) -> Option<u32> {
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = (i64::from(month) + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    u32::try_from(era * 146_097 + day_of_era - 719_468).ok()
}

/// The date of a day count (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u32) -> (u32, u32, u32) {
    let z = i64::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let part = |n: i64| u32::try_from(n).unwrap_or_default();
    (part(year), part(month), part(day))
}

impl fmt::Display for PriceDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = self.ymd();
        write!(f, "{year:04}-{month:02}-{day:02}")
    }
}

impl FromStr for PriceDate {
    type Err = String;

    /// Parses `YYYY-MM-DD`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("`{text}` is not a date of the form YYYY-MM-DD from 1970 on");
        let mut parts = text.trim().split('-');
        let mut next = |len: usize| {
            parts
                .next()
                .filter(|part| part.len() == len && part.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|part| part.parse::<u32>().ok())
        };
        let (Some(year), Some(month), Some(day)) = (next(4), next(2), next(2)) else {
            return Err(invalid());
        };
        if parts.next().is_some() {
            return Err(invalid());
        }
        PriceDate::from_ymd(year, month, day).ok_or_else(invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_through_day_counts() {
        for days in [0, 59, 365, 10_957, 20_249, 20_423, 30_000, 100_000] {
            let date = PriceDate { days };
            let (y, m, d) = date.ymd();
            assert_eq!(PriceDate::from_ymd(y, m, d), Some(date), "{date}");
            assert_eq!(date.to_string().parse::<PriceDate>(), Ok(date));
            assert_eq!(PriceDate::of(date.start()), date);
        }
    }

    #[test]
    fn known_days() {
        let cases = [
            ("1970-01-01", 0),
            ("2000-02-29", 11_016),
            ("2025-06-10", 20_249),
            ("2026-12-01", 20_788),
        ];
        for (text, days) in cases {
            assert_eq!(
                text.parse::<PriceDate>().map(|d| d.days),
                Ok(days),
                "{text}"
            );
        }
        for bad in [
            "1969-12-31",
            "2025-13-01",
            "2025-6-10",
            "2025-06-10x",
            "2023-02-29",
            "",
        ] {
            assert!(bad.parse::<PriceDate>().is_err(), "{bad}");
        }
    }
}
