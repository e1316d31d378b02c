// showhub schedule page: a group's week with its events' occurrences
// (GET /api/v1/events?group_id=&from=&to=, recurrences expanded by the
// hub), the add/edit dialog (schedule_dialog.js) and each group's current
// power intent (state schedules.power.<group_id>, room "schedules", live).
// Times are UTC, as the hub schedules them.
import {
  $, answerText, api, badge, button, get, isLive, live, make, okStatus, setText, startLive,
} from './live.js';
import { openEvent, startDialog } from './schedule_dialog.js';
import {
  DAY_MS, dayLabel, hm, isoDay, mondayOf, parseTime, rel,
} from './schedule_time.js';
import { describeRrule } from './rrule.js';

const GROUP_STORE = 'showhub.scheduleGroup';
const el = {
  group: $('group'),
  week: $('week'),
  weekLabel: $('week-label'),
  weekInfo: $('week-info'),
  powerList: $('power-list'),
  powerInfo: $('power-info'),
  seq: $('seq'),
};

const view = {
  group: null, // '3' or 'hub' (the hub's own events, group_id null)
  week: mondayOf(Date.now()),
  occ: [], // the week's occurrences
  loaded: '', // the query they answer
};
const deviceGroups = new Map(); // group id (string) -> device count
let powerMeta = null; // {publish_enabled, heartbeat_enabled}

const obj = (v) => (v && typeof v === 'object' ? v : {});
const groupKey = (g) => (g === null || g === undefined ? 'hub' : String(g));
const groupName = (k) => (k === 'hub' ? 'the hub itself' : `group ${k}`);

// ---- groups ----------------------------------------------------------------------------

// Every group the page knows: of events, devices and power intents.
function groups() {
  const keys = new Set(deviceGroups.keys());
  for (const ev of Object.values(obj(get('schedules.events')))) if (ev) keys.add(groupKey(ev.group_id));
  for (const k of Object.keys(obj(get('schedules.power')))) keys.add(k);
  return [...keys].sort((a, b) => (a === 'hub') - (b === 'hub') || Number(a) - Number(b));
}

function savedGroup() {
  try {
    return localStorage.getItem(GROUP_STORE);
  } catch {
    return null; // private mode
  }
}

let groupsKey = '';
function renderGroups() {
  const all = groups();
  if (view.group === null && all.length) {
    const saved = savedGroup();
    view.group = saved && all.includes(saved) ? saved : all[0];
    loadWeek(true);
  }
  if (view.group !== null && !all.includes(view.group)) all.push(view.group);
  const key = JSON.stringify([all, view.group, [...deviceGroups]]);
  if (key === groupsKey) return;
  groupsKey = key;
  el.group.replaceChildren(...all.map((k) => {
    const n = deviceGroups.get(k);
    return new Option(`${k === 'hub' ? 'The hub itself' : `Group ${k}`}${n ? ` · ${n} device${n === 1 ? '' : 's'}` : ''}`, k);
  }));
  if (all.length === 0) el.group.append(new Option('no groups yet', ''));
  el.group.value = view.group ?? '';
  el.group.disabled = all.length === 0;
  $('ev-groups').replaceChildren(...all.filter((k) => k !== 'hub').map((k) => new Option(k, k)));
}

async function loadDeviceGroups() {
  const res = await api('GET', 'api/v1/devices');
  if (!okStatus(res.status) || !res.body || !Array.isArray(res.body.devices)) return;
  deviceGroups.clear();
  for (const d of res.body.devices) {
    if (d && d.group_id !== null && d.group_id !== undefined) {
      const k = String(d.group_id);
      deviceGroups.set(k, (deviceGroups.get(k) || 0) + 1);
    }
  }
  renderGroups();
  renderPower();
  loadWeek();
}

async function loadPowerMeta() {
  const res = await api('GET', 'api/v1/power');
  if (okStatus(res.status) && res.body) powerMeta = res.body;
  renderPower();
}

// ---- the week --------------------------------------------------------------------------

let loadTimer = 0;
let loadSeq = 0;

