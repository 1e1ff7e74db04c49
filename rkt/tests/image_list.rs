//! `rkt image list`: columns, legend, --full, --fields, --sort/--order and JSON output.

mod image_support;

use image_support::{Rkt, simple};
use serde_json::Value;

fn import_three(rkt: &Rkt) -> Vec<stage0::store::ImageInfo> {
    let mut infos = Vec::new();
    // Contents of different sizes, so sorting by size has something to sort.
    for (name, version, content) in [
        ("example.com/bravo", Some("1.0"), "b".repeat(50_000)),
        ("example.com/alpha", None, "a".to_string()),
        ("example.com/charlie", Some("2"), "c".repeat(5_000)),
    ] {
        infos.push(rkt.import(&simple(name, version, &content)));
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    infos
}

#[test]
fn table_columns_and_legend() {
    let rkt = Rkt::new();
    let infos = import_three(&rkt);
    let out = rkt.ok(&["image", "list"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    let header = lines[0].split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(header, "ID NAME SIZE IMPORT TIME LAST USED", "{out}");
    // Default order: import time, oldest first; short IDs; names with versions.
    for (line, info) in lines[1..].iter().zip(&infos) {
        let short = &info.key[..7 + 12];
        assert!(line.starts_with(&format!("{short} ")), "{line}");
        assert!(
            !line.contains(&info.key[..7 + 13]),
            "ID is not short: {line}"
        );
    }
    assert!(lines[1].contains("example.com/bravo:1.0"), "{out}");
    assert!(lines[2].contains("example.com/alpha "), "{out}");
    assert!(lines[3].contains("example.com/charlie:2"), "{out}");
    assert!(
        lines[1].contains(" ago") || lines[1].contains("now"),
        "{out}"
    );

    let bare = rkt.ok(&["image", "list", "--no-legend"]);
    assert_eq!(bare.lines().count(), 3);
    assert!(!bare.contains("IMPORT TIME"));
}

#[test]
fn full_shows_keys_exact_sizes_and_times() {
    let rkt = Rkt::new();
    let infos = import_three(&rkt);
    let out = rkt.ok(&[
        "image",
        "list",
        "--full",
        "--no-legend",
        "--fields=id,size,importtime",
    ]);
    for (line, info) in out.lines().zip(&infos) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[0], info.key, "{line}");
        // The size is the blob (nothing rendered yet), in bytes.
        assert_eq!(cols[1], info.size.to_string(), "{line}");
        // 2006-01-02 15:04:05.999 -0700 MST
        assert!(
            cols[2].len() == 10 && cols[2].as_bytes()[4] == b'-',
            "{line}"
        );
        assert!(cols[3].starts_with(|c: char| c.is_ascii_digit()), "{line}");
        assert!(
            cols[4].starts_with('+') || cols[4].starts_with('-'),
            "{line}"
        );
    }
}

#[test]
fn sort_and_order() {
    let rkt = Rkt::new();
    import_three(&rkt);
    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["image", "list", "--no-legend", "--fields=name"];
        all.extend_from_slice(args);
        rkt.ok(&all).lines().map(|l| l.trim().to_string()).collect()
    };
    assert_eq!(
        names(&["--sort=name"]),
        [
            "example.com/alpha",
            "example.com/bravo:1.0",
            "example.com/charlie:2"
        ]
    );
    assert_eq!(
        names(&["--sort=size", "--order=desc"]),
        [
            "example.com/bravo:1.0",
            "example.com/charlie:2",
            "example.com/alpha"
        ]
    );
    assert_eq!(
        names(&["--order=desc"]),
        [
            "example.com/charlie:2",
            "example.com/alpha",
            "example.com/bravo:1.0"
        ]
    );
    let out = rkt.run(&["image", "list", "--sort=colour"]);
    assert_eq!(out.status.code(), Some(2), "a bad field is a usage error");
}

#[test]
fn json_parses_back() {
    let rkt = Rkt::new();
    let infos = import_three(&rkt);
    for format in ["json", "json-pretty"] {
        let out = rkt.ok(&["image", "list", &format!("--format={format}")]);
        let v: Value = serde_json::from_str(&out).unwrap();
        let arr = v.as_array().unwrap();
        assert_eq!(arr.len(), 3);
        for (obj, info) in arr.iter().zip(&infos) {
            assert_eq!(obj["id"], info.key.as_str());
            assert_eq!(obj["size"], info.size);
            assert_eq!(
                obj["importtime"].as_u64().unwrap() as u128,
                info.import_time
            );
            assert_eq!(obj["lastused"].as_u64().unwrap() as u128, info.last_used);
            assert!(obj["name"].as_str().unwrap().starts_with("example.com/"));
        }
        assert_eq!(out.lines().count() > 1, format == "json-pretty");
    }
}

#[test]
fn empty_store_prints_only_the_legend() {
    let rkt = Rkt::new();
    let out = rkt.ok(&["image", "list"]);
    assert_eq!(out.lines().count(), 1);
    assert_eq!(rkt.ok(&["image", "list", "--format=json"]).trim(), "[]");
}

#[test]
fn size_counts_rendered_trees_and_latest_marks_the_newest() {
    let rkt = Rkt::new();
    let old = rkt.import(&simple("example.com/app", Some("1"), "one"));
    std::thread::sleep(std::time::Duration::from_millis(10));
    let new = rkt.import(&simple("example.com/app", Some("2"), &"x".repeat(100_000)));
    let store = rkt.store();
    let tree = store.render_tree(&new.key).unwrap();
    let tree_bytes = store.tree_size(&tree.id);
    assert!(tree_bytes > 0);
    let out = rkt.ok(&[
        "image",
        "list",
        "--full",
        "--no-legend",
        "--fields=id,size,latest",
    ]);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], [old.key.as_str(), &old.size.to_string(), "false"]);
    let new_size = (new.size + tree_bytes).to_string();
    assert_eq!(rows[1], [new.key.as_str(), &new_size, "true"]);
}
