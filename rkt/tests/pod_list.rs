//! `rkt list`: table columns (short and `--full`), one row per app, JSON, unreadable pods.

mod pod_support;
mod support;

use pod_support::{IMAGE_A, IMAGE_B, World};

/// The words of a table line (tabwriter pads with spaces, so multi-word cells split too).
fn cells(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_string).collect()
}

#[test]
fn table_has_a_row_per_app_and_pod_columns_on_the_first() {
    let w = World::new();
    let two = w.exited(
        &[
            ("web", IMAGE_A, "example.com/web", Some("1.2")),
            ("db", IMAGE_B, "example.com/db", None),
        ],
        &[0, 5],
    );
    let (running, _holder) = w.running(&[("only", IMAGE_A, "example.com/web", Some("1.2"))]);
    let out = w.env.rkt(&["list"]);
    let text = out.ok();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        cells(lines[0]),
        [
            "UUID", "APP", "IMAGE", "NAME", "STATE", "CREATED", "STARTED", "NETWORKS"
        ]
    );
    assert_eq!(lines.len(), 4, "{text}");
    let short = |p: &stage0::pod::Pod| p.uuid().to_string()[..8].to_string();
    let row_of = |uuid: &str| lines.iter().position(|l| l.starts_with(uuid)).unwrap();
    let first = row_of(&short(&two));
    let c = cells(lines[first]);
    assert_eq!(
        &c[..4],
        [short(&two).as_str(), "web", "example.com/web:1.2", "exited"]
    );
    // The second app's row repeats nothing about the pod.
    assert_eq!(cells(lines[first + 1]), ["db", "example.com/db"]);
    let r = cells(lines[row_of(&short(&running))]);
    assert_eq!(
        &r[..4],
        [
            short(&running).as_str(),
            "only",
            "example.com/web:1.2",
            "running"
        ]
    );
    // Humanized times: "now" or "N seconds ago".
    assert!(
        ["now", "ago"]
            .iter()
            .any(|w| r[4..].contains(&w.to_string())),
        "{text}"
    );

    let no_legend = w.env.rkt(&["list", "--no-legend"]);
    assert_eq!(no_legend.ok().lines().count(), 3);
}

#[test]
fn full_adds_image_ids_full_uuids_and_times() {
    let w = World::new();
    let pod = w.exited(&[("web", IMAGE_A, "example.com/web", None)], &[0]);
    let out = w.env.rkt(&["list", "--full"]);
    let text = out.ok();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        cells(lines[0]),
        [
            "UUID", "APP", "IMAGE", "NAME", "IMAGE", "ID", "STATE", "CREATED", "STARTED",
            "NETWORKS"
        ]
    );
    let c = cells(lines[1]);
    assert_eq!(c[0], pod.uuid().to_string());
    assert_eq!(c[3], &IMAGE_A[..19]);
    assert_eq!(c[4], "exited");
    // `2006-01-02 15:04:05.999 -0700 MST`: date, time, offset, zone for each of two times.
    assert!(c[5].len() == 10 && c[5].as_bytes()[4] == b'-', "{text}");
    assert_eq!(c.len(), 5 + 4 + 4, "{text}");
}

#[test]
fn json_lists_pod_objects() {
    let w = World::new();
    let pod = w.exited(&[("web", IMAGE_A, "example.com/web", None)], &[3]);
    let prepared = w.prepared(&[("p", IMAGE_B, "example.com/p", None)]);
    let out = w.env.rkt(&["list", "--format=json"]);
    let v: serde_json::Value = serde_json::from_str(out.ok()).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    let by = |u: &stage0::pod::Pod| {
        arr.iter()
            .find(|o| o["name"] == u.uuid().to_string())
            .unwrap()
            .clone()
    };
    let e = by(&pod);
    assert_eq!(e["state"], "exited");
    assert_eq!(e["app_names"], serde_json::json!(["web"]));
    assert_eq!(e["apps"][0]["exit_code"], 3);
    assert_eq!(e["apps"][0]["image_id"], IMAGE_A);
    assert!(e["created_at"].as_i64().unwrap() > 1_600_000_000);
    assert_eq!(by(&prepared)["state"], "prepared");

    let pretty = w.env.rkt(&["list", "--format=json-pretty"]);
    assert!(pretty.ok().lines().count() > 10);
}

