// The technician's phone page for /maint. Served by the kiosk itself (CSP script-src 'self':
// no inline script, no eval, nothing from another site). Every value shown comes from the
// /maint API after the PIN, and is put on the page as text (textContent), never as HTML.
"use strict";

const NAMES = {
  "speech.volume": "Speech volume (0 to 1)",
  "speech.mute": "Mute the voice",
  "speech.wake_phrases": "Wake phrases (separate with commas)",
  "speech.wake_sensitivity": "Wake sensitivity (0 to 1)",
  "session.idle_reset_s": "Idle reset (seconds)",
  "venue.name": "Venue name",
  "venue.staff_pointer": "Where refusals send visitors",
  "knowledge.path": "Knowledge folder",
};

let csrf = "";
let fields = {};

const $ = (id) => document.getElementById(id);

function say(text, kind) {
  const m = $("message");
  m.textContent = text;
  m.className = kind === "info" ? "message info" : "message";
  m.hidden = !text;
}

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  let r;
  try {
    r = await fetch(path, {
      method, headers, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    return { status: 0, data: { error: { message: "The kiosk did not answer.", fix: "check the network and try again" } }, headers: new Headers() };
  }
  let data = {};
  try { data = await r.json(); } catch (e) { data = {}; }
  if (r.status === 401 && data.error && data.error.code === "maint.no-session" && csrf) {
    showLogin("Your maintenance session ended. Enter the PIN again.");
  }
  return { status: r.status, data, headers: r.headers };
}

function errorText(data, fallback) {
  const e = (data && data.error) || {};
  const text = e.message || fallback;
  return e.fix ? `${text} (${e.fix})` : text;
}

// --- logging in ----------------------------------------------------------------------

function showLogin(message, kind) {
  csrf = "";
  $("panel").hidden = true;
  $("login").hidden = false;
  say(message || "", kind);
  $("pin").value = "";
  $("pin").focus();
}

async function login(event) {
  event.preventDefault();
  const pinField = $("pin");
  const pin = pinField.value.trim();
  pinField.value = "";
  if (!/^[0-9]+$/.test(pin)) {
    say("Type the PIN with digits only.");
    pinField.focus();
    return;
  }
  const button = $("login-button");
  button.disabled = true;
  say("Checking the PIN…", "info");
  const r = await api("POST", "/maint/login", { pin });
  if (r.status === 200) {
    csrf = r.data.csrf;
    button.disabled = false;
    await enter();
    return;
  }
  if (r.status === 429) {
    const wait = parseInt(r.headers.get("Retry-After") || "0", 10);
    say(`Locked: too many wrong PINs. Try again in ${wait} s.`);
    setTimeout(() => { button.disabled = false; }, wait * 1000);
  } else if (r.status === 401) {
    const locked = Math.ceil(r.data.retry_after_s || 0);
    say(locked > 0 ? `Wrong PIN. Too many wrong PINs: locked, try again in ${locked} s.` : "Wrong PIN.");
    button.disabled = false;
  } else {
    say(errorText(r.data, `Login failed (HTTP ${r.status}).`));
    button.disabled = false;
  }
  pinField.focus();
}

async function enter() {
  const s = await api("GET", "/maint/api/session");
  if (s.status !== 200) {
    showLogin();
    return;
  }
  csrf = s.data.csrf;
  $("restart").hidden = !s.data.can_restart;
  $("login").hidden = true;
  $("panel").hidden = false;
  say("");
  $("main").focus();
  await Promise.all([loadHealth(), loadLog(), loadSettings()]);
}

// --- health and log --------------------------------------------------------------------

async function loadHealth() {
  $("health-status").textContent = "Reading the parts…";
  const r = await api("GET", "/maint/api/health");
  if (r.status !== 200) {
    $("health-status").textContent = errorText(r.data, "Health could not be read.");
    return;
  }
  const body = document.querySelector("#health tbody");
  body.replaceChildren();
  const order = { FAIL: 0, WARN: 1 };
  const facts = (r.data.facts || []).map((f, i) => [f, i])
    .sort(([a, i], [b, j]) => ((order[a.status] ?? 2) - (order[b.status] ?? 2)) || i - j)
    .map(([f]) => f);  // what needs attention first, then the rest in the kiosk's order
  for (const f of facts) {
    const row = document.createElement("tr");
    row.className = f.status;
    const name = document.createElement("td");
    name.textContent = f.name;
    const state = document.createElement("td");
    state.className = "state";
    state.textContent = f.status;
    const detail = document.createElement("td");
    detail.textContent = f.detail;
    if (f.fix && f.status !== "OK") {
      const fix = document.createElement("span");
      fix.className = "fix";
      fix.textContent = `Fix: ${f.fix}`;
      detail.append(fix);
    }
    row.append(name, state, detail);
    body.append(row);
  }
  const bad = facts.filter((f) => f.status !== "OK").length;
  const lock = r.data.lockout || {};
  let text = bad ? `${bad} of ${facts.length} need attention.` : `All ${facts.length} parts OK.`;
  if (lock.failures) text += ` Wrong PINs in a row: ${lock.failures}.`;
  $("health-status").textContent = text;
}

function addFact(list, term, value) {
  if (value === undefined || value === null || value === "") return;
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = typeof value === "object" ? Object.entries(value).map(([k, v]) => `${k}: ${v}`).join(", ") : String(value);
  list.append(dt, dd);
}

async function loadLog() {
  const list = $("log");
  const r = await api("GET", "/maint/api/log");
  list.replaceChildren();
  if (r.status !== 200) {
    addFact(list, "Log", errorText(r.data, "The log could not be read."));
    return;
  }
  const s = r.data;
  if (s.error) {
    addFact(list, "Log", errorText(s, "The log could not be read."));
    return;
  }
  addFact(list, "Log", `${s.enabled ? "on" : "off"}, kept ${s.retention_days} days`);
  addFact(list, "Records", s.records);
  addFact(list, "First", s.first);
  addFact(list, "Last", s.last);
  addFact(list, "By source", s.by_source);
  addFact(list, "By outcome", s.by_outcome);
  addFact(list, "Shredded", s.shredded);
  if (s.sink) addFact(list, "Writer", `${s.sink.state}, ${s.sink.written} written, ${s.sink.backlog} waiting, ${s.sink.dropped} lost`);
  addFact(list, "Chain check", s.verify);
}

// --- settings -----------------------------------------------------------------------------

function fieldId(key) { return "set-" + key.replace(".", "-"); }

function shown(field) {
  if (field.kind === "list") return field.value.join(", ");
  return String(field.value);
}

async function loadSettings() {
  const r = await api("GET", "/maint/api/settings");
  const box = $("settings-fields");
  if (r.status !== 200) {
    $("settings-result").textContent = errorText(r.data, "Settings could not be read.");
    return;
  }
  fields = r.data.fields || {};
  box.replaceChildren();
  for (const [key, f] of Object.entries(fields)) {
    const wrap = document.createElement("div");
    const id = fieldId(key);
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = (NAMES[key] || key) + (f.live ? "" : " — after a restart");
    const input = document.createElement("input");
    input.id = id;
    input.name = key;
    if (f.kind === "bool") {
      input.type = "checkbox";
      input.checked = f.value;
      wrap.className = "check";
    } else if (f.kind === "number") {
      input.type = "number";
      input.inputMode = "decimal";
      input.step = "any";
      if (f.min !== undefined) input.min = f.min;
      if (f.max !== undefined) input.max = f.max;
      input.value = shown(f);
    } else {
      input.type = "text";
      input.value = shown(f);
      input.spellcheck = false;
    }
    const hint = document.createElement("span");
    hint.className = "hint";
    hint.id = id + "-hint";
    hint.textContent = `${key}: ${f.doc}`;
    input.setAttribute("aria-describedby", hint.id);
    if (f.kind === "bool") wrap.append(input, label, hint);
    else wrap.append(label, input, hint);
    box.append(wrap);
  }
}

function readField(key, f) {
  const input = $(fieldId(key));
  if (f.kind === "bool") return input.checked;
  if (f.kind === "number") return input.value.trim() === "" ? NaN : Number(input.value);
  if (f.kind === "list") return input.value.split(",").map((p) => p.trim()).filter((p) => p);
  return input.value;
}

async function saveSettings(event) {
  event.preventDefault();
  const out = $("settings-result");
  const changes = {};
  for (const [key, f] of Object.entries(fields)) {
    const value = readField(key, f);
    if (f.kind === "number" && Number.isNaN(value)) {
      out.textContent = `${NAMES[key] || key}: type a number.`;
      $(fieldId(key)).focus();
      return;
    }
    if (JSON.stringify(value) !== JSON.stringify(f.value)) changes[key] = value;
  }
  if (!Object.keys(changes).length) {
    out.textContent = "Nothing changed.";
    return;
  }
  $("settings-save").disabled = true;
  out.textContent = "Saving…";
  const r = await api("POST", "/maint/api/settings", changes);
  $("settings-save").disabled = false;
  if (r.status !== 200) {
    out.textContent = "Not saved: " + errorText(r.data, `HTTP ${r.status}`);
    return;
  }
  let text = "Saved.";
  if (r.data.applied.length) text += ` Applied now: ${r.data.applied.join(", ")}.`;
  if (r.data.after_restart.length) text += ` After a restart: ${r.data.after_restart.join(", ")}.`;
  out.textContent = text;
  await loadSettings();
}

// --- actions ------------------------------------------------------------------------------

async function reload() {
  const out = $("action-result");
  out.textContent = "Reloading the knowledge…";
  const r = await api("POST", "/maint/api/reload");
  out.textContent = r.status === 200 ? `Knowledge reloaded: ${r.data.reloaded}.` : errorText(r.data, "Not reloaded.");
}

async function restart() {
  if (!window.confirm("Restart the kiosk now? A visitor's answer in progress is lost.")) return;
  const r = await api("POST", "/maint/api/restart");
  $("action-result").textContent = r.status === 202
    ? "The kiosk is restarting. Reload this page in a minute."
    : errorText(r.data, "Not restarted.");
}

async function logout() {
  await api("POST", "/maint/logout");
  showLogin("Logged out.", "info");
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", login);
  $("settings").addEventListener("submit", saveSettings);
  $("health-refresh").addEventListener("click", loadHealth);
  $("log-refresh").addEventListener("click", loadLog);
  $("reload").addEventListener("click", reload);
  $("restart").addEventListener("click", restart);
  $("logout").addEventListener("click", logout);
  enter();
});
