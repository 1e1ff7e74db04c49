//! `host-local` IPAM: addresses from configured ranges, leased on disk.
//!
//! Layout under `<dataDir>/<net name>/` (dataDir defaults to /var/lib/cni/networks): one file
//! per leased IP named after it, holding the container id; `last_reserved_ip.<set>` so the next
//! lease continues after the last one; `lock`, flocked for the whole ADD or DEL so concurrent
//! plugin runs never hand out the same address.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};
use serde::Deserialize;

use super::cni::{self, CniResult, Dns, IpConfig, Ipv4Net, Route};

pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("host-local: {0}")]
    Config(String),
    #[error("host-local: no free address in range set {set} of network {net:?} for {id}")]
    Exhausted { net: String, set: usize, id: String },
    #[error("host-local: requested address {ip} of network {net:?}: {problem}")]
    Requested {
        net: String,
        ip: Ipv4Addr,
        problem: String,
    },
    #[error("host-local: {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn code(&self) -> u32 {
        match self {
            Error::Config(_) => cni::code::INVALID_CONFIG,
            Error::Exhausted { .. } => cni::code::NO_FREE_ADDRESS,
            Error::Requested { .. } => cni::code::INVALID_CONFIG,
            Error::Io { .. } => cni::code::IO_FAILURE,
        }
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

#[derive(Debug, Deserialize)]
struct RawRange {
    subnet: String,
    #[serde(default, rename = "rangeStart")]
    range_start: Option<Ipv4Addr>,
    #[serde(default, rename = "rangeEnd")]
    range_end: Option<Ipv4Addr>,
    #[serde(default)]
    gateway: Option<Ipv4Addr>,
}

#[derive(Debug, Deserialize)]
struct RawIpam {
    #[serde(default)]
    subnet: Option<String>,
    #[serde(default, rename = "rangeStart")]
    range_start: Option<Ipv4Addr>,
    #[serde(default, rename = "rangeEnd")]
    range_end: Option<Ipv4Addr>,
    #[serde(default)]
    gateway: Option<Ipv4Addr>,
    #[serde(default)]
    ranges: Vec<Vec<RawRange>>,
    #[serde(default)]
    routes: Vec<Route>,
    #[serde(default, rename = "dataDir")]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct RawConf {
    name: String,
    ipam: RawIpam,
}

/// One contiguous range of leasable addresses in a subnet.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    pub subnet: Ipv4Net,
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
    pub gateway: Ipv4Addr,
}

impl Range {
    fn new(raw: &RawRange) -> Result<Range, Error> {
        let subnet: Ipv4Net = raw
            .subnet
            .parse()
            .map_err(|e: cni::Error| Error::Config(e.to_string()))?;
        let subnet = Ipv4Net {
            addr: subnet.network(),
            prefix: subnet.prefix,
        };
        if subnet.prefix > 30 {
            return Err(Error::Config(format!(
                "subnet {subnet} is too small: at most /30"
            )));
        }
        let first = u32::from(subnet.network()) + 1;
        let last = u32::from(subnet.broadcast()) - 1;
        let gateway = raw.gateway.unwrap_or(Ipv4Addr::from(first));
        let start = raw.range_start.unwrap_or(Ipv4Addr::from(first));
        let end = raw.range_end.unwrap_or(Ipv4Addr::from(last));
        for (what, ip) in [
            ("gateway", gateway),
            ("rangeStart", start),
            ("rangeEnd", end),
        ] {
            let n = u32::from(ip);
            if !subnet.contains(ip) || n < first || n > last {
                return Err(Error::Config(format!(
                    "{what} {ip} is not a host address of {subnet}"
                )));
            }
        }
        if u32::from(start) > u32::from(end) {
            return Err(Error::Config(format!(
                "rangeStart {start} is after rangeEnd {end}"
            )));
        }
        Ok(Range {
            subnet,
            start,
            end,
            gateway,
        })
    }
}

