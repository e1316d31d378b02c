// showhub show console: the shows on the hub, the loaded show's timeline
// with transport and audio, its cues and effects (editable while not
// playing), preview effects, and the console's fixtures and live output
// (desk.js). Rooms "dmx", "show", "system" and "frames".
//
// Everything shown comes from the hub's snapshot and patches (room "show":
// show.loaded, show.transport, show.previews, show.list, each a whole
// entity). The page never assumes an intent worked: a button sends, and
// the patch that follows (or the refusal) is what the page shows. The one
// thing computed here is the playhead: show.transport says where the show
// was at a moment ("at", the hub's clock) and how fast it moves, and the
// page extrapolates from that on every animation frame.
import { rolesOf, startDesk } from './desk.js';

const EFFECTS = ['pulse', 'chase', 'rainbow', 'strobe', 'sine'];
const CURVES = ['step', 'linear', 'ease_in_out'];
// Which params each effect takes (the hub refuses the others).
const FX_PARAMS = {
  pulse: ['period_ms', 'role', 'min', 'max', 'spread'],
  chase: ['period_ms', 'role', 'min', 'max'],
  rainbow: ['period_ms', 'max', 'spread'],
  strobe: ['period_ms', 'role', 'min', 'max', 'duty'],
  sine: ['period_ms', 'role', 'min', 'max', 'spread'],
};
const PARAMS = [
  { key: 'period_ms', label: 'Period (ms)', min: 1, step: 1 },
  { key: 'role', label: 'Role' },
  { key: 'min', label: 'Min', min: 0, max: 255, step: 1 },
  { key: 'max', label: 'Max', min: 0, max: 255, step: 1 },
  { key: 'duty', label: 'Duty (0–1)', min: 0, max: 1, step: 0.05 },
  { key: 'spread', label: 'Spread (0–1)', min: 0, max: 1, step: 0.05 },
];
const AUDIO_DRIFT_S = 0.15; // re-seek the audio when it is further off than this
const AUDIO_SEEK_GAP_MS = 750; // and not more often than this
const DELETE_CONFIRM_MS = 4000; // a Delete button waits this long for its second tap
const MUTE_STORE = 'showhub.showMuted';

let desk = null; // desk.js: connection, dmx state, fixtures, output (set last)

const $ = (id) => document.getElementById(id);
const el = {
  noshow: $('noshow-banner'),
  title: $('show-title'),
  facts: $('show-facts'),
  clock: $('clock'),
  duration: $('duration'),
  tstate: $('transport-state'),
  play: $('play'),
  pause: $('pause'),
  stop: $('stop'),
  timeline: $('timeline'),
  ruler: $('ruler'),
  cueLane: $('cue-lane'),
  fxLane: $('fx-lane'),
  playhead: $('playhead'),
  timelineEmpty: $('timeline-empty'),
  audioRow: $('audio-row'),
  audio: $('audio'),
  audioStatus: $('audio-status'),
  audioEnable: $('audio-enable'),
  audioMute: $('audio-mute'),
  unload: $('unload'),
  showList: $('show-list'),
  showsEmpty: $('shows-empty'),
  showsHint: $('shows-hint'),
  cueAdd: $('cue-add'),
  fxAdd: $('fx-add'),
  editLock: $('edit-lock'),
  editError: $('edit-error'),
  cueRows: $('cue-rows'),
  cueTable: $('cue-table'),
  cuesEmpty: $('cues-empty'),
  fxRows: $('fx-rows'),
  fxTable: $('fx-table'),
  fxEmpty: $('fx-empty'),
  pvFixtures: $('pv-fixtures'),
  pvDur: $('pv-dur'),
  pvParams: $('pv-params'),
  pvButtons: $('pv-buttons'),
  pvStop: $('pv-stop'),
  pvList: $('pv-list'),
  pvEmpty: $('pv-empty'),
  cueDialog: $('cue-dialog'),
  cueForm: $('cue-form'),
  cueId: $('cue-id'),
  cueT: $('cue-t'),
  cueFixtures: $('cue-fixtures'),
  cueValues: $('cue-values'),
  cuePoi: $('cue-poi'),
  cueFade: $('cue-fade'),
  cueCurve: $('cue-curve'),
  fxDialog: $('fx-dialog'),
  fxForm: $('fx-form'),
  fxId: $('fx-id'),
  fxT: $('fx-t'),
  fxDur: $('fx-dur'),
  fxFixtures: $('fx-fixtures'),
  fxEffect: $('fx-effect'),
  fxParams: $('fx-params'),
};

// ---- the hub's show state (only changed by snapshot and patch frames) ------------

