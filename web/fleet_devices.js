// The devices table: one row per device in the hub's registry (state
// devices.registry, live), a filter box, and per device a details row with
// the inline editor (description, group, active: PUT /api/v1/devices/<id>),
// the command buttons (POST /api/v1/devices/<id>/commands; reboot and
// shutdown ask for a second tap), facts, "Show logs" and Delete (second
// tap; DELETE /api/v1/devices/<id>). Rows are kept and updated in place so
// focus and half-typed edits survive the patches that stream in.
import { sendCommand } from './fleet_commands.js';
import {
  $, announce, answerText, api, badge, button, clock, confirmButton, deviceName, fleet, make, okStatus,
  parseTime, relTime, setRelTime, setText,
} from './fleet_state.js';

const el = {
  table: $('device-table'),
  rows: $('device-rows'),
  empty: $('devices-empty'),
  count: $('devices-count'),
  filter: $('filter'),
  heading: $('devices-h'),
  detailTpl: $('detail-tpl'),
};

const rows = new Map(); // id -> row
let uid = 0;
let showLogs = () => {};

// A cell; its content goes in an inner box (the phone layout puts the
// label beside it).
function cell(tr, label, cls) {
  const td = make('td', cls);
  td.dataset.label = label;
  const box = make('div', 'cv');
  td.append(box);
  tr.append(td);
  return box;
}

function buildRow(id) {
  const n = ++uid;
  const tr = make('tr', 'dev');
  tr.dataset.id = id;
  const th = make('th', 'd-dev');
  th.scope = 'row';
  const name = make('span', 'd-name');
  name.id = `dev${n}-name`;
  const idEl = make('span', 'd-id mono muted', id);
  const host = make('span', 'd-host muted');
  th.append(name, idEl, host);
  tr.append(th);
  const kind = cell(tr, 'Kind', 'd-kind');
  const presence = cell(tr, 'Presence', 'd-presence');
  const presenceBadge = badge('', '');
  const alive = make('span', 'd-alive muted');
  presence.append(presenceBadge, alive);
  const group = cell(tr, 'Group', 'd-group num');
  const proc = cell(tr, 'Process', 'd-proc');
  const procBadge = badge('', '');
  const pid = make('span', 'd-pid muted');
  const screen = badge('', '', 'badge screen');
  proc.append(procBadge, pid, screen);
  const seen = cell(tr, 'Last seen', 'd-seen');
  const seenTime = relTime(null);
  seen.append(seenTime);
  const rc = cell(tr, 'Reconnects', 'd-rc');
  const rcCount = make('span', 'd-rc-count num');
  const rcLast = make('span', 'd-rc-last muted');
  const rcTime = relTime(null);
  rc.append(rcCount, rcLast);
  const act = cell(tr, '', 'd-actions');
  const toggle = button('Details', 'ghost small', null, () => toggleDetail(id));
  toggle.setAttribute('aria-expanded', 'false');
  toggle.dataset.action = 'details';
  act.append(toggle);
  return {
    id, n, tr, name, host, kind, presenceBadge, alive, group, procBadge, pid, screen, seenTime, rcCount, rcLast,
    rcTime, toggle, detail: null, key: '',
  };
}

