// The event dialog of the schedule page: add (POST /api/v1/events) and edit
// (PUT /api/v1/events/<id>, the whole event) with a recurrence picker that
// writes the RRULE, on_start/on_end as "run a scene" or raw action JSON,
// delete (second tap), and "detach this occurrence" (POST
// /api/v1/events/<id>/occurrences/<YYYY-MM-DD>/detach). The hub validates;
// its refusal shows with the field it names.
import {
  $, announce, answerError, api, confirmButton, get, make, okStatus, setText,
} from './live.js';
import {
  WEEKDAYS, buildRrule, parseRrule,
} from './rrule.js';
import {
  dayLabel, fromInput, hm, parseTime, rruleDay, toInput,
} from './schedule_time.js';

const DAY_NAMES = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

const el = {
  dialog: $('ev-dialog'),
  form: $('ev-form'),
  heading: $('ev-dialog-h'),
  occ: $('ev-occ'),
  error: $('ev-error'),
  errorWho: $('ev-error-who'),
  errorField: $('ev-error-field'),
  errorText: $('ev-error-text'),
  title: $('ev-title'),
  type: $('ev-type'),
  group: $('ev-group'),
  start: $('ev-start'),
  end: $('ev-end'),
  freq: $('rec-freq'),
  interval: $('rec-interval'),
  unit: $('rec-unit'),
  ends: $('rec-ends'),
  days: $('rec-days'),
  until: $('rec-until'),
  count: $('rec-count'),
  raw: $('rec-raw'),
  recText: $('rec-text'),
  exdates: $('rec-exdates'),
  content: $('ev-content'),
  answer: $('ev-answer'),
  del: $('ev-delete'),
  detach: $('ev-detach'),
  cancel: $('ev-cancel'),
  save: $('ev-save'),
};

const HOOKS = ['on_start', 'on_end'];
const hook = (name) => {
  const box = el.form.querySelector(`[data-hook="${name}"]`);
  return { box, kind: box.querySelector('[data-kind]'), scene: box.querySelector('[data-scene]'), json: box.querySelector('[data-json]') };
};

let cur = { id: null, event: null, occ: null };
// The event's RRULE as the hub has it, sent back as is unless the picker
// was touched (the picker would write an equal rule in its own words).
let picker = { orig: null, touched: false };
let groupName = (k) => k;

// ---- recurrence picker ---------------------------------------------------------------------

function dayBoxes() {
  return [...el.days.querySelectorAll('input[type="checkbox"]')];
}

function pickerState() {
  return {
    freq: el.freq.value,
    interval: el.interval.value,
    days: dayBoxes().filter((b) => b.checked).map((b) => b.value),
    ends: el.ends.value,
    until: el.until.value,
    count: el.count.value,
    raw: el.raw.value,
  };
}

const startDay = () => {
  const ms = parseTime(fromInput(el.start.value));
  return Number.isFinite(ms) ? rruleDay(ms) : null;
};

function renderPicker() {
  const f = el.freq.value;
  const show = (what, on) => {
    for (const e of el.form.querySelectorAll(`[data-rec="${what}"]`)) e.hidden = !on;
  };
  const rec = f !== 'none' && f !== 'custom';
  show('interval', rec);
  show('ends', rec);
  show('days', f === 'weekly');
  show('until', rec && el.ends.value === 'until');
  show('count', rec && el.ends.value === 'count');
  show('custom', f === 'custom');
  setText(el.unit, { daily: 'day(s)', weekly: 'week(s)', monthly: 'month(s)' }[f] || '');
  if (f === 'weekly' && !dayBoxes().some((b) => b.checked)) {
    const d = startDay();
    for (const b of dayBoxes()) b.checked = b.value === d;
  }
  const rr = picker.touched ? buildRrule(pickerState(), startDay()) : picker.orig;
  setText(el.recText, rr || 'none (a single event)');
}

function loadPicker(rrule) {
  picker = { orig: rrule || null, touched: false };
  const p = parseRrule(rrule);
  el.freq.value = p.freq;
  el.interval.value = String(p.interval);
  for (const b of dayBoxes()) b.checked = p.days.includes(b.value);
  el.ends.value = p.ends;
  el.until.value = p.until;
  el.count.value = String(p.count);
  el.raw.value = p.freq === 'custom' ? p.raw : '';
  renderPicker();
}

// ---- hooks: nothing, run a scene, or action JSON -----------------------------------------------

function sceneOf(actions) {
  if (!Array.isArray(actions) || actions.length !== 1) return null;
  const a = actions[0];
  const keys = a && typeof a === 'object' ? Object.keys(a) : [];
  if (keys.length !== 1 || keys[0] !== 'intent') return null;
  const it = a.intent;
  if (!it || it.name !== 'scene.run' || !it.payload || Object.keys(it.payload).join() !== 'name') return null;
  return typeof it.payload.name === 'string' ? it.payload.name : null;
}

function renderHook(name) {
  const h = hook(name);
  h.scene.hidden = h.kind.value !== 'scene';
  h.json.hidden = h.kind.value !== 'json';
}

