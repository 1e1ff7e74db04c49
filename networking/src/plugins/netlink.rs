//! Link, address and route changes over rtnetlink, on the host or inside a netns.
//!
//! A netlink socket stays in the network namespace it was created in, so `Netlink::in_netns`
//! switches this thread into the target netns only for the socket's creation and back. The
//! plugin runs a current-thread tokio runtime (in stage1: on a helper thread, joined after the
//! call) and forks only to exec a delegated IPAM plugin.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{
    InfoBridgePort, InfoData, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute, LinkMessage,
};
use rtnetlink::packet_route::route::RouteScope;
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};
use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

use super::cni::{self, Ipv4Net};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("opening netlink socket: {0}")]
    Socket(#[source] std::io::Error),
    #[error("entering network namespace {path}: {source}")]
    Netns {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{action} {what}: {source}")]
    Request {
        action: &'static str,
        what: String,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("link {0} not found")]
    NoLink(String),
}

impl Error {
    pub fn code(&self) -> u32 {
        cni::code::NETLINK
    }

    /// The kernel's errno for a rejected request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Request {
                source: rtnetlink::Error::NetlinkError(m),
                ..
            } => Some(-m.raw_code()),
            _ => None,
        }
    }
}

fn req(action: &'static str, what: impl ToString) -> impl FnOnce(rtnetlink::Error) -> Error {
    let what = what.to_string();
    move |source| Error::Request {
        action,
        what,
        source,
    }
}

