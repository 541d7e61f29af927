//! Reading trigger arguments: datetimes (`YYYY-MM-DD[ T]HH:MM:SS[.ffffff][Z|±HH:MM]`), IANA
//! time zones, numbers that may arrive as strings, and jitter; plus the two time helpers every
//! trigger shares: placing a wall-clock time in a zone (DESIGN.md §4) and drawing jitter.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use asyncz_core::{Error, Map, Result, Value};
use chrono::{
    DateTime, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, Offset, SecondsFormat,
    TimeZone, Utc,
};
use chrono_tz::Tz;

/// Places a wall-clock time in `tz` the way asyncz does everywhere:
/// - a time that occurs twice (fall back) is its first occurrence;
/// - a time that does not exist (spring forward) keeps the offset in force before the gap, so it
///   lands as far past the gap as it was into it (02:30 in a 1-hour gap is 03:30).
pub(crate) fn localize(tz: Tz, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(dt) => Some(dt.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => {
            let (_, before) = chrono_tz::GapInfo::new(&naive, &tz)?.begin?;
            let seconds = i64::from(before.fix().local_minus_utc());
            naive
                .checked_sub_signed(Duration::seconds(seconds))
                .map(|utc| utc.and_utc())
        }
    }
}

/// The wall-clock time of `t` in `tz`, and the offset in force; `None` only at the very ends
/// of the representable range (chrono's `naive_local` would panic there).
pub(crate) fn wall_time(tz: Tz, t: DateTime<Utc>) -> Option<(NaiveDateTime, FixedOffset)> {
    let offset = tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    Some((t.naive_utc().checked_add_offset(offset)?, offset))
}

/// Formats an instant for a trigger's state: RFC 3339 with the offset of `tz` (UTC → `Z`),
/// fractional seconds only when present. [`parse_datetime`] reads it back to the same instant.
pub(crate) fn format_state_datetime(value: DateTime<Utc>, tz: Option<Tz>) -> String {
    match tz {
        Some(tz) if tz != Tz::UTC && wall_time(tz, value).is_some() => value
            .with_timezone(&tz)
            .to_rfc3339_opts(SecondsFormat::AutoSi, false),
        _ => value.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    }
}

/// Formats an instant like upstream's `datetime_repr`: `2026-01-01 10:00:00 CET`.
pub(crate) fn format_display_datetime(value: DateTime<Utc>, tz: Option<Tz>) -> String {
    match tz {
        Some(tz) if wall_time(tz, value).is_some() => value
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string(),
        _ => value.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    }
}

/// Parses `YYYY-MM-DD[( |T)HH:MM:SS[.fraction]][Z|±HH:MM]`. A value without an offset is a
/// wall-clock time in `tz`. Numbers are read as UNIX timestamps (seconds).
pub(crate) fn parse_datetime(field: &str, value: &Value, tz: Tz) -> Result<DateTime<Utc>> {
    // asyncz keeps every instant in whole microseconds (what the stores keep).
    parse_datetime_exact(field, value, tz).map(asyncz_core::truncate_to_micros)
}

fn parse_datetime_exact(field: &str, value: &Value, tz: Tz) -> Result<DateTime<Utc>> {
    match value {
        Value::String(text) => parse_datetime_str(field, text, tz),
        Value::Number(n) => {
            let seconds = n
                .as_f64()
                .ok_or_else(|| Error::invalid(field, format!("timestamp {n} is not a number")))?;
            timestamp(seconds).ok_or_else(|| {
                Error::invalid(
                    field,
                    format!("timestamp {n} is out of the supported range"),
                )
            })
        }
        other => Err(Error::invalid(
            field,
            format!("expected a datetime string like '2026-01-01 10:00:00', got {other}"),
        )),
    }
}

fn timestamp(seconds: f64) -> Option<DateTime<Utc>> {
    if !seconds.is_finite() {
        return None;
    }
    let whole = seconds.floor();
    if whole.abs() > 1e13 {
        return None;
    }
    // `whole` is a checked, bounded integer value, so the casts cannot truncate.
    #[allow(clippy::cast_possible_truncation)]
    let nanos = ((seconds - whole) * 1e9).round() as u32;
    #[allow(clippy::cast_possible_truncation)]
    DateTime::from_timestamp(whole as i64, nanos.min(999_999_999))
}

