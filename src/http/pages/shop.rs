//! The storefront: `/shop` lists every product with its price and a provenance summary,
//! `/shop/{gtin}` shows one with the stores that have it, `/stores/{id}` a store's stock, and
//! `/go/{gtin}` counts a click to the online listing before sending the visitor there.

use super::filters;
use super::recall::{RecallBanner, for_lots};
use super::{Page, PageError, html_builder, names, path_gtin};
use crate::db::DbPool;
use crate::db::rows::{OrgRow, ProductRow};
use crate::db::{DbConn, lots, orgs, products};
use crate::domain::digital_link::{lot_path, lot_uri, path_segment};
use crate::domain::{Gtin, LotCode, OrgId};
use crate::error::AppError;
use crate::http::page_cache::PageCache;
use crate::http::page_cache::{CachedPage, Shows};
use crate::omo::activity::Activity;
use crate::omo::activity::{Channel, Kind};
use crate::omo::stock;
use crate::trace::closure::Key;
use crate::trace::provenance::{self, OrgView, VerdictCache};
use crate::trace::recall::Covered;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Where a visitor came from, carried through the shop's links so that a reservation or a
/// click is counted for the channel that brought it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Visit {
    #[serde(default)]
    pub ch: Option<String>,
    #[serde(default)]
    pub store: Option<String>,
    #[serde(default)]
    pub lot: Option<String>,
}

impl Visit {
    pub fn channel(&self) -> Channel {
        Channel::of_visit(self.ch.as_deref(), self.store())
    }

    /// The store named by a shelf tag, when it is well-formed.
    pub fn store(&self) -> Option<&str> {
        self.store.as_deref().filter(|s| OrgId::parse(s).is_ok())
    }

    /// Counts this visit: by its channel, and for the store its `store=` names (kept only if
    /// that store received what was visited; see [`crate::activity`]).
    pub fn count(&self, activity: &Activity, kind: Kind, gtin: &str, lot: &str) {
        activity.record_visit(kind, self.ch.as_deref(), self.store(), gtin, lot);
    }

    /// The query to carry on, normalized (an unknown channel is dropped).
    pub fn query(&self) -> String {
        let mut q = format!("ch={}", self.channel().as_str());
        if let Some(store) = self.store() {
            q.push_str(&format!("&store={store}"));
        }
        q
    }
}

pub fn price_line(product: &ProductRow) -> Option<String> {
    let price = product.price.as_deref()?;
    Some(match product.currency.as_deref() {
        Some("TWD") | None => format!("NT${price}"),
        Some(currency) => format!("{price} {currency}"),
    })
}

/// A product as the shop shows it: the provenance summary comes from its most recent lot.
/// Whether the shop offers a product to consumers: it has a price or an online listing, or a
/// store holds some. Intermediate goods (paddy, lettuce from the field) have none of these.
fn offered(product: &ProductRow, in_stores: bool) -> bool {
    product.price.is_some() || product.listing_url.is_some() || in_stores
}

/// Stock of lots under a recall in force is not offered: the lines returned leave it out.
fn shop_item(
    conn: &mut DbConn,
    product: &ProductRow,
    verdicts: &VerdictCache,
    zh: bool,
    visit: &Visit,
    covered: &Covered,
) -> Result<(ShopItem, Vec<stock::StockLine>), AppError> {
    let latest = lots::recent_of_gtin(conn, &product.gtin, 1)?
        .into_iter()
        .next();
    let mut origins = Vec::new();
    let mut verified = None;
    let mut latest_lot = None;
    if let Some(lot) = latest
        && let (Ok(gtin), Ok(code)) = (Gtin::parse(&lot.gtin), LotCode::parse(&lot.lot))
        && let Some(p) = provenance::load(conn, &gtin, &code, verdicts)?
    {
        origins = p.origins.clone();
        verified = Some(p.broken == 0);
        latest_lot = Some((
            lot.lot.clone(),
            format!("{}?{}", lot_uri("", &gtin, &code), visit.query()),
        ));
    }
    let (recalled, lines): (Vec<_>, Vec<_>) = stock::of_product(conn, &product.gtin)?
        .into_iter()
        .partition(|l| covered.covers(&l.lot.gtin, &l.lot.lot));
    // The banner names the covered lots of this product that stores hold, or else its latest.
    let mut shown: Vec<Key> = recalled
        .iter()
        .map(|l| (l.lot.gtin.clone(), l.lot.lot.clone()))
        .collect();
    if let Some((lot, _)) = &latest_lot {
        shown.push((product.gtin.clone(), lot.clone()));
    }
    shown.dedup();
    let recalls = for_lots(covered, &shown, zh);
    let mut stores: Vec<&str> = lines.iter().map(|l| l.store.id.as_str()).collect();
    stores.dedup();
    let (name, other_name) = names(product, zh);
    let item = ShopItem {
        gtin: product.gtin.clone(),
        name,
        other_name,
        description: product.description.clone(),
        image: product.image_url.clone(),
        price: price_line(product),
        origins,
        verified,
        latest_lot,
        store_count: stores.len(),
        buy_href: product
            .listing_url
            .as_ref()
            .map(|_| format!("/go/{}?{}", product.gtin, visit.query())),
        href: format!("/shop/{}?{}", product.gtin, visit.query()),
        pickup_href: format!("/shop/{}/pickup?{}", product.gtin, visit.query()),
        recalls,
    };
    Ok((item, lines))
}

