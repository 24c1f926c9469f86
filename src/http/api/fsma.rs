//! `GET /api/v1/fsma204/spreadsheet`: the FDA's electronic sortable spreadsheet (FSMA 204) of a
//! set of lots or a date range, as CSV, XLSX or JSON, with the completeness report.
//!
//! It needs the admin token: each record is public, but the sheet gathers the partners' phone
//! numbers and addresses and, by date, the whole store's events; staff ask for it on the
//! `/fsma204` page.

use super::AdminAuth;
use crate::db::DbPool;
use crate::domain::{Gtin, LotCode, LotKey};
use crate::error::AppError;
use crate::trace::fsma::{self, COLUMNS, Closure, Dates, Sheet};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, Scope, web};
use chrono::NaiveDate;
use serde_json::json;

/// The most lots one request names.
pub const MAX_LOTS: usize = 1000;
/// The longest date range one request covers.
pub const MAX_DAYS: i64 = 366;

pub fn scope() -> Scope {
    web::scope("/fsma204").route("/spreadsheet", web::get().to(spreadsheet))
}

/// The sheet's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
    Json,
}

/// What a request for a sheet asks: lots (`lot=GTIN/LOT`, repeated), a date range (`from`, `to`,
/// `YYYY-MM-DD`, both included), whether to follow the lots' closure, and the format.
#[derive(Debug, Clone, PartialEq)]
pub struct SheetQuery {
    pub lots: Vec<LotKey>,
    pub dates: Option<Dates>,
    pub closure: Closure,
    pub format: Format,
}

impl SheetQuery {
    /// Parses a query string; every mistake is named (400 `malformed`).
    pub fn parse(query: &str) -> Result<Self, AppError> {
        let bad = |m: String| AppError::Malformed(m);
        let mut lots = Vec::new();
        let (mut from, mut to) = (None, None);
        let mut closure = Closure::Both;
        let mut format = Format::Csv;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_encoding::percent_decode_str(&value.replace('+', " "))
                .decode_utf8()
                .map_err(|_| bad(format!("{name} is not valid UTF-8 once decoded")))?
                .into_owned();
            match name {
                "lot" => lots.push(lot_key(&value)?),
                // The staff page's form: one `GTIN/LOT` a line (or separated by commas).
                "lots" => {
                    for one in value.split(|c: char| c.is_whitespace() || c == ',') {
                        if !one.is_empty() {
                            lots.push(lot_key(one)?);
                        }
                    }
                }
                "from" | "to" if value.is_empty() => {}
                "from" => from = Some(date("from", &value)?),
                "to" => to = Some(date("to", &value)?),
                "closure" => {
                    closure = match value.as_str() {
                        "both" => Closure::Both,
                        "none" => Closure::AsGiven,
                        other => {
                            return Err(bad(format!(
                                "closure must be both or none, not {other:?}"
                            )));
                        }
                    }
                }
                "format" => {
                    format = match value.as_str() {
                        "csv" => Format::Csv,
                        "xlsx" => Format::Xlsx,
                        "json" => Format::Json,
                        other => {
                            return Err(bad(format!(
                                "format must be csv, xlsx or json, not {other:?}"
                            )));
                        }
                    }
                }
                other => return Err(bad(format!("unknown parameter {other:?}"))),
            }
        }
        if lots.len() > MAX_LOTS {
            return Err(bad(format!("at most {MAX_LOTS} lots in one request")));
        }
        let dates = match (from, to) {
            (Some(from), Some(to)) if from > to => {
                return Err(bad(format!("from {from} is after to {to}")));
            }
            (Some(from), Some(to)) if (to - from).num_days() >= MAX_DAYS => {
                return Err(bad(format!("a date range covers at most {MAX_DAYS} days")));
            }
            (Some(from), Some(to)) => Some(Dates { from, to }),
            (None, None) => None,
            _ => return Err(bad("give both from and to, or neither".into())),
        };
        if lots.is_empty() && dates.is_none() {
            return Err(bad(
                "name lots (lot=GTIN/LOT, repeated) or a date range (from=YYYY-MM-DD&to=YYYY-MM-DD)"
                    .into(),
            ));
        }
        Ok(Self {
            lots,
            dates,
            closure,
            format,
        })
    }

    /// The sheet this query asks for.
    pub fn load(&self, conn: &mut crate::db::DbConn) -> diesel::QueryResult<Sheet> {
        match (self.lots.is_empty(), self.dates) {
            (true, Some(dates)) => fsma::for_dates(conn, dates),
            (true, None) => Ok(Sheet::default()),
            (false, dates) => fsma::for_lots(conn, &self.lots, self.closure, dates),
        }
    }
}

