//! The GS1 Digital Link resolver (GS1-Conformant Resolver 1.2): `/01/{gtin}[/10/{lot}]` answers
//! with the provenance page, a product page, an RFC 9264 linkset, or a redirect to the listing,
//! by `linkType` and content negotiation. Every answer carries a `Link` header to the linkset.

use super::filters;
use super::lang::{self, Choice};
use super::recall::RecallBanner;
use super::{error_page, html, html_builder, script_json};
use crate::db::DbPool;
use crate::db::rows::ProductRow;
use crate::db::{lots, products};
use crate::domain::LotCode;
use crate::domain::digital_link::{DigitalLink, lot_path, lot_uri, path_segment};
use crate::http::page_cache::{CachedPage, Shows};
use crate::http::state::{PageSources, Site};
use crate::trace::provenance::{self, Provenance};
use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use askama::Template;
use serde_json::json;
use sha2::Digest as _;

const LINKSET: &str = "application/linkset+json";

/// What the client asked for by `Accept` when no `linkType` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wants {
    Page,
    /// The linkset, served as `application/linkset+json` or, when that is what was accepted,
    /// `application/json`.
    Linkset(&'static str),
    JsonLd,
}

/// The q-value and specificity (2 exact, 1 `type/*`, 0 `*/*`) of the most specific range of
/// `accept` that matches one of `media`; wildcards count only when `wildcards` (a client that
/// accepts anything wants the page, not JSON). `None` when no range matches; q=0 means "not this".
fn accepted(accept: &str, media: &[&str], wildcards: bool) -> Option<(f32, u8)> {
    let mut best: Option<(f32, u8)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0)
            .clamp(0.0, 1.0);
        let specificity = if media.contains(&name.as_str()) {
            2
        } else if wildcards && name == "*/*" {
            0
        } else if wildcards
            && let Some(kind) = name.strip_suffix("/*")
            && media.iter().any(|m| m.split('/').next() == Some(kind))
        {
            1
        } else {
            continue;
        };
        if best.is_none_or(|(_, s)| specificity > s) {
            best = Some((q, specificity));
        }
    }
    best
}

fn negotiate(req: &HttpRequest) -> Wants {
    let Some(accept) = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .filter(|a| !a.trim().is_empty())
    else {
        return Wants::Page;
    };
    // In order of preference when q-values and specificity tie.
    let candidates = [
        (
            Wants::Page,
            accepted(accept, &["text/html", "application/xhtml+xml"], true),
        ),
        (Wants::Linkset(LINKSET), accepted(accept, &[LINKSET], false)),
        (
            Wants::JsonLd,
            accepted(accept, &["application/ld+json"], false),
        ),
        (
            Wants::Linkset("application/json"),
            accepted(accept, &["application/json"], false),
        ),
    ];
    let mut chosen = (Wants::Page, (0.0_f32, 0_u8));
    for (wants, found) in candidates {
        if let Some((q, s)) = found
            && q > 0.0
            && (q > chosen.1.0 || (q == chosen.1.0 && s > chosen.1.1))
        {
            chosen = (wants, (q, s));
        }
    }
    chosen.0
}

fn with_cors(builder: &mut HttpResponseBuilder) -> &mut HttpResponseBuilder {
    builder
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED))
}

/// The response headers a script on another site may read.
pub const EXPOSED: &str = "Link, ETag, Location, Content-Language, Vary";

/// The `Link` header to the linkset of the level that answers (absolute).
fn linkset_header(uri: &str) -> String {
    format!("<{uri}?linkType=linkset>; rel=\"linkset\"; type=\"{LINKSET}\"")
}

/// A linkset's `Link` header: the linkset itself, and GS1's JSON-LD context for it (the resolver
/// standard's artefact), so the JSON can be read as JSON-LD.
fn with_context(linkset_link: &str) -> String {
    format!(
        "{linkset_link}, <https://ref.gs1.org/standards/resolver/linkset-context>; \
         rel=\"http://www.w3.org/ns/json-ld#context\"; type=\"application/ld+json\""
    )
}

