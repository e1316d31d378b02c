// The scene editor: name and room, an action table (t_ms, kind topic /
// intent / command, and its fields) and the same scene as JSON in a
// textarea. Both views edit one draft: a change in the table rewrites the
// JSON, JSON that parses rebuilds the table. Save is PUT
// /api/v1/scenes/<name>; the hub validates, and its refusal is shown with
// the field it names (actions[1].t_ms), that field marked in the table.
import {
  $, announce, answerError, api, button, get, make, okStatus, setText,
} from './live.js';

const NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

const el = {
  card: $('editor-card'),
  form: $('editor'),
  heading: $('editor-h'),
  name: $('ed-name'),
  room: $('ed-room'),
  table: $('ed-table'),
  rows: $('ed-rows'),
  add: $('ed-add'),
  json: $('ed-json'),
  jsonError: $('ed-json-error'),
  error: $('ed-error'),
  errorWho: $('ed-error-who'),
  errorField: $('ed-error-field'),
  errorText: $('ed-error-text'),
  save: $('ed-save'),
  run: $('ed-run'),
  close: $('ed-close'),
  answer: $('ed-answer'),
};

const ed = {
  name: null, // the scene being edited; null: a new one
  draft: { room: '', actions: [] },
  dirty: false,
  jsonBad: null, // the JSON's parse error while it does not parse
  badPayload: new WeakSet(), // actions whose payload text is not JSON
};

let runScene = async () => {};

export const editing = () => (el.card.hidden ? undefined : ed.name);

// ---- the draft as JSON ---------------------------------------------------------------------

const kindOf = (a) => (a && 'intent' in a ? 'intent' : a && 'command' in a ? 'command' : 'topic');

function renderJson() {
  if (document.activeElement === el.json) return;
  el.json.value = JSON.stringify(ed.draft, null, 2);
}

function changed() {
  ed.dirty = true;
  clearMarks();
  renderJson();
}

// ---- the action table ----------------------------------------------------------------------

function input(cls, label, value) {
  const i = make('input', cls);
  i.type = 'text';
  i.autocomplete = 'off';
  i.spellcheck = false;
  i.setAttribute('aria-label', label);
  i.value = value;
  return i;
}

function cell(tr, label, cls, child) {
  const td = make('td', cls);
  td.dataset.label = label;
  td.append(child);
  tr.append(td);
  return td;
}

// "12" -> 12; anything else goes to the hub as typed, so it says what is wrong.
function parseT(v) {
  const s = v.trim();
  return /^-?\d+$/.test(s) ? Number(s) : s;
}

function fieldsOf(a) {
  const k = kindOf(a);
  if (k === 'intent') {
    const it = a.intent && typeof a.intent === 'object' ? a.intent : {};
    return [it.name ?? '', JSON.stringify(it.payload ?? {})];
  }
  if (k === 'command') {
    const c = a.command && typeof a.command === 'object' ? a.command : {};
    return [c.device ?? '', c.action ?? ''];
  }
  return [a.topic ?? '', typeof a.message === 'string' ? a.message : JSON.stringify(a.message ?? '')];
}

const PLACEHOLDER = {
  topic: ['room1/light', 'ON'],
  intent: ['transport.play', '{}'],
  command: ['device uuid', 'restart_app'],
};

