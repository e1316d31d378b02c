// showhub scenes page: the scene files (state scenes.list, room "scenes"),
// the editor (scenes_editor.js), running and stopping scenes, every run with
// each action's outcome live (scenes.runs.<id>), the feedback latency
// histogram (scenes.feedback) and the simulation banner (scenes.mode).
// Everything shown comes from the hub's state; a button sends a REST call
// and the patch that follows is what the page shows.
import {
  $, announce, answerError, answerText, api, badge, button, clock, confirmButton, get, live, make, okStatus,
  setText, startLive,
} from './live.js';
import { editing, onSceneChange, openEditor, startEditor } from './scenes_editor.js';

const RUNS_SHOWN = 12;
const ANSWER_MS = 8000;

const el = {
  list: $('scene-list'),
  info: $('scenes-info'),
  simBanner: $('sim-banner'),
  simText: $('sim-text'),
  seq: $('seq'),
  fbSummary: $('fb-summary'),
  hist: $('fb-hist'),
  runList: $('run-list'),
  runsEmpty: $('runs-empty'),
  runsCount: $('runs-count'),
};

const obj = (v) => (v && typeof v === 'object' ? v : {});
const files = () => obj(get('scenes.list'));
const runs = () => obj(get('scenes.runs'));
const secs = (ms) => `${(Number(ms) / 1000).toFixed(ms % 1000 ? 1 : 0)} s`;

// The running run of a scene, if any.
function runningOf(name) {
  return Object.values(runs()).find((r) => r && r.status === 'running' && r.scene === name) || null;
}

// ---- run and stop (shared with the editor) ----------------------------------------------------

// An answer line; a good one goes away after a while (its effect shows in
// the list and the runs).
function answer(p, text, bad = false) {
  p.hidden = false;
  p.classList.toggle('bad', bad);
  p.replaceChildren(text);
  clearTimeout(p.hideTimer);
  if (!bad) {
    p.hideTimer = setTimeout(() => {
      if (p.textContent === text) p.hidden = true;
    }, ANSWER_MS);
  }
}

// POST …/run; a conflict (the room runs another scene) offers Restart,
// which sends {"restart": true}.
async function runScene(name, p, restart = false) {
  answer(p, restart ? 'Restarting…' : 'Starting…');
  const res = await api('POST', `api/v1/scenes/${encodeURIComponent(name)}/run`, restart ? { restart: true } : undefined);
  if (okStatus(res.status)) {
    const id = res.body && res.body.run_id;
    answer(p, `${restart ? 'Restarted' : 'Running'}${id ? ` (run ${id.slice(-6)})` : ''}.`);
    announce(`${name} ${restart ? 'restarted' : 'running'}`);
    return;
  }
  const e = answerError(res);
  if (e.code === 'conflict') {
    // The hub's message speaks API ("send restart: true"); say it for people.
    const room = obj(get(`scenes.list.${name}`)).room;
    const other = Object.values(runs()).find((r) => r && r.status === 'running' && r.room === room);
    const text = other && room ? `Room ${room} is running ${other.scene || other.label}. Restart stops it and runs ${name}.`
      : e.message;
    const b = button('Restart', 'small warnbtn', `Restart ${name}`, () => runScene(name, p, true));
    b.dataset.action = 'restart';
    p.hidden = false;
    p.classList.add('bad');
    p.replaceChildren(make('span', 'conflict-text', `${text} `), b);
    announce(`Conflict: ${text}`);
    return;
  }
  answer(p, `Not started: ${answerText(res)}`, true);
}

async function stopScene(name, p) {
  const res = await api('POST', `api/v1/scenes/${encodeURIComponent(name)}/stop`);
  if (okStatus(res.status)) answer(p, 'Stop sent.');
  else answer(p, `Not stopped: ${answerText(res)}`, true);
}

// ---- the scene list --------------------------------------------------------------------------

const rows = new Map(); // name -> row