/// The parsed `ipam` section of a conf using host-local.
#[derive(Debug, Clone)]
pub struct IpamConf {
    pub net_name: String,
    /// Each set yields one address; the ranges in a set are tried in order.
    pub range_sets: Vec<Vec<Range>>,
    pub routes: Vec<Route>,
    pub data_dir: PathBuf,
}

impl IpamConf {
    pub fn parse(conf: &[u8]) -> Result<IpamConf, Error> {
        let raw: RawConf = serde_json::from_slice(conf)
            .map_err(|e| Error::Config(format!("conf is not valid host-local JSON: {e}")))?;
        let mut sets = raw.ipam.ranges;
        if let Some(subnet) = raw.ipam.subnet {
            sets.insert(
                0,
                vec![RawRange {
                    subnet,
                    range_start: raw.ipam.range_start,
                    range_end: raw.ipam.range_end,
                    gateway: raw.ipam.gateway,
                }],
            );
        }
        if sets.is_empty() || sets.iter().any(Vec::is_empty) {
            return Err(Error::Config(
                "\"subnet\" or non-empty \"ranges\" required".into(),
            ));
        }
        if raw.name.is_empty() || raw.name.contains('/') || raw.name.starts_with('.') {
            return Err(Error::Config(format!(
                "network name {:?} cannot name a lease dir",
                raw.name
            )));
        }
        let range_sets = sets
            .iter()
            .map(|s| s.iter().map(Range::new).collect::<Result<Vec<_>, _>>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(IpamConf {
            net_name: raw.name,
            range_sets,
            routes: raw.ipam.routes,
            data_dir: raw
                .ipam
                .data_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
        })
    }
}

/// The lease directory of one network, locked while the value lives.
pub struct Store {
    dir: PathBuf,
    _lock: File,
}

impl Store {
    pub fn open(data_dir: &Path, net: &str) -> Result<Store, Error> {
        let dir = data_dir.join(net);
        fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
        let lock_path = dir.join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("opening", &lock_path))?;
        flock(&lock, FlockOperation::LockExclusive).map_err(|e| Error::Io {
            action: "locking",
            path: lock_path,
            source: e.into(),
        })?;
        Ok(Store { dir, _lock: lock })
    }

    fn owner(&self, ip: Ipv4Addr) -> Option<String> {
        let s = fs::read_to_string(self.dir.join(ip.to_string())).ok()?;
        s.lines().next().map(|l| l.trim().to_string())
    }

