// Shared by the lighting console (console.js) and the show page (show.js):
// the connection to the hub's room protocol on /ws (hello/snapshot/patch/
// intent/result, room "frames"), the dmx room's state, the status pill, the
// toast, blackout, the fixture cards and the live DMX output. The hub's
// snapshot and patches are the truth: the controls show a local edit only
// while the user holds it and until the hub has answered (then the patch,
// or the refusal, decides what they show).
//
// A page calls startDesk(opts) once; its HTML carries the elements below
// (ids and templates as in console.html). opts, all optional:
//   rooms          hello rooms (default ["dmx","system"])
//   optionalRooms  rooms the page can do without: the hello then carries a
//                  req_id, and when the hub refuses it for its rooms the
//                  page asks again without them and calls
//                  onRoomsMissing(rooms, message)
//   onSnapshot(state, msg)  every snapshot (all rooms' state)
//   onPatch(path, value)    each patch outside dmx.* (whole entities; null: gone)
//   onConnected()           a connection went live (results of the old one
//                           will never come: drop what waits for them)
//   onFrame(msg)            each output frame (room "frames")
//   onRender()              after every render of the dmx side
// Intents sent with sendIntent(name, payload, what) get their result in
// what.onResult(msg) when given (else a refusal is a toast with what.label).
// Returns { hub, conn, sendIntent, toast, renderAll, rooms }.
import { ulid } from './ulid.js';
import { Coalescer } from './coalesce.js';
import {
  HubConnection, probeAuth, registerServiceWorker, retryOnReturn, wsUrl,
} from './hub.js';

export const HOLD_MS = 1500; // how long an unanswered local edit wins over the hub
const TOAST_MS = 6000;
export const SLOTS = 512;
const SUMMARY_MAX = 16; // non-zero channels listed under each universe
const ROLE_HUE = {
  red: '#ff4d4d', green: '#3ddc84', blue: '#5b8cff', white: '#ffffff', amber: '#ffb000',
  uv: '#a86bff', dimmer: '#f2f2f2', strobe: '#fff59d',
};

export function obj(v) {
  return v && typeof v === 'object' && !Array.isArray(v) ? { ...v } : {};
}

function setOrDelete(map, key, value) {
  if (value === null || value === undefined) delete map[key];
  else map[key] = value;
}

export const rolesOf = (f) => [...new Set(Array.isArray(f.channels) ? f.channels : [])];
const hasPanTilt = (f) => rolesOf(f).includes('pan') && rolesOf(f).includes('tilt');
export const clamp = (v) => Math.min(255, Math.max(0, Math.round(Number(v) || 0)));

function defKey(f) {
  return JSON.stringify([f.universe, f.address, f.channels]);
}

const PALETTE = Array.from({ length: 256 }, (_, v) => {
  const t = Math.sqrt(v / 255); // dark slate -> warm white; low levels stay visible
  const mix = (a, b) => Math.round(a + (b - a) * t);
  return `rgb(${mix(24, 255)}, ${mix(28, 244)}, ${mix(38, 214)})`;
});

