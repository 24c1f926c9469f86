// The field app: sets up this phone's key, builds records from the forms, signs and queues them,
// and shows what happened. One module per page concern: store.js (IndexedDB), sign.js
// (WebCrypto and DSSE), queue.js (the outbox), scanner.js (camera and QR), i18n.js (words).

import { canSign, forgetKey, localInput, makeKey, pad, rfc3339, signRecord, storedKey } from "./sign.js";
import { enqueue, flush, items, update } from "./queue.js";
import { parseScanned, startCamera } from "./scanner.js";
import { get, put } from "./store.js";
import { explain, translator } from "./i18n.js";

const root = document.getElementById("field");
const view = root.dataset.view;
const t = translator(root.dataset.lang);
const zh = root.dataset.lang === "zh";
const $ = (id) => document.getElementById(id);

let ctx = null; // /field/app.json: user, org, csrf, products, partners, hosted_key
let signer = null; // {mode: "device", key} or {mode: "hosted"}

function setSigner(value) {
  signer = value;
  root.dataset.signer = value ? value.mode : "none";
}

// ---------- small DOM helpers (text is always set as text, never as HTML) ----------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Smooth scrolling, unless the person asked their system for less motion. */
function motion() {
  return matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth";
}

function show(node, ...children) {
  node.replaceChildren(...children.filter((child) => child != null && child !== false));
  node.hidden = false;
}

function alertBox(kind, text) {
  return el("p", { class: `alert ${kind}`, role: kind === "bad" ? "alert" : "status" }, text);
}

const name = (o) => (o ? (zh && o.name_zh) || o.name : "");

function orgName(id) {
  if (ctx && ctx.org.id === id) return name(ctx.org);
  const partner = ctx && ctx.partners.find((p) => p.id === id);
  return partner ? name(partner) : id;
}

const isCarrier = () => ctx && ctx.org.roles.includes("carrier") && !ctx.org.roles.some((r) => ["producer", "processor", "retailer"].includes(r));

function eventLabel(event) {
  if (isCarrier() && ["receive", "ship", "note"].includes(event)) return t(`carrier_${event}`);
  return t(`ev_${event}`);
}

// ---------- time, places and values ----------

/** A time input that shows "now" and means "now, when sent" until the person changes it. */
function timeInput(input) {
  input.value = localInput(new Date());
  input.max = localInput(new Date(Date.now() + 60_000));
  input.addEventListener("input", () => { input.dataset.changed = "1"; });
  return input;
}

function chosenTime(input) {
  if (!input.dataset.changed || !input.value) return new Date();
  return new Date(input.value);
}

/** A record may not be earlier than the lot's last one (the ledger's time rule). */
function notBefore(date, lot) {
  if (lot.head_time && date.getTime() < new Date(lot.head_time).getTime()) {
    throw new Problem(t("beforeLast", { when: new Date(lot.head_time).toLocaleString(zh ? "zh-TW" : "en") }));
  }
  return date;
}