const STOPPED = Object.freeze({ state: 'stopped', t_ms: 0, at: 0, rate: 1 });
const show = {
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

function onSnapshot(state) {
  const s = state.show;
  if (!s || typeof s !== 'object') return; // e.g. a hub without shows
  show.have = true;
  show.available = true;
  for (const key of ['loaded', 'transport', 'previews', 'list']) takeShow(key, s[key]);
}

function onPatch(path, value) {
  if (!path.startsWith('show.')) return;
  const key = path.slice(5);
  if (key.includes('.')) {
    console.warn('show: patch below an entity', path);
    return;
  }
  takeShow(key, value);
}

// ---- the hub's clock -----------------------------------------------------------------

// show.transport.at is the hub's wall clock. A phone's clock can be off by
// seconds, so the page estimates the offset from the hub's own timestamps
// (output frames and events carry "ts"): local receive time minus ts is the
// offset plus the network delay, so the smallest recent one is the best
// estimate. Same machine: a few ms.
const skewSamples = [];
let skew = 0;

function sampleClock(ts) {
  const t = Number(ts);
  if (!Number.isFinite(t) || t <= 0) return;
  skewSamples.push(Date.now() - t);
  if (skewSamples.length > 64) skewSamples.shift();
  skew = Math.min(...skewSamples);
}

const hubNow = () => Date.now() - skew;

// ---- derived values -----------------------------------------------------------------

const duration = () => (show.loaded ? Math.max(0, Number(show.loaded.duration_ms) || 0) : 0);
const rateOf = (tr) => (Number.isFinite(Number(tr.rate)) && Number(tr.rate) > 0 ? Number(tr.rate) : 1);
const playing = () => show.transport.state === 'playing';

// Where the show is now, in ms (0..duration).
function position(now = hubNow()) {
  const tr = show.transport;
  let t = Number(tr.t_ms) || 0;
  if (tr.state === 'playing') t += (now - (Number(tr.at) || now)) * rateOf(tr);
  return Math.max(0, Math.min(duration(), t));
}

// Why cues and effects cannot be edited now ('' when they can).
function lockReason() {
  if (!show.available) return 'This hub serves no shows.';
  if (!show.loaded) return 'Load a show to edit its cues.';
  if (playing()) return 'Pause or stop playback to edit cues.';
  return '';
}

function fmtTime(ms) {
  const v = Math.max(0, Math.floor(Number(ms) || 0));
  const h = Math.floor(v / 3600000);
  const m = Math.floor(v / 60000) % 60;
  const s = Math.floor(v / 1000) % 60;
  const mmss = `${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(v % 1000).padStart(3, '0')}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

function fmtShort(ms) {
  const v = Math.max(0, Math.round(Number(ms) || 0));
  if (v < 1000) return `${v} ms`;
  const s = v / 1000;
  if (s < 60) return `${Number.isInteger(s) ? s : s.toFixed(s < 10 ? 2 : 1)} s`;
  return `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
}

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
const list = (v) => (Array.isArray(v) ? v : []);
const fixtureNames = () => (desk ? Object.keys(desk.hub.fixtures) : []).sort((a, b) => {
  const fa = desk.hub.fixtures[a];
  const fb = desk.hub.fixtures[b];
  return (fa.universe - fb.universe) || (fa.address - fb.address) || (a < b ? -1 : a > b ? 1 : 0);
});

function make(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function button(text, cls, label, onClick) {
  const b = make('button', cls, text);
  b.type = 'button';
  if (label) b.setAttribute('aria-label', label);
  b.addEventListener('click', onClick);
  return b;
}

// ---- sending ----------------------------------------------------------------------------

// Returns the req_id, or null when nothing went out (offline: desk.js says so).
function send(name, payload, label, onResult) {
  const id = desk.sendIntent(name, payload, { kind: 'show', label, onResult });
  if (id === 'busy') {
    desk.toast(`${label}: the connection is backed up, try again`);
    return null;
  }
  return id;
}

const errorText = (msg) => {
  const e = msg.error || {};
  return `${e.message || e.code || 'unknown error'}${e.field ? ` (${e.field})` : ''}`;
};

// ---- transport ----------------------------------------------------------------------------

el.play.addEventListener('click', () => send('transport.play', {}, 'Play'));
el.pause.addEventListener('click', () => send('transport.pause', {}, 'Pause'));
el.stop.addEventListener('click', () => send('transport.stop', {}, 'Stop'));

function jumpTo(t) {
  const d = duration();
  if (!show.loaded) return;
  const t_ms = Math.max(0, Math.min(d, Math.round(t)));
  send('transport.jump_to_time', { t_ms }, `Jump to ${fmtTime(t_ms)}`);
}

el.timeline.addEventListener('click', (ev) => {
  if (!show.loaded) return;
  const r = el.timeline.getBoundingClientRect();
  const x = Math.max(0, Math.min(r.width, ev.clientX - r.left));
  jumpTo((x / r.width) * duration());
});

el.timeline.addEventListener('keydown', (ev) => {
  if (!show.loaded) return;
  const d = duration();
  const step = ev.shiftKey ? 100 : 1000;
  const now = position();
  const to = {
    ArrowRight: now + step, ArrowUp: now + step, ArrowLeft: now - step, ArrowDown: now - step,
    PageUp: now + 10000, PageDown: now - 10000, Home: 0, End: d,
  }[ev.key];
  if (to === undefined) return;
  ev.preventDefault();
  jumpTo(to);
});

function renderTransport() {
  const tr = show.transport;
  const loaded = show.loaded;
  const state = ['playing', 'paused', 'stopped'].includes(tr.state) ? tr.state : 'stopped';
  el.title.textContent = loaded ? loaded.name : show.available ? 'No show loaded' : 'Shows unavailable';
  el.facts.textContent = loaded
    ? [plural(list(loaded.cues).length, 'cue', 'cues'), plural(list(loaded.effects).length, 'effect', 'effects'),
      loaded.audio ? `audio ${loaded.audio}` : 'no audio'].join(' · ')
    : '';
  el.duration.textContent = fmtTime(duration());
  el.tstate.textContent = rateOf(tr) !== 1 && state === 'playing' ? `playing ×${rateOf(tr)}` : state;
  el.tstate.dataset.state = state;
  el.play.disabled = !loaded || state === 'playing';
  el.pause.disabled = !loaded || state !== 'playing';
  el.stop.disabled = !loaded || state === 'stopped';
  el.play.setAttribute('aria-pressed', String(state === 'playing'));
  el.pause.setAttribute('aria-pressed', String(state === 'paused'));
  el.timeline.setAttribute('aria-valuemax', String(duration()));
  el.timeline.setAttribute('aria-disabled', String(!loaded));
  el.timeline.dataset.state = state;
  el.unload.disabled = !loaded || state === 'playing';
}

// ---- timeline -------------------------------------------------------------------------------

const pct = (t, d) => `${d > 0 ? Math.max(0, Math.min(100, (t / d) * 100)) : 0}%`;
let timelineKey = null;

// Ruler ticks at a round step that leaves about 70 px between labels.
function renderRuler() {
  const d = duration();
  el.ruler.replaceChildren();
  if (!show.loaded || d <= 0) return;
  const width = el.timeline.clientWidth || 300;
  const steps = [100, 250, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000, 1800000, 3600000];
  const step = steps.find((s) => (s / d) * width >= 70) || steps.at(-1);
  for (let t = 0; t <= d; t += step) {
    const tick = make('span', 'tick', t === 0 ? '0' : fmtShort(t));
    tick.style.left = pct(t, d);
    el.ruler.append(tick);
  }
}

function renderTimeline() {
  const loaded = show.loaded;
  if (loaded === timelineKey) return;
  timelineKey = loaded;
  const d = duration();
  el.timeline.classList.toggle('empty', !loaded);
  el.timelineEmpty.hidden = !!loaded;
  el.cueLane.replaceChildren();
  el.fxLane.replaceChildren();
  renderRuler();
  if (!loaded) return;
  for (const c of list(loaded.cues)) {
    const t = Number(c.t_ms) || 0;
    const fade = Math.max(0, Number(c.fade_ms) || 0);
    const m = make('span', 'cue-mark');
    m.dataset.id = c.id;
    m.style.left = pct(t, d);
    m.title = `${c.id} at ${fmtTime(t)}${fade ? `, fade ${fmtShort(fade)} ${c.curve || ''}` : ''}`;
    if (fade > 0 && c.curve !== 'step') {
      // The fade as a bar from t_ms to t_ms + fade_ms, drawn by its curve.
      const bar = make('span', `fade-bar curve-${c.curve || 'linear'}`);
      bar.dataset.id = c.id;
      bar.style.left = pct(t, d);
      bar.style.width = pct(Math.min(fade, d - t), d);
      el.cueLane.append(bar);
    }
    m.append(make('span', 'cue-label', c.id));
    el.cueLane.append(m);
  }
  // Effects: greedy lanes so overlapping effects stack.
  const lanes = [];
  const fx = list(loaded.effects).map((e, i) => ({ e, i })).sort((a, b) => (a.e.t_ms - b.e.t_ms) || (a.i - b.i));
  for (const { e } of fx) {
    const t = Number(e.t_ms) || 0;
    const end = Math.min(d, t + (Number(e.dur_ms) || 0));
    let lane = lanes.findIndex((last) => last <= t);
    if (lane < 0) {
      lane = lanes.length;
      lanes.push(end);
    } else {
      lanes[lane] = end;
    }
    const bar = make('span', `fx-bar fx-${e.effect}`);
    bar.dataset.id = e.id;
    bar.dataset.lane = String(lane);
    bar.style.left = pct(t, d);
    bar.style.width = pct(end - t, d);
    bar.style.top = `${lane * 30 + 4}px`;
    bar.title = `${e.id}: ${e.effect} ${fmtTime(t)}–${fmtTime(end)}`;
    bar.append(make('span', 'fx-label', `${e.id} ${e.effect}`));
    el.fxLane.append(bar);
  }
  el.fxLane.style.height = `${Math.max(1, lanes.length) * 30 + 8}px`;
}

new ResizeObserver(() => renderRuler()).observe(el.timeline);

// The playhead, clock and audio follow the transport on every animation
// frame while playing; otherwise once per change.
let raf = 0;
let shownClock = '';
let shownSecond = -1;

function paintPosition() {
  raf = 0;
  const pos = position();
  const d = duration();
  el.playhead.style.left = pct(pos, d);
  el.playhead.hidden = !show.loaded;
  const text = fmtTime(pos);
  if (text !== shownClock) {
    shownClock = text;
    el.clock.textContent = text;
    el.clock.dateTime = `PT${(Math.floor(pos) / 1000).toFixed(3)}S`;
  }
  const second = Math.floor(pos / 1000);
  if (second !== shownSecond) {
    shownSecond = second;
    el.timeline.setAttribute('aria-valuenow', String(Math.floor(pos)));
    el.timeline.setAttribute('aria-valuetext', fmtTime(pos).replace(/\.\d+$/, ''));
  }
  syncAudio(pos);
  if (playing()) raf = requestAnimationFrame(paintPosition);
}

function kick() {
  if (!raf) raf = requestAnimationFrame(paintPosition);
}

// ---- audio ------------------------------------------------------------------------------------

const audio = { src: '', blocked: false, failed: '', starting: false, lastSeek: -Infinity };

try {
  el.audioMute.checked = localStorage.getItem(MUTE_STORE) === '1';
} catch {
  el.audioMute.checked = false;
}
el.audio.muted = el.audioMute.checked;
el.audioMute.addEventListener('change', () => {
  el.audio.muted = el.audioMute.checked;
  try {
    localStorage.setItem(MUTE_STORE, el.audioMute.checked ? '1' : '0');
  } catch {
    // private mode: the choice lasts this page
  }
});

function renderAudio() {
  const loaded = show.loaded;
  const src = loaded && loaded.audio ? `api/v1/shows/${encodeURIComponent(loaded.name)}/audio` : '';
  if (src !== audio.src) {
    audio.src = src;
    audio.failed = '';
    audio.starting = false;
    el.audio.pause();
    if (src) el.audio.src = new URL(src, document.baseURI).href;
    else {
      el.audio.removeAttribute('src');
      el.audio.load();
    }
  }
  el.audioRow.hidden = !src;
  let text = '';
  if (src) {
    if (audio.failed) text = `Audio ${loaded.audio}: ${audio.failed}`;
    else if (audio.blocked) text = `Audio ${loaded.audio}: the browser wants a tap before it plays sound.`;
    else text = `Audio ${loaded.audio}, following the transport`;
  }
  el.audioStatus.textContent = text;
  el.audioEnable.hidden = !src || !audio.blocked;
}

function seekAudio(s) {
  audio.lastSeek = performance.now();
  try {
    el.audio.currentTime = s;
  } catch {
    // no metadata yet: loadedmetadata seeks again
  }
}

function syncAudio(pos) {
  if (!audio.src || audio.failed) return;
  const a = el.audio;
  const want = pos / 1000;
  const end = Number.isFinite(a.duration) ? a.duration : Infinity;
  const tr = show.transport;
  if (tr.state === 'playing' && want < end && pos < duration()) {
    if (a.playbackRate !== rateOf(tr)) a.playbackRate = rateOf(tr);
    if (a.paused) {
      if (audio.blocked || audio.starting) return;
      seekAudio(want);
      audio.starting = true;
      a.play().then(() => {
        audio.starting = false;
        if (audio.blocked) {
          audio.blocked = false;
          renderAudio();
        }
        kick();
      }, (err) => {
        audio.starting = false;
        if (err && err.name === 'NotAllowedError') audio.blocked = true;
        else if (err && err.name !== 'AbortError') audio.failed = `cannot play (${err.message || err.name})`;
        renderAudio();
      });
    } else if (!a.seeking && Math.abs(a.currentTime - want) > AUDIO_DRIFT_S
      && performance.now() - audio.lastSeek > AUDIO_SEEK_GAP_MS) {
      seekAudio(want);
    }
  } else {
    if (!a.paused) a.pause();
    if (!a.seeking && Math.abs(a.currentTime - Math.min(want, end)) > 0.05 && a.readyState > 0) {
      seekAudio(Math.min(want, end));
    }
  }
}

el.audio.addEventListener('loadedmetadata', () => {
  audio.lastSeek = -Infinity;
  syncAudio(position());
});
el.audio.addEventListener('error', () => {
  if (!audio.src) return;
  audio.failed = 'the hub could not serve the file';
  renderAudio();
});
el.audioEnable.addEventListener('click', () => {
  // A tap is the gesture the browser waits for: play now, then follow.
  audio.blocked = false;
  audio.starting = true;
  seekAudio(position() / 1000);
  const p = el.audio.play();
  p.then(() => {
    audio.starting = false;
    if (!playing()) el.audio.pause();
    renderAudio();
    kick();
  }, (err) => {
    audio.starting = false;
    audio.blocked = err && err.name === 'NotAllowedError';
    if (!audio.blocked) audio.failed = `cannot play (${err.message || err.name})`;
    renderAudio();
  });
  renderAudio();
});

// ---- show list --------------------------------------------------------------------------------

let listKey = null;

function renderShowList() {
  const busy = playing(); // the hub refuses load and unload while playing
  const key = JSON.stringify([show.list, show.loaded && show.loaded.name, show.available, busy]);
  if (key === listKey) return;
  listKey = key;
  const loadedName = show.loaded ? show.loaded.name : null;
  const focused = document.activeElement && document.activeElement.closest('#show-list [data-show]');
  const focusName = focused ? focused.dataset.show : null;
  el.showList.replaceChildren(...show.list.map((s) => {
    const li = make('li', 'show-item');
    const name = typeof s.name === 'string' ? s.name : '?';
    li.dataset.show = name;
    const info = make('div', 'show-info');
    info.append(make('span', 'show-name', name));
    if (typeof s.error === 'string') {
      li.classList.add('invalid');
      li.dataset.invalid = 'true';
      info.append(make('span', 'badge bad', 'invalid'), make('p', 'show-error', s.error));
      li.append(info);
      return li;
    }
    const facts = [fmtShort(s.duration_ms), plural(Number(s.cues) || 0, 'cue', 'cues'),
      plural(Number(s.effects) || 0, 'effect', 'effects')];
    if (s.audio) facts.push('audio');
    info.append(make('span', 'show-facts muted', facts.join(' · ')));
    if (name === loadedName) {
      li.classList.add('loaded');
      li.setAttribute('aria-current', 'true');
      info.append(make('span', 'badge ok', 'loaded'));
    }
    const b = button(name === loadedName ? 'Reload' : 'Load', 'small', `Load show ${name}`,
      () => send('show.load', { name }, `Load ${name}`));
    b.dataset.show = name;
    b.disabled = busy;
    li.append(info, b);
    return li;
  }));
  if (focusName) {
    const again = el.showList.querySelector(`button[data-show="${CSS.escape(focusName)}"]`);
    if (again) again.focus();
  }
  el.showsHint.hidden = !busy;
  el.showsEmpty.hidden = show.list.length > 0;
  el.showsEmpty.textContent = !show.available ? 'This hub serves no shows.'
    : !show.have ? 'Waiting for the hub…' : 'No show files in the shows folder.';
}

el.unload.addEventListener('click', () => send('show.unload', {}, 'Unload'));

// ---- cue and effect tables ---------------------------------------------------------------------

let tablesKey = null;
let armedDelete = null; // {kind, id, timer}: the Delete that waits for a second tap

function valuesText(c) {
  const parts = Object.entries(c.values && typeof c.values === 'object' ? c.values : {})
    .map(([r, v]) => `${r.replace(/_/g, ' ')} ${v}`);
  if (c.poi) parts.push(`→ ${c.poi}`);
  return parts.join(', ') || '—';
}

function paramsText(e) {
  const p = e.params && typeof e.params === 'object' ? e.params : {};
  const parts = [];
  if (p.period_ms !== undefined) parts.push(`period ${fmtShort(p.period_ms)}`);
  if (p.role !== undefined) parts.push(String(p.role));
  if (p.min !== undefined || p.max !== undefined) parts.push(`${p.min ?? 0}–${p.max ?? 255}`);
  if (p.duty !== undefined) parts.push(`duty ${p.duty}`);
  if (p.spread !== undefined) parts.push(`spread ${p.spread}`);
  return parts.join(', ') || 'defaults';
}

function cell(row, label, text, cls) {
  const td = make('td', cls, text);
  td.dataset.label = label;
  row.append(td);
  return td;
}

function actionsCell(row, kind, id, item) {
  const td = make('td', 'actions');
  const noun = kind === 'cue' ? 'cue' : 'effect';
  const edit = button('Edit', 'ghost small', `Edit ${noun} ${id}`,
    () => (kind === 'cue' ? openCueEditor(item) : openFxEditor(item)));
  edit.dataset.action = 'edit';
  const armed = armedDelete && armedDelete.kind === kind && armedDelete.id === id;
  const del = button(armed ? 'Confirm' : 'Delete', `small ${armed ? 'danger' : 'ghost'}`,
    `${armed ? 'Confirm delete' : 'Delete'} ${noun} ${id}`, () => onDelete(kind, id));
  del.dataset.action = 'delete';
  td.append(edit, del);
  row.append(td);
}

function renderTables() {
  const loaded = show.loaded;
  const lock = lockReason();
  const key = JSON.stringify([loaded && loaded.cues, loaded && loaded.effects, lock, armedDelete && [armedDelete.kind, armedDelete.id]]);
  if (key !== tablesKey) {
    tablesKey = key;
    const active = document.activeElement;
    const refocus = active && active.closest('tr[data-id]') && active.dataset.action
      ? [active.closest('tbody').id, active.closest('tr').dataset.id, active.dataset.action] : null;
    const byTime = (items) => items.map((x, i) => ({ x, i }))
      .sort((a, b) => ((Number(a.x.t_ms) || 0) - (Number(b.x.t_ms) || 0)) || (a.i - b.i)).map((o) => o.x);
    const cues = byTime(list(loaded && loaded.cues));
    el.cueRows.replaceChildren(...cues.map((c) => {
      const tr = make('tr', 'cue-row');
      tr.dataset.id = c.id;
      const th = make('th', 'id', c.id);
      th.scope = 'row';
      th.dataset.label = 'Id';
      tr.append(th);
      cell(tr, 'Time', fmtTime(c.t_ms), 'num');
      cell(tr, 'Fixtures', list(c.fixtures).join(', '));
      cell(tr, 'Values', valuesText(c), 'vals');
      cell(tr, 'Fade', `${Number(c.fade_ms) || 0} ms`, 'num fade');
      cell(tr, 'Curve', String(c.curve || 'linear').replace(/_/g, ' '), 'curve');
      actionsCell(tr, 'cue', c.id, c);
      return tr;
    }));
    const fx = byTime(list(loaded && loaded.effects));
    el.fxRows.replaceChildren(...fx.map((e) => {
      const tr = make('tr', 'fx-row');
      tr.dataset.id = e.id;
      const th = make('th', 'id', e.id);
      th.scope = 'row';
      th.dataset.label = 'Id';
      tr.append(th);
      cell(tr, 'Time', fmtTime(e.t_ms), 'num');
      cell(tr, 'Length', `${Number(e.dur_ms) || 0} ms`, 'num');
      cell(tr, 'Fixtures', list(e.fixtures).join(', '));
      cell(tr, 'Effect', String(e.effect || ''));
      cell(tr, 'Params', paramsText(e), 'vals');
      actionsCell(tr, 'effect', e.id, e);
      return tr;
    }));
    el.cueTable.hidden = cues.length === 0;
    el.fxTable.hidden = fx.length === 0;
    el.cuesEmpty.hidden = cues.length > 0;
    el.fxEmpty.hidden = fx.length > 0;
    el.cuesEmpty.textContent = loaded ? 'No cues yet.' : 'No show loaded.';
    el.fxEmpty.textContent = loaded ? 'No effects yet.' : 'No show loaded.';
    if (refocus) {
      const b = document.querySelector(`#${refocus[0]} tr[data-id="${CSS.escape(refocus[1])}"] [data-action="${refocus[2]}"]`);
      if (b) b.focus();
    }
  }
  // Locked: every edit control off, and the reason where they are.
  el.editLock.hidden = !lock;
  el.editLock.textContent = lock;
  el.editor.classList.toggle('locked', !!lock);
  el.editor.dataset.locked = String(!!lock);
  el.cueAdd.disabled = !!lock;
  el.fxAdd.disabled = !!lock;
  for (const b of el.editor.querySelectorAll('td.actions button')) b.disabled = !!lock;
  for (const f of [cueEd, fxEd]) renderEditorLock(f, lock);
}
el.editor = el.cueAdd.closest('.editor');

function onDelete(kind, id) {
  if (!armedDelete || armedDelete.kind !== kind || armedDelete.id !== id) {
    if (armedDelete) clearTimeout(armedDelete.timer);
    armedDelete = {
      kind, id, timer: setTimeout(() => {
        armedDelete = null;
        renderTables();
      }, DELETE_CONFIRM_MS),
    };
    renderTables();
    return;
  }
  clearTimeout(armedDelete.timer);
  armedDelete = null;
  const noun = kind === 'cue' ? 'cue' : 'effect';
  send(`${noun}.delete`, { id }, `Delete ${noun} ${id}`, (msg) => {
    if (msg.ok) setEditError('');
    else refused(`Delete ${noun} ${id}`, msg);
  });
  renderTables();
}

function setEditError(text) {
  el.editError.hidden = !text;
  el.editError.textContent = text;
}

function refused(what, msg) {
  const text = `${what} refused: ${errorText(msg)}`;
  setEditError(text);
  desk.toast(text);
}

// ---- editor dialogs -----------------------------------------------------------------------------

// Fixture chips: one checkbox per fixture (touch-sized labels).
function renderChips(fieldset, selected, onChange) {
  const names = fixtureNames();
  const extra = [...selected].filter((n) => !names.includes(n)); // gone from the patch
  const all = [...names, ...extra];
  const key = all.join('\n');
  if (fieldset.dataset.key !== key) {
    fieldset.dataset.key = key;
    for (const old of fieldset.querySelectorAll('label')) old.remove();
    for (const name of all) {
      const label = make('label', 'chip');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.value = name;
      box.addEventListener('change', () => onChange && onChange());
      label.append(box, make('span', '', name));
      if (!names.includes(name)) label.classList.add('gone');
      fieldset.append(label);
    }
  }
  for (const box of fieldset.querySelectorAll('input')) box.checked = selected.has(box.value);
}

const chosen = (fieldset) => [...fieldset.querySelectorAll('input:checked')].map((b) => b.value);

// Effect parameter fields; read(effect) gives the filled ones that apply.
function paramsBlock(container, prefix) {
  const fields = new Map();
  for (const p of PARAMS) {
    const wrap = make('div', 'fld');
    wrap.dataset.param = p.key;
    const label = make('label', '', p.label);
    let input;
    if (p.key === 'role') {
      input = document.createElement('select');
    } else {
      input = document.createElement('input');
      input.type = 'number';
      input.inputMode = p.step < 1 ? 'decimal' : 'numeric';
      for (const a of ['min', 'max', 'step']) if (p[a] !== undefined) input[a] = String(p[a]);
      input.placeholder = 'default';
    }
    input.id = `${prefix}-${p.key}`;
    label.htmlFor = input.id;
    wrap.append(label, input);
    container.append(wrap);
    fields.set(p.key, { wrap, input });
  }
  const block = {
    setRoles(roles, current) {
      const sel = fields.get('role').input;
      const keep = current === undefined || current === null ? sel.value : current;
      const want = ['', ...new Set([...roles, ...(keep ? [keep] : [])])];
      const key = want.join('\n');
      if (sel.dataset.key !== key) {
        sel.dataset.key = key;
        sel.replaceChildren(...want.map((r) => {
          const o = make('option', '', r === '' ? 'default' : r);
          o.value = r;
          return o;
        }));
        sel.value = want.includes(keep) ? keep : '';
      }
    },
    show(effect) {
      const ok = FX_PARAMS[effect] || PARAMS.map((p) => p.key);
      for (const [k, f] of fields) f.wrap.hidden = !ok.includes(k);
    },
    fill(params) {
      const p = params && typeof params === 'object' ? params : {};
      for (const [k, f] of fields) {
        if (k === 'role') block.setRoles(allRoles(), p.role || '');
        f.input.value = p[k] === undefined || p[k] === null ? '' : String(p[k]);
      }
    },
    read(effect) {
      const out = {};
      for (const k of FX_PARAMS[effect] || []) {
        const v = fields.get(k).input.value.trim();
        if (v === '') continue;
        out[k] = k === 'role' ? v : Number(v);
      }
      return out;
    },
  };
  return block;
}

function allRoles(names) {
  const roles = new Set();
  if (!desk) return [];
  for (const n of names || Object.keys(desk.hub.fixtures)) {
    const f = desk.hub.fixtures[n];
    if (f) for (const r of rolesOf(f)) roles.add(r);
  }
  return [...roles];
}

// One editor (cue or effect) in a <dialog>: what it edits, and the intent
// it waits for.
function editorOf(kind, dialog, form) {
  return {
    kind, dialog, form, mode: 'add', id: null, req: null,
    lock: form.querySelector('[data-lock]'),
    error: form.querySelector('[data-error]'),
    save: form.querySelector('[data-save]'),
  };
}
const cueEd = editorOf('cue', el.cueDialog, el.cueForm);
const fxEd = editorOf('effect', el.fxDialog, el.fxForm);
const fxParams = paramsBlock(el.fxParams, 'fx');
const pvParams = paramsBlock(el.pvParams, 'pv');

function renderEditorLock(ed, lock) {
  ed.lock.hidden = !lock;
  ed.lock.textContent = lock;
  ed.save.disabled = !!lock || ed.req !== null;
  ed.save.textContent = ed.req !== null ? 'Saving…' : `Save ${ed.kind}`;
}

function setFormError(ed, text) {
  ed.error.hidden = !text;
  ed.error.textContent = text;
  if (text) ed.error.scrollIntoView({ block: 'nearest' });
}

for (const ed of [cueEd, fxEd]) {
  ed.form.querySelector('[data-cancel]').addEventListener('click', () => ed.dialog.close());
  ed.dialog.addEventListener('close', () => {
    ed.req = null; // a late answer still reaches the table through the patch
    setFormError(ed, '');
  });
  ed.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submitEditor(ed);
  });
}

