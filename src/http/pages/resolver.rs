//! The GS1 Digital Link resolver (GS1-Conformant Resolver 1.2): `/01/{gtin}[/10/{lot}]` answers
//! with the provenance page, a product page, an RFC 9264 linkset, or a redirect to the listing,
//! by `linkType` and content negotiation. Every answer carries a `Link` header to the linkset.

use super::filters;
use super::lang::{self, Choice};
use super::{error_page, html, html_builder, script_json};
use crate::db::DbPool;
use crate::db::rows::ProductRow;
use crate::db::{lots, products};
use crate::domain::LotCode;
use crate::domain::digital_link::{DigitalLink, lot_path, lot_uri, path_segment};
use crate::error::AppError;
use crate::http::page_cache::{CachedPage, Shows};
use crate::http::state::{PageSources, Site};
use crate::trace::provenance::{self, Provenance};
use actix_web::ResponseError as _;
use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use askama::Template;
use serde_json::json;
use sha2::Digest as _;
use std::sync::Arc;

const LINKSET: &str = "application/linkset+json";

fn wants(req: &HttpRequest, media: &str) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|m| m.trim().starts_with(media)))
}

fn with_cors(builder: &mut HttpResponseBuilder) -> &mut HttpResponseBuilder {
    builder
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::ACCESS_CONTROL_EXPOSE_HEADERS, "Link, ETag"))
}

/// Whether the request asks for a JSON answer (the EPCIS events or the linkset), read from the
/// raw query so that a link too broken to parse still gets its error in JSON.
fn wants_json(req: &HttpRequest) -> bool {
    let link_type = req.uri().query().and_then(|q| {
        q.split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(name, _)| *name == "linkType")
            .map(|(_, value)| value.replace("%3A", ":").replace("%3a", ":"))
    });
    match link_type.as_deref() {
        Some(value) => value == "gs1:epcis" || value == "linkset",
        None => wants(req, "application/ld+json") || wants(req, LINKSET),
    }
}

/// An error in the form the request asked for: the JSON body of the API for the EPCIS events and
/// the linkset, the error page otherwise.
fn failure(req: &HttpRequest, choice: &Choice, status: StatusCode, detail: String) -> HttpResponse {
    if !wants_json(req) {
        return error_page(req, choice, status, detail);
    }
    let error = match status {
        StatusCode::BAD_REQUEST => AppError::Malformed(detail),
        StatusCode::NOT_FOUND => AppError::NotFound(detail),
        _ => AppError::Unavailable(detail),
    };
    let mut response = error.error_response();
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    response
}

/// The entry point for every path holding `/01/`.
pub async fn resolve(req: HttpRequest, sources: PageSources) -> HttpResponse {
    if req.method() == Method::OPTIONS {
        return with_cors(&mut HttpResponse::NoContent())
            .insert_header((header::ALLOW, "GET, HEAD, OPTIONS"))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, HEAD, OPTIONS"))
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "Accept, Accept-Language",
            ))
            .finish();
    }
    let query = req.uri().query();
    let parsed = DigitalLink::parse(req.path(), query);
    let explicit = parsed
        .as_ref()
        .ok()
        .and_then(|l| l.param("lang").map(str::to_owned));
    let choice = lang::choose(&req, explicit.as_deref());
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return error_page(
            &req,
            &choice,
            StatusCode::METHOD_NOT_ALLOWED,
            "GET, HEAD or OPTIONS".into(),
        );
    }
    let link = match parsed {
        Ok(link) => link,
        Err(message) => return failure(&req, &choice, StatusCode::BAD_REQUEST, message),
    };
    match &link.lot {
        Some(lot) => lot_answer(&req, &sources, &link, lot.clone(), &choice).await,
        None => product_answer(&req, &sources.pool, &sources.site, &link, &choice).await,
    }
}

