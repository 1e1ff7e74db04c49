//! Our CNI plugins (ptp, bridge, host-local, loopback), run as separate processes through the
//! multi-call binary `rkt-net-plugin` (see `dispatch`).
pub mod bridge;
pub mod cni;
pub mod dispatch;
pub mod hostlocal;
pub mod iptables;
pub mod loopback;
pub mod netlink;
pub mod nft;
pub mod ptp;
pub mod veth;
