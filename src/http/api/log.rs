//! The transparency log (docs/transparency.md): the latest signed checkpoint, the log's verifier
//! key, inclusion and consistency proofs, tiles and entry bundles (C2SP tlog-tiles), and a
//! lot's provenance bundle. Everything is read against the latest checkpoint: nothing a
//! checkpoint does not cover yet is shown.

use crate::db::{DbConn, DbPool, tlog as queries};
use crate::domain::{Gtin, LotCode};
use crate::error::AppError;
use crate::ledger::checkpoint::LogKey;
use crate::ledger::merkle::{self, Hash, ProofError};
use crate::ledger::tiles::{self, TilePath};
use crate::ledger::tlog::StoredTree;
use actix_web::{HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

/// Full tiles and entry bundles never change.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Partial tiles are replaced by full ones; a checkpoint by the next within a second.
const SHORT_LIVED: &str = "public, max-age=10";
const CHECKPOINT_CACHE: &str = "public, max-age=1, must-revalidate";

/// The latest checkpoint's size and note; 503 when the log has signed none yet.
fn latest(conn: &mut DbConn) -> Result<(u64, String), AppError> {
    let (size, note) = queries::checkpoint(conn)?
        .ok_or_else(|| AppError::Unavailable("the log has not signed a checkpoint yet".into()))?;
    Ok((size.max(0) as u64, note))
}

/// `GET /api/v1/log/checkpoint` (also `/checkpoint`, the tlog-tiles path).
pub async fn checkpoint(pool: web::Data<DbPool>) -> Result<HttpResponse, AppError> {
    let (_, note) = crate::db::run(&pool, latest).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header(("Cache-Control", CHECKPOINT_CACHE))
        .body(note))
}

/// `GET /api/v1/log/key`: the verifier key(s) in note form, one a line, the current one first.
pub async fn key(key: web::Data<LogKey>) -> HttpResponse {
    let mut body = key.verifier_keys().join("\n");
    body.push('\n');
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(body)
}

#[derive(Debug, Deserialize)]
pub struct InclusionQuery {
    index: Option<String>,
    size: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ConsistencyQuery {
    from: Option<String>,
    to: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct InclusionResponse {
    pub index: u64,
    pub size: u64,
    pub hashes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ConsistencyResponse {
    pub from: u64,
    pub to: u64,
    pub hashes: Vec<String>,
}

/// A query parameter that must be a whole number.
fn number(name: &str, value: Option<&str>) -> Result<u64, AppError> {
    let value = value
        .ok_or_else(|| AppError::Malformed(format!("the query parameter {name} is missing")))?;
    match value.parse::<u64>() {
        Ok(n) if n.to_string() == value && n <= i64::MAX as u64 => Ok(n),
        _ => Err(AppError::Malformed(format!(
            "{name} must be a whole number without sign or leading zeros, got {value:?}"
        ))),
    }
}

/// 404 when the latest checkpoint is smaller than `size`.
fn covered(size: u64, checkpoint: u64) -> Result<(), AppError> {
    if size > checkpoint {
        return Err(AppError::NotFound(format!(
            "the log has no signed tree of {size} records yet; the latest checkpoint is of {checkpoint}"
        )));
    }
    Ok(())
}

fn proof_error(e: ProofError<diesel::result::Error>) -> AppError {
    match e {
        ProofError::Arguments(m) => AppError::Malformed(m),
        ProofError::Source(e) => AppError::Database(e),
    }
}

fn encoded(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(|h| B64.encode(h)).collect()
}

/// `GET /api/v1/log/proof/inclusion?index=N&size=S`.
pub async fn inclusion(
    pool: web::Data<DbPool>,
    query: web::Query<InclusionQuery>,
) -> Result<HttpResponse, AppError> {
    let index = number("index", query.index.as_deref())?;
    let size = number("size", query.size.as_deref())?;
    if index >= size {
        return Err(AppError::Malformed(format!(
            "index {index} is not in a tree of {size} records: it must be below size"
        )));
    }
    let hashes = crate::db::run(&pool, move |conn| {
        let (signed, _) = latest(conn)?;
        covered(size, signed)?;
        merkle::inclusion_proof(&mut StoredTree::new(conn, size), index, size).map_err(proof_error)
    })
    .await?;
    Ok(HttpResponse::Ok().json(InclusionResponse {
        index,
        size,
        hashes: encoded(&hashes),
    }))
}

/// `GET /api/v1/log/proof/consistency?from=A&to=B`.
pub async fn consistency(
    pool: web::Data<DbPool>,
    query: web::Query<ConsistencyQuery>,
) -> Result<HttpResponse, AppError> {
    let from = number("from", query.from.as_deref())?;
    let to = number("to", query.to.as_deref())?;
    if from == 0 {
        return Err(AppError::Malformed(
            "from must be at least 1: every tree extends the empty one, which needs no proof"
                .into(),
        ));
    }
    if from > to {
        return Err(AppError::Malformed(format!(
            "from ({from}) is larger than to ({to})"
        )));
    }
    let hashes = crate::db::run(&pool, move |conn| {
        let (signed, _) = latest(conn)?;
        covered(to, signed)?;
        merkle::consistency_proof(&mut StoredTree::new(conn, to), from, to).map_err(proof_error)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ConsistencyResponse {
        from,
        to,
        hashes: encoded(&hashes),
    }))
}

/// `GET /tile/<L>/<N>[.p/<W>]` and `GET /tile/entries/<N>[.p/<W>]` (C2SP tlog-tiles), for
/// the tree of the latest checkpoint.
pub async fn tile(
    pool: web::Data<DbPool>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let path = path.into_inner();
    let (entries, tile_path) = match path.strip_prefix("entries/") {
        Some(rest) => (true, TilePath::parse(&format!("0/{rest}"))),
        None => (false, TilePath::parse(&path)),
    };
    let tile_path = tile_path.map_err(AppError::Malformed)?;
    let body = crate::db::run(&pool, move |conn| {
        let (signed, _) = latest(conn)?;
        let mut tree = StoredTree::new(conn, signed);
        let missing = || {
            AppError::NotFound(format!(
                "the log's latest checkpoint (of {signed} records) has no tile {}",
                tile_path.to_path()
            ))
        };
        if entries {
            match tile_path.needs_size() {
                Some(needed) if needed <= u128::from(signed) => {}
                _ => return Err(missing()),
            }
            let width = tile_path.width.map_or(tiles::WIDTH, usize::from);
            Ok(tree.entry_bundle(tile_path.index, width)?)
        } else {
            tree.tile_bytes(&tile_path)?.ok_or_else(missing)
        }
    })
    .await?;
    let cache = if tile_path.width.is_some() {
        SHORT_LIVED
    } else {
        IMMUTABLE
    };
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header(("Cache-Control", cache))
        .body(body))
}

/// `GET /api/v1/lots/{gtin}/{lot}/bundle`: the lot's provenance bundle.
pub async fn bundle(
    pool: web::Data<DbPool>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (gtin, lot) = path.into_inner();
    let gtin = Gtin::parse(&gtin).map_err(AppError::Malformed)?;
    let lot = LotCode::parse(&lot).map_err(AppError::Malformed)?;
    let bundle = crate::db::run(&pool, move |conn| {
        crate::trace::bundle::load(conn, gtin.as_str(), lot.as_str())?
            .ok_or_else(|| AppError::NotFound(format!("no lot {lot} of GTIN {gtin}")))
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-cache"))
        .json(bundle))
}
