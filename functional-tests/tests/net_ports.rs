//! `--port NAME:[HOSTIP:]HOSTPORT` on the default network, for a tcp and a udp image port:
//! reachable from the host's own localhost and from an "outside host" (a network namespace
//! routed through the host, see `net_support`); the flag's conflicts are errors.

mod net_support;

use std::io::Read;
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use functional_tests::{InspectImage, RktCtx};
use net_support::{OutsideHost, nat_rules};
use serde_json::json;

fn tcp_fetch(addr: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut s) =
            TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2))
        {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut got = String::new();
            let _ = s.read_to_string(&mut got);
            if !got.is_empty() {
                return got;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing answered on tcp {addr}");
}

fn udp_ask(addr: &str) -> String {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 512];
    for _ in 0..50 {
        sock.send_to(b"ping", addr).unwrap();
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            return String::from_utf8_lossy(&buf[..n]).into_owned();
        }
    }
    panic!("no udp answer from {addr}");
}

#[test]
fn tcp_and_udp_ports_from_localhost_and_from_another_host() {
    let out = OutsideHost::new(3);
    let ctx = RktCtx::new();
    let mut b = InspectImage::new("rkt-rs.dev/ft/ports")
        .args(&[
            "--content=hello through the port\n",
            "--serve-udp=7501",
            "--serve-tcp=7500",
        ])
        .builder(&std::fs::read(functional_tests::env_path("RKT_INSPECT_BIN")).unwrap());
    b.manifest["app"]["ports"] = json!([
        {"name": "web", "protocol": "tcp", "port": 7500},
        {"name": "echo", "protocol": "udp", "port": 7501}
    ]);
    let img = ctx.work().join("ports.aci");
    b.write(&img).unwrap();
    let pod = ctx.spawn(&[
        "--net=default",
        "--port=web:17950",
        "--port=echo:17951",
        img.to_str().unwrap(),
    ]);
    let short: String = pod.uuid.chars().filter(|c| *c != '-').take(8).collect();
    assert!(
        nat_rules()
            .iter()
            .any(|r| r.contains(&short) && r.contains("-p udp")),
        "a udp forward for {short}"
    );

    assert_eq!(tcp_fetch("127.0.0.1:17950"), "hello through the port\n");
    assert_eq!(udp_ask("127.0.0.1:17951"), "hello through the port\n");

    // From the outside host, to the host's address on its link.
    for (flag, port, key) in [
        ("--connect-tcp", 17950, "CONNECTED"),
        ("--send-udp", 17951, "UDP_REPLY"),
    ] {
        let arg = format!("{flag}={}:{port}", out.host_ip);
        let res = functional_tests::ctx::output(out.inspect(&[&arg]), Duration::from_secs(20));
        assert_eq!(res.kv(key), Some("hello through the port"), "{res:#?}");
    }

    drop(pod);
    ctx.rkt(&["gc", "--grace-period=0s"]).ok();
    assert!(
        !nat_rules().iter().any(|r| r.contains(&short)),
        "port forwarding rules left for {short}"
    );
}

#[test]
fn a_port_on_one_host_address_only() {
    let ctx = RktCtx::new();
    let mut b = InspectImage::new("rkt-rs.dev/ft/ports-ip")
        .args(&["--content=bound\n", "--serve-tcp=7502"])
        .builder(&std::fs::read(functional_tests::env_path("RKT_INSPECT_BIN")).unwrap());
    b.manifest["app"]["ports"] = json!([{"name": "web", "protocol": "tcp", "port": 7502}]);
    let img = ctx.work().join("ports-ip.aci");
    b.write(&img).unwrap();
    let _pod = ctx.spawn(&[
        "--net=default",
        "--port=web:127.0.0.1:17952",
        img.to_str().unwrap(),
    ]);
    assert_eq!(tcp_fetch("127.0.0.1:17952"), "bound\n");
    assert!(
        nat_rules()
            .iter()
            .any(|r| r.contains("-d 127.0.0.1/32") && r.contains("--dport 17952")),
        "{:?}",
        nat_rules()
    );
}

#[test]
fn port_conflicts_are_errors() {
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/ports-bad").build(&ctx.work());
    for net in ["--net=host", "--net=none"] {
        let out = ctx.run(&[net, "--port=web:17953", img.to_str().unwrap()]);
        assert_ne!(out.code, 0, "{out:#?}");
        assert!(
            out.stderr.contains("--port") && out.stderr.contains(net),
            "{out:#?}"
        );
    }
    // A name no app of the pod has.
    let out = ctx.run(&[
        "--net=default",
        "--port=nosuch:17954",
        img.to_str().unwrap(),
    ]);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(out.stderr.contains("nosuch"), "{out:#?}");
}