for (const b of document.querySelectorAll('[data-playhead]')) {
  b.addEventListener('click', () => {
    const input = $(b.dataset.playhead);
    input.value = String(Math.round(position()));
    input.dispatchEvent(new Event('input'));
  });
}
for (const hint of document.querySelectorAll('[data-time-of]')) {
  const input = $(hint.dataset.timeOf);
  const update = () => {
    hint.textContent = input.value === '' ? '' : `= ${fmtTime(Number(input.value))}`;
  };
  input.addEventListener('input', update);
  hint.update = update;
}
const updateHints = () => {
  for (const hint of document.querySelectorAll('[data-time-of]')) hint.update();
};

function nextId(prefix) {
  const taken = new Set([...list(show.loaded && show.loaded.cues), ...list(show.loaded && show.loaded.effects)].map((x) => x.id));
  let n = 1;
  while (taken.has(`${prefix}${n}`)) n++;
  return `${prefix}${n}`;
}

// -- cue editor

let cueDraftValues = {}; // role -> typed text, kept while fixtures are toggled

function renderCueValues() {
  for (const input of el.cueValues.querySelectorAll('input')) cueDraftValues[input.dataset.role] = input.value;
  const roles = allRoles(chosen(el.cueFixtures));
  for (const [r, v] of Object.entries(cueDraftValues)) if (v !== '' && !roles.includes(r)) roles.push(r);
  for (const old of el.cueValues.querySelectorAll('.val, .hint')) old.remove();
  if (roles.length === 0) {
    el.cueValues.append(make('p', 'hint muted', 'Pick fixtures to set their values.'));
    return;
  }
  for (const r of roles) {
    const row = make('div', 'val');
    const label = make('label', '', r.replace(/_/g, ' '));
    const input = document.createElement('input');
    input.type = 'number';
    input.min = '0';
    input.max = '255';
    input.step = '1';
    input.inputMode = 'numeric';
    input.placeholder = '—';
    input.id = `cue-val-${r}`;
    input.dataset.role = r;
    input.value = cueDraftValues[r] ?? '';
    label.htmlFor = input.id;
    row.append(label, input);
    el.cueValues.append(row);
  }
}

