// The field app's service worker (served as /field/sw.js, scope /field). It keeps the field
// pages and their scripts so that they open without a network: pages network-first (a fresh
// page when there is a network, the last one otherwise), scripts and styles from the cache while
// a fresh copy is fetched. Records are never handled here: the app queues them in IndexedDB.

const CACHE = "truetrace-field-v1";
const PAGES = ["/field/", "/field/harvest", "/field/scan", "/field/ship"];
const ASSETS = [
  "/static/style.css",
  "/static/field/field.css",
  "/static/field/app.js",
  "/static/field/sign.js",
  "/static/field/store.js",
  "/static/field/queue.js",
  "/static/field/scanner.js",
  "/static/field/i18n.js",
  "/static/field/manifest.webmanifest",
  "/static/vendor/jsqr/jsQR.js",
];

async function keep(cache, url) {
  try {
    const response = await fetch(url, { credentials: "same-origin", redirect: "manual" });
    if (response.ok) await cache.put(url, response);
  } catch { /* offline while installing: kept on the next visit */ }
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    await Promise.all([...PAGES, ...ASSETS].map((url) => keep(cache, url)));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

const pageKey = (url) => (url.pathname === "/field" ? "/field/" : url.pathname);

async function page(request) {
  const cache = await caches.open(CACHE);
  const url = new URL(request.url);
  try {
    const response = await fetch(request);
    // Only a page that rendered is kept: never the login redirect or an error page.
    if (response.ok && !response.redirected) await cache.put(pageKey(url), response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(pageKey(url), { ignoreSearch: true });
    if (cached) return cached;
    throw error;
  }
}

async function asset(request) {
  const cache = await caches.open(CACHE);
  const url = new URL(request.url);
  const cached = await cache.match(url.pathname);
  const fresh = fetch(request).then(async (response) => {
    if (response.ok) await cache.put(url.pathname, response.clone());
    return response;
  });
  if (cached) {
    fresh.catch(() => {});
    return cached;
  }
  return fresh;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && PAGES.includes(pageKey(url))) {
    event.respondWith(page(request));
  } else if (ASSETS.includes(url.pathname)) {
    event.respondWith(asset(request));
  }
});