const AMOUNT = /^(?:0|[1-9]\d{0,11})(?:\.\d{1,6})?$/;
const TEMPERATURE = /^-?\d{1,3}(?:\.\d{1,2})?$/;
// GS1 AI encodable character set 82, 1 to 20 characters (domain::lot_code).
const LOT_CODE = /^[!"%&'()*+,\-./0-9:;<=>?A-Z_a-z]{1,20}$/;
const lotCodeValid = (code) => LOT_CODE.test(code) && code !== "." && code !== "..";

const UNITS = [
  ["KGM", "公斤", "kg"], ["GRM", "公克", "g"], ["TNE", "公噸", "t"],
  ["LTR", "公升", "L"], ["H87", "件", "pieces"],
];

function unitSelect(id, value = "KGM") {
  return el("select", { id }, UNITS.map(([code, zhName, enName]) =>
    el("option", { value: code, selected: code === value }, zh ? `${zhName} (${enName})` : enName)));
}

function places() {
  try { return JSON.parse(localStorage.getItem("tt-places") || "[]"); } catch { return []; }
}

function rememberPlace(place) {
  const list = [place, ...places().filter((p) => p !== place)].slice(0, 8);
  localStorage.setItem("tt-places", JSON.stringify(list));
}

function placeInput(id) {
  const list = `${id}-list`;
  return [
    el("input", { type: "text", id, list, value: places()[0] || "", autocomplete: "off" }),
    el("datalist", { id: list }, places().map((p) => el("option", { value: p }))),
  ];
}

function field(label, ...control) {
  return el("label", {}, label, " ", ...control);
}

class Problem extends Error {}

function need(value, label) {
  if (!value || !String(value).trim()) throw new Problem(t("required", { field: label }));
  return String(value).trim();
}

function amountOf(text) {
  const value = text.trim();
  if (!AMOUNT.test(value) || Number(value) <= 0) throw new Problem(t("badAmount"));
  return value;
}

function temperatureOf(text) {
  const value = text.trim();
  if (!value) return null;
  if (!TEMPERATURE.test(value)) throw new Problem(t("badTemperature"));
  return value;
}

function notFuture(date) {
  if (date.getTime() > Date.now() + 60_000) throw new Problem(t("future"));
  return date;
}

function kdeOf(entries) {
  const kde = {};
  for (const [key, value] of Object.entries(entries)) if (value != null && String(value).trim()) kde[key] = String(value).trim();
  return kde;
}

function record({ event, time, place, lots = [], newLots = [], to = null, kde = {} }) {
  const draft = { type: "truetrace.record/v1", event, actor: ctx.org.id, time: rfc3339(time) };
  if (place) draft.location = { name: place };
  if (lots.length) draft.lots = lots;
  if (newLots.length) draft.new_lots = newLots;
  if (to) draft.to = to;
  if (Object.keys(kde).length) draft.kde = kde;
  return draft;
}

const lotKey = (gtin, lot) => `${gtin}/${lot}`;

function summaryOf(draft) {
  return {
    event: draft.event,
    lots: [...(draft.lots || []), ...(draft.new_lots || [])].map((l) => ({ gtin: l.gtin, lot: l.lot })),
  };
}

// ---------- context, network and device ----------

async function fetchJson(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => null);
  return { status: response.status, body };
}

async function loadContext() {
  if (navigator.onLine) {
    try {
      const { status, body } = await fetchJson("/field/app.json");
      if (status === 200) {
        await put("cache", { name: "context", value: body });
        return body;
      }
      if (status === 401) return null;
    } catch { /* offline after all: use what this phone saw last */ }
  }
  const cached = await get("cache", "context");
  return cached ? cached.value : null;
}

function showNetwork() {
  const net = $("net");
  net.textContent = navigator.onLine ? t("online") : t("offline");
  net.dataset.online = navigator.onLine ? "1" : "0";
}

async function showQueueCount() {
  const waitingCount = (await items()).filter((i) => i.state === "waiting").length;
  $("queue-count").textContent = String(waitingCount);
  $("queue-badge").hidden = waitingCount === 0;
  if (view === "home") renderQueue();
}

