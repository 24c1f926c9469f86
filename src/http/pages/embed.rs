//! Embeds for e-commerce pages: a compact provenance card made for an iframe
//! (`/embed/01/{gtin}/10/{lot}`, or `/embed/01/{gtin}` for a product's latest lot), the oEmbed
//! endpoint, and the script snippet (static/embed.js) that inserts the iframe and sizes it.
//! Who may frame a card is the brand's choice: `Content-Security-Policy: frame-ancestors` lists
//! the brand's configured origins, or allows any site when the brand has configured none.

use super::filters;
use super::{PageError, embed_lang, failing, html_builder, path_gtin};
use crate::db::DbPool;
use crate::db::{lots, orgs, products};
use crate::domain::digital_link::{lot_uri, path_segment};
use crate::domain::{Gtin, LotCode};
use crate::error::AppError;
use crate::http::page_cache::Shows;
use crate::http::state::{PageSources, Site};
use crate::omo::activity::{Channel, Kind};
use crate::trace::provenance;
use crate::trace::provenance::VerdictCache;
use crate::trace::provenance::{Provenance, Step};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

const CARD_WIDTH: u32 = 360;
/// The height a card's frame has before the card says how tall it is, or where no script runs:
/// the tallest card without a recall notice, in both languages, 240 to 360 px wide (measured in
/// tests/api/consumer_browser.rs). static/embed.js says the same.
pub const CARD_HEIGHT: u32 = 360;

/// The `frame-ancestors` source list for a product's brand.
pub fn frame_ancestors(origins: &[String]) -> String {
    if origins.is_empty() {
        "frame-ancestors *".to_owned()
    } else {
        format!("frame-ancestors 'self' {}", origins.join(" "))
    }
}

async fn card(
    req: HttpRequest,
    sources: PageSources,
    gtin: String,
    lot: Option<String>,
) -> Result<HttpResponse, PageError> {
    let PageSources {
        pool,
        site,
        verdicts,
        pages,
        activity,
    } = sources;
    let choice = embed_lang(&req);
    let fail = failing(&req, &choice);
    let gtin = path_gtin(&gtin).map_err(&fail)?;
    let lot = lot
        .map(|l| LotCode::parse(&l))
        .transpose()
        .map_err(|e| fail(AppError::Malformed(e)))?;
    // Cached like the provenance page: until the next record, 5 s at most.
    let key = (
        format!("/embed/{gtin}"),
        lot.as_ref().map_or_else(String::new, ToString::to_string),
        choice.zh,
    );
    let render = render_card(&pool, &site, &verdicts, gtin.clone(), lot, choice.zh);
    let page = pages.get_or_render(key, render).await.map_err(&fail)?;
    // The lot shown is kept in the cached page's etag (the latest one when none was asked for).
    activity.record(
        Kind::EmbedView,
        Channel::Embed,
        gtin.as_str(),
        &page.etag,
        "",
    );
    let mut builder = html_builder(StatusCode::OK, &choice);
    builder
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            page.csp.clone().unwrap_or_default(),
        ))
        .insert_header((header::CACHE_CONTROL, super::RECALLABLE));
    Ok(page.encoded_for(&req).respond(builder))
}

/// Renders the card of a lot (the product's latest when none is named), with the brand's
/// `frame-ancestors` policy.
async fn render_card(
    pool: &DbPool,
    site: &web::Data<Site>,
    verdicts: &web::Data<VerdictCache>,
    gtin: Gtin,
    lot: Option<LotCode>,
    zh: bool,
) -> Result<crate::http::page_cache::CachedPage, AppError> {
    let (verdicts, public_url) = (verdicts.clone(), site.public_url.clone());
    crate::db::run(pool, move |conn| {
        let product =
            products::find(conn, gtin.as_str())?.ok_or_else(|| super::no_product(&gtin, zh))?;
        // A product's card shows its latest lot, which any new record may change.
        let latest_of_product = lot.is_none();
        let lot = match lot {
            Some(lot) => lot,
            None => {
                let latest = lots::recent_of_gtin(conn, gtin.as_str(), 1)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| {
                        AppError::NotFound(if zh {
                            format!("商品編號（GTIN）{gtin} 還沒有任何批號")
                        } else {
                            format!("no lot of GTIN {gtin} yet")
                        })
                    })?;
                LotCode::parse(&latest.lot).map_err(AppError::internal)?
            }
        };
        let p = provenance::load(conn, &gtin, &lot, &verdicts)?
            .ok_or_else(|| super::no_lot(&gtin, &lot, zh))?;
        let origins = match &product.brand_org {
            Some(brand) => orgs::embed_origins(conn, brand)?,
            None => Vec::new(),
        };
        let lot_path = path_segment(lot.as_str());
        let body = EmbedCard {
            recalls: super::recall::RecallBanner::for_lot(&p.recalls, zh),
            zh,
            product_name: super::names(&product, zh).0,
            image: product.image_url.clone(),
            price: super::shop::price_line(&product),
            buy_href: product
                .listing_url
                .as_ref()
                .map(|_| format!("{public_url}/go/{gtin}?ch=embed&lot={lot_path}")),
            pickup_href: format!("{public_url}/shop/{gtin}/pickup?ch=embed&lot={lot_path}"),
            page_href: format!("{}?src=embed", lot_uri(&public_url, &gtin, &lot)),
            last_step: p.steps.last().cloned(),
            p: &p,
        }
        .render()
        .map_err(AppError::internal)?;
        let mut shows = super::resolver::provenance_shows(&p);
        if latest_of_product {
            shows.push(Shows::Ledger);
        }
        Ok(crate::http::page_cache::CachedPage::new(
            lot.to_string(),
            Some(frame_ancestors(&origins)),
            body,
            shows,
        ))
    })
    .await
}

