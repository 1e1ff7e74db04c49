//! `--exec` replaces the image's exec; arguments after `--` are appended to it.

use functional_tests::{InspectImage, RktCtx};

#[test]
fn exec_override_with_args() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/exec")
        .args(&["--print-msg=from-manifest"])
        .build(&ctx.work());
    let out = ctx.run(&[
        img.to_str().unwrap(),
        "--exec=/inspect",
        "--",
        "--print-msg=from-args",
        "--exit-code=4",
    ]);
    out.code(4);
    assert!(out.stdout.contains("from-args"), "{out:#?}");
    assert!(!out.stdout.contains("from-manifest"), "{out:#?}");
}

#[test]
fn args_are_appended_to_the_image_exec() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/args")
        .args(&["--print-msg=from-manifest"])
        .build(&ctx.work());
    let out = ctx.run(&[img.to_str().unwrap(), "--", "--print-msg=appended"]);
    let lines: Vec<&str> = out.ok().lines().collect();
    assert_eq!(lines, ["from-manifest", "appended"], "{out:#?}");
}

#[test]
fn args_end_at_the_triple_dash_for_each_app() {
    let ctx = RktCtx::new();
    let a = InspectImage::new("rkt-rs.dev/ft/first").build(&ctx.work());
    let b = InspectImage::new("rkt-rs.dev/ft/second").build(&ctx.work());
    let out = ctx.run(&[
        a.to_str().unwrap(),
        "--",
        "--print-msg=arg-of-first",
        "---",
        b.to_str().unwrap(),
        "--",
        "--print-msg=arg-of-second",
    ]);
    let stdout = out.ok();
    assert!(
        stdout.contains("arg-of-first") && stdout.contains("arg-of-second"),
        "{out:#?}"
    );
}

#[test]
fn working_dir() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/cwd")
        .working_dir("/dir1")
        .args(&["--print-cwd", "--read-file=file"])
        .build(&ctx.work());
    let out = ctx.run_image(&img);
    out.ok();
    assert_eq!(out.get("CWD"), "/dir1");
    assert_eq!(out.get("READ"), "dir1");
    let out = ctx.run(&[img.to_str().unwrap(), "--working-dir=/tmp"]);
    assert_eq!(out.get("CWD"), "/tmp");
}
