// Signing in the browser: a non-extractable WebCrypto Ed25519 key per person on this phone, and
// DSSE envelopes exactly as DESIGN.md fixes them (the signature covers the PAE of the payload
// bytes; keyid and record id are lowercase hex SHA-256). No crypto is written here: WebCrypto
// makes the key, signs and hashes.

import { get, put, remove } from "./store.js";

export const PAYLOAD_TYPE = "application/vnd.truetrace.record+json";
export const RECALL_PAYLOAD_TYPE = "application/vnd.truetrace.recall+json";
const encoder = new TextEncoder();

/** A number with leading zeros to `w` digits. */
export const pad = (n, w = 2) => String(n).padStart(w, "0");

/** A date as a datetime-local input shows it, in the device's own time. */
export function localInput(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** RFC 3339 with the device's offset and whole seconds, as the ledger wants it. */
export function rfc3339(date) {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  const abs = Math.abs(offset);
  return `${localInput(date)}:${pad(date.getSeconds())}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

export function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function base64(bytes) {
  let binary = "";
  for (const b of new Uint8Array(bytes)) binary += String.fromCharCode(b);
  return btoa(binary);
}

export async function sha256Hex(bytes) {
  return hex(await crypto.subtle.digest("SHA-256", bytes));
}

/** Whether this browser can make and use Ed25519 keys. */
export async function canSign() {
  try {
    const probe = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    await crypto.subtle.sign({ name: "Ed25519" }, probe.privateKey, new Uint8Array(1));
    return true;
  } catch {
    return false;
  }
}

/** This person's key on this phone, as stored: {user, keyid, publicKey (base64), privateKey, label}. */
export function storedKey(user) {
  return get("keys", user);
}

/** Makes a new non-extractable key for `user`; the private half never leaves IndexedDB. */
export async function makeKey(user, label) {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  const raw = await crypto.subtle.exportKey("raw", pair.publicKey);
  const entry = {
    user,
    label,
    keyid: await sha256Hex(raw),
    publicKey: base64(raw),
    privateKey: pair.privateKey,
    created: new Date().toISOString(),
  };
  await put("keys", entry);
  return entry;
}

export function forgetKey(user) {
  return remove("keys", user);
}

function pae(payloadType, payload) {
  const type = encoder.encode(payloadType);
  const head = encoder.encode(`DSSEv1 ${type.length} ${payloadType} ${payload.length} `);
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}

/** Signs a record (a plain object) into an envelope; resolves with {id, envelope}. */
export function signRecord(key, record) {
  return signAs(key, PAYLOAD_TYPE, record);
}

/** Signs a plain object of the given payload type (a record, a recall notice) into an envelope. */
export async function signAs(key, payloadType, object) {
  const payload = encoder.encode(JSON.stringify(object));
  const signature = await crypto.subtle.sign({ name: "Ed25519" }, key.privateKey, pae(payloadType, payload));
  return {
    id: await sha256Hex(payload),
    envelope: {
      payloadType,
      payload: base64(payload),
      signatures: [{ keyid: key.keyid, sig: base64(signature) }],
    },
  };
}
