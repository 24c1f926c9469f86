//! QR codes of a lot's Digital Link, as SVG and PNG: error correction level M, 4-module quiet zone.

use super::filters;
use crate::db::DbPool;
use crate::domain::digital_link::{lot_uri, path_segment};
use crate::domain::{Gtin, LotCode};
use crate::error::AppError;
use crate::http::state::Site;
use actix_web::{HttpResponse, web};
use askama::Template;
use qrcode::{Color, EcLevel, QrCode};
use serde::Deserialize;

const QUIET_ZONE: usize = 4;
/// At most ten A4 sheets of labels at once.
const MAX_LABELS: u32 = 210;

#[derive(Deserialize)]
pub struct SizeQuery {
    /// Approximate width in pixels (64 to 2048).
    size: Option<u32>,
}

fn code_for(site: &Site, gtin: &str, lot: &str) -> Result<QrCode, AppError> {
    let gtin = Gtin::parse(gtin).map_err(AppError::Malformed)?;
    let lot = LotCode::parse(lot).map_err(AppError::Malformed)?;
    QrCode::with_error_correction_level(lot_uri(&site.public_url, &gtin, &lot), EcLevel::M)
        .map_err(|e| AppError::InvalidField(format!("cannot encode the link as a QR code: {e}")))
}

fn size(query: &SizeQuery) -> Result<u32, AppError> {
    match query.size.unwrap_or(320) {
        s @ 64..=2048 => Ok(s),
        s => Err(AppError::InvalidField(format!(
            "size {s} must be between 64 and 2048 pixels"
        ))),
    }
}

pub async fn svg(
    site: web::Data<Site>,
    path: web::Path<(String, String)>,
    query: web::Query<SizeQuery>,
) -> Result<HttpResponse, AppError> {
    let code = code_for(&site, &path.0, &path.1)?;
    let size = size(&query)?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(size, size)
        .quiet_zone(true)
        .build();
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(svg))
}

pub async fn png(
    site: web::Data<Site>,
    path: web::Path<(String, String)>,
    query: web::Query<SizeQuery>,
) -> Result<HttpResponse, AppError> {
    let code = code_for(&site, &path.0, &path.1)?;
    let modules = code.width();
    let total = modules + 2 * QUIET_ZONE;
    let scale = (size(&query)? as usize / total).max(1);
    let side = total * scale;
    let colors = code.to_colors();
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (x, y) = (
                (i % modules + QUIET_ZONE) * scale,
                (i / modules + QUIET_ZONE) * scale,
            );
            for row in pixels[y * side..].chunks_mut(side).take(scale) {
                row[x..x + scale].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(AppError::internal)?;
        writer
            .write_image_data(&pixels)
            .map_err(AppError::internal)?;
    }
    Ok(HttpResponse::Ok()
        .content_type("image/png")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(out))
}

#[derive(Deserialize)]
pub struct LabelsQuery {
    count: Option<u32>,
}

/// `/labels/01/{gtin}/10/{lot}`: a printable sheet of labels (21 per A4 page) for a lot.
pub async fn labels(
    pool: web::Data<DbPool>,
    site: web::Data<Site>,
    path: web::Path<(String, String)>,
    query: web::Query<LabelsQuery>,
) -> Result<LabelsPage, AppError> {
    let gtin = Gtin::parse(&path.0).map_err(AppError::Malformed)?;
    let lot = LotCode::parse(&path.1).map_err(AppError::Malformed)?;
    let count = match query.count.unwrap_or(21) {
        c @ 1..=MAX_LABELS => c,
        c => {
            return Err(AppError::InvalidField(format!(
                "count {c} must be between 1 and {MAX_LABELS}"
            )));
        }
    };
    let (g, l) = (gtin.clone(), lot.clone());
    let product = crate::db::run(&pool, move |conn| {
        crate::db::lots::find(conn, g.as_str(), l.as_str())?
            .ok_or_else(|| AppError::NotFound(format!("no lot {l} of GTIN {g}")))?;
        Ok(crate::db::products::find(conn, g.as_str())?)
    })
    .await?;
    let encoded = path_segment(lot.as_str());
    Ok(LabelsPage {
        name: product
            .as_ref()
            .map_or_else(|| format!("GTIN {gtin}"), |p| p.name.clone()),
        name_zh: product.and_then(|p| p.name_zh),
        uri: lot_uri(&site.public_url, &gtin, &lot),
        qr: format!("/api/v1/lots/{gtin}/{encoded}/qr.svg?size=240"),
        gtin: gtin.to_string(),
        lot: lot.to_string(),
        count,
    })
}

/// A printable sheet of QR labels for one lot.
#[derive(Template, askama_web::WebTemplate)]
#[template(path = "labels.html")]
pub struct LabelsPage {
    pub name: String,
    pub name_zh: Option<String>,
    pub gtin: String,
    pub lot: String,
    pub uri: String,
    pub qr: String,
    pub count: u32,
}