function updateRow(r, d) {
  const name = deviceName(r.id, d);
  setText(r.name, name);
  r.toggle.setAttribute('aria-label', `Details of ${name}`);
  setText(r.host, [d.hostname, d.ip].filter(Boolean).join(' · '));
  setText(r.kind, d.kind || '–');
  const presence = d.presence || 'unknown';
  r.presenceBadge.dataset.status = presence;
  setText(r.presenceBadge, presence);
  setText(r.alive, d.is_active === false ? 'inactive' : d.alive ? 'alive' : 'not alive');
  r.tr.dataset.presence = presence;
  r.tr.dataset.alive = String(d.alive === true);
  r.tr.classList.toggle('inactive', d.is_active === false);
  setText(r.group, d.group_id === null || d.group_id === undefined ? '—' : String(d.group_id));
  const ps = d.process_status || 'unknown';
  r.procBadge.dataset.status = ps;
  setText(r.procBadge, d.process_status ? ps : '–');
  setText(r.pid, [d.current_process, d.process_pid ? `pid ${d.process_pid}` : ''].filter(Boolean).join(' · '));
  const sh = d.screen_health_status || 'UNKNOWN';
  r.screen.dataset.status = sh;
  setText(r.screen, `screen ${sh}`);
  r.screen.hidden = !d.screen_health_status;
  setRelTime(r.seenTime, d.last_seen);
  setText(r.rcCount, String(Number(d.mqtt_reconnect_count) || 0));
  if (d.mqtt_last_disconnect_at) {
    setRelTime(r.rcTime, d.mqtt_last_disconnect_at);
    if (!r.rcTime.isConnected) r.rcLast.replaceChildren('last drop ', r.rcTime);
  } else if (r.rcLast.textContent !== 'no drop') {
    r.rcLast.replaceChildren('no drop');
  }
  if (r.detail && !r.detail.tr.hidden) updateDetail(r, d);
}

// ---- details row ----------------------------------------------------------------------------

function buildDetail(r) {
  const tr = el.detailTpl.content.firstElementChild.cloneNode(true);
  const p = `dev${r.n}`;
  tr.id = `${p}-detail`;
  tr.dataset.id = r.id;
  r.toggle.setAttribute('aria-controls', tr.id);
  const q = (s) => tr.querySelector(s);
  const det = {
    tr,
    form: q('.edit-form'),
    desc: q('[data-field="description"]'),
    group: q('[data-field="group_id"]'),
    active: q('[data-field="is_active"]'),
    editAnswer: q('[data-edit-answer]'),
    reason: q('[data-reason]'),
    trackers: q('[data-trackers]'),
    facts: q('[data-facts]'),
    delAnswer: q('[data-delete-answer]'),
    dirty: false,
  };
  for (const [sel, input, id] of [['[data-for="desc"]', det.desc, 'desc'], ['[data-for="group"]', det.group, 'group'],
    ['[data-for="reason"]', det.reason, 'reason']]) {
    input.id = `${p}-${id}`;
    q(sel).htmlFor = input.id;
  }
  det.form.setAttribute('aria-label', `Edit ${deviceName(r.id)}`);
  det.active.setAttribute('aria-label', 'Active');
  det.trackers.setAttribute('aria-label', 'Commands sent from this page');
  for (const input of [det.desc, det.group, det.active]) {
    input.addEventListener('input', () => {
      det.dirty = true;
    });
  }
  det.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    save(r);
  });
  det.form.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') resetForm(r);
  });
  q('[data-reset]').addEventListener('click', () => resetForm(r));
  for (const b of tr.querySelectorAll('[data-action]')) {
    const action = b.dataset.action;
    const run = () => sendCommand(r.id, action, det.reason.value.trim(), det.trackers);
    if (action === 'restart_app') b.addEventListener('click', run);
    else {
      const what = action === 'reboot_host' ? 'reboot' : 'shutdown';
      confirmButton(b, `Confirm ${what}`, `Confirm ${what} of ${deviceName(r.id)}`, run);
    }
  }
  q('[data-logs]').addEventListener('click', () => showLogs(r.id));
  confirmButton(q('[data-delete]'), 'Confirm delete', `Confirm delete of ${deviceName(r.id)}`, () => remove(r));
  r.detail = det;
  resetForm(r);
  return det;
}

function fact(dl, term, value) {
  const div = make('div');
  const dd = make('dd');
  if (value instanceof Node) dd.append(value);
  else dd.textContent = value === null || value === undefined || value === '' ? '–' : String(value);
  div.append(make('dt', null, term), dd);
  dl.append(div);
}

// After a save the form keeps the saved values until the hub's patch has
// them (or HOLD_MS passed), so an older patch does not flash the old ones.
const HOLD_MS = 1500;

