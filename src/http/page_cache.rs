//! Rendered pages kept for a few seconds, so that a burst of scans of one label renders it once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Rendered provenance pages, by (GTIN, lot, language). An entry is used while the ledger has
/// stored nothing since it was rendered (this server's writer generation) and for at most
/// `PAGE_TTL`, which bounds staleness when other servers write to the same database.
#[derive(Default)]
pub struct PageCache {
    pages: Mutex<HashMap<PageKey, CachedPage>>,
    /// One render at a time per page: requests that miss together wait for the first one's
    /// render instead of each rendering the same page (measured on /shop: p99 800 ms without).
    renders: Mutex<HashMap<PageKey, Arc<tokio::sync::Mutex<()>>>>,
}

pub type PageKey = (String, String, bool);

#[derive(Clone)]
pub struct CachedPage {
    pub generation: u64,
    pub rendered: std::time::Instant,
    pub etag: String,
    /// The embed card's `frame-ancestors` policy, which depends on the product's brand.
    pub csp: Option<String>,
    pub body: actix_web::web::Bytes,
}

pub const PAGE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
const PAGE_CACHE_MAX: usize = 20_000;

impl PageCache {
    pub fn get(&self, key: &PageKey, generation: u64) -> Option<CachedPage> {
        let cache = self.pages.lock().ok()?;
        cache
            .get(key)
            .filter(|page| page.generation == generation && page.rendered.elapsed() < PAGE_TTL)
            .cloned()
    }

    /// Forgets every page (after a change that is not a record, such as a brand's embed origins).
    pub fn clear(&self) {
        if let Ok(mut cache) = self.pages.lock() {
            cache.clear();
        }
    }

    /// The cached page, or the one `render` makes (and caches); concurrent misses of one key
    /// render it once.
    pub async fn get_or_render<E>(
        &self,
        key: PageKey,
        generation: u64,
        render: impl std::future::Future<Output = Result<CachedPage, E>>,
    ) -> Result<CachedPage, E> {
        if let Some(page) = self.get(&key, generation) {
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
        if let Some(page) = self.get(&key, generation) {
            return Ok(page);
        }
        let page = render.await?;
        self.put(key, page.clone());
        Ok(page)
    }

    pub fn put(&self, key: PageKey, page: CachedPage) {
        if let Ok(mut cache) = self.pages.lock() {
            if cache.len() >= PAGE_CACHE_MAX {
                cache.retain(|_, p| p.rendered.elapsed() < PAGE_TTL);
                if cache.len() >= PAGE_CACHE_MAX {
                    cache.clear();
                }
            }
            cache.insert(key, page);
        }
    }
}