/// Groups stock lines by store, with what each holds in total when every lot is counted.
pub fn by_store(
    lines: &[stock::StockLine],
    gtin: &str,
    visit: &Visit,
    zh: bool,
) -> Vec<StoreStock> {
    let mut grouped: BTreeMap<String, (OrgRow, Vec<&stock::StockLine>)> = BTreeMap::new();
    for line in lines {
        grouped
            .entry(line.store.name.clone())
            .or_insert_with(|| (line.store.clone(), Vec::new()))
            .1
            .push(line);
    }
    grouped
        .into_values()
        .map(|(store, lines)| {
            let units: Option<i128> = lines.iter().map(|l| l.holding.on_hand).sum();
            let unit = lines.iter().find_map(|l| l.holding.unit.clone());
            let same_unit = lines.iter().all(|l| l.holding.unit == unit);
            StoreStock {
                on_hand: units.filter(|_| same_unit).map(|u| {
                    let amount = crate::domain::quantity::format_micro(u);
                    match &unit {
                        Some(unit) => crate::domain::quantity::in_words(&amount, unit, zh),
                        None => amount,
                    }
                }),
                lots: lines.iter().map(|l| l.lot.lot.clone()).collect(),
                href: format!("/stores/{}", store.id),
                pickup_href: format!(
                    "/shop/{gtin}/pickup?ch={}&store={}",
                    visit.channel().as_str(),
                    store.id
                ),
                store: OrgView::from(&store),
            }
        })
        .collect()
}

/// A rendered page from the shop's cache, or rendered now and cached.
async fn cached(
    page: &Page,
    pool: &DbPool,
    pages: &web::Data<PageCache>,
    key: (String, String, bool),
    render: impl FnOnce(&mut DbConn) -> Result<String, AppError> + Send + 'static,
) -> Result<HttpResponse, PageError> {
    let Page { req, choice, .. } = page;
    let render = async {
        let body = crate::db::run(pool, render).await?;
        // Listings of products, stores and their recent lots: any record may change them.
        Ok(CachedPage::new(
            String::new(),
            None,
            body,
            vec![Shows::Ledger],
        ))
    };
    let cached = pages
        .get_or_render(key, render)
        .await
        .map_err(page.fail())?;
    let mut builder = html_builder(StatusCode::OK, choice);
    builder.insert_header((header::CACHE_CONTROL, super::RECALLABLE));
    Ok(cached.encoded_for(req).respond(builder))
}

pub async fn list(
    page: Page,
    pool: web::Data<DbPool>,
    verdicts: web::Data<VerdictCache>,
    pages: web::Data<PageCache>,
    visit: web::Query<Visit>,
) -> Result<HttpResponse, PageError> {
    let Page { choice, .. } = &page;
    let visit = visit.into_inner();
    let key = ("/shop".to_owned(), visit.query(), choice.zh);
    let (zh, switch) = (choice.zh, super::lang::switch_link("/shop", choice.zh));
    let verdicts = verdicts.clone();
    cached(&page, &pool, &pages, key, move |conn| {
        let covered = Covered::load(conn)?;
        let mut items = Vec::new();
        for product in products::all(conn)? {
            let (item, _) = shop_item(conn, &product, &verdicts, zh, &visit, &covered)?;
            if offered(&product, item.store_count > 0 || !item.recalls.is_empty()) {
                items.push(item);
            }
        }
        ShopPage {
            zh,
            lang_switch: switch,
            items,
        }
        .render()
        .map_err(AppError::internal)
    })
    .await
}