function renderCuePois(current) {
  const names = desk ? Object.keys(desk.hub.pois).sort() : [];
  if (current && !names.includes(current)) names.push(current);
  el.cuePoi.replaceChildren(make('option', '', 'none'), ...names.map((n) => make('option', '', n)));
  el.cuePoi.options[0].value = '';
  el.cuePoi.value = current || '';
}

function openCueEditor(cue) {
  if (lockReason()) return;
  const c = cue || {};
  cueEd.mode = cue ? 'edit' : 'add';
  cueEd.id = cue ? cue.id : null;
  cueEd.req = null;
  $('cue-dialog-h').textContent = cue ? `Edit cue ${cue.id}` : 'New cue';
  el.cueId.value = cue ? cue.id : nextId('c');
  el.cueId.readOnly = !!cue;
  el.cueT.value = String(cue ? Number(c.t_ms) || 0 : Math.round(position()));
  renderChips(el.cueFixtures, new Set(list(c.fixtures)), renderCueValues);
  cueDraftValues = {};
  for (const [r, v] of Object.entries(c.values && typeof c.values === 'object' ? c.values : {})) cueDraftValues[r] = String(v);
  el.cueValues.querySelectorAll('.val, .hint').forEach((n) => n.remove());
  renderCueValues();
  renderCuePois(c.poi);
  el.cueFade.value = String(Number(c.fade_ms) || 0);
  el.cueCurve.value = CURVES.includes(c.curve) ? c.curve : 'linear';
  setFormError(cueEd, '');
  updateHints();
  renderEditorLock(cueEd, lockReason());
  cueEd.dialog.showModal();
}