function holding(det, d) {
  if (!det.saved || performance.now() > det.saved.until) return false;
  return Object.entries(det.saved.body).some(([k, v]) => (d[k] ?? null) !== v);
}

function updateDetail(r, d) {
  const det = r.detail;
  if (!det.dirty && !holding(det, d)) fillForm(det, d);
  const key = JSON.stringify([d.kind, d.hostname, d.ip, d.first_seen, d.last_alive, d.health_at, d.current_process,
    d.process_pid, d.current_event_id, d.service_failed_unit, d.service_failed_at, d.mqtt_last_disconnect_at]);
  if (key === r.key) return;
  r.key = key;
  const t = (iso) => {
    const ms = parseTime(iso);
    return Number.isFinite(ms) ? clock(ms) : '–';
  };
  det.facts.replaceChildren();
  fact(det.facts, 'Id', r.id);
  fact(det.facts, 'Host', [d.hostname, d.ip].filter(Boolean).join(' · '));
  fact(det.facts, 'First seen', t(d.first_seen));
  fact(det.facts, 'Last alive', relTime(d.last_alive));
  fact(det.facts, 'Health report', relTime(d.health_at));
  fact(det.facts, 'Event', d.current_event_id);
  fact(det.facts, 'Service failed', d.service_failed_at ? `${d.service_failed_unit || 'service'} at ${t(d.service_failed_at)}` : 'no');
  fact(det.facts, 'Last disconnect', t(d.mqtt_last_disconnect_at));
}

function fillForm(det, d) {
  det.desc.value = typeof d.description === 'string' ? d.description : '';
  det.group.value = d.group_id === null || d.group_id === undefined ? '' : String(d.group_id);
  det.active.checked = d.is_active !== false;
}

function resetForm(r) {
  const d = fleet.registry[r.id];
  r.detail.dirty = false;
  if (d) fillForm(r.detail, d);
}

function showAnswer(p, text, bad) {
  p.hidden = false;
  p.classList.toggle('bad', bad);
  setText(p, text);
}

async function save(r) {
  const det = r.detail;
  const d = fleet.registry[r.id];
  if (!d) return;
  const body = {};
  const desc = det.desc.value.trim();
  if ((desc || null) !== (d.description || null)) body.description = desc || null;
  const g = det.group.value.trim();
  if (g !== '' && (!/^\d+$/.test(g) || !Number.isSafeInteger(Number(g)))) {
    showAnswer(det.editAnswer, 'Group must be a whole number (0 or more), or empty for none.', true);
    det.group.focus();
    return;
  }
  const group = g === '' ? null : Number(g);
  if (group !== (d.group_id ?? null)) body.group_id = group;
  if (det.active.checked !== (d.is_active !== false)) body.is_active = det.active.checked;
  if (Object.keys(body).length === 0) {
    showAnswer(det.editAnswer, 'Nothing changed.', false);
    return;
  }
  const save = det.form.querySelector('[data-save]');
  save.disabled = true;
  showAnswer(det.editAnswer, 'Saving…', false);
  const res = await api('PUT', `api/v1/devices/${encodeURIComponent(r.id)}`, body);
  save.disabled = false;
  if (okStatus(res.status)) {
    det.dirty = false;
    det.saved = { body, until: performance.now() + HOLD_MS };
    showAnswer(det.editAnswer, `Saved (${Object.keys(body).join(', ').replace(/_/g, ' ')}).`, false);
  } else {
    showAnswer(det.editAnswer, `Not saved: ${res.status || ''} ${answerText(res)}`.replace(/: {2}/, ': '), true);
  }
}

async function remove(r) {
  const name = deviceName(r.id);
  showAnswer(r.detail.delAnswer, 'Deleting…', false);
  const res = await api('DELETE', `api/v1/devices/${encodeURIComponent(r.id)}`);
  if (okStatus(res.status)) {
    announce(`${name} deleted`);
    if (rows.has(r.id)) showAnswer(r.detail.delAnswer, 'Deleted.', false);
  } else {
    showAnswer(r.detail.delAnswer, `Not deleted: ${res.status || ''} ${answerText(res)}`.replace(/: {2}/, ': '), true);
  }
}