async function sendQueue() {
  if (!ctx || !navigator.onLine) return;
  await flush(ctx.csrf);
  await showQueueCount();
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": ctx.csrf },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}

function deviceState(text, kind = "small") {
  show($("device-state"), text);
  $("device-state").className = kind;
}

async function enroll(key) {
  deviceState(t("enrolling"));
  const { status, body } = await post("/field/devices", { public_key: key.publicKey, label: key.label });
  if (status !== 200 && status !== 201) throw new Problem(explain(t, body, status));
  key.status = body.status;
  await put("keys", key);
  return key;
}

async function refreshStatus(key) {
  if (!navigator.onLine) return key;
  const { status, body } = await fetchJson(`/field/devices/${key.keyid}`);
  if (status === 200) {
    key.status = body.status;
    await put("keys", key);
  } else if (status === 404) {
    return enroll(key); // the server does not know it (a new store): enroll it again
  }
  return key;
}

function showDevice(key) {
  const setup = $("device-setup");
  setup.hidden = true;
  $("device").dataset.status = key.status;
  if (key.status === "active") {
    setSigner({ mode: "device", key });
    deviceState(t("active", { label: key.label }), "small ok");
  } else if (key.status === "pending") {
    setSigner(null);
    deviceState(t("pending", { label: key.label }), "alert warn");
    setTimeout(async () => showDevice(await refreshStatus(key).catch(() => key)), 10_000);
  } else {
    setSigner(null);
    deviceState(t("revoked", { label: key.label }), "alert bad");
    $("device-state").append(" ", el("button", {
      class: "button", type: "button", id: "device-again",
      onclick: async () => { await forgetKey(ctx.user.id); setupDevice(); },
    }, t("setUpAgain")));
  }
  window.dispatchEvent(new CustomEvent("signer-changed"));
}

async function setupDevice() {
  if (!(await canSign())) {
    if (ctx.hosted_key) {
      setSigner({ mode: "hosted" });
      deviceState(t("fallback"), "alert warn");
      $("device").dataset.status = "hosted";
    } else {
      setSigner(null);
      deviceState(t("noSigning"), "alert bad");
      $("device").dataset.status = "none";
    }
    return;
  }
  const key = await storedKey(ctx.user.id);
  if (key) {
    showDevice(await refreshStatus(key).catch(() => key));
    return;
  }
  deviceState("");
  $("device-state").hidden = true;
  const form = $("device-setup");
  form.hidden = false;
  const label = $("device-label");
  if (!label.value) label.value = t("defaultLabel", { name: ctx.user.name });
  form.onsubmit = async (event) => {
    event.preventDefault();
    const text = label.value.trim();
    if (!text) return;
    $("device-create").disabled = true;
    try {
      const made = await makeKey(ctx.user.id, text);
      showDevice(await enroll(made));
    } catch (e) {
      await forgetKey(ctx.user.id);
      form.hidden = false;
      deviceState(e instanceof Problem ? e.message : String(e), "alert bad");
    } finally {
      $("device-create").disabled = false;
    }
  };
}

// ---------- recording ----------

/** The lot as this phone last saw it, with the heads of records it made since. */
async function cachedLot(gtin, lot) {
  const entry = await get("lots", lotKey(gtin, lot));
  return entry ? entry.value : null;
}

async function rememberLot(value) {
  await put("lots", { key: lotKey(value.gtin, value.lot), value });
}

/** After signing: the records' lots now have this record as head (offline chaining). */
async function advanceHeads(draft, id, time) {
  for (const l of draft.lots || []) {
    const known = await cachedLot(l.gtin, l.lot);
    if (known) {
      known.head = id;
      known.head_event = draft.event;
      known.head_time = time;
      if (draft.event === "ship") known.shipped_to = draft.to;
      if (draft.event === "receive") {
        known.custodian = { id: ctx.org.id, name: ctx.org.name, name_zh: ctx.org.name_zh, roles: ctx.org.roles };
        known.shipped_to = null;
        known.shipment = [];
      }
      await rememberLot(known);
    }
  }
}

/** Signs (or hands to the hosted key), queues, then tries to send. Resolves with the queue item. */
async function submit(draft) {
  if (!signer) throw new Problem(t("needKey"));
  let item;
  if (signer.mode === "device") {
    const { id, envelope } = await signRecord(signer.key, draft);
    item = await enqueue({ mode: "device", draft, id, envelope, summary: summaryOf(draft) });
    await advanceHeads(draft, id, draft.time);
  } else {
    item = await enqueue({ mode: "hosted", draft, summary: summaryOf(draft) });
  }
  await showQueueCount();
  await sendQueue();
  return (await items()).find((i) => i.seq === item.seq) || item;
}

/** What happened to a queued record, for a person. */
function outcome(item, onDone) {
  if (item.state === "waiting") return alertBox("warn", t("saved"));
  if (item.state === "sent") {
    const text = item.result.status === 201 ? t("stored", { index: item.result.log_index }) : t("already", { index: item.result.log_index });
    return alertBox("ok", text);
  }
  if (item.state === "stale") return staleCard(item, onDone);
  return alertBox("bad", explain(t, item.result, item.result && item.result.status));
}

/** A 409: says what another device recorded first and re-signs on top of it in one tap. */
function staleCard(item, onDone) {
  const card = el("div", { class: "stale", "data-seq": item.seq },
    el("h3", {}, t("staleTitle")), el("p", { class: "stale-what" }, "…"));
  const head = item.result.head;
  fetchJson(`/api/v1/records/${head}`).then(({ status, body }) => {
    if (status !== 200) return;
    const payload = body.record || body.payload_json || null;
    const event = payload ? payload.event : body.event;
    const actor = payload ? payload.actor : body.actor;
    const time = payload ? payload.time : body.time;
    card.querySelector(".stale-what").textContent = t("staleBody", {
      who: orgName(actor), event: t(`ev_${event || "note"}`), when: time ? new Date(time).toLocaleString(zh ? "zh-TW" : "en") : "?",
    });
  }).catch(() => {});
  const button = el("button", { class: "button primary big resign", type: "button" }, t("resign"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const fresh = await resign(item);
      card.replaceWith(outcome(fresh, onDone));
      if (onDone) onDone(fresh);
    } catch (e) {
      card.append(alertBox("bad", e instanceof Problem ? e.message : String(e)));
      button.disabled = false;
    }
  });
  card.append(button);
  return card;
}

