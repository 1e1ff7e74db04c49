//! `rkt list`: a table (or JSON) of the pods, one row per app, pod columns on its first row.
//! Pods that cannot be read are reported on stderr after the listing; they never abort it.

use std::io::{self, BufWriter};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use stage0::pod::{NetInfo, PodDir, Pods};
use stage0::pod_ops::{ListRow, list_rows};

use crate::cli::{ListArgs, PodFormat};
use crate::context::Ctx;
use crate::output::{Table, full_time, human_ago, write_json};

/// `sha512-` and 12 hex digits, as rkt's `--full` IMAGE ID column.
const IMAGE_ID_LEN: usize = "sha512-".len() + 12;
/// Hex digits of a UUID rkt prints without `--full`.
const SHORT_UUID_LEN: usize = 8;

pub fn run(ctx: &Ctx, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let pods = Pods::new(&ctx.data_dir)?;
    let errors: Vec<String> = match args.format {
        Some(format) => {
            let mut objects = Vec::new();
            let mut errors = Vec::new();
            for json in pods.map_pods(&PodDir::ALL, || (), |_, pod| pod.json_now())? {
                match json {
                    Ok(j) => objects.push(j),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            let out = BufWriter::new(io::stdout().lock());
            write_json(out, &objects, format == PodFormat::JsonPretty)?;
            errors
        }
        None => {
            let (rows, errors) = list_rows(&pods)?;
            print_table(&rows, args)?;
            errors.iter().map(|e| e.to_string()).collect()
        }
    };
    for e in &errors {
        eprintln!("rkt: listing pods: {e}");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(rows: &[ListRow], args: &ListArgs) -> anyhow::Result<()> {
    let header: &[&str] = if args.full {
        &[
            "UUID",
            "APP",
            "IMAGE NAME",
            "IMAGE ID",
            "STATE",
            "CREATED",
            "STARTED",
            "NETWORKS",
        ]
    } else {
        &[
            "UUID",
            "APP",
            "IMAGE NAME",
            "STATE",
            "CREATED",
            "STARTED",
            "NETWORKS",
        ]
    };
    let mut table = Table::new(header, !args.no_legend);
    let now = nanos(SystemTime::now());
    let time = |t: Option<SystemTime>| match t {
        Some(t) if args.full => full_time(nanos(t)),
        Some(t) => human_ago(nanos(t), now),
        None => String::new(),
    };
    for row in rows {
        let uuid = row.uuid.to_string();
        let mut pod_cells = vec![
            if args.full {
                uuid.clone()
            } else {
                uuid[..SHORT_UUID_LEN].to_string()
            },
            row.state.to_string(),
            time(row.created),
            time(row.started),
            networks(&row.networks),
        ];
        let apps: Vec<(String, String, String)> = if row.apps.is_empty() {
            vec![("-".into(), "-".into(), "-".into())]
        } else {
            row.apps
                .iter()
                .map(|a| {
                    let id = &a.image_id[..IMAGE_ID_LEN.min(a.image_id.len())];
                    let name = a.image_name.clone().unwrap_or_else(|| "--".into());
                    (a.name.clone(), name, id.to_string())
                })
                .collect()
        };
        for (app, image, id) in apps {
            // The pod's cells on its first row; later rows get empty ones (taken Vec is empty).
            let [uuid, state, created, started, nets] = std::mem::take(&mut pod_cells)
                .try_into()
                .unwrap_or_default();
            let mut cells = vec![uuid, app, image];
            if args.full {
                cells.push(id);
            }
            cells.extend([state, created, started, nets]);
            table.row(cells);
        }
    }
    table.print()?;
    Ok(())
}

/// rkt's NETWORKS cell: `name:ip4=IP`, comma-separated.
fn networks(nets: &[NetInfo]) -> String {
    nets.iter()
        .map(|n| format!("{}:ip4={}", n.net_name, n.ip.as_deref().unwrap_or("")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn nanos(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}
