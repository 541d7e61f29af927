//! Crontab spelling → cron fields: the weekday field is read with the standard crontab
//! numbering (0 and 7 = Sunday, 1 = Monday) and rewritten in the trigger's own names, so the
//! stored trigger means the same thing whoever reads it.

use asyncz_core::{Error, Result};

use super::expressions::{escape_controls, WEEKDAYS};

/// The usual `@` shorthands of crontab; any other text is returned as it is.
pub(super) fn expand_macro(line: &str) -> &str {
    match line.trim().to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ => line,
    }
}

/// Crontab's `?` ("no specific value") is `*`.
pub(super) fn any(field: &str) -> &str {
    if field == "?" {
        "*"
    } else {
        field
    }
}

/// Crontab day-of-week names: Sunday first, as the numbers.
const CRONTAB_WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// Reads a crontab day-of-week list and returns the equivalent `day_of_week` expression
/// (`1-5` → `mon-fri`, `0,6` → `sat-sun`, `*` stays `*`).
pub(super) fn weekdays(field: &str) -> Result<String> {
    let field = any(field);
    if field == "*" {
        return Ok(field.to_owned());
    }
    let err = |why: String| Error::invalid("cron field 'day_of_week'", escape_controls(why));
    // Bit n = crontab day n (0 = Sunday .. 6 = Saturday).
    let mut days = 0u8;
    for token in field.split(',') {
        let lower = token.trim().to_ascii_lowercase();
        let (body, step) = match lower.split_once('/') {
            Some((body, step)) => {
                let step: u32 = step
                    .parse()
                    .map_err(|_| err(format!("step '{step}' in '{token}' is not a number")))?;
                if step == 0 {
                    return Err(err(format!("step 0 in '{token}' must be at least 1")));
                }
                (body.to_owned(), Some(step))
            }
            None => (lower.clone(), None),
        };
        // As for the other fields, only a step that runs to the end of the week (`*/n`, `a/n`)
        // can be too large; over an explicit range (`1-1/9`) it selects the first day.
        let open = body == "*" || body == "?" || !body.contains('-');
        let (first, last) = if body == "*" || body == "?" {
            (0, 6)
        } else {
            match body.split_once('-') {
                Some((a, b)) => {
                    let first = value(a, false, token).map_err(err)?;
                    let last = value(b, true, token).map_err(err)?;
                    if first > last {
                        return Err(err(format!(
                            "range '{body}' in '{token}' starts above its end ({first} > {last})"
                        )));
                    }
                    (first, last)
                }
                None => {
                    let first = value(&body, false, token).map_err(err)?;
                    (first, if step.is_some() { 6.max(first) } else { first })
                }
            }
        };
        let step = step.unwrap_or(1);
        if open && step > 7 {
            return Err(err(format!(
                "step {step} in '{token}' is larger than the range it steps through"
            )));
        }
        let mut day = first;
        while day <= last {
            days |= 1 << (day % 7);
            match day.checked_add(step) {
                Some(next) => day = next,
                None => break,
            }
        }
    }
    // Crontab day n is the trigger's weekday (n + 6) % 7 (0 = Monday).
    let mut ours = [false; 7];
    for (n, slot) in (0u32..7).map(|n| (n, ((n + 6) % 7) as usize)) {
        ours[slot] = days & (1 << n) != 0;
    }
    if ours.iter().all(|d| *d) {
        return Ok("*".to_owned());
    }
    Ok(spell(&ours))
}

/// A crontab weekday: 0–7 or a name. `sun` at the end of a range is 7 (`fri-sun`).
fn value(text: &str, range_end: bool, token: &str) -> std::result::Result<u32, String> {
    if let Ok(n) = text.parse::<u32>() {
        if n > 7 {
            return Err(format!("value {n} is above the maximum 7"));
        }
        return Ok(n);
    }
    match CRONTAB_WEEKDAYS.iter().position(|n| *n == text) {
        Some(0) if range_end => Ok(7),
        Some(index) => Ok(u32::try_from(index).unwrap_or(0)),
        None => Err(format!(
            "unknown weekday name '{text}' in '{token}' (expected 0-7 or one of {})",
            CRONTAB_WEEKDAYS.join(", ")
        )),
    }
}

/// Runs of consecutive days become ranges: `mon-fri`, `mon,wed,fri`, `sat-sun`.
fn spell(days: &[bool; 7]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < 7 {
        if !days[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i + 1 < 7 && days[i + 1] {
            i += 1;
        }
        parts.push(if start == i {
            WEEKDAYS[start].to_owned()
        } else {
            format!("{}-{}", WEEKDAYS[start], WEEKDAYS[i])
        });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crontab_weekdays_map_to_monday_based_names() {
        let cases = [
            ("1-5", "mon-fri"),
            ("0", "sun"),
            ("7", "sun"),
            ("0,6", "sat-sun"),
            ("6-7", "sat-sun"),
            ("fri-sun", "fri-sun"),
            ("mon-fri/2", "mon,wed,fri"),
            ("*/2", "tue,thu,sat-sun"),
            ("0-7", "*"),
            ("SUN,Mon", "mon,sun"),
            ("?", "*"),
        ];
        for (crontab, expected) in cases {
            assert_eq!(
                weekdays(crontab).ok().as_deref(),
                Some(expected),
                "{crontab}"
            );
        }
    }

    #[test]
    fn macros_expand_to_their_lines() {
        assert_eq!(expand_macro("@weekly"), "0 0 * * 0");
        assert_eq!(expand_macro(" @Daily "), "0 0 * * *");
        assert_eq!(expand_macro("*/5 * * * *"), "*/5 * * * *");
    }

    #[test]
    fn crontab_weekday_errors_name_the_token() {
        for (crontab, fragment) in [
            ("8", "value 8 is above the maximum 7"),
            ("5-1", "starts above its end"),
            ("funday", "unknown weekday name 'funday'"),
            ("*/0", "step 0"),
        ] {
            let message = weekdays(crontab)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(message.contains(fragment), "{crontab}: {message}");
            assert!(
                message.starts_with("invalid cron field 'day_of_week'"),
                "{message}"
            );
        }
    }
}
