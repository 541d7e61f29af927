//! Hostile arguments against the real binary: bytes that are not UTF-8 are a usage error
//! (exit 2), never a panic, and no value can split the one-line error or carry escape codes.
#![allow(clippy::unwrap_used)]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::Command;

fn raw(bytes: &[u8]) -> OsString {
    OsString::from_vec(bytes.to_vec())
}

fn asyncz(args: &[OsString]) -> (Option<i32>, Vec<u8>, Vec<u8>) {
    let out = Command::new(env!("CARGO_BIN_EXE_asyncz"))
        .args(args)
        .output()
        .unwrap();
    (out.status.code(), out.stdout, out.stderr)
}

/// Exit 2, nothing on stdout, and exactly `asyncz: error: …` on one line of plain text.
fn assert_one_line_usage_error(args: &[OsString]) -> String {
    let (code, out, err) = asyncz(args);
    let err = String::from_utf8(err).unwrap_or_else(|e| panic!("{args:?}: stderr not UTF-8: {e}"));
    assert_eq!(code, Some(2), "{args:?}: {err}");
    assert!(out.is_empty(), "{args:?} printed to stdout");
    assert!(err.starts_with("asyncz: error: "), "{args:?}: {err:?}");
    assert!(err.ends_with('\n'), "{args:?}: {err:?}");
    let line = &err[..err.len() - 1];
    assert!(
        !line.chars().any(char::is_control),
        "{args:?}: control characters in {err:?}"
    );
    line.to_owned()
}

fn args(parts: &[&[u8]]) -> Vec<OsString> {
    parts.iter().map(|p| raw(p)).collect()
}

#[test]
fn a_value_that_is_not_utf8_is_a_usage_error_naming_it() {
    let line = assert_one_line_usage_error(&args(&[b"preview", b"--cron", b"\xff * * * *"]));
    assert_eq!(
        line,
        r"asyncz: error: --cron: '\xff * * * *' is not valid UTF-8"
    );
    let line = assert_one_line_usage_error(&args(&[
        b"preview",
        b"--cron",
        b"* * * * *",
        b"--timezone",
        b"Europe/Berl\xc3\x28n",
    ]));
    assert_eq!(
        line,
        r"asyncz: error: --timezone: 'Europe/Berl\xc3(n' is not valid UTF-8"
    );
}

#[test]
fn non_utf8_anywhere_on_the_command_line_never_panics() {
    let cases: &[&[&[u8]]] = &[
        &[b"\xff"],
        &[b"pre\xffview"],
        &[b"preview", b"\xff"],
        &[b"preview", b"--\xff"],
        &[b"preview", b"--cron=\xfe\xff"],
        &[b"preview", b"--field", b"hour=\x80"],
        &[b"preview", b"--interval", b"1\xffh"],
        &[b"preview", b"--at", b"2026-01-01T00:00:00Z\xff"],
        &[b"preview", b"--count", b"\xff"],
        &[b"completions", b"\xff"],
        &[b"--\xff"],
    ];
    for parts in cases {
        let line = assert_one_line_usage_error(&args(parts));
        assert!(line.contains("not valid UTF-8"), "{parts:?}: {line}");
        assert!(
            line.contains(r"\x"),
            "{parts:?} does not show the bytes: {line}"
        );
    }
}

#[test]
fn a_newline_in_a_value_cannot_forge_a_second_line() {
    let line = assert_one_line_usage_error(&args(&[
        b"preview",
        b"--cron",
        b"* * * * *",
        b"--timezone",
        b"Europe/Berlin\n[fake] all good",
    ]));
    assert_eq!(
        line,
        r"asyncz: error: --timezone: 'Europe/Berlin\n[fake] all good' is not an IANA time zone name (e.g. Europe/Berlin)"
    );
}

#[test]
fn every_echoed_value_is_escaped() {
    // Values are trimmed, so the forgery starts after a printable character.
    let forged: &[u8] = b"x\n[fake] ok\x1b[2J\r\t'";
    let with = |prefix: &[u8]| [prefix, forged].concat();
    // A crontab line is split at whitespace, so no cron field can hold the newline: one line.
    for line in [with(b"0 9 * * "), with(b"0 ")] {
        assert_one_line_usage_error(&[raw(b"preview"), raw(b"--cron"), raw(&line)]);
    }
    let cases: Vec<Vec<Vec<u8>>> = vec![
        vec![b"preview".to_vec(), b"--field".to_vec(), with(b"hour=")],
        vec![b"preview".to_vec(), b"--field".to_vec(), with(b"")],
        vec![
            b"preview".to_vec(),
            b"--field".to_vec(),
            [with(b"x"), b"=1".to_vec()].concat(),
        ],
        vec![b"preview".to_vec(), b"--interval".to_vec(), with(b"1h")],
        vec![b"preview".to_vec(), b"--at".to_vec(), with(b"2026")],
        vec![b"preview".to_vec(), b"--count".to_vec(), with(b"3")],
        vec![b"preview".to_vec(), with(b"--bogus")],
        vec![b"preview".to_vec(), with(b"extra")],
        vec![with(b"frobnicate")],
        vec![b"completions".to_vec(), with(b"bash")],
        vec![
            b"preview".to_vec(),
            [b"--json=".to_vec(), with(b"")].concat(),
        ],
    ];
    for parts in cases {
        let argv: Vec<OsString> = parts.iter().map(|p| raw(p)).collect();
        let line = assert_one_line_usage_error(&argv);
        assert!(
            line.contains(r"x\n[fake] ok\u{1b}[2J\r\t"),
            "{argv:?}: the value is not shown escaped: {line}"
        );
    }
}

#[test]
fn errors_name_the_value_and_where_to_look() {
    let line = assert_one_line_usage_error(&args(&[b"preview", b"--coutn", b"3"]));
    assert_eq!(
        line,
        "asyncz: error: preview: unknown option '--coutn' (did you mean '--count'? see asyncz preview --help)"
    );
    let line = assert_one_line_usage_error(&args(&[b"frobnicate"]));
    assert_eq!(
        line,
        "asyncz: error: unknown command 'frobnicate' (expected one of: preview, completions, list, show, pause, resume, remove, add, update, reschedule, run, history, nodes, timeline, status, doctor, serve)"
    );
    let line =
        assert_one_line_usage_error(&args(&[b"preview", b"--json=yes", b"--cron", b"* * * * *"]));
    assert_eq!(line, "asyncz: error: --json takes no value (got 'yes')");
}