function buildRow(a, i) {
  const n = i + 1;
  const tr = make('tr', 'act');
  tr.dataset.i = String(i);
  const th = make('th', 'a-i', String(i));
  th.scope = 'row';
  tr.append(th);
  const t = make('input', 'a-t');
  t.type = 'number';
  t.step = '1';
  t.min = '0';
  t.inputMode = 'numeric';
  t.setAttribute('aria-label', `Action ${n} time (ms)`);
  t.value = a.t_ms === undefined || a.t_ms === null ? '' : String(a.t_ms);
  cell(tr, 't (ms)', 'c-t', t);
  const kind = make('select', 'a-kind');
  kind.setAttribute('aria-label', `Action ${n} kind`);
  for (const k of ['topic', 'intent', 'command']) kind.append(new Option(k, k));
  kind.value = kindOf(a);
  cell(tr, 'Kind', 'c-kind', kind);
  const [v1, v2] = fieldsOf(a);
  const f1 = input('a-target', `Action ${n} ${{ topic: 'topic', intent: 'intent name', command: 'device' }[kind.value]}`, v1);
  const f2 = input('a-value', `Action ${n} ${{ topic: 'message', intent: 'payload', command: 'action' }[kind.value]}`, v2);
  [f1.placeholder, f2.placeholder] = PLACEHOLDER[kind.value];
  if (kind.value === 'command') f2.setAttribute('list', 'cmd-actions');
  cell(tr, 'Target', 'c-target', f1);
  cell(tr, 'Value', 'c-value', f2);
  const rm = button('×', 'ghost small rm', `Remove action ${n}`, () => {
    ed.draft.actions.splice(i, 1);
    renderTable();
    changed();
    const next = el.rows.querySelectorAll('.a-t')[Math.min(i, ed.draft.actions.length - 1)];
    (next || el.add).focus();
  });
  cell(tr, '', 'c-rm', rm);

  t.addEventListener('input', () => {
    a.t_ms = parseT(t.value);
    changed();
  });
  kind.addEventListener('change', () => {
    for (const k of ['topic', 'message', 'intent', 'command', 'device']) delete a[k];
    if (kind.value === 'topic') Object.assign(a, { topic: '', message: '' });
    else if (kind.value === 'intent') a.intent = { name: '', payload: {} };
    else a.command = { device: '', action: '' };
    ed.badPayload.delete(a);
    const row = buildRow(a, i);
    tr.replaceWith(row);
    row.querySelector('.a-kind').focus();
    changed();
  });
  f1.addEventListener('input', () => {
    const k = kindOf(a);
    if (k === 'topic') a.topic = f1.value;
    else if (k === 'intent') a.intent = { ...(a.intent || {}), name: f1.value };
    else a.command = { ...(a.command || {}), device: f1.value };
    changed();
  });
  f2.addEventListener('input', () => {
    const k = kindOf(a);
    if (k === 'topic') a.message = f2.value;
    else if (k === 'command') a.command = { ...(a.command || {}), action: f2.value };
    else {
      try {
        const p = f2.value.trim() === '' ? {} : JSON.parse(f2.value);
        a.intent = { ...(a.intent || {}), payload: p };
        ed.badPayload.delete(a);
        delete f2.dataset.bad;
        f2.removeAttribute('aria-invalid');
      } catch {
        ed.badPayload.add(a);
        f2.dataset.bad = '1';
        f2.setAttribute('aria-invalid', 'true');
        ed.dirty = true;
        return;
      }
    }
    changed();
  });
  return tr;
}

function renderTable() {
  const acts = Array.isArray(ed.draft.actions) ? ed.draft.actions : [];
  el.rows.replaceChildren(...acts.map((a, i) => (a && typeof a === 'object' ? buildRow(a, i) : badRow(a, i))));
  el.table.hidden = acts.length === 0;
}

// An action that is not an object: only the JSON can fix it.
function badRow(a, i) {
  const tr = make('tr', 'act');
  tr.dataset.i = String(i);
  const th = make('th', 'a-i', String(i));
  th.scope = 'row';
  const td = make('td', 'c-bad', `not an object: ${JSON.stringify(a)} (edit it in the JSON)`);
  td.colSpan = 5;
  tr.append(th, td);
  return tr;
}

// ---- errors ------------------------------------------------------------------------------

function clearMarks() {
  for (const e of el.form.querySelectorAll('[aria-invalid="true"]')) {
    if (e.dataset.bad) continue; // a payload that is still not JSON
    e.removeAttribute('aria-invalid');
  }
}

function hideError() {
  el.error.hidden = true;
  clearMarks();
}

// The element a hub field path points at: actions[3].t_ms, room, name, ...
function fieldElement(field) {
  if (!field) return null;
  if (field === 'name') return el.name;
  if (field === 'room') return el.room;
  const m = /^actions\[(\d+)\](?:\.(\w+))?/.exec(field);
  if (!m) return null;
  const tr = el.rows.querySelector(`tr[data-i="${m[1]}"]`);
  if (!tr) return null;
  const part = m[2] || '';
  if (part === 't_ms') return tr.querySelector('.a-t');
  if (['topic', 'intent', 'command', 'device'].includes(part)) {
    if (/\.(payload|action)$/.test(field)) return tr.querySelector('.a-value');
    return tr.querySelector('.a-target');
  }
  if (part === 'message') return tr.querySelector('.a-value');
  return tr.querySelector('.a-t') || tr;
}

// fromHub: the hub refused the save (else the page found the problem).
function showError(field, message, fromHub = false) {
  setText(el.errorWho, fromHub ? 'The hub refused the scene' : 'Not saved');
  setText(el.errorField, field ? ' at ' : '');
  if (field) el.errorField.append(make('code', 'ed-field', field));
  setText(el.errorText, message);
  el.error.hidden = false;
  el.error.dataset.field = field || '';
  clearMarks();
  const target = fieldElement(field);
  if (target) {
    target.setAttribute('aria-invalid', 'true');
    target.setAttribute('aria-describedby', 'ed-error-text');
    target.focus();
  }
}

function showAnswer(text, bad = false) {
  el.answer.hidden = false;
  el.answer.classList.toggle('bad', bad);
  setText(el.answer, text);
}

// ---- open, save, close -----------------------------------------------------------------------

function sceneOf(name) {
  const f = get(`scenes.list.${name}`);
  if (f && f.scene && typeof f.scene === 'object') {
    const { name: _, ...rest } = structuredClone(f.scene);
    return rest;
  }
  return { room: '', actions: [] };
}

