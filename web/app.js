// showhub web UI: wires the controls to the hub connection.
import { ulid } from './ulid.js';
import { Coalescer } from './coalesce.js';
import {
  HubConnection, KEY_STORE, apiKey, probeAuth, registerServiceWorker, retryOnReturn, wsUrl,
} from './hub.js';

const HOLD_MS = 1500; // how long local edits win over incoming state
const TOAST_MS = 5000;
const CHANNELS = ['r', 'g', 'b'];

const $ = (id) => document.getElementById(id);
const el = {
  status: $('status'),
  statusText: $('status-text'),
  swatch: $('swatch'),
  hex: $('swatch-hex'),
  seq: $('seq'),
  ts: $('ts'),
  picker: $('picker'),
  toast: $('toast'),
  keyForm: $('key-form'),
  keyInput: $('api-key'),
  keyState: $('key-state'),
  details: $('conn-details'),
  keyMsg: $('key-msg'),
  range: Object.fromEntries(CHANNELS.map((c) => [c, $(`${c}-range`)])),
  num: Object.fromEntries(CHANNELS.map((c) => [c, $(`${c}-num`)])),
};

let live = null; // last state frame from the hub (canonical)
let local = { r: 0, g: 0, b: 0 }; // what the controls show
let lastSent = null;
let echoed = true; // the hub has broadcast lastSent back to us
let dragging = false;
let typing = false; // a number field holds an uncommitted value
let lastInputAt = -Infinity;
let releaseTimer = 0;
let status = { state: 'connecting' };
let statusTimer = 0;
let toastTimer = 0;

const clamp = (v) => Math.min(255, Math.max(0, Math.round(Number(v) || 0)));
const hex2 = (v) => v.toString(16).padStart(2, '0');
const toHex = (c) => `#${hex2(c.r)}${hex2(c.g)}${hex2(c.b)}`;
const same = (a, b) => !!a && !!b && a.r === b.r && a.g === b.g && a.b === b.b;
const fromHex = (h) => ({
  r: parseInt(h.slice(1, 3), 16),
  g: parseInt(h.slice(3, 5), 16),
  b: parseInt(h.slice(5, 7), 16),
});

function toast(text) {
  el.toast.textContent = text;
  el.toast.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.toast.classList.remove('show'), TOAST_MS);
}

// ---- rendering -----------------------------------------------------------

function renderControls(exceptNum) {
  for (const c of CHANNELS) {
    el.range[c].value = local[c];
    if (c !== exceptNum) el.num[c].value = local[c];
    // Each track shows what this channel would do to the current mix.
    const lo = { ...local, [c]: 0 };
    const hi = { ...local, [c]: 255 };
    el.range[c].style.setProperty('--lo', toHex(lo));
    el.range[c].style.setProperty('--hi', toHex(hi));
  }
  el.picker.value = toHex(local);
}

function renderLive() {
  if (!live) return;
  const hex = toHex(live);
  const lum = 0.2126 * live.r + 0.7152 * live.g + 0.0722 * live.b;
  el.swatch.style.setProperty('--live', hex);
  el.swatch.dataset.hex = hex;
  el.swatch.classList.toggle('light', lum > 140);
  el.swatch.setAttribute('aria-label', `Live colour ${hex}, red ${live.r}, green ${live.g}, blue ${live.b}`);
  el.hex.textContent = `${hex.toUpperCase()}  ·  ${live.r} ${live.g} ${live.b}`;
  document.documentElement.style.setProperty('--live', hex);
  el.seq.textContent = String(live.seq);
  const when = new Date(live.ts);
  if (Number.isNaN(when.getTime())) return;
  el.ts.dateTime = when.toISOString();
  el.ts.title = when.toLocaleString();
  el.ts.textContent = when.toLocaleTimeString([], { hourCycle: 'h23' });
}

function renderStatus() {
  clearInterval(statusTimer);
  statusTimer = 0;
  const { state, at } = status;
  const wait = at ? Math.max(0, Math.ceil((at - Date.now()) / 1000)) : 0;
  const text = {
    connecting: 'connecting…',
    live: 'live',
    reconnecting: at ? `reconnecting in ${wait} s` : 'reconnecting…',
    auth: 'auth failed',
  }[state];
  el.status.dataset.state = state;
  document.body.dataset.conn = state;
  el.statusText.textContent = text;
  if (state === 'reconnecting' && wait > 0) statusTimer = setInterval(renderStatus, 250);
}

