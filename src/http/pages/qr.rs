//! QR codes of a lot's Digital Link, as SVG and PNG at exactly the size asked for: error
//! correction level M, at least a 4-module quiet zone. A code printed on a package carries
//! `?src=qr`, one on a store's shelf tag `?store={id}`, so that scans count for their channel;
//! and the label sheets that print them, with the link's GS1 element strings in human-readable
//! form under each code.

use super::filters;
use crate::db::DbPool;
use crate::domain::OrgId;
use crate::domain::digital_link::{lot_uri, path_segment};
use crate::domain::{Gtin, LotCode};
use crate::error::AppError;
use crate::http::state::Site;
use crate::omo::activity::Channel;
use actix_web::{HttpResponse, web};
use askama::Template;
use qrcode::{Color, EcLevel, QrCode};
use serde::Deserialize;

const QUIET_ZONE: usize = 4;
/// At most ten A4 sheets of labels at once.
const MAX_LABELS: u32 = 210;

#[derive(Deserialize)]
pub struct QrQuery {
    /// Width and height in pixels (64 to 2048).
    size: Option<u32>,
    /// The channel the printed code stands for: `qr` (a package) and the like.
    src: Option<String>,
    /// A store's id: the code is on that store's shelf tag.
    store: Option<String>,
}

/// Where a printed code was put, carried in its link so that a scan counts for it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Placed {
    Anywhere,
    Channel(Channel),
    Shelf(OrgId),
}

impl Placed {
    fn of(src: Option<&str>, store: Option<&str>) -> Result<Self, AppError> {
        match (src, store) {
            (_, Some(store)) => OrgId::parse(store)
                .map(Self::Shelf)
                .map_err(|e| AppError::InvalidField(format!("store: {e}"))),
            (Some(src), None) => Channel::parse(src).map(Self::Channel).ok_or_else(|| {
                AppError::InvalidField(format!(
                    "src {src:?} is not a channel; use qr (a package), shelf or embed"
                ))
            }),
            (None, None) => Ok(Self::Anywhere),
        }
    }

    fn query(&self) -> String {
        match self {
            Self::Anywhere => String::new(),
            Self::Channel(channel) => format!("?src={}", channel.as_str()),
            Self::Shelf(store) => format!("?store={store}"),
        }
    }
}

fn code_for(site: &Site, gtin: &str, lot: &str, placed: &Placed) -> Result<QrCode, AppError> {
    let gtin = Gtin::parse(gtin).map_err(AppError::Malformed)?;
    let lot = LotCode::parse(lot).map_err(AppError::Malformed)?;
    let link = format!(
        "{}{}",
        lot_uri(&site.public_url, &gtin, &lot),
        placed.query()
    );
    QrCode::with_error_correction_level(link, EcLevel::M)
        .map_err(|e| AppError::InvalidField(format!("cannot encode the link as a QR code: {e}")))
}

fn size(query: &QrQuery) -> Result<u32, AppError> {
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
    query: web::Query<QrQuery>,
) -> Result<HttpResponse, AppError> {
    let placed = Placed::of(query.src.as_deref(), query.store.as_deref())?;
    let code = code_for(&site, &path.0, &path.1, &placed)?;
    let size = size(&query)?;
    // Drawn one unit per module and scaled by its viewBox to exactly `size` pixels: the
    // renderer's own sizing only rounds up to whole pixels per module.
    let modules = code.width() + 2 * QUIET_ZONE;
    let drawn = code
        .render::<qrcode::render::svg::Color>()
        .module_dimensions(1, 1)
        .quiet_zone(true)
        .build();
    let natural = format!(" width=\"{modules}\" height=\"{modules}\"");
    if !drawn.contains(&natural) {
        return Err(AppError::internal(
            "the QR code's SVG is not of the expected form",
        ));
    }
    let svg = drawn.replacen(&natural, &format!(" width=\"{size}\" height=\"{size}\""), 1);
    Ok(HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(svg))
}

