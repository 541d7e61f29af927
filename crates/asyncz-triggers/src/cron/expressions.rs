//! One cron expression (the text between commas): its grammar, validation with errors that
//! name the token and the reason, and its upstream spelling for descriptions and state.

use std::fmt;

use asyncz_core::{Error, Result};

use super::fields::FieldKind;

pub(crate) const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
pub(crate) const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const POSITIONS: [&str; 6] = ["1st", "2nd", "3rd", "4th", "5th", "last"];

/// A message that quotes user text, with every control character in it escaped (`\n`,
/// `\u{1b}`), so an error naming a token can neither split a log line nor carry escape codes.
pub(crate) fn escape_controls(message: String) -> String {
    if !message.chars().any(char::is_control) {
        return message;
    }
    message
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_debug().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

/// How a range was written, so it is shown back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Spelling {
    Number,
    Month,
    Weekday,
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    /// `*` or `*/step`.
    All { step: Option<u32> },
    /// `a`, `a-b`, `a/step`, `a-b/step` (numbers, or names for month and day_of_week).
    Range {
        first: u32,
        last: Option<u32>,
        step: Option<u32>,
        spelling: Spelling,
    },
    /// `last`: the last day of the month (day field only).
    LastDay,
    /// `1st mon` … `5th mon`, `last mon` (day field only). `nth` 0..=4, 5 = last.
    WeekdayPosition { nth: u8, weekday: u8 },
}

impl Expr {
    /// Parses one expression of `kind`'s field.
    pub(crate) fn parse(kind: FieldKind, token: &str) -> Result<Expr> {
        let err = |why: String| {
            Error::invalid(
                format!("cron field '{}'", kind.name()),
                escape_controls(why),
            )
        };
        if token.is_empty() {
            return Err(err("empty expression".into()));
        }
        let lower: std::borrow::Cow<'_, str> = if token.bytes().any(|b| b.is_ascii_uppercase()) {
            token.to_ascii_lowercase().into()
        } else {
            token.into()
        };
        if kind == FieldKind::Day {
            if lower == "last" {
                return Ok(Expr::LastDay);
            }
            if let Some((position, weekday)) = lower.split_once(' ') {
                let nth = POSITIONS
                    .iter()
                    .position(|p| *p == position)
                    .ok_or_else(|| {
                        err(format!(
                        "unknown weekday position '{position}' in '{token}' (expected one of {})",
                        POSITIONS.join(", ")
                    ))
                    })?;
                let weekday = weekday.trim();
                let day = WEEKDAYS.iter().position(|w| *w == weekday).ok_or_else(|| {
                    err(format!(
                        "unknown weekday name '{weekday}' in '{token}' (expected one of {})",
                        WEEKDAYS.join(", ")
                    ))
                })?;
                return Ok(Expr::WeekdayPosition {
                    nth: u8::try_from(nth).unwrap_or(0),
                    weekday: u8::try_from(day).unwrap_or(0),
                });
            }
        }

        let (body, step) = match lower.split_once('/') {
            Some((body, step_text)) => {
                let step = parse_number(step_text).ok_or_else(|| {
                    err(format!("step '{step_text}' in '{token}' is not a number"))
                })?;
                if step == 0 {
                    return Err(err(format!("step 0 in '{token}' must be at least 1")));
                }
                (body, Some(step))
            }
            None => (&*lower, None),
        };