function readCue() {
  const values = {};
  for (const input of el.cueValues.querySelectorAll('input')) {
    if (input.value.trim() !== '') values[input.dataset.role] = Number(input.value);
  }
  const cue = {
    id: el.cueId.value.trim(),
    t_ms: Number(el.cueT.value),
    fixtures: chosen(el.cueFixtures),
  };
  if (Object.keys(values).length > 0) cue.values = values;
  if (el.cuePoi.value) cue.poi = el.cuePoi.value;
  cue.fade_ms = el.cueFade.value.trim() === '' ? 0 : Number(el.cueFade.value);
  cue.curve = el.cueCurve.value;
  return cue;
}

// -- effect editor

function renderFxRoles() {
  fxParams.setRoles(allRoles(chosen(el.fxFixtures)), null);
}

el.fxEffect.replaceChildren(...EFFECTS.map((e) => make('option', '', e)));
el.fxEffect.addEventListener('change', () => fxParams.show(el.fxEffect.value));

function openFxEditor(effect) {
  if (lockReason()) return;
  const e = effect || {};
  fxEd.mode = effect ? 'edit' : 'add';
  fxEd.id = effect ? effect.id : null;
  fxEd.req = null;
  $('fx-dialog-h').textContent = effect ? `Edit effect ${effect.id}` : 'New effect';
  el.fxId.value = effect ? effect.id : nextId('e');
  el.fxId.readOnly = !!effect;
  el.fxT.value = String(effect ? Number(e.t_ms) || 0 : Math.round(position()));
  el.fxDur.value = String(effect ? Number(e.dur_ms) || 0 : 4000);
  renderChips(el.fxFixtures, new Set(list(e.fixtures)), renderFxRoles);
  el.fxEffect.value = EFFECTS.includes(e.effect) ? e.effect : 'pulse';
  fxParams.fill(e.params);
  renderFxRoles();
  fxParams.show(el.fxEffect.value);
  setFormError(fxEd, '');
  updateHints();
  renderEditorLock(fxEd, lockReason());
  fxEd.dialog.showModal();
}

