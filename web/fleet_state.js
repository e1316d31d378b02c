// The fleet page's shared parts: the connection to the hub's room protocol
// on /ws (rooms "devices", "commands", "system"), the fleet state from the
// snapshot and patches, the status pill, the toast and the screen-reader
// announcer, REST calls with the API key, time formatting and small DOM
// helpers. The other fleet_*.js files and fleet.js import from here.
//
// The hub is the truth: the page's fleet state changes only on snapshot and
// patch frames (a patch value is the whole entity at its path; null: gone).
//   devices.registry.<id>    device entity
//   devices.alerts.<id>      alert {id, kind, device, since, message}
//   devices.commands.<id>    command entity (room "commands"; terminal ones
//                            leave the state a while after they end)
import { ulid } from './ulid.js';
import {
  HubConnection, apiKey, probeAuth, registerServiceWorker, retryOnReturn, wsUrl,
} from './hub.js';

const ROOMS = ['devices', 'commands', 'system'];
const TOAST_MS = 6000;
const API_TIMEOUT_MS = 15000;

export const $ = (id) => document.getElementById(id);

// ---- the hub's fleet state (only changed by snapshot and patch frames) -------------

export const fleet = {
  have: false, // a snapshot has arrived since the page loaded
  seq: 0,
  registry: {}, // id -> device
  alerts: {}, // alert id -> alert
  commands: {}, // command_id -> command
};

const obj = (v) => (v && typeof v === 'object' && !Array.isArray(v) ? { ...v } : {});

function setOrDelete(map, key, value) {
  if (value === null || value === undefined) delete map[key];
  else map[key] = value;
}

const MAPS = [['devices.registry', 'registry'], ['devices.alerts', 'alerts'], ['devices.commands', 'commands']];

// Applies one patch; returns the part it changed ('registry', 'alerts',
// 'commands') or null.
function takePath(path, value) {
  for (const [prefix, key] of MAPS) {
    if (path === prefix) {
      fleet[key] = obj(value);
      return key;
    }
    if (path.startsWith(`${prefix}.`)) {
      setOrDelete(fleet[key], path.slice(prefix.length + 1), value);
      return key;
    }
  }
  return null;
}

// ---- listeners ----------------------------------------------------------------------

// onChange(parts, changes): parts is a Set of 'registry'|'alerts'|'commands'|
// 'snapshot'|'status'; changes lists the patches [{path, value, old}].
const listeners = [];
export function onChange(fn) {
  listeners.push(fn);
}
function notify(parts, changes = []) {
  for (const fn of listeners) {
    try {
      fn(parts, changes);
    } catch (err) {
      console.error('fleet render:', err);
    }
  }
}

// ---- the connection ------------------------------------------------------------------

let status = { state: 'connecting' };
let syncing = false;
let helloReq = null;
let statusTimer = 0;
let toastTimer = 0;

export const isLive = () => status.state === 'live' && !syncing;

function takeSnapshot(msg) {
  const st = msg.state && typeof msg.state === 'object' ? msg.state : {};
  const dev = st.devices && typeof st.devices === 'object' ? st.devices : {};
  fleet.have = true;
  fleet.seq = Number(msg.seq) || 0;
  fleet.registry = obj(dev.registry);
  fleet.alerts = obj(dev.alerts);
  fleet.commands = obj(dev.commands);
}

function takePatch(msg) {
  const seq = Number(msg.seq) || 0;
  if (!Array.isArray(msg.patches) || (fleet.have && seq <= fleet.seq)) return;
  const parts = new Set();
  const changes = [];
  for (const { path, value } of msg.patches) {
    if (typeof path !== 'string') continue;
    const key = MAPS.find(([p]) => path === p || path.startsWith(`${p}.`));
    const old = key && path.length > key[0].length ? fleet[key[1]][path.slice(key[0].length + 1)] : undefined;
    const part = takePath(path, value);
    if (part) {
      parts.add(part);
      changes.push({ path, value, old });
    }
  }
  fleet.seq = seq;
  notify(parts, changes);
}

function sendHello() {
  const hello = { type: 'hello', rooms: ROOMS, req_id: ulid() };
  if (fleet.have) hello.since = fleet.seq; // replay what we missed (or a snapshot)
  helloReq = hello.req_id;
  syncing = !fleet.have;
  conn.send(hello);
}

