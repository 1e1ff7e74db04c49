//! `--dns`, `--dns-search`, `--dns-opt`, `--dns-domain`, `--hosts-entry` and `--hostname`:
//! what the app finds in its /etc/resolv.conf, /etc/hosts and hostname. The image brings its
//! own resolv.conf, so "left alone" is visible.

use functional_tests::{InspectImage, Out, RktCtx};

const IMAGE_RESOLV: &str = "nameserver 192.0.2.99\n";

fn run(ctx: &RktCtx, name: &str, flags: &[&str]) -> Out {
    let img = InspectImage::new(&format!("rkt-rs.dev/ft/dns-{name}"))
        .args(&[
            "--read-file=/etc/resolv.conf",
            "--read-file=/etc/hosts",
            "--print-hostname",
        ])
        .file("etc/resolv.conf", IMAGE_RESOLV.as_bytes())
        .build(&ctx.work());
    let mut args: Vec<&str> = flags.to_vec();
    args.push(img.to_str().unwrap());
    ctx.run(&args)
}

#[test]
fn dns_flags_make_the_apps_resolv_conf() {
    let ctx = RktCtx::new();
    let out = run(
        &ctx,
        "flags",
        &[
            "--net=none",
            "--dns=10.1.2.3",
            "--dns=10.1.2.4",
            "--dns-search=a.example",
            "--dns-search=b.example",
            "--dns-opt=ndots:3",
            "--dns-opt=timeout:1",
            "--dns-domain=pods.example",
        ],
    );
    let stdout = out.ok();
    let want = "READ=nameserver 10.1.2.3\nnameserver 10.1.2.4\nsearch a.example b.example\n\
                options ndots:3 timeout:1\ndomain pods.example\n";
    assert!(stdout.contains(want), "{stdout}");
}

#[test]
fn dns_host_and_none() {
    let ctx = RktCtx::new();
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap();
    let out = run(&ctx, "host", &["--net=none", "--dns=host"]);
    let stdout = out.ok();
    assert!(
        stdout.contains(&format!("READ={}\n", host.trim_end())),
        "the host's resolv.conf: {stdout}"
    );
    let out = run(&ctx, "none", &["--net=none", "--dns=none"]);
    let stdout = out.ok();
    assert!(
        stdout.contains(&format!("READ={}", IMAGE_RESOLV.trim_end())),
        "the image's own: {stdout}"
    );
    // Without any flag a --net=none pod keeps the image's file too.
    let out = run(&ctx, "noflag", &["--net=none"]);
    assert!(out.ok().contains("READ=nameserver 192.0.2.99"), "{out:#?}");
}

#[test]
fn bad_dns_values_are_refused() {
    let ctx = RktCtx::new();
    for flags in [
        &["--net=none", "--dns=not-an-ip"][..],
        &["--net=none", "--dns=host", "--dns=1.1.1.1"][..],
        &["--net=none", "--dns-search=a b"][..],
        &["--net=none", "--hosts-entry=nope"][..],
        &[
            "--net=none",
            "--hosts-entry=host",
            "--hosts-entry=10.0.0.1=x",
        ][..],
    ] {
        let out = run(&ctx, "bad", flags);
        assert_ne!(out.code, 0, "{flags:?}: {out:#?}");
        let flag = flags[1].split('=').next().unwrap();
        assert!(out.stderr.contains(flag), "{flags:?}: {out:#?}");
    }
}

#[test]
fn hosts_entries_and_hostname() {
    let ctx = RktCtx::new();
    let out = run(
        &ctx,
        "hosts",
        &[
            "--net=none",
            "--hostname=podhost",
            "--hosts-entry=10.9.8.7=db.internal",
            "--hosts-entry=10.9.8.6=cache",
        ],
    );
    let stdout = out.ok();
    assert_eq!(out.get("HOSTNAME"), "podhost", "{stdout}");
    for line in [
        "127.0.0.1   localhost",
        "10.9.8.7 db.internal\n",
        "10.9.8.6 cache\n",
        "127.0.0.1 podhost\n",
    ] {
        assert!(stdout.contains(line), "{line:?} missing: {stdout}");
    }

    let out = run(&ctx, "hostshost", &["--net=none", "--hosts-entry=host"]);
    let stdout = out.ok();
    let host = std::fs::read_to_string("/etc/hosts").unwrap();
    assert!(
        stdout.contains(&format!("READ={}\n", host.trim_end())),
        "the host's hosts: {stdout}"
    );
    // The default hostname is rkt-<uuid>.
    assert!(out.get("HOSTNAME").starts_with("rkt-"), "{stdout}");
}

/// The flags win over the DNS a CNI plugin returns; without them the plugin's is used.
#[test]
fn dns_flags_win_over_cni_dns() {
    let ctx = RktCtx::new();
    let net_d = ctx.local_config().join("net.d");
    std::fs::create_dir_all(&net_d).unwrap();
    let leases = ctx.work().join("leases");
    // Our own ptp, with DNS in the conf (which it passes on in its result).
    let conf = serde_json::json!({
        "cniVersion": "1.0.0", "name": "ftdns", "type": "ptp",
        "dns": {"nameservers": ["10.215.0.53"], "search": ["cni.example"]},
        "ipam": {"type": "host-local", "subnet": "10.215.1.0/24",
                 "dataDir": leases.display().to_string()}
    });
    std::fs::write(net_d.join("10-ftdns.conf"), conf.to_string()).unwrap();
    let out = run(&ctx, "cni", &["--net=ftdns"]);
    let stdout = out.ok();
    assert!(
        stdout.contains("READ=nameserver 10.215.0.53\nsearch cni.example\n"),
        "{stdout}"
    );
    let out = run(&ctx, "cniflag", &["--net=ftdns", "--dns=10.1.1.1"]);
    let stdout = out.ok();
    assert!(stdout.contains("READ=nameserver 10.1.1.1\n"), "{stdout}");
    assert!(!stdout.contains("10.215.0.53"), "{stdout}");
}