// ---- local edits vs. incoming state ---------------------------------------

// While the user is moving a control, incoming state must not yank it; the
// controls catch up once the drag ends and our last value has echoed back
// (or HOLD_MS passed without an echo, e.g. the change was dropped).
function holding() {
  if (dragging || typing || coalescer.pending) return true;
  return !echoed && performance.now() - lastInputAt < HOLD_MS;
}

function syncFromLive() {
  clearTimeout(releaseTimer);
  releaseTimer = 0;
  if (!live) return;
  if (holding()) {
    releaseTimer = setTimeout(syncFromLive, 100);
    return;
  }
  if (!same(local, live)) {
    local = { r: live.r, g: live.g, b: live.b };
    renderControls();
  }
}

function send(c) {
  const result = conn.send({ type: 'set', cmdId: ulid(), src: 'ui', r: c.r, g: c.g, b: c.b });
  if (result === 'busy') return false;
  if (result === 'sent') {
    lastSent = c;
    echoed = false;
  } else toast('Not connected: change not sent');
  return true;
}

const coalescer = new Coalescer(send, 30);

function edit(next, exceptNum) {
  lastInputAt = performance.now();
  local = next;
  renderControls(exceptNum);
  coalescer.push(next);
}

// ---- hub ------------------------------------------------------------------

function onFrame(msg) {
  if (!msg || typeof msg !== 'object') return;
  if (msg.type === 'state') {
    if (!CHANNELS.every((c) => Number.isInteger(msg[c]) && msg[c] >= 0 && msg[c] <= 255)) {
      toast('Hub sent a state frame without valid r, g, b');
      return;
    }
    live = { r: msg.r, g: msg.g, b: msg.b, seq: msg.seq, ts: msg.ts };
    if (same(live, lastSent)) echoed = true;
    renderLive();
    syncFromLive();
  } else if (msg.type === 'error') {
    const field = msg.field ? ` (${msg.field})` : '';
    toast(`Hub refused the change${field}: ${msg.error}`);
    echoed = true; // nothing more will come back: show the hub's state
    syncFromLive();
  }
  // {"type":"ack","status":"duplicate"}: nothing changed, nothing to show.
}

const conn = new HubConnection({
  url: wsUrl,
  probeAuth: () => probeAuth('rgb'),
  onStatus: (s) => {
    if (s.state === 'auth') el.details.open = true;
    el.keyMsg.hidden = s.state !== 'auth';
    status = s;
    renderStatus();
  },
  onFrame,
  onNotice: toast,
});

// ---- wiring ----------------------------------------------------------------

for (const c of CHANNELS) {
  const range = el.range[c];
  const num = el.num[c];
  range.addEventListener('input', () => edit({ ...local, [c]: clamp(range.value) }));
  range.addEventListener('pointerdown', () => {
    dragging = true;
  });
  // Number fields: follow typing on screen, send on commit (Enter, blur, spin).
  num.addEventListener('input', () => {
    if (num.value === '') return;
    typing = true;
    local = { ...local, [c]: clamp(num.value) };
    renderControls(c);
  });
  num.addEventListener('change', () => {
    typing = false;
    edit({ ...local, [c]: clamp(num.value) });
  });
  num.addEventListener('blur', () => {
    typing = false;
    syncFromLive();
  });
}

el.picker.addEventListener('input', () => edit(fromHex(el.picker.value)));

function endDrag() {
  if (!dragging) return;
  dragging = false;
  lastInputAt = performance.now();
  syncFromLive();
}
window.addEventListener('pointerup', endDrag);
window.addEventListener('pointercancel', endDrag);
window.addEventListener('blur', endDrag);

function renderKeyState() {
  el.keyState.textContent = apiKey() ? 'key set' : 'no key';
}

el.keyInput.value = apiKey();
renderKeyState();
el.keyForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const key = el.keyInput.value.trim();
  try {
    if (key) localStorage.setItem(KEY_STORE, key);
    else localStorage.removeItem(KEY_STORE);
  } catch {
    toast('Could not store the key in this browser');
  }
  renderKeyState();
  toast(key ? 'API key saved: reconnecting' : 'API key cleared: reconnecting');
  conn.restart();
});

retryOnReturn(conn);

renderControls();
renderStatus();
conn.start();
registerServiceWorker();