async fn lot_answer(
    req: &HttpRequest,
    sources: &PageSources,
    link: &DigitalLink,
    lot: LotCode,
    choice: &Choice,
) -> HttpResponse {
    let PageSources {
        pool,
        site,
        verdicts,
        pages,
        activity,
    } = sources;
    let uri = lot_uri(&site.public_url, &link.gtin, &lot);
    let linkset_link = format!("<{uri}?linkType=linkset>; rel=\"linkset\"; type=\"{LINKSET}\"");
    let wants_page = match link.param("linkType") {
        Some("linkset" | "gs1:epcis" | "gs1:pip") => false,
        Some(_) => true,
        None => !wants(req, LINKSET) && !wants(req, "application/ld+json"),
    };
    // The channel the visitor came by: it is counted, and carried in the page's links.
    let visit = super::shop::Visit {
        ch: link.param("src").map(str::to_owned),
        store: link.param("store").map(str::to_owned),
        lot: None,
    };
    let visit_query = visit.query();
    if wants_page && req.method() == Method::GET {
        visit.count(
            activity,
            crate::omo::activity::Kind::Scan,
            link.gtin.as_str(),
            lot.as_str(),
        );
    }
    // The canonical path, never the request's: a stem before /01/ must not get a page of its own
    // (nor put its own links into the one everybody is served).
    let cache_key = (link.uri(""), visit_query.clone(), choice.zh);
    // Taken before loading, so that a record stored meanwhile on what the page shows makes this
    // render stale at once.
    let ticket = pages.ticket();
    if wants_page && let Some(cached) = pages.get(&cache_key) {
        return page_response(req, choice, &cached.etag, cached.body, &linkset_link);
    }
    let (gtin, code) = (link.gtin.clone(), lot.clone());
    let verdicts = verdicts.clone();
    let loaded = crate::db::run(pool, move |conn| {
        Ok(provenance::load(conn, &gtin, &code, &verdicts)?)
    })
    .await;
    let p = match loaded {
        Ok(Some(p)) => p,
        Ok(None) => {
            let detail = format!("GTIN {} lot {}", link.gtin, lot);
            let mut page = failure(req, choice, StatusCode::NOT_FOUND, detail);
            page.headers_mut().insert(
                header::LINK,
                header::HeaderValue::from_str(&linkset_link)
                    .unwrap_or(header::HeaderValue::from_static("")),
            );
            return page;
        }
        Err(e) => return failure(req, choice, StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let listing = p
        .product
        .as_ref()
        .and_then(|product| product.listing_url.clone());
    let buy_url = listing.map(|url| {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!(
            "{url}{sep}gtin={}&lot={}&utm_source=truetrace&utm_medium=qr",
            p.gtin,
            path_segment(lot.as_str())
        )
    });
    let link_type = link.param("linkType");
    if link_type == Some("linkset") || (link_type.is_none() && wants(req, LINKSET)) {
        let body = linkset(&uri, &p, buy_url.as_deref());
        return with_cors(&mut HttpResponse::Ok())
            .content_type(LINKSET)
            .insert_header((header::LINK, linkset_link))
            .body(body.to_string());
    }
    if link_type == Some("gs1:epcis") || (link_type.is_none() && wants(req, "application/ld+json"))
    {
        let (gtin, code, public_url) = (link.gtin.clone(), lot.clone(), site.public_url.clone());
        let events = crate::db::run(pool, move |conn| {
            Ok(crate::trace::epcis::lot_document(
                conn,
                gtin.as_str(),
                code.as_str(),
                &public_url,
            )?)
        })
        .await;
        return match events {
            Ok(document) => with_cors(&mut HttpResponse::Ok())
                .content_type("application/ld+json")
                .insert_header((header::LINK, linkset_link))
                .body(document.to_string()),
            Err(e) => e.error_response(),
        };
    }
    if link_type == Some("gs1:pip") {
        if buy_url.is_some() {
            visit.count(
                activity,
                crate::omo::activity::Kind::ListingClick,
                link.gtin.as_str(),
                lot.as_str(),
            );
        }
        return match buy_url {
            Some(url) => HttpResponse::TemporaryRedirect()
                .insert_header((header::LOCATION, url))
                .insert_header((header::LINK, linkset_link))
                .finish(),
            None => error_page(
                req,
                choice,
                StatusCode::NOT_FOUND,
                "no online listing for this product".into(),
            ),
        };
    }
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
        zh: choice.zh,
        // From the canonical path: this page is cached and served for any stem before /01/.
        lang_switch: lang::switch_link(&link.uri(""), choice.zh),
        json_ld: script_json(&schema_org(&uri, &p, &product_name)),
        pickup_url: format!(
            "/shop/{}/pickup?lot={}&{visit_query}",
            p.gtin,
            path_segment(lot.as_str())
        ),
        oembed_url: format!(
            "{}/oembed?url={}",
            site.public_url,
            percent_encoding::utf8_percent_encode(&uri, percent_encoding::NON_ALPHANUMERIC)
        ),
        product_name,
        uri,
        lot_path,
        buy_url: buy_url.as_ref().map(|_| {
            format!(
                "/go/{}?lot={}&{visit_query}",
                p.gtin,
                path_segment(lot.as_str())
            )
        }),
        p: &p,
    };
    let body = match page.render() {
        Ok(body) => web::Bytes::from(body),
        Err(e) => return html(StatusCode::INTERNAL_SERVER_ERROR, choice, Err(e)),
    };
    let cached = CachedPage {
        rendered: std::time::Instant::now(),
        etag: etag.clone(),
        csp: None,
        body: body.clone(),
        shows: Arc::new(provenance_shows(&p)),
    };
    pages.put(cache_key, cached, ticket);
    page_response(req, choice, &etag, body, &linkset_link)
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

/// The provenance page as HTML, or 304 when the client holds this version.
fn page_response(
    req: &HttpRequest,
    choice: &Choice,
    etag: &str,
    body: web::Bytes,
    linkset_link: &str,
) -> HttpResponse {
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        HttpResponse::NotModified().finish()
    } else {
        html_builder(StatusCode::OK, choice).body(body)
    };
    let headers = response.headers_mut();
    for (name, value) in [
        (header::ETAG, etag),
        (
            header::CACHE_CONTROL,
            "public, max-age=60, stale-while-revalidate=300",
        ),
        (header::LINK, linkset_link),
    ] {
        if let Ok(value) = header::HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    response
}

async fn product_answer(
    req: &HttpRequest,
    pool: &DbPool,
    site: &web::Data<Site>,
    link: &DigitalLink,
    choice: &Choice,
) -> HttpResponse {
    let uri = link.uri(&site.public_url);
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
            return error_page(
                req,
                choice,
                StatusCode::NOT_FOUND,
                format!("GTIN {}", link.gtin),
            );
        }
        Err(e) => return error_page(req, choice, StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    if link.param("linkType") == Some("gs1:pip")
        && let Some(url) = &product.listing_url
    {
        return HttpResponse::TemporaryRedirect()
            .insert_header((header::LOCATION, url.clone()))
            .finish();
    }
    let lots = lot_rows
        .into_iter()
        .map(|l| {
            let href = lot_path(&l.gtin, &l.lot);
            (l.lot, href)
        })
        .collect();
    let linkset_link = format!("<{uri}?linkType=linkset>; rel=\"linkset\"; type=\"{LINKSET}\"");
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
    if let Ok(value) = header::HeaderValue::from_str(&linkset_link) {
        response.headers_mut().insert(header::LINK, value);
    }
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
fn schema_org(uri: &str, p: &Provenance, name: &str) -> serde_json::Value {
    let mut product = json!({
        "@context": "https://schema.org",
        "@type": "Product",
        "@id": uri,
        "name": name,
        "gtin": p.gtin.as_str(),
        "hasGS1DigitalLink": uri,
        "url": uri,
    });
    if let Some(row) = &p.product {
        if let Some(d) = &row.description {
            product["description"] = json!(d);
        }
        if let Some(img) = &row.image_url {
            product["image"] = json!(img);
        }
        if let (Some(price), Some(listing)) = (&row.price, &row.listing_url) {
            product["offers"] = json!({"@type": "Offer", "price": price,
                "priceCurrency": row.currency.as_deref().unwrap_or("TWD"), "url": listing});
        }
    }
    product
}

/// RFC 9264 linkset of every link the resolver has for the lot.
fn linkset(uri: &str, p: &Provenance, buy_url: Option<&str>) -> serde_json::Value {
    let page = json!([{"href": uri, "type": "text/html", "hreflang": ["zh-Hant", "en"], "title": "Provenance"}]);
    let mut links = json!({
        "anchor": uri,
        "https://gs1.org/voc/defaultLink": page,
        "https://gs1.org/voc/traceability": page,
    });
    if let Some(url) = buy_url {
        links["https://gs1.org/voc/pip"] =
            json!([{"href": url, "type": "text/html", "title": "Buy online"}]);
    }
    let api = format!(
        "/api/v1/lots/{}/{}/upstream",
        p.gtin,
        path_segment(p.lot.as_str())
    );
    links["https://gs1.org/voc/masterData"] =
        json!([{"href": api, "type": "application/json", "title": "Records"}]);
    links["https://gs1.org/voc/epcis"] = json!([{"href": format!("{uri}?linkType=gs1:epcis"),
        "type": "application/ld+json", "title": "EPCIS 2.0 events"}]);
    json!({"linkset": [links]})
}

/// `/.well-known/gs1resolver`: what this resolver is and supports.
pub async fn well_known(site: web::Data<Site>) -> HttpResponse {
    with_cors(&mut HttpResponse::Ok()).json(json!({
        "name": "truetrace",
        "resolverRoot": site.public_url,
        "supportedPrimaryKeys": ["01"],
        "supportedQualifiers": ["10", "21"],
        "supportedLinkTypes": ["gs1:defaultLink", "gs1:traceability", "gs1:pip", "gs1:epcis", "gs1:masterData", "linkset"],
        "linkTypeDefaultCanBeLinkset": false,
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