        let expr = if body == "*" {
            Expr::All { step }
        } else {
            let (first_text, last_text) = match body.split_once('-') {
                Some((a, b)) => (a, Some(b)),
                None => (body, None),
            };
            let (first, spelling) = parse_value(kind, first_text, token).map_err(err)?;
            let last = match last_text {
                Some(text) => {
                    let (value, last_spelling) = parse_value(kind, text, token).map_err(err)?;
                    if last_spelling != spelling {
                        return Err(err(format!(
                            "range '{body}' in '{token}' mixes names and numbers"
                        )));
                    }
                    Some(value)
                }
                // `a` alone is the single value; `a/step` runs from a to the maximum.
                None if step.is_none() => Some(first),
                None => None,
            };
            if let Some(last) = last {
                if first > last {
                    return Err(err(format!(
                        "range '{body}' in '{token}' starts above its end ({first} > {last})"
                    )));
                }
            }
            Expr::Range {
                first,
                last,
                step,
                spelling,
            }
        };
        expr.validate(kind, token).map_err(err)?;
        Ok(expr)
    }

    fn validate(&self, kind: FieldKind, token: &str) -> std::result::Result<(), String> {
        let (min, max) = (kind.min(), kind.max());
        // `open`: the expression steps up to the field's maximum (`*/n`, `a/n`), where a step
        // past the end is a mistake (`*/90` minutes is never every 90 minutes). A step over an
        // explicit range (`a-b/n`, `0-0/4`) selects the range's first value, as cron does.
        let (low, high, step, open) = match *self {
            Expr::All { step } => (min, max, step, true),
            Expr::Range {
                first, last, step, ..
            } => {
                if first < min {
                    return Err(format!("value {first} is below the minimum {min}"));
                }
                if let Some(last) = last {
                    if last > max {
                        return Err(format!("value {last} is above the maximum {max}"));
                    }
                }
                (first, last.unwrap_or(max), step, last.is_none())
            }
            Expr::LastDay | Expr::WeekdayPosition { .. } => return Ok(()),
        };
        if low > high {
            return Err(format!("value {low} is above the maximum {max}"));
        }
        if let Some(step) = step.filter(|_| open) {
            if step > high - low {
                return Err(format!(
                    "step {step} in '{token}' is larger than the range it steps through ({})",
                    high - low
                ));
            }
        }
        Ok(())
    }

    /// The values a month-independent expression allows within `min..=max`, as
    /// `(first, last, step)`; `None` for `last` and `<nth> <weekday>`.
    pub(crate) fn span(&self, min: u32, max: u32) -> Option<(u32, u32, u32)> {
        match *self {
            Expr::All { step } => Some((min, max, step.unwrap_or(1))),
            Expr::Range {
                first, last, step, ..
            } => Some((
                first.max(min),
                last.map_or(max, |l| l.min(max)),
                step.unwrap_or(1),
            )),
            Expr::LastDay | Expr::WeekdayPosition { .. } => None,
        }
    }

    /// The next value ≥ `value` this expression allows, within `min..=max` (upstream's
    /// `get_next_value`; used for the year, whose values do not fit a bitmask).
    pub(crate) fn next_value(&self, value: u32, min: u32, max: u32) -> Option<u32> {
        let (low, high, step) = match *self {
            Expr::All { step } => (min, max, step),
            Expr::Range {
                first, last, step, ..
            } => (first.max(min), last.map_or(max, |l| l.min(max)), step),
            Expr::LastDay | Expr::WeekdayPosition { .. } => return None,
        };
        let mut next = value.max(low);
        if let Some(step) = step {
            next = next.checked_add((step - (next - low) % step) % step)?;
        }
        (next <= high).then_some(next)
    }

    /// Whether the expression depends on the month it is evaluated in.
    pub(crate) fn is_dynamic(&self) -> bool {
        matches!(self, Expr::LastDay | Expr::WeekdayPosition { .. })
    }
}

/// Digits only; saturates instead of overflowing so `99999999999` reports "above the maximum".
fn parse_number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.bytes().fold(0u32, |acc, b| {
        acc.saturating_mul(10).saturating_add(u32::from(b - b'0'))
    }))
}

fn parse_value(
    kind: FieldKind,
    text: &str,
    token: &str,
) -> std::result::Result<(u32, Spelling), String> {
    if let Some(n) = parse_number(text) {
        if n == u32::MAX {
            // Saturated: show the digits as written.
            return Err(format!("value {text} is above the maximum {}", kind.max()));
        }
        return Ok((n, Spelling::Number));
    }
    let names: &[&str] = match kind {
        FieldKind::Month => &MONTHS,
        FieldKind::DayOfWeek => &WEEKDAYS,
        _ => {
            return Err(format!(
                "unrecognized expression '{token}' (expected *, */n, a, a-b, a-b/n or a/n{})",
                if kind == FieldKind::Day {
                    ", last, or '<1st|2nd|3rd|4th|5th|last> <weekday>'"
                } else {
                    ""
                }
            ))
        }
    };
    match names.iter().position(|n| *n == text) {
        Some(index) => {
            let index = u32::try_from(index).unwrap_or(0);
            Ok(if kind == FieldKind::Month {
                (index + 1, Spelling::Month)
            } else {
                (index, Spelling::Weekday)
            })
        }
        None => Err(format!(
            "unknown {} name '{text}' in '{token}' (expected one of {})",
            if kind == FieldKind::Month {
                "month"
            } else {
                "weekday"
            },
            names.join(", ")
        )),
    }
}

fn write_value(f: &mut fmt::Formatter<'_>, value: u32, spelling: Spelling) -> fmt::Result {
    let index = usize::try_from(value).unwrap_or(usize::MAX);
    match spelling {
        Spelling::Month => match index.checked_sub(1).and_then(|i| MONTHS.get(i)) {
            Some(name) => f.write_str(name),
            None => write!(f, "{value}"),
        },
        Spelling::Weekday => match WEEKDAYS.get(index) {
            Some(name) => f.write_str(name),
            None => write!(f, "{value}"),
        },
        Spelling::Number => write!(f, "{value}"),
    }
}

impl fmt::Display for Expr {
    /// Upstream's spelling (`*/5`, `9-17`, `mon-fri`, `last`, `2nd mon`); parsing it gives back
    /// an equal expression.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Expr::All { step: None } => f.write_str("*"),
            Expr::All { step: Some(step) } => write!(f, "*/{step}"),
            Expr::Range {
                first,
                last,
                step,
                spelling,
            } => {
                write_value(f, first, spelling)?;
                // `a-a/n` keeps its end: `a/n` would read back as the open range `a..max`.
                if let Some(last) = last.filter(|l| *l != first || step.is_some()) {
                    f.write_str("-")?;
                    write_value(f, last, spelling)?;
                }
                if let Some(step) = step {
                    write!(f, "/{step}")?;
                }
                Ok(())
            }
            Expr::LastDay => f.write_str("last"),
            Expr::WeekdayPosition { nth, weekday } => write!(
                f,
                "{} {}",
                POSITIONS[usize::from(nth.min(5))],
                WEEKDAYS[usize::from(weekday.min(6))]
            ),
        }
    }
}