function load(draft) {
  ed.draft = draft;
  ed.dirty = false;
  ed.jsonBad = null;
  ed.badPayload = new WeakSet();
  el.room.value = typeof draft.room === 'string' ? draft.room : '';
  el.jsonError.hidden = true;
  el.json.removeAttribute('aria-invalid');
  renderTable();
  el.json.value = JSON.stringify(ed.draft, null, 2);
}

// name: a scene to edit, or null for a new one.
export function openEditor(name) {
  ed.name = name;
  el.card.hidden = false;
  el.name.value = name || '';
  el.name.readOnly = !!name;
  setText(el.heading, name ? `Edit scene ${name}` : 'New scene');
  hideError();
  el.answer.hidden = true;
  const f = name ? get(`scenes.list.${name}`) : null;
  if (f && f.error) showAnswer(`The file does not load: ${f.error}. Saving replaces it.`, true);
  load(name ? sceneOf(name) : { room: '', actions: [{ t_ms: 0, topic: '', message: '' }] });
  el.card.scrollIntoView({ block: 'start', behavior: 'smooth' });
  (name ? el.heading : el.name).focus({ preventScroll: true });
}

// The scene changed on the hub (another page, a save): reload it unless the
// user has unsaved edits.
export function onSceneChange(name) {
  if (el.card.hidden || ed.name !== name) return;
  if (!get(`scenes.list.${name}`)) {
    showAnswer(`The scene ${name} was deleted on the hub.`, true);
    return;
  }
  if (!ed.dirty) load(sceneOf(name));
}

async function save() {
  const name = ed.name || el.name.value.trim();
  hideError();
  if (!NAME_RE.test(name)) {
    showError('name', 'A scene name is 1-64 characters of A-Z a-z 0-9 _ -.');
    return false;
  }
  if (!ed.name && get(`scenes.list.${name}`)) {
    showError('name', `A scene named ${name} exists: edit it in the list, or choose another name.`);
    return false;
  }
  if (ed.jsonBad) {
    el.json.focus();
    showAnswer(`Not saved: the JSON does not parse (${ed.jsonBad}).`, true);
    return false;
  }
  const acts = Array.isArray(ed.draft.actions) ? ed.draft.actions : [];
  const bad = acts.findIndex((a) => ed.badPayload.has(a));
  if (bad >= 0) {
    showError(`actions[${bad}].intent.payload`, 'The payload is not JSON (an object such as {"on": true}).');
    return false;
  }
  el.save.disabled = true;
  showAnswer('Saving…');
  const res = await api('PUT', `api/v1/scenes/${encodeURIComponent(name)}`, ed.draft);
  el.save.disabled = false;
  if (!okStatus(res.status)) {
    const e = answerError(res);
    el.answer.hidden = true;
    showError(e.field || '', e.message || e.code, true);
    announce(`Not saved: ${e.message || e.code}`);
    return false;
  }
  ed.dirty = false;
  if (!ed.name) {
    ed.name = name;
    el.name.readOnly = true;
    setText(el.heading, `Edit scene ${name}`);
  }
  showAnswer(`Saved ${name} (seq ${res.body && res.body.seq}).`);
  announce(`Saved ${name}`);
  return true;
}

function close() {
  el.card.hidden = true;
  ed.name = null;
  $('scenes-h').focus();
}

export function startEditor(opts) {
  runScene = opts.runScene;
  el.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    save();
  });
  el.close.addEventListener('click', close);
  el.add.addEventListener('click', () => {
    if (!Array.isArray(ed.draft.actions)) ed.draft.actions = [];
    const acts = ed.draft.actions;
    const last = acts.length ? Number(acts[acts.length - 1].t_ms) || 0 : -1000;
    acts.push({ t_ms: last + 1000, topic: el.room.value ? `${el.room.value}/` : '', message: '' });
    renderTable();
    changed();
    el.rows.lastElementChild.querySelector('.a-target').focus();
  });
  el.room.addEventListener('input', () => {
    ed.draft.room = el.room.value;
    changed();
  });
  el.name.addEventListener('input', () => hideError());
  el.json.addEventListener('input', () => {
    ed.dirty = true;
    let parsed;
    try {
      parsed = JSON.parse(el.json.value);
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('the scene must be a JSON object {"room": …, "actions": […]}');
    } catch (err) {
      ed.jsonBad = err.message;
      el.json.setAttribute('aria-invalid', 'true');
      el.jsonError.hidden = false;
      setText(el.jsonError, `JSON: ${err.message}`);
      return;
    }
    ed.jsonBad = null;
    el.json.removeAttribute('aria-invalid');
    el.jsonError.hidden = true;
    ed.draft = parsed;
    ed.badPayload = new WeakSet();
    el.room.value = typeof parsed.room === 'string' ? parsed.room : '';
    hideError();
    renderTable();
  });
  el.json.addEventListener('blur', () => {
    if (!ed.jsonBad) renderJson();
  });
  el.run.addEventListener('click', async () => {
    if (ed.dirty || !ed.name) {
      if (!(await save())) return;
    }
    runScene(ed.name, el.answer);
  });
  el.form.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && !ed.dirty) close();
  });
}
