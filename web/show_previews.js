// The show page's preview effects: pick fixtures, a length and (optional)
// parameters, then one button per effect sends fixture.preview_effect;
// the running previews (show.previews) are listed with the time they have
// left, and "Stop previews" ends them all.
import { $, desk, hubNow, fixtureNames, list, make, button, pct, send, show } from './show_state.js';
import { EFFECTS, allRoles, chosen, paramsBlock, renderChips } from './show_fields.js';

const el = {
  pvFixtures: $('pv-fixtures'),
  pvDur: $('pv-dur'),
  pvParams: $('pv-params'),
  pvButtons: $('pv-buttons'),
  pvStop: $('pv-stop'),
  pvList: $('pv-list'),
  pvEmpty: $('pv-empty'),
};

const pvParams = paramsBlock(el.pvParams, 'pv');
const pvSelected = new Set();
let pvTimer = 0;

for (const fx of EFFECTS) {
  const b = button(fx, 'pv-btn', `Preview ${fx}`, () => preview(fx));
  b.dataset.effect = fx;
  el.pvButtons.append(b);
}
pvParams.fill({});
pvParams.show(null);

function preview(effect) {
  const fixtures = chosen(el.pvFixtures);
  if (fixtures.length === 0) {
    desk.toast('Pick at least one fixture to preview on');
    return;
  }
  const dur_ms = Number(el.pvDur.value);
  send('fixture.preview_effect', { fixtures, effect, params: pvParams.read(effect), dur_ms },
    `Preview ${effect}`);
}

el.pvStop.addEventListener('click', () => send('fixture.preview_stop', {}, 'Stop previews'));

export function renderPreviews() {
  for (const box of el.pvFixtures.querySelectorAll('input')) {
    if (box.checked) pvSelected.add(box.value);
    else pvSelected.delete(box.value);
  }
  const names = new Set(fixtureNames());
  for (const n of pvSelected) if (!names.has(n)) pvSelected.delete(n);
  renderChips(el.pvFixtures, pvSelected, null);
  pvParams.setRoles(allRoles(), null);
  const now = hubNow();
  const active = show.previews.filter((p) => !(Number(p.until) > 0) || Number(p.until) > now);
  el.pvList.replaceChildren(...active.map((p) => {
    const li = make('li', 'pv-item');
    li.dataset.id = String(p.id);
    li.dataset.effect = String(p.effect);
    const left = Number(p.until) > 0 ? Math.max(0, Number(p.until) - now) : null;
    const bar = make('span', 'pv-progress');
    if (left !== null && Number(p.dur_ms) > 0) bar.style.width = pct(left, Number(p.dur_ms));
    li.append(make('span', 'pv-name', String(p.effect)),
      make('span', 'pv-fix', list(p.fixtures).join(', ')),
      make('span', 'pv-left muted', left === null ? '' : `${(left / 1000).toFixed(1)} s left`), bar);
    return li;
  }));
  for (const b of el.pvButtons.querySelectorAll('button')) b.disabled = !show.available;
  el.pvEmpty.hidden = active.length > 0;
  el.pvStop.disabled = show.previews.length === 0;
  clearTimeout(pvTimer);
  pvTimer = active.length > 0 ? setTimeout(renderPreviews, 200) : 0;
}
