// The field app's IndexedDB: this phone's signing keys (one per person who records on it), the
// queue of records waiting to be sent, and the lots and context last seen (for offline use).

const DB_NAME = "truetrace-field";
const DB_VERSION = 1;

let opened = null;

export function db() {
  if (!opened) {
    opened = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = () => {
        const d = request.result;
        d.createObjectStore("keys", { keyPath: "user" });
        const queue = d.createObjectStore("queue", { keyPath: "seq", autoIncrement: true });
        queue.createIndex("state", "state");
        d.createObjectStore("lots", { keyPath: "key" });
        d.createObjectStore("cache", { keyPath: "name" });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  return opened;
}

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** Runs `work(store)` in one transaction and resolves with its result once it is committed. */
export async function tx(storeName, mode, work) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const t = d.transaction(storeName, mode, { durability: "strict" });
    let result;
    Promise.resolve(work(t.objectStore(storeName)))
      .then((r) => { result = r; })
      .catch((e) => { reject(e); t.abort(); });
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error("transaction aborted"));
  });
}

export const get = (store, key) => tx(store, "readonly", (s) => done(s.get(key)));
export const put = (store, value) => tx(store, "readwrite", (s) => done(s.put(value)));
export const remove = (store, key) => tx(store, "readwrite", (s) => done(s.delete(key)));
export const all = (store) => tx(store, "readonly", (s) => done(s.getAll()));