function toggleDetail(id) {
  const r = rows.get(id);
  if (!r) return;
  const open = !r.detail || r.detail.tr.hidden;
  if (open && !r.detail) {
    buildDetail(r);
    r.tr.after(r.detail.tr);
  }
  r.detail.tr.hidden = !open;
  r.toggle.setAttribute('aria-expanded', String(open));
  r.toggle.textContent = open ? 'Close' : 'Details';
  r.tr.classList.toggle('open', open);
  if (open) {
    const d = fleet.registry[id];
    if (d) {
      if (!r.detail.dirty) fillForm(r.detail, d);
      updateDetail(r, d);
    }
  }
}

// ---- the table -------------------------------------------------------------------------------

function matches(d, id, words) {
  if (words.length === 0) return true;
  const hay = [id, d.description, d.hostname, d.ip, d.kind, d.presence, d.process_status, d.screen_health_status,
    d.group_id === null || d.group_id === undefined ? 'nogroup' : `group ${d.group_id} g${d.group_id}`,
    d.alive ? 'alive' : 'stale', d.service_failed_at ? 'service_failed' : '']
    .filter((x) => x !== null && x !== undefined).join(' ').toLowerCase();
  return words.every((w) => hay.includes(w));
}

function byName(a, b) {
  const na = deviceName(a).toLowerCase();
  const nb = deviceName(b).toLowerCase();
  return na < nb ? -1 : na > nb ? 1 : a < b ? -1 : a > b ? 1 : 0;
}

export function renderDevices() {
  const ids = Object.keys(fleet.registry).sort(byName);
  for (const [id, r] of rows) {
    if (id in fleet.registry) continue;
    const hadFocus = r.tr.contains(document.activeElement) || (r.detail && r.detail.tr.contains(document.activeElement));
    r.tr.remove();
    if (r.detail) r.detail.tr.remove();
    rows.delete(id);
    if (hadFocus) el.heading.focus();
  }
  const words = el.filter.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  let shown = 0;
  let online = 0;
  let alive = 0;
  let prev = null;
  for (const id of ids) {
    const d = fleet.registry[id];
    let r = rows.get(id);
    if (!r) {
      r = buildRow(id);
      rows.set(id, r);
    }
    updateRow(r, d);
    if (d.presence === 'online') online++;
    if (d.alive === true) alive++;
    const hit = matches(d, id, words);
    r.tr.hidden = !hit;
    if (r.detail) r.detail.tr.hidden = !hit || r.toggle.getAttribute('aria-expanded') !== 'true';
    if (hit) shown++;
    // Keep DOM order = sorted order without moving rows in place (moving
    // one would drop its focus); a details row follows its device.
    const want = prev ? prev.nextElementSibling : el.rows.firstElementChild;
    if (want !== r.tr) {
      if (prev) prev.after(r.tr);
      else el.rows.prepend(r.tr);
    }
    prev = r.tr;
    if (r.detail) {
      if (prev.nextElementSibling !== r.detail.tr) prev.after(r.detail.tr);
      prev = r.detail.tr;
    }
  }
  const total = ids.length;
  setText(el.count, !fleet.have ? '–'
    : `${words.length ? `${shown} of ${total} shown · ` : ''}${total} device${total === 1 ? '' : 's'} · ${online} online · ${alive} alive`);
  el.table.hidden = total === 0;
  el.empty.hidden = fleet.have && total > 0 && shown > 0;
  el.empty.textContent = !fleet.have ? 'Waiting for the hub…'
    : total === 0 ? 'No devices yet: they appear when they announce themselves.' : 'No device matches the filter.';
}

export function startDevices(opts) {
  showLogs = opts.showLogs;
  el.filter.addEventListener('input', renderDevices);
}