// Reload the week's occurrences (soon: patches come in bursts).
function loadWeek(soon = false) {
  clearTimeout(loadTimer);
  if (soon) {
    loadTimer = setTimeout(() => loadWeek(false), 150);
    return;
  }
  if (view.group === null) {
    view.occ = [];
    renderWeek();
    return;
  }
  const from = new Date(view.week).toISOString().replace('.000Z', 'Z');
  const to = new Date(view.week + 7 * DAY_MS).toISOString().replace('.000Z', 'Z');
  const q = `group_id=${view.group === 'hub' ? 'null' : view.group}&from=${from}&to=${to}`;
  const mine = ++loadSeq;
  api('GET', `api/v1/events?${q}`).then((res) => {
    if (mine !== loadSeq) return; // a newer question was asked
    if (!okStatus(res.status) || !res.body || !Array.isArray(res.body.occurrences)) {
      view.occ = [];
      el.weekInfo.hidden = false;
      el.weekInfo.classList.add('bad');
      setText(el.weekInfo, res.status === 404
        ? 'This hub has no schedules API (GET /api/v1/events answered 404).'
        : `Could not load the week: ${answerText(res)}`);
    } else {
      view.occ = res.body.occurrences;
      el.weekInfo.classList.remove('bad');
      el.weekInfo.hidden = !res.body.truncated;
      setText(el.weekInfo, 'Too many occurrences: the hub cut the list.');
    }
    view.loaded = q;
    renderWeek();
  });
}

function occButton(o, day) {
  const s = parseTime(o.start);
  const e = parseTime(o.end);
  const ev = obj(get(`schedules.events.${o.event_id}`));
  const b = make('button', 'occ');
  b.type = 'button';
  b.dataset.eventId = String(o.event_id);
  b.dataset.start = o.start;
  b.dataset.type = o.type || 'other';
  const now = Date.now();
  b.classList.toggle('now', s <= now && now < e);
  b.classList.toggle('recurring', !!o.recurring);
  b.classList.toggle('detached', o.detached_from !== null && o.detached_from !== undefined);
  const from = s < day ? '…' : hm(s);
  const to = e > day + DAY_MS ? '…' : hm(e);
  const time = make('span', 'o-time', `${from}–${to}`);
  const title = make('span', 'o-title', o.title);
  b.append(time, title);
  const tags = make('span', 'o-tags');
  if (o.recurring) tags.append(badge('↻', 'recurring', 'badge tag'));
  if (b.classList.contains('detached')) tags.append(badge('detached', 'detached', 'badge tag'));
  if (ev.on_start || ev.on_end) tags.append(badge('actions', 'actions', 'badge tag'));
  if (tags.childElementCount) b.append(tags);
  const what = [o.recurring ? describeRrule(ev.rrule) : b.classList.contains('detached') ? `detached from event ${o.detached_from}` : 'once'];
  b.setAttribute('aria-label', `${o.title}, ${dayLabel(s)} ${hm(s)} to ${dayLabel(e)} ${hm(e)} UTC, ${what}`);
  b.addEventListener('click', () => openEvent({ id: o.event_id, occ: { start: s, end: e, date: isoDay(s) } }));
  return b;
}

function renderWeek() {
  const end = view.week + 7 * DAY_MS - 1;
  setText(el.weekLabel, `${view.group === null ? '' : `${groupName(view.group)[0].toUpperCase()}${groupName(view.group).slice(1)} · `}`
    + `${dayLabel(view.week)} – ${dayLabel(end)} ${new Date(end).getUTCFullYear()}`);
  const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
  const days = [];
  for (let i = 0; i < 7; i++) {
    const day = view.week + i * DAY_MS;
    const li = make('li', 'day');
    li.dataset.date = isoDay(day);
    li.classList.toggle('today', day === today);
    const h = make('h3', 'd-head', dayLabel(day));
    if (day === today) h.append(make('span', 'today-tag', ' today'));
    const list = make('div', 'd-occ');
    const here = view.occ.filter((o) => parseTime(o.start) < day + DAY_MS && parseTime(o.end) > day);
    for (const o of here) list.append(occButton(o, day));
    if (!here.length) list.append(make('p', 'd-none muted', '—'));
    li.append(h, list);
    days.push(li);
  }
  el.week.replaceChildren(...days);
}

function moveWeek(delta) {
  view.week = delta === 0 ? mondayOf(Date.now()) : view.week + delta * 7 * DAY_MS;
  renderWeek();
  loadWeek();
}

// ---- power intents -----------------------------------------------------------------------

