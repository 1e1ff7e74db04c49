//! stage1 selection through the real `rkt` (rkt.md §4): `--stage1-hash`, `--stage1-name`,
//! `--stage1-url`, `--stage1-from-dir` with `paths.d`, and `stage1.d`; each run reaches the
//! STUB stage1, whose record shows it ran.

mod run_support;
mod support;

use std::fs;

use run_support::{Record, app_image, stub_stage1};
use support::TestEnv;

fn write_config(env: &TestEnv, sub: &str, json: serde_json::Value) {
    let dir = env.local_config().join(sub);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("50-test.json"), json.to_string()).unwrap();
}

#[test]
fn every_way_to_choose_a_stage1() {
    let env = TestEnv::new();
    let record = env.work().join("record");
    let stage1 = stub_stage1(&env.work(), &record, 0);
    let app = app_image(&env.work(), "hello").display().to_string();
    let run = |extra: &[&str]| {
        let _ = fs::remove_file(&record);
        let mut args = vec!["run", "--insecure-options=image", "--net=host"];
        args.extend_from_slice(extra);
        args.push(&app);
        env.rkt(&args).ok();
        let rec = Record::read(&record);
        assert_eq!(rec.get("locked"), "yes", "{extra:?}");
    };
    // Imports it, so that the store forms below find it.
    run(&[&format!("--stage1-path={}", stage1.display())]);
    let key = env.blobs().into_iter().find(|k| {
        let out = env.rkt(&["image", "cat-manifest", k]);
        out.code == 0 && out.stdout.contains("stub-stage1")
    });
    let key = key.expect("the stub stage1 is in the store");
    run(&[&format!("--stage1-hash={}", &key[..30])]);
    run(&["--stage1-name=example.com/stub-stage1"]);
    run(&[&format!("--stage1-url=file://{}", stage1.display())]);

    // --stage1-from-dir: a file name in paths.d's stage1-images dir, taken unsigned.
    let images = env.work().join("stage1-images");
    fs::create_dir_all(&images).unwrap();
    fs::copy(&stage1, images.join("stub.aci")).unwrap();
    write_config(
        &env,
        "paths.d",
        serde_json::json!({"rktKind": "paths", "rktVersion": "v1",
                           "stage1-images": images.display().to_string()}),
    );
    run(&["--stage1-from-dir=stub.aci"]);

    // No flag: stage1.d's name from the store.
    write_config(
        &env,
        "stage1.d",
        serde_json::json!({"rktKind": "stage1", "rktVersion": "v1",
                           "name": "example.com/stub-stage1"}),
    );
    run(&[]);
    assert_eq!(
        fs::read_dir(env.data_dir().join("pods/run"))
            .unwrap()
            .count(),
        6
    );
}

#[test]
fn a_missing_configured_stage1_is_a_clear_error() {
    // (With no stage1 at all the error lists where it looked; the unit tests cover that, as
    // this binary has the default stage1 built in.)
    let env = TestEnv::new();
    let app = app_image(&env.work(), "hello").display().to_string();
    let missing = env.work().join("gone/stage1.aci");
    write_config(
        &env,
        "stage1.d",
        serde_json::json!({"rktKind": "stage1", "rktVersion": "v1",
                           "name": "example.com/not-in-store", "version": "1",
                           "location": missing.display().to_string()}),
    );
    let err = env
        .rkt(&["prepare", "--insecure-options=image", &app])
        .failed()
        .to_string();
    assert!(err.contains(&missing.display().to_string()), "{err}");
    // Nothing was laid out: stage1 is chosen before any pod exists.
    let pods = env.data_dir().join("pods/prepare");
    assert!(fs::read_dir(&pods).map_or(true, |d| d.count() == 0));
}
