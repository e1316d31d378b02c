// The show page's cue and effect editing: the two tables of the loaded
// show (Edit, and Delete with a second tap to confirm), the cue and effect
// dialogs, and the lock that turns all of it off while the show plays (or
// none is loaded). The page only sends intents (cue.add/update/delete,
// effect.add/update/delete); the hub checks them, and the patch that
// follows is what the tables show.
import {
  $, desk, errorText, fmtShort, fmtTime, list, lockReason, make, button, position, send, show,
} from './show_state.js';
import { EFFECTS, allRoles, chosen, paramsBlock, renderChips } from './show_fields.js';

const CURVES = ['step', 'linear', 'ease_in_out'];
const DELETE_CONFIRM_MS = 4000; // a Delete button waits this long for its second tap

const el = {
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
el.editor = el.cueAdd.closest('.editor');

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

// A table row headed by the item's id.
function itemRow(cls, id) {
  const tr = make('tr', cls);
  tr.dataset.id = id;
  const th = make('th', 'id', id);
  th.scope = 'row';
  th.dataset.label = 'Id';
  tr.append(th);
  return tr;
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

export function renderTables() {
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
      const tr = itemRow('cue-row', c.id);
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
      const tr = itemRow('fx-row', e.id);
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

// One editor (cue or effect) in a <dialog>: what it edits, and the intent
// it waits for.
function editorOf(kind, dialog, form, idInput, tInput, idPrefix) {
  return {
    kind, dialog, form, idInput, tInput, idPrefix, mode: 'add', id: null, req: null,
    heading: $(dialog.getAttribute('aria-labelledby')),
    lock: form.querySelector('[data-lock]'),
    error: form.querySelector('[data-error]'),
    save: form.querySelector('[data-save]'),
  };
}
const cueEd = editorOf('cue', el.cueDialog, el.cueForm, el.cueId, el.cueT, 'c');
const fxEd = editorOf('effect', el.fxDialog, el.fxForm, el.fxId, el.fxT, 'e');
const fxParams = paramsBlock(el.fxParams, 'fx');

// Results of an old connection will never come: no editor waits for one.
export function dropPendingSaves() {
  cueEd.req = null;
  fxEd.req = null;
}

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

// Opens ed's dialog on item (null: a new one at the playhead); fill(item
// or {}) sets the fields only that kind has.
function openEditor(ed, item, fill) {
  if (lockReason()) return;
  ed.mode = item ? 'edit' : 'add';
  ed.id = item ? item.id : null;
  ed.req = null;
  ed.heading.textContent = item ? `Edit ${ed.kind} ${item.id}` : `New ${ed.kind}`;
  ed.idInput.value = item ? item.id : nextId(ed.idPrefix);
  ed.idInput.readOnly = !!item;
  ed.tInput.value = String(item ? Number(item.t_ms) || 0 : Math.round(position()));
  fill(item || {});
  setFormError(ed, '');
  updateHints();
  renderEditorLock(ed, lockReason());
  ed.dialog.showModal();
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
  openEditor(cueEd, cue, (c) => {
    renderChips(el.cueFixtures, new Set(list(c.fixtures)), renderCueValues);
    cueDraftValues = {};
    for (const [r, v] of Object.entries(c.values && typeof c.values === 'object' ? c.values : {})) cueDraftValues[r] = String(v);
    el.cueValues.querySelectorAll('.val, .hint').forEach((n) => n.remove());
    renderCueValues();
    renderCuePois(c.poi);
    el.cueFade.value = String(Number(c.fade_ms) || 0);
    el.cueCurve.value = CURVES.includes(c.curve) ? c.curve : 'linear';
  });
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
  openEditor(fxEd, effect, (e) => {
    el.fxDur.value = String(effect ? Number(e.dur_ms) || 0 : 4000);
    renderChips(el.fxFixtures, new Set(list(e.fixtures)), renderFxRoles);
    el.fxEffect.value = EFFECTS.includes(e.effect) ? e.effect : 'pulse';
    fxParams.fill(e.params);
    renderFxRoles();
    fxParams.show(el.fxEffect.value);
  });
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
  const blank = [['id', item.id === ''], ['t_ms', !Number.isFinite(item.t_ms) || ed.tInput.value === ''],
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