/** The same record again, on every lot's current head, at the current time. */
async function resign(item) {
  const draft = structuredClone(item.draft);
  for (const l of draft.lots || []) {
    const { status, body } = await fetchJson(`/field/lots/${l.gtin}/${encodeURIComponent(l.lot)}`);
    if (status !== 200) throw new Problem(explain(t, body, status));
    await rememberLot(body);
    l.prev = body.head;
  }
  draft.time = rfc3339(new Date());
  item.state = "replaced";
  await update(item);
  return submit(draft);
}

// ---------- home: the outbox ----------

async function renderQueue() {
  const list = $("queue-list");
  if (!list) return;
  const all = (await items()).reverse();
  $("queue-empty").hidden = all.length > 0;
  $("queue-send").hidden = !all.some((i) => i.state === "waiting");
  list.replaceChildren(...all.map((item) => el("li", { class: `queue-item ${item.state}`, "data-state": item.state },
    el("b", {}, eventLabel(item.summary.event)), " ",
    item.summary.lots.map((l) => l.lot).join(", "), " · ",
    el("span", { class: `badge ${item.state === "sent" ? "ok" : item.state === "waiting" ? "" : "bad"}` }, t(`st_${item.state}`)),
    item.state === "stale" ? staleCard(item, () => renderQueue()) : null,
    item.state === "refused" ? el("p", { class: "small" }, explain(t, item.result, item.result && item.result.status)) : null,
  )));
}

// ---------- harvest ----------

function suggestLotCode() {
  const today = new Date();
  const day = `${String(today.getFullYear()).slice(2)}${pad(today.getMonth() + 1)}${pad(today.getDate())}`;
  const counter = JSON.parse(localStorage.getItem("tt-lot-seq") || "{}");
  const n = counter.day === day ? counter.n + 1 : 1;
  return { code: `H${day}-${pad(n)}`, commit: () => localStorage.setItem("tt-lot-seq", JSON.stringify({ day, n })) };
}

function harvestView() {
  const product = $("h-product");
  const last = localStorage.getItem("tt-product");
  product.replaceChildren(...ctx.products.map((p) => el("option", { value: p.gtin, selected: p.gtin === last }, `${name(p)} · ${p.gtin}`)));
  $("h-unit").replaceWith(unitSelect("h-unit", localStorage.getItem("tt-unit") || "KGM"));
  $("places").replaceChildren(...places().map((p) => el("option", { value: p })));
  $("h-place").value = places()[0] || "";
  timeInput($("h-time"));
  let suggestion = suggestLotCode();
  const lot = $("h-lot");
  lot.value = suggestion.code;
  const help = $("h-lot-help");
  let checking = 0;
  const checkLot = async () => {
    const code = lot.value.trim();
    const mine = ++checking;
    if (!lotCodeValid(code)) {
      help.textContent = t("lotBad"); help.className = "help bad"; lot.setCustomValidity(t("lotBad"));
      return false;
    }
    lot.setCustomValidity("");
    help.dataset.checked = "";
    if (!navigator.onLine) {
      help.textContent = t("lotOffline"); help.className = "help"; help.dataset.checked = "offline";
      return true;
    }
    help.textContent = t("lotChecking"); help.className = "help";
    try {
      const response = await fetch(`/api/v1/lots/${product.value}/${encodeURIComponent(code)}`, { headers: { Accept: "application/json" } });
      if (mine !== checking) return true;
      if (response.status === 200) {
        help.textContent = t("lotTaken"); help.className = "help bad"; lot.setCustomValidity(t("lotTaken"));
        return false;
      }
      help.textContent = `✓ ${t("lotOk")}`; help.className = "help ok"; help.dataset.checked = "free";
    } catch { help.textContent = ""; }
    return true;
  };
  lot.addEventListener("input", checkLot);
  product.addEventListener("change", checkLot);
  checkLot();
  $("harvest-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("h-error");
    error.hidden = true;
    const button = $("h-submit");
    button.disabled = true;
    try {
      const code = need(lot.value, t("lot"));
      if (!(await checkLot())) throw new Problem(help.textContent);
      const place = need($("h-place").value, t("place"));
      const time = notFuture(chosenTime($("h-time")));
      const draft = record({
        event: "harvest", time, place,
        newLots: [{ gtin: product.value, lot: code, quantity: { amount: amountOf($("h-amount").value), unit: $("h-unit").value } }],
        kde: kdeOf({
          harvest_date: rfc3339(time).slice(0, 10), tlc_source: place,
          commodity: $("h-commodity").value, variety: $("h-variety").value, field: $("h-field").value,
        }),
      });
      const item = await submit(draft);
      localStorage.setItem("tt-product", product.value);
      localStorage.setItem("tt-unit", $("h-unit").value);
      rememberPlace(place);
      if (code === suggestion.code) suggestion.commit();
      await rememberLot({
        gtin: product.value, lot: code, product: ctx.products.find((p) => p.gtin === product.value),
        custodian: ctx.org, head: item.id, head_event: "harvest", head_time: draft.time, shipped_to: null,
        open_events: ["cool", "pack", "transform", "ship", "store", "dispose", "note"], shipment: [],
      });
      harvestDone(product.value, code, item);
      suggestion = suggestLotCode();
    } catch (e) {
      show(error, e instanceof Problem ? e.message : String(e));
    } finally {
      button.disabled = false;
    }
  });
}

