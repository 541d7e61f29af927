//! A trigger in words, for people: `every 6 hours`, `at 09:00 on Monday to Friday
//! (Europe/Berlin)`, `once at 2026-05-01T10:00:00+02:00`. Built from a trigger's alias and
//! [`state`](asyncz_core::Trigger::state), so it works for any stored trigger of the built-in
//! aliases; a cron expression too irregular to say simply is said field by field
//! (`when minute is 5,35 and hour is 1-5`). Unknown aliases give `None`: show the trigger's
//! own description then.
//!
//! ```
//! use asyncz_triggers::{in_words, CronTrigger, IntervalTrigger};
//!
//! let cron = CronTrigger::from_crontab("0 9 * * mon-fri", None).unwrap();
//! assert_eq!(in_words(&cron).unwrap(), "at 09:00 on Monday to Friday");
//! let every = IntervalTrigger::new().hours(6);
//! assert_eq!(in_words(&every).unwrap(), "every 6 hours");
//! ```

use asyncz_core::{Map, Trigger};
use serde_json::Value;

/// `trigger` in words; `None` for an alias this module does not know.
pub fn in_words(trigger: &dyn Trigger) -> Option<String> {
    words_of(trigger.alias(), &trigger.state())
}

/// A trigger given by its alias and state (as stored) in words; `None` for an unknown alias.
pub fn words_of(alias: &str, state: &Map) -> Option<String> {
    let mut text = match alias {
        "interval" => interval(state),
        "cron" => cron(state),
        "date" => format!(
            "once at {}",
            text_of(state, "run_at").unwrap_or("a set time")
        ),
        "shutdown" => "once, when the scheduler shuts down".to_owned(),
        "and" | "or" => {
            let parts: Vec<String> = state
                .get("triggers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|t| {
                    let alias = t.get("alias")?.as_str()?;
                    let args = t.get("args")?.as_object()?;
                    words_of(alias, args)
                })
                .collect::<Option<_>>()?;
            let joiner = if alias == "and" { " and " } else { ", or " };
            let lead = if alias == "and" {
                "when all agree: "
            } else {
                "whenever any fires: "
            };
            format!("{lead}{}", parts.join(joiner))
        }
        _ => return None,
    };
    if alias == "interval" || alias == "cron" {
        if let Some(end) = text_of(state, "end_at") {
            text.push_str(&format!(", until {end}"));
        }
    }
    if let Some(jitter) = state.get("jitter").and_then(Value::as_u64) {
        text.push_str(&format!(", up to {jitter}s late at random"));
    }
    if alias == "cron" {
        if let Some(tz) = text_of(state, "timezone") {
            text.push_str(&format!(" ({tz})"));
        }
    }
    Some(text)
}

fn text_of<'a>(state: &'a Map, key: &str) -> Option<&'a str> {
    state.get(key).and_then(Value::as_str)
}