fn set_header(response: &mut HttpResponse, name: header::HeaderName, value: &str) {
    if let Ok(value) = header::HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

/// A redirect to `target` passing on the request's query string (the resolver standard's
/// default: every key=value pair, `linkType` included).
fn redirect(req: &HttpRequest, target: &str, link: &str) -> HttpResponse {
    let mut location = target.to_owned();
    if let Some(query) = req.uri().query().filter(|q| !q.is_empty()) {
        location.push(if target.contains('?') { '&' } else { '?' });
        location.push_str(query);
    }
    let mut response = HttpResponse::TemporaryRedirect().finish();
    set_header(&mut response, header::LOCATION, &location);
    set_header(&mut response, header::LINK, link);
    response
}

/// An error in the form the client negotiated: the API's JSON body, or the page.
fn refuse(
    req: &HttpRequest,
    choice: &Choice,
    wants: Wants,
    status: StatusCode,
    message: String,
) -> HttpResponse {
    if wants == Wants::Page {
        return error_page(req, choice, status, message);
    }
    let code = match status {
        StatusCode::BAD_REQUEST => "malformed",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        _ => "unavailable",
    };
    HttpResponse::build(status).json(json!({"error": code, "message": message}))
}

/// A parameter of the request's query as sent (`%3A` read as `:`), whether or not the rest of
/// the link parses: the `linkType` of a broken link still decides how its error is answered
/// (its `lang` is read from the raw query too, by `choose_lang`).
fn raw_param(req: &HttpRequest, wanted: &str) -> Option<String> {
    req.uri().query()?.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        (name == wanted).then(|| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// The entry point for every path holding `/01/`. Every answer, errors and redirects included,
/// carries CORS headers and `Vary: Accept, Accept-Language, Accept-Encoding`.
pub async fn resolve(req: HttpRequest, sources: PageSources) -> HttpResponse {
    let mut response = answer(&req, &sources).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        (header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED),
        (header::VARY, "Accept, Accept-Language, Accept-Encoding"),
    ] {
        headers.insert(name, header::HeaderValue::from_static(value));
    }
    response
}

async fn answer(req: &HttpRequest, sources: &PageSources) -> HttpResponse {
    if req.method() == Method::OPTIONS {
        return preflight();
    }
    let query = req.uri().query();
    let parsed = DigitalLink::parse(req.path(), query);
    let choice = super::choose_lang(req);
    // A link type that is JSON (the EPCIS events, the linkset) is answered in JSON, errors
    // included, even when the link is too broken to parse: read from the raw query.
    let wants = match raw_param(req, "linkType").as_deref() {
        Some("gs1:epcis" | "https://gs1.org/voc/epcis") => Wants::JsonLd,
        Some("linkset" | "all") => Wants::Linkset(LINKSET),
        _ => negotiate(req),
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut refused = refuse(
            req,
            &choice,
            wants,
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "a Digital Link answers GET, HEAD or OPTIONS, not {}",
                req.method()
            ),
        );
        set_header(&mut refused, header::ALLOW, ALLOWED);
        return refused;
    }
    let link = match parsed {
        Ok(link) => link,
        Err(message) => return refuse(req, &choice, wants, StatusCode::BAD_REQUEST, message),
    };
    match link.resolvable_lot() {
        Some(lot) => lot_answer(req, sources, &link, lot.clone(), &choice, wants).await,
        None => product_answer(req, &sources.pool, &sources.site, &link, &choice, wants).await,
    }
}

const ALLOWED: &str = "GET, HEAD, OPTIONS";

/// The answer to `OPTIONS` (a CORS preflight or a client asking what is allowed).
fn preflight() -> HttpResponse {
    with_cors(&mut HttpResponse::NoContent())
        .insert_header((header::ALLOW, ALLOWED))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, ALLOWED))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Accept, Accept-Language, If-None-Match",
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .finish()
}