function loadHook(name, actions, scenes) {
  const h = hook(name);
  const scene = sceneOf(actions);
  const names = [...scenes];
  if (scene && !names.includes(scene)) names.push(scene);
  h.scene.replaceChildren(new Option('choose a scene', ''), ...names.map((n) => new Option(scenes.includes(n) ? n : `${n} (not on the hub)`, n)));
  if (actions === null || actions === undefined || (Array.isArray(actions) && actions.length === 0)) {
    h.kind.value = 'none';
  } else if (scene) {
    h.kind.value = 'scene';
    h.scene.value = scene;
  } else {
    h.kind.value = 'json';
  }
  h.json.value = actions ? JSON.stringify(actions, null, 2) : '';
  renderHook(name);
}

// The hook's actions, or throws {field, message}.
function hookValue(name) {
  const h = hook(name);
  if (h.kind.value === 'none') return null;
  if (h.kind.value === 'scene') {
    if (!h.scene.value) throw { field: name, el: h.scene, message: 'Choose the scene to run.' };
    return [{ intent: { name: 'scene.run', payload: { name: h.scene.value } } }];
  }
  try {
    return JSON.parse(h.json.value);
  } catch (err) {
    throw { field: name, el: h.json, message: `The actions are not JSON: ${err.message}` };
  }
}

async function sceneNames() {
  const res = await api('GET', 'api/v1/scenes');
  if (!okStatus(res.status) || !res.body || !Array.isArray(res.body.scenes)) return [];
  return res.body.scenes.filter((s) => s && !s.error).map((s) => s.name).sort();
}

// ---- errors ---------------------------------------------------------------------------------

function clearError() {
  el.error.hidden = true;
  for (const e of el.form.querySelectorAll('[aria-invalid="true"]')) e.removeAttribute('aria-invalid');
}