#[test]
fn a_broken_pod_is_reported_and_the_others_listed() {
    let w = World::new();
    let good = w.exited(&[("web", IMAGE_A, "example.com/web", None)], &[0]);
    let bad = w.exited(&[("web", IMAGE_A, "example.com/web", None)], &[0]);
    std::fs::write(bad.path().join("pod"), "{not json").unwrap();
    // An app whose image manifest is missing shows `--` and is reported too.
    let noimg = w.exited(&[("lost", IMAGE_B, "example.com/lost", None)], &[0]);
    std::fs::remove_file(noimg.path().join("appsinfo/lost/manifest")).unwrap();

    let out = w.env.rkt(&["list", "--no-legend"]);
    let text = out.ok();
    assert!(text.contains(&good.uuid().to_string()[..8]), "{text}");
    assert!(!text.contains(&bad.uuid().to_string()[..8]), "{text}");
    let lost = text.lines().find(|l| l.contains("lost")).unwrap();
    assert_eq!(cells(lost)[2], "--");
    assert!(
        out.stderr.contains(&bad.uuid().to_string()),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("appsinfo/lost/manifest"),
        "{}",
        out.stderr
    );

    let json = w.env.rkt(&["list", "--format=json"]);
    let v: serde_json::Value = serde_json::from_str(json.ok()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert!(json.stderr.contains(&bad.uuid().to_string()));
}

#[test]
fn a_pod_without_manifest_gets_dashes() {
    let w = World::new();
    let mut embryo = stage0::pod::Pod::create_embryo(&w.pods).unwrap();
    embryo.to_prepare().unwrap();
    let out = w.env.rkt(&["list", "--no-legend"]);
    let c = cells(out.ok().lines().next().unwrap());
    let short = embryo.uuid().to_string()[..8].to_string();
    assert_eq!(c, [short.as_str(), "-", "-", "preparing"]);
}

#[test]
fn a_thousand_pods_list_quickly() {
    let w = World::new();
    // Two images, so the per-image name cache (and the threads each keeping one) must give
    // every row its own pod's image name.
    let web = w.exited(&[("web", IMAGE_A, "example.com/web", Some("1"))], &[0]);
    let db = w.exited(&[("db", IMAGE_B, "example.com/db", None)], &[0]);
    // Copy the template pod directories (much faster than building each pod).
    let run = web.path().parent().unwrap().to_path_buf();
    for i in 0..998 {
        let uuid = aci::manifest::Uuid::new_v4().unwrap().to_string();
        let template = if i % 3 == 0 { db.path() } else { web.path() };
        let st = std::process::Command::new("cp")
            .arg("-a")
            .arg(template)
            .arg(run.join(uuid))
            .status()
            .unwrap();
        assert!(st.success());
    }
    let start = std::time::Instant::now();
    let out = w.env.rkt(&["list", "--no-legend", "--full"]);
    let took = start.elapsed();
    let rows: Vec<Vec<String>> = out.ok().lines().map(cells).collect();
    assert_eq!(rows.len(), 1000);
    for r in &rows {
        let want = if r[1] == "db" {
            "example.com/db"
        } else {
            "example.com/web:1"
        };
        assert_eq!(r[2], want, "{r:?}");
    }
    let uuids: Vec<&String> = rows.iter().map(|r| &r[0]).collect();
    assert!(uuids.is_sorted(), "rows out of UUID order");
    // The goal is 50 ms in release builds; a debug build gets slack.
    assert!(
        took < std::time::Duration::from_secs(2),
        "listing took {took:?}"
    );
    eprintln!("listing 1000 pods took {took:?}");

    let json = w.env.rkt(&["list", "--format=json"]);
    let v: serde_json::Value = serde_json::from_str(json.ok()).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, uuids.iter().map(|u| u.as_str()).collect::<Vec<_>>());
}