function harvestDone(gtin, code, item) {
  const path = `/01/${gtin}/10/${encodeURIComponent(code)}`;
  const sent = item.state === "sent";
  show($("h-done"),
    el("h2", {}, `${t("lot")}: `, el("bdi", {}, code)),
    outcome(item),
    sent ? el("img", { class: "lot-qr", src: `/api/v1/lots/${gtin}/${encodeURIComponent(code)}/qr.svg?size=240`, alt: `QR ${code}`, width: 240, height: 240 }) : null,
    el("div", { class: "actions" },
      sent ? el("a", { class: "button", href: `/labels${path}`, id: "print-labels" }, t("printLabels")) : null,
      el("a", { class: "button", href: `/field/scan#${path.slice(1)}`, id: "next-step" }, t("nextStep")),
      sent ? el("a", { class: "button", href: path }, t("viewPage")) : null,
      el("a", { class: "button", href: "/field/harvest" }, t("another"))));
  $("harvest-form").hidden = true;
  $("h-done").scrollIntoView({ behavior: motion() });
}

// ---------- scanning ----------

async function lookUp(gtin, lot) {
  if (navigator.onLine) {
    try {
      const { status, body } = await fetchJson(`/field/lots/${gtin}/${encodeURIComponent(lot)}`);
      if (status === 200) { await rememberLot(body); return body; }
      if (status === 404) throw new Problem(t("notFound", { code: lot }));
      throw new Problem(explain(t, body, status));
    } catch (e) {
      if (e instanceof Problem) throw e;
    }
  }
  const cached = await cachedLot(gtin, lot);
  if (!cached) throw new Problem(t("offlineUnknown"));
  return cached;
}

/** Resolves what was scanned or typed into one lot (asking the person when a code is ambiguous). */
async function resolveScanned(text, choose) {
  const parsed = parseScanned(text);
  if (parsed.gtin) return lookUp(parsed.gtin, parsed.lot);
  const code = parsed.code;
  if (!lotCodeValid(code)) throw new Problem(t("lotBad"));
  if (!navigator.onLine) {
    const cached = (await Promise.all(ctx.products.map((p) => cachedLot(p.gtin, code)))).filter(Boolean);
    if (cached.length === 1) return cached[0];
    if (cached.length > 1) return choose(cached);
    throw new Problem(t("offlineUnknown"));
  }
  const { status, body } = await fetchJson(`/field/lots?code=${encodeURIComponent(code)}`);
  if (status !== 200) throw new Problem(explain(t, body, status));
  for (const found of body) await rememberLot(found);
  if (body.length === 0) throw new Problem(t("notFound", { code }));
  if (body.length === 1) return body[0];
  return choose(body);
}