    /// Creates the lease file unless it exists; true when the address is now ours.
    fn reserve(&self, ip: Ipv4Addr, id: &str) -> Result<bool, Error> {
        let path = self.dir.join(ip.to_string());
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                f.write_all(format!("{id}\n").as_bytes())
                    .map_err(io("writing", &path))?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(io("creating", &path)(e)),
        }
    }

    fn last_reserved(&self, set: usize) -> Option<Ipv4Addr> {
        fs::read_to_string(self.dir.join(format!("last_reserved_ip.{set}")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn set_last_reserved(&self, set: usize, ip: Ipv4Addr) -> Result<(), Error> {
        let path = self.dir.join(format!("last_reserved_ip.{set}"));
        fs::write(&path, ip.to_string()).map_err(io("writing", &path))
    }

    /// Every address leased to `id`.
    pub fn leases_of(&self, id: &str) -> Result<Vec<Ipv4Addr>, Error> {
        let rd = fs::read_dir(&self.dir).map_err(io("listing", &self.dir))?;
        let mut out = Vec::new();
        for entry in rd.flatten() {
            let Some(ip) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<Ipv4Addr>().ok())
            else {
                continue;
            };
            if self.owner(ip).as_deref() == Some(id) {
                out.push(ip);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Frees every lease of `id`; freeing nothing is fine.
    pub fn release(&self, id: &str) -> Result<usize, Error> {
        let ips = self.leases_of(id)?;
        for ip in &ips {
            let path = self.dir.join(ip.to_string());
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("removing", &path)(e)),
            }
        }
        Ok(ips.len())
    }

    /// The address `id` asked for (CNI_ARGS `IP=`) in range `r`: not the gateway, and free or
    /// already leased to `id`.
    fn reserve_requested(&self, net: &str, r: &Range, ip: Ipv4Addr, id: &str) -> Result<(), Error> {
        let refuse = |problem: String| Error::Requested {
            net: net.into(),
            ip,
            problem,
        };
        if ip == r.gateway {
            return Err(refuse(
                "is the network's gateway; pick another address".into(),
            ));
        }
        if self.reserve(ip, id)? {
            return Ok(());
        }
        match self.owner(ip) {
            Some(owner) if owner == id => Ok(()),
            Some(owner) => Err(refuse(format!(
                "already leased to {owner}; pick another address or free it with `rkt gc`"
            ))),
            None => Err(refuse("already leased".into())),
        }
    }

    /// One address from the set for `id`: its existing lease, else the next free one after the
    /// last reserved (round robin, so a freed address is not reused at once).
    fn allocate(
        &self,
        set_idx: usize,
        set: &[Range],
        id: &str,
    ) -> Result<Option<(Range, Ipv4Addr)>, Error> {
        let mine = self.leases_of(id)?;
        for r in set {
            if let Some(ip) = mine.iter().find(|ip| in_range(r, **ip)) {
                return Ok(Some((r.clone(), *ip)));
            }
        }
        let candidates: Vec<(usize, u32)> = set
            .iter()
            .enumerate()
            .flat_map(|(i, r)| (u32::from(r.start)..=u32::from(r.end)).map(move |n| (i, n)))
            .collect();
        let after = self.last_reserved(set_idx).map(u32::from);
        let begin = after
            .and_then(|l| candidates.iter().position(|(_, n)| *n == l))
            .map_or(0, |p| p + 1);
        for k in 0..candidates.len() {
            let (i, n) = candidates[(begin + k) % candidates.len()];
            let ip = Ipv4Addr::from(n);
            if ip == set[i].gateway {
                continue;
            }
            if self.reserve(ip, id)? {
                self.set_last_reserved(set_idx, ip)?;
                return Ok(Some((set[i].clone(), ip)));
            }
        }
        Ok(None)
    }
}

fn in_range(r: &Range, ip: Ipv4Addr) -> bool {
    (u32::from(r.start)..=u32::from(r.end)).contains(&u32::from(ip))
}

/// The addresses asked for in CNI_ARGS `IP=` (comma-separated, as the reference plugin takes).
pub fn requested_ips(args: &[(String, String)]) -> Result<Vec<Ipv4Addr>, Error> {
    let mut out = Vec::new();
    for (k, v) in args.iter().filter(|(k, _)| k == "IP") {
        for part in v.split(',').filter(|p| !p.is_empty()) {
            let ip = part.parse().map_err(|_| {
                Error::Config(format!("CNI_ARGS {k}={v}: {part:?} is not an IPv4 address"))
            })?;
            out.push(ip);
        }
    }
    Ok(out)
}

/// ADD: one address per range set (the requested one where a set holds it); on failure the
/// leases just made are freed again.
pub fn add(
    conf: &IpamConf,
    id: &str,
    version: &str,
    requested: &[Ipv4Addr],
) -> Result<CniResult, Error> {
    let store = Store::open(&conf.data_dir, &conf.net_name)?;
    let result = add_locked(&store, conf, id, requested);
    if result.is_err() {
        store.release(id)?;
    }
    let ips = result?;
    let result = CniResult {
        cni_version: version.into(),
        ips,
        routes: conf.routes.clone(),
        dns: Dns::default(),
        ..Default::default()
    };
    Ok(result.in_version(version))
}

fn add_locked(
    store: &Store,
    conf: &IpamConf,
    id: &str,
    requested: &[Ipv4Addr],
) -> Result<Vec<IpConfig>, Error> {
    // A requested address no set can hold is an error, not silently ignored.
    let all: Vec<&Range> = conf.range_sets.iter().flatten().collect();
    if let Some(ip) = requested
        .iter()
        .find(|ip| !all.iter().any(|r| in_range(r, **ip)))
    {
        let ranges: Vec<String> = all
            .iter()
            .map(|r| format!("{}-{}", r.start, r.end))
            .collect();
        return Err(Error::Requested {
            net: conf.net_name.clone(),
            ip: *ip,
            problem: format!(
                "outside the range {}; pick an address in it",
                ranges.join(", ")
            ),
        });
    }
    let mut ips = Vec::new();
    for (i, set) in conf.range_sets.iter().enumerate() {
        let wanted = requested
            .iter()
            .find_map(|ip| set.iter().find(|r| in_range(r, *ip)).map(|r| (r, *ip)));
        let got = match wanted {
            Some((r, ip)) => {
                store.reserve_requested(&conf.net_name, r, ip, id)?;
                Some((r.clone(), ip))
            }
            None => store.allocate(i, set, id)?,
        };
        match got {
            Some((r, ip)) => ips.push(IpConfig {
                version: None,
                address: Ipv4Net {
                    addr: ip,
                    prefix: r.subnet.prefix,
                }
                .to_string(),
                gateway: Some(IpAddr::V4(r.gateway)),
                interface: None,
            }),
            None => {
                return Err(Error::Exhausted {
                    net: conf.net_name.clone(),
                    set: i,
                    id: id.into(),
                });
            }
        }
    }
    Ok(ips)
}

/// DEL: frees the leases of `id`.
pub fn del(conf: &IpamConf, id: &str) -> Result<(), Error> {
    let dir = conf.data_dir.join(&conf.net_name);
    if !dir.exists() {
        return Ok(());
    }
    Store::open(&conf.data_dir, &conf.net_name)?
        .release(id)
        .map(|_| ())
}

/// CHECK: `id` holds an address in each set.
pub fn check(conf: &IpamConf, id: &str) -> Result<(), Error> {
    let store = Store::open(&conf.data_dir, &conf.net_name)?;
    let mine = store.leases_of(id)?;
    for (i, set) in conf.range_sets.iter().enumerate() {
        if !mine.iter().any(|ip| set.iter().any(|r| in_range(r, *ip))) {
            return Err(Error::Config(format!(
                "{id} holds no lease in range set {i}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(dir: &Path, extra: &str) -> IpamConf {
        let s = format!(
            r#"{{"cniVersion":"1.0.0","name":"t","type":"ptp","ipam":{{"type":"host-local","subnet":"10.9.0.0/29","dataDir":{:?}{extra}}}}}"#,
            dir
        );
        IpamConf::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn lease_free_exhaust() {
        let tmp = tempfile::tempdir().unwrap();
        let c = conf(tmp.path(), "");
        // /29: hosts .1-.6, .1 is the gateway: five leases.
        let mut got = Vec::new();
        for i in 0..5 {
            let r = add(&c, &format!("c{i}"), "1.0.0", &[]).unwrap();
            assert_eq!(r.ips[0].gateway, Some("10.9.0.1".parse().unwrap()));
            got.push(r.ips[0].address.clone());
        }
        assert_eq!(
            got,
            [
                "10.9.0.2/29",
                "10.9.0.3/29",
                "10.9.0.4/29",
                "10.9.0.5/29",
                "10.9.0.6/29"
            ]
        );
        assert!(matches!(
            add(&c, "c9", "1.0.0", &[]),
            Err(Error::Exhausted { .. })
        ));
        // Same id again gets its own lease back.
        assert_eq!(
            add(&c, "c2", "1.0.0", &[]).unwrap().ips[0].address,
            "10.9.0.4/29"
        );
        del(&c, "c2").unwrap();
        del(&c, "c2").unwrap();
        assert!(!tmp.path().join("t/10.9.0.4").exists());
        assert_eq!(
            add(&c, "c9", "0.3.1", &[]).unwrap().ips[0].address,
            "10.9.0.4/29"
        );
        assert_eq!(
            fs::read_to_string(tmp.path().join("t/10.9.0.4")).unwrap(),
            "c9\n"
        );
    }

    #[test]
    fn requested_ip_from_cni_args() {
        let tmp = tempfile::tempdir().unwrap();
        let c = conf(tmp.path(), "");
        let args = cni::parse_args("IgnoreUnknown=1;IP=10.9.0.5");
        let want = requested_ips(&args).unwrap();
        assert_eq!(want, ["10.9.0.5".parse::<Ipv4Addr>().unwrap()]);
        let r = add(&c, "a", "1.0.0", &want).unwrap();
        assert_eq!(r.ips[0].address, "10.9.0.5/29");
        // Asking again for the same id is idempotent; another id is refused, naming the owner.
        assert_eq!(
            add(&c, "a", "1.0.0", &want).unwrap().ips[0].address,
            "10.9.0.5/29"
        );
        let taken = add(&c, "b", "1.0.0", &want).unwrap_err().to_string();
        assert!(
            taken.contains("10.9.0.5") && taken.contains("leased to a"),
            "{taken}"
        );
        assert_eq!(
            fs::read_to_string(tmp.path().join("t/10.9.0.5")).unwrap(),
            "a\n"
        );
        // Out of range, the gateway, and junk are refused and leave no lease behind.
        let out = add(&c, "b", "1.0.0", &["10.9.0.9".parse().unwrap()])
            .unwrap_err()
            .to_string();
        assert!(out.contains("outside the range 10.9.0.1-10.9.0.6"), "{out}");
        let gw = add(&c, "b", "1.0.0", &["10.9.0.1".parse().unwrap()]).unwrap_err();
        assert!(gw.to_string().contains("gateway"), "{gw}");
        assert!(requested_ips(&cni::parse_args("IP=10.9.0.x")).is_err());
        assert!(
            fs::read_dir(tmp.path().join("t"))
                .unwrap()
                .flatten()
                .all(|e| { fs::read_to_string(e.path()).map_or(true, |s| s != "b\n") })
        );
        // Without IP= the next free address is handed out, skipping the requested one.
        assert_eq!(
            add(&c, "b", "1.0.0", &[]).unwrap().ips[0].address,
            "10.9.0.2/29"
        );
    }

    #[test]
    fn range_bounds_and_config_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let c = conf(
            tmp.path(),
            r#","rangeStart":"10.9.0.5","rangeEnd":"10.9.0.5""#,
        );
        assert_eq!(
            add(&c, "a", "1.0.0", &[]).unwrap().ips[0].address,
            "10.9.0.5/29"
        );
        assert!(add(&c, "b", "1.0.0", &[]).is_err());
        let bad = |ipam: &str| {
            let s = format!(r#"{{"name":"t","ipam":{{{ipam}}}}}"#);
            IpamConf::parse(s.as_bytes()).is_err()
        };
        assert!(bad(r#""subnet":"10.0.0.0/31""#));
        assert!(bad(r#""subnet":"10.0.0.0/24","rangeStart":"10.0.1.3""#));
        assert!(bad(r#""subnet":"10.0.0.0/24","gateway":"10.0.0.255""#));
        assert!(bad(r#""type":"host-local""#));
        assert!(!bad(
            r#""ranges":[[{"subnet":"10.0.0.0/24"}],[{"subnet":"10.1.0.0/24"}]]"#
        ));
    }

    #[test]
    fn concurrent_adds_get_distinct_addresses() {
        let tmp = tempfile::tempdir().unwrap();
        let s = format!(
            r#"{{"name":"t","ipam":{{"subnet":"10.8.0.0/24","dataDir":{:?}}}}}"#,
            tmp.path()
        );
        let c2 = IpamConf::parse(s.as_bytes()).unwrap();
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let c = c2.clone();
                std::thread::spawn(move || {
                    add(&c, &format!("id{i}"), "1.0.0", &[]).unwrap().ips[0]
                        .address
                        .clone()
                })
            })
            .collect();
        let mut all: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 16);
    }
}