function readFx() {
  const effect = el.fxEffect.value;
  return {
    id: el.fxId.value.trim(),
    t_ms: Number(el.fxT.value),
    dur_ms: Number(el.fxDur.value),
    fixtures: chosen(el.fxFixtures),
    effect,
    params: fxParams.read(effect),
  };
}

el.cueAdd.addEventListener('click', () => openCueEditor(null));
el.fxAdd.addEventListener('click', () => openFxEditor(null));

// The hub checks everything (ids, times, roles, params); the page only
// refuses what it cannot put into JSON.
function submitEditor(ed) {
  const item = ed.kind === 'cue' ? readCue() : readFx();
  const blank = [['id', item.id === ''], ['t_ms', !Number.isFinite(item.t_ms) || el[ed.kind === 'cue' ? 'cueT' : 'fxT'].value === ''],
    ['dur_ms', ed.kind === 'effect' && (!Number.isFinite(item.dur_ms) || el.fxDur.value === '')]].find(([, bad]) => bad);
  if (blank) {
    setFormError(ed, `${blank[0]} is required`);
    return;
  }
  const noun = ed.kind;
  const name = `${noun}.${ed.mode === 'add' ? 'add' : 'update'}`;
  const payload = ed.mode === 'add' ? { [noun]: item } : { id: ed.id, [noun]: item };
  const label = `${ed.mode === 'add' ? 'Add' : 'Update'} ${noun} ${item.id}`;
  setFormError(ed, '');
  const id = send(name, payload, label, (msg) => {
    if (ed.req !== msg.req_id) {
      if (!msg.ok) desk.toast(`${label} refused: ${errorText(msg)}`);
      return;
    }
    ed.req = null;
    if (msg.ok) {
      setEditError('');
      ed.dialog.close();
    } else {
      setFormError(ed, `The hub refused it: ${errorText(msg)}`);
      desk.toast(`${label} refused: ${errorText(msg)}`);
    }
    renderEditorLock(ed, lockReason());
  });
  if (!id) return;
  ed.req = id;
  renderEditorLock(ed, lockReason());
}

