//! IP masquerade through nf_tables, spoken directly over netlink: no `iptables-restore` exec
//! (a dynamic binary that also fetches and re-commits the whole nat table) on every pod start.
//!
//! Layout: table `ip rkt-rs`; per container one base chain (type nat, hook postrouting,
//! priority srcnat) named like the iptables chain (`CNI-<hash>`), holding one rule:
//! `ip saddr <ip> ip daddr != <subnet> ip daddr != 224.0.0.0/4 masquerade`, commented with the
//! network and container. A chain per container keeps DEL by name (no rule handles to
//! remember); the table goes with the last chain. Each change is one atomic batch.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::cni::{self, Ipv4Net};

/// The table (family ip) that holds every container's chain.
pub const TABLE: &str = "rkt-rs";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("nftables: netlink socket: {0}")]
    Socket(#[source] io::Error),
    #[error("nftables: {action} chain {chain} of table ip {TABLE}: {source}")]
    Request {
        action: &'static str,
        chain: String,
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub fn code(&self) -> u32 {
        cni::code::IPTABLES
    }

    /// The kernel's errno for a refused request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Request { source, .. } => source.raw_os_error(),
            Error::Socket(_) => None,
        }
    }
}

// Constants of the kernel's nf_tables/nfnetlink ABI (linux/netfilter/nf_tables.h).
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const BATCH_BEGIN: u16 = 0x10;
const BATCH_END: u16 = 0x11;
const MSG_NEWTABLE: u16 = 0;
const MSG_DELTABLE: u16 = 2;
const MSG_NEWCHAIN: u16 = 3;
const MSG_DELCHAIN: u16 = 5;
const MSG_NEWRULE: u16 = 6;
const MSG_DELRULE: u16 = 8;
const NFPROTO_IPV4: u8 = 2;
const NLA_F_NESTED: u16 = 0x8000;
/// Delete requests: refuse (EBUSY) instead of deleting what the object still holds.
const NLM_F_NONREC: u16 = 0x100;
const HOOK_POSTROUTING: u32 = 4;
const PRIO_SRCNAT: i32 = 100;
const NF_ACCEPT: u32 = 1;
const REG_1: u32 = 1;
const PAYLOAD_NETWORK: u32 = 1;
const CMP_EQ: u32 = 0;
const CMP_NEQ: u32 = 1;
/// libnftnl's userdata type for a rule comment (so `nft list` shows it).
const UDATA_RULE_COMMENT: u8 = 0;

/// Netlink attributes, appended in order to one message buffer.
struct Attrs<'a>(&'a mut Vec<u8>);