pub async fn product(
    page: Page,
    pool: web::Data<DbPool>,
    verdicts: web::Data<VerdictCache>,
    pages: web::Data<PageCache>,
    gtin: web::Path<String>,
    visit: web::Query<Visit>,
) -> Result<HttpResponse, PageError> {
    let Page { choice, site, .. } = &page;
    let gtin = path_gtin(&gtin).map_err(page.fail())?;
    let visit = visit.into_inner();
    let key = (format!("/shop/{gtin}"), visit.query(), choice.zh);
    let public_url = site.public_url.clone();
    // From the canonical path, like the key: the page is cached for every spelling of the GTIN.
    let (zh, switch) = (choice.zh, super::lang::switch_link(&key.0, choice.zh));
    let verdicts = verdicts.clone();
    cached(&page, &pool, &pages, key, move |conn| {
        let product =
            products::find(conn, gtin.as_str())?.ok_or_else(|| super::no_product(&gtin, zh))?;
        let covered = Covered::load(conn)?;
        let (item, lines) = shop_item(conn, &product, &verdicts, zh, &visit, &covered)?;
        if !offered(&product, !lines.is_empty() || !item.recalls.is_empty()) {
            let name = names(&product, zh).0;
            return Err(AppError::NotFound(if zh {
                format!("{name}不直接販售給消費者：它會再製成其他產品")
            } else {
                format!("{name} is not sold to consumers: it is made into other products")
            }));
        }
        let stores = by_store(&lines, gtin.as_str(), &visit, zh);
        let lots = lots::recent_of_gtin(conn, gtin.as_str(), 10)?
            .into_iter()
            .map(|l| {
                let href = format!("{}?{}", lot_path(&l.gtin, &l.lot), visit.query());
                (l.lot, href)
            })
            .collect();
        let brand = match &product.brand_org {
            Some(id) => orgs::find(conn, id)?.map(|o| o.name),
            None => None,
        };
        let url = format!("{public_url}/shop/{gtin}");
        let json_ld = super::product_ld::ProductLd {
            public_url: &public_url,
            url: &url,
            digital_link: &format!("{public_url}/01/{gtin}"),
            name: &names(&product, zh).0,
            gtin: gtin.as_str(),
            product: Some(&product),
            brand: brand.as_deref(),
            // Stock under a recall is not in `lines`.
            in_stores: !lines.is_empty(),
            recalled: false,
        }
        .to_json();
        ShopProductPage {
            zh,
            lang_switch: switch,
            json_ld: super::script_json(&json_ld),
            recalls: item.recalls.clone(),
            item,
            stores,
            lots,
        }
        .render()
        .map_err(AppError::internal)
    })
    .await
}

/// `/stores/{id}`: what a store has in stock, from its signed records.
pub async fn store(
    page: Page,
    pool: web::Data<DbPool>,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let Page { req, choice, .. } = &page;
    let (zh, switch) = (choice.zh, super::lang::switch_link(req.path(), choice.zh));
    let id = id.into_inner();
    let rendered = crate::db::run(&pool, move |conn| {
        let store = crate::omo::pickup::find_store(conn, &id).map_err(|_| {
            AppError::NotFound(if zh {
                format!("沒有代號為 {id} 的門市")
            } else {
                format!("no store {id}")
            })
        })?;
        let lines = stock::of_store(conn, &store)?;
        let covered = Covered::load(conn)?;
        let shown: Vec<Key> = lines
            .iter()
            .map(|l| (l.lot.gtin.clone(), l.lot.lot.clone()))
            .collect();
        let recalls = for_lots(&covered, &shown, zh);
        let mut by_gtin: std::collections::HashMap<String, ProductRow> = Default::default();
        let mut out = Vec::new();
        for line in lines {
            if !by_gtin.contains_key(&line.lot.gtin)
                && let Some(p) = products::find(conn, &line.lot.gtin)?
            {
                by_gtin.insert(p.gtin.clone(), p);
            }
            let product = by_gtin.get(&line.lot.gtin);
            let link = lot_path(&line.lot.gtin, &line.lot.lot);
            out.push(StoreLine {
                recalled: covered.covers(&line.lot.gtin, &line.lot.lot),
                product_name: product.map_or_else(|| line.lot.gtin.clone(), |p| names(p, zh).0),
                gtin: line.lot.gtin.clone(),
                lot: line.lot.lot.clone(),
                href: format!("{link}?store={}", store.id),
                on_hand: line.holding.describe(zh),
                since: line.holding.since.format("%Y-%m-%d").to_string(),
                shelf_tag: format!("/labels{link}?store={}", store.id),
                pickup_href: format!(
                    "/shop/{}/pickup?ch=shelf&store={}&lot={}",
                    line.lot.gtin,
                    store.id,
                    path_segment(&line.lot.lot)
                ),
            });
        }
        StorePage {
            zh,
            lang_switch: switch,
            store: OrgView::from(&store),
            gln: store.gln.clone(),
            lines: out,
            recalls,
        }
        .render()
        .map_err(AppError::internal)
    })
    .await
    .map_err(page.fail())?;
    Ok(html_builder(StatusCode::OK, choice).body(rendered))
}