function scannerWiring(onLot) {
  const error = $("scan-error");
  let camera = null;
  const choose = (lots) => new Promise((resolve) => {
    show(error, t("choose"), el("div", { class: "actions" }, lots.map((l) => el("button", {
      class: "button", type: "button", onclick: () => { error.hidden = true; resolve(l); },
    }, `${name(l.product) || l.gtin} · ${l.lot}`))));
    error.className = "alert warn";
  });
  const handle = async (text) => {
    error.hidden = true;
    error.className = "alert bad";
    try {
      await onLot(await resolveScanned(text, choose));
    } catch (e) {
      show(error, e instanceof Problem ? e.message : String(e));
    }
  };
  $("camera-start").addEventListener("click", async () => {
    const state = $("camera-state");
    if (camera) { camera.stop(); camera = null; state.textContent = ""; return; }
    state.textContent = t("cameraStarting");
    try {
      camera = await startCamera($("camera"), (text) => {
        state.textContent = t("scanned", { text });
        handle(text);
      });
      state.textContent = t("cameraOn", { decoder: camera.decoder });
      root.dataset.decoder = camera.decoder;
    } catch (e) {
      state.textContent = t("cameraFailed", { message: e.message || String(e) });
    }
  });
  $("typed-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("typed").value;
    if (text.trim()) handle(text);
  });
  return handle;
}

function lotCard(lot) {
  const custodian = lot.custodian ? name(lot.custodian) : "?";
  return [
    el("h2", {}, name(lot.product) || lot.gtin),
    el("dl", { class: "kde" },
      el("dt", {}, t("lot")), el("dd", {}, el("bdi", { id: "lot-code" }, lot.lot)),
      el("dt", {}, t("custodian")), el("dd", {}, el("bdi", {}, custodian)),
      el("dt", {}, t("last")), el("dd", {}, `${t(`ev_${lot.head_event || "note"}`)} · ${new Date(lot.head_time).toLocaleString(zh ? "zh-TW" : "en")}`),
      el("dt", {}, t("head")), el("dd", {}, el("code", { title: lot.head }, `${lot.head.slice(0, 12)}…`)),
    ),
  ];
}

/** Looks a lot up again and shows it (after a record, to record the next step). */
let rescan = () => {};

function scanView() {
  const handle = scannerWiring(async (lot) => {
    show($("lot"), ...lotCard(lot), el("div", { class: "event-buttons", id: "events" },
      lot.open_events.length === 0
        ? el("p", { class: "small", id: "nothing-open" }, t("nothingOpen", { holder: lot.custodian ? name(lot.custodian) : "?" }))
        : lot.open_events.map((event) => el("button", {
          class: "button big event", type: "button", "data-event": event,
          onclick: () => actionForm(lot, event),
        }, eventLabel(event)))));
    $("action").hidden = true;
    $("result").hidden = true;
    $("lot").scrollIntoView({ behavior: motion() });
  });
  rescan = handle;
  const fromHash = location.hash.slice(1);
  if (fromHash) handle(fromHash);
}

function outputRow(n) {
  return el("fieldset", { class: "output", "data-n": n },
    field(t("product"), el("select", { class: "out-product" }, ctx.products.map((p) => el("option", { value: p.gtin }, `${name(p)} · ${p.gtin}`)))),
    field(t("lot"), el("input", { type: "text", class: "out-lot", maxlength: 20, autocomplete: "off", autocapitalize: "characters", spellcheck: "false" })),
    el("div", { class: "pair" },
      field(t("quantity"), el("input", { type: "text", inputmode: "decimal", class: "out-amount", autocomplete: "off" })),
      field(t("unit"), unitSelect(`out-unit-${n}`, "H87"))));
}