async fn lot_answer(
    req: &HttpRequest,
    sources: &PageSources,
    link: &DigitalLink,
    lot: LotCode,
    choice: &Choice,
    wants: Wants,
) -> HttpResponse {
    let PageSources {
        pool,
        site,
        verdicts,
        pages,
        activity,
    } = sources;
    let uri = lot_uri(&site.public_url, &link.gtin, &lot);
    let linkset_link = linkset_header(&uri);
    let link_type = link.link_type();
    let wants_page = match link_type.as_deref() {
        Some("gs1:defaultLink" | "gs1:traceability") => true,
        Some(_) => false,
        None => wants == Wants::Page,
    };
    // The channel the visitor came by: it is counted, and carried in the page's links.
    let visit = super::shop::Visit {
        ch: link.param("src").map(str::to_owned),
        store: link.param("store").map(str::to_owned),
        lot: None,
    };
    let visit_query = visit.query();
    if wants_page {
        if req.method() == Method::GET {
            visit.count(
                activity,
                crate::omo::activity::Kind::Scan,
                link.gtin.as_str(),
                lot.as_str(),
            );
        }
        // The canonical path, never the request's: a stem before /01/ must not get a page of
        // its own (nor put its own links into the one everybody is served).
        let cache_key = (
            lot_path(link.gtin.as_str(), lot.as_str()),
            visit_query.clone(),
            choice.zh,
        );
        let render = render_page(req, sources, link, &lot, choice, wants, &uri, visit_query);
        return match pages.get_or_render(cache_key, render).await {
            Ok(page) => page_response(req, choice, &page, &linkset_link),
            Err(refusal) => refusal,
        };
    }
    let loaded = load(pool, verdicts, &link.gtin, &lot).await;
    let p = match loaded {
        Ok(Some(p)) => p,
        // A lot the table does not know: the linkset and the other link types walk up to the
        // GTIN. The EPCIS events of a lot that does not exist are a 404 in JSON, not the GTIN's.
        Ok(None) if wants != Wants::JsonLd => {
            return product_answer(req, pool, site, link, choice, wants).await;
        }
        Ok(None) => return no_lot(req, site, link, &lot, choice, wants),
        Err(e) => {
            return refuse(
                req,
                choice,
                wants,
                StatusCode::SERVICE_UNAVAILABLE,
                e.to_string(),
            );
        }
    };
    let buy_url = buy_url(&p, &lot);
    let links = LotLinks::new(&site.public_url, &uri, &p, buy_url.as_deref());
    let serve_linkset = |content_type: &str| {
        with_cors(&mut HttpResponse::Ok())
            .content_type(content_type)
            .insert_header((header::LINK, with_context(&linkset_link)))
            .body(links.linkset().to_string())
    };
    match (link_type.as_deref(), wants) {
        (Some("linkset"), _) => serve_linkset(LINKSET),
        (None, Wants::Linkset(content_type)) => serve_linkset(content_type),
        (Some("gs1:epcis"), _) | (None, Wants::JsonLd) => {
            let (gtin, code, public_url) =
                (link.gtin.clone(), lot.clone(), site.public_url.clone());
            let events = crate::db::run(pool, move |conn| {
                Ok(crate::trace::epcis::lot_document(
                    conn,
                    gtin.as_str(),
                    code.as_str(),
                    &public_url,
                )?)
            })
            .await;
            match events {
                Ok(document) => with_cors(&mut HttpResponse::Ok())
                    .content_type("application/ld+json")
                    .insert_header((header::LINK, linkset_link))
                    .body(document.to_string()),
                Err(e) => refuse(
                    req,
                    choice,
                    wants,
                    StatusCode::SERVICE_UNAVAILABLE,
                    e.to_string(),
                ),
            }
        }
        (Some("gs1:recallStatus"), _) => redirect(req, &links.recall_status, &linkset_link),
        (Some("gs1:masterData"), _) => redirect(req, &links.master_data, &linkset_link),
        (Some("gs1:pip"), _) => {
            let Some(url) = &buy_url else {
                // No listing for the lot's product: walk up, where a listing would be.
                return product_answer(req, pool, site, link, choice, wants).await;
            };
            visit.count(
                activity,
                crate::omo::activity::Kind::ListingClick,
                link.gtin.as_str(),
                lot.as_str(),
            );
            redirect(req, url, &linkset_link)
        }
        // Not a link type of the lot: the GTIN level may have it (walking up), or nobody does.
        _ => product_answer(req, pool, site, link, choice, wants).await,
    }
}

/// A lot's provenance, every record verified, read off the async workers.
async fn load(
    pool: &DbPool,
    verdicts: &web::Data<provenance::VerdictCache>,
    gtin: &crate::domain::Gtin,
    lot: &LotCode,
) -> Result<Option<Provenance>, crate::error::AppError> {
    let (gtin, lot, verdicts) = (gtin.clone(), lot.clone(), verdicts.clone());
    crate::db::run(pool, move |conn| {
        Ok(provenance::load(conn, &gtin, &lot, &verdicts)?)
    })
    .await
}

