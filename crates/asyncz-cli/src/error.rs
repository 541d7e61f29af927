//! Errors and how they are shown: one line, every user value quoted with Debug-style escaping
//! ([`quote`]), and clap's parse errors rewritten into that line ([`from_clap`]).

use std::error::Error as _;
use std::ffi::{OsStr, OsString};
use std::fmt;

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// A command-line failure, reported on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CliError {
    /// Bad arguments or values (exit code 2).
    Usage(String),
    /// The operation failed: not found, conflict, unreachable store (exit code 1).
    Failed(String),
    /// The operation ran and reported a failure (a run that failed, a `doctor --strict`
    /// warning): `output` goes to stdout as usual, `message` to stderr (exit code 1).
    Reported {
        /// What the command printed.
        output: String,
        /// The one-line error.
        message: String,
    },
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Failed(_) | CliError::Reported { .. } => 1,
        }
    }

    /// What to print on stdout before the error (only for [`CliError::Reported`]).
    pub fn output(&self) -> &str {
        match self {
            CliError::Reported { output, .. } => output,
            _ => "",
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Failed(m) => f.write_str(m),
            CliError::Reported { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for CliError {}

impl From<asyncz_core::Error> for CliError {
    /// Library errors quote the value they reject as it was given; [`one_line`] escapes any
    /// control characters in it.
    fn from(e: asyncz_core::Error) -> Self {
        CliError::Usage(one_line(&e.to_string()))
    }
}

/// A user value for a message: in single quotes, with Debug-style escapes (`\n`, `\u{1b}`,
/// `\'`, `\\`), so it can neither split the line nor carry terminal escape codes.
///
/// ```
/// assert_eq!(asyncz_cli::quote("Europe/Berlin"), "'Europe/Berlin'");
/// assert_eq!(asyncz_cli::quote("a\nb\u{1b}[31m'"), r"'a\nb\u{1b}[31m\''");
/// ```
pub fn quote(value: &str) -> String {
    format!("'{}'", value.escape_debug())
}

/// [`quote`] for an argument that may not be UTF-8: bytes that are not are shown as `\xNN`.
///
/// ```
/// use std::os::unix::ffi::OsStrExt;
/// let arg = std::ffi::OsStr::from_bytes(b"\xff * * * *");
/// assert_eq!(asyncz_cli::quote_os(arg), r"'\xff * * * *'");
/// ```
pub fn quote_os(value: &OsStr) -> String {
    let mut out = String::from("'");
    for chunk in value.as_encoded_bytes().utf8_chunks() {
        out.extend(chunk.valid().escape_debug());
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out.push('\'');
    out
}

/// Escapes every control character left in a message (a library error that echoes its
/// input raw), so what is printed is exactly one line.
pub fn one_line(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for c in message.trim_end_matches('\n').chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

fn context_str(e: &clap::Error, kind: ContextKind) -> Option<&str> {
    match e.get(kind)? {
        ContextValue::String(s) => Some(s),
        _ => None,
    }
}

fn context_strings(e: &clap::Error, kind: ContextKind) -> Vec<String> {
    match e.get(kind) {
        Some(ContextValue::String(s)) => vec![s.clone()],
        Some(ContextValue::Strings(v)) => v.clone(),
        Some(ContextValue::StyledStr(s)) => vec![s.to_string()],
        Some(ContextValue::StyledStrs(v)) => v.iter().map(ToString::to_string).collect(),
        _ => Vec::new(),
    }
}

/// `--count <N>` → `--count`, `<SHELL>` → `SHELL` (clap names an option with its value
/// placeholder, a positional with its placeholder in brackets).
fn flag_name(arg: &str) -> &str {
    let name = arg.split([' ', '=']).next().unwrap_or(arg);
    name.strip_prefix('<')
        .and_then(|n| n.strip_suffix('>'))
        .unwrap_or(name)
}

/// The subcommand the arguments name, for "see `asyncz preview --help`".
fn subcommand<'a>(args: &[OsString], cmd: &'a clap::Command) -> Option<&'a str> {
    let first = args
        .iter()
        .find(|a| !a.as_encoded_bytes().starts_with(b"-"))?;
    cmd.get_subcommands()
        .map(clap::Command::get_name)
        .find(|name| OsStr::new(name) == first.as_os_str())
}

/// The argument that is not UTF-8, with the option it belongs to when that is plain.
fn invalid_utf8(args: &[OsString]) -> String {
    let Some(index) = args.iter().position(|a| a.to_str().is_none()) else {
        return "an argument is not valid UTF-8".to_owned();
    };
    let bad = quote_os(&args[index]);
    let option = index
        .checked_sub(1)
        .and_then(|i| args[i].to_str())
        .filter(|prev| prev.starts_with("--") && !prev.contains('='));
    match option {
        Some(option) => format!("{option}: {bad} is not valid UTF-8"),
        None => format!("argument {bad} is not valid UTF-8"),
    }
}

/// Turns a clap parse error into what `run` returns: help and version text are output (exit
/// 0); everything else is a one-line [`CliError::Usage`] that quotes the values it names.
pub(crate) fn from_clap(
    e: &clap::Error,
    args: &[OsString],
    cmd: &clap::Command,
) -> Result<String, CliError> {
    let arg = context_str(e, ContextKind::InvalidArg).map(flag_name);
    let value = context_str(e, ContextKind::InvalidValue);
    let help_hint = match subcommand(args, cmd) {
        Some(name) => format!("see asyncz {name} --help"),
        None => "see asyncz --help".to_owned(),
    };
    // clap reports a non-UTF-8 command, stray argument or value it matches against a list
    // with U+FFFD in place of the bytes.
    let lossy = [
        ContextKind::InvalidArg,
        ContextKind::InvalidSubcommand,
        ContextKind::InvalidValue,
    ]
    .into_iter()
    .filter_map(|kind| context_str(e, kind))
    .any(|text| text.contains(char::REPLACEMENT_CHARACTER));
    let message = match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => return Ok(e.render().to_string()),
        ErrorKind::InvalidUtf8 => invalid_utf8(args),
        _ if lossy && args.iter().any(|a| a.to_str().is_none()) => invalid_utf8(args),
        ErrorKind::UnknownArgument => {
            // As given, not cut at a space like a known option's placeholder.
            let arg = context_str(e, ContextKind::InvalidArg);
            let bad = arg.map_or_else(|| "?".to_owned(), quote);
            let what = if arg.is_some_and(|a| a.starts_with('-')) {
                "unknown option"
            } else {
                "unexpected argument"
            };
            let prefix = subcommand(args, cmd).map_or(String::new(), |s| format!("{s}: "));
            match context_str(e, ContextKind::SuggestedArg) {
                Some(suggested) => format!(
                    "{prefix}{what} {bad} (did you mean {}? {help_hint})",
                    quote(suggested)
                ),
                None => format!("{prefix}{what} {bad} ({help_hint})"),
            }
        }
        ErrorKind::InvalidSubcommand => {
            let bad = context_str(e, ContextKind::InvalidSubcommand).unwrap_or("?");
            let names: Vec<&str> = cmd.get_subcommands().map(clap::Command::get_name).collect();
            format!(
                "unknown command {} (expected one of: {})",
                quote(bad),
                names.join(", ")
            )
        }
        ErrorKind::InvalidValue => match (arg, value) {
            (Some(arg), Some("") | None) => format!("{arg} needs a value"),
            (arg, Some(value)) => {
                let valid = context_strings(e, ContextKind::ValidValue);
                let prefix = subcommand(args, cmd).map_or(String::new(), |s| format!("{s}: "));
                format!(
                    "{prefix}{}{} is not one of: {}",
                    arg.map_or(String::new(), |a| format!("{a} ")),
                    quote(value),
                    valid.join(", ")
                )
            }
            (None, None) => "a value is missing or not allowed".to_owned(),
        },
        ErrorKind::TooManyValues => match (arg, value) {
            (Some(arg), Some(value)) => format!("{arg} takes no value (got {})", quote(value)),
            _ => format!("too many values ({help_hint})"),
        },
        ErrorKind::ValueValidation => {
            let why = e.source().map_or_else(
                || format!("{} is not valid", quote(value.unwrap_or_default())),
                ToString::to_string,
            );
            match arg {
                Some(arg) => format!("{arg}: {why}"),
                None => why,
            }
        }
        ErrorKind::MissingRequiredArgument => {
            let missing: Vec<String> = context_strings(e, ContextKind::InvalidArg)
                .iter()
                .map(|a| flag_name(a).to_owned())
                .collect();
            format!("missing {} ({help_hint})", missing.join(", "))
        }
        ErrorKind::MissingSubcommand => format!("a command is needed ({help_hint})"),
        ErrorKind::ArgumentConflict => {
            let prior = context_strings(e, ContextKind::PriorArg);
            format!(
                "{} cannot be used with {}",
                arg.unwrap_or("this option"),
                prior.join(", ")
            )
        }
        kind => {
            let what = kind.as_str().unwrap_or("bad arguments");
            match arg {
                Some(arg) => format!("{arg}: {}", what.to_lowercase()),
                None => what.to_lowercase(),
            }
        }
    };
    Err(CliError::Usage(message))
}