/// Parses a datetime string (see [`parse_datetime`]).
pub(crate) fn parse_datetime_str(field: &str, text: &str, tz: Tz) -> Result<DateTime<Utc>> {
    let bad = |why: &str| {
        Error::invalid(
            field,
            format!(
                "'{text}' is not a datetime ({why}); expected YYYY-MM-DD[ HH:MM:SS[.ffffff]][Z|±HH:MM]"
            ),
        )
    };
    let mut cursor = Cursor::new(text.trim());
    let year = cursor
        .digits(4, 4)
        .ok_or_else(|| bad("the year needs 4 digits"))?;
    cursor
        .expect(b'-')
        .ok_or_else(|| bad("missing '-' after the year"))?;
    let month = cursor.digits(1, 2).ok_or_else(|| bad("bad month"))?;
    cursor
        .expect(b'-')
        .ok_or_else(|| bad("missing '-' after the month"))?;
    let day = cursor.digits(1, 2).ok_or_else(|| bad("bad day"))?;
    let (mut hour, mut minute, mut second, mut nanos) = (0, 0, 0, 0);
    let mut offset = None;
    if !cursor.done() {
        if !(cursor.eat(b' ') || cursor.eat(b'T') || cursor.eat(b't')) {
            return Err(bad("expected ' ' or 'T' after the date"));
        }
        hour = cursor.digits(1, 2).ok_or_else(|| bad("bad hour"))?;
        cursor
            .expect(b':')
            .ok_or_else(|| bad("missing ':' after the hour"))?;
        minute = cursor.digits(1, 2).ok_or_else(|| bad("bad minute"))?;
        cursor
            .expect(b':')
            .ok_or_else(|| bad("missing ':' after the minute"))?;
        second = cursor.digits(1, 2).ok_or_else(|| bad("bad second"))?;
        if cursor.eat(b'.') {
            let start = cursor.pos;
            let fraction = cursor
                .digits(1, 9)
                .ok_or_else(|| bad("bad fraction of a second"))?;
            let len = cursor.pos - start;
            // 1..=9 digits: scale up to nanoseconds.
            nanos = fraction * 10u32.pow(9 - u32::try_from(len).unwrap_or(9));
        }
        if cursor.eat(b'Z') || cursor.eat(b'z') {
            offset = Some(0);
        } else if let Some(sign) = cursor.sign() {
            let oh = cursor.digits(2, 2).ok_or_else(|| bad("bad offset hours"))?;
            cursor
                .expect(b':')
                .ok_or_else(|| bad("the offset must be ±HH:MM"))?;
            let om = cursor
                .digits(2, 2)
                .ok_or_else(|| bad("bad offset minutes"))?;
            offset = Some(sign * i32::try_from(oh * 3600 + om * 60).unwrap_or(i32::MAX));
        }
        if !cursor.done() {
            return Err(bad("unexpected trailing text"));
        }
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).unwrap_or(0), month, day)
        .ok_or_else(|| bad("no such date"))?;
    let naive = date
        .and_hms_nano_opt(hour, minute, second, nanos)
        .ok_or_else(|| bad("no such time of day"))?;
    match offset {
        Some(seconds) => {
            let fixed = FixedOffset::east_opt(seconds).ok_or_else(|| bad("offset out of range"))?;
            fixed
                .from_local_datetime(&naive)
                .single()
                .map(|dt| dt.with_timezone(&Utc))
                .ok_or_else(|| bad("out of range"))
        }
        None => localize(tz, naive).ok_or_else(|| bad("out of range")),
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor {
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    fn done(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.bytes.get(self.pos) == Some(&byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    fn sign(&mut self) -> Option<i32> {
        if self.eat(b'+') {
            Some(1)
        } else if self.eat(b'-') {
            Some(-1)
        } else {
            None
        }
    }

    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.pos;
        let mut value: u32 = 0;
        while self.pos < self.bytes.len() && self.pos - start < max {
            let b = self.bytes[self.pos];
            if !b.is_ascii_digit() {
                break;
            }
            value = value * 10 + u32::from(b - b'0');
            self.pos += 1;
        }
        (self.pos - start >= min).then_some(value)
    }
}

/// An IANA zone name (`Europe/Paris`, `UTC`).
pub(crate) fn parse_timezone(field: &str, value: &Value) -> Result<Tz> {
    match value {
        Value::String(name) => name.trim().parse::<Tz>().map_err(|_| {
            Error::invalid(
                field,
                format!("unknown time zone '{name}' (expected an IANA name like 'Europe/London')"),
            )
        }),
        other => Err(Error::invalid(
            field,
            format!("expected an IANA time zone name, got {other}"),
        )),
    }
}

/// The optional `timezone` argument.
pub(crate) fn optional_timezone(args: &Map) -> Result<Option<Tz>> {
    match args.get("timezone") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => parse_timezone("timezone", value).map(Some),
    }
}

/// An optional datetime argument, naive values read in `tz`.
pub(crate) fn optional_datetime(args: &Map, key: &str, tz: Tz) -> Result<Option<DateTime<Utc>>> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => parse_datetime(key, value, tz).map(Some),
    }
}

/// A non-negative number, given as a JSON number or a numeric string (`"3"`, `"1.5"`), as
/// configuration files and command lines deliver them.
pub(crate) fn number(field: &str, value: &Value) -> Result<f64> {
    let parsed = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match parsed {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(n),
        Some(n) if n.is_finite() => Err(Error::invalid(
            field,
            format!("{value} is negative ({n}); expected a number ≥ 0"),
        )),
        _ => Err(Error::invalid(
            field,
            format!("expected a non-negative number, got {value}"),
        )),
    }
}