/// A lot the table does not know: a 404 (a made-up lot code must not look like a real one), as
/// a page for a person and in JSON for a client that asked for JSON (EPCIS, a linkset), with the
/// GTIN's linkset in its `Link`.
fn no_lot(
    req: &HttpRequest,
    site: &Site,
    link: &DigitalLink,
    lot: &LotCode,
    choice: &Choice,
    wants: Wants,
) -> HttpResponse {
    let asked = match link.link_type().as_deref() {
        Some("gs1:epcis") => Wants::JsonLd,
        Some("linkset" | "all") => Wants::Linkset(LINKSET),
        _ => wants,
    };
    let detail = format!("GTIN {} lot {}", link.gtin, lot);
    let mut page = refuse(req, choice, asked, StatusCode::NOT_FOUND, detail);
    let gtin_uri = format!("{}/01/{}", site.public_url, link.gtin);
    set_header(&mut page, header::LINK, &linkset_header(&gtin_uri));
    page
}

/// The product's online listing for this lot, marked as reached by a scanned code.
fn buy_url(p: &Provenance, lot: &LotCode) -> Option<String> {
    let url = p.product.as_ref()?.listing_url.as_ref()?;
    let sep = if url.contains('?') { '&' } else { '?' };
    Some(format!(
        "{url}{sep}gtin={}&lot={}&utm_source=truetrace&utm_medium=qr",
        p.gtin,
        path_segment(lot.as_str())
    ))
}

/// Renders a lot's provenance page for the cache; a lot nobody recorded, or a store that cannot
/// answer, is the refusal to send instead.
#[expect(
    clippy::too_many_arguments,
    reason = "the request's parts, each read once"
)]
async fn render_page(
    req: &HttpRequest,
    sources: &PageSources,
    link: &DigitalLink,
    lot: &LotCode,
    choice: &Choice,
    wants: Wants,
    uri: &str,
    visit_query: String,
) -> Result<CachedPage, HttpResponse> {
    let site = &sources.site;
    let p = match load(&sources.pool, &sources.verdicts, &link.gtin, lot).await {
        Ok(Some(p)) => p,
        Ok(None) => return Err(no_lot(req, site, link, lot, choice, wants)),
        Err(e) => {
            return Err(refuse(
                req,
                choice,
                wants,
                StatusCode::SERVICE_UNAVAILABLE,
                e.to_string(),
            ));
        }
    };
    // One version per language and channel (the links differ).
    let etag = format!(
        "{}-{}-{}\"",
        p.etag.trim_end_matches('"'),
        if choice.zh { "zh" } else { "en" },
        hex::encode(&sha2::Sha256::digest(visit_query.as_bytes())[..4])
    );
    let product_name = product_name(&p, choice.zh);
    let lot_path = path_segment(lot.as_str());
    let page = ProvenancePage {
        recalls: RecallBanner::for_lot(&p.recalls, choice.zh),
        zh: choice.zh,
        // From the canonical path: this page is cached and served for any stem before /01/.
        lang_switch: lang::switch_link(&link.uri(""), choice.zh),
        json_ld: script_json(&schema_org(&site.public_url, uri, &p, &product_name)),
        pickup_url: format!("/shop/{}/pickup?lot={lot_path}&{visit_query}", p.gtin),
        oembed_url: format!(
            "{}/oembed?url={}",
            site.public_url,
            percent_encoding::utf8_percent_encode(uri, percent_encoding::NON_ALPHANUMERIC)
        ),
        product_name,
        uri: uri.to_owned(),
        buy_url: buy_url(&p, lot).map(|_| format!("/go/{}?lot={lot_path}&{visit_query}", p.gtin)),
        lot_path,
        p: &p,
    };
    let body = page
        .render()
        .map_err(|e| html(StatusCode::INTERNAL_SERVER_ERROR, choice, Err(e)))?;
    Ok(CachedPage::new(etag, None, body, provenance_shows(&p)))
}