/// A card's error page (an unknown lot, a bad GTIN) is framed like a card, so that the brand's
/// page shows what is wrong instead of a refused frame; it says nothing that is not public.
fn framable(answer: Result<HttpResponse, PageError>) -> HttpResponse {
    answer.unwrap_or_else(|error| {
        let mut page = actix_web::ResponseError::error_response(&error);
        page.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            header::HeaderValue::from_static("frame-ancestors *"),
        );
        page
    })
}

pub async fn lot_card(
    req: HttpRequest,
    sources: PageSources,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (gtin, lot) = path.into_inner();
    framable(card(req, sources, gtin, Some(lot)).await)
}

pub async fn product_card(
    req: HttpRequest,
    sources: PageSources,
    gtin: web::Path<String>,
) -> HttpResponse {
    framable(card(req, sources, gtin.into_inner(), None).await)
}

#[derive(Deserialize)]
pub struct OEmbedQuery {
    url: Option<String>,
    maxwidth: Option<u32>,
    maxheight: Option<u32>,
    format: Option<String>,
}

/// `GET /oembed?url=...`: oEmbed 1.0 (a `rich` type with the iframe) for a lot's or a product's
/// Digital Link on this server.
pub async fn oembed(
    pool: web::Data<DbPool>,
    site: web::Data<Site>,
    q: web::Query<OEmbedQuery>,
) -> Result<HttpResponse, AppError> {
    if q.format.as_deref().is_some_and(|f| f != "json") {
        return Ok(HttpResponse::NotImplemented().json(json!({
            "error": "not_implemented",
            "message": "only format=json is offered"
        })));
    }
    let url = q
        .url
        .as_deref()
        .ok_or_else(|| AppError::Malformed("the url parameter is required".into()))?;
    let path_and_query = url.strip_prefix(site.public_url.as_str()).ok_or_else(|| {
        AppError::NotFound(format!(
            "url must be a Digital Link on this server ({}/01/...)",
            site.public_url
        ))
    })?;
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let link = crate::domain::digital_link::DigitalLink::parse(
        path,
        Some(query).filter(|q| !q.is_empty()),
    )
    .map_err(AppError::Malformed)?;
    let (gtin, lot) = (link.gtin.clone(), link.lot.clone());
    let (g, l) = (gtin.clone(), lot.clone());
    let product = crate::db::run(&pool, move |conn| {
        let product = products::find(conn, g.as_str())?
            .ok_or_else(|| AppError::NotFound(format!("no product with GTIN {g}")))?;
        if let Some(l) = &l {
            lots::find(conn, g.as_str(), l.as_str())?
                .ok_or_else(|| AppError::NotFound(format!("no lot {l} of GTIN {g}")))?;
        }
        Ok(product)
    })
    .await?;
    let width = q.maxwidth.map_or(CARD_WIDTH, |w| w.clamp(240, CARD_WIDTH));
    let height = q
        .maxheight
        .map_or(CARD_HEIGHT, |h| h.clamp(160, CARD_HEIGHT));
    let src = match &lot {
        Some(lot) => format!(
            "{}/embed{}",
            site.public_url,
            crate::domain::digital_link::lot_path(gtin.as_str(), lot.as_str())
        ),
        None => format!("{}/embed/01/{gtin}", site.public_url),
    };
    let title = format!("{} · truetrace", product.name);
    // The script sizes the iframe to its card; where a site strips scripts the iframe keeps the
    // fallback height.
    let html = format!(
        "<iframe src=\"{}\" width=\"{width}\" height=\"{height}\" style=\"border:0;max-width:100%\" loading=\"lazy\" title=\"{}\" data-truetrace-embed></iframe><script src=\"{}/static/embed.js\" async></script>",
        escape_attr(&src),
        escape_attr(&title),
        escape_attr(&site.public_url),
    );
    Ok(HttpResponse::Ok()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .json(json!({
            "version": "1.0",
            "type": "rich",
            "provider_name": "truetrace",
            "provider_url": site.public_url,
            "title": title,
            "html": html,
            "width": width,
            "height": height,
        })))
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The compact provenance card that lives in an iframe.
#[derive(Template)]
#[template(path = "embed.html")]
pub struct EmbedCard<'a> {
    pub zh: bool,
    pub p: &'a Provenance,
    pub product_name: String,
    pub image: Option<String>,
    pub price: Option<String>,
    pub buy_href: Option<String>,
    pub pickup_href: String,
    pub page_href: String,
    pub last_step: Option<Step>,
    pub recalls: Vec<super::recall::RecallBanner>,
}

impl EmbedCard<'_> {
    /// While a recall is in force the card offers no way to buy.
    pub fn recalled(&self) -> bool {
        self.recalls.iter().any(|r| r.in_force)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_and_the_oembed_snippet_start_from_the_same_fallback_height() {
        let script = include_str!("../../../static/embed.js");
        assert!(script.contains(&format!("var FALLBACK_HEIGHT = {CARD_HEIGHT};")));
    }

    #[test]
    fn frame_ancestors_lists_the_brands_origins() {
        assert_eq!(frame_ancestors(&[]), "frame-ancestors *");
        assert_eq!(
            frame_ancestors(&["https://shop.example".into(), "https://b.example".into()]),
            "frame-ancestors 'self' https://shop.example https://b.example"
        );
        assert_eq!(escape_attr("a\"<b>&"), "a&quot;&lt;b&gt;&amp;");
    }
}
