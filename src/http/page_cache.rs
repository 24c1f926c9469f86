//! Rendered pages kept for a few seconds, so that a burst of scans of one label renders it once.
//!
//! A page says what it shows (`Shows`): the lots whose chains it draws, the products whose store
//! stock it lists, or simply the ledger. After each commit the ledger says what it changed
//! (`ledger::ingest::Committed`), and only the pages that show one of those are dropped: a harvest
//! on one farm does not drop the page of a lot it has nothing to do with. Every page also expires
//! after `PAGE_TTL`, which bounds staleness when other servers write to the same database.

use crate::ledger::ingest::Committed;
use actix_web::http::header::{self, AcceptEncoding, Encoding, Header as _};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Rendered pages by (path, query, language).
#[derive(Default)]
pub struct PageCache {
    state: Mutex<State>,
    /// One render at a time per page: requests that miss together wait for the first one's
    /// render instead of each rendering the same page (measured on /shop: p99 800 ms without).
    renders: Mutex<HashMap<PageKey, Arc<tokio::sync::Mutex<()>>>>,
}

pub type PageKey = (String, String, bool);

/// What a page shows, so that a record changes only the pages that show what it changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Shows {
    /// A lot's chain (GTIN, lot code): any record naming the lot changes it.
    Lot(String, String),
    /// Which stores hold a product, and how much (by GTIN).
    Stock(String),
    /// Anything in the ledger: any record changes it (listings of recent lots, say).
    Ledger,
}

#[derive(Clone)]
pub struct CachedPage {
    pub rendered: std::time::Instant,
    pub etag: String,
    /// The embed card's `frame-ancestors` policy, which depends on the product's brand.
    pub csp: Option<String>,
    pub body: Bytes,
    /// The body gzip-compressed once, at render: a phone on a weak signal gets a fifth of the
    /// bytes, and no request pays for compressing them. `None` if compressing failed.
    pub gzip: Option<Bytes>,
    pub shows: Arc<Vec<Shows>>,
}

impl CachedPage {
    /// A page rendered now, with its compressed copy.
    pub fn new(etag: String, csp: Option<String>, body: String, shows: Vec<Shows>) -> Self {
        let gzip = gzipped(body.as_bytes())
            .inspect_err(|e| tracing::warn!(error = %e, "cannot gzip a page"))
            .ok();
        Self {
            rendered: std::time::Instant::now(),
            etag,
            csp,
            body: Bytes::from(body),
            gzip,
            shows: Arc::new(shows),
        }
    }

    /// The page as `req` accepts it: gzip when its `Accept-Encoding` allows, else as rendered.
    pub fn encoded_for(&self, req: &HttpRequest) -> Encoded {
        let accepts_gzip = AcceptEncoding::parse(req).is_ok_and(|accepted| {
            accepted.negotiate([Encoding::gzip(), Encoding::identity()].iter())
                == Some(Encoding::gzip())
        });
        match &self.gzip {
            Some(gzip) if accepts_gzip => Encoded {
                body: gzip.clone(),
                gzip: true,
            },
            _ => Encoded {
                body: self.body.clone(),
                gzip: false,
            },
        }
    }
}

/// A cached page's body in the encoding chosen for one request.
pub struct Encoded {
    pub body: Bytes,
    pub gzip: bool,
}

impl Encoded {
    /// A strong ETag names one representation: the gzip copy's differs from the page's.
    pub fn etag(&self, page_etag: &str) -> String {
        if self.gzip {
            format!("{}-gzip\"", page_etag.trim_end_matches('"'))
        } else {
            page_etag.to_owned()
        }
    }

    /// The answer with this body, its `Content-Encoding`, and `Vary: Accept-Encoding` beside the
    /// builder's own `Vary`.
    pub fn respond(self, mut builder: HttpResponseBuilder) -> HttpResponse {
        if self.gzip {
            builder.insert_header((header::CONTENT_ENCODING, "gzip"));
        }
        builder
            .append_header((header::VARY, "Accept-Encoding"))
            .body(self.body)
    }
}

fn gzipped(body: &[u8]) -> std::io::Result<Bytes> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::default(),
    );
    encoder.write_all(body)?;
    Ok(Bytes::from(encoder.finish()?))
}

/// When a render began, in changes seen: a page whose subject changed after its render began
/// is not kept (it may have read the state before the change).
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

#[derive(Default)]
struct State {
    pages: HashMap<PageKey, CachedPage>,
    /// The pages showing each subject (may name pages since dropped or rendered anew).
    showing: HashMap<Shows, HashSet<PageKey>>,
    /// Changes seen so far, and the change that last touched each subject since `horizon`.
    changes: u64,
    changed_at: HashMap<Shows, u64>,
    /// Renders that began before this change are not kept (`changed_at` forgot what came before).
    horizon: u64,
    /// Entries added to `showing` since it was last pruned of pages no longer kept.
    indexed: usize,
}

