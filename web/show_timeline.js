// The show page's transport and timeline: Play/Pause/Stop, the loaded
// show's title and facts, the timeline (ruler, cue marks with their fades,
// effect bars in stacked lanes), jumping by click or keyboard, and the
// playhead and clock, extrapolated from show.transport on every animation
// frame while playing (kick() asks for one paint otherwise).
import {
  $, duration, fmtShort, fmtTime, list, make, pct, playing, plural, position, rateOf, send, show,
} from './show_state.js';

const el = {
  title: $('show-title'),
  facts: $('show-facts'),
  clock: $('clock'),
  duration: $('duration'),
  tstate: $('transport-state'),
  play: $('play'),
  pause: $('pause'),
  stop: $('stop'),
  timeline: $('timeline'),
  ruler: $('ruler'),
  cueLane: $('cue-lane'),
  fxLane: $('fx-lane'),
  playhead: $('playhead'),
  timelineEmpty: $('timeline-empty'),
};

// ---- transport ----------------------------------------------------------------------------

el.play.addEventListener('click', () => send('transport.play', {}, 'Play'));
el.pause.addEventListener('click', () => send('transport.pause', {}, 'Pause'));
el.stop.addEventListener('click', () => send('transport.stop', {}, 'Stop'));

function jumpTo(t) {
  const d = duration();
  if (!show.loaded) return;
  const t_ms = Math.max(0, Math.min(d, Math.round(t)));
  send('transport.jump_to_time', { t_ms }, `Jump to ${fmtTime(t_ms)}`);
}

el.timeline.addEventListener('click', (ev) => {
  if (!show.loaded) return;
  const r = el.timeline.getBoundingClientRect();
  const x = Math.max(0, Math.min(r.width, ev.clientX - r.left));
  jumpTo((x / r.width) * duration());
});

el.timeline.addEventListener('keydown', (ev) => {
  if (!show.loaded) return;
  const d = duration();
  const step = ev.shiftKey ? 100 : 1000;
  const now = position();
  const to = {
    ArrowRight: now + step, ArrowUp: now + step, ArrowLeft: now - step, ArrowDown: now - step,
    PageUp: now + 10000, PageDown: now - 10000, Home: 0, End: d,
  }[ev.key];
  if (to === undefined) return;
  ev.preventDefault();
  jumpTo(to);
});

export function renderTransport() {
  const tr = show.transport;
  const loaded = show.loaded;
  const state = ['playing', 'paused', 'stopped'].includes(tr.state) ? tr.state : 'stopped';
  el.title.textContent = loaded ? loaded.name : show.available ? 'No show loaded' : 'Shows unavailable';
  el.facts.textContent = loaded
    ? [plural(list(loaded.cues).length, 'cue', 'cues'), plural(list(loaded.effects).length, 'effect', 'effects'),
      loaded.audio ? `audio ${loaded.audio}` : 'no audio'].join(' · ')
    : '';
  el.duration.textContent = fmtTime(duration());
  el.tstate.textContent = rateOf(tr) !== 1 && state === 'playing' ? `playing ×${rateOf(tr)}` : state;
  el.tstate.dataset.state = state;
  el.play.disabled = !loaded || state === 'playing';
  el.pause.disabled = !loaded || state !== 'playing';
  el.stop.disabled = !loaded || state === 'stopped';
  el.play.setAttribute('aria-pressed', String(state === 'playing'));
  el.pause.setAttribute('aria-pressed', String(state === 'paused'));
  el.timeline.setAttribute('aria-valuemax', String(duration()));
  el.timeline.setAttribute('aria-disabled', String(!loaded));
  el.timeline.dataset.state = state;
}

// ---- timeline -------------------------------------------------------------------------------

let timelineKey = null;

// Ruler ticks at a round step that leaves about 70 px between labels.
function renderRuler() {
  const d = duration();
  el.ruler.replaceChildren();
  if (!show.loaded || d <= 0) return;
  const width = el.timeline.clientWidth || 300;
  const steps = [100, 250, 500, 1000, 2000, 5000, 10000, 15000, 30000, 60000, 120000, 300000, 600000, 1800000, 3600000];
  const step = steps.find((s) => (s / d) * width >= 70) || steps.at(-1);
  for (let t = 0; t <= d; t += step) {
    const tick = make('span', 'tick', t === 0 ? '0' : fmtShort(t));
    tick.style.left = pct(t, d);
    el.ruler.append(tick);
  }
}