impl Attrs<'_> {
    fn pad(&mut self) {
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
    }

    fn bytes(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        let len = (4 + data.len()) as u16;
        self.0.extend_from_slice(&len.to_ne_bytes());
        self.0.extend_from_slice(&ty.to_ne_bytes());
        self.0.extend_from_slice(data);
        self.pad();
        self
    }

    /// A NUL-terminated string, as nf_tables expects names.
    fn str(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.bytes(ty, &v)
    }

    /// nf_tables integers are big-endian.
    fn be32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.bytes(ty, &v.to_be_bytes())
    }

    fn nested(&mut self, ty: u16, f: impl FnOnce(&mut Attrs<'_>)) -> &mut Self {
        let start = self.0.len();
        self.0.extend_from_slice(&[0; 4]);
        f(&mut Attrs(self.0));
        let len = (self.0.len() - start) as u16;
        self.0[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self.0[start + 2..start + 4].copy_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        self
    }

    /// One element of a rule's expression list: `NFTA_LIST_ELEM { NAME, DATA {..} }`.
    fn expr(&mut self, name: &str, data: impl FnOnce(&mut Attrs<'_>)) -> &mut Self {
        self.nested(1, |e| {
            e.str(1, name);
            e.nested(2, data);
        })
    }

    /// `NFTA_DATA_VALUE` inside a nested data attribute.
    fn value(&mut self, ty: u16, v: &[u8]) -> &mut Self {
        self.nested(ty, |d| {
            d.bytes(1, v);
        })
    }
}

/// One batch of nf_tables requests, each acknowledged by the kernel.
struct Batch {
    buf: Vec<u8>,
    seq: u32,
    acked: u32,
}

impl Batch {
    fn new() -> Batch {
        let mut b = Batch {
            buf: Vec::new(),
            seq: 0,
            acked: 0,
        };
        b.msg(BATCH_BEGIN, 0, 0, NFNL_SUBSYS_NFTABLES, false, |_| {});
        b
    }

    fn msg(
        &mut self,
        ty: u16,
        flags: u16,
        family: u8,
        res_id: u16,
        ack: bool,
        attrs: impl FnOnce(&mut Attrs<'_>),
    ) {
        let start = self.buf.len();
        self.seq += 1;
        let flags =
            flags | libc::NLM_F_REQUEST as u16 | if ack { libc::NLM_F_ACK as u16 } else { 0 };
        self.buf.extend_from_slice(&[0; 4]);
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&self.seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.extend_from_slice(&[family, 0]);
        self.buf.extend_from_slice(&res_id.to_be_bytes());
        attrs(&mut Attrs(&mut self.buf));
        let len = (self.buf.len() - start) as u32;
        self.buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
        if ack {
            self.acked += 1;
        }
    }

    /// An nf_tables request on the ip family.
    fn op(&mut self, op: u16, flags: u16, attrs: impl FnOnce(&mut Attrs<'_>)) {
        let ty = (NFNL_SUBSYS_NFTABLES << 8) | op;
        self.msg(ty, flags, NFPROTO_IPV4, 0, true, attrs);
    }

    /// Sends the batch and waits for every acknowledgement; the first error the kernel
    /// reports (the batch is then undone as a whole) as a [`Error::Request`] to `action`
    /// `chain`.
    fn commit(mut self, action: &'static str, chain: &str) -> Result<(), Error> {
        self.msg(BATCH_END, 0, 0, NFNL_SUBSYS_NFTABLES, false, |_| {});
        let sock = socket()?;
        // SAFETY: a valid fd and a buffer of the given length; a zeroed sockaddr_nl is the kernel.
        let sent = unsafe {
            let mut to: libc::sockaddr_nl = std::mem::zeroed();
            to.nl_family = libc::AF_NETLINK as u16;
            libc::sendto(
                sock.as_raw_fd(),
                self.buf.as_ptr().cast(),
                self.buf.len(),
                0,
                (&to as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if sent < 0 {
            return Err(Error::Socket(io::Error::last_os_error()));
        }
        let mut seen = 0;
        let mut buf = vec![0u8; 16384];
        while seen < self.acked {
            // SAFETY: reading into our own buffer of that length.
            let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(Error::Socket(io::Error::last_os_error()));
            }
            for errno in acks(&buf[..n as usize]) {
                seen += 1;
                if errno != 0 {
                    return Err(Error::Request {
                        action,
                        chain: chain.to_string(),
                        source: io::Error::from_raw_os_error(errno),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The errnos (0 for success) of the NLMSG_ERROR messages in one datagram.
fn acks(mut data: &[u8]) -> Vec<i32> {
    let mut out = Vec::new();
    while data.len() >= 20 {
        let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let ty = u16::from_ne_bytes([data[4], data[5]]);
        if len < 16 || len > data.len() {
            break;
        }
        if ty == libc::NLMSG_ERROR as u16 {
            let e = i32::from_ne_bytes([data[16], data[17], data[18], data[19]]);
            out.push(-e);
        }
        let next = ((len + 3) & !3).min(data.len());
        data = &data[next..];
    }
    out
}

fn socket() -> Result<OwnedFd, Error> {
    // SAFETY: plain socket creation; the fd is owned right away.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_NETFILTER,
        )
    };
    if fd < 0 {
        return Err(Error::Socket(io::Error::last_os_error()));
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // Never hang a pod start on a kernel that does not answer.
    let timeout = libc::timeval {
        tv_sec: 10,
        tv_usec: 0,
    };
    // SAFETY: a valid fd and a timeval of the size given.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as u32,
        )
    };
    Ok(sock)
}

/// Userdata of a rule carrying `comment` the way `nft` stores comments.
fn comment_udata(comment: &str) -> Vec<u8> {
    let mut text: Vec<u8> = comment.bytes().take(254).collect();
    text.push(0);
    let mut v = vec![UDATA_RULE_COMMENT, text.len() as u8];
    v.extend_from_slice(&text);
    v
}

/// `payload load 4 bytes at offset` of the IPv4 header into register 1.
fn load_addr(a: &mut Attrs<'_>, offset: u32) {
    a.expr("payload", |p| {
        p.be32(1, REG_1)
            .be32(2, PAYLOAD_NETWORK)
            .be32(3, offset)
            .be32(4, 4);
    });
}

fn cmp(a: &mut Attrs<'_>, op: u32, v: Ipv4Addr) {
    a.expr("cmp", |c| {
        c.be32(1, REG_1).be32(2, op).value(3, &v.octets());
    });
}

/// Register 1 masked to the first `prefix` bits.
fn mask(a: &mut Attrs<'_>, prefix: u8) {
    let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    a.expr("bitwise", |b| {
        b.be32(1, REG_1)
            .be32(2, REG_1)
            .be32(3, 4)
            .value(4, &m.to_be_bytes())
            .value(5, &[0; 4]);
    });
}

/// The rule's expressions (see the module docs).
fn masquerade_exprs(a: &mut Attrs<'_>, ip: Ipv4Addr, subnet: Ipv4Net) {
    load_addr(a, 12);
    cmp(a, CMP_EQ, ip);
    load_addr(a, 16);
    mask(a, subnet.prefix);
    cmp(a, CMP_NEQ, subnet.network());
    load_addr(a, 16);
    mask(a, 4);
    cmp(a, CMP_NEQ, Ipv4Addr::new(224, 0, 0, 0));
    a.expr("masq", |_| {});
}

/// Installs masquerading for traffic from `ip` leaving `subnet`, in chain `chain` (one batch:
/// table and chain made when missing, the chain emptied of a failed earlier ADD's rule).
pub fn add_masquerade(
    chain: &str,
    ip: Ipv4Addr,
    subnet: Ipv4Net,
    comment: &str,
) -> Result<(), Error> {
    let mut b = Batch::new();
    let create = libc::NLM_F_CREATE as u16;
    b.op(MSG_NEWTABLE, create, |a| {
        a.str(1, TABLE);
    });
    b.op(MSG_NEWCHAIN, create, |a| {
        a.str(1, TABLE).str(3, chain);
        a.nested(4, |h| {
            h.be32(1, HOOK_POSTROUTING).be32(2, PRIO_SRCNAT as u32);
        });
        a.be32(5, NF_ACCEPT).str(7, "nat");
    });
    b.op(MSG_DELRULE, 0, |a| {
        a.str(1, TABLE).str(2, chain);
    });
    b.op(MSG_NEWRULE, create | libc::NLM_F_APPEND as u16, |a| {
        a.str(1, TABLE).str(2, chain);
        a.nested(4, |e| masquerade_exprs(e, ip, subnet));
        a.bytes(7, &comment_udata(comment));
    });
    b.commit("adding", chain)
}

/// Removes `chain` with its rule, then the table if no other chain is left in it. Returns
/// whether the chain existed.
pub fn del_masquerade(chain: &str) -> Result<bool, Error> {
    let mut b = Batch::new();
    b.op(MSG_DELRULE, 0, |a| {
        a.str(1, TABLE).str(2, chain);
    });
    b.op(MSG_DELCHAIN, 0, |a| {
        a.str(1, TABLE).str(3, chain);
    });
    let existed = match b.commit("deleting", chain) {
        Ok(()) => true,
        Err(e) if e.errno() == Some(libc::ENOENT) => false,
        Err(e) => return Err(e),
    };
    // NONREC: the kernel refuses (EBUSY) while other containers' chains are in the table, so
    // this never removes a running pod's masquerading.
    let mut t = Batch::new();
    t.op(MSG_DELTABLE, NLM_F_NONREC, |a| {
        a.str(1, TABLE);
    });
    match t.commit("deleting the table after", chain) {
        Ok(()) => Ok(existed),
        Err(e) if matches!(e.errno(), Some(libc::ENOENT | libc::EBUSY)) => Ok(existed),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nested_lengths_cover_children() {
        let mut buf = Vec::new();
        Attrs(&mut buf).nested(4, |a| {
            a.str(1, "ab").be32(2, 100);
        });
        // nested header 4 + "ab\0" attr (4+3 -> 8) + be32 attr 8 = 20.
        assert_eq!(buf.len(), 20);
        assert_eq!(u16::from_ne_bytes([buf[0], buf[1]]), 20);
        assert_eq!(u16::from_ne_bytes([buf[2], buf[3]]), 4 | NLA_F_NESTED);
        assert_eq!(u16::from_ne_bytes([buf[4], buf[5]]), 7, "unpadded length");
        assert_eq!(&buf[8..11], b"ab\0");
        assert_eq!(&buf[16..20], &100u32.to_be_bytes());
    }

    #[test]
    fn batch_frames_requests_between_begin_and_end() {
        let mut b = Batch::new();
        b.op(MSG_NEWTABLE, 0, |a| {
            a.str(1, TABLE);
        });
        assert_eq!(b.acked, 1);
        let first = u32::from_ne_bytes([b.buf[0], b.buf[1], b.buf[2], b.buf[3]]) as usize;
        assert_eq!(first, 20, "begin: header and nfgenmsg only");
        assert_eq!(u16::from_ne_bytes([b.buf[4], b.buf[5]]), BATCH_BEGIN);
        assert_eq!(&b.buf[18..20], &NFNL_SUBSYS_NFTABLES.to_be_bytes());
        let ty = u16::from_ne_bytes([b.buf[first + 4], b.buf[first + 5]]);
        assert_eq!(ty, (NFNL_SUBSYS_NFTABLES << 8) | MSG_NEWTABLE);
        assert_eq!(b.buf[first + 16], NFPROTO_IPV4);
    }

    #[test]
    fn acks_reads_errnos() {
        let mut d = Vec::new();
        for e in [0i32, -libc::ENOENT] {
            d.extend_from_slice(&36u32.to_ne_bytes());
            d.extend_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
            d.extend_from_slice(&[0; 10]);
            d.extend_from_slice(&e.to_ne_bytes());
            d.extend_from_slice(&[0; 16]);
        }
        assert_eq!(acks(&d), [0, libc::ENOENT]);
        assert!(acks(&d[..10]).is_empty());
    }

    #[test]
    fn comments_are_nft_userdata() {
        let u = comment_udata("name: default id: x");
        assert_eq!(u[0], UDATA_RULE_COMMENT);
        assert_eq!(usize::from(u[1]), u.len() - 2);
        assert_eq!(u.last(), Some(&0));
        assert!(comment_udata(&"x".repeat(400)).len() <= 257);
    }
}