/// `GTIN/LOT`.
fn lot_key(value: &str) -> Result<LotKey, AppError> {
    let (gtin, lot) = value.split_once('/').ok_or_else(|| {
        AppError::Malformed(format!(
            "lot {value:?} must be GTIN/LOT, such as 04712345000046/RH-1123-P1"
        ))
    })?;
    Ok(LotKey {
        gtin: Gtin::parse(gtin).map_err(|e| AppError::Malformed(format!("lot {value:?}: {e}")))?,
        lot: LotCode::parse(lot).map_err(|e| AppError::Malformed(format!("lot {value:?}: {e}")))?,
    })
}

fn date(name: &str, value: &str) -> Result<NaiveDate, AppError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .filter(|_| value.len() == 10)
        .ok_or_else(|| AppError::Malformed(format!("{name} {value:?} must be a date YYYY-MM-DD")))
}

/// The sheet as the response the format asks for.
pub fn respond(sheet: &Sheet, format: Format) -> Result<HttpResponse, AppError> {
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let attachment = |ext: &str| {
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"fsma204-{stamp}.{ext}\""),
        )
    };
    Ok(match format {
        Format::Csv => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header(attachment("csv"))
            .body(fsma::csv(sheet)),
        Format::Xlsx => HttpResponse::Ok()
            .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
            .insert_header(attachment("xlsx"))
            .body(fsma::xlsx(sheet).map_err(AppError::Internal)?),
        Format::Json => HttpResponse::Ok().json(body(sheet)),
    })
}

/// The JSON form: the columns, the rows as cells, and the completeness report.
pub fn body(sheet: &Sheet) -> serde_json::Value {
    let rows: Vec<Vec<String>> = sheet.rows.iter().map(|r| r.cells()).collect();
    let incomplete: Vec<serde_json::Value> = sheet
        .rows
        .iter()
        .filter_map(|row| {
            let missing = row.missing();
            (!missing.is_empty()).then(|| {
                json!({
                    "record": row.record_id,
                    "cte": row.cte.label(),
                    "rule": format!("21 CFR {}", row.cte.section()),
                    "gtin": row.lot.gtin.as_str(),
                    "lot": row.lot.lot.as_str(),
                    "actor": row.actor.to_string(),
                    "time": row.time.to_rfc3339(),
                    "missing": missing.iter().map(|(_, m)| m).collect::<Vec<_>>(),
                })
            })
        })
        .collect();
    json!({
        "columns": COLUMNS,
        "rows": rows,
        "truncated": sheet.truncated,
        "completeness": {"events": sheet.rows.len(), "incomplete": incomplete},
    })
}

async fn spreadsheet(
    _: AdminAuth,
    req: HttpRequest,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    let query = SheetQuery::parse(req.query_string())?;
    let format = query.format;
    let sheet = crate::db::run(&pool, move |conn| Ok(query.load(conn)?)).await?;
    respond(&sheet, format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_name_what_is_wrong() {
        let ok =
            SheetQuery::parse("lot=04712345000046/RH-1123-P1&format=xlsx&closure=none").unwrap();
        assert_eq!(ok.lots.len(), 1);
        assert_eq!(ok.format, Format::Xlsx);
        assert_eq!(ok.closure, Closure::AsGiven);
        let dated = SheetQuery::parse("from=2026-11-01&to=2026-11-30").unwrap();
        assert!(dated.dates.is_some() && dated.lots.is_empty());
        for (query, part) in [
            ("", "name lots"),
            ("lot=04712345000046", "GTIN/LOT"),
            ("lot=04712345000047/A", "check digit"),
            ("from=2026-11-01", "both from and to"),
            ("from=2026-11-31&to=2026-12-01", "YYYY-MM-DD"),
            ("from=2026-12-01&to=2026-11-01", "after"),
            ("from=2025-01-01&to=2026-12-01", "366 days"),
            ("lot=04712345000046/A&format=pdf", "csv, xlsx or json"),
            ("lot=04712345000046/A&closure=up", "both or none"),
            ("lot=04712345000046/A&colour=red", "unknown parameter"),
        ] {
            let error = SheetQuery::parse(query).unwrap_err().to_string();
            assert!(error.contains(part), "{query}: {error}");
        }
    }
}
