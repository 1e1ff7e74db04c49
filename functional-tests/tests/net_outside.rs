//! The built-in networks against an "outside host" (a network namespace routed through the
//! host, see `net_support`): `default` masquerades its way out, `default-restricted` reaches
//! only the host; two pods on `default` talk to each other.

mod net_support;

use std::io::Write;
use std::net::TcpListener;

use functional_tests::{InspectImage, RktCtx};
use net_support::{OutsideHost, status_ip};

const PORT: &str = "7400";

#[test]
fn default_reaches_the_outside_host_masqueraded() {
    let mut out = OutsideHost::new(1);
    out.serve(&[&format!("--serve-tcp-peer={PORT}")]);
    let ctx = RktCtx::new();
    let target = format!("--connect-tcp={}:{PORT}", out.ip);
    let img = InspectImage::new("rkt-rs.dev/ft/outside1")
        .args(&["--print-ipv4", target.as_str()])
        .build(&ctx.work());
    let run = ctx.run(&["--net=default", img.to_str().unwrap()]);
    let stdout = run.ok();
    assert!(run.get("IPV4_eth0").starts_with("172.16.28."), "{stdout}");
    // The outside host sees the host's address on its link, not the pod's.
    assert_eq!(
        run.get("CONNECTED"),
        format!("PEER={}", out.host_ip),
        "{stdout}"
    );
}

#[test]
fn restricted_reaches_the_host_but_not_the_outside_host() {
    let mut out = OutsideHost::new(2);
    out.serve(&[&format!("--serve-tcp-peer={PORT}")]);
    // A server on the host, reached through the pod's gateway (the host end of its veth).
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let host_port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            let _ = c.write_all(b"hello from the host\n");
        }
    });
    let ctx = RktCtx::new();
    let to_host = format!("--connect-tcp=172.31.0.1:{host_port}");
    let to_outside = format!("--connect-tcp={}:{PORT}", out.ip);
    let img = InspectImage::new("rkt-rs.dev/ft/outside2")
        .args(&["--print-ipv4", to_host.as_str(), to_outside.as_str()])
        .build(&ctx.work());
    let run = ctx.run(&["--net=default-restricted", img.to_str().unwrap()]);
    let text = format!("{run:#?}");
    assert!(run.get("IPV4_eth0").starts_with("172.31."), "{text}");
    assert_eq!(run.get("CONNECTED"), "hello from the host", "{text}");
    let err = run.get("ERROR");
    assert!(
        err.contains(&out.ip) && err.contains("unreachable"),
        "no route out: {text}"
    );
    assert_eq!(run.code, 1, "{text}");
}

#[test]
fn two_pods_on_default_reach_each_other() {
    let ctx = RktCtx::new();
    let server_img = InspectImage::new("rkt-rs.dev/ft/peer-server")
        .args(&["--content=hello neighbour\n", "--serve-tcp=7401"])
        .build(&ctx.work());
    let server = ctx.spawn(&["--net=default", server_img.to_str().unwrap()]);
    let ip = status_ip(&ctx, &server.uuid);
    assert!(ip.starts_with("172.16.28."), "{ip}");
    let target = format!("--connect-tcp={ip}:7401");
    let client_img = InspectImage::new("rkt-rs.dev/ft/peer-client")
        .args(&["--print-ipv4", target.as_str()])
        .build(&ctx.work());
    let run = ctx.run(&["--net=default", client_img.to_str().unwrap()]);
    let stdout = run.ok();
    assert_ne!(run.get("IPV4_eth0"), ip, "{stdout}");
    assert_eq!(run.get("CONNECTED"), "hello neighbour", "{stdout}");
}
