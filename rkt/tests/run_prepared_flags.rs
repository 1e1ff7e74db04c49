//! `rkt run-prepared --private-users --pids-limit=N`: the pod flags `rkt run` has, handed to
//! stage1 the same way (argv `--private-users=<shift>:<count>`, env `RKT_STAGE1_PIDS_LIMIT`).
//! Runs the real `rkt` as root with the STUB stage1 of `run_support`, which records what it
//! was given.

mod run_support;
mod support;

use run_support::{Record, app_image, stub_stage1};
use support::TestEnv;

/// The stub stage1 (it records its arguments and the pids limit it was handed) as a flag.
fn recording_stage1(env: &TestEnv) -> (String, std::path::PathBuf) {
    let record = env.work().join("record");
    let aci = stub_stage1(&env.work(), &record, 0);
    (format!("--stage1-path={}", aci.display()), record)
}

fn prepare(env: &TestEnv, stage1: &str) -> String {
    let app = app_image(&env.work(), "hello").display().to_string();
    let out = env.rkt(&[
        "prepare",
        "--quiet",
        "--insecure-options=image",
        stage1,
        &app,
    ]);
    out.ok().trim().to_string()
}

#[test]
fn private_users_and_pids_limit_reach_stage1() {
    let env = TestEnv::new();
    let (stage1, record) = recording_stage1(&env);
    let uuid = prepare(&env, &stage1);
    let out = env.rkt(&[
        "run-prepared",
        "--net=host",
        "--private-users",
        "--pids-limit=123",
        &uuid,
    ]);
    assert_eq!(out.code, 0, "{out:#?}");
    let rec = Record::read(&record);
    assert_eq!(rec.get("pids"), "123");
    let users: Vec<&String> = rec
        .args
        .iter()
        .filter(|a| a.starts_with("--private-users="))
        .collect();
    assert_eq!(users.len(), 1, "{rec:#?}");
    let (shift, count) = users[0]["--private-users=".len()..]
        .split_once(':')
        .expect("shift:count");
    let (shift, count): (u32, u32) = (shift.parse().unwrap(), count.parse().unwrap());
    assert_eq!(count, 65536);
    assert!(
        (1 << 20..1 << 31).contains(&shift) && shift.is_multiple_of(65536),
        "a fresh range above host ids: {shift}"
    );
    assert_eq!(rec.args.last(), Some(&uuid));

    // Without them: no user namespace, and stage1's own default pids limit.
    let uuid = prepare(&env, &stage1);
    env.rkt(&["run-prepared", "--net=host", "--pids-limit=max", &uuid])
        .ok();
    let rec = Record::read(&record);
    assert_eq!(rec.get("pids"), "max");
    let uuid = prepare(&env, &stage1);
    env.rkt(&["run-prepared", "--net=host", &uuid]).ok();
    let rec = Record::read(&record);
    assert_eq!(rec.get("pids"), "unset");
    assert!(
        !rec.args.iter().any(|a| a.starts_with("--private-users")),
        "{rec:#?}"
    );
}

#[test]
fn a_bad_pids_limit_is_refused_before_the_pod_moves() {
    let env = TestEnv::new();
    let (stage1, record) = recording_stage1(&env);
    let uuid = prepare(&env, &stage1);
    for bad in ["0", "-1", "lots"] {
        let flag = format!("--pids-limit={bad}");
        let err = env
            .rkt(&["run-prepared", "--net=host", &flag, &uuid])
            .failed()
            .to_string();
        assert!(
            err.contains("--pids-limit") && err.contains("positive number"),
            "{bad}: {err}"
        );
    }
    assert!(!record.exists(), "stage1 must not have run");
    // Still prepared: a good run-prepared takes it.
    env.rkt(&["run-prepared", "--net=host", &uuid]).ok();
    assert!(record.exists());
}
