// Form parts that the effect editor (show_editor.js) and the preview panel
// (show_previews.js) share: the effects and their parameters, fixture chips
// (one checkbox per fixture) and the effect parameter fields.
import { rolesOf } from './desk.js';
import { desk, fixtureNames, make } from './show_state.js';

export const EFFECTS = ['pulse', 'chase', 'rainbow', 'strobe', 'sine'];
// Which params each effect takes (the hub refuses the others).
const FX_PARAMS = {
  pulse: ['period_ms', 'role', 'min', 'max', 'spread'],
  chase: ['period_ms', 'role', 'min', 'max'],
  rainbow: ['period_ms', 'max', 'spread'],
  strobe: ['period_ms', 'role', 'min', 'max', 'duty'],
  sine: ['period_ms', 'role', 'min', 'max', 'spread'],
};
const PARAMS = [
  { key: 'period_ms', label: 'Period (ms)', min: 1, step: 1 },
  { key: 'role', label: 'Role' },
  { key: 'min', label: 'Min', min: 0, max: 255, step: 1 },
  { key: 'max', label: 'Max', min: 0, max: 255, step: 1 },
  { key: 'duty', label: 'Duty (0–1)', min: 0, max: 1, step: 0.05 },
  { key: 'spread', label: 'Spread (0–1)', min: 0, max: 1, step: 0.05 },
];

// Fixture chips: one checkbox per fixture (touch-sized labels).
export function renderChips(fieldset, selected, onChange) {
  const names = fixtureNames();
  const extra = [...selected].filter((n) => !names.includes(n)); // gone from the patch
  const all = [...names, ...extra];
  const key = all.join('\n');
  if (fieldset.dataset.key !== key) {
    fieldset.dataset.key = key;
    for (const old of fieldset.querySelectorAll('label')) old.remove();
    for (const name of all) {
      const label = make('label', 'chip');
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.value = name;
      box.addEventListener('change', () => onChange && onChange());
      label.append(box, make('span', '', name));
      if (!names.includes(name)) label.classList.add('gone');
      fieldset.append(label);
    }
  }
  for (const box of fieldset.querySelectorAll('input')) box.checked = selected.has(box.value);
}

export const chosen = (fieldset) => [...fieldset.querySelectorAll('input:checked')].map((b) => b.value);

// Effect parameter fields; read(effect) gives the filled ones that apply.
export function paramsBlock(container, prefix) {
  const fields = new Map();
  for (const p of PARAMS) {
    const wrap = make('div', 'fld');
    wrap.dataset.param = p.key;
    const label = make('label', '', p.label);
    let input;
    if (p.key === 'role') {
      input = document.createElement('select');
    } else {
      input = document.createElement('input');
      input.type = 'number';
      input.inputMode = p.step < 1 ? 'decimal' : 'numeric';
      for (const a of ['min', 'max', 'step']) if (p[a] !== undefined) input[a] = String(p[a]);
      input.placeholder = 'default';
    }
    input.id = `${prefix}-${p.key}`;
    label.htmlFor = input.id;
    wrap.append(label, input);
    container.append(wrap);
    fields.set(p.key, { wrap, input });
  }
  const block = {
    setRoles(roles, current) {
      const sel = fields.get('role').input;
      const keep = current === undefined || current === null ? sel.value : current;
      const want = ['', ...new Set([...roles, ...(keep ? [keep] : [])])];
      const key = want.join('\n');
      if (sel.dataset.key !== key) {
        sel.dataset.key = key;
        sel.replaceChildren(...want.map((r) => {
          const o = make('option', '', r === '' ? 'default' : r);
          o.value = r;
          return o;
        }));
        sel.value = want.includes(keep) ? keep : '';
      }
    },
    show(effect) {
      const ok = FX_PARAMS[effect] || PARAMS.map((p) => p.key);
      for (const [k, f] of fields) f.wrap.hidden = !ok.includes(k);
    },
    fill(params) {
      const p = params && typeof params === 'object' ? params : {};
      for (const [k, f] of fields) {
        if (k === 'role') block.setRoles(allRoles(), p.role || '');
        f.input.value = p[k] === undefined || p[k] === null ? '' : String(p[k]);
      }
    },
    read(effect) {
      const out = {};
      for (const k of FX_PARAMS[effect] || []) {
        const v = fields.get(k).input.value.trim();
        if (v === '') continue;
        out[k] = k === 'role' ? v : Number(v);
      }
      return out;
    },
  };
  return block;
}

// The roles of the named fixtures (all fixtures when not given).
export function allRoles(names) {
  const roles = new Set();
  if (!desk) return [];
  for (const n of names || Object.keys(desk.hub.fixtures)) {
    const f = desk.hub.fixtures[n];
    if (f) for (const r of rolesOf(f)) roles.add(r);
  }
  return [...roles];
}