// ---- previews -----------------------------------------------------------------------------------

const pvSelected = new Set();
let pvTimer = 0;

for (const fx of EFFECTS) {
  const b = button(fx, 'pv-btn', `Preview ${fx}`, () => preview(fx));
  b.dataset.effect = fx;
  el.pvButtons.append(b);
}
pvParams.fill({});
pvParams.show(null);

function preview(effect) {
  const fixtures = chosen(el.pvFixtures);
  if (fixtures.length === 0) {
    desk.toast('Pick at least one fixture to preview on');
    return;
  }
  const dur_ms = Number(el.pvDur.value);
  send('fixture.preview_effect', { fixtures, effect, params: pvParams.read(effect), dur_ms },
    `Preview ${effect}`);
}

el.pvStop.addEventListener('click', () => send('fixture.preview_stop', {}, 'Stop previews'));

function renderPreviews() {
  for (const box of el.pvFixtures.querySelectorAll('input')) {
    if (box.checked) pvSelected.add(box.value);
    else pvSelected.delete(box.value);
  }
  const names = new Set(fixtureNames());
  for (const n of pvSelected) if (!names.has(n)) pvSelected.delete(n);
  renderChips(el.pvFixtures, pvSelected, null);
  pvParams.setRoles(allRoles(), null);
  const now = hubNow();
  const active = show.previews.filter((p) => !(Number(p.until) > 0) || Number(p.until) > now);
  el.pvList.replaceChildren(...active.map((p) => {
    const li = make('li', 'pv-item');
    li.dataset.id = String(p.id);
    li.dataset.effect = String(p.effect);
    const left = Number(p.until) > 0 ? Math.max(0, Number(p.until) - now) : null;
    const bar = make('span', 'pv-progress');
    if (left !== null && Number(p.dur_ms) > 0) bar.style.width = pct(left, Number(p.dur_ms));
    li.append(make('span', 'pv-name', String(p.effect)),
      make('span', 'pv-fix', list(p.fixtures).join(', ')),
      make('span', 'pv-left muted', left === null ? '' : `${(left / 1000).toFixed(1)} s left`), bar);
    return li;
  }));
  for (const b of el.pvButtons.querySelectorAll('button')) b.disabled = !show.available;
  el.pvEmpty.hidden = active.length > 0;
  el.pvStop.disabled = show.previews.length === 0;
  clearTimeout(pvTimer);
  pvTimer = active.length > 0 ? setTimeout(renderPreviews, 200) : 0;
}

// ---- the whole page ------------------------------------------------------------------------------

function renderShow() {
  el.noshow.hidden = show.available;
  renderTransport();
  renderTimeline();
  renderAudio();
  renderShowList();
  renderTables();
  renderPreviews();
  kick();
}

desk = startDesk({
  rooms: ['dmx', 'system'],
  optionalRooms: ['show'],
  onSnapshot,
  onPatch,
  onFrame: (msg) => sampleClock(msg.ts),
  onConnected() {
    // Results of the old connection will never come.
    cueEd.req = null;
    fxEd.req = null;
  },
  onRoomsMissing(rooms, message) {
    show.available = false;
    show.have = false;
    show.loaded = null;
    show.transport = STOPPED;
    show.previews = [];
    show.list = [];
    el.noshow.textContent = `This hub serves no shows (${message || `no room ${rooms.join(', ')}`}): `
      + 'fixtures and output work, the show controls are off.';
  },
  onRender() {
    // Called by desk.js after every dmx render; the first call comes
    // before startDesk returns.
    if (!desk) return;
    renderShow();
  },
});
renderShow();
