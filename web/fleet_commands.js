// Commands: sending them (the device's buttons, the crashed panel's
// Restart), following each one sent from this page ("trackers": the hub's
// answer, then every status the command goes through, live from room
// "commands"), and the list of every command the hub holds in its state.
// Colours by status: completed green, failed/expired/blocked_safety red,
// the rest in progress.
import {
  ACTIONS, BAD, TERMINAL, announce, answerText, api, badge, deviceName, fleet, make, newKey, okStatus,
  parseTime, relTime, setRelTime, setText, statusText,
} from './fleet_state.js';

const TRACKERS_PER_LIST = 5;
const LIST_MAX = 100;

// ---- trackers ----------------------------------------------------------------------------

const trackers = new Set(); // {li, label, id, status, trail, badge, trailEl, msg}

function newTracker(list, label) {
  const li = make('li', 'tracker');
  li.dataset.status = 'sending';
  const head = make('div', 't-head');
  const name = make('span', 't-label', label);
  const b = badge('sending…', 'sending');
  head.append(name, b);
  const msg = make('p', 't-msg', '');
  const trail = make('p', 't-trail muted', '');
  li.append(head, msg, trail);
  list.prepend(li);
  const t = { li, label, id: null, status: 'sending', trail: [], badge: b, trailEl: trail, msg };
  trackers.add(t);
  // Keep the newest few; drop the rest from the page and from tracking.
  while (list.children.length > TRACKERS_PER_LIST) {
    const last = list.lastElementChild;
    for (const x of trackers) if (x.li === last) trackers.delete(x);
    last.remove();
  }
  return t;
}

// The lifecycle's order: a late or replayed status never moves a tracker back.
const RANK = ['sending', 'queued', 'publish_in_progress', 'published', 'ack_received', 'execution_started'];
const rank = (s) => (RANK.includes(s) ? RANK.indexOf(s) : RANK.length);

function setStatus(t, status, say) {
  if (!status || status === t.status || rank(status) < rank(t.status)) return;
  if (TERMINAL.has(t.status)) return;
  t.status = status;
  if (t.trail[t.trail.length - 1] !== status) t.trail.push(status);
  t.li.dataset.status = status;
  t.badge.dataset.status = status;
  setText(t.badge, statusText(status));
  setText(t.trailEl, t.trail.map(statusText).join(' → '));
  if (say) announce(`${t.label}: ${statusText(status)}`);
}

// The hub's answer to the POST: 202, 429 and 500 carry the command.
function takeAnswer(t, res) {
  const c = res.body && typeof res.body === 'object' && res.body.command && typeof res.body.command === 'object'
    ? res.body.command : null;
  t.li.dataset.http = String(res.status);
  const code = res.status ? `${res.status} ` : '';
  setText(t.msg, `${code}${answerText(res)}`);
  t.msg.classList.toggle('bad', !okStatus(res.status));
  if (c && typeof c.commandId === 'string') {
    t.id = c.commandId;
    t.li.dataset.commandId = c.commandId;
  }
  // The state may already be ahead of the answer (patches come first).
  const live = t.id ? fleet.commands[t.id] : null;
  const seen = (t.id && history.get(t.id)) || [];
  if (c && typeof c.status === 'string' && !seen.includes(c.status)) setStatus(t, c.status, false);
  for (const st of seen) setStatus(t, st, false);
  if (live) setStatus(t, live.status, false);
  if (!c) setStatus(t, okStatus(res.status) ? 'done' : 'refused', false);
  announce(`${t.label}: ${code}${answerText(res)}${t.status ? `, ${statusText(t.status)}` : ''}`);
}

// Each patch of a command, as it comes (a render per frame could miss a
// status that lasted less than a frame).
// The statuses each command went through, from the patches: the POST's
// answer (which names the command) can come after the first of them.
const HISTORY_MAX = 200;
const history = new Map(); // command_id -> [status…]