/// What a provenance page (or a lot's embed card) shows: the chains of the lot and its upstream,
/// and which stores hold the product.
pub fn provenance_shows(p: &Provenance) -> Vec<Shows> {
    p.lots
        .iter()
        .map(|(gtin, lot)| Shows::Lot(gtin.clone(), lot.clone()))
        .chain([Shows::Stock(p.gtin.to_string())])
        .collect()
}

/// The provenance page as HTML (gzip when accepted), or 304 when the client holds this version.
fn page_response(
    req: &HttpRequest,
    choice: &Choice,
    page: &CachedPage,
    linkset_link: &str,
) -> HttpResponse {
    let encoded = page.encoded_for(req);
    let etag = encoded.etag(&page.etag);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        HttpResponse::NotModified().finish()
    } else {
        encoded.respond(html_builder(StatusCode::OK, choice))
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::ETAG, etag.as_str()),
        (header::CACHE_CONTROL, super::RECALLABLE),
        (header::LINK, linkset_link),
    ] {
        if let Ok(value) = header::HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    response
}

/// The GTIN level: the product page, its linkset and its link types. Links naming a (22)
/// variant or a (235) extension, and lots the table does not know asked for a link type, walk
/// up to here.
async fn product_answer(
    req: &HttpRequest,
    pool: &DbPool,
    site: &web::Data<Site>,
    link: &DigitalLink,
    choice: &Choice,
    wants: Wants,
) -> HttpResponse {
    let uri = format!("{}/01/{}", site.public_url, link.gtin);
    let linkset_link = linkset_header(&uri);
    let gtin = link.gtin.clone();
    let loaded = crate::db::run(pool, move |conn| {
        let product = products::find(conn, gtin.as_str())?;
        let lots = lots::recent_of_gtin(conn, gtin.as_str(), 20)?;
        Ok((product, lots))
    })
    .await;
    let (product, lot_rows) = match loaded {
        Ok((Some(product), lots)) => (product, lots),
        Ok((None, _)) => {
            return refuse(
                req,
                choice,
                wants,
                StatusCode::NOT_FOUND,
                format!("GTIN {}", link.gtin),
            );
        }
        Err(e) => {
            return refuse(
                req,
                choice,
                wants,
                StatusCode::SERVICE_UNAVAILABLE,
                e.to_string(),
            );
        }
    };
    let links = ProductLinks::new(&site.public_url, &uri, &product);
    let link_type = link.link_type();
    match (link_type.as_deref(), wants) {
        (Some("linkset"), _) | (None, Wants::Linkset(_)) => {
            let content_type = match wants {
                Wants::Linkset(content_type) if link_type.is_none() => content_type,
                _ => LINKSET,
            };
            return with_cors(&mut HttpResponse::Ok())
                .content_type(content_type)
                .insert_header((header::LINK, with_context(&linkset_link)))
                .body(json!({"linkset": [links.linkset()]}).to_string());
        }
        (Some("gs1:masterData"), _) => return redirect(req, &links.master_data, &linkset_link),
        (Some("gs1:pip"), _) if product.listing_url.is_some() => {
            return redirect(
                req,
                product.listing_url.as_deref().unwrap_or(""),
                &linkset_link,
            );
        }
        (Some("gs1:defaultLink"), _) | (None, _) => {}
        (Some(other), _) => {
            let mut refused = refuse(
                req,
                choice,
                wants,
                StatusCode::NOT_FOUND,
                format!(
                    "no link of type {other} for {}; the linkset lists those there are",
                    link.uri("")
                ),
            );
            set_header(&mut refused, header::LINK, &linkset_link);
            return refused;
        }
    }
    let lots = lot_rows
        .into_iter()
        .map(|l| {
            let href = lot_path(&l.gtin, &l.lot);
            (l.lot, href)
        })
        .collect();
    let page = ProductPage {
        zh: choice.zh,
        lang_switch: lang::switch_link(&link.uri(""), choice.zh),
        product_name: if choice.zh {
            product
                .name_zh
                .clone()
                .unwrap_or_else(|| product.name.clone())
        } else {
            product.name.clone()
        },
        product: &product,
        uri,
        lots,
    };
    let mut response = html(StatusCode::OK, choice, page.render());
    set_header(&mut response, header::LINK, &linkset_link);
    response
}