function onFrame(msg) {
  if (!msg || typeof msg !== 'object') return;
  switch (msg.type) {
    case 'snapshot':
      takeSnapshot(msg);
      syncing = false;
      renderStatus();
      notify(new Set(['snapshot', 'registry', 'alerts', 'commands']));
      break;
    case 'patch':
      takePatch(msg);
      break;
    case 'result':
      if (msg.req_id !== helloReq) break;
      helloReq = null;
      if (!msg.ok) {
        const e = msg.error || {};
        const b = $('room-banner');
        b.textContent = `The hub refused this page's rooms (${e.message || e.code || 'unknown error'}): `
          + 'it may be a hub without the device fleet.';
        b.hidden = false;
      }
      break;
    case 'event':
      if (msg.level === 'warning' || msg.level === 'error') {
        toast(`${msg.source ? `${msg.source}: ` : ''}${msg.message}`);
      }
      break;
    case 'error':
      toast(`Hub refused a message${msg.field ? ` (${msg.field})` : ''}: ${msg.error}`);
      break;
    default: // "state" belongs to the RGB page's room
  }
}

const conn = new HubConnection({
  url: wsUrl,
  probeAuth: () => probeAuth('api/v1/intents'),
  onStatus: (s) => {
    status = s;
    if (s.state === 'live') sendHello();
    renderStatus();
  },
  onFrame,
  onNotice: (text) => toast(text),
});

export function start() {
  retryOnReturn(conn);
  renderStatus();
  conn.start();
  registerServiceWorker();
}

// ---- status, toast, announcer ----------------------------------------------------------------

function renderStatus() {
  clearInterval(statusTimer);
  statusTimer = 0;
  const { at } = status;
  const state = status.state === 'live' && syncing ? 'syncing' : status.state;
  const wait = at ? Math.max(0, Math.ceil((at - Date.now()) / 1000)) : 0;
  const text = {
    connecting: 'connecting…',
    syncing: 'syncing…',
    live: 'live',
    reconnecting: at ? `reconnecting in ${wait} s` : 'reconnecting…',
    auth: 'auth failed',
  }[state];
  $('status').dataset.state = state;
  document.body.dataset.conn = state;
  $('status-text').textContent = text;
  $('auth-banner').hidden = state !== 'auth';
  if (state === 'reconnecting' && wait > 0) statusTimer = setInterval(renderStatus, 250);
  notify(new Set(['status']));
}

export function toast(text) {
  const t = $('toast');
  t.textContent = text;
  t.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove('show'), TOAST_MS);
}

// Tells screen readers about a change (one polite live region for the page).
let announceTimer = 0;
export function announce(text) {
  const a = $('announce');
  a.textContent = '';
  clearTimeout(announceTimer);
  // A fresh text node after a tick, so a repeat of the same words is read.
  announceTimer = setTimeout(() => {
    a.textContent = text;
  }, 50);
}

// ---- REST -------------------------------------------------------------------------------

// fetch with the API key (x-api-key, as hub.js's probe). Resolves to
// {status, body (parsed JSON or null), text}; status 0 when the hub was not
// reached. opts.idempotency sends an Idempotency-Key header.
export async function api(method, path, body, opts = {}) {
  const headers = {};
  const key = apiKey();
  if (key) headers['x-api-key'] = key;
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (opts.idempotency) headers['idempotency-key'] = opts.idempotency;
  try {
    const res = await fetch(new URL(path, document.baseURI), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      signal: AbortSignal.timeout(API_TIMEOUT_MS),
    });
    const text = await res.text();
    let parsed = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    return { status: res.status, body: parsed, text };
  } catch (err) {
    return { status: 0, body: null, text: err.name === 'TimeoutError' ? 'the hub did not answer in time' : err.message };
  }
}

// The human part of an answer: seed bodies say "message" or "error" (a
// string), ours {"error":{"code","message","field"}}.
export function answerText(res) {
  if (res.status === 0) return `hub not reached: ${res.text}`;
  const b = res.body;
  if (b && typeof b === 'object') {
    if (typeof b.message === 'string') return b.message;
    if (typeof b.error === 'string') return b.error;
    if (b.error && typeof b.error === 'object') {
      const e = b.error;
      return `${e.message || e.code || 'refused'}${e.field ? ` (${e.field})` : ''}`;
    }
    if (b.ok === true) return 'done';
  }
  return res.text ? res.text.slice(0, 200) : `HTTP ${res.status}`;
}

