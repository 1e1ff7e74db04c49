//! `rkt run` exit codes: a single app's code comes back; with several apps, the first
//! failing app's code, and `rkt status` lists each app's own code.

use functional_tests::{InspectImage, RktCtx};

#[test]
fn single_app_exit_codes() {
    let ctx = RktCtx::new();
    for code in [0, 1, 2, 3] {
        let img = InspectImage::new(&format!("rkt-rs.dev/ft/exit-{code}"))
            .args(&["--print-msg=exiting", &format!("--exit-code={code}")])
            .build(&ctx.work());
        let out = ctx.run_image(&img);
        out.code(code);
        assert_eq!(out.stdout.lines().last(), Some("exiting"), "{out:#?}");
    }
}

#[test]
fn three_apps_first_failure_wins() {
    let ctx = RktCtx::new();
    // exit-5 fails first (exit-0 has already succeeded); exit-6 is then stopped and, told to
    // leave quietly on SIGTERM, ends with its own code 6.
    let ok = InspectImage::new("rkt-rs.dev/ft/exit-0").args(&["--exit-code=0"]);
    let five = InspectImage::new("rkt-rs.dev/ft/exit-5").args(&["--sleep=0.5", "--exit-code=5"]);
    let six = InspectImage::new("rkt-rs.dev/ft/exit-6").args(&[
        "--silent-sigterm",
        "--sleep=30",
        "--exit-code=6",
    ]);
    let uuid_file = ctx.work().join("uuid");
    let mut args = vec![format!("--uuid-file-save={}", uuid_file.display())];
    for img in [&ok, &five, &six] {
        args.push(img.build(&ctx.work()).display().to_string());
    }
    let started = std::time::Instant::now();
    let out = ctx.run(&args);
    out.code(5);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "the sleeping app must be stopped when another fails"
    );
    let uuid = std::fs::read_to_string(&uuid_file).unwrap();
    let status = ctx.status(uuid.trim());
    assert_eq!(
        status.get("state").map(String::as_str),
        Some("exited"),
        "{status:?}"
    );
    assert_eq!(
        status.get("app-exit-0").map(String::as_str),
        Some("0"),
        "{status:?}"
    );
    assert_eq!(
        status.get("app-exit-5").map(String::as_str),
        Some("5"),
        "{status:?}"
    );
    assert_eq!(
        status.get("app-exit-6").map(String::as_str),
        Some("6"),
        "{status:?}"
    );
}

#[test]
fn all_apps_succeeding_exit_zero() {
    let ctx = RktCtx::new();
    let a = InspectImage::new("rkt-rs.dev/ft/a").args(&["--print-msg=from-a"]);
    let b = InspectImage::new("rkt-rs.dev/ft/b").args(&["--print-msg=from-b"]);
    let out = ctx.run(&[a.build(&ctx.work()), b.build(&ctx.work())]);
    let stdout = out.ok();
    assert!(
        stdout.contains("from-a") && stdout.contains("from-b"),
        "{out:#?}"
    );
}
