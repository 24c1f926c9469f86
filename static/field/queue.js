// The outbox. Every record is queued in IndexedDB (signed, or for a browser without Ed25519 as a
// draft for the organization's hosted key) before anything is sent, so closing the page, losing
// the network or a crash loses nothing. Sending goes in queue order through the batch endpoint;
// a record sent twice is answered 200 (already stored), so a resend after an interrupted send is
// harmless. Each item keeps its answer: sent, stale (409: re-sign with the new head) or refused.

import { all, put, tx } from "./store.js";

const BATCH_LIMIT = 200;
const KEEP_SENT = 30;

export async function enqueue(item) {
  const entry = { ...item, state: "waiting", created: new Date().toISOString() };
  entry.seq = await tx("queue", "readwrite", (s) => new Promise((resolve, reject) => {
    const r = s.add(entry);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  }));
  notify();
  return entry;
}

export async function items() {
  return (await all("queue")).sort((a, b) => a.seq - b.seq);
}

export async function waiting() {
  return (await items()).filter((i) => i.state === "waiting");
}

export async function update(item) {
  await put("queue", item);
  notify();
}

function notify() {
  window.dispatchEvent(new CustomEvent("queue-changed"));
}

async function post(url, body, csrf) {
  const headers = { "Content-Type": "application/json" };
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const response = await fetch(url, { method: "POST", headers, body: JSON.stringify(body), credentials: "same-origin" });
  let answer = null;
  try { answer = await response.json(); } catch { answer = null; }
  return { status: response.status, answer };
}

function settle(item, status, answer) {
  item.sentAt = new Date().toISOString();
  item.result = { status, ...(answer || {}) };
  if (status === 200 || status === 201) item.state = "sent";
  else if (status === 409) item.state = "stale";
  else item.state = "refused";
}

/** Sends one run of signed envelopes; a network failure leaves them waiting. */
async function sendEnvelopes(run) {
  const { status, answer } = await post("/api/v1/records/batch", { envelopes: run.map((i) => i.envelope) });
  if (status !== 200 || !answer || !Array.isArray(answer.results) || answer.results.length !== run.length) {
    // The whole batch was refused (400/413) or the answer is not one: judge each alone.
    for (const item of run) {
      const single = await post("/api/v1/records", item.envelope);
      settle(item, single.status, single.answer);
      await update(item);
    }
    return;
  }
  run.forEach((item, n) => {
    const { status: itemStatus, ...rest } = answer.results[n];
    settle(item, itemStatus, rest);
  });
  for (const item of run) await update(item);
}

async function sendHosted(item, csrf) {
  const { status, answer } = await post("/field/hosted", { record: item.draft }, csrf);
  if (status === 401 && answer && answer.error === "unauthorized") throw new Error("login");
  settle(item, status, answer);
  await update(item);
}

let flushing = null;

/** Sends everything waiting, in order. Resolves with the number of items that got an answer. */
export function flush(csrf) {
  if (!flushing) {
    const run = async () => {
      let answered = 0;
      while (navigator.onLine) {
        const queue = await waiting();
        if (queue.length === 0) break;
        const first = queue[0];
        try {
          if (first.mode === "hosted") {
            await sendHosted(first, csrf);
            answered += 1;
          } else {
            const runOf = [];
            for (const item of queue) {
              if (item.mode === "hosted" || runOf.length >= BATCH_LIMIT) break;
              runOf.push(item);
            }
            await sendEnvelopes(runOf);
            answered += runOf.length;
          }
        } catch {
          break; // offline or the server is away: everything stays waiting
        }
      }
      await prune();
      return answered;
    };
    const locked = navigator.locks
      ? navigator.locks.request("truetrace-outbox", run)
      : run();
    flushing = locked.finally(() => { flushing = null; });
  }
  return flushing;
}

/** Keeps the last few sent items for the list; everything not sent stays. */
async function prune() {
  const sent = (await items()).filter((i) => i.state === "sent");
  const old = sent.slice(0, Math.max(0, sent.length - KEEP_SENT));
  if (old.length) {
    await tx("queue", "readwrite", (s) => { for (const i of old) s.delete(i.seq); });
    notify();
  }
}