export const okStatus = (s) => s >= 200 && s < 300;

export const newKey = () => ulid();

// ---- time ---------------------------------------------------------------------------------

// Our times are RFC 3339 with Z; the seed routes send Python's naive
// isoformat, which is UTC too.
export function parseTime(s) {
  if (typeof s !== 'string' || s === '') return NaN;
  const zoned = /(?:Z|[+-]\d\d:?\d\d)$/i.test(s) ? s : `${s}Z`;
  // "2026-04-05T08:00:00.123000": Date.parse wants at most 3 fraction digits.
  return Date.parse(zoned.replace(/(\.\d{3})\d+/, '$1'));
}

export function ago(ms, now = Date.now()) {
  if (!Number.isFinite(ms)) return 'never';
  const s = Math.round((now - ms) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function clock(ms) {
  if (!Number.isFinite(ms)) return '–';
  const d = new Date(ms);
  const sameDay = new Date().toDateString() === d.toDateString();
  const time = d.toLocaleTimeString([], { hourCycle: 'h23' });
  return sameDay ? time : `${d.toLocaleDateString()} ${time}`;
}

// A <time> that says "12 s ago" and keeps saying it (tickTimes); the title
// holds the local date and time.
export function relTime(iso, cls = 'rel') {
  const t = make('time', cls);
  setRelTime(t, iso);
  return t;
}
export function setRelTime(t, iso) {
  const ms = parseTime(iso);
  if (t.dataset.iso === (iso || '')) return;
  t.dataset.iso = iso || '';
  if (Number.isFinite(ms)) {
    t.dateTime = new Date(ms).toISOString();
    t.title = clock(ms);
  } else {
    t.removeAttribute('datetime');
    t.title = '';
  }
  t.textContent = ago(ms);
}
export function tickTimes(root = document) {
  const now = Date.now();
  for (const t of root.querySelectorAll('time[data-iso]')) {
    const text = ago(parseTime(t.dataset.iso), now);
    if (t.textContent !== text) t.textContent = text;
  }
}

// ---- naming and DOM helpers -----------------------------------------------------------------

// What a person calls a device: its description, else its hostname, else the id.
export function deviceName(id, d = fleet.registry[id]) {
  if (d && typeof d.description === 'string' && d.description.trim()) return d.description.trim();
  if (d && typeof d.hostname === 'string' && d.hostname) return d.hostname;
  return id;
}

export const ACTIONS = { restart_app: 'Restart app', reboot_host: 'Reboot host', shutdown_host: 'Shut down host' };
export const TERMINAL = new Set(['completed', 'failed', 'expired', 'canceled', 'blocked_safety']);
export const BAD = new Set(['failed', 'expired', 'canceled', 'blocked_safety']);
export const statusText = (s) => String(s || 'unknown').replace(/_/g, ' ');

export function make(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

export function button(text, cls, label, onClick) {
  const b = make('button', cls, text);
  b.type = 'button';
  if (label) b.setAttribute('aria-label', label);
  b.addEventListener('click', onClick);
  return b;
}

export function setText(e, text) {
  const v = text === null || text === undefined ? '' : String(text);
  if (e.textContent !== v) e.textContent = v;
}

// A status badge: data-status drives the colour.
export function badge(text, status, cls = 'badge') {
  const b = make('span', cls, text);
  b.dataset.status = status;
  return b;
}

// A second tap within CONFIRM_MS confirms: the button says so meanwhile.
const CONFIRM_MS = 4000;
export function confirmButton(b, confirmText, confirmLabel, action) {
  const text = b.textContent;
  const label = b.getAttribute('aria-label');
  let timer = 0;
  const reset = () => {
    clearTimeout(timer);
    timer = 0;
    b.textContent = text;
    if (label) b.setAttribute('aria-label', label);
    else b.removeAttribute('aria-label');
    b.classList.remove('armed');
  };
  b.addEventListener('click', () => {
    if (!timer) {
      b.textContent = confirmText;
      b.setAttribute('aria-label', confirmLabel);
      b.classList.add('armed');
      timer = setTimeout(reset, CONFIRM_MS);
      announce(`${confirmLabel}: tap again within ${CONFIRM_MS / 1000} seconds`);
      return;
    }
    reset();
    action();
  });
  b.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && timer) reset();
  });
}
