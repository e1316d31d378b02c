// The urgent parts of the fleet page: the broker-outage banner and the
// alert list (state devices.alerts, live), the red crashed panel
// (GET /api/clients/crashed, with Restart per row) and the orange
// service_failed panel (GET /api/clients/service_failed, with Acknowledge;
// hidden when empty). The two panels are REST reads: the page reloads them
// every 15 s and soon after a patch that can change them.
import { sendRestart } from './fleet_commands.js';
import {
  $, answerText, api, button, clock, deviceName, fleet, isLive, make, okStatus, relTime, setRelTime, setText,
} from './fleet_state.js';

const REFRESH_MS = 15000;
const SOON_MS = 400; // patches in a burst give one reload
const MIN_GAP_MS = 1000;

const el = {
  outage: $('outage-banner'),
  outageText: $('outage-text'),
  alertList: $('alert-list'),
  alertsEmpty: $('alerts-empty'),
  alertsCount: $('alerts-count'),
  crashed: $('crashed'),
  crashedCount: $('crashed-count'),
  crashedInfo: $('crashed-info'),
  crashedList: $('crashed-list'),
  crashedActions: $('crashed-actions'),
  crashedRefresh: $('crashed-refresh'),
  sf: $('sf'),
  sfCount: $('sf-count'),
  sfInfo: $('sf-info'),
  sfList: $('sf-list'),
  sfRefresh: $('sf-refresh'),
  sfAnswer: $('sf-answer'),
};

// ---- alerts ------------------------------------------------------------------------------

const KIND_TEXT = {
  broker_outage_suspected: 'broker outage',
  heartbeat_stale: 'heartbeat stale',
  process_crashed: 'process crashed',
  service_failed: 'service failed',
};

let alertsKey = null;

export function renderAlerts() {
  const all = Object.values(fleet.alerts).filter((a) => a && typeof a === 'object');
  const outage = all.find((a) => a.kind === 'broker_outage_suspected');
  el.outage.hidden = !outage;
  if (outage) {
    setText(el.outageText, `${outage.message || 'Most devices went silent at once'} · since ${clock(Date.parse(outage.since))}`);
  }
  document.body.classList.toggle('is-outage', !!outage);
  setText(el.alertsCount, fleet.have ? `${all.length} active` : '–');
  el.alertsEmpty.hidden = all.length > 0;
  el.alertsEmpty.textContent = fleet.have ? 'No alerts.' : 'Waiting for the hub…';
  const key = JSON.stringify(all.map((a) => [a.id, a.kind, a.device, deviceName(a.device || ''), a.since, a.message]));
  if (key === alertsKey) return;
  alertsKey = key;
  const order = ['broker_outage_suspected', 'process_crashed', 'service_failed', 'heartbeat_stale'];
  all.sort((a, b) => (order.indexOf(a.kind) - order.indexOf(b.kind)) || String(a.id).localeCompare(String(b.id)));
  el.alertList.replaceChildren(...all.map((a) => {
    const li = make('li', 'alert');
    li.dataset.kind = String(a.kind);
    li.dataset.id = String(a.id);
    const head = make('div', 'a-head');
    head.append(make('span', 'badge', KIND_TEXT[a.kind] || String(a.kind)));
    if (a.device) head.append(make('span', 'a-device', deviceName(a.device)));
    head.append(relTime(a.since));
    li.append(head, make('p', 'a-msg', a.message || ''));
    return li;
  }));
}

// ---- panel plumbing -----------------------------------------------------------------------

function panel(load) {
  const p = { busy: false, again: false, last: 0, soon: 0, load };
  p.run = async () => {
    if (p.busy) {
      p.again = true;
      return;
    }
    p.busy = true;
    p.last = Date.now();
    try {
      await load();
    } finally {
      p.busy = false;
      if (p.again) {
        p.again = false;
        p.schedule();
      }
    }
  };
  p.schedule = () => {
    if (p.soon) return;
    const wait = Math.max(SOON_MS, MIN_GAP_MS - (Date.now() - p.last));
    p.soon = setTimeout(() => {
      p.soon = 0;
      p.run();
    }, wait);
  };
  return p;
}