pub const PAGE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
const PAGE_CACHE_MAX: usize = 20_000;
/// Subjects remembered as changed; past it, they are forgotten and renders in flight not kept.
const CHANGED_MAX: usize = 100_000;
/// Entries `showing` may gain before it is pruned: pages dropped by one subject stay listed under
/// their others until then.
const INDEXED_MAX: usize = 8 * PAGE_CACHE_MAX;

impl PageCache {
    /// Taken before reading what a page shows.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.state.lock().map_or(u64::MAX, |s| s.changes))
    }

    pub fn get(&self, key: &PageKey) -> Option<CachedPage> {
        let state = self.state.lock().ok()?;
        state
            .pages
            .get(key)
            .filter(|page| page.rendered.elapsed() < PAGE_TTL)
            .cloned()
    }

    /// Forgets every page (after a change that is not a record, such as a brand's embed origins).
    pub fn clear(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.pages.clear();
            state.showing.clear();
        }
    }

    /// A commit changed these lots and stocks: the pages showing them, or the ledger, go.
    pub fn changed(&self, committed: &Committed) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let subjects = committed
            .lots
            .iter()
            .map(|k| Shows::Lot(k.gtin.to_string(), k.lot.to_string()))
            .chain(committed.stock.iter().map(|g| Shows::Stock(g.to_string())))
            .chain([Shows::Ledger]);
        state.changes += 1;
        let now = state.changes;
        if state.changed_at.len() >= CHANGED_MAX {
            state.changed_at.clear();
            state.horizon = now;
        }
        for subject in subjects {
            if let Some(keys) = state.showing.remove(&subject) {
                for key in keys {
                    state.pages.remove(&key);
                }
            }
            state.changed_at.insert(subject, now);
        }
    }

    /// The cached page, or the one `render` makes (and caches); concurrent misses of one key
    /// render it once.
    pub async fn get_or_render<E>(
        &self,
        key: PageKey,
        render: impl std::future::Future<Output = Result<CachedPage, E>>,
    ) -> Result<CachedPage, E> {
        if let Some(page) = self.get(&key) {
            return Ok(page);
        }
        let gate = match self.renders.lock() {
            Ok(mut renders) => {
                if renders.len() >= PAGE_CACHE_MAX {
                    renders.clear();
                }
                renders.entry(key.clone()).or_default().clone()
            }
            Err(_) => Arc::default(),
        };
        let _turn = gate.lock().await;
        if let Some(page) = self.get(&key) {
            return Ok(page);
        }
        let ticket = self.ticket();
        let page = render.await?;
        self.put(key, page.clone(), ticket);
        Ok(page)
    }

    /// Keeps a page rendered since `ticket`, unless what it shows changed meanwhile.
    pub fn put(&self, key: PageKey, page: CachedPage, ticket: Ticket) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        // Every change marks `Shows::Ledger`, so a page of the whole ledger is stale after any.
        let changed_since = |s: &Shows| state.changed_at.get(s).is_some_and(|at| *at > ticket.0);
        let stale = ticket.0 < state.horizon || page.shows.iter().any(changed_since);
        if stale {
            return;
        }
        if state.pages.len() >= PAGE_CACHE_MAX || state.indexed >= INDEXED_MAX {
            state.pages.retain(|_, p| p.rendered.elapsed() < PAGE_TTL);
            if state.pages.len() >= PAGE_CACHE_MAX {
                state.pages.clear();
            }
            let State {
                pages,
                showing,
                indexed,
                ..
            } = &mut *state;
            showing.retain(|_, keys| {
                keys.retain(|k| pages.contains_key(k));
                !keys.is_empty()
            });
            *indexed = showing.values().map(HashSet::len).sum();
        }
        state.indexed += page.shows.len();
        for subject in page.shows.iter() {
            state
                .showing
                .entry(subject.clone())
                .or_default()
                .insert(key.clone());
        }
        state.pages.insert(key, page);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Gtin, LotCode, LotKey};

    fn page(shows: Vec<Shows>) -> CachedPage {
        CachedPage::new(String::new(), None, "page".into(), shows)
    }

    fn key(name: &str) -> PageKey {
        (name.to_owned(), String::new(), false)
    }

    fn lot(gtin: &str, code: &str) -> LotKey {
        LotKey {
            gtin: Gtin::parse(gtin).unwrap(),
            lot: LotCode::parse(code).unwrap(),
        }
    }

    const G: &str = "04712345000015";

    #[test]
    fn a_record_drops_only_the_pages_that_show_what_it_changed() {
        let cache = PageCache::default();
        let a = Shows::Lot(G.into(), "A".into());
        let b = Shows::Lot(G.into(), "B".into());
        cache.put(
            key("a"),
            page(vec![a.clone(), Shows::Stock(G.into())]),
            cache.ticket(),
        );
        cache.put(key("b"), page(vec![b]), cache.ticket());
        cache.put(key("list"), page(vec![Shows::Ledger]), cache.ticket());
        // A harvest of an unrelated lot: only the page that shows the whole ledger goes.
        cache.changed(&Committed {
            lots: vec![lot(G, "C")],
            stock: vec![],
        });
        assert!(cache.get(&key("a")).is_some() && cache.get(&key("b")).is_some());
        assert!(cache.get(&key("list")).is_none());
        // A record on lot B drops B's page.
        cache.changed(&Committed {
            lots: vec![lot(G, "B")],
            stock: vec![],
        });
        assert!(cache.get(&key("b")).is_none() && cache.get(&key("a")).is_some());
        // A receipt of any lot of the product moves its stock: A's page lists the stores.
        cache.changed(&Committed {
            lots: vec![lot(G, "D")],
            stock: vec![Gtin::parse(G).unwrap()],
        });
        assert!(cache.get(&key("a")).is_none());
    }

    /// Pages dropped by one subject stay listed under their others only until the next prune:
    /// the index does not grow with every page ever rendered.
    #[test]
    fn the_index_of_subjects_stays_bounded() {
        let cache = PageCache::default();
        let stock = Shows::Stock(G.into());
        for n in 0..(INDEXED_MAX / 2 + 10) {
            let own = Shows::Lot(G.into(), format!("L{n}"));
            cache.put(
                key(&format!("p{n}")),
                page(vec![own, stock.clone()]),
                cache.ticket(),
            );
            // Each page is dropped by a record on its own lot, and stays listed under the stock.
            cache.changed(&Committed {
                lots: vec![lot(G, &format!("L{n}"))],
                stock: vec![],
            });
        }
        let state = cache.state.lock().unwrap();
        let listed: usize = state.showing.values().map(HashSet::len).sum();
        assert!(listed < PAGE_CACHE_MAX, "{listed} entries");
        assert!(state.pages.is_empty());
    }

    fn asking(accept_encoding: Option<&str>) -> HttpRequest {
        let req = actix_web::test::TestRequest::default();
        match accept_encoding {
            Some(value) => req.insert_header((header::ACCEPT_ENCODING, value)),
            None => req,
        }
        .to_http_request()
    }

    #[test]
    fn the_gzip_copy_is_the_page_and_goes_only_to_those_who_accept_it() {
        use std::io::Read as _;
        let body = "<p>稻米 rice</p>".repeat(200);
        let page = CachedPage::new("\"v1\"".into(), None, body.clone(), vec![]);
        let mut unzipped = String::new();
        flate2::read::GzDecoder::new(&page.gzip.clone().unwrap()[..])
            .read_to_string(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, body);
        for (header, gzip) in [
            (Some("gzip, deflate, br, zstd"), true),
            (Some("br;q=1.0, gzip;q=0.8, *;q=0.1"), true),
            (Some("gzip;q=0"), false),
            (Some("br"), false),
            (Some("identity"), false),
            // A header that does not parse gets the page as rendered, which every client reads.
            (Some("gzip;q=high"), false),
            (None, false),
        ] {
            let encoded = page.encoded_for(&asking(header));
            assert_eq!(encoded.gzip, gzip, "{header:?}");
            let expected = if gzip {
                page.gzip.clone().unwrap()
            } else {
                page.body.clone()
            };
            assert_eq!(encoded.body, expected, "{header:?}");
            let etag = encoded.etag(&page.etag);
            assert_eq!(etag, if gzip { "\"v1-gzip\"" } else { "\"v1\"" });
        }
    }

    #[test]
    fn a_page_rendered_across_a_change_of_its_subject_is_not_kept() {
        let cache = PageCache::default();
        let a = Shows::Lot(G.into(), "A".into());
        let before = cache.ticket();
        cache.changed(&Committed {
            lots: vec![lot(G, "A")],
            stock: vec![],
        });
        cache.put(key("a"), page(vec![a.clone()]), before);
        assert!(
            cache.get(&key("a")).is_none(),
            "it may have read A before the record"
        );
        // Across a change of something else, it is kept.
        let before = cache.ticket();
        cache.changed(&Committed {
            lots: vec![lot(G, "Z")],
            stock: vec![],
        });
        cache.put(key("a"), page(vec![a]), before);
        assert!(cache.get(&key("a")).is_some());
        // A page of the whole ledger is not kept across any change.
        let before = cache.ticket();
        cache.changed(&Committed {
            lots: vec![lot(G, "Z")],
            stock: vec![],
        });
        cache.put(key("list"), page(vec![Shows::Ledger]), before);
        assert!(cache.get(&key("list")).is_none());
    }
}