function buildRow(name) {
  const li = make('li', 'scene');
  li.dataset.name = name;
  const head = make('div', 's-head');
  const title = make('span', 's-name', name);
  const room = badge('', 'room', 'badge room');
  const running = badge('running', 'running');
  head.append(title, room, running);
  const facts = make('p', 's-facts muted');
  const error = make('p', 's-error');
  const buttons = make('div', 'row-buttons');
  const ans = make('p', 'answer s-answer');
  ans.setAttribute('role', 'status');
  ans.hidden = true;
  const edit = button('Edit', 'small ghost', `Edit ${name}`, () => openEditor(name));
  const run = button('Run', 'small', `Run ${name}`, () => runScene(name, ans));
  const stop = button('Stop', 'small warnbtn', `Stop ${name}`, () => stopScene(name, ans));
  const del = button('Delete', 'small danger-ghost', `Delete ${name}`);
  confirmButton(del, 'Confirm delete', `Confirm delete of ${name}`, async () => {
    const res = await api('DELETE', `api/v1/scenes/${encodeURIComponent(name)}`);
    if (okStatus(res.status)) announce(`${name} deleted`);
    else answer(ans, `Not deleted: ${answerText(res)}`, true);
  });
  edit.dataset.action = 'edit';
  run.dataset.action = 'run';
  stop.dataset.action = 'stop';
  del.dataset.action = 'delete';
  buttons.append(edit, run, stop, del);
  li.append(head, facts, error, buttons, ans);
  return { li, room, running, facts, error, run, stop };
}

function renderList() {
  const all = files();
  const names = Object.keys(all).sort();
  for (const [name, r] of rows) {
    if (name in all) continue;
    const focus = r.li.contains(document.activeElement);
    r.li.remove();
    rows.delete(name);
    if (focus) $('scenes-h').focus();
  }
  let prev = null;
  for (const name of names) {
    const f = obj(all[name]);
    let r = rows.get(name);
    if (!r) {
      r = buildRow(name);
      rows.set(name, r);
    }
    const broken = !!f.error;
    const run = runningOf(name);
    r.li.dataset.broken = String(broken);
    r.li.dataset.running = String(!!run);
    r.room.hidden = !f.room;
    setText(r.room, f.room || '');
    r.running.hidden = !run;
    setText(r.facts, broken ? 'does not load' : `${f.actions} action${f.actions === 1 ? '' : 's'} · ${secs(f.duration_ms || 0)}`);
    r.error.hidden = !broken;
    setText(r.error, f.error || '');
    r.run.disabled = broken;
    r.stop.disabled = !run;
    const want = prev ? prev.nextElementSibling : el.list.firstElementChild;
    if (want !== r.li) {
      if (prev) prev.after(r.li);
      else el.list.prepend(r.li);
    }
    prev = r.li;
  }
  const broken = names.filter((n) => obj(all[n]).error).length;
  setText(el.info, !live.have ? 'Waiting for the hub…'
    : names.length === 0 ? 'No scenes yet: New scene makes one.'
      : `${names.length} scene${names.length === 1 ? '' : 's'}${broken ? ` · ${broken} broken` : ''}`);
}

// ---- runs ------------------------------------------------------------------------------------

const runRows = new Map(); // id -> {art, key, touched}

function target(a) {
  if (a.kind === 'intent') return a.intent || '';
  if (a.kind === 'command') return `${a.device || ''} ${a.action || ''}`;
  return `${a.topic || ''} = ${a.message ?? ''}`;
}

const ms = (v, plus = '') => (v === null || v === undefined ? '–' : `${plus}${Number(v).toFixed(1)} ms`);

function actionRow(a) {
  const tr = make('tr', 'ra');
  tr.dataset.i = String(a.i);
  tr.dataset.status = a.status;
  const th = make('th', 'ra-i', String(a.i));
  th.scope = 'row';
  tr.append(th);
  const td = (label, child, cls) => {
    const c = make('td', cls);
    c.dataset.label = label;
    c.append(child);
    tr.append(c);
  };
  td('t', String(a.t_ms), 'num');
  td('Kind', a.kind || '');
  td('Action', target(a), 'ra-target');
  td('Status', badge(a.status, a.status, 'badge st'));
  td('Latency', ms(a.latency_ms), 'num ra-lat');
  td('Late', ms(a.late_ms, '+'), 'num ra-late');
  td('Error', a.error || '', 'ra-err');
  return tr;
}