export function startDesk(opts = {}) {
  const $ = (id) => document.getElementById(id);
  const el = {
    status: $('status'),
    statusText: $('status-text'),
    seq: $('seq'),
    blackout: $('blackout'),
    blackoutBanner: $('blackout-banner'),
    authBanner: $('auth-banner'),
    fixtures: $('fixture-list'),
    fixturesEmpty: $('fixtures-empty'),
    universes: $('universe-list'),
    toast: $('toast'),
    fixtureTpl: $('fixture-tpl'),
    faderTpl: $('fader-tpl'),
    universeTpl: $('universe-tpl'),
  };

  // ---- the hub's state (only ever changed by snapshot and patch frames) -------

  const hub = {
    have: false, // a snapshot has arrived since the page loaded
    seq: 0,
    blackout: false,
    universes: [],
    fixtures: {}, // name -> {universe, address, channels, armed, values}
    channels: {}, // universe -> {slot: value} (raw channels)
    pois: {}, // name -> {pan, pan_fine, tilt, tilt_fine}
  };

  function takeSnapshot(msg) {
    const dmx = msg.state && msg.state.dmx;
    if (opts.onSnapshot) opts.onSnapshot(msg.state && typeof msg.state === 'object' ? msg.state : {}, msg);
    if (!dmx || typeof dmx !== 'object') {
      toast('Hub sent a snapshot without the dmx room');
      return;
    }
    hub.have = true;
    hub.seq = Number(msg.seq) || 0;
    hub.blackout = dmx.blackout === true;
    hub.universes = Array.isArray(dmx.universes) ? dmx.universes : [];
    hub.fixtures = obj(dmx.fixtures);
    hub.channels = obj(dmx.channels);
    hub.pois = obj(dmx.pois);
  }

  // A patch value is the whole entity at its path; null means it is gone.
  function takePatch(msg) {
    const seq = Number(msg.seq) || 0;
    if (!Array.isArray(msg.patches) || (hub.have && seq <= hub.seq)) return false;
    for (const { path, value } of msg.patches) {
      if (typeof path !== 'string') continue;
      if (path === 'dmx.blackout') hub.blackout = value === true;
      else if (path === 'dmx.universes') hub.universes = Array.isArray(value) ? value : [];
      else if (path === 'dmx.pois') hub.pois = obj(value);
      else if (path.startsWith('dmx.fixtures.')) setOrDelete(hub.fixtures, path.slice(13), value);
      else if (path.startsWith('dmx.channels.')) setOrDelete(hub.channels, path.slice(13), value);
      else if (!path.startsWith('dmx.') && opts.onPatch) opts.onPatch(path, value);
    }
    hub.seq = seq;
    return true;
  }

  // ---- talking to the hub -----------------------------------------------------

  let status = { state: 'connecting' };
  const baseRooms = Array.isArray(opts.rooms) ? [...opts.rooms] : ['dmx', 'system'];
  const optionalRooms = Array.isArray(opts.optionalRooms) ? [...opts.optionalRooms] : [];
  let rooms = [...baseRooms, ...optionalRooms]; // what the next hello asks for
  let helloReq = null; // the hello's req_id while its result is due
  let connGen = 0; // counts connections, so late answers of an old one are dropped
  let syncing = false; // hello sent without since: waiting for the snapshot
  let statusTimer = 0;
  let toastTimer = 0;
  const pending = new Map(); // req_id -> what it was for, until its result

  // Returns the req_id, 'busy' (socket backed up: try later) or null (offline).
  function sendIntent(name, payload, what) {
    const req_id = ulid();
    const r = conn.send({ type: 'intent', req_id, name, payload });
    if (r === 'busy') return 'busy';
    if (r !== 'sent') {
      toast('Not connected: change not sent');
      return null;
    }
    pending.set(req_id, what);
    return req_id;
  }

  function onConnected() {
    // Results of the old connection will never come: let the hub's state show.
    pending.clear();
    for (const c of cards.values()) {
      c.armReq = null;
      for (const ctl of c.ctls.values()) ctl.req = null;
    }
    blackoutReq = null;
    if (opts.onConnected) opts.onConnected();
    rooms = [...baseRooms, ...optionalRooms];
    sendHello();
    conn.send({ type: 'subscribe', rooms: ['frames'] });
    seedOutput(++connGen);
    renderStatus();
    renderAll();
  }

  function sendHello() {
    const hello = { type: 'hello', rooms };
    if (hub.have) hello.since = hub.seq; // replay what we missed (or a snapshot)
    // With optional rooms the hello carries a req_id: a hub without one of
    // them refuses the hello, and the page asks again without them.
    helloReq = optionalRooms.length > 0 ? ulid() : null;
    if (helloReq) hello.req_id = helloReq;
    syncing = !hub.have;
    conn.send(hello);
  }

  function onHelloResult(msg) {
    helloReq = null;
    if (msg.ok) return;
    const e = msg.error || {};
    const missing = optionalRooms.filter((r) => rooms.includes(r));
    if (e.field === 'rooms' && missing.length > 0) {
      rooms = [...baseRooms];
      if (opts.onRoomsMissing) opts.onRoomsMissing(missing, e.message || '');
      sendHello();
      return;
    }
    toast(`Hub refused hello: ${e.message || e.code || 'unknown error'}`);
  }

  function onFrame(msg) {
    if (!msg || typeof msg !== 'object') return;
    switch (msg.type) {
      case 'snapshot':
        takeSnapshot(msg);
        syncing = false;
        renderStatus();
        renderAll();
        break;
      case 'patch':
        if (takePatch(msg)) renderAll();
        break;
      case 'result':
        onResult(msg);
        break;
      case 'frame':
        onOutputFrame(msg);
        if (opts.onFrame) opts.onFrame(msg);
        break;
      case 'event':
        if (msg.level === 'warning' || msg.level === 'error') {
          toast(`${msg.source ? `${msg.source}: ` : ''}${msg.message}`);
        }
        break;
      case 'error': // the seed protocol's refusal of a malformed message
        toast(`Hub refused a message${msg.field ? ` (${msg.field})` : ''}: ${msg.error}`);
        break;
      default: // "state" belongs to the RGB page's room
    }
  }

  function onResult(msg) {
    const what = pending.get(msg.req_id);
    if (!what) {
      if (helloReq !== null && msg.req_id === helloReq) onHelloResult(msg);
      return;
    }
    pending.delete(msg.req_id);
    const card = what.fixture !== undefined ? cards.get(what.fixture) : null;
    if (msg.ok) {
      // The patch with this seq follows; hold the edit until it is applied.
      const seq = Number(msg.seq) || 0;
      if (what.kind === 'blackout' && blackoutReq === msg.req_id) {
        blackoutReq = null;
        blackoutWait = seq;
      }
      if (card && what.kind === 'arm' && card.armReq === msg.req_id) {
        card.armReq = null;
        card.armWait = seq;
      }
      for (const role of what.roles || []) {
        const ctl = card && card.ctls.get(role);
        if (ctl && ctl.req === msg.req_id) {
          ctl.req = null;
          ctl.waitSeq = seq;
        }
      }
    } else {
      const e = msg.error || {};
      const field = e.field ? ` (${e.field})` : '';
      if (!what.onResult) toast(`${what.label} refused${field}: ${e.message || e.code || 'unknown error'}`);
      // Nothing changed on the hub: show its state again at once.
      if (what.kind === 'blackout' && blackoutReq === msg.req_id) blackoutReq = null;
      if (card && what.kind === 'arm' && card.armReq === msg.req_id) card.armReq = null;
      for (const role of what.roles || []) {
        const ctl = card && card.ctls.get(role);
        if (ctl && ctl.req === msg.req_id) {
          ctl.req = null;
          ctl.inputAt = -Infinity;
        }
      }
    }
    // Other kinds of intent (the show page's) answer to their own handler.
    if (what.onResult) what.onResult(msg);
    renderAll();
  }

  const conn = new HubConnection({
    url: wsUrl,
    probeAuth: () => probeAuth('api/v1/intents'),
    onStatus: (s) => {
      status = s;
      if (s.state === 'live') onConnected();
      else renderStatus();
    },
    onFrame,
    onNotice: toast,
  });

  // ---- status and toast ---------------------------------------------------------

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
    el.status.dataset.state = state;
    document.body.dataset.conn = state;
    el.statusText.textContent = text;
    el.authBanner.hidden = state !== 'auth';
    if (state === 'reconnecting' && wait > 0) statusTimer = setInterval(renderStatus, 250);
  }

  function toast(text) {
    el.toast.textContent = text;
    el.toast.classList.add('show');
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => el.toast.classList.remove('show'), TOAST_MS);
  }

  // ---- blackout ------------------------------------------------------------------

  let blackoutReq = null;
  let blackoutWait = 0;
  let blackoutAt = -Infinity;
  let blackoutLocal = false;

  el.blackout.addEventListener('click', () => {
    const on = !shownBlackout();
    const id = sendIntent('dmx.blackout', { on }, { kind: 'blackout', label: 'Blackout' });
    if (!id || id === 'busy') return;
    blackoutReq = id;
    blackoutLocal = on;
    blackoutAt = performance.now();
    renderBlackout();
  });

  function shownBlackout() {
    const held = (blackoutReq || blackoutWait > hub.seq) && performance.now() - blackoutAt < HOLD_MS;
    return held ? blackoutLocal : hub.blackout;
  }

  function renderBlackout() {
    const on = shownBlackout();
    el.blackout.disabled = !hub.have;
    el.blackout.setAttribute('aria-pressed', String(on));
    el.blackoutBanner.hidden = !hub.blackout;
    document.body.classList.toggle('is-blackout', hub.blackout);
    return on !== hub.blackout;
  }

  // ---- fixture cards -----------------------------------------------------------------

  // Per fixture (survives card rebuilds): values not sent yet, and the
  // coalescer that sends them at most 30 times a second.
  const outbox = new Map();
  const cards = new Map(); // name -> card
  let uid = 0;

  function outboxOf(name) {
    let o = outbox.get(name);
    if (!o) {
      o = { unsent: {} };
      o.coalescer = new Coalescer((values) => flush(name, values), 30);
      outbox.set(name, o);
    }
    return o;
  }

  // Sends everything unsent for one fixture as one set_values. values is the
  // outbox's own object: what went out is removed from it.
  function flush(name, values) {
    const sent = { ...values };
    const roles = Object.keys(sent);
    if (roles.length === 0) return true;
    const id = sendIntent('fixture.set_values', { fixture: name, values: sent },
      { kind: 'values', fixture: name, roles, label: `${name} ${roles.join(', ')}` });
    if (id === 'busy') return false;
    for (const r of roles) if (values[r] === sent[r]) delete values[r];
    const card = cards.get(name);
    for (const r of roles) {
      const ctl = card && card.ctls.get(r);
      if (ctl) ctl.req = id;
    }
    if (!id) renderAll(); // not sent: show the hub's value again
    return true;
  }

  function buildCard(name, f) {
    const n = ++uid;
    const root = el.fixtureTpl.content.firstElementChild.cloneNode(true);
    const card = {
      name, root, key: defKey(f), ctls: new Map(), poiKey: '',
      arm: root.querySelector('.arm'), armReq: null, armWait: 0, armAt: -Infinity, armLocal: true,
      pois: root.querySelector('.pois'), poiButtons: root.querySelector('.poi-buttons'),
    };
    root.dataset.fixture = name;
    root.setAttribute('aria-labelledby', `fx${n}-name`);
    const h = root.querySelector('.fixture-name');
    h.id = `fx${n}-name`;
    h.textContent = name;
    const roles = rolesOf(f);
    const last = f.address + (Array.isArray(f.channels) ? f.channels.length : 1) - 1;
    root.querySelector('.fixture-meta').textContent =
      `U${f.universe} · ${last > f.address ? `${f.address}–${last}` : f.address}`;
    card.arm.setAttribute('aria-label', `${name} armed`);
    card.arm.addEventListener('change', () => onArm(card));
    const releaseAll = root.querySelector('.release-all');
    if (releaseAll) {
      releaseAll.setAttribute('aria-label', `Release ${name}`);
      releaseAll.addEventListener('click', () => onReleaseAll(card));
    }
    const faders = root.querySelector('.faders');
    roles.forEach((role, i) => faders.append(buildFader(card, role, `fx${n}-${i}`)));
    return card;
  }

  function buildFader(card, role, id) {
    const row = el.faderTpl.content.firstElementChild.cloneNode(true);
    const [label, range, num, rel] = [
      row.querySelector('label'), row.querySelector('input[type=range]'),
      row.querySelector('input[type=number]'), row.querySelector('.release'),
    ];
    const name = card.name;
    const ctl = { role, row, range, num, rel, dragging: false, typing: false, req: null, waitSeq: 0, inputAt: -Infinity };
    row.dataset.role = role;
    label.textContent = role.replace(/_/g, ' ');
    label.htmlFor = range.id = `${id}-range`;
    range.setAttribute('aria-label', `${name} ${role}`);
    num.id = `${id}-num`;
    num.setAttribute('aria-label', `${name} ${role} value`);
    rel.setAttribute('aria-label', `Release ${name} ${role}`);
    range.style.setProperty('--hi', ROLE_HUE[role] || '#d7dce6');

    range.addEventListener('input', () => edit(card, ctl, clamp(range.value)));
    range.addEventListener('pointerdown', () => {
      ctl.dragging = true;
    });
    num.addEventListener('input', () => {
      if (num.value === '') return;
      ctl.typing = true;
      range.value = clamp(num.value);
    });
    num.addEventListener('change', () => {
      ctl.typing = false;
      if (num.value === '') renderAll();
      else edit(card, ctl, clamp(num.value));
    });
    num.addEventListener('blur', () => {
      ctl.typing = false;
      renderAll();
    });
    num.addEventListener('keydown', (ev) => {
      if (ev.key !== 'Escape') return;
      ctl.typing = false;
      ctl.inputAt = -Infinity;
      renderAll();
    });
    rel.addEventListener('click', () => {
      const o = outboxOf(name);
      delete o.unsent[role];
      const id2 = sendIntent('fixture.release', { fixture: name, roles: [role] },
        { kind: 'release', fixture: name, roles: [role], label: `Release ${name} ${role}` });
      if (!id2 || id2 === 'busy') return;
      ctl.req = id2;
      ctl.inputAt = performance.now();
      showValue(ctl, null);
    });
    card.ctls.set(role, ctl);
    return row;
  }

  function edit(card, ctl, v) {
    ctl.inputAt = performance.now();
    showValue(ctl, v, true);
    const o = outboxOf(card.name);
    o.unsent[ctl.role] = v;
    o.coalescer.push(o.unsent);
  }

  function onArm(card) {
    const armed = card.arm.checked;
    const id = sendIntent('fixture.set_arm', { fixture: card.name, armed },
      { kind: 'arm', fixture: card.name, label: `${armed ? 'Arm' : 'Disarm'} ${card.name}` });
    if (!id || id === 'busy') {
      renderAll();
      return;
    }
    card.armReq = id;
    card.armLocal = armed;
    card.armAt = performance.now();
  }

  // fixture.release without roles: every role of the fixture.
  function onReleaseAll(card) {
    const o = outboxOf(card.name);
    for (const r of Object.keys(o.unsent)) delete o.unsent[r];
    const roles = [...card.ctls.keys()];
    const id = sendIntent('fixture.release', { fixture: card.name },
      { kind: 'release', fixture: card.name, roles, label: `Release ${card.name}` });
    if (!id || id === 'busy') return;
    for (const ctl of card.ctls.values()) {
      ctl.req = id;
      ctl.inputAt = performance.now();
      showValue(ctl, null);
    }
  }

  function goToPoi(name, poi) {
    sendIntent('fixture.go_to_poi', { fixture: name, poi },
      { kind: 'poi', fixture: name, label: `${name} to ${poi}` });
  }

  // v null: released (the fixture leaves the channel to others / zero).
  // local: the user's own edit, which also replaces a half-typed number.
  function showValue(ctl, v, local = false) {
    const released = v === null || v === undefined;
    ctl.range.value = released ? 0 : v;
    if (!ctl.typing || local) ctl.num.value = released ? '' : String(v);
    ctl.range.setAttribute('aria-valuetext', released ? 'released' : String(v));
    ctl.row.classList.toggle('released', released);
    ctl.rel.disabled = released;
  }

  function ctlHeld(card, ctl) {
    if (ctl.dragging || ctl.typing || ctl.role in outboxOf(card.name).unsent) return true;
    return (ctl.req !== null || ctl.waitSeq > hub.seq) && performance.now() - ctl.inputAt < HOLD_MS;
  }

  // Brings one card up to the hub's state; returns true if a local edit
  // still holds a control (then the caller looks again shortly).
  function updateCard(card, f) {
    let held = false;
    const values = f.values && typeof f.values === 'object' ? f.values : {};
    for (const ctl of card.ctls.values()) {
      if (ctlHeld(card, ctl)) held = true;
      else showValue(ctl, values[ctl.role]);
    }
    const armHeld = (card.armReq !== null || card.armWait > hub.seq) && performance.now() - card.armAt < HOLD_MS;
    if (armHeld) held = true;
    else card.arm.checked = f.armed !== false;
    card.root.classList.toggle('disarmed', f.armed === false);
    card.root.dataset.armed = String(f.armed !== false);

    const pois = hasPanTilt(f) ? Object.keys(hub.pois).sort() : [];
    const poiKey = pois.join('\n');
    if (poiKey !== card.poiKey) {
      card.poiKey = poiKey;
      card.poiButtons.replaceChildren(...pois.map((p) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'poi';
        b.textContent = p;
        b.dataset.poi = p;
        b.setAttribute('aria-label', `Point ${card.name} at ${p}`);
        b.addEventListener('click', () => goToPoi(card.name, p));
        return b;
      }));
      card.pois.hidden = pois.length === 0;
    }
    for (const b of card.poiButtons.children) {
      const p = hub.pois[b.dataset.poi] || {};
      const at = ['pan', 'pan_fine', 'tilt', 'tilt_fine'].every((r) => !(r in values) || (values[r] ?? 0) === (p[r] ?? 0));
      b.classList.toggle('at', at);
    }
    return held;
  }

  function byPatch(a, b) {
    const fa = hub.fixtures[a];
    const fb = hub.fixtures[b];
    return (fa.universe - fb.universe) || (fa.address - fb.address) || (a < b ? -1 : a > b ? 1 : 0);
  }

  function renderFixtures() {
    let held = false;
    const names = Object.keys(hub.fixtures).sort(byPatch);
    for (const [name, card] of cards) {
      if (!(name in hub.fixtures)) {
        card.root.remove();
        cards.delete(name);
      }
    }
    let prev = null;
    for (const name of names) {
      const f = hub.fixtures[name];
      let card = cards.get(name);
      if (card && card.key !== defKey(f)) {
        card.root.remove();
        card = null;
      }
      if (!card) {
        card = buildCard(name, f);
        cards.set(name, card);
      }
      if (updateCard(card, f)) held = true;
      // Keep DOM order = patch order without moving nodes that are in place
      // (moving a node would drop its focus).
      const want = prev ? prev.nextElementSibling : el.fixtures.firstElementChild;
      if (want !== card.root) {
        if (prev) prev.after(card.root);
        else el.fixtures.prepend(card.root);
      }
      prev = card.root;
    }
    el.fixturesEmpty.hidden = hub.have;
    if (hub.have && names.length === 0) {
      el.fixturesEmpty.hidden = false;
      el.fixturesEmpty.textContent = 'No fixtures in the patch.';
    }
    return held;
  }

  // ---- live output ---------------------------------------------------------------------

  const views = new Map(); // universe -> view

  function viewOf(u) {
    let v = views.get(u);
    if (v) return v;
    const root = el.universeTpl.content.firstElementChild.cloneNode(true);
    const grid = root.querySelector('.slots');
    const cells = [];
    for (let i = 0; i < SLOTS; i++) {
      const c = document.createElement('span');
      c.title = `${i + 1}:0`;
      c.style.backgroundColor = PALETTE[0];
      cells.push(c);
    }
    grid.append(...cells);
    root.dataset.universe = String(u);
    root.querySelector('.universe-name').textContent = `Universe ${u}`;
    v = {
      u, root, grid, cells, data: new Uint8Array(SLOTS), labels: new Array(SLOTS).fill(''),
      info: root.querySelector('.universe-info'), summary: root.querySelector('.slot-summary'), frames: 0,
    };
    views.set(u, v);
    const after = [...views.keys()].filter((k) => k < u).sort((a, b) => a - b).pop();
    if (after === undefined) el.universes.prepend(root);
    else views.get(after).root.after(root);
    renderSummary(v);
    return v;
  }

  function onOutputFrame(msg) {
    const u = Number(msg.universe);
    if (!Number.isInteger(u) || typeof msg.data !== 'string') return;
    let bin;
    try {
      bin = atob(msg.data);
    } catch {
      toast(`Hub sent a frame for universe ${u} that is not base64`);
      return;
    }
    const bytes = new Uint8Array(SLOTS);
    for (let i = 0; i < Math.min(SLOTS, bin.length); i++) bytes[i] = bin.charCodeAt(i);
    paintOutput(viewOf(u), bytes, Number(msg.ts) || Date.now());
  }

  function paintOutput(v, bytes, ts) {
    for (let i = 0; i < SLOTS; i++) {
      const val = bytes[i];
      if (val === v.data[i] && v.frames > 0) continue;
      v.data[i] = val;
      const c = v.cells[i];
      c.style.backgroundColor = PALETTE[val];
      c.title = `${i + 1}:${val}${v.labels[i]}`;
      c.classList.toggle('hot', val > 0);
    }
    v.frames++;
    v.info.textContent = `updated ${new Date(ts).toLocaleTimeString([], { hourCycle: 'h23' })}`;
    renderSummary(v);
  }

  // The hub sends a universe's frame only when its output changes, so a new
  // subscriber starts from GET /api/v1/universes/{u}. A frame that arrives
  // after the subscribe is at least as new, so it wins over the answer.
  async function seedOutput(gen) {
    const marks = new Map([...views].map(([u, v]) => [u, v.frames]));
    let list = hub.universes;
    try {
      if (!hub.have) {
        const res = await fetch(new URL('api/v1/universes', document.baseURI), { cache: 'no-store' });
        if (res.ok) list = (await res.json()).universes || [];
      }
      await Promise.all(list.filter(Number.isInteger).map(async (u) => {
        const res = await fetch(new URL(`api/v1/universes/${u}`, document.baseURI), { cache: 'no-store' });
        if (!res.ok || gen !== connGen) return;
        const body = await res.json();
        const v = viewOf(u);
        if (v.frames !== (marks.get(u) ?? 0) || !Array.isArray(body.channels)) return;
        const bytes = new Uint8Array(SLOTS);
        body.channels.slice(0, SLOTS).forEach((x, i) => { bytes[i] = clamp(x); });
        paintOutput(v, bytes, Date.now());
      }));
    } catch (err) {
      if (gen === connGen) console.warn('output seed:', err);
    }
  }

  function renderSummary(v) {
    const hot = [];
    for (let i = 0; i < SLOTS; i++) if (v.data[i] > 0) hot.push(i);
    const text = hot.length === 0
      ? 'all 512 channels at 0'
      : hot.slice(0, SUMMARY_MAX).map((i) => `${i + 1}=${v.data[i]}`).join('  ') +
        (hot.length > SUMMARY_MAX ? `  +${hot.length - SUMMARY_MAX} more` : '');
    v.summary.textContent = text;
    v.grid.setAttribute('aria-label', `Universe ${v.u} output: ${hot.length} of 512 channels above zero`);
    if (v.frames === 0) v.info.textContent = 'no frame yet';
  }

  // Which fixture role sits on each slot, for the slot titles.
  function renderSlotLabels() {
    const want = new Map();
    for (const [name, f] of Object.entries(hub.fixtures)) {
      const chans = Array.isArray(f.channels) ? f.channels : [];
      chans.forEach((role, i) => {
        const slot = f.address - 1 + i;
        if (slot < 0 || slot >= SLOTS) return;
        if (!want.has(f.universe)) want.set(f.universe, new Array(SLOTS).fill(''));
        want.get(f.universe)[slot] = ` ${name} ${role}`;
      });
    }
    for (const u of hub.universes) if (Number.isInteger(u)) viewOf(u);
    for (const v of views.values()) {
      const labels = want.get(v.u) || new Array(SLOTS).fill('');
      for (let i = 0; i < SLOTS; i++) {
        if (labels[i] === v.labels[i]) continue;
        v.labels[i] = labels[i];
        v.cells[i].title = `${i + 1}:${v.data[i]}${labels[i]}`;
        v.cells[i].classList.toggle('patched', labels[i] !== '');
      }
    }
  }

  // ---- rendering ----------------------------------------------------------------------

  let holdTimer = 0;

  function renderAll() {
    clearTimeout(holdTimer);
    holdTimer = 0;
    el.seq.textContent = hub.have ? String(hub.seq) : '–';
    let held = renderBlackout();
    if (renderFixtures()) held = true;
    renderSlotLabels();
    if (opts.onRender) opts.onRender();
    // A local edit is holding something: look again when it may have ended.
    if (held) holdTimer = setTimeout(renderAll, 100);
  }

  function endDrag() {
    let any = false;
    for (const card of cards.values()) {
      for (const ctl of card.ctls.values()) {
        if (ctl.dragging) {
          ctl.dragging = false;
          ctl.inputAt = performance.now();
          any = true;
        }
      }
    }
    if (any) renderAll();
  }
  window.addEventListener('pointerup', endDrag);
  window.addEventListener('pointercancel', endDrag);
  window.addEventListener('blur', endDrag);
  retryOnReturn(conn);

  renderStatus();
  renderAll();
  conn.start();
  registerServiceWorker();

  return {
    hub, conn, sendIntent, toast, renderAll,
    // The rooms the current connection asked for (optional ones drop out on
    // a hub that lacks them).
    get rooms() { return [...rooms]; },
  };
}
