// The shared parts of the scenes and schedule pages: the hub's state rooms
// over /ws (hello with rooms, then snapshot and patches applied to a local
// copy of the state tree), the status pill, the toast and the screen-reader
// announcer, REST calls with the API key, and small DOM helpers.
//
// The hub is the truth: `live.state` changes only on snapshot and patch
// frames. A patch value is the whole entity at its path ("scenes.runs.<id>");
// null removes it. Paths split on "." (scene names, run ids and group ids
// have none).
import { ulid } from './ulid.js';
import {
  HubConnection, apiKey, probeAuth, registerServiceWorker, retryOnReturn, wsUrl,
} from './hub.js';

const TOAST_MS = 6000;
const API_TIMEOUT_MS = 15000;

export const $ = (id) => document.getElementById(id);

export const live = {
  have: false, // a snapshot has arrived since the page loaded
  seq: 0,
  state: {},
};

// The value at a dotted path of the state (undefined when absent).
export function get(path) {
  let v = live.state;
  for (const k of path.split('.')) {
    if (!v || typeof v !== 'object') return undefined;
    v = v[k];
  }
  return v;
}

function put(path, value) {
  const keys = path.split('.');
  let o = live.state;
  for (const k of keys.slice(0, -1)) {
    if (!o[k] || typeof o[k] !== 'object') o[k] = {};
    o = o[k];
  }
  const last = keys[keys.length - 1];
  if (value === null || value === undefined) delete o[last];
  else o[last] = value;
}

// ---- the connection ---------------------------------------------------------------------

let rooms = [];
let listener = () => {};
let status = { state: 'connecting' };
let syncing = false;
let helloReq = null;
let statusTimer = 0;

export const isLive = () => status.state === 'live' && !syncing;

function sendHello() {
  const hello = { type: 'hello', rooms, req_id: ulid() };
  if (live.have) hello.since = live.seq; // replay what we missed (or a snapshot)
  helloReq = hello.req_id;
  syncing = !live.have;
  conn.send(hello);
}

// listener(kind, paths): kind 'snapshot' | 'patch' | 'status'; paths are the
// patched paths.
function notify(kind, paths = []) {
  try {
    listener(kind, paths);
  } catch (err) {
    console.error('render:', err);
  }
}

function onFrame(msg) {
  if (!msg || typeof msg !== 'object') return;
  switch (msg.type) {
    case 'snapshot': {
      const st = msg.state && typeof msg.state === 'object' ? msg.state : {};
      // A snapshot covers the rooms asked: replace those roots only.
      for (const r of rooms) if (r !== 'system') live.state[r] = st[r] && typeof st[r] === 'object' ? st[r] : {};
      live.have = true;
      live.seq = Number(msg.seq) || 0;
      syncing = false;
      renderStatus();
      notify('snapshot');
      break;
    }
    case 'patch': {
      const seq = Number(msg.seq) || 0;
      if (!Array.isArray(msg.patches) || (live.have && seq <= live.seq)) return;
      const paths = [];
      for (const { path, value } of msg.patches) {
        if (typeof path !== 'string' || path === '') continue;
        put(path, value);
        paths.push(path);
      }
      live.seq = seq;
      notify('patch', paths);
      break;
    }
    case 'result':
      if (msg.req_id !== helloReq) break;
      helloReq = null;
      if (!msg.ok) {
        const e = msg.error || {};
        const b = $('room-banner');
        b.textContent = `The hub refused this page's rooms (${e.message || e.code || 'unknown error'}): `
          + 'it may be an older hub without this part.';
        b.hidden = false;
      }
      break;
    case 'event':
      if (msg.level === 'warning' || msg.level === 'error') toast(`${msg.source ? `${msg.source}: ` : ''}${msg.message}`);
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

// Start the page: rooms to say hello with, onChange(kind, paths).
export function startLive(roomList, onChange) {
  rooms = roomList;
  listener = onChange;
  retryOnReturn(conn);
  renderStatus();
  conn.start();
  registerServiceWorker();
}

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
  notify('status');
}

// ---- toast and announcer ----------------------------------------------------------------

let toastTimer = 0;
export function toast(text) {
  const t = $('toast');
  t.textContent = text;
  t.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove('show'), TOAST_MS);
}

let announceTimer = 0;
export function announce(text) {
  const a = $('announce');
  a.textContent = '';
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => {
    a.textContent = text;
  }, 50);
}

// ---- REST -------------------------------------------------------------------------------

// fetch with the API key. Resolves to {status, body (JSON or null), text};
// status 0 when the hub was not reached.
export async function api(method, path, body) {
  const headers = {};
  const key = apiKey();
  if (key) headers['x-api-key'] = key;
  if (body !== undefined) headers['content-type'] = 'application/json';
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

export const okStatus = (s) => s >= 200 && s < 300;

// The hub's error object of an answer: {code, message, field?}, or one made
// up for answers that carry none.
export function answerError(res) {
  if (res.status === 0) return { code: 'unreachable', message: `hub not reached: ${res.text}` };
  const b = res.body;
  if (b && typeof b === 'object' && b.error && typeof b.error === 'object') return b.error;
  if (b && typeof b === 'object' && typeof b.error === 'string') return { code: String(res.status), message: b.error };
  return { code: String(res.status), message: res.text ? res.text.slice(0, 200) : `HTTP ${res.status}` };
}

export function answerText(res) {
  const e = answerError(res);
  return `${e.message || e.code}${e.field ? ` (${e.field})` : ''}`;
}

// ---- time ---------------------------------------------------------------------------------

export function clock(ms) {
  if (!Number.isFinite(ms)) return '–';
  const d = new Date(ms);
  const time = d.toLocaleTimeString([], { hourCycle: 'h23' });
  return new Date().toDateString() === d.toDateString() ? time : `${d.toLocaleDateString()} ${time}`;
}

// ---- DOM helpers ----------------------------------------------------------------------------

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
  if (onClick) b.addEventListener('click', onClick);
  return b;
}

export function setText(e, text) {
  const v = text === null || text === undefined ? '' : String(text);
  if (e.textContent !== v) e.textContent = v;
}

export function badge(text, status, cls = 'badge') {
  const b = make('span', cls, text);
  b.dataset.status = status;
  return b;
}

// A second tap within CONFIRM_MS confirms; Escape or the timeout disarms.
const CONFIRM_MS = 4000;
export function confirmButton(b, confirmText, confirmLabel, action) {
  let timer = 0;
  let text = '';
  let label = null;
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
      text = b.textContent;
      label = b.getAttribute('aria-label');
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
