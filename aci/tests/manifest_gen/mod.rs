//! proptest strategies that generate valid image and pod manifests (shared by the round-trip
//! and the actool tests). Isolators are drawn from a fixed set the Go reference code knows, so
//! `actool validate` can judge the generated manifests too.

#![allow(dead_code)]

use std::collections::BTreeMap;

use aci::manifest::{
    AcVersion, Annotation, Annotations, App, Dependency, EnvVar, EventHandler, EventHandlerName,
    ExposedPort, ImageManifest, Isolator, Label, Labels, Mount, MountPoint, PodManifest, Port,
    RuntimeApp, RuntimeImage, Volume, VolumeKind,
};
use aci::types::{AcIdentifier, AcName, ImageId};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use serde_json::json;

const OS_ARCH: &[(&str, &str)] = &[
    ("linux", "amd64"),
    ("linux", "aarch64"),
    ("linux", "armv7l"),
    ("linux", "ppc64le"),
    ("linux", "s390x"),
    ("freebsd", "arm"),
    ("darwin", "x86_64"),
];

pub fn ident() -> impl Strategy<Value = AcIdentifier> {
    "[a-z0-9]{1,6}([-._~/][a-z0-9]{1,6}){0,3}".prop_map(|s| AcIdentifier::new(s).unwrap())
}

pub fn acname() -> impl Strategy<Value = AcName> {
    "[a-z0-9]{1,6}(-[a-z0-9]{1,6}){0,2}".prop_map(|s| AcName::new(s).unwrap())
}

/// Any text, including non-ASCII, quotes and control characters.
fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}|[\"\\\\\n\t ]{0,3}"
}

fn abs_path() -> impl Strategy<Value = String> {
    "(/[a-zA-Z0-9._-]{1,8}){1,4}/?"
}

pub fn image_id() -> impl Strategy<Value = ImageId> {
    prop_oneof!["[0-9a-f]{64}", "[0-9a-f]{128}"]
        .prop_map(|h| ImageId::new(format!("sha512-{h}")).unwrap())
}

pub fn labels() -> impl Strategy<Value = Labels> {
    let others = btree_map(ident(), text(), 0..3).prop_map(|m| {
        m.into_iter()
            .filter(|(k, _)| !["name", "os", "arch", "version"].contains(&k.as_str()))
    });
    (
        option::of(0..OS_ARCH.len()),
        any::<bool>(),
        option::of(text()),
        others,
    )
        .prop_map(|(osi, arch, ver, rest)| {
            let mut l = Vec::new();
            let mut push = |n: &str, v: String| {
                l.push(Label {
                    name: AcIdentifier::new(n).unwrap(),
                    value: v,
                })
            };
            if let Some(i) = osi {
                push("os", OS_ARCH[i].0.to_string());
                if arch {
                    push("arch", OS_ARCH[i].1.to_string());
                }
            }
            if let Some(v) = ver {
                push("version", v);
            }
            l.extend(rest.map(|(name, value)| Label { name, value }));
            Labels::new(l).unwrap()
        })
}

pub fn annotations() -> impl Strategy<Value = Annotations> {
    let known = (
        option::of(
            (0i64..4_000_000_000, 0u32..1_000_000_000).prop_map(|(s, ns)| {
                chrono::DateTime::from_timestamp(s, ns)
                    .unwrap()
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            }),
        ),
        option::of("https?://[a-z]{1,8}\\.example(/[a-z]{0,5})?"),
    );
    let others = btree_map(ident(), text(), 0..3).prop_map(|m| {
        m.into_iter()
            .filter(|(k, _)| !["created", "homepage", "documentation"].contains(&k.as_str()))
    });
    (known, others).prop_map(|((created, home), rest)| {
        let mut a: Vec<Annotation> = rest
            .map(|(name, value)| Annotation { name, value })
            .collect();
        let mut push = |n: &str, v: Option<String>| {
            if let Some(value) = v {
                a.push(Annotation {
                    name: AcIdentifier::new(n).unwrap(),
                    value,
                });
            }
        };
        push("created", created);
        push("homepage", home);
        Annotations::new(a).unwrap()
    })
}

