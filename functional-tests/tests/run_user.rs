//! `--user`/`--group` and the image's user/group, in every form rkt accepts: a number, a name
//! from the image's /etc/passwd and /etc/group, the path of a file whose owner is taken.

use functional_tests::{InspectImage, RktCtx};

fn ids(ctx: &RktCtx, image: InspectImage, flags: &[&str]) -> (String, String, String) {
    let img = image.args(&["--print-user"]).build(&ctx.work());
    let mut args = vec![img.display().to_string()];
    args.extend(flags.iter().map(|s| s.to_string()));
    let out = ctx.run(&args);
    out.ok();
    (
        out.get("UID").to_string(),
        out.get("GID").to_string(),
        out.get("GROUPS").to_string(),
    )
}

#[test]
fn image_default_root() {
    let ctx = RktCtx::new();
    let (uid, gid, _) = ids(&ctx, InspectImage::new("rkt-rs.dev/ft/root"), &[]);
    assert_eq!((uid.as_str(), gid.as_str()), ("0", "0"));
}

#[test]
fn numbers_from_the_command_line() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/num");
    let (uid, gid, _) = ids(&ctx, img, &["--user=1234", "--group=5678"]);
    assert_eq!((uid.as_str(), gid.as_str()), ("1234", "5678"));
}

#[test]
fn names_from_the_image() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/names")
        .user("user")
        .group("staff");
    let (uid, gid, _) = ids(&ctx, img, &[]);
    assert_eq!((uid.as_str(), gid.as_str()), ("1000", "2000"));
}

#[test]
fn owner_of_a_path() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/owned");
    let owned = functional_tests::image::OWNED_FILE;
    let (uid, gid, _) = ids(
        &ctx,
        img,
        &[&format!("--user={owned}"), &format!("--group={owned}")],
    );
    assert_eq!((uid.as_str(), gid.as_str()), ("1001", "1002"));
}

#[test]
fn supplementary_gids() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/gids");
    let (_, _, groups) = ids(
        &ctx,
        img,
        &[
            "--user=1000",
            "--group=1000",
            "--supplementary-gids=3000,4000",
        ],
    );
    let groups: Vec<&str> = groups.split(',').collect();
    assert!(
        groups.contains(&"3000") && groups.contains(&"4000"),
        "{groups:?}"
    );
}

#[test]
fn unknown_user_name_fails() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/nouser")
        .user("nosuchuser")
        .build(&ctx.work());
    let out = ctx.run_image(&img);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(
        out.stderr.contains("nosuchuser"),
        "the error names the user: {out:#?}"
    );
}