function buildRun(id) {
  const art = make('article', 'run');
  art.dataset.id = id;
  const det = make('details');
  det.open = true;
  const sum = make('summary');
  const name = make('span', 'r-name');
  const status = badge('', '', 'badge rs');
  const sim = badge('simulation', 'simulation', 'badge sim');
  const when = make('span', 'r-when muted');
  const counts = make('span', 'r-counts muted');
  sum.append(name, status, sim, when, counts);
  const body = make('div', 'r-body');
  const table = make('table', 'ra-table');
  const thead = make('thead');
  const hr = make('tr');
  for (const h of ['#', 't (ms)', 'Kind', 'Action', 'Status', 'Latency', 'Late', 'Error']) {
    const th = make('th', null, h);
    th.scope = 'col';
    hr.append(th);
  }
  thead.append(hr);
  const tbody = make('tbody');
  table.append(thead, tbody);
  const stop = button('Stop', 'small warnbtn', null);
  stop.dataset.action = 'stop-run';
  const ans = make('p', 'answer');
  ans.hidden = true;
  body.append(table, stop, ans);
  det.append(sum, body);
  art.append(det);
  const r = { art, det, name, status, sim, when, counts, tbody, stop, ans, key: '', touched: false };
  sum.addEventListener('click', () => {
    r.touched = true;
  });
  stop.addEventListener('click', () => stopScene(r.scene, ans));
  return r;
}

const COUNT_ORDER = ['ok', 'error', 'timeout', 'simulated', 'played', 'done', 'sent', 'pending', 'skipped'];

function updateRun(r, run) {
  r.scene = run.scene;
  r.art.dataset.status = run.status;
  setText(r.name, run.scene || run.label || 'inline actions');
  r.status.dataset.status = run.status;
  setText(r.status, run.status);
  r.sim.hidden = !run.simulation;
  const started = Date.parse(run.started_at);
  setText(r.when, `${run.room ? `${run.room} · ` : ''}${clock(started)}${run.src ? ` · ${run.src}` : ''}`);
  const c = obj(run.counts);
  setText(r.counts, COUNT_ORDER.filter((k) => c[k]).map((k) => `${c[k]} ${k}`).join(' · '));
  r.stop.hidden = run.status !== 'running' || !run.scene;
  r.stop.setAttribute('aria-label', `Stop ${run.scene || 'run'}`);
  const key = JSON.stringify(run.actions);
  if (key !== r.key) {
    r.key = key;
    r.tbody.replaceChildren(...(Array.isArray(run.actions) ? run.actions : []).map(actionRow));
  }
}

function renderRuns() {
  const all = runs();
  const ids = Object.keys(all).sort().reverse(); // ULIDs: newest first
  const shown = ids.slice(0, RUNS_SHOWN);
  for (const [id, r] of runRows) {
    if (!shown.includes(id)) {
      r.art.remove();
      runRows.delete(id);
    }
  }
  let prev = null;
  shown.forEach((id, k) => {
    let r = runRows.get(id);
    if (!r) {
      r = buildRun(id);
      runRows.set(id, r);
    }
    const run = obj(all[id]);
    updateRun(r, run);
    // Open: the running ones and the newest; the user's choice wins.
    if (!r.touched) r.det.open = run.status === 'running' || k === 0;
    const want = prev ? prev.nextElementSibling : el.runList.firstElementChild;
    if (want !== r.art) {
      if (prev) prev.after(r.art);
      else el.runList.prepend(r.art);
    }
    prev = r.art;
  });
  const running = ids.filter((id) => all[id] && all[id].status === 'running').length;
  el.runsEmpty.hidden = ids.length > 0;
  setText(el.runsCount, live.have ? `${running} running · ${ids.length} kept` : '–');
}

// ---- feedback histogram and simulation banner ---------------------------------------------

