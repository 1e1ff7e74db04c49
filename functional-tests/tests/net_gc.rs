//! `rkt gc` of 20 exited pods on the default network: afterwards no pinned netns, veth,
//! iptables rule or host-local lease of theirs is left, and the host's listings are as they
//! were before (this binary's only test, so nothing else of ours runs meanwhile).

mod net_support;

use functional_tests::{InspectImage, RktCtx};
use net_support::{leases, links, nat_rules, nft_masquerade, pod_netns};

const PODS: usize = 20;

#[test]
fn gc_of_twenty_pods_leaves_nothing_behind() {
    let before = (pod_netns(), links(), nat_rules(), leases("default"));
    let ctx = RktCtx::new();
    let img = InspectImage::new("rkt-rs.dev/ft/netgc")
        .args(&["--print-ipv4"])
        .build(&ctx.work());
    let mut uuids = Vec::new();
    for i in 0..PODS {
        let file = ctx.work().join(format!("uuid-{i}"));
        let save = format!("--uuid-file-save={}", file.display());
        let out = ctx.run(&["--net=default", save.as_str(), img.to_str().unwrap()]);
        assert!(out.get("IPV4_eth0").starts_with("172.16.28."), "{out:#?}");
        uuids.push(std::fs::read_to_string(&file).unwrap().trim().to_string());
    }
    // Exited, not collected: everything is still there, one of each per pod.
    let netns = pod_netns();
    let held = leases("default");
    let rules = nat_rules();
    let masq = nft_masquerade();
    for uuid in &uuids {
        assert!(
            masq.iter()
                .any(|r| r.contains(uuid.as_str()) && r.contains("masquerade")),
            "{uuid}: {masq:?}"
        );
        assert!(netns.iter().any(|n| n.contains(uuid.as_str())), "{uuid}");
        assert!(
            held.iter().any(|(_, h)| h.starts_with(uuid.as_str())),
            "{uuid}"
        );
    }
    assert!(links().len() >= before.1.len() + PODS, "a veth per pod");
    assert!(
        rules.len() >= before.2.len() + PODS,
        "a masquerade chain per pod"
    );

    ctx.rkt(&["gc", "--grace-period=0s"]).ok();
    for uuid in &uuids {
        assert_eq!(ctx.pod_dir(uuid), None, "{uuid} collected");
    }
    let after = (pod_netns(), links(), nat_rules(), leases("default"));
    assert_eq!(after.0, before.0, "pinned netns");
    assert_eq!(after.1, before.1, "links");
    assert_eq!(after.2, before.2, "nat rules");
    assert_eq!(after.3, before.3, "leases");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for uuid in &uuids {
        assert!(!mounts.contains(uuid.as_str()), "a mount of {uuid} is left");
    }
}