export function renderTimeline() {
  const loaded = show.loaded;
  if (loaded === timelineKey) return;
  timelineKey = loaded;
  const d = duration();
  el.timeline.classList.toggle('empty', !loaded);
  el.timelineEmpty.hidden = !!loaded;
  el.cueLane.replaceChildren();
  el.fxLane.replaceChildren();
  renderRuler();
  if (!loaded) return;
  for (const c of list(loaded.cues)) {
    const t = Number(c.t_ms) || 0;
    const fade = Math.max(0, Number(c.fade_ms) || 0);
    const m = make('span', 'cue-mark');
    m.dataset.id = c.id;
    m.style.left = pct(t, d);
    m.title = `${c.id} at ${fmtTime(t)}${fade ? `, fade ${fmtShort(fade)} ${c.curve || ''}` : ''}`;
    if (fade > 0 && c.curve !== 'step') {
      // The fade as a bar from t_ms to t_ms + fade_ms, drawn by its curve.
      const bar = make('span', `fade-bar curve-${c.curve || 'linear'}`);
      bar.dataset.id = c.id;
      bar.style.left = pct(t, d);
      bar.style.width = pct(Math.min(fade, d - t), d);
      el.cueLane.append(bar);
    }
    m.append(make('span', 'cue-label', c.id));
    el.cueLane.append(m);
  }
  // Effects: greedy lanes so overlapping effects stack.
  const lanes = [];
  const fx = list(loaded.effects).map((e, i) => ({ e, i })).sort((a, b) => (a.e.t_ms - b.e.t_ms) || (a.i - b.i));
  for (const { e } of fx) {
    const t = Number(e.t_ms) || 0;
    const end = Math.min(d, t + (Number(e.dur_ms) || 0));
    let lane = lanes.findIndex((last) => last <= t);
    if (lane < 0) {
      lane = lanes.length;
      lanes.push(end);
    } else {
      lanes[lane] = end;
    }
    const bar = make('span', `fx-bar fx-${e.effect}`);
    bar.dataset.id = e.id;
    bar.dataset.lane = String(lane);
    bar.style.left = pct(t, d);
    bar.style.width = pct(end - t, d);
    bar.style.top = `${lane * 30 + 4}px`;
    bar.title = `${e.id}: ${e.effect} ${fmtTime(t)}–${fmtTime(end)}`;
    bar.append(make('span', 'fx-label', `${e.id} ${e.effect}`));
    el.fxLane.append(bar);
  }
  el.fxLane.style.height = `${Math.max(1, lanes.length) * 30 + 8}px`;
}

new ResizeObserver(() => renderRuler()).observe(el.timeline);

// The playhead, clock and whatever follows the position (the audio:
// followPosition) move on every animation frame while playing; otherwise
// once per change.
let raf = 0;
let shownClock = '';
let shownSecond = -1;
const followers = [];

export function followPosition(fn) {
  followers.push(fn);
}

function paintPosition() {
  raf = 0;
  const pos = position();
  const d = duration();
  el.playhead.style.left = pct(pos, d);
  el.playhead.hidden = !show.loaded;
  const text = fmtTime(pos);
  if (text !== shownClock) {
    shownClock = text;
    el.clock.textContent = text;
    el.clock.dateTime = `PT${(Math.floor(pos) / 1000).toFixed(3)}S`;
  }
  const second = Math.floor(pos / 1000);
  if (second !== shownSecond) {
    shownSecond = second;
    el.timeline.setAttribute('aria-valuenow', String(Math.floor(pos)));
    el.timeline.setAttribute('aria-valuetext', fmtTime(pos).replace(/\.\d+$/, ''));
  }
  for (const fn of followers) fn(pos);
  if (playing()) raf = requestAnimationFrame(paintPosition);
}

export function kick() {
  if (!raf) raf = requestAnimationFrame(paintPosition);
}
