// The show page's shared parts: the hub's show state (room "show", only
// changed by snapshot and patch frames), the hub's clock, what follows from
// them (duration, position, whether editing is locked), formatting, small
// DOM helpers and sending intents. The other show_*.js files and show.js
// import from here; desk.js is set by show.js once startDesk returns.
//
// Everything shown comes from the hub's snapshot and patches (show.loaded,
// show.transport, show.previews, show.list, each a whole entity). The one
// thing computed here is the playhead: show.transport says where the show
// was at a moment ("at", the hub's clock) and how fast it moves, and the
// page extrapolates from that.

export let desk = null; // desk.js: connection, dmx state, fixtures, output (set last)
export function setDesk(d) {
  desk = d;
}

export const $ = (id) => document.getElementById(id);

// ---- the hub's show state (only changed by snapshot and patch frames) ------------

const STOPPED = Object.freeze({ state: 'stopped', t_ms: 0, at: 0, rate: 1 });
export const show = {
  available: true, // false: the hub has no room "show"
  have: false, // a snapshot with room "show" has arrived
  loaded: null, // {name, duration_ms, audio, cues, effects}
  transport: STOPPED,
  previews: [],
  list: [],
};

function takeShow(key, value) {
  switch (key) {
    case 'loaded':
      show.loaded = value && typeof value === 'object' ? value : null;
      break;
    case 'transport':
      show.transport = value && typeof value === 'object' ? value : STOPPED;
      break;
    case 'previews':
      show.previews = Array.isArray(value) ? value : [];
      break;
    case 'list':
      show.list = Array.isArray(value) ? value : [];
      break;
    default:
      console.warn('show: unknown state', key);
      return;
  }
}

export function onSnapshot(state) {
  const s = state.show;
  if (!s || typeof s !== 'object') return; // e.g. a hub without shows
  show.have = true;
  show.available = true;
  for (const key of ['loaded', 'transport', 'previews', 'list']) takeShow(key, s[key]);
}

export function onPatch(path, value) {
  if (!path.startsWith('show.')) return;
  const key = path.slice(5);
  if (key.includes('.')) {
    console.warn('show: patch below an entity', path);
    return;
  }
  takeShow(key, value);
}

// The hub has no room "show": nothing loaded, nothing listed.
export function noShows() {
  show.available = false;
  show.have = false;
  show.loaded = null;
  show.transport = STOPPED;
  show.previews = [];
  show.list = [];
}

// ---- the hub's clock -----------------------------------------------------------------

// show.transport.at is the hub's wall clock. A phone's clock can be off by
// seconds, so the page estimates the offset from the hub's own timestamps
// (output frames and events carry "ts"): local receive time minus ts is the
// offset plus the network delay, so the smallest recent one is the best
// estimate. Same machine: a few ms.
const skewSamples = [];
let skew = 0;

export function sampleClock(ts) {
  const t = Number(ts);
  if (!Number.isFinite(t) || t <= 0) return;
  skewSamples.push(Date.now() - t);
  if (skewSamples.length > 64) skewSamples.shift();
  skew = Math.min(...skewSamples);
}

export const hubNow = () => Date.now() - skew;

// ---- derived values -----------------------------------------------------------------

export const duration = () => (show.loaded ? Math.max(0, Number(show.loaded.duration_ms) || 0) : 0);
export const rateOf = (tr) => (Number.isFinite(Number(tr.rate)) && Number(tr.rate) > 0 ? Number(tr.rate) : 1);
export const playing = () => show.transport.state === 'playing';

// Where the show is now, in ms (0..duration).
export function position(now = hubNow()) {
  const tr = show.transport;
  let t = Number(tr.t_ms) || 0;
  if (tr.state === 'playing') t += (now - (Number(tr.at) || now)) * rateOf(tr);
  return Math.max(0, Math.min(duration(), t));
}

// Why cues and effects cannot be edited now ('' when they can).
export function lockReason() {
  if (!show.available) return 'This hub serves no shows.';
  if (!show.loaded) return 'Load a show to edit its cues.';
  if (playing()) return 'Pause or stop playback to edit cues.';
  return '';
}

// ---- formatting and DOM helpers ------------------------------------------------------

export function fmtTime(ms) {
  const v = Math.max(0, Math.floor(Number(ms) || 0));
  const h = Math.floor(v / 3600000);
  const m = Math.floor(v / 60000) % 60;
  const s = Math.floor(v / 1000) % 60;
  const mmss = `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(v % 1000).padStart(3, '0')}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

export function fmtShort(ms) {
  const v = Math.max(0, Math.round(Number(ms) || 0));
  if (v < 1000) return `${v} ms`;
  const s = v / 1000;
  if (s < 60) return `${Number.isInteger(s) ? s : s.toFixed(s < 10 ? 2 : 1)} s`;
  return `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
}

export const pct = (t, d) => `${d > 0 ? Math.max(0, Math.min(100, (t / d) * 100)) : 0}%`;
export const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
export const list = (v) => (Array.isArray(v) ? v : []);
export const fixtureNames = () => (desk ? Object.keys(desk.hub.fixtures) : []).sort((a, b) => {
  const fa = desk.hub.fixtures[a];
  const fb = desk.hub.fixtures[b];
  return (fa.universe - fb.universe) || (fa.address - fb.address) || (a < b ? -1 : a > b ? 1 : 0);
});

export function make(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function button(text, cls, label, onClick) {
  const b = make('button', cls, text);
  b.type = 'button';
  if (label) b.setAttribute('aria-label', label);
  b.addEventListener('click', onClick);
  return b;
}

// ---- sending ----------------------------------------------------------------------------

// Returns the req_id, or null when nothing went out (offline: desk.js says so).
export function send(name, payload, label, onResult) {
  const id = desk.sendIntent(name, payload, { kind: 'show', label, onResult });
  if (id === 'busy') {
    desk.toast(`${label}: the connection is backed up, try again`);
    return null;
  }
  return id;
}

export const errorText = (msg) => {
  const e = msg.error || {};
  return `${e.message || e.code || 'unknown error'}${e.field ? ` (${e.field})` : ''}`;
};
