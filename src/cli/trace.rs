//! `truetrace trace GTIN LOT`: a lot's closure forward or backward, read from the configured
//! database like `truetrace verify` (an auditor's copy of the store will do, no server needed),
//! as an indented tree or as the API's JSON body.

use crate::db;
use crate::domain::{Gtin, LotCode};
use crate::http::api::lots::{TraceQuery, TraceResponse, trace_body};
use crate::settings::Settings;

pub struct TraceArgs {
    pub gtin: String,
    pub lot: String,
    pub forward: bool,
    pub json: bool,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

pub fn trace(settings: &Settings, args: TraceArgs) -> Result<(), String> {
    let fail = |e: crate::error::AppError| format!("{} ({})", e, e.code());
    let gtin = Gtin::parse(&args.gtin).map_err(|e| format!("GTIN {:?}: {e}", args.gtin))?;
    let lot = LotCode::parse(&args.lot).map_err(|e| format!("lot {:?}: {e}", args.lot))?;
    let page = TraceQuery {
        direction: Some(if args.forward { "forward" } else { "backward" }.to_owned()),
        limit: args.limit,
        cursor: args.cursor,
    }
    .parse()
    .map_err(fail)?;
    let pool = db::connect(&settings.database()?, 2)?;
    let mut conn = pool
        .get()
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let body = trace_body(&mut conn, &gtin, &lot, page, &settings.public_url()).map_err(fail)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&body)
                .map_err(|e| format!("cannot print the result: {e}"))?
        );
    } else {
        print!("{}", tree(&body));
    }
    Ok(())
}

/// The answer as an indented tree: depth, lot, product, custodian, quantity; then the stores.
fn tree(body: &TraceResponse) -> String {
    use std::fmt::Write as _;
    let mut out = format!(
        "{} trace of (01){}(10){}: {} lots{}\n",
        body.direction,
        body.gtin,
        body.lot,
        body.lots.len(),
        match &body.next_cursor {
            Some(c) => format!(" (more: --cursor {c})"),
            None if body.truncated => " (cut: the closure is larger than a trace walks)".into(),
            None => String::new(),
        }
    );
    for l in body.tree() {
        let _ = writeln!(
            out,
            "{:indent$}[{}] {}  {}  {}  {}",
            "",
            l.depth,
            l.lot,
            l.product
                .as_ref()
                .map_or(l.gtin.as_str(), |p| p.name.as_str()),
            l.custodian.name.as_deref().unwrap_or(&l.custodian.id),
            l.quantity
                .as_ref()
                .map_or_else(|| "-".to_owned(), |q| format!("{} {}", q.amount, q.unit)),
            indent = 2 * l.depth as usize,
        );
    }
    if let Some(stores) = &body.stores {
        let _ = writeln!(out, "stores that received these lots: {}", stores.len());
        for s in stores {
            let _ = writeln!(out, "  {}", s.store.name.as_deref().unwrap_or(&s.store.id));
            for h in &s.lots {
                let held = match (&h.on_hand, h.in_stock) {
                    (Some(q), _) => format!("holds {} {}", q.amount, q.unit),
                    (None, true) => "holds it (amount not recorded)".to_owned(),
                    (None, false) => "no longer holds it".to_owned(),
                };
                let _ = writeln!(out, "    {} ({})  {held}", h.lot, h.gtin);
            }
        }
    }
    out
}