function actionForm(lot, event) {
  const form = el("form", { class: "form field-form", id: "action-form", novalidate: true, "data-event": event });
  const controls = [];
  if (event === "receive" && lot.shipment.length > 1) {
    controls.push(el("fieldset", { id: "receive-lots" },
      el("legend", {}, t("receiveAll", { count: lot.shipment.length })),
      lot.shipment.map((s) => el("label", { class: "choice" },
        el("input", { type: "checkbox", class: "receive-lot", value: lotKey(s.gtin, s.lot), checked: true }), el("bdi", {}, s.lot)))));
  }
  if (event === "ship") {
    controls.push(field(t("to"), el("select", { id: "a-to", required: true }, ctx.partners.map((p) => el("option", { value: p.id, selected: p.id === localStorage.getItem("tt-ship-to") }, name(p))))));
  }
  if (event === "pack" || event === "transform") {
    const outputs = el("div", { id: "outputs" }, outputRow(0));
    controls.push(el("h3", {}, t("outputs")), outputs);
    if (event === "transform") {
      controls.push(el("button", { class: "button", type: "button", id: "add-output", onclick: () => outputs.append(outputRow(outputs.children.length)) }, t("addOutput")));
      controls.push(field(t("process"), el("input", { type: "text", id: "a-process", autocomplete: "off" })));
    } else {
      controls.push(field(t("packing"), el("input", { type: "text", id: "a-packing", autocomplete: "off" })));
    }
  }
  if (event === "sell" || event === "dispose") {
    controls.push(el("div", { class: "pair" },
      field(t("quantity"), el("input", { type: "text", inputmode: "decimal", id: "a-amount", autocomplete: "off" })),
      field(t("unit"), unitSelect("a-unit", "H87"))));
  }
  if (event === "dispose") controls.push(field(t("reason"), el("input", { type: "text", id: "a-reason", autocomplete: "off" })));
  if (["cool", "store", "note", "receive", "ship"].includes(event)) {
    controls.push(field(t("temperature"), el("input", { type: "text", inputmode: "decimal", id: "a-temperature", autocomplete: "off" })));
  }
  if (event === "cool") controls.push(field(t("coolingMethod"), el("input", { type: "text", id: "a-cooling", autocomplete: "off" })));
  if (event === "store") controls.push(field(t("shelf"), el("input", { type: "text", id: "a-shelf", autocomplete: "off" })));
  if (event === "ship" || event === "receive") {
    controls.push(field(t("docNumber"), el("input", { type: "text", id: "a-doc", autocomplete: "off" })));
  }
  if (event === "ship") controls.push(field(t("vehicle"), el("input", { type: "text", id: "a-vehicle", autocomplete: "off" })));
  controls.push(field(t("note"), el("input", { type: "text", id: "a-note", autocomplete: "off" })));
  controls.push(field(t("place"), ...placeInput("a-place")));
  controls.push(field(t("time"), timeInput(el("input", { type: "datetime-local", id: "a-time", required: true }))));
  const error = el("p", { class: "alert bad", id: "a-error", role: "alert", hidden: true });
  form.append(el("h2", {}, eventLabel(event)), ...controls, error,
    el("button", { class: "button primary big", type: "submit", id: "a-submit" }, t("signSend")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    const button = $("a-submit");
    button.disabled = true;
    try {
      const draft = actionRecord(form, lot, event);
      const item = await submit(draft);
      if (draft.location) rememberPlace(draft.location.name);
      if (event === "ship") localStorage.setItem("tt-ship-to", draft.to);
      showResult(item, lot);
    } catch (err) {
      show(error, err instanceof Problem ? err.message : String(err));
    } finally {
      button.disabled = false;
    }
  });
  show($("action"), form);
  form.scrollIntoView({ behavior: motion() });
}

const value = (form, id) => { const input = form.querySelector(`#${id}`); return input ? input.value : ""; };

function actionRecord(form, lot, event) {
  // A place is worth having but not a reason to refuse a record (DESIGN.md: missing key data
  // elements are reported, not refused).
  const place = value(form, "a-place").trim() || null;
  const time = notBefore(notFuture(chosenTime(form.querySelector("#a-time"))), lot);
  let lots = [{ gtin: lot.gtin, lot: lot.lot, prev: lot.head }];
  if (event === "receive" && lot.shipment.length > 1) {
    const chosen = new Set([...form.querySelectorAll(".receive-lot:checked")].map((c) => c.value));
    lots = lot.shipment.filter((s) => chosen.has(lotKey(s.gtin, s.lot))).map((s) => ({ gtin: s.gtin, lot: s.lot, prev: s.head }));
    if (lots.length === 0) throw new Problem(t("required", { field: t("lot") }));
  }
  if ((event === "sell" || event === "dispose") && value(form, "a-amount").trim()) {
    lots[0].quantity = { amount: amountOf(value(form, "a-amount")), unit: value(form, "a-unit") };
  }
  const newLots = [...form.querySelectorAll(".output")].map((row) => {
    const code = need(row.querySelector(".out-lot").value, t("lot"));
    if (!lotCodeValid(code)) throw new Problem(t("lotBad"));
    return {
      gtin: row.querySelector(".out-product").value, lot: code,
      quantity: { amount: amountOf(row.querySelector(".out-amount").value), unit: row.querySelector("select[id^=out-unit]").value },
    };
  });
  const date = rfc3339(time).slice(0, 10);
  const kde = kdeOf({
    temperature_c: temperatureOf(value(form, "a-temperature")),
    cooling_method: value(form, "a-cooling"),
    cooling_date: event === "cool" ? date : null,
    pack_date: event === "pack" ? date : null,
    packing: value(form, "a-packing"),
    process: value(form, "a-process"),
    shelf: value(form, "a-shelf"),
    reference_document_number: value(form, "a-doc"),
    vehicle: value(form, "a-vehicle"),
    reason: value(form, "a-reason"),
    note: value(form, "a-note"),
  });
  return record({ event, time, place, lots, newLots, to: event === "ship" ? need(value(form, "a-to"), t("to")) : null, kde });
}