/// A netlink connection bound to one network namespace.
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// A connection in this thread's current netns. Must be called inside the runtime.
    pub fn current() -> Result<Netlink, Error> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(Error::Socket)?;
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    /// A connection inside the netns at `path` (a bind-mounted or /proc netns file).
    pub fn in_netns(path: &Path) -> Result<Netlink, Error> {
        let ns_err = |source| Error::Netns {
            path: path.to_path_buf(),
            source,
        };
        let target = File::open(path).map_err(ns_err)?;
        let home = File::open("/proc/thread-self/ns/net").map_err(ns_err)?;
        move_into_link_name_space(target.as_fd(), Some(LinkNameSpaceType::Network))
            .map_err(|e| ns_err(e.into()))?;
        let made = Netlink::current();
        // Going home cannot fail for our own namespace fd short of a kernel bug; if it does,
        // stop rather than configure the host from inside the container's namespace.
        if let Err(e) = move_into_link_name_space(home.as_fd(), Some(LinkNameSpaceType::Network)) {
            return Err(ns_err(e.into()));
        }
        made
    }

    pub async fn link(&self, name: &str) -> Result<Option<LinkMessage>, Error> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(l) => Ok(l),
            Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == libc::ENODEV => Ok(None),
            Err(e) => Err(req("looking up link", name)(e)),
        }
    }

    pub async fn index(&self, name: &str) -> Result<u32, Error> {
        self.link(name)
            .await?
            .map(|l| l.header.index)
            .ok_or_else(|| Error::NoLink(name.into()))
    }

    /// The MAC of a link as `aa:bb:...`, empty if it has none.
    pub async fn mac(&self, name: &str) -> Result<String, Error> {
        Ok(self.link_info(name).await?.1)
    }

    /// A link's index and MAC (`aa:bb:...`, empty if it has none), in one request.
    pub async fn link_info(&self, name: &str) -> Result<(u32, String), Error> {
        let link = self
            .link(name)
            .await?
            .ok_or_else(|| Error::NoLink(name.into()))?;
        let mac = link
            .attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::Address(m) => Some(
                    m.iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(":"),
                ),
                _ => None,
            })
            .unwrap_or_default();
        Ok((link.header.index, mac))
    }

    /// Creates the veth pair `host` (here, up) and `peer` (down), the peer made directly inside
    /// the netns at `netns`: one request, where creating both here, moving the peer and setting
    /// the host end up costs three more (and the kernel's slow namespace move: it waits for the
    /// network's RCU users). The peer cannot be made up in the same request: the kernel opens
    /// it before the two ends are linked, and a veth without its peer refuses (ENOTCONN).
    pub async fn add_veth_into(
        &self,
        host: &str,
        peer: &str,
        netns: &Path,
        mtu: Option<u32>,
    ) -> Result<(), Error> {
        let ns = File::open(netns).map_err(|source| Error::Netns {
            path: netns.to_path_buf(),
            source,
        })?;
        let mut peer_msg = LinkUnspec::new_with_name(peer).setns_by_fd(ns.as_raw_fd());
        if let Some(m) = mtu {
            peer_msg = peer_msg.mtu(m);
        }
        let mut b = LinkVeth::new(host, peer)
            .up()
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg.build())));
        if let Some(m) = mtu {
            b = b.mtu(m);
        }
        // `ns` stays open until the kernel has the request.
        let made = self.handle.link().add(b.build()).execute().await;
        drop(ns);
        made.map_err(req("creating veth", host))
    }

    pub async fn set_up(&self, name: &str, mtu: Option<u32>) -> Result<(), Error> {
        let idx = self.index(name).await?;
        self.set_up_at(idx, name, mtu).await
    }

    /// [`Netlink::set_up`] by link index (`name` is for messages).
    pub async fn set_up_at(&self, idx: u32, name: &str, mtu: Option<u32>) -> Result<(), Error> {
        let mut b = LinkUnspec::new_with_index(idx).up();
        if let Some(m) = mtu {
            b = b.mtu(m);
        }
        self.handle
            .link()
            .set(b.build())
            .execute()
            .await
            .map_err(req("setting up", name))
    }

    pub async fn set_down(&self, name: &str) -> Result<(), Error> {
        let idx = self.index(name).await?;
        let msg = LinkUnspec::new_with_index(idx).down().build();
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(req("setting down", name))
    }

    /// Deletes link `name`; true if it existed.
    pub async fn del_link(&self, name: &str) -> Result<bool, Error> {
        let Some(link) = self.link(name).await? else {
            return Ok(false);
        };
        match self.handle.link().del(link.header.index).execute().await {
            Ok(()) => Ok(true),
            Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == libc::ENODEV => Ok(false),
            Err(e) => Err(req("deleting link", name)(e)),
        }
    }

    /// Adds `addr` to `name`; an address already present is fine.
    pub async fn add_addr(&self, name: &str, addr: Ipv4Net) -> Result<(), Error> {
        self.add_addr_with(name, addr, false).await
    }

    /// Adds `addr` to `name` without the kernel's route to its subnet (the caller routes it).
    pub async fn add_addr_no_prefix_route(&self, name: &str, addr: Ipv4Net) -> Result<(), Error> {
        self.add_addr_with(name, addr, true).await
    }

    async fn add_addr_with(
        &self,
        name: &str,
        addr: Ipv4Net,
        no_prefix_route: bool,
    ) -> Result<(), Error> {
        let idx = self.index(name).await?;
        self.add_addr_at(idx, name, addr, no_prefix_route).await
    }

    /// Adds `addr` to link index `idx` (`name` is for messages); an address already present is
    /// fine. `no_prefix_route`: without the kernel's route to its subnet (the caller routes it).
    pub async fn add_addr_at(
        &self,
        idx: u32,
        name: &str,
        addr: Ipv4Net,
        no_prefix_route: bool,
    ) -> Result<(), Error> {
        use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags};
        let mut request = self
            .handle
            .address()
            .add(idx, addr.addr.into(), addr.prefix);
        if no_prefix_route {
            let attrs = &mut request.message_mut().attributes;
            attrs.push(AddressAttribute::Flags(AddressFlags::Noprefixroute));
        }
        let r = request.execute().await;
        match r {
            Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == libc::EEXIST => Ok(()),
            r => r.map_err(req("adding address", format!("{addr} to {name}"))),
        }
    }

    /// A route to `dst` out of `dev`, via `gw` or on-link; an existing identical route is fine.
    pub async fn add_route(
        &self,
        dst: Ipv4Net,
        gw: Option<Ipv4Addr>,
        dev: &str,
    ) -> Result<(), Error> {
        let idx = self.index(dev).await?;
        self.add_route_at(dst, gw, idx, dev).await
    }

    /// [`Netlink::add_route`] out of link index `idx` (`dev` is for messages).
    pub async fn add_route_at(
        &self,
        dst: Ipv4Net,
        gw: Option<Ipv4Addr>,
        idx: u32,
        dev: &str,
    ) -> Result<(), Error> {
        let mut b = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(dst.network(), dst.prefix)
            .output_interface(idx);
        b = match gw {
            Some(g) => b.gateway(g),
            None => b.scope(RouteScope::Link),
        };
        match self.handle.route().add(b.build()).execute().await {
            Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == libc::EEXIST => Ok(()),
            r => r.map_err(req("adding route", format!("{dst} dev {dev}"))),
        }
    }

    /// The bridge `name`, created and up if missing; returns its index.
    pub async fn ensure_bridge(&self, name: &str, mtu: Option<u32>) -> Result<u32, Error> {
        if self.link(name).await?.is_none() {
            let mut b = LinkBridge::new(name);
            if let Some(m) = mtu {
                b = b.mtu(m);
            }
            match self.handle.link().add(b.build()).execute().await {
                Err(rtnetlink::Error::NetlinkError(m)) if -m.raw_code() == libc::EEXIST => {}
                r => r.map_err(req("creating bridge", name))?,
            }
        }
        self.set_up(name, None).await?;
        self.index(name).await
    }

    /// Attaches `port` to bridge index `bridge`, with hairpin mode if asked.
    pub async fn set_master(&self, port: &str, bridge: u32, hairpin: bool) -> Result<(), Error> {
        let idx = self.index(port).await?;
        let msg = LinkUnspec::new_with_index(idx).controller(bridge).build();
        self.handle
            .link()
            .set(msg)
            .execute()
            .await
            .map_err(req("attaching to bridge", port))?;
        if hairpin {
            let msg = LinkUnspec::new_with_index(idx)
                .set_port_kind(InfoPortKind::Bridge)
                .set_port_data(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                    true,
                )]))
                .build();
            self.handle
                .link()
                .set(msg)
                .execute()
                .await
                .map_err(req("setting hairpin mode on", port))?;
        }
        Ok(())
    }

    /// The IPv4 addresses on `name`.
    pub async fn addrs(&self, name: &str) -> Result<Vec<Ipv4Net>, Error> {
        use rtnetlink::packet_route::address::AddressAttribute;
        let idx = self.index(name).await?;
        let mut out = Vec::new();
        let mut s = self
            .handle
            .address()
            .get()
            .set_link_index_filter(idx)
            .execute();
        while let Some(m) = s
            .try_next()
            .await
            .map_err(req("listing addresses of", name))?
        {
            for a in &m.attributes {
                if let AddressAttribute::Address(std::net::IpAddr::V4(ip)) = a {
                    out.push(Ipv4Net {
                        addr: *ip,
                        prefix: m.header.prefix_len,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// A current-thread runtime for one plugin run.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(Error::Socket)
}
