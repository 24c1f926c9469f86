//! `truetrace fsma204`: the FSMA 204 sortable spreadsheet of lots, a recall's covered set or a
//! date range from the configured database, as the API makes it (`http::api::fsma`), written to
//! a file or printed; and the completeness report.

use crate::http::api::fsma::{Format, SheetQuery, body};
use crate::settings::Settings;
use crate::trace::fsma;
use std::path::PathBuf;

pub struct SheetArgs {
    pub lots: Vec<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub lots_only: bool,
    pub recall: Option<String>,
    pub format: String,
    pub out: Option<PathBuf>,
}

/// Builds the sheet; prints the completeness report on stderr (one line per incomplete event)
/// and the sheet on stdout or into `out`.
pub fn sheet(settings: &Settings, args: SheetArgs) -> Result<(), String> {
    let mut pairs: Vec<String> = args
        .lots
        .iter()
        .map(|l| format!("lot={}", encode(l)))
        .collect();
    if let Some(from) = &args.from {
        pairs.push(format!("from={}", encode(from)));
    }
    if let Some(to) = &args.to {
        pairs.push(format!("to={}", encode(to)));
    }
    if let Some(recall) = &args.recall {
        pairs.push(format!("recall={}", encode(recall)));
    }
    if args.lots_only {
        pairs.push("closure=none".into());
    }
    pairs.push(format!("format={}", encode(&args.format)));
    let query = SheetQuery::parse(&pairs.join("&")).map_err(|e| e.to_string())?;
    let pool = crate::db::connect(&settings.database()?, 2)?;
    let mut conn = pool
        .get()
        .map_err(|e| format!("cannot open the database: {e}"))?;
    // An unknown or lifted recall is the user's mistake, said as such; anything else is the
    // database's.
    let sheet = query
        .load(&mut conn, false)
        .map_err(|e| match e.internal_cause() {
            Some(cause) => format!("cannot read the records: {cause}"),
            None => e.to_string(),
        })?;
    let bytes = match query.format {
        Format::Csv => fsma::csv(&sheet).into_bytes(),
        Format::Xlsx => fsma::xlsx(&sheet)?,
        Format::Json => serde_json::to_vec_pretty(&body(&sheet)).map_err(|e| e.to_string())?,
    };
    let incomplete: Vec<_> = sheet
        .rows
        .iter()
        .filter(|r| !r.missing().is_empty())
        .collect();
    for row in &incomplete {
        let missing: Vec<String> = row.missing().into_iter().map(|(_, m)| m).collect();
        eprintln!(
            "{} {} {}/{} ({}): missing {}",
            row.cte.label(),
            row.value(fsma::Kde::EventDate),
            row.lot.gtin,
            row.lot.lot,
            row.actor_name,
            missing.join("; ")
        );
    }
    eprintln!(
        "{} events, {} incomplete{}",
        sheet.rows.len(),
        incomplete.len(),
        if sheet.truncated {
            " (cut: too many events)"
        } else {
            ""
        }
    );
    match &args.out {
        Some(path) => {
            std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        None if query.format == Format::Xlsx => {
            Err("an XLSX workbook is binary: give --out FILE".into())
        }
        None => {
            use std::io::Write as _;
            std::io::stdout()
                .write_all(&bytes)
                .map_err(|e| format!("cannot print: {e}"))
        }
    }
}

fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}