fn plural(n: f64, unit: &str) -> String {
    if n == 1.0 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

fn interval(state: &Map) -> String {
    let parts: Vec<String> = ["weeks", "days", "hours", "minutes", "seconds"]
        .iter()
        .filter_map(|unit| {
            let n = state.get(*unit)?.as_f64().filter(|n| *n != 0.0)?;
            Some(plural(n, unit.trim_end_matches('s')))
        })
        .collect();
    match parts.as_slice() {
        [] => "continuously".to_owned(),
        [one] => match one.strip_prefix("1 ") {
            Some(unit) => format!("every {unit}"),
            None => format!("every {one}"),
        },
        [init @ .., last] => format!("every {} and {last}", init.join(", ")),
    }
}

const DAYS: [(&str, &str); 7] = [
    ("mon", "Monday"),
    ("tue", "Tuesday"),
    ("wed", "Wednesday"),
    ("thu", "Thursday"),
    ("fri", "Friday"),
    ("sat", "Saturday"),
    ("sun", "Sunday"),
];

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn number(text: &str) -> Option<u32> {
    text.trim().parse().ok()
}

/// `mon-fri` → `Monday to Friday`, `sat,sun` → `Saturday and Sunday`; `None` when any part
/// is not a plain day or range of days.
fn day_names(expr: &str) -> Option<String> {
    let index = |d: &str| {
        let d = d.trim().to_ascii_lowercase();
        DAYS.iter()
            .position(|(short, _)| d == *short)
            .or_else(|| number(&d).map(|n| n as usize).filter(|n| *n < DAYS.len()))
    };
    let parts: Option<Vec<String>> = expr
        .split(',')
        .map(|part| match part.split_once('-') {
            // Two days side by side are "Saturday and Sunday", not a range.
            Some((a, b)) => {
                let (a, b) = (index(a)?, index(b)?);
                let joiner = if b == a + 1 { " and " } else { " to " };
                Some(format!("{}{joiner}{}", DAYS[a].1, DAYS[b].1))
            }
            None => index(part).map(|i| DAYS[i].1.to_owned()),
        })
        .collect();
    Some(join_and(&parts?))
}

fn join_and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn month_names(expr: &str) -> Option<String> {
    let name = |m: &str| {
        let m = m.trim().to_ascii_lowercase();
        MONTHS
            .iter()
            .find(|long| long[..3].eq_ignore_ascii_case(&m))
            .or_else(|| number(&m).and_then(|n| MONTHS.get((n as usize).checked_sub(1)?)))
            .map(|m| (*m).to_owned())
    };
    let parts: Option<Vec<String>> = expr
        .split(',')
        .map(|part| match part.split_once('-') {
            Some((a, b)) => Some(format!("{} to {}", name(a)?, name(b)?)),
            None => name(part),
        })
        .collect();
    Some(join_and(&parts?))
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// The time of day part, or `None` when it is not simple to say. `dated`: a field coarser than
/// the hour is given, so fields left out below it are 0 (`day=1` fires at 00:00:00).
fn time_part(
    second: Option<&str>,
    minute: Option<&str>,
    hour: Option<&str>,
    dated: bool,
) -> Option<String> {
    let second_zero = second.is_none_or(|s| number(s) == Some(0));
    let step = |e: &str| e.strip_prefix("*/").and_then(number);
    match (hour, minute) {
        (None, None) => match second {
            None if dated => Some("at 00:00".to_owned()),
            None => Some("every minute".to_owned()),
            Some("*") => Some("every second".to_owned()),
            Some(s) => step(s)
                .map(|n| format!("every {}", plural(f64::from(n), "second")))
                .or_else(|| number(s).map(|n| format!("every minute at second {n}"))),
        },
        (None, Some(m)) if second_zero => {
            if m == "*" {
                Some("every minute".to_owned())
            } else if let Some(n) = step(m) {
                Some(format!("every {}", plural(f64::from(n), "minute")))
            } else {
                number(m).map(|n| format!("every hour at minute {n}"))
            }
        }
        (Some(h), m) if second_zero => {
            let minute = match m {
                None => Some(0),
                Some(m) => number(m),
            }?;
            if let Some(n) = step(h) {
                return Some(format!(
                    "every {} at minute {minute}",
                    plural(f64::from(n), "hour")
                ));
            }
            let hours: Option<Vec<String>> = h
                .split(',')
                .map(|x| {
                    number(x)
                        .filter(|h| *h < 24)
                        .map(|h| format!("{h:02}:{minute:02}"))
                })
                .collect();
            hours.map(|h| format!("at {}", join_and(&h)))
        }
        _ => None,
    }
}

fn cron(state: &Map) -> String {
    // `*` in the hour or a coarser field says nothing (a crontab gives every field); in the
    // minute or the second it is every minute or second, which `time_part` says (or not).
    let field = |k: &str| text_of(state, k).filter(|v| *v != "*" || k == "second" || k == "minute");
    let (second, minute, hour) = (field("second"), field("minute"), field("hour"));
    let (day, month, dow, week, year) = (
        field("day"),
        field("month"),
        field("day_of_week"),
        field("week"),
        field("year"),
    );
    let dated = [day, month, dow, week, year].iter().any(Option::is_some);
    let time = time_part(second, minute, hour, dated);
    let day_text = match day {
        None => None,
        Some("last") => Some("on the last day of the month".to_owned()),
        Some(d) => number(d).map(|n| format!("on the {} of the month", ordinal(n))),
    };
    let dow_text = dow.map(|d| day_names(d).map(|names| format!("on {names}")));
    let month_text = month.map(|m| month_names(m).map(|names| format!("in {names}")));
    let simple = time.is_some()
        && (day.is_none() || day_text.is_some())
        && dow_text.as_ref().is_none_or(Option::is_some)
        && month_text.as_ref().is_none_or(Option::is_some)
        && week.is_none()
        && year.is_none();
    if !simple {
        let fields: Vec<String> = [
            "year",
            "month",
            "week",
            "day",
            "day_of_week",
            "hour",
            "minute",
            "second",
        ]
        .iter()
        .filter_map(|k| field(k).map(|v| format!("{} is {v}", k.replace('_', " "))))
        .collect();
        return format!("when {}", join_and(&fields));
    }
    let mut parts = vec![time.unwrap_or_default()];
    parts.extend(day_text);
    parts.extend(dow_text.flatten());
    parts.extend(month_text.flatten());
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CronTrigger, DateTrigger, IntervalTrigger};
    use chrono::TimeZone;

    fn cron(expr: &str) -> String {
        in_words(&CronTrigger::from_crontab(expr, None).unwrap()).unwrap()
    }

    #[test]
    fn crontabs_in_words() {
        for (expr, words) in [
            ("* * * * *", "every minute"),
            ("*/5 * * * *", "every 5 minutes"),
            ("15 * * * *", "every hour at minute 15"),
            ("0 9 * * mon-fri", "at 09:00 on Monday to Friday"),
            ("30 8,17 * * *", "at 08:30 and 17:30"),
            ("0 */2 * * *", "every 2 hours at minute 0"),
            ("0 0 1 * *", "at 00:00 on the 1st of the month"),
            (
                "0 12 * jan,jul sat,sun",
                "at 12:00 on Saturday and Sunday in January and July",
            ),
            ("5,35 1-5 * * *", "when hour is 1-5 and minute is 5,35"),
            ("* 9 * * *", "when hour is 9 and minute is *"),
            ("* */2 * * *", "when hour is */2 and minute is *"),
        ] {
            assert_eq!(cron(expr), words, "{expr}");
        }
    }

    #[test]
    fn fields_zone_end_and_jitter_in_words() {
        let t = CronTrigger::builder()
            .day("last")
            .hour(23)
            .minute(59)
            .timezone(chrono_tz::Europe::Berlin)
            .jitter(30)
            .build()
            .unwrap();
        assert_eq!(
            in_words(&t).unwrap(),
            "at 23:59 on the last day of the month, up to 30s late at random (Europe/Berlin)"
        );
    }

    #[test]
    fn intervals_and_dates_in_words() {
        assert_eq!(
            in_words(&IntervalTrigger::new().hours(1)).unwrap(),
            "every hour"
        );
        assert_eq!(
            in_words(&IntervalTrigger::new().seconds(90)).unwrap(),
            "every 1 minute and 30 seconds"
        );
        assert_eq!(
            in_words(&IntervalTrigger::new().days(1).hours(2).minutes(30)).unwrap(),
            "every 1 day, 2 hours and 30 minutes"
        );
        let at = chrono::Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap();
        let words = in_words(&DateTrigger::new(at)).unwrap();
        assert!(words.starts_with("once at 2026-05-01"), "{words}");
        assert_eq!(words_of("sundial", &Map::new()), None);
        let first = CronTrigger::builder().day(1).build().unwrap();
        assert_eq!(
            in_words(&first).unwrap(),
            "at 00:00 on the 1st of the month"
        );
        let mondays = CronTrigger::builder().day_of_week("mon").build().unwrap();
        assert_eq!(in_words(&mondays).unwrap(), "at 00:00 on Monday");
    }
}
