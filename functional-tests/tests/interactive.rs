//! `--interactive`: the app gets the caller's terminal as stdin/stdout.

use std::time::Duration;

use functional_tests::pty::run_in_pty;
use functional_tests::{InspectImage, RktCtx, kv};

#[test]
fn interactive_through_a_pty() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/tty")
        .args(&["--check-tty", "--read-stdin"])
        .build(&ctx.work());
    let cmd = ctx.command(&[
        "--insecure-options=image",
        "run",
        "--net=none",
        "--interactive",
        img.to_str().unwrap(),
    ]);
    let out = run_in_pty(cmd, b"typed-in\n", Duration::from_secs(60));
    let text = out.stdout.replace('\r', "");
    assert_eq!(out.code, 0, "{text}");
    assert_eq!(kv(&text, "TTY_STDIN"), Some("true"), "{text}");
    assert_eq!(kv(&text, "TTY_STDOUT"), Some("true"), "{text}");
    assert_eq!(kv(&text, "STDIN"), Some("typed-in"), "{text}");
}

#[test]
fn without_interactive_stdin_is_not_the_terminal() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/notty")
        .args(&["--check-tty", "--read-stdin"])
        .build(&ctx.work());
    let cmd = ctx.command(&[
        "--insecure-options=image",
        "run",
        "--net=none",
        img.to_str().unwrap(),
    ]);
    let out = run_in_pty(cmd, b"typed-in\n", Duration::from_secs(60));
    let text = out.stdout.replace('\r', "");
    assert_eq!(kv(&text, "TTY_STDIN"), Some("false"), "{text}");
    assert_eq!(kv(&text, "STDIN"), Some(""), "stdin is /dev/null: {text}");
}