/// Isolators the Go library knows, with valid values and at most one of each.
pub fn isolators() -> impl Strategy<Value = Vec<Isolator>> {
    let all = vec![
        ("resource/memory", json!({"limit": "1G"})),
        ("resource/cpu", json!({"request": "250m", "limit": "500m"})),
        ("os/linux/no-new-privileges", json!(true)),
        (
            "os/linux/capabilities-retain-set",
            json!({"set": ["CAP_NET_BIND_SERVICE"]}),
        ),
    ];
    proptest::sample::subsequence(all, 0..=4).prop_map(|v| {
        v.into_iter()
            .map(|(n, value)| Isolator {
                name: AcIdentifier::new(n).unwrap(),
                value,
            })
            .collect()
    })
}

fn port() -> impl Strategy<Value = Port> {
    (acname(), "tcp|udp|sctp", 1u16..=65535, any::<bool>()).prop_flat_map(
        |(name, protocol, port, socket_activated)| {
            let max = 65536 - u32::from(port);
            (1u32..=max.min(100)).prop_map(move |count| Port {
                name: name.clone(),
                protocol: protocol.clone(),
                port,
                count,
                socket_activated,
            })
        },
    )
}

fn string_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map(text(), text(), 0..3)
}

pub fn app() -> impl Strategy<Value = App> {
    let ids = (
        vec(text(), 0..4),
        "[a-z0-9]{1,8}|/[a-z]{1,8}",
        "[a-z0-9]{1,8}",
        vec(any::<u32>(), 0..3),
    );
    let handlers =
        (option::of(vec(text(), 1..3)), option::of(vec(text(), 1..3))).prop_map(|(pre, post)| {
            let mut h = Vec::new();
            if let Some(exec) = post {
                h.push(EventHandler {
                    name: EventHandlerName::PostStop,
                    exec,
                });
            }
            if let Some(exec) = pre {
                h.push(EventHandler {
                    name: EventHandlerName::PreStart,
                    exec,
                });
            }
            h
        });
    let env = btree_map("[A-Za-z_][A-Za-z_0-9.-]{0,8}", text(), 0..4).prop_map(|m| {
        m.into_iter()
            .map(|(name, value)| EnvVar { name, value })
            .collect::<Vec<_>>()
    });
    let mounts = vec((acname(), abs_path(), any::<bool>()), 0..3).prop_map(|v| {
        v.into_iter()
            .map(|(name, path, read_only)| MountPoint {
                name,
                path,
                read_only,
            })
            .collect()
    });
    let rest = (
        option::of(abs_path()),
        env,
        mounts,
        vec(port(), 0..3),
        isolators(),
        string_map(),
        string_map(),
    );
    (ids, handlers, rest).prop_map(|((exec, user, group, gids), event_handlers, rest)| App {
        exec,
        event_handlers,
        user,
        group,
        supplementary_gids: gids,
        working_directory: rest.0,
        environment: rest.1,
        mount_points: rest.2,
        ports: rest.3,
        isolators: rest.4,
        user_annotations: rest.5,
        user_labels: rest.6,
    })
}

fn dependency() -> impl Strategy<Value = Dependency> {
    (
        ident(),
        option::of(image_id()),
        labels(),
        option::of(any::<u64>()),
    )
        .prop_map(|(image_name, image_id, labels, size)| Dependency {
            image_name,
            image_id,
            labels,
            size,
        })
}

fn version() -> impl Strategy<Value = AcVersion> {
    prop_oneof![
        Just(AcVersion::current()),
        (0u64..3, 1u64..20, 0u64..20)
            .prop_map(|(a, b, c)| { format!("{a}.{b}.{c}").parse().unwrap() })
    ]
}

