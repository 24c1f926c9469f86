//! `GET /api/v1/fsma204/spreadsheet`: the FDA's electronic sortable spreadsheet (FSMA 204) of a
//! set of lots, a recall's covered set or a date range, as CSV, XLSX or JSON, with the
//! completeness report.
//!
//! It needs the admin token or a regulator's organization API token (`Auditor`): each record is
//! public, but the sheet gathers the partners' phone numbers and addresses and, by date, the
//! whole store's events; staff ask for it on the `/fsma204` page.

use super::Auditor;
use crate::db::{DbConn, DbPool};
use crate::domain::{Gtin, LotCode, LotKey, RecordId};
use crate::error::{AppError, AppResult};
use crate::trace::fsma::{self, COLUMNS, Closure, Dates, Sheet};
use crate::trace::recall::{Asked, covered_set};
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

/// What a request for a sheet asks: lots (`lot=GTIN/LOT`, repeated) or a recall (`recall=` its
/// notice's record id), a date range (`from`, `to`, `YYYY-MM-DD`, both included), whether to
/// follow the lots' closure, and the format.
#[derive(Debug, Clone, PartialEq)]
pub struct SheetQuery {
    pub lots: Vec<LotKey>,
    /// The sheet of every lot this recall in force covers (its named lots and all made from
    /// them), as `trace::recall` finds them.
    pub recall: Option<RecordId>,
    pub dates: Option<Dates>,
    pub closure: Closure,
    pub format: Format,
}

impl SheetQuery {
    /// Parses a query string; every mistake is named (400 `malformed`).
    pub fn parse(query: &str) -> Result<Self, AppError> {
        let bad = |m: String| AppError::Malformed(m);
        let mut lots = Vec::new();
        let mut recall = None;
        let (mut from, mut to) = (None, None);
        let mut closure = None;
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
                "recall" if recall.is_some() => {
                    return Err(bad("name one recall a request".into()));
                }
                "recall" => {
                    recall = Some(RecordId::parse(&value).map_err(|_| {
                        bad(format!(
                            "recall {value:?} must be a recall notice's record id (64 lowercase hex digits)"
                        ))
                    })?);
                }
                "from" | "to" if value.is_empty() => {}
                "from" => from = Some(date("from", &value)?),
                "to" => to = Some(date("to", &value)?),
                "closure" => {
                    closure = Some(match value.as_str() {
                        "both" => Closure::Both,
                        "none" => Closure::AsGiven,
                        other => {
                            return Err(bad(format!(
                                "closure must be both or none, not {other:?}"
                            )));
                        }
                    })
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
        if recall.is_some() && !lots.is_empty() {
            return Err(bad("name lots or a recall, not both".into()));
        }
        if recall.is_some() && closure.is_some() {
            return Err(bad(
                "closure does not apply to a recall: its sheet covers the lots the recall covers"
                    .into(),
            ));
        }
        if lots.is_empty() && recall.is_none() && dates.is_none() {
            return Err(bad(
                "name lots (lot=GTIN/LOT, repeated), a recall (recall=<notice id>) or a date range (from=YYYY-MM-DD&to=YYYY-MM-DD)"
                    .into(),
            ));
        }
        Ok(Self {
            lots,
            recall,
            dates,
            closure: closure.unwrap_or(Closure::Both),
            format,
        })
    }

    /// The sheet this query asks for; a recall that covers nothing now (unknown, lifted, not a
    /// recall) is 404 with a message in the reader's language.
    pub fn load(&self, conn: &mut DbConn, zh: bool) -> AppResult<Sheet> {
        if let Some(id) = self.recall {
            let lots = recall_lots(conn, id, zh)?;
            return Ok(fsma::for_lots(conn, &lots, Closure::AsGiven, self.dates)?);
        }
        Ok(match (self.lots.is_empty(), self.dates) {
            (true, Some(dates)) => fsma::for_dates(conn, dates)?,
            (true, None) => Sheet::default(),
            (false, dates) => fsma::for_lots(conn, &self.lots, self.closure, dates)?,
        })
    }

    /// The name of the sheet's file, without its extension: `fsma204-recall-{id's first 12}` for
    /// a recall's sheet, `fsma204` otherwise; then when it was made.
    pub fn file_stem(&self) -> String {
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
        match self.recall {
            Some(id) => format!("fsma204-recall-{}-{stamp}", &id.to_hex()[..12]),
            None => format!("fsma204-{stamp}"),
        }
    }
}

/// Every lot the recall in force with this notice id covers now.
fn recall_lots(conn: &mut DbConn, id: RecordId, zh: bool) -> AppResult<Vec<LotKey>> {
    let id = id.to_hex();
    let not_found =
        |en: String, zh_text: String| Err(AppError::NotFound(if zh { zh_text } else { en }));
    match covered_set(conn, &id)? {
        Asked::InForce { covered, .. } => Ok(covered
            .iter()
            .filter_map(|(gtin, lot)| LotKey::parse(gtin, lot).ok())
            .collect()),
        Asked::Lifted(recall) => {
            let (lift, time) = recall
                .lifted
                .map(|l| (l.id, l.time.to_rfc3339()))
                .unwrap_or_default();
            not_found(
                format!("recall {id} was lifted at {time} (lift {lift}): it covers no lots now"),
                format!("回收 {id} 已於 {time} 解除（解除通知 {lift}），目前不涵蓋任何批號"),
            )
        }
        Asked::NotARecall => not_found(
            format!("{id} is not a recall notice (it is a record or a lift)"),
            format!("{id} 不是回收通知（而是一筆紀錄或解除通知）"),
        ),
        Asked::Unknown => not_found(
            format!("no recall notice {id} is stored here"),
            format!("找不到回收通知 {id}"),
        ),
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

/// The sheet as the response the format asks for, its file named `{stem}.{csv,xlsx}`.
pub fn respond(sheet: &Sheet, format: Format, stem: &str) -> Result<HttpResponse, AppError> {
    let attachment = |ext: &str| {
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{stem}.{ext}\""),
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
    _: Auditor,
    req: HttpRequest,
    pool: web::Data<DbPool>,
) -> Result<HttpResponse, AppError> {
    let query = SheetQuery::parse(req.query_string())?;
    let (format, stem) = (query.format, query.file_stem());
    let sheet = crate::db::run(&pool, move |conn| query.load(conn, false)).await?;
    respond(&sheet, format, &stem)
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
        let id = "ab".repeat(32);
        let recalled =
            SheetQuery::parse(&format!("recall={id}&from=2026-11-01&to=2026-11-30")).unwrap();
        assert_eq!(recalled.recall.map(|r| r.to_hex()), Some(id.clone()));
        assert!(
            recalled
                .file_stem()
                .starts_with("fsma204-recall-abababababab-")
        );
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
            ("recall=RC-1", "64 lowercase hex"),
            (format!("recall={id}&recall={id}").as_str(), "one recall"),
            (
                format!("recall={id}&lot=04712345000046/A").as_str(),
                "not both",
            ),
            (
                format!("recall={id}&closure=none").as_str(),
                "does not apply to a recall",
            ),
        ] {
            let error = SheetQuery::parse(query).unwrap_err().to_string();
            assert!(error.contains(part), "{query}: {error}");
        }
    }
}