fn product_name(p: &Provenance, zh: bool) -> String {
    match &p.product {
        Some(product) if zh => product
            .name_zh
            .clone()
            .unwrap_or_else(|| product.name.clone()),
        Some(product) => product.name.clone(),
        None => format!("GTIN {}", p.gtin),
    }
}

/// schema.org Product with its Digital Link, for search engines and link previews.
fn schema_org(public_url: &str, uri: &str, p: &Provenance, name: &str) -> serde_json::Value {
    let mut product = super::product_ld::ProductLd {
        public_url,
        url: uri,
        digital_link: uri,
        name,
        gtin: p.gtin.as_str(),
        product: p.product.as_ref(),
        brand: p.brand.as_ref().map(|b| b.name.as_str()),
        in_stores: !p.stores.is_empty(),
        recalled: !p.recalls_in_force().is_empty(),
    }
    .to_json();
    // schema.org has no recall property: each recall is a PropertyValue whose propertyID is our
    // documented term (docs/api.md), with the signed notice as its url.
    let recalls: Vec<serde_json::Value> = p
        .recalls
        .iter()
        .map(|r| {
            let n = &r.notice;
            let mut value = json!({
                "@type": "PropertyValue",
                "propertyID": RECALL_TERM,
                "name": format!("Class {} recall", n.class.map_or("", |c| c.as_str())),
                "value": if r.in_force() { "in force" } else { "lifted" },
                "validFrom": n.time.to_rfc3339(),
                "url": format!("{public_url}/api/v1/records/{}", r.id),
            });
            if let Some(reason) = n.reason.as_ref().or(n.reason_zh.as_ref()) {
                value["description"] = json!(reason);
            }
            if let Some(lifted) = &r.lifted {
                value["validThrough"] = json!(lifted.time.to_rfc3339());
            }
            value
        })
        .collect();
    if !recalls.is_empty() {
        product["additionalProperty"] = json!(recalls);
    }
    product
}

/// The term naming a recall in the page's JSON-LD.
pub const RECALL_TERM: &str = "https://truetrace.dev/ns/recall";

/// The links of a lot (GS1 link types as `https://gs1.org/voc/` URIs, hrefs absolute).
struct LotLinks {
    anchor: String,
    title: String,
    buy_url: Option<String>,
    master_data: String,
    recall_status: String,
    recall_title: String,
    product: Option<ProductLinks>,
}

impl LotLinks {
    fn new(public_url: &str, uri: &str, p: &Provenance, buy_url: Option<&str>) -> Self {
        let api = format!(
            "{public_url}/api/v1/lots/{}/{}",
            p.gtin,
            path_segment(p.lot.as_str())
        );
        let in_force = p.recalls_in_force();
        let recall_title = match in_force.first().and_then(|r| r.notice.class) {
            Some(class) => format!("Recall status: class {} recall in force", class.as_str()),
            None if in_force.is_empty() => "Recall status: no recall in force".to_owned(),
            None => "Recall status: recall in force".to_owned(),
        };
        let gtin_uri = format!("{public_url}/01/{}", p.gtin);
        Self {
            anchor: uri.to_owned(),
            title: format!("{}, lot {}", product_name(p, false), p.lot),
            buy_url: buy_url.map(str::to_owned),
            master_data: format!("{api}/upstream"),
            recall_status: format!("{api}/recalls"),
            recall_title,
            product: p
                .product
                .as_ref()
                .map(|row| ProductLinks::new(public_url, &gtin_uri, row)),
        }
    }

    /// RFC 9264 linkset: the lot's links, then those of its GTIN (each level up to the primary
    /// key, as the resolver standard asks).
    fn linkset(&self) -> serde_json::Value {
        let uri = &self.anchor;
        let mut links = json!({
            "anchor": uri,
            "itemDescription": self.title,
            // The default link carries no optional attribute (the resolver standard).
            "https://gs1.org/voc/defaultLink": [{"href": uri, "title": "Provenance"}],
            "https://gs1.org/voc/traceability": [{"href": uri, "title": "Provenance",
                "type": "text/html", "hreflang": ["zh-TW", "en"]}],
            "https://gs1.org/voc/epcis": [{"href": format!("{uri}?linkType=gs1:epcis"),
                "title": "EPCIS events", "type": "application/ld+json"}],
            "https://gs1.org/voc/masterData": [{"href": self.master_data, "title": "Records",
                "type": "application/json"}],
            "https://gs1.org/voc/recallStatus": [{"href": self.recall_status,
                "title": self.recall_title, "type": "application/json"}],
        });
        if let Some(url) = &self.buy_url {
            links["https://gs1.org/voc/pip"] =
                json!([{"href": url, "type": "text/html", "title": "Buy online"}]);
        }
        let mut levels = vec![links];
        levels.extend(self.product.as_ref().map(ProductLinks::linkset));
        json!({ "linkset": levels })
    }
}

