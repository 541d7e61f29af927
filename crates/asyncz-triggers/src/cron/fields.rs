//! The eight cron fields: their bounds, their expressions (comma lists), and the bitmasks the
//! fire-time search reads, compiled once so that a search allocates nothing.

use std::fmt;

use asyncz_core::{Error, Result};

use super::expressions::Expr;

/// Which field an expression belongs to, most significant first (upstream's field order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum FieldKind {
    Year,
    Month,
    Day,
    Week,
    DayOfWeek,
    Hour,
    Minute,
    Second,
}

impl FieldKind {
    pub(crate) const ALL: [FieldKind; 8] = [
        FieldKind::Year,
        FieldKind::Month,
        FieldKind::Day,
        FieldKind::Week,
        FieldKind::DayOfWeek,
        FieldKind::Hour,
        FieldKind::Minute,
        FieldKind::Second,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            FieldKind::Year => "year",
            FieldKind::Month => "month",
            FieldKind::Day => "day",
            FieldKind::Week => "week",
            FieldKind::DayOfWeek => "day_of_week",
            FieldKind::Hour => "hour",
            FieldKind::Minute => "minute",
            FieldKind::Second => "second",
        }
    }

    pub(crate) fn min(self) -> u32 {
        match self {
            FieldKind::Year => 1970,
            FieldKind::Month | FieldKind::Day | FieldKind::Week => 1,
            _ => 0,
        }
    }

    pub(crate) fn max(self) -> u32 {
        match self {
            FieldKind::Year => 9999,
            FieldKind::Month => 12,
            FieldKind::Day => 31,
            FieldKind::Week => 53,
            FieldKind::DayOfWeek => 6,
            FieldKind::Hour => 23,
            FieldKind::Minute | FieldKind::Second => 59,
        }
    }

    /// Upstream's value for a field left unset below the least significant set one.
    pub(crate) fn default_expression(self) -> &'static str {
        match self {
            FieldKind::Month | FieldKind::Day => "1",
            FieldKind::Hour | FieldKind::Minute | FieldKind::Second => "0",
            FieldKind::Year | FieldKind::Week | FieldKind::DayOfWeek => "*",
        }
    }
}

/// One field: its expressions and whether the user set it (only those are described).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) kind: FieldKind,
    pub(crate) exprs: Vec<Expr>,
    pub(crate) is_default: bool,
    /// Bit v set = value v allowed by a month-independent expression.
    pub(crate) mask: u64,
    /// True when the field allows every value (`*`).
    pub(crate) any: bool,
}

impl Field {
    /// Parses a comma list (`"1,15,last"`); spaces around commas are allowed, as upstream.
    pub(crate) fn parse(kind: FieldKind, text: &str, is_default: bool) -> Result<Field> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::invalid(
                format!("cron field '{}'", kind.name()),
                "empty expression",
            ));
        }
        let exprs = text
            .split(',')
            .map(|token| Expr::parse(kind, token.trim()))
            .collect::<Result<Vec<_>>>()?;
        let mut mask = 0u64;
        if kind != FieldKind::Year {
            for expr in &exprs {
                if let Some((low, high, step)) = expr.span(kind.min(), kind.max()) {
                    mask |= stepped_mask(low, high, step);
                }
            }
        }
        let any = exprs.contains(&Expr::All { step: None });
        Ok(Field {
            kind,
            exprs,
            is_default,
            mask,
            any,
        })
    }

    /// The smallest allowed value ≥ `value` among the month-independent expressions.
    pub(crate) fn next_static(&self, value: u32) -> Option<u32> {
        if self.kind == FieldKind::Year {
            return self
                .exprs
                .iter()
                .filter_map(|e| e.next_value(value, self.kind.min(), self.kind.max()))
                .min();
        }
        next_bit(self.mask, value)
    }
}

/// Bits `low, low + step, …` up to `high` (all < 64).
fn stepped_mask(low: u32, high: u32, step: u32) -> u64 {
    if low > high || high >= 64 {
        return 0;
    }
    if step <= 1 {
        let upto = if high == 63 {
            u64::MAX
        } else {
            (1u64 << (high + 1)) - 1
        };
        return upto & (u64::MAX << low);
    }
    let mut mask = 0;
    let mut value = low;
    while value <= high {
        mask |= 1u64 << value;
        // A step may exceed the range (`0-0/4000000000`): it then selects `low` alone.
        match value.checked_add(step) {
            Some(next) => value = next,
            None => break,
        }
    }
    mask
}

/// The smallest set bit ≥ `from`.
#[inline]
pub(crate) fn next_bit(mask: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = mask & (u64::MAX << from);
    (rest != 0).then(|| rest.trailing_zeros())
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, expr) in self.exprs.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{expr}")?;
        }
        Ok(())
    }
}