function powerCard(k, p) {
  const li = make('li', 'power');
  li.dataset.group = k;
  const on = p.desired_state === 'on';
  li.dataset.state = on ? 'on' : 'off';
  li.classList.toggle('selected', k === view.group);
  const head = make('div', 'p-head');
  head.append(make('h3', 'p-name', `Group ${k}`), badge(on ? 'on' : 'off', on ? 'on' : 'off', 'badge p-state'));
  const exp = parseTime(p.expires_at);
  // Without publishing there are no heartbeats: an unpublished intent does not expire.
  const expired = (!powerMeta || powerMeta.publish_enabled) && Number.isFinite(exp) && Date.now() >= exp;
  if (expired) head.append(badge('expired', 'expired', 'badge p-expired'));
  const ids = Array.isArray(p.active_event_ids) ? p.active_event_ids : [];
  const reason = make('p', 'p-reason', `${String(p.reason || '').replace(/_/g, ' ')}${ids.length ? ` · event${ids.length === 1 ? '' : 's'} ${ids.join(', ')}` : ''}`);
  li.append(head, reason);
  if (p.event_window_start && p.event_window_end) {
    const ws = parseTime(p.event_window_start);
    const we = parseTime(p.event_window_end);
    li.append(make('p', 'p-window', `window ${dayLabel(ws)} ${hm(ws)} – ${dayLabel(we)} ${hm(we)} UTC`));
  }
  const times = make('p', 'p-times muted');
  times.dataset.issued = p.issued_at || '';
  times.dataset.expires = p.expires_at || '';
  li.append(times, make('p', 'p-id mono muted', `intent ${p.intent_id || '–'}`));
  const show = button('Show week', 'ghost small', `Show the week of group ${k}`, () => selectGroup(k));
  show.hidden = k === view.group;
  li.append(show);
  return li;
}

function tickPower() {
  const now = Date.now();
  for (const t of el.powerList.querySelectorAll('.p-times')) {
    setText(t, `issued ${rel(parseTime(t.dataset.issued), now)} · expires ${rel(parseTime(t.dataset.expires), now)}`);
  }
}

let powerKey = '';
function renderPower() {
  const power = obj(get('schedules.power'));
  const keys = Object.keys(power).sort((a, b) => Number(a) - Number(b));
  const key = JSON.stringify([power, view.group]);
  if (key !== powerKey) {
    powerKey = key;
    // Heartbeats rebuild the cards: keep the focus on its card.
    const focus = document.activeElement && document.activeElement.closest('#power-list li');
    el.powerList.replaceChildren(...keys.map((k) => powerCard(k, obj(power[k]))));
    if (focus) {
      const again = el.powerList.querySelector(`li[data-group="${CSS.escape(focus.dataset.group)}"] button:not([hidden])`);
      if (again) again.focus();
    }
  }
  tickPower();
  let info = !live.have ? 'Waiting for the hub…'
    : keys.length === 0 ? 'No group has a power intent yet (groups come from events and devices).'
      : `${keys.length} group${keys.length === 1 ? '' : 's'}`;
  if (powerMeta && live.have) {
    info += powerMeta.publish_enabled ? ' · published retained on MQTT' : ' · computed, not published (POWER_INTENT_PUBLISH_ENABLED is off)';
    if (powerMeta.publish_enabled) info += powerMeta.heartbeat_enabled ? ' with heartbeats' : ', no heartbeats';
  }
  setText(el.powerInfo, info);
}

// ---- wiring --------------------------------------------------------------------------------

function selectGroup(k) {
  view.group = k;
  try {
    localStorage.setItem(GROUP_STORE, k);
  } catch { /* private mode */ }
  renderGroups();
  renderPower();
  renderWeek();
  loadWeek();
}

el.group.addEventListener('change', () => selectGroup(el.group.value));
$('prev-week').addEventListener('click', () => moveWeek(-1));
$('next-week').addEventListener('click', () => moveWeek(1));
$('this-week').addEventListener('click', () => moveWeek(0));
$('add-event').addEventListener('click', () => {
  const now = Date.now();
  const base = view.week <= now && now < view.week + 7 * DAY_MS ? Math.floor(now / DAY_MS) * DAY_MS : view.week;
  openEvent({ id: null, group: view.group, start: base + 9 * 3600000, end: base + 17 * 3600000 });
});
startDialog({ groupName });

let frame = 0;
let wasLive = false;
startLive(['schedules', 'system'], (kind, paths) => {
  if (kind === 'status') {
    const l = isLive();
    if (l && !wasLive) {
      loadDeviceGroups();
      loadPowerMeta();
    }
    wasLive = l;
  }
  if (kind === 'snapshot' || (kind === 'patch' && paths.some((p) => p.startsWith('schedules.events')))) {
    renderGroups();
    loadWeek(true);
  }
  if (!frame) {
    frame = requestAnimationFrame(() => {
      frame = 0;
      setText(el.seq, live.have ? String(live.seq) : '–');
      renderGroups();
      renderPower();
    });
  }
});
renderWeek();
setInterval(tickPower, 1000);
setInterval(() => {
  if (document.visibilityState === 'visible') renderWeek(); // the "now" marks
}, 60000);