/// The optional `jitter` argument: whole seconds, 0 meaning none.
pub(crate) fn optional_jitter(args: &Map) -> Result<Option<u32>> {
    let value = match args.get("jitter") {
        None | Some(Value::Null) => return Ok(None),
        Some(value) => value,
    };
    let seconds = number("jitter", value)?;
    if seconds.fract() != 0.0 || seconds > f64::from(u32::MAX) {
        return Err(Error::invalid(
            "jitter",
            format!(
                "expected whole seconds between 0 and {}, got {value}",
                u32::MAX
            ),
        ));
    }
    // Checked above: a whole number within u32.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let seconds = seconds as u32;
    Ok((seconds > 0).then_some(seconds))
}

/// Refuses arguments a trigger does not know, so a typo (`hours` for a cron trigger) is an
/// error instead of a silently ignored value.
pub(crate) fn check_known_args(alias: &str, args: &Map, known: &[&str]) -> Result<()> {
    for key in args.keys() {
        if !known.contains(&key.as_str()) {
            return Err(Error::invalid(
                format!("{alias} trigger argument '{key}'"),
                format!("unknown argument (expected one of: {})", known.join(", ")),
            ));
        }
    }
    Ok(())
}

/// Adds a uniformly random delay of 0..=`jitter` seconds (microsecond resolution), as upstream's
/// `apply_jitter` does. The result never feeds back into a trigger's schedule.
pub(crate) fn apply_jitter(time: DateTime<Utc>, jitter: Option<u32>) -> DateTime<Utc> {
    match jitter {
        Some(seconds) if seconds > 0 => {
            let span = u64::from(seconds) * 1_000_000 + 1;
            let micros = random_u64() % span;
            // `span` ≤ u32::MAX·10⁶, far below i64::MAX.
            let micros = i64::try_from(micros).unwrap_or(0);
            let time = asyncz_core::truncate_to_micros(time);
            time.checked_add_signed(Duration::microseconds(micros))
                .unwrap_or(time)
        }
        _ => time,
    }
}

/// A random number from the standard library's randomly keyed hasher: good enough to spread
/// run times, and no extra dependency.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn parses_every_accepted_shape() {
        let tz: Tz = "Europe/Paris".parse().unwrap_or(Tz::UTC);
        let cases = [
            ("2026-01-01", "2025-12-31T23:00:00Z"),
            ("2026-01-01 10:00:00", "2026-01-01T09:00:00Z"),
            ("2026-1-1T10:0:0", "2026-01-01T09:00:00Z"),
            ("2026-01-01 10:00:00.5", "2026-01-01T09:00:00.5Z"),
            ("2026-01-01T10:00:00Z", "2026-01-01T10:00:00Z"),
            ("2026-01-01T10:00:00+05:30", "2026-01-01T04:30:00Z"),
            (
                "2026-01-01T10:00:00.123456789-01:00",
                "2026-01-01T11:00:00.123456789Z",
            ),
        ];
        for (text, expected) in cases {
            let got = parse_datetime_str("run_at", text, tz).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(got, utc(expected), "{text}");
        }
    }

    #[test]
    fn rejects_malformed_datetimes_naming_the_field() {
        for text in [
            "2026-13-01",
            "26-01-01",
            "2026-01-01 25:00:00",
            "2026-01-01X",
            "now",
        ] {
            let err = parse_datetime_str("start_at", text, Tz::UTC)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.starts_with("invalid start_at: '"), "{text}: {err}");
            assert!(err.contains(text), "{err}");
        }
    }

    #[test]
    fn gap_times_keep_the_offset_before_the_gap() {
        let tz: Tz = "America/New_York".parse().unwrap_or(Tz::UTC);
        let naive = NaiveDate::from_ymd_opt(2026, 3, 8)
            .and_then(|d| d.and_hms_opt(2, 30, 0))
            .unwrap_or_default();
        assert_eq!(localize(tz, naive), Some(utc("2026-03-08T07:30:00Z")));
        let fold = NaiveDate::from_ymd_opt(2026, 11, 1)
            .and_then(|d| d.and_hms_opt(1, 30, 0))
            .unwrap_or_default();
        assert_eq!(localize(tz, fold), Some(utc("2026-11-01T05:30:00Z")));
    }

    #[test]
    fn state_datetimes_read_back_to_the_same_instant() {
        let tz: Tz = "Asia/Kolkata".parse().unwrap_or(Tz::UTC);
        let t = utc("2026-05-01T10:11:12.345678Z");
        for zone in [None, Some(tz)] {
            let text = format_state_datetime(t, zone);
            assert_eq!(
                parse_datetime_str("x", &text, Tz::UTC).ok(),
                Some(t),
                "{text}"
            );
        }
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let t = utc("2026-01-01T00:00:00Z");
        for _ in 0..200 {
            let j = apply_jitter(t, Some(2));
            assert!(j >= t && j <= t + Duration::seconds(2));
        }
        assert_eq!(apply_jitter(t, None), t);
    }
}