export function onCommandPatches(changes) {
  for (const { path, value } of changes) {
    if (!path.startsWith('devices.commands.') || !value || typeof value !== 'object') continue;
    const id = value.command_id;
    const seen = history.get(id) || [];
    if (seen[seen.length - 1] !== value.status) seen.push(value.status);
    history.delete(id);
    history.set(id, seen);
    if (history.size > HISTORY_MAX) history.delete(history.keys().next().value);
    for (const t of trackers) if (t.id === id) setStatus(t, value.status, true);
  }
}

export function renderTrackers() {
  for (const t of trackers) {
    if (!t.id) continue;
    const c = fleet.commands[t.id];
    if (c) setStatus(t, c.status, true);
  }
}

// Sends a command for a device from its buttons; list gets the tracker.
export async function sendCommand(id, action, reason, list) {
  const t = newTracker(list, `${ACTIONS[action] || action} · ${deviceName(id)}`);
  const body = { action };
  if (reason) body.reason = reason;
  const res = await api('POST', `api/v1/devices/${encodeURIComponent(id)}/commands`, body, { idempotency: newKey() });
  takeAnswer(t, res);
  return res;
}

// The seed's restart route (reboot_host) with the crash reason.
export async function sendRestart(uuid, reason, list) {
  const t = newTracker(list, `Restart · ${deviceName(uuid)}`);
  const body = reason ? { reason } : {};
  const res = await api('POST', `api/clients/${encodeURIComponent(uuid)}/restart`, body, { idempotency: newKey() });
  takeAnswer(t, res);
  return res;
}

// ---- the commands list ---------------------------------------------------------------------

const rows = new Map(); // command_id -> {li, ...parts}

function created(c) {
  const t = parseTime(c.created_at || c.issued_at);
  return Number.isFinite(t) ? t : 0;
}

function buildRow(id) {
  const li = make('li', 'cmd');
  li.dataset.commandId = id;
  const head = make('div', 'c-head');
  const what = make('span', 'c-what');
  const b = badge('', '');
  head.append(what, b);
  const meta = make('p', 'c-meta muted');
  const when = relTime(null);
  const reason = make('span', 'c-reason');
  meta.append(when, reason);
  const err = make('p', 'c-error');
  li.append(head, meta, err);
  return { li, what, badge: b, when, reason, err };
}

export function renderCommands(el) {
  const list = Object.values(fleet.commands).filter((c) => c && typeof c.command_id === 'string');
  list.sort((a, b) => created(b) - created(a) || (a.command_id < b.command_id ? -1 : 1));
  const shown = list.slice(0, LIST_MAX);
  const keep = new Set(shown.map((c) => c.command_id));
  for (const [id, r] of rows) {
    if (!keep.has(id)) {
      r.li.remove();
      rows.delete(id);
    }
  }
  let prev = null;
  for (const c of shown) {
    let r = rows.get(c.command_id);
    if (!r) {
      r = buildRow(c.command_id);
      rows.set(c.command_id, r);
    }
    const st = String(c.status || '');
    r.li.dataset.status = st;
    r.li.dataset.device = c.client_uuid || '';
    r.li.dataset.action = c.action || '';
    r.li.classList.toggle('done', st === 'completed');
    r.li.classList.toggle('bad', BAD.has(st));
    r.li.classList.toggle('busy', !TERMINAL.has(st));
    setText(r.what, `${ACTIONS[c.action] || c.action} · ${deviceName(c.client_uuid)}`);
    r.badge.dataset.status = st;
    setText(r.badge, statusText(st));
    setRelTime(r.when, c.created_at || c.issued_at);
    const by = c.requested_by === null || c.requested_by === undefined ? '' : ` · by ${c.requested_by}`;
    setText(r.reason, `${c.reason ? ` · ${c.reason}` : ''}${by}`);
    const errText = c.error_code || c.error_message ? `${c.error_code || 'error'}: ${c.error_message || ''}` : '';
    setText(r.err, errText);
    r.err.hidden = !errText;
    const want = prev ? prev.nextElementSibling : el.list.firstElementChild;
    if (want !== r.li) {
      if (prev) prev.after(r.li);
      else el.list.prepend(r.li);
    }
    prev = r.li;
  }
  el.empty.hidden = shown.length > 0;
  el.empty.textContent = fleet.have ? 'No recent commands.' : 'Waiting for the hub…';
}
