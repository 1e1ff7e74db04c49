//! `rkt image list`: a table (or JSON) of the stored images.

use std::process::ExitCode;

use serde_json::json;
use stage0::images::{Field, ImageRow, list_rows, sort_rows};
use stage0::store::info::now_nanos;

use super::args::{Format, ListArgs, Order};
use crate::context::Ctx;
use crate::output::{Table, full_time, human_ago, human_bytes, print_json};

/// Hex digits of the short ID, as rkt prints it.
const SHORT_HEX: usize = 12;

pub fn run(ctx: &Ctx, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let mut rows = list_rows(&ctx.store()?)?;
    sort_rows(&mut rows, args.sort, args.order == Order::Desc);
    if let Some(format) = args.format {
        let objects: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({"id": r.key, "name": r.name, "importtime": r.import_time as u64,
                       "lastused": r.last_used as u64, "size": r.size})
            })
            .collect();
        print_json(&objects, format == Format::JsonPretty)?;
        return Ok(ExitCode::SUCCESS);
    }
    let headers: Vec<&str> = args.fields.iter().map(|f| f.header()).collect();
    let mut table = Table::new(&headers, !args.no_legend);
    let now = now_nanos();
    for row in &rows {
        table.row(
            args.fields
                .iter()
                .map(|f| cell(row, *f, args.full, now))
                .collect(),
        );
    }
    table.print()?;
    Ok(ExitCode::SUCCESS)
}

fn cell(row: &ImageRow, field: Field, full: bool, now: u128) -> String {
    let time = |t| {
        if full {
            full_time(t)
        } else {
            human_ago(t, now)
        }
    };
    match field {
        Field::Id if full => row.key.clone(),
        Field::Id => row.key[..("sha512-".len() + SHORT_HEX).min(row.key.len())].to_string(),
        Field::Name => row.name.clone(),
        Field::Size if full => row.size.to_string(),
        Field::Size => human_bytes(row.size),
        Field::ImportTime => time(row.import_time),
        Field::LastUsed => time(row.last_used),
        Field::Latest => row.latest.to_string(),
    }
}