function loadError(info, res) {
  setText(info, `Could not load (${res.status || 'no answer'}): ${answerText(res)}`);
  info.classList.add('bad');
}

// ---- crashed ------------------------------------------------------------------------------

const crashedPanel = panel(async () => {
  const res = await api('GET', 'api/clients/crashed');
  if (!okStatus(res.status) || !res.body || !Array.isArray(res.body.clients)) {
    loadError(el.crashedInfo, res);
    return;
  }
  el.crashedInfo.classList.remove('bad');
  renderCrashed(res.body);
});

const restarting = new Set(); // uuids with a restart request on its way
let crashedKey = null;
let sfKey = null;

function renderCrashed(body) {
  const clients = body.clients.filter((c) => c && typeof c.uuid === 'string');
  const n = Number(body.crashed_count ?? clients.length) || 0;
  setText(el.crashedCount, `(${n})`);
  el.crashed.classList.toggle('has-items', n > 0);
  setText(el.crashedInfo, `${n === 0 ? 'No crashed devices.' : `${n === 1 ? 'One device needs' : `${n} devices need`} attention.`}`
    + ` Heartbeat grace ${body.grace_period_seconds ?? '?'} s · checked ${clock(Date.now())}`);
  // Rebuild the rows only when they change (a click must not hit a row
  // that is being replaced, and screen readers need no churn).
  // The live last_alive comes from the state (the REST answer ages).
  const lastAlive = (c) => (fleet.registry[c.uuid] || c).last_alive;
  const key = JSON.stringify([clients.map(({ last_alive: _, ...rest }) => rest), [...restarting],
    clients.map((c) => deviceName(c.uuid, fleet.registry[c.uuid] || c))]);
  if (key === crashedKey) {
    for (const li of el.crashedList.children) {
      const c = clients.find((x) => x.uuid === li.dataset.uuid);
      if (c) setRelTime(li.querySelector('time'), lastAlive(c));
    }
    return;
  }
  crashedKey = key;
  const focusUuid = document.activeElement && document.activeElement.closest('#crashed-list li')
    ? document.activeElement.closest('li').dataset.uuid : null;
  el.crashedList.replaceChildren(...clients.map((c) => {
    const li = make('li', 'prow');
    li.dataset.uuid = c.uuid;
    li.dataset.reason = String(c.crash_reason || '');
    const info = make('div', 'p-info');
    const name = deviceName(c.uuid, fleet.registry[c.uuid] || c);
    info.append(make('span', 'p-name', name), make('span', 'badge bad', String(c.crash_reason || 'crashed').replace(/_/g, ' ')));
    const facts = make('p', 'p-facts muted');
    facts.append(`${c.hostname || '–'} · ${c.ip || '–'} · process ${c.process_status || '–'} · screen ${c.screen_health_status || '–'} · alive `,
      relTime(lastAlive(c)));
    info.append(facts, make('p', 'p-id mono muted', c.uuid));
    const b = button('Restart', 'small danger', `Restart ${name} (reboot host)`, async () => {
      restarting.add(c.uuid);
      b.disabled = true;
      try {
        await sendRestart(c.uuid, c.crash_reason || null, el.crashedActions);
      } finally {
        restarting.delete(c.uuid);
        b.disabled = false;
        crashedPanel.schedule();
      }
    });
    b.dataset.action = 'restart';
    b.disabled = restarting.has(c.uuid);
    li.append(info, b);
    return li;
  }));
  if (focusUuid) {
    const again = el.crashedList.querySelector(`li[data-uuid="${CSS.escape(focusUuid)}"] button`);
    if (again) again.focus();
  }
}

// ---- service_failed ---------------------------------------------------------------------------

