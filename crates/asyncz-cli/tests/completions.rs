//! `asyncz completions SHELL` and the `--help` examples, from the real binary.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn asyncz(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_asyncz"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn completion_scripts_cover_every_command_and_option() {
    for (shell, marker) in [
        ("bash", "complete -F _asyncz"),
        ("zsh", "#compdef asyncz"),
        ("fish", "complete -c asyncz"),
    ] {
        let (code, out, err) = asyncz(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.contains(marker), "{shell}: no {marker:?} in\n{out}");
        for word in [
            "preview",
            "completions",
            "cron",
            "interval",
            "timezone",
            "json",
        ] {
            assert!(out.contains(word), "{shell}: {word} missing");
        }
    }
}

#[test]
fn an_unknown_shell_is_a_one_line_usage_error() {
    let (code, out, err) = asyncz(&["completions", "tcsh"]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert_eq!(
        err,
        "asyncz: error: completions: SHELL 'tcsh' is not one of: bash, elvish, fish, powershell, zsh\n"
    );
    let (code, _, err) = asyncz(&["completions"]);
    assert_eq!(code, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("SHELL"), "{err}");
}

#[test]
fn help_shows_examples() {
    let (code, out, _) = asyncz(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Examples:"), "{out}");
    assert!(out.contains("asyncz preview --cron"), "{out}");
    assert!(out.contains("asyncz completions bash"), "{out}");
    for args in [&["preview", "--help"][..], &["help", "preview"][..]] {
        let (code, out, _) = asyncz(args);
        assert_eq!(code, 0, "{args:?}");
        assert!(out.contains("Examples:"), "{args:?}: {out}");
        assert!(
            out.contains("asyncz preview --interval 1h30m"),
            "{args:?}: {out}"
        );
        assert!(
            out.contains("9999"),
            "{args:?}: the RFC 3339 limit is not documented"
        );
    }
    let (code, out, _) = asyncz(&["completions", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("asyncz completions zsh"), "{out}");
}

#[test]
fn version_is_not_an_error() {
    let (code, out, _) = asyncz(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(out, format!("asyncz {}\n", env!("CARGO_PKG_VERSION")));
}
