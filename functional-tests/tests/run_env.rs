//! The app's environment: rkt's precedence (inherited < image < --set-env-file < --set-env <
//! --environment) and the defaults stage1 adds.

use functional_tests::{InspectImage, RktCtx};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn env_image(ctx: &RktCtx) -> std::path::PathBuf {
    InspectImage::new("rkt-rs.dev/ft/env")
        .env("FROM_IMAGE", "image")
        .env("IMAGE_VS_HOST", "image")
        .env("IMAGE_VS_SET", "image")
        .env("IMAGE_VS_FILE", "image")
        .args(&["--print-env"])
        .build(&ctx.work())
}

#[test]
fn precedence() {
    let ctx = RktCtx::new();
    let img = env_image(&ctx);
    let env_file = ctx.work().join("env");
    std::fs::write(&env_file, "IMAGE_VS_FILE=file\nFILE_VS_SET=file\n").unwrap();
    let mut cmd = ctx.command(&[
        "--insecure-options=image",
        "run",
        "--net=none",
        "--inherit-env",
        &format!("--set-env-file={}", env_file.display()),
        "--set-env=IMAGE_VS_SET=set",
        "--set-env=FILE_VS_SET=set",
        "--set-env=SET_VS_APP=set",
        img.to_str().unwrap(),
        "--environment=SET_VS_APP=app",
    ]);
    cmd.env("FROM_HOST", "host").env("IMAGE_VS_HOST", "host");
    let out = functional_tests::ctx::output(cmd, functional_tests::ctx::TIMEOUT);
    out.ok();
    assert_eq!(out.get("FROM_IMAGE"), "image");
    assert_eq!(
        out.get("FROM_HOST"),
        "host",
        "--inherit-env passes the caller's env"
    );
    assert_eq!(
        out.get("IMAGE_VS_HOST"),
        "image",
        "the image beats inherited vars"
    );
    assert_eq!(
        out.get("IMAGE_VS_FILE"),
        "file",
        "--set-env-file beats the image"
    );
    assert_eq!(out.get("IMAGE_VS_SET"), "set", "--set-env beats the image");
    assert_eq!(
        out.get("FILE_VS_SET"),
        "set",
        "--set-env beats --set-env-file"
    );
    assert_eq!(
        out.get("SET_VS_APP"),
        "app",
        "--environment beats --set-env"
    );
}

#[test]
fn nothing_inherited_without_the_flag_and_defaults_added() {
    let ctx = RktCtx::new();
    let img = env_image(&ctx);
    let mut cmd = ctx.command(&[
        "--insecure-options=image",
        "run",
        "--net=none",
        img.to_str().unwrap(),
    ]);
    cmd.env("FROM_HOST", "host");
    let out = functional_tests::ctx::output(cmd, functional_tests::ctx::TIMEOUT);
    out.ok();
    assert_eq!(out.kv("FROM_HOST"), None, "{out:#?}");
    assert_eq!(out.get("PATH"), DEFAULT_PATH);
    assert_eq!(out.get("AC_APP_NAME"), "env");
    assert_eq!(out.get("HOME"), "/root");
    assert_eq!(out.get("USER"), "root");
}

#[test]
fn image_path_is_kept() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/path")
        .env("PATH", "/custom/bin")
        .args(&["--print-env=PATH"])
        .build(&ctx.work());
    assert_eq!(ctx.run_image(&img).get("PATH"), "/custom/bin");
}