/// The links of a GTIN: its product page, listing and product data.
struct ProductLinks {
    anchor: String,
    title: String,
    listing: Option<String>,
    master_data: String,
}

impl ProductLinks {
    fn new(public_url: &str, uri: &str, product: &ProductRow) -> Self {
        Self {
            anchor: uri.to_owned(),
            title: product.name.clone(),
            listing: product.listing_url.clone(),
            master_data: format!("{public_url}/api/v1/products/{}", product.gtin),
        }
    }

    /// One object of a linkset: this GTIN's links.
    fn linkset(&self) -> serde_json::Value {
        let uri = &self.anchor;
        let mut links = json!({
            "anchor": uri,
            "itemDescription": self.title,
            "https://gs1.org/voc/defaultLink": [{"href": uri, "title": "Product"}],
            "https://gs1.org/voc/masterData": [{"href": self.master_data, "title": "Product data",
                "type": "application/json"}],
        });
        if let Some(url) = &self.listing {
            links["https://gs1.org/voc/pip"] =
                json!([{"href": url, "type": "text/html", "title": "Buy online"}]);
        }
        links
    }
}

/// `/.well-known/gs1resolver`: what this resolver is and supports. GET and HEAD; OPTIONS for
/// CORS; anything else 405 with `Allow`.
pub async fn well_known(req: HttpRequest, site: web::Data<Site>) -> HttpResponse {
    if req.method() == Method::OPTIONS {
        return preflight();
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return with_cors(&mut HttpResponse::MethodNotAllowed())
            .insert_header((header::ALLOW, ALLOWED))
            .json(json!({"error": "method_not_allowed",
                "message": format!("/.well-known/gs1resolver answers {ALLOWED}, not {}", req.method())}));
    }
    with_cors(&mut HttpResponse::Ok()).json(json!({
        "name": "truetrace",
        "resolverRoot": site.public_url,
        "supportedPrimaryKeys": ["01"],
        "supportedLinkType": [{"namespace": "https://gs1.org/voc/", "prefix": "gs1:"}],
        "supportedQualifiers": ["22", "10", "21", "235"],
        "supportedLinkTypes": ["gs1:defaultLink", "gs1:traceability", "gs1:pip", "gs1:epcis", "gs1:masterData", "gs1:recallStatus", "linkset"],
        "linkTypeDefaultCanBeLinkset": false,
        "linkTypeDefaultCanBeAll": false,
        "supportedContextValuesEnumerated": ["zh-Hant", "en"],
    }))
}

#[derive(Template)]
#[template(path = "provenance.html")]
pub struct ProvenancePage<'a> {
    pub zh: bool,
    pub lang_switch: String,
    pub p: &'a Provenance,
    pub product_name: String,
    pub uri: String,
    pub lot_path: String,
    /// schema.org JSON-LD, with `<`, `>` and `&` escaped so no text can close the script element.
    pub json_ld: String,
    pub buy_url: Option<String>,
    pub pickup_url: String,
    pub oembed_url: String,
    pub recalls: Vec<RecallBanner>,
}

impl ProvenancePage<'_> {
    /// While a recall is in force the page offers no way to buy.
    pub fn recalled(&self) -> bool {
        self.recalls.iter().any(|r| r.in_force)
    }
}

#[derive(Template)]
#[template(path = "product.html")]
pub struct ProductPage<'a> {
    pub zh: bool,
    pub lang_switch: String,
    pub product: &'a ProductRow,
    pub product_name: String,
    pub uri: String,
    /// (lot code, its page's path)
    pub lots: Vec<(String, String)>,
}