/// `/go/{gtin}`: counts a click to the product's online listing and redirects there, with the
/// lot and the channel passed on as UTM parameters.
pub async fn go(
    page: Page,
    pool: web::Data<DbPool>,
    activity: web::Data<Activity>,
    gtin: web::Path<String>,
    visit: web::Query<Visit>,
) -> Result<HttpResponse, PageError> {
    let fail = page.fail();
    let zh = page.choice.zh;
    let gtin = path_gtin(&gtin).map_err(&fail)?;
    let visit = visit.into_inner();
    let lot = visit
        .lot
        .as_deref()
        .filter(|l| LotCode::parse(l).is_ok())
        .map(str::to_owned);
    let (g, l) = (gtin.clone(), lot.clone());
    let (product, lot_exists) = crate::db::run(&pool, move |conn| {
        let product = products::find(conn, g.as_str())?.ok_or_else(|| super::no_product(&g, zh))?;
        let lot_exists = match &l {
            Some(l) => lots::find(conn, g.as_str(), l)?.is_some(),
            None => false,
        };
        Ok((product, lot_exists))
    })
    .await
    .map_err(&fail)?;
    let Some(url) = product.listing_url else {
        return Err(fail(AppError::NotFound(
            "this product has no online listing yet".into(),
        )));
    };
    let lot = lot.filter(|_| lot_exists);
    let channel = visit.channel();
    visit.count(
        &activity,
        Kind::ListingClick,
        gtin.as_str(),
        lot.as_deref().unwrap_or(""),
    );
    let sep = if url.contains('?') { '&' } else { '?' };
    let mut location = format!(
        "{url}{sep}gtin={gtin}&utm_source=truetrace&utm_medium={}",
        channel.as_str()
    );
    if let Some(lot) = &lot {
        location.push_str(&format!("&lot={}", path_segment(lot)));
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// A product as the shop lists it.
#[derive(Debug, Clone)]
pub struct ShopItem {
    pub gtin: String,
    pub name: String,
    /// The name in the other language, when there is one.
    pub other_name: Option<String>,
    pub description: Option<String>,
    pub image: Option<String>,
    pub price: Option<String>,
    /// The farms its latest lot came from.
    pub origins: Vec<OrgView>,
    /// Whether every record of its latest lot verifies; None when it has no lot yet.
    pub verified: Option<bool>,
    /// (lot code, provenance page) of its latest lot.
    pub latest_lot: Option<(String, String)>,
    pub store_count: usize,
    pub buy_href: Option<String>,
    pub href: String,
    pub pickup_href: String,
    /// Recalls in force on its lots.
    pub recalls: Vec<RecallBanner>,
}

#[derive(Template)]
#[template(path = "shop.html")]
pub struct ShopPage {
    pub zh: bool,
    pub lang_switch: String,
    pub items: Vec<ShopItem>,
}

/// One store's stock of a product.
#[derive(Debug, Clone)]
pub struct StoreStock {
    pub store: OrgView,
    pub on_hand: Option<String>,
    pub lots: Vec<String>,
    pub href: String,
    pub pickup_href: String,
}

#[derive(Template)]
#[template(path = "shop_product.html")]
pub struct ShopProductPage {
    /// schema.org Product JSON-LD (`product_ld`).
    pub json_ld: String,
    pub zh: bool,
    pub lang_switch: String,
    pub item: ShopItem,
    pub stores: Vec<StoreStock>,
    /// (lot code, provenance page)
    pub lots: Vec<(String, String)>,
    pub recalls: Vec<RecallBanner>,
}

pub struct StoreLine {
    /// Under a recall in force: to be pulled, not reserved.
    pub recalled: bool,
    pub product_name: String,
    pub gtin: String,
    pub lot: String,
    pub href: String,
    pub on_hand: Option<String>,
    pub since: String,
    pub shelf_tag: String,
    pub pickup_href: String,
}

#[derive(Template)]
#[template(path = "store.html")]
pub struct StorePage {
    pub zh: bool,
    pub lang_switch: String,
    pub store: OrgView,
    pub gln: Option<String>,
    pub lines: Vec<StoreLine>,
    pub recalls: Vec<RecallBanner>,
}
