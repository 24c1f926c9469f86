// The recall page: when this browser holds an approved device key for the person signed in (made
// in the field app), a recall or a lift is signed here with it, as DESIGN.md's device keys say;
// otherwise the form goes to the server, which signs with the organization's hosted key. The
// server reads the form into the notice (POST /recalls/draft) so that lots are parsed in one place.

import { rfc3339, storedKey, signAs, RECALL_PAYLOAD_TYPE } from "/static/field/sign.js";

const zh = document.documentElement.lang.startsWith("zh");
const issueForm = document.getElementById("recall-form");
const user = issueForm ? issueForm.dataset.user : null;

async function activeDeviceKey() {
  if (!user) return null;
  let key;
  try {
    key = await storedKey(user);
  } catch {
    return null; // no IndexedDB (a private window): the hosted key signs
  }
  if (!key) return null;
  try {
    const answer = await fetch(`/field/devices/${key.keyid}`, { credentials: "same-origin" });
    if (!answer.ok) return null;
    const device = await answer.json();
    return device.status === "active" ? { ...key, label: device.label } : null;
  } catch {
    return null;
  }
}

function showError(message) {
  let box = document.getElementById("form-error");
  if (!box) {
    box = document.createElement("p");
    box.id = "form-error";
    box.className = "alert bad";
    box.setAttribute("role", "alert");
    document.querySelector("main h1").after(box);
  }
  box.textContent = message;
  box.scrollIntoView({ block: "center" });
}

async function signAndSend(form, key) {
  const lift = form.dataset.action === "lift";
  const drafted = await fetch(`/recalls/draft${lift ? "?lift=true" : ""}`, {
    method: "POST",
    credentials: "same-origin",
    body: new URLSearchParams(new FormData(form)),
  });
  const draft = await drafted.json();
  if (!drafted.ok) throw new Error(draft.message || drafted.statusText);
  // Signed at this device's own time and offset, as the field app signs records.
  const notice = { ...draft.notice, time: rfc3339(new Date()) };
  const { id, envelope } = await signAs(key, RECALL_PAYLOAD_TYPE, notice);
  const sent = await fetch("/api/v1/records", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(envelope),
  });
  const answer = await sent.json();
  if (sent.status !== 201 && sent.status !== 200) throw new Error(answer.message || sent.statusText);
  location.assign(`/recalls?done=${id}`);
}

const key = await activeDeviceKey();
if (key) {
  const signer = document.getElementById("signer");
  if (signer) {
    signer.textContent = zh
      ? `將在這個裝置上以您登記的金鑰簽署（${key.label}）。`
      : `It will be signed on this device with your registered key (${key.label}).`;
    signer.dataset.signer = "device";
  }
  for (const form of document.querySelectorAll("form.recall-form")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        await signAndSend(form, key);
      } catch (e) {
        showError((zh ? "未記錄：" : "not recorded: ") + e.message);
        button.disabled = false;
      }
    });
  }
}