const sfPanel = panel(async () => {
  const res = await api('GET', 'api/clients/service_failed');
  if (!okStatus(res.status) || !res.body || !Array.isArray(res.body.clients)) {
    el.sf.hidden = false;
    loadError(el.sfInfo, res);
    return;
  }
  el.sfInfo.classList.remove('bad');
  renderSf(res.body);
});

function renderSf(body) {
  const clients = body.clients.filter((c) => c && typeof c.uuid === 'string');
  const n = Number(body.service_failed_count ?? clients.length) || 0;
  el.sf.hidden = n === 0 && clients.length === 0;
  setText(el.sfCount, `(${n})`);
  setText(el.sfInfo, `systemd gave up restarting the service. Fix it, then acknowledge. Checked ${clock(Date.now())}`);
  const key = JSON.stringify([clients.map(({ last_alive: _, ...rest }) => rest),
    clients.map((c) => deviceName(c.uuid, fleet.registry[c.uuid] || c))]);
  if (key === sfKey) return;
  sfKey = key;
  el.sfList.replaceChildren(...clients.map((c) => {
    const li = make('li', 'prow');
    li.dataset.uuid = c.uuid;
    const info = make('div', 'p-info');
    const name = deviceName(c.uuid, fleet.registry[c.uuid] || c);
    info.append(make('span', 'p-name', name), make('span', 'badge warn', c.service_failed_unit || 'service'));
    const facts = make('p', 'p-facts muted');
    facts.append(`${c.hostname || '–'} · ${c.ip || '–'} · failed `, relTime(c.service_failed_at),
      ` · ${c.is_alive ? 'alive' : 'not alive'}`);
    info.append(facts, make('p', 'p-id mono muted', c.uuid));
    const b = button('Acknowledge', 'small warnbtn', `Acknowledge the service failure of ${name}`, async () => {
      b.disabled = true;
      const res = await api('POST', `api/clients/${encodeURIComponent(c.uuid)}/clear_service_failed`);
      const text = `${name}: ${res.status || ''} ${answerText(res)}`.replace(/: {2}/, ': ');
      el.sfAnswer.hidden = false;
      el.sfAnswer.classList.toggle('bad', !okStatus(res.status));
      setText(el.sfAnswer, text);
      b.disabled = false;
      sfPanel.run();
    });
    b.dataset.action = 'acknowledge';
    li.append(info, b);
    return li;
  }));
}

// ---- wiring -------------------------------------------------------------------------------------

// Which patches can change the panels: a device's process, screen, liveness
// or service_failed fields, or an alert of those kinds.
const CRASH_FIELDS = ['process_status', 'screen_health_status', 'alive', 'is_active', 'description'];
const SF_FIELDS = ['service_failed_at', 'service_failed_unit', 'alive', 'description'];

function differs(a, b, fields) {
  if (!a || !b) return true;
  return fields.some((f) => a[f] !== b[f]);
}

let wasLive = false;

export function onFleetChange(parts, changes) {
  if (parts.has('status')) {
    // A new connection: the panels may have missed changes meanwhile.
    const live = isLive();
    if (live && !wasLive) {
      crashedPanel.schedule();
      sfPanel.schedule();
    }
    wasLive = live;
  }
  if (parts.has('snapshot')) {
    crashedPanel.schedule();
    sfPanel.schedule();
    return;
  }
  for (const { path, value, old } of changes) {
    if (path.startsWith('devices.registry.')) {
      if (differs(value, old, CRASH_FIELDS)) crashedPanel.schedule();
      if (differs(value, old, SF_FIELDS)) sfPanel.schedule();
    } else if (path.startsWith('devices.alerts')) {
      crashedPanel.schedule();
      sfPanel.schedule();
    }
  }
}

export function startPanels() {
  el.crashedRefresh.addEventListener('click', () => crashedPanel.run());
  el.sfRefresh.addEventListener('click', () => sfPanel.run());
  setText(el.crashedInfo, 'Loading…');
  crashedPanel.run();
  sfPanel.run();
  setInterval(() => {
    if (document.visibilityState === 'hidden') return;
    crashedPanel.run();
    sfPanel.run();
  }, REFRESH_MS);
}