function bucketLabel(b) {
  return b >= 1000 ? `${b / 1000}s` : String(b);
}

let histKey = '';
function renderFeedback() {
  const fb = obj(get('scenes.feedback'));
  const counts = Array.isArray(fb.counts) ? fb.counts.map(Number) : [];
  const bounds = Array.isArray(fb.buckets_ms) ? fb.buckets_ms : [];
  const n = counts.reduce((s, x) => s + x, 0);
  const mean = n ? `${(Number(fb.sum_ms) / n).toFixed(1)} ms mean` : 'no latencies yet';
  setText(el.fbSummary, live.have
    ? `ok ${fb.ok ?? 0} · error ${fb.error ?? 0} · timeout ${fb.timeout ?? 0} · ${mean}${fb.timeout_ms ? ` · timeout after ${fb.timeout_ms} ms` : ''}`
    : '–');
  const key = JSON.stringify([counts, bounds]);
  if (key === histKey) return;
  histKey = key;
  const max = Math.max(1, ...counts);
  const cols = counts.map((c, i) => {
    const col = make('div', 'hcol');
    const label = i < bounds.length ? `≤${bucketLabel(bounds[i])}` : `>${bucketLabel(bounds[bounds.length - 1] || 0)}`;
    col.title = `${label} ms: ${c}`;
    col.dataset.count = String(c);
    const bar = make('div', 'hbar');
    bar.style.height = `${(c / max) * 100}%`;
    const slow = i >= bounds.length || (fb.timeout_ms && bounds[i] > fb.timeout_ms);
    bar.classList.toggle('slow', !!slow);
    const barBox = make('div', 'hbox');
    barBox.append(bar);
    col.append(make('span', 'hn', c ? String(c) : ''), barBox, make('span', 'hl', label));
    return col;
  });
  el.hist.replaceChildren(...cols);
  el.hist.setAttribute('aria-label', `Feedback latency histogram (ms): ${counts.map((c, i) => `${i < bounds.length ? `up to ${bounds[i]}` : 'above'}: ${c}`).join(', ')}`);
}

function renderMode() {
  const m = obj(get('scenes.mode'));
  const on = m.simulation === true;
  el.simBanner.hidden = !on;
  document.body.classList.toggle('is-sim', on);
  if (on) {
    const since = Date.parse(m.since);
    setText(el.simText, `${m.reason || 'The MQTT broker is unreachable'}: MQTT actions are logged as simulated, not sent`
      + `${Number.isFinite(since) ? ` (since ${clock(since)})` : ''}.`);
  }
}

// ---- wiring -------------------------------------------------------------------------------

const dirty = new Set();
let frame = 0;

function render() {
  frame = 0;
  const parts = new Set(dirty);
  dirty.clear();
  setText(el.seq, live.have ? String(live.seq) : '–');
  if (parts.has('list') || parts.has('runs')) renderList();
  if (parts.has('runs')) renderRuns();
  if (parts.has('feedback')) renderFeedback();
  if (parts.has('mode')) renderMode();
}

function mark(parts) {
  for (const p of parts) dirty.add(p);
  if (!frame) frame = requestAnimationFrame(render);
}

startEditor({ runScene });
$('new-scene').addEventListener('click', () => openEditor(null));
mark(['list', 'runs', 'feedback', 'mode']);
startLive(['scenes', 'system'], (kind, paths) => {
  if (kind === 'snapshot') {
    mark(['list', 'runs', 'feedback', 'mode']);
    const name = editing();
    if (name) onSceneChange(name);
    return;
  }
  if (kind !== 'patch') {
    mark([]);
    return;
  }
  for (const p of paths) {
    if (p.startsWith('scenes.list')) {
      dirty.add('list');
      const name = p.split('.')[2];
      if (name) onSceneChange(name);
    } else if (p.startsWith('scenes.runs')) dirty.add('runs');
    else if (p === 'scenes.feedback') dirty.add('feedback');
    else if (p === 'scenes.mode') dirty.add('mode');
  }
  mark([]);
});