function showResult(item, lot) {
  const again = () => rescan(`01/${lot.gtin}/10/${encodeURIComponent(lot.lot)}`);
  show($("result"), outcome(item, again), el("div", { class: "actions" },
    el("button", { class: "button", type: "button", id: "next-step", onclick: again }, t("nextStep")),
    el("a", { class: "button", href: "/field/scan" }, t("another"))));
  $("action").hidden = true;
  $("result").scrollIntoView({ behavior: motion() });
}

// ---------- shipments ----------

function shipView() {
  const chosen = new Map();
  const list = $("ship-lots");
  const to = $("ship-to");
  to.replaceChildren(...ctx.partners.map((p) => el("option", { value: p.id, selected: p.id === localStorage.getItem("tt-ship-to") }, name(p))));
  const render = () => {
    list.replaceChildren(...[...chosen.values()].map((l) => el("li", { class: "ship-lot" },
      el("b", {}, el("bdi", {}, l.lot)), " · ", name(l.product) || l.gtin, " ",
      el("button", { class: "button inline", type: "button", onclick: () => { chosen.delete(lotKey(l.gtin, l.lot)); render(); } }, t("remove")))));
    $("ship-empty").hidden = chosen.size > 0;
    $("ship-submit").disabled = chosen.size === 0;
  };
  scannerWiring(async (lot) => {
    if (!lot.open_events.includes("ship")) {
      throw new Problem(t("shipNotYours", { lot: lot.lot, holder: lot.custodian ? name(lot.custodian) : "?" }));
    }
    chosen.set(lotKey(lot.gtin, lot.lot), lot);
    $("camera-state").textContent = t("shipAdded", { lot: lot.lot });
    render();
  });
  $("ship-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("ship-error");
    error.hidden = true;
    $("ship-submit").disabled = true;
    try {
      const draft = record({
        event: "ship", time: new Date(), place: places()[0] || null,
        lots: [...chosen.values()].map((l) => ({ gtin: l.gtin, lot: l.lot, prev: l.head })),
        to: need(to.value, t("to")),
        kde: kdeOf({
          reference_document_type: $("ship-doc-type").value,
          reference_document_number: $("ship-doc-number").value,
          vehicle: $("ship-vehicle").value,
        }),
      });
      const item = await submit(draft);
      localStorage.setItem("tt-ship-to", draft.to);
      show($("result"), outcome(item, () => {}), el("a", { class: "button", href: "/field/ship" }, t("another")));
      if (item.state === "sent" || item.state === "waiting") { chosen.clear(); render(); }
    } catch (e) {
      show(error, e instanceof Problem ? e.message : String(e));
    } finally {
      $("ship-submit").disabled = chosen.size === 0;
    }
  });
  render();
}

// ---------- start ----------

async function main() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/field/sw.js", { scope: "/field" }).catch(() => {});
  }
  showNetwork();
  window.addEventListener("online", () => { showNetwork(); sendQueue(); });
  window.addEventListener("offline", showNetwork);
  window.addEventListener("queue-changed", () => showQueueCount());
  ctx = await loadContext();
  if (!ctx) {
    deviceState(t("loginAgain"), "alert bad");
    $("device-state").append(" ", el("a", { href: `/login?next=${encodeURIComponent(location.pathname)}` }, "→"));
    return;
  }
  await setupDevice();
  await showQueueCount();
  if (view === "home") {
    $("queue-send").addEventListener("click", sendQueue);
    renderQueue();
  }
  if (view === "harvest") harvestView();
  if (view === "scan") scanView();
  if (view === "ship") shipView();
  root.dataset.ready = "1";
  sendQueue();
}

main().catch((e) => deviceState(String(e), "alert bad"));