pub fn image_manifest() -> impl Strategy<Value = ImageManifest> {
    let parts = (
        version(),
        ident(),
        labels(),
        option::of(app()),
        annotations(),
    );
    let deps = (vec(dependency(), 0..3), vec(abs_path(), 0..3));
    (parts, deps).prop_map(
        |((ver, name, labels, app, annotations), (dependencies, path_whitelist))| {
            let mut m = ImageManifest::new(name);
            m.ac_version = ver;
            m.labels = labels;
            m.app = app;
            m.annotations = annotations;
            m.dependencies = dependencies;
            m.path_whitelist = path_whitelist;
            m
        },
    )
}

fn volume_of(name: AcName) -> impl Strategy<Value = Volume> {
    let host = (
        abs_path(),
        option::of(any::<bool>()),
        option::of(any::<bool>()),
    )
        .prop_map(|(s, ro, rec)| (VolumeKind::Host, Some(s), ro, rec, None, None, None));
    let empty = (
        option::of(any::<bool>()),
        option::of("0?[0-7]{3}"),
        option::of(any::<u32>()),
        option::of(any::<u32>()),
    )
        .prop_map(|(ro, mode, uid, gid)| (VolumeKind::Empty, None, ro, None, mode, uid, gid));
    prop_oneof![host, empty].prop_map(
        move |(kind, source, read_only, recursive, mode, uid, gid)| Volume {
            name: name.clone(),
            kind,
            source,
            read_only,
            recursive,
            mode,
            uid,
            gid,
        },
    )
}

fn runtime_app(name: AcName) -> impl Strategy<Value = RuntimeApp> {
    let image = (option::of(ident()), image_id(), labels())
        .prop_map(|(name, id, labels)| RuntimeImage { name, id, labels });
    let mount = (
        acname(),
        abs_path(),
        option::of(acname().prop_flat_map(volume_of)),
    )
        .prop_map(|(volume, path, app_volume)| Mount {
            volume,
            path,
            app_volume,
        });
    (
        image,
        option::of(app()),
        any::<bool>(),
        vec(mount, 0..3),
        annotations(),
    )
        .prop_map(
            move |(image, app, read_only_root_fs, mounts, annotations)| RuntimeApp {
                name: name.clone(),
                image,
                app,
                read_only_root_fs,
                mounts,
                annotations,
            },
        )
}

fn exposed_port(name: AcName) -> impl Strategy<Value = ExposedPort> {
    (
        1u16..=65535,
        option::of(any::<[u8; 4]>()),
        option::of(port()),
    )
        .prop_map(move |(host_port, ip, pod_port)| ExposedPort {
            name: name.clone(),
            host_port,
            host_ip: ip.map(Into::into),
            pod_port,
        })
}

/// Unique-by-name lists: generate the names as a set, then one item per name.
fn named<T: std::fmt::Debug, S: Strategy<Value = T>>(
    max: usize,
    f: impl Fn(AcName) -> S + Clone,
) -> impl Strategy<Value = Vec<T>> {
    proptest::collection::btree_set(acname(), 0..max)
        .prop_flat_map(move |names| names.into_iter().map(f.clone()).collect::<Vec<_>>())
}

pub fn pod_manifest() -> impl Strategy<Value = PodManifest> {
    let lists = (
        named(4, runtime_app),
        named(4, volume_of),
        named(3, exposed_port),
    );
    (
        version(),
        lists,
        isolators(),
        annotations(),
        string_map(),
        string_map(),
    )
        .prop_map(
            |(ver, (apps, volumes, ports), isolators, annotations, ua, ul)| {
                let mut p = PodManifest::new();
                p.ac_version = ver;
                p.apps = apps;
                p.volumes = volumes;
                p.isolators = isolators;
                p.annotations = annotations;
                p.ports = ports;
                p.user_annotations = ua;
                p.user_labels = ul;
                p
            },
        )
}
