// The log view: one device's logs (GET /api/v1/devices/<id>/logs?level=&limit=),
// newest first, with a level filter. Logs are not in the live state, so the
// view reloads every 5 s while the page is visible, and on Refresh.
import {
  $, answerText, api, clock, deviceName, fleet, make, okStatus, parseTime, setText,
} from './fleet_state.js';

const RELOAD_MS = 5000;

const el = {
  heading: $('logs-h'),
  device: $('logs-device'),
  level: $('logs-level'),
  limit: $('logs-limit'),
  refresh: $('logs-refresh'),
  info: $('logs-info'),
  list: $('log-list'),
};

let gen = 0; // answers of an older request are dropped
let optionsKey = '';

export function renderLogDevices() {
  const ids = Object.keys(fleet.registry).sort((a, b) => deviceName(a).localeCompare(deviceName(b)) || a.localeCompare(b));
  const key = JSON.stringify(ids.map((id) => [id, deviceName(id)]));
  if (key === optionsKey) return;
  optionsKey = key;
  const chosen = el.device.value;
  const opts = [make('option', null, 'choose a device')];
  opts[0].value = '';
  for (const id of ids) {
    const o = make('option', null, `${deviceName(id)} (${id.slice(0, 8)})`);
    o.value = id;
    opts.push(o);
  }
  // A device that is gone stays chosen until the user picks another.
  if (chosen && !ids.includes(chosen)) {
    const o = make('option', null, `${chosen} (gone)`);
    o.value = chosen;
    opts.push(o);
  }
  el.device.replaceChildren(...opts);
  el.device.value = chosen;
}

function entry(l) {
  const li = make('li', 'log');
  const level = String(l.level || 'INFO').toUpperCase();
  li.dataset.level = level;
  const head = make('div', 'l-head');
  const ms = parseTime(l.timestamp);
  const t = make('time', 'l-time mono', Number.isFinite(ms) ? clock(ms) : String(l.timestamp || '–'));
  if (Number.isFinite(ms)) t.dateTime = new Date(ms).toISOString();
  const b = make('span', 'badge lvl', level.toLowerCase());
  b.dataset.status = level;
  head.append(t, b);
  li.append(head, make('p', 'l-msg', typeof l.message === 'string' ? l.message : JSON.stringify(l.message)));
  if (l.context && typeof l.context === 'object' && Object.keys(l.context).length > 0) {
    li.append(make('p', 'l-ctx mono muted', JSON.stringify(l.context)));
  }
  return li;
}

export async function loadLogs() {
  const id = el.device.value;
  const my = ++gen;
  el.refresh.disabled = !id;
  if (!id) {
    el.list.replaceChildren();
    setText(el.info, 'Choose a device to see its logs.');
    return;
  }
  const q = new URLSearchParams({ limit: el.limit.value });
  if (el.level.value) q.set('level', el.level.value);
  const res = await api('GET', `api/v1/devices/${encodeURIComponent(id)}/logs?${q}`);
  if (my !== gen) return;
  if (!okStatus(res.status) || !res.body || !Array.isArray(res.body.logs)) {
    setText(el.info, `Could not load the logs (${res.status || 'no answer'}): ${answerText(res)}`);
    el.info.classList.add('bad');
    return;
  }
  el.info.classList.remove('bad');
  const logs = res.body.logs.filter((l) => l && typeof l === 'object');
  // Keep the list (and the reader's place in it) when nothing changed.
  const key = JSON.stringify(logs.map((l) => l.id));
  if (el.list.dataset.key !== key) {
    el.list.dataset.key = key;
    el.list.replaceChildren(...logs.map(entry));
  }
  const level = el.level.value ? ` ${el.level.value.toLowerCase()}` : '';
  setText(el.info, `${logs.length === 0 ? `No${level} entries` : `${logs.length}${level} entr${logs.length === 1 ? 'y' : 'ies'}`}`
    + ` for ${deviceName(id)}, newest first · updated ${clock(Date.now())}`);
}

// Opens the view on a device (the devices table's "Show logs").
export function showLogsOf(id) {
  renderLogDevices();
  el.device.value = id;
  loadLogs();
  el.heading.scrollIntoView({ block: 'start', behavior: 'smooth' });
  el.heading.focus({ preventScroll: true });
}

export function startLogs() {
  for (const s of [el.device, el.level, el.limit]) {
    s.addEventListener('change', () => {
      el.list.dataset.key = '';
      loadLogs();
    });
  }
  el.refresh.addEventListener('click', loadLogs);
  setInterval(() => {
    if (document.visibilityState !== 'hidden' && el.device.value) loadLogs();
  }, RELOAD_MS);
}