pub async fn png(
    site: web::Data<Site>,
    path: web::Path<(String, String)>,
    query: web::Query<QrQuery>,
) -> Result<HttpResponse, AppError> {
    let placed = Placed::of(query.src.as_deref(), query.store.as_deref())?;
    let code = code_for(&site, &path.0, &path.1, &placed)?;
    let modules = code.width();
    let total = modules + 2 * QUIET_ZONE;
    let side = size(&query)? as usize;
    if side < total {
        return Err(AppError::InvalidField(format!(
            "size {side} is smaller than this code's {total} modules with its quiet zone"
        )));
    }
    // Whole pixels per module (crisp edges), the rest of `size` a wider quiet zone.
    let scale = side / total;
    let margin = (side - modules * scale) / 2;
    let colors = code.to_colors();
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (x, y) = (
                (i % modules) * scale + margin,
                (i / modules) * scale + margin,
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
    /// A store's id: shelf tags for that store, rather than package labels.
    store: Option<String>,
}

/// `/labels/01/{gtin}/10/{lot}`: a printable sheet of labels (21 per A4 page) for a lot.
/// The page and its errors are in both languages, as the labels are.
pub async fn labels(
    page: super::Page,
    pool: web::Data<DbPool>,
    path: web::Path<(String, String)>,
    query: web::Query<LabelsQuery>,
) -> Result<LabelsPage, super::PageError> {
    sheet(&pool, &page.site, &path, &query, page.choice.zh)
        .await
        .map_err(page.fail())
}

async fn sheet(
    pool: &DbPool,
    site: &Site,
    path: &(String, String),
    query: &LabelsQuery,
    zh: bool,
) -> Result<LabelsPage, AppError> {
    let gtin = Gtin::parse(&path.0).map_err(AppError::Malformed)?;
    let lot = LotCode::parse(&path.1).map_err(AppError::Malformed)?;
    let count = match query.count.unwrap_or(21) {
        c @ 1..=MAX_LABELS => c,
        c => {
            return Err(AppError::InvalidField(if zh {
                format!("張數 {c} 必須介於 1 到 {MAX_LABELS} 之間")
            } else {
                format!("count {c} must be between 1 and {MAX_LABELS}")
            }));
        }
    };
    let (g, l) = (gtin.clone(), lot.clone());
    let store = query.store.clone();
    let product = crate::db::run(pool, move |conn| {
        crate::db::lots::find(conn, g.as_str(), l.as_str())?
            .ok_or_else(|| super::no_lot(&g, &l, zh))?;
        if let Some(store) = &store {
            // Shelf tags only for a store (its scans count for it).
            crate::omo::pickup::find_store(conn, store).map_err(|_| {
                AppError::InvalidField(if zh {
                    format!("{store} 不是門市：貨架標籤只為零售門市列印")
                } else {
                    format!("store {store} is not a store: shelf tags are printed for a retailer")
                })
            })?;
        }
        Ok(crate::db::products::find(conn, g.as_str())?)
    })
    .await?;
    let encoded = path_segment(lot.as_str());
    // A package label's code counts its scans as package scans; a shelf tag's for its store.
    let placed = match query.store.as_deref() {
        Some(store) => Placed::of(None, Some(store))?,
        None => Placed::Channel(Channel::Package),
    };
    let marker = placed.query().replacen('?', "&", 1);
    Ok(LabelsPage {
        shelf: matches!(placed, Placed::Shelf(_)),
        store: query.store.clone(),
        name: product
            .as_ref()
            .map_or_else(|| format!("GTIN {gtin}"), |p| p.name.clone()),
        name_zh: product.and_then(|p| p.name_zh),
        uri: format!(
            "{}{}",
            lot_uri(&site.public_url, &gtin, &lot),
            placed.query()
        ),
        qr: format!("/api/v1/lots/{gtin}/{encoded}/qr.svg?size=240{marker}"),
        gtin: gtin.to_string(),
        lot: lot.to_string(),
        count,
    })
}

/// A printable sheet of QR labels for one lot.
#[derive(Template, askama_web::WebTemplate)]
#[template(path = "labels.html")]
pub struct LabelsPage {
    /// Shelf tags of a store rather than package labels.
    pub shelf: bool,
    /// The store whose shelf tags these are (kept when the count changes).
    pub store: Option<String>,
    pub name: String,
    pub name_zh: Option<String>,
    pub gtin: String,
    pub lot: String,
    pub uri: String,
    pub qr: String,
    pub count: u32,
}
