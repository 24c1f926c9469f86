// truetrace: "verify it yourself". Checks a lot's provenance bundle in this browser, with
// WebCrypto (Ed25519 and SHA-256) and nothing from the server but the bundle and the log's key:
// the checkpoint's signature, every record's signature, its key's validity when the log
// accepted it, every chain link, and every record's inclusion proof in the checkpoint's tree
// (RFC 9162). The same checks as `truetrace verify-bundle` (src/ledger/bundle.rs).
'use strict';

(function () {
  const RECORD_TYPE = 'application/vnd.truetrace.record+json';
  const utf8 = new TextEncoder();
  const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
  // RFC 8032's first test key: a point every Ed25519 implementation accepts.
  const PROBE_KEY = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';

  class Failure extends Error {
    constructor(check, message) {
      super(message);
      this.check = check;
    }
  }

  function fail(check, message) {
    throw new Failure(check, message);
  }

  function bytes(n) {
    return new Uint8Array(n);
  }

  function concat(...parts) {
    const out = bytes(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  function same(a, b) {
    if (a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
    return diff === 0;
  }

  function hex(b) {
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  function fromHex(s) {
    const out = bytes(s.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(i * 2, 2), 16);
    return out;
  }

  // Standard base64, canonical only: atob ignores the unused bits of the last character, so
  // the decoded bytes are encoded again and must give back the very text.
  function b64(s, check, what) {
    if (typeof s !== 'string' || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
      fail(check, what + ' is not standard base64');
    }
    const bin = atob(s);
    if (btoa(bin) !== s) fail(check, what + ' is not canonical base64');
    const out = bytes(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  async function sha256(data) {
    return new Uint8Array(await crypto.subtle.digest('SHA-256', data));
  }

  const nodeHash = (l, r) => sha256(concat([1], l, r));

  async function ed25519(publicKey, signature, message) {
    const key = await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
    return crypto.subtle.verify({ name: 'Ed25519' }, key, signature, message);
  }

  /** Whether this browser's WebCrypto can verify Ed25519 signatures. */
  async function supportsEd25519() {
    if (!globalThis.crypto || !crypto.subtle) return false;
    try {
      await crypto.subtle.importKey('raw', fromHex(PROBE_KEY), { name: 'Ed25519' }, false, ['verify']);
      return true;
    } catch (e) {
      return false;
    }
  }

  /** A note verifier key: name+hexid+base64(0x01 || key), its id checked (C2SP signed-note). */
  async function parseVkey(text) {
    const parts = String(text).trim().split('+');
    if (parts.length !== 3 || !parts[0] || !/^[0-9a-f]{8}$/.test(parts[1])) {
      fail('checkpoint', 'the log key is not a note verifier key');
    }
    const material = b64(parts[2], 'checkpoint', 'the log key');
    if (material.length !== 33 || material[0] !== 1) fail('checkpoint', 'the log key is not an Ed25519 key');
    const id = (await sha256(concat(utf8.encode(parts[0] + '\n'), material))).slice(0, 4);
    if (hex(id) !== parts[1]) fail('checkpoint', 'the log key\'s id does not match its name and key');
    return { name: parts[0], id: parts[1], key: material.slice(1), text: String(text).trim() };
  }

  /** Checks a checkpoint's signature by the log key and reads it (C2SP tlog-checkpoint). */
  async function openCheckpoint(note, vkey) {
    if (typeof note !== 'string' || !note.endsWith('\n') || /[\u0000-\u0009\u000b-\u001f]/.test(note)) {
      fail('checkpoint', 'the checkpoint is not a signed note');
    }
    const split = note.lastIndexOf('\n\n');
    if (split < 0) fail('checkpoint', 'the checkpoint has no signature block');
    const text = note.slice(0, split + 1);
    const lines = note.slice(split + 2, -1).split('\n');
    let signed = false;
    for (const line of lines) {
      if (!line.startsWith('\u2014 ')) fail('checkpoint', 'a signature line of the checkpoint is malformed');
      const [name, sig, extra] = line.slice(2).split(' ');
      if (extra !== undefined || !name || !sig) fail('checkpoint', 'a signature line of the checkpoint is malformed');
      const raw = b64(sig, 'checkpoint', 'a checkpoint signature');
      if (raw.length < 5) fail('checkpoint', 'a checkpoint signature is too short');
      if (name !== vkey.name || hex(raw.slice(0, 4)) !== vkey.id) continue;
      if (raw.length !== 68 || !(await ed25519(vkey.key, raw.slice(4), utf8.encode(text)))) {
        fail('checkpoint', 'the checkpoint\'s signature by the log key does not verify');
      }
      signed = true;
    }
    if (!signed) fail('checkpoint', 'the checkpoint carries no signature by the log key');
    const [origin, size, root, ...rest] = text.slice(0, -1).split('\n');
    if (rest.some((l) => l === '')) fail('checkpoint', 'the checkpoint has an empty extension line');
    if (origin !== vkey.name) fail('checkpoint', 'the checkpoint\'s origin is not the log key\'s name');
    if (!/^(0|[1-9][0-9]{0,15})$/.test(size || '')) fail('checkpoint', 'the checkpoint\'s size is not a number');
    const rootBytes = b64(root, 'checkpoint', 'the checkpoint\'s root');
    if (rootBytes.length !== 32) fail('checkpoint', 'the checkpoint\'s root is not 32 bytes');
    return { origin, size: Number(size), root: rootBytes, rootText: root };
  }

  /** RFC 9162 §2.1.3.2: the root an inclusion proof leads to. */
  async function rootFromInclusion(index, size, leaf, proof) {
    if (!(index < size)) fail('inclusion', 'the record\'s index is not below the checkpoint\'s size');
    let f = index;
    let s = size - 1;
    let r = leaf;
    for (const p of proof) {
      if (s === 0) fail('inclusion', 'the inclusion proof is too long');
      if (f % 2 === 1 || f === s) {
        r = await nodeHash(p, r);
        while (f % 2 === 0 && f !== 0) {
          f = Math.floor(f / 2);
          s = Math.floor(s / 2);
        }
      } else {
        r = await nodeHash(r, p);
      }
      f = Math.floor(f / 2);
      s = Math.floor(s / 2);
    }
    if (s !== 0) fail('inclusion', 'the inclusion proof is too short');
    return r;
  }

  const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

  function pae(type, payload) {
    return concat(utf8.encode('DSSEv1 ' + utf8.encode(type).length + ' ' + type + ' ' + payload.length + ' '), payload);
  }

  function isObject(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  }

  async function checkRecord(item, keys, checkpoint, report, chains) {
    const at = item.log_index;
    const env = item.envelope;
    if (!isObject(env) || env.payloadType !== RECORD_TYPE || !Array.isArray(env.signatures) || env.signatures.length !== 1) {
      fail('form', 'its envelope is not a truetrace record envelope');
    }
    const signature = env.signatures[0];
    if (!isObject(signature) || typeof signature.keyid !== 'string' || !/^[0-9a-f]{64}$/.test(signature.keyid)) {
      fail('form', 'its envelope names no keyid');
    }
    const payload = b64(env.payload, 'form', 'its payload');
    const sig = b64(signature.sig, 'signature', 'its signature');
    if (sig.length !== 64) fail('signature', 'its signature is not 64 bytes');
    const id = hex(await sha256(payload));
    if (id !== item.id) fail('form', 'its payload does not hash to the id it is listed under');
    let record;
    try {
      record = JSON.parse(strictUtf8.decode(payload));
    } catch (e) {
      fail('form', 'its payload is not JSON');
    }
    if (!isObject(record) || record.type !== 'truetrace.record/v1') fail('form', 'its payload is not a truetrace record');
    const problems = [];
    const note = (check, message) => problems.push({ check, log_index: at, message });
    const key = keys.get(signature.keyid);
    if (!key) {
      note('key_validity', 'the bundle does not carry its key ' + signature.keyid);
    } else {
      const pub = b64(key.public_key, 'key_validity', 'its key');
      if (pub.length !== 32 || hex(await sha256(pub)) !== signature.keyid) {
        note('key_validity', 'the public key listed for ' + signature.keyid + ' does not hash to that keyid');
      } else {
        let valid = false;
        try {
          valid = await ed25519(pub, sig, pae(RECORD_TYPE, payload));
        } catch (e) {
          valid = false;
        }
        if (!valid) note('signature', 'its signature does not verify with key ' + signature.keyid);
      }
      if (key.org !== record.actor) note('key_validity', 'its key belongs to another organization than its actor');
      if (!TIME.test(item.accepted_at) || !TIME.test(key.enrolled_at) || (key.revoked_at !== null && !TIME.test(key.revoked_at))) {
        note('form', 'a time of the record or its key is not RFC 3339 UTC');
      } else {
        if (item.accepted_at < key.enrolled_at) note('key_validity', 'its key was enrolled after the log accepted it');
        if (key.revoked_at !== null && key.revoked_at <= item.accepted_at) note('key_validity', 'its key was revoked before the log accepted it');
      }
    }
    if (checkpoint) {
      const leaf = await sha256(concat([0], fromHex(signature.keyid), sig, payload));
      if (!Array.isArray(item.inclusion)) fail('inclusion', 'it has no inclusion proof');
      const proof = item.inclusion.map((h) => {
        const b = b64(h, 'inclusion', 'a hash of its inclusion proof');
        if (b.length !== 32) fail('inclusion', 'a hash of its inclusion proof is not 32 bytes');
        return b;
      });
      try {
        const root = await rootFromInclusion(at, checkpoint.size, leaf, proof);
        if (!same(root, checkpoint.root)) note('inclusion', 'it is not in the checkpoint\'s tree: its proof leads to another root');
      } catch (e) {
        if (!(e instanceof Failure)) throw e;
        note(e.check, e.message);
      }
    }
    const named = new Set();
    for (const l of Array.isArray(record.lots) ? record.lots : []) {
      const lot = l.gtin + '\u0000' + l.lot;
      named.add(lot);
      chains.links.push({ at, lot, prev: l.prev });
    }
    for (const l of Array.isArray(record.new_lots) ? record.new_lots : []) {
      const lot = l.gtin + '\u0000' + l.lot;
      named.add(lot);
      chains.created.add(lot);
    }
    chains.records.set(id, { at, named });
    report.failures.push(...problems);
  }

  /**
   * Checks a bundle (its text, exactly as fetched) with the log's verifier key. Returns
   * { ok, checkpoint, records, lots, pending, failures: [{check, log_index, message}] }.
   */
  async function verifyBundle(text, vkeyText) {
    const report = { ok: false, checkpoint: null, records: 0, lots: 0, pending: 0, failures: [] };
    const attempt = async (fn, at) => {
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof Failure)) throw e;
        report.failures.push({ check: e.check, log_index: at === undefined ? null : at, message: e.message });
        return null;
      }
    };
    const bundle = await attempt(async () => {
      let b;
      try {
        b = JSON.parse(text);
      } catch (e) {
        fail('form', 'the bundle is not JSON');
      }
      const fields = ['lot', 'checkpoint', 'records', 'keys', 'orgs'];
      if (!isObject(b) || fields.some((f) => !(f in b)) || !Array.isArray(b.records) || !Array.isArray(b.keys) || !isObject(b.lot)) {
        fail('form', 'the bundle lacks a field or has the wrong shape');
      }
      return b;
    });
    if (!bundle) return report;
    const vkey = await attempt(() => parseVkey(vkeyText));
    const checkpoint = vkey ? await attempt(() => openCheckpoint(bundle.checkpoint, vkey)) : null;
    report.pending = Number(bundle.pending) || 0;
    const keys = new Map();
    for (const k of bundle.keys) {
      if (isObject(k) && typeof k.keyid === 'string') keys.set(k.keyid, k);
    }
    const chains = { records: new Map(), links: [], created: new Set() };
    for (const item of bundle.records) {
      const at = isObject(item) && Number.isSafeInteger(item.log_index) && item.log_index >= 0 ? item.log_index : null;
      if (at === null) {
        report.failures.push({ check: 'form', log_index: null, message: 'a record has no log index' });
        continue;
      }
      await attempt(() => checkRecord(item, keys, checkpoint, report, chains), at);
      report.records += 1;
    }
    const followers = new Map();
    for (const link of chains.links) {
      const key = link.lot + '\u0000' + link.prev;
      followers.set(key, (followers.get(key) || 0) + 1);
      const prev = chains.records.get(link.prev);
      let message = null;
      if (!prev) message = 'its prev ' + link.prev + ' is not in the bundle';
      else if (!prev.named.has(link.lot)) message = 'its prev does not name the same lot';
      else if (prev.at >= link.at) message = 'its prev comes later in the log';
      if (message) report.failures.push({ check: 'chain_link', log_index: link.at, message });
    }
    for (const [key, n] of followers) {
      if (n > 1) report.failures.push({ check: 'chain_link', log_index: null, message: 'a lot forks: ' + n + ' records follow one record (' + key.split('\u0000')[2] + ')' });
    }
    const asked = bundle.lot.gtin + '\u0000' + bundle.lot.lot;
    if (!chains.created.has(asked)) {
      report.failures.push({ check: 'chain_link', log_index: null, message: 'no record in the bundle creates the lot: its journey is not complete' });
    }
    const lots = new Set(chains.created);
    for (const link of chains.links) lots.add(link.lot);
    report.lots = lots.size;
    if (checkpoint) {
      report.checkpoint = { origin: checkpoint.origin, size: checkpoint.size, root: checkpoint.rootText, key: vkey.text };
    }
    report.ok = report.failures.length === 0 && checkpoint !== null;
    return report;
  }

  const WORDS = {
    en: {
      checking: 'Checking in this browser…',
      noEd25519: 'This browser cannot check Ed25519 signatures (its WebCrypto has no Ed25519), so nothing was checked here. Use a current browser, or the command truetrace verify-bundle.',
      ok: (r) => `✔ Checked in this browser: ${r.records} records on ${r.lots} lots. Every signature (Ed25519), every key's validity when the log accepted the record, every chain link, and every record's place in the log's checkpoint of ${r.checkpoint.size} records (root ${r.checkpoint.root}), whose signature by the log key ${r.checkpoint.key} was checked too.`,
      bad: (n) => `⚠ ${n} checks failed in this browser:`,
      pending: (n) => `${n} newer records are not in a signed checkpoint yet and were not checked; try again in a second.`,
      notChecked: 'Not checked here: the names of organizations and the times keys were enrolled, which only the server states. Compare the log key with the one the operator publishes.',
      error: 'The bundle could not be fetched: ',
      labels: { form: 'form', checkpoint: 'checkpoint signature', signature: 'signature', key_validity: 'key validity', chain_link: 'chain link', inclusion: 'inclusion' },
    },
    zh: {
      checking: '正在這個瀏覽器中驗證…',
      noEd25519: '這個瀏覽器無法驗證 Ed25519 簽章（WebCrypto 不支援 Ed25519），因此這裡沒有驗證任何內容。請使用新版瀏覽器，或使用 truetrace verify-bundle 指令。',
      ok: (r) => `✔ 已在這個瀏覽器中驗證 ${r.lots} 個批號的 ${r.records} 筆紀錄：每個簽章（Ed25519）、每把金鑰在紀錄被接受時皆有效、每個串鏈連結，以及每筆紀錄都在日誌 ${r.checkpoint.size} 筆紀錄的檢查點（根雜湊 ${r.checkpoint.root}）之中；該檢查點由日誌金鑰 ${r.checkpoint.key} 簽署，也已驗證。`,
      bad: (n) => `⚠ 在這個瀏覽器中有 ${n} 項檢查未通過：`,
      pending: (n) => `另有 ${n} 筆較新的紀錄尚未列入已簽署的檢查點，因此未驗證；請稍後再試。`,
      notChecked: '這裡無法驗證的內容：組織名稱與金鑰登記時間，只有伺服器的說法。請將日誌金鑰與營運者公布的金鑰比對。',
      error: '無法取得驗證資料：',
      labels: { form: '格式', checkpoint: '檢查點簽章', signature: '簽章', key_validity: '金鑰效期', chain_link: '串鏈連結', inclusion: '日誌收錄' },
    },
  };

  async function run(box) {
    const words = document.documentElement.lang.startsWith('zh') ? WORDS.zh : WORDS.en;
    const out = box.querySelector('.verify-result');
    const say = (state, text) => {
      box.dataset.state = state;
      out.textContent = '';
      const p = document.createElement('p');
      p.textContent = text;
      out.appendChild(p);
      return p;
    };
    say('checking', words.checking);
    if (!(await supportsEd25519())) {
      say('unsupported', words.noEd25519);
      return;
    }
    let bundleText;
    let keyText;
    try {
      const [b, k] = await Promise.all([fetch(box.dataset.bundle, { cache: 'no-store' }), fetch(box.dataset.key)]);
      if (!b.ok || !k.ok) throw new Error(b.ok ? k.status : b.status);
      bundleText = await b.text();
      keyText = (await k.text()).split('\n')[0];
    } catch (e) {
      say('error', words.error + e.message);
      return;
    }
    const report = await verifyBundle(bundleText, keyText);
    if (report.ok) {
      say('verified', words.ok(report));
    } else {
      say('failed', words.bad(report.failures.length));
      const list = document.createElement('ul');
      for (const f of report.failures) {
        const li = document.createElement('li');
        li.textContent = (words.labels[f.check] || f.check) + (f.log_index === null ? '' : ' #' + f.log_index) + ': ' + f.message;
        list.appendChild(li);
      }
      out.appendChild(list);
    }
    if (report.pending > 0) out.appendChild(Object.assign(document.createElement('p'), { textContent: words.pending(report.pending) }));
    out.appendChild(Object.assign(document.createElement('p'), { className: 'small', textContent: words.notChecked }));
  }

  globalThis.truetraceVerifyBundle = verifyBundle;
  globalThis.truetraceSupportsEd25519 = supportsEd25519;
  document.addEventListener('DOMContentLoaded', () => {
    const box = document.getElementById('verify-yourself');
    if (!box) return;
    const button = box.querySelector('button');
    button.hidden = false;
    button.addEventListener('click', () => run(box));
  });
})();