function fieldEl(field) {
  const f = String(field || '').replace(/^event\./, '').replace(/\[.*$/, '').split('.')[0];
  const map = {
    title: el.title, type: el.type, group_id: el.group, start: el.start, end: el.end, content: el.content,
    rrule: el.freq.value === 'custom' ? el.raw : el.freq, exdates: el.freq,
  };
  if (HOOKS.includes(f)) {
    const h = hook(f);
    return h.kind.value === 'scene' ? h.scene : h.kind.value === 'json' ? h.json : h.kind;
  }
  return map[f] || null;
}

// fromHub: the hub refused it (else the page found the problem).
function showError(field, message, target = fieldEl(field), fromHub = true) {
  clearError();
  setText(el.errorWho, fromHub ? 'The hub refused the event' : 'Not saved');
  setText(el.errorField, field ? ' at ' : '');
  if (field) el.errorField.append(make('code', 'ed-field', field));
  setText(el.errorText, message);
  el.error.hidden = false;
  el.error.dataset.field = field || '';
  if (target) {
    target.setAttribute('aria-invalid', 'true');
    target.focus();
  }
}

function showAnswer(text, bad = false) {
  el.answer.hidden = false;
  el.answer.classList.toggle('bad', bad);
  setText(el.answer, text);
}

// ---- open, save, delete, detach --------------------------------------------------------------

// opts: {id | event, occ?: {start, end, date}} to edit an event (from an
// occurrence), or {id: null, group, start, end} for a new one.
export async function openEvent(opts) {
  const ev = opts.event || (opts.id ? get(`schedules.events.${opts.id}`) : null);
  cur = { id: ev ? ev.id : null, event: ev, occ: opts.occ || null };
  clearError();
  el.answer.hidden = true;
  const g = ev ? ev.group_id : opts.group === 'hub' ? null : opts.group;
  setText(el.heading, ev ? `Edit event ${ev.id}` : 'Add event');
  el.title.value = ev ? ev.title : '';
  el.type.value = ev && ev.type !== 'other' ? ev.type : '';
  el.group.value = g === null || g === undefined ? '' : String(g);
  el.start.value = toInput(ev ? parseTime(ev.start) : opts.start);
  el.end.value = toInput(ev ? parseTime(ev.end) : opts.end);
  loadPicker(ev ? ev.rrule : null);
  const ex = ev && Array.isArray(ev.exdates) ? ev.exdates : [];
  el.exdates.hidden = ex.length === 0;
  setText(el.exdates, `${ex.length} occurrence${ex.length === 1 ? '' : 's'} excluded or detached: ${ex.map((x) => dayLabel(parseTime(x))).join(', ')}`);
  el.content.value = ev && ev.content ? JSON.stringify(ev.content, null, 2) : '';
  el.content.closest('details').open = !!(ev && ev.content);
  const occ = cur.occ;
  el.occ.hidden = !occ || !ev;
  if (occ && ev) {
    setText(el.occ, `${ev.rrule ? 'This occurrence' : 'This event'}: ${dayLabel(occ.start)} ${hm(occ.start)} – ${dayLabel(occ.end)} ${hm(occ.end)} UTC`
      + `${ev.detached_from ? ` · detached from event ${ev.detached_from}` : ''}`);
  }
  el.del.hidden = !ev;
  setText(el.del, ev && ev.rrule ? 'Delete series' : 'Delete');
  el.del.setAttribute('aria-label', ev ? `Delete event ${ev.id}${ev.rrule ? ' (the whole series)' : ''}` : 'Delete');
  el.detach.hidden = !(ev && ev.rrule && occ);
  if (occ) el.detach.setAttribute('aria-label', `Detach the occurrence of ${occ.date}`);
  if (!el.dialog.open) el.dialog.showModal();
  el.title.focus();
  const scenes = await sceneNames();
  for (const name of HOOKS) loadHook(name, ev ? ev[name] : null, scenes);
}

function eventBody() {
  const group = el.group.value.trim();
  const body = {
    group_id: group === '' ? null : /^\d+$/.test(group) ? Number(group) : group,
    title: el.title.value.trim(),
    type: el.type.value.trim() || null,
    start: fromInput(el.start.value),
    end: fromInput(el.end.value),
    rrule: picker.touched ? buildRrule(pickerState(), startDay()) : picker.orig,
    // PUT replaces the event: keep what the dialog does not edit.
    exdates: cur.event && Array.isArray(cur.event.exdates) ? cur.event.exdates : [],
    content: null,
    on_start: hookValue('on_start'),
    on_end: hookValue('on_end'),
  };
  if (el.content.value.trim()) {
    try {
      body.content = JSON.parse(el.content.value);
    } catch (err) {
      el.content.closest('details').open = true;
      throw { field: 'content', el: el.content, message: `The content is not JSON: ${err.message}` };
    }
  }
  return body;
}

async function save() {
  clearError();
  let body;
  try {
    body = eventBody();
  } catch (e) {
    showError(e.field, e.message, e.el, false);
    return;
  }
  el.save.disabled = true;
  showAnswer('Saving…');
  const res = cur.id
    ? await api('PUT', `api/v1/events/${cur.id}`, body)
    : await api('POST', 'api/v1/events', body);
  el.save.disabled = false;
  if (!okStatus(res.status)) {
    const e = answerError(res);
    el.answer.hidden = true;
    showError(e.field || '', e.message || e.code);
    announce(`Not saved: ${e.message || e.code}`);
    return;
  }
  const saved = res.body || {};
  el.dialog.close();
  announce(`Saved event ${saved.id ?? ''} for ${groupName(saved.group_id === null ? 'hub' : String(saved.group_id))}`);
}

async function detach() {
  if (!cur.id || !cur.occ) return;
  el.detach.disabled = true;
  const res = await api('POST', `api/v1/events/${cur.id}/occurrences/${cur.occ.date}/detach`);
  el.detach.disabled = false;
  if (!okStatus(res.status)) {
    const e = answerError(res);
    showError(e.field || '', e.message || e.code, null);
    return;
  }
  const nev = res.body || {};
  announce(`Detached the occurrence of ${cur.occ.date} as event ${nev.id}`);
  // Go on with the standalone copy: the user detached it to change it.
  openEvent({ event: nev, occ: { ...cur.occ } });
  showAnswer(`Detached: this occurrence is now event ${nev.id}, on its own. Change it and save, or close.`);
}

async function remove() {
  if (!cur.id) return;
  const res = await api('DELETE', `api/v1/events/${cur.id}`);
  if (!okStatus(res.status)) {
    const e = answerError(res);
    showError(e.field || '', e.message || e.code, null);
    return;
  }
  announce(`Deleted event ${cur.id}`);
  el.dialog.close();
}

export function startDialog(opts) {
  groupName = opts.groupName;
  el.days.append(...WEEKDAYS.map((d, i) => {
    const label = make('label', 'chip');
    const box = make('input');
    box.type = 'checkbox';
    box.value = d;
    box.setAttribute('aria-label', DAY_NAMES[i]);
    box.addEventListener('change', () => {
      picker.touched = true;
      renderPicker();
    });
    label.append(box, `${d[0]}${d[1].toLowerCase()}`);
    return label;
  }));
  const touched = () => {
    picker.touched = true;
    renderPicker();
  };
  for (const e of [el.freq, el.interval, el.ends, el.until, el.count, el.raw]) {
    e.addEventListener('input', touched);
    e.addEventListener('change', touched);
  }
  el.start.addEventListener('change', () => {
    // Keep the length when the start moves.
    const prev = Number(el.start.dataset.prev);
    const s = parseTime(fromInput(el.start.value));
    const e = parseTime(fromInput(el.end.value));
    if (Number.isFinite(prev) && Number.isFinite(s) && Number.isFinite(e)) el.end.value = toInput(e + (s - prev));
    el.start.dataset.prev = String(s);
    renderPicker();
  });
  el.start.addEventListener('focus', () => {
    el.start.dataset.prev = String(parseTime(fromInput(el.start.value)));
  });
  for (const name of HOOKS) hook(name).kind.addEventListener('change', () => renderHook(name));
  el.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    save();
  });
  el.cancel.addEventListener('click', () => el.dialog.close());
  el.detach.addEventListener('click', detach);
  confirmButton(el.del, 'Confirm delete', 'Confirm delete', remove);
}
