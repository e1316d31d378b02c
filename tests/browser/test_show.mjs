// Browser test of the show console (web/show.html) against the real hub
// binary, with a patch file and a shows folder (a valid show with audio and
// an invalid one) written into the temp data dir before the hub starts.
// Two pages (laptop + phone) load the show, play, pause, edit cues and
// effects, jump, play again (edits refused: the editor says why, and a
// forced submit shows the hub's conflict message), preview effects, use
// the fixtures and blackout, stop and unload; every change made in one page
// is checked in the other and in GET /api/v1/state. Screenshots of every
// step, at both sizes, go to $HUB_ARTIFACTS (default tests/browser/artifacts/).
//   SHOWHUB_BIN=build/showhub node tests/browser/test_show.mjs
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ARTIFACTS, BIN, ULID_RE, check, finalStop, freePort, getJson, hubLogTail, hubStarter, loadChromium, log,
  openPages, run, sentCount, sentSince, sleep, step, stopHub, waitFor, waitHealthy,
} from './harness.mjs';

const TOTAL_BUDGET_MS = 150000;
const startHub = hubStarter('show-hub'); // logs ARTIFACTS/show-hub-1.log, ...

// demo is required on universe 1, 1-3; par1 at 10-13, par2 at 14-17.
const PATCH = {
  universes: [1],
  fixtures: [
    { name: 'demo', universe: 1, address: 1, channels: ['red', 'green', 'blue'] },
    { name: 'par1', universe: 1, address: 10, channels: ['red', 'green', 'blue', 'dimmer'] },
    { name: 'par2', universe: 1, address: 14, channels: ['red', 'green', 'blue', 'dimmer'] },
  ],
  pois: [],
};
const SLOT = { par1: { red: 9, green: 10, blue: 11, dimmer: 12 }, par2: { red: 13, green: 14, blue: 15, dimmer: 16 } };

// Long enough that it cannot reach its end (and pause there) while the test plays it.
const DURATION = 30000;
const SHOW = {
  name: 'demo',
  duration_ms: DURATION,
  audio: 'demo.wav',
  cues: [
    { id: 'c1', t_ms: 0, fixtures: ['par1'], values: { red: 255, dimmer: 255 }, fade_ms: 2000, curve: 'linear' },
    { id: 'c2', t_ms: 10000, fixtures: ['par1', 'par2'], values: { blue: 200 }, fade_ms: 1000, curve: 'ease_in_out' },
    { id: 'c3', t_ms: 20000, fixtures: ['par1'], values: { red: 0 }, fade_ms: 0, curve: 'step' },
  ],
  effects: [
    { id: 'e1', t_ms: 15000, dur_ms: 7500, fixtures: ['par2'], effect: 'pulse', params: { period_ms: 500, role: 'dimmer', min: 0, max: 255 } },
  ],
};
// Refers to a fixture the patch does not have: listed with an error.
const BROKEN = {
  name: 'broken', duration_ms: 5000, audio: null,
  cues: [{ id: 'x1', t_ms: 0, fixtures: ['ghost'], values: { red: 1 } }], effects: [],
};

// A quiet 440 Hz tone: 8 kHz, 16-bit mono PCM WAV.
function wav(seconds) {
  const rate = 8000;
  const n = rate * seconds;
  const b = Buffer.alloc(44 + n * 2);
  b.write('RIFF', 0);
  b.writeUInt32LE(36 + n * 2, 4);
  b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36);
  b.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 440 * i) / rate) * 2000), 44 + i * 2);
  return b;
}

// ---- page helpers ----------------------------------------------------------------------

// Every frame the page sends; window.__rewrite may change one on its way.
const RECORD_SENDS = () => {
  const orig = WebSocket.prototype.send;
  window.__sent = [];
  window.__rewrite = null;
  WebSocket.prototype.send = function (data) {
    let out = String(data);
    if (window.__rewrite) {
      const r = window.__rewrite(out);
      if (typeof r === 'string') out = r;
    }
    window.__sent.push({ t: performance.now(), data: out });
    return orig.call(this, out);
  };
};

const parseClock = (s) => {
  const m = /^(?:(\d+):)?(\d\d):(\d\d)\.(\d{3})$/.exec(s.trim());
  return m ? ((Number(m[1] || 0) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number(m[4]) : NaN;
};

// What a user sees on the show page.
function readUi(page) {
  return page.evaluate(() => {
    const $ = (id) => document.getElementById(id);
    const vis = (e) => !!e && !e.closest('[hidden]') && e.getClientRects().length > 0;
    const rows = (tbody) => Object.fromEntries([...tbody.querySelectorAll('tr')].map((tr) => [tr.dataset.id,
      Object.fromEntries([...tr.querySelectorAll('td[data-label]')].map((td) => [td.dataset.label, td.textContent]))]));
    const a = $('audio');
    const fixtures = {};
    for (const card of document.querySelectorAll('.fixture')) {
      const values = {};
      for (const row of card.querySelectorAll('.fader')) {
        const num = row.querySelector('input[type=number]');
        values[row.dataset.role] = row.classList.contains('released') ? null : num.value === '' ? 'empty' : Number(num.value);
      }
      fixtures[card.dataset.fixture] = { armed: card.querySelector('.arm').checked, values };
    }
    return {
      status: $('status').dataset.state,
      seq: Number($('seq').textContent) || 0,
      title: $('show-title').textContent,
      clock: $('clock').textContent,
      duration: $('duration').textContent,
      tstate: $('transport-state').dataset.state,
      playhead: vis($('playhead')) ? parseFloat($('playhead').style.left) : null,
      play: !$('play').disabled, pause: !$('pause').disabled, stop: !$('stop').disabled,
      marks: [...document.querySelectorAll('#cue-lane .cue-mark')].map((m) => ({ id: m.dataset.id, left: parseFloat(m.style.left) })),
      fades: [...document.querySelectorAll('#cue-lane .fade-bar')].map((m) => ({ id: m.dataset.id, left: parseFloat(m.style.left), width: parseFloat(m.style.width) })),
      bars: [...document.querySelectorAll('#fx-lane .fx-bar')].map((m) => ({ id: m.dataset.id, left: parseFloat(m.style.left), width: parseFloat(m.style.width) })),
      cues: rows($('cue-rows')),
      effects: rows($('fx-rows')),
      lock: vis($('edit-lock')) ? $('edit-lock').textContent : '',
      addCue: !$('cue-add').disabled,
      editButtons: [...document.querySelectorAll('#cue-rows button, #fx-rows button')].map((b) => !b.disabled),
      shows: [...document.querySelectorAll('#show-list li')].map((li) => ({
        name: li.dataset.show, invalid: li.classList.contains('invalid'), loaded: li.classList.contains('loaded'),
        error: (li.querySelector('.show-error') || {}).textContent || '',
        facts: (li.querySelector('.show-facts') || {}).textContent || '',
        load: li.querySelector('button') ? !li.querySelector('button').disabled : null,
      })),
      unload: !$('unload').disabled,
      previews: [...document.querySelectorAll('#pv-list li')].map((li) => ({ effect: li.dataset.effect, text: li.textContent })),
      audio: {
        row: vis($('audio-row')), src: a.currentSrc || a.getAttribute('src') || '', paused: a.paused,
        t: a.currentTime, enable: vis($('audio-enable')), status: $('audio-status').textContent,
      },
      fixtures,
      blackout: $('blackout').getAttribute('aria-pressed') === 'true',
      banner: !$('blackout-banner').hidden,
      noshow: !$('noshow-banner').hidden,
      toast: $('toast').classList.contains('show') ? $('toast').textContent : '',
    };
  });
}

// The live slot view of universe u: value of each slot as its title says.
function readSlots(page, u) {
  return page.evaluate((u) => {
    const fig = document.querySelector(`.universe[data-universe="${u}"]`);
    if (!fig) return null;
    return [...fig.querySelectorAll('.slots span')].map((c, i) => {
      const m = /^(\d+):(\d+)/.exec(c.title);
      return m && Number(m[1]) === i + 1 ? Number(m[2]) : -1;
    });
  }, u);
}

const getState = (base) => getJson(base, '/api/v1/state');
const showState = async (base) => {
  const st = await getState(base);
  check(st.state.show, `GET /api/v1/state has no show room: ${JSON.stringify(Object.keys(st.state))}`);
  // A null entity is left out of the snapshot: no show.loaded = none loaded.
  return { seq: st.seq, ...st.state.show, loaded: st.state.show.loaded ?? null, dmx: st.state.dmx };
};

// The position the hub's transport gives for now (the page's formula, on
// the test's clock: same machine).
function hubPosition(tr, duration) {
  const t = tr.state === 'playing' ? tr.t_ms + (Date.now() - tr.at) * tr.rate : tr.t_ms;
  return Math.max(0, Math.min(duration, t));
}

// Both pages show the hub's seq, loaded show, transport state and cue table.
async function agreeWithHub(base, pages, what, timeoutMs = 4000) {
  return waitFor(`${what}: pages agree with GET /api/v1/state`, async () => {
    const st = await showState(base);
    for (const [i, page] of pages.entries()) {
      const ui = await readUi(page);
      const differ = (m) => {
        throw new Error(`page ${'AB'[i]}: ${m}`);
      };
      if (ui.seq !== st.seq) differ(`seq ${ui.seq}, hub ${st.seq}`);
      if (ui.tstate !== st.transport.state) differ(`transport ${ui.tstate}, hub ${st.transport.state}`);
      const title = st.loaded ? st.loaded.name : 'No show loaded';
      if (ui.title !== title) differ(`title "${ui.title}", hub ${title}`);
      const ids = st.loaded ? st.loaded.cues.map((c) => c.id).sort() : [];
      if (JSON.stringify(Object.keys(ui.cues).sort()) !== JSON.stringify(ids)) differ(`cue rows ${Object.keys(ui.cues)}, hub ${ids}`);
      for (const c of st.loaded ? st.loaded.cues : []) {
        if (ui.cues[c.id].Fade !== `${c.fade_ms} ms`) differ(`cue ${c.id} fade "${ui.cues[c.id].Fade}", hub ${c.fade_ms}`);
      }
      const fx = st.loaded ? st.loaded.effects.map((e) => e.id).sort() : [];
      if (JSON.stringify(Object.keys(ui.effects).sort()) !== JSON.stringify(fx)) differ(`effect rows ${Object.keys(ui.effects)}, hub ${fx}`);
      if (st.transport.state !== 'playing') {
        const want = Math.floor(st.transport.t_ms);
        if (parseClock(ui.clock) !== want) differ(`clock ${ui.clock}, hub t_ms ${st.transport.t_ms}`);
      }
    }
    return st;
  }, timeoutMs);
}

async function shoot(pages, name) {
  const [a, b] = pages;
  await a.screenshot({ path: path.join(ARTIFACTS, `show-laptop-${name}.png`), fullPage: true });
  await b.screenshot({ path: path.join(ARTIFACTS, `show-phone-${name}.png`) });
}

const intentsOf = (frames) => frames.filter((f) => f.msg.type === 'intent').map((f) => f.msg);

// A step that fails with an editor open must not leave a modal dialog
// over the page for the steps after it.
const closeDialogs = (pages) => Promise.all(pages.map((p) => p.evaluate(() => {
  for (const d of document.querySelectorAll('dialog[open]')) d.close();
})));

// ---- the test -------------------------------------------------------------------------

async function main() {
  const chromium = await loadChromium();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'showhub-show-'));
  fs.writeFileSync(path.join(dataDir, 'fixtures.json'), JSON.stringify(PATCH, null, 2));
  const showsDir = path.join(dataDir, 'shows'); // the default DMX_SHOWS_DIR
  fs.mkdirSync(showsDir);
  fs.writeFileSync(path.join(showsDir, 'demo.cue.json'), JSON.stringify(SHOW, null, 2));
  fs.writeFileSync(path.join(showsDir, 'broken.cue.json'), JSON.stringify(BROKEN, null, 2));
  fs.writeFileSync(path.join(showsDir, 'demo.wav'), wav(DURATION / 1000));
  log(`hub ${BIN} on ${base}, data ${dataDir}, artifacts ${ARTIFACTS}`);

  let hub = startHub(port, dataDir, {});
  await waitHealthy(hub, base);

  const { pageA, pageB, pageErrors } = await openPages(chromium, RECORD_SENDS);
  const pages = [pageA, pageB];
  for (const [name, page] of [['A', pageA], ['B', pageB]]) {
    page.on('console', (m) => {
      const text = m.text();
      if (m.type() !== 'error' || /^WebSocket connection to .* failed|^Failed to load resource/.test(text)) return;
      pageErrors.push(`page ${name} console: ${text}`);
    });
  }

  const ok = await step('the console links to the show page; both pages go live with the show list', async () => {
    await pageA.goto(`${base}/console.html`);
    await pageA.getByRole('link', { name: 'Show' }).click();
    await pageA.waitForURL(`${base}/show.html`);
    await pageB.goto(`${base}/show.html`);
    for (const page of pages) {
      await waitFor('status live', async () => (await readUi(page)).status === 'live', 10000);
    }
    const st = await showState(base);
    check(st.loaded === null, `a fresh hub has a show loaded: ${JSON.stringify(st.loaded)}`);
    const entry = st.list.find((s) => s.name === 'demo');
    check(entry && !entry.error, `show.list has no valid demo: ${JSON.stringify(st.list)}`);
    const bad = st.list.find((s) => s.name === 'broken');
    check(bad && typeof bad.error === 'string', `show.list does not flag broken: ${JSON.stringify(st.list)}`);
    for (const page of pages) {
      const ui = await waitFor('show list shown', async () => {
        const u = await readUi(page);
        return u.shows.length === st.list.length && u;
      });
      check(!ui.noshow, 'the page says the hub serves no shows');
      const demo = ui.shows.find((s) => s.name === 'demo');
      check(demo && !demo.invalid && demo.load === true, `demo entry ${JSON.stringify(demo)}`);
      check(/30 s/.test(demo.facts) && /3 cues/.test(demo.facts) && /1 effect/.test(demo.facts), `demo facts "${demo.facts}"`);
      const broken = ui.shows.find((s) => s.name === 'broken');
      check(broken && broken.invalid && broken.load === null, `broken entry ${JSON.stringify(broken)}`);
      check(broken.error === bad.error, `broken shows "${broken.error}", hub says "${bad.error}"`);
      check(ui.title === 'No show loaded' && !ui.play && !ui.pause && !ui.stop && !ui.unload, `nothing loaded: ${JSON.stringify(ui)}`);
      check(ui.lock === 'Load a show to edit its cues.' && !ui.addCue, `editor lock "${ui.lock}", add ${ui.addCue}`);
      check(!ui.audio.row, 'audio row shown without a show');
    }
    await agreeWithHub(base, pages, 'initial');
    await shoot(pages, '1-list');
  });
  if (!ok) return;

  await step('Load in A: both pages show the show, its timeline, cue table and audio', async () => {
    await pageA.getByRole('button', { name: 'Load show demo' }).click();
    const st = await waitFor('hub loaded demo', async () => {
      const s = await showState(base);
      return s.loaded && s.loaded.name === 'demo' && s;
    });
    await agreeWithHub(base, pages, 'after load');
    for (const [i, page] of pages.entries()) {
      const ui = await readUi(page);
      const who = `page ${'AB'[i]}`;
      check(ui.duration === '00:30.000', `${who} duration ${ui.duration}`);
      check(ui.clock === '00:00.000' && ui.tstate === 'stopped', `${who} clock ${ui.clock} ${ui.tstate}`);
      check(ui.play && !ui.pause && !ui.stop, `${who} buttons play ${ui.play} pause ${ui.pause} stop ${ui.stop}`);
      check(ui.lock === '' && ui.addCue && ui.editButtons.every(Boolean), `${who} editor locked: "${ui.lock}"`);
      const marks = Object.fromEntries(ui.marks.map((m) => [m.id, m.left]));
      for (const c of st.loaded.cues) {
        const want = (c.t_ms / DURATION) * 100;
        check(Math.abs(marks[c.id] - want) < 0.01, `${who} cue ${c.id} marker at ${marks[c.id]}%, want ${want}%`);
      }
      const c1 = ui.fades.find((f) => f.id === 'c1');
      check(c1 && Math.abs(c1.width - (2000 / DURATION) * 100) < 0.01, `${who} c1 fade bar ${JSON.stringify(c1)}`);
      check(!ui.fades.some((f) => f.id === 'c3'), `${who} a step cue with fade 0 has a fade bar`);
      const e1 = ui.bars.find((b) => b.id === 'e1');
      check(e1 && Math.abs(e1.left - 50) < 0.01 && Math.abs(e1.width - 25) < 0.01, `${who} e1 bar ${JSON.stringify(e1)}`);
      check(ui.cues.c2.Values === 'blue 200' && ui.cues.c2.Curve === 'ease in out', `${who} c2 row ${JSON.stringify(ui.cues.c2)}`);
      check(ui.audio.row && ui.audio.src.endsWith('/api/v1/shows/demo/audio'), `${who} audio ${JSON.stringify(ui.audio)}`);
      check(ui.shows.find((s) => s.name === 'demo').loaded, `${who} list does not mark demo loaded`);
    }
    const res = await fetch(`${base}/api/v1/shows/demo/audio`, { headers: { range: 'bytes=0-99' } });
    check(res.status === 206 && (await res.arrayBuffer()).byteLength === 100, `audio Range answered ${res.status}`);
    await shoot(pages, '2-loaded');
  });

  let playAt = 0;
  await step('Play in B: both play, the playhead moves ~1 s per second, the universe view fades par1 red up', async () => {
    const mark = await sentCount(pageB);
    const slot = SLOT.par1.red;
    const before = await readSlots(pageA, 1);
    check(before && before[slot] === 0, `par1 red shows ${before && before[slot]} before play`);
    await pageB.getByRole('button', { name: 'Play', exact: true }).click();
    for (const page of pages) await waitFor('playing', async () => (await readUi(page)).tstate === 'playing');
    playAt = Date.now();
    const sent = intentsOf(await sentSince(pageB, mark));
    check(sent.length === 1 && sent[0].name === 'transport.play' && JSON.stringify(sent[0].payload) === '{}' && ULID_RE.test(sent[0].req_id),
      `B sent ${JSON.stringify(sent)}`);
    const st = await showState(base);
    check(st.transport.state === 'playing' && typeof st.transport.at === 'number', `hub transport ${JSON.stringify(st.transport)}`);
    const t0 = await Promise.all(pages.map(readUi));
    const s0 = (await readSlots(pageA, 1))[slot];
    await sleep(1000);
    const t1 = await Promise.all(pages.map(readUi));
    const s1 = (await readSlots(pageA, 1))[slot];
    for (const i of [0, 1]) {
      const d = parseClock(t1[i].clock) - parseClock(t0[i].clock);
      check(d > 800 && d < 1400, `page ${'AB'[i]}: clock moved ${d} ms in ~1 s (${t0[i].clock} -> ${t1[i].clock})`);
      check(t1[i].playhead > t0[i].playhead, `page ${'AB'[i]}: playhead ${t0[i].playhead}% -> ${t1[i].playhead}%`);
    }
    // The page's position is the hub's transport extrapolated (not a guess).
    const ui = await readUi(pageA);
    const want = hubPosition(st.transport, DURATION);
    check(Math.abs(parseClock(ui.clock) - want) < 200, `A clock ${ui.clock}, the hub's transport gives ${Math.round(want)} ms`);
    check(s1 > s0, `the universe view of par1 red did not rise: ${s0} -> ${s1}`);
    check(s1 > 0 && s1 < 255, `par1 red ${s1} after ~1 s of a 2 s fade`);
    for (const page of pages) {
      const u = await readUi(page);
      check(u.lock === 'Pause or stop playback to edit cues.', `editor lock while playing: "${u.lock}"`);
      check(!u.addCue && u.editButtons.every((b) => !b), 'edit buttons enabled while playing');
      check(u.shows.find((s) => s.name === 'demo').load === false && !u.unload, 'Load/Unload enabled while playing');
    }
    log(`     clock ${t0[0].clock} -> ${t1[0].clock}; par1 red ${s0} -> ${s1}`);
    await waitFor('par1 red at 255 after the fade', async () => (await readSlots(pageB, 1))[slot] === 255, 3000);
    await shoot(pages, '3-playing');
  });

  await step('audio follows the transport (played in sync, or "Enable audio" and then in sync)', async () => {
    let ui = await readUi(pageA);
    if (ui.audio.enable) {
      log(`     autoplay blocked: "${ui.audio.status}"; tapping Enable audio`);
      await pageA.getByRole('button', { name: 'Enable audio' }).click();
    }
    ui = await waitFor('A audio playing near the playhead', async () => {
      const u = await readUi(pageA);
      const pos = parseClock(u.clock) / 1000;
      return !u.audio.paused && Math.abs(u.audio.t - pos) < 0.3 && u;
    }, 5000);
    check(!ui.audio.enable, 'Enable audio still shown while the audio plays');
    await sleep(700);
    ui = await readUi(pageA);
    const pos = parseClock(ui.clock) / 1000;
    check(!ui.audio.paused && Math.abs(ui.audio.t - pos) < 0.3, `audio at ${ui.audio.t} s, playhead ${pos} s`);
    log(`     audio ${ui.audio.t.toFixed(3)} s vs playhead ${pos.toFixed(3)} s`);
  });

  await step('Pause in A: both pages hold the hub\'s t_ms, the audio pauses, the editor opens', async () => {
    await pageA.getByRole('button', { name: 'Pause', exact: true }).click();
    const st = await waitFor('hub paused', async () => {
      const s = await showState(base);
      return s.transport.state === 'paused' && s;
    });
    await agreeWithHub(base, pages, 'paused');
    const c0 = (await readUi(pageB)).clock;
    await sleep(500);
    const u = await readUi(pageB);
    check(u.clock === c0 && parseClock(u.clock) === Math.floor(st.transport.t_ms), `paused clock moved: ${c0} -> ${u.clock}, hub ${st.transport.t_ms}`);
    check(st.transport.t_ms > 2000, `paused at ${st.transport.t_ms} ms`);
    for (const page of pages) {
      const ui = await readUi(page);
      check(ui.lock === '' && ui.addCue && ui.editButtons.every(Boolean), `editor still locked when paused: "${ui.lock}"`);
      check(ui.play && !ui.pause && ui.stop, `paused buttons ${ui.play} ${ui.pause} ${ui.stop}`);
    }
    const a = await waitFor('A audio paused at the playhead', async () => {
      const x = (await readUi(pageA)).audio;
      return x.paused && Math.abs(x.t - st.transport.t_ms / 1000) < 0.1 && x;
    });
    log(`     paused at ${st.transport.t_ms} ms, audio ${a.t.toFixed(3)} s`);
    await shoot(pages, '4-paused');
  });

  await step('edit cue c1\'s fade in A: B, the hub and B\'s timeline show 3000 ms', async () => {
    try {
      const mark = await sentCount(pageA);
      await pageA.getByRole('button', { name: 'Edit cue c1' }).click();
      const dialog = pageA.locator('#cue-dialog');
      check(await dialog.isVisible(), 'no cue dialog');
      check(await pageA.inputValue('#cue-fade') === '2000' && await pageA.inputValue('#cue-t') === '0', 'dialog not filled from c1');
      check(await pageA.inputValue('#cue-val-red') === '255' && await pageA.inputValue('#cue-val-dimmer') === '255', 'c1 values not in the dialog');
      await pageA.fill('#cue-fade', '3000');
      await pageA.screenshot({ path: path.join(ARTIFACTS, 'show-laptop-5-cue-dialog.png') });
      await pageA.getByRole('button', { name: 'Save cue' }).click();
      await waitFor('dialog closed', async () => !(await dialog.isVisible()));
      const sent = intentsOf(await sentSince(pageA, mark));
      check(sent.length === 1 && sent[0].name === 'cue.update' && sent[0].payload.id === 'c1', `A sent ${JSON.stringify(sent)}`);
      const cue = sent[0].payload.cue;
      check(cue.id === 'c1' && cue.t_ms === 0 && cue.fade_ms === 3000 && cue.curve === 'linear'
        && JSON.stringify(cue.fixtures) === '["par1"]' && JSON.stringify(cue.values) === '{"red":255,"dimmer":255}' && !('poi' in cue),
      `cue.update payload ${JSON.stringify(cue)}`);
      await waitFor('B shows c1 fade 3000', async () => (await readUi(pageB)).cues.c1.Fade === '3000 ms');
      const st = await agreeWithHub(base, pages, 'after cue edit');
      check(st.loaded.cues.find((c) => c.id === 'c1').fade_ms === 3000, 'hub has c1 fade unchanged');
      const fade = (await readUi(pageB)).fades.find((f) => f.id === 'c1');
      check(fade && Math.abs(fade.width - (3000 / DURATION) * 100) < 0.01, `B's c1 fade bar ${JSON.stringify(fade)}`);
      await shoot(pages, '5-edited');
    } finally {
      await closeDialogs(pages);
    }
  });

  await step('add cue c4 in B (phone), add effect e2 (chase) in A; both pages and the hub show them; delete both', async () => {
    try {
      // B: a new cue at the playhead, par2 green 128.
      const markB = await sentCount(pageB);
      await pageB.getByRole('button', { name: 'Add cue' }).click();
      check(await pageB.inputValue('#cue-id') === 'c4', `suggested id ${await pageB.inputValue('#cue-id')}`);
      await pageB.locator('#cue-fixtures label', { hasText: 'par2' }).click();
      await pageB.fill('#cue-val-green', '128');
      await pageB.fill('#cue-fade', '500');
      await pageB.selectOption('#cue-curve', 'step');
      await pageB.screenshot({ path: path.join(ARTIFACTS, 'show-phone-6-add-cue.png') });
      await pageB.getByRole('button', { name: 'Save cue' }).click();
      await waitFor('A shows c4', async () => (await readUi(pageA)).cues.c4);
      const st0 = await showState(base);
      const c4 = st0.loaded.cues.find((c) => c.id === 'c4');
      const paused = st0.transport.t_ms;
      check(c4 && c4.t_ms === paused && c4.values.green === 128 && c4.curve === 'step' && c4.fade_ms === 500,
        `hub c4 ${JSON.stringify(c4)} (playhead ${paused})`);
      const sentB = intentsOf(await sentSince(pageB, markB));
      check(sentB.length === 1 && sentB[0].name === 'cue.add', `B sent ${JSON.stringify(sentB)}`);
      // A: an effect; chase takes period_ms, role, min, max only.
      const markA = await sentCount(pageA);
      await pageA.getByRole('button', { name: 'Add effect' }).click();
      await pageA.fill('#fx-t', '1000');
      await pageA.fill('#fx-dur', '2000');
      await pageA.locator('#fx-fixtures label', { hasText: 'par1' }).click();
      await pageA.locator('#fx-fixtures label', { hasText: 'par2' }).click();
      await pageA.selectOption('#fx-effect', 'chase');
      check(await pageA.isHidden('#fx-params [data-param="spread"]') && await pageA.isHidden('#fx-params [data-param="duty"]'),
        'chase shows spread/duty fields');
      await pageA.fill('#fx-period_ms', '250');
      await pageA.selectOption('#fx-role', 'dimmer');
      await pageA.getByRole('button', { name: 'Save effect' }).click();
      await waitFor('B shows e2', async () => (await readUi(pageB)).effects.e2);
      const sentA = intentsOf(await sentSince(pageA, markA));
      check(sentA.length === 1 && sentA[0].name === 'effect.add'
        && JSON.stringify(sentA[0].payload.effect) === JSON.stringify({ id: 'e2', t_ms: 1000, dur_ms: 2000, fixtures: ['par1', 'par2'], effect: 'chase', params: { period_ms: 250, role: 'dimmer' } }),
      `A sent ${JSON.stringify(sentA)}`);
      const st1 = await agreeWithHub(base, pages, 'after adds');
      const e2 = st1.loaded.effects.find((e) => e.id === 'e2');
      check(e2 && e2.effect === 'chase' && e2.params.period_ms === 250, `hub e2 ${JSON.stringify(e2)}`);
      const bar = (await readUi(pageB)).bars.find((b) => b.id === 'e2');
      check(bar && Math.abs(bar.left - (1000 / DURATION) * 100) < 0.01, `B's e2 bar ${JSON.stringify(bar)}`);
      await shoot(pages, '6-added');
      // Delete: two taps (the first asks for confirmation).
      await pageA.getByRole('button', { name: 'Delete cue c4' }).click();
      await sleep(200);
      check((await showState(base)).loaded.cues.some((c) => c.id === 'c4'), 'one tap on Delete deleted c4');
      await pageA.getByRole('button', { name: 'Confirm delete cue c4' }).click();
      await pageB.getByRole('button', { name: 'Delete effect e2' }).click();
      await pageB.getByRole('button', { name: 'Confirm delete effect e2' }).click();
      await waitFor('c4 and e2 gone in both pages', async () => {
        const [a, b] = await Promise.all(pages.map(readUi));
        return !a.cues.c4 && !b.cues.c4 && !a.effects.e2 && !b.effects.e2;
      });
      const st2 = await agreeWithHub(base, pages, 'after deletes');
      check(!st2.loaded.cues.some((c) => c.id === 'c4') && !st2.loaded.effects.some((e) => e.id === 'e2'), 'hub still has c4 or e2');
    } finally {
      await closeDialogs(pages);
    }
  });

  await step('a refused edit (invalid) shows the hub\'s message in the dialog and keeps it open', async () => {
    try {
      await pageB.getByRole('button', { name: 'Edit effect e1' }).click();
      await pageB.fill('#fx-period_ms', '0'); // periods start at 1 ms
      const before = (await showState(base)).seq;
      await pageB.getByRole('button', { name: 'Save effect' }).click();
      const err = await waitFor('form error', async () => {
        const t = await pageB.textContent('#fx-dialog [data-error]');
        return (await pageB.isVisible('#fx-dialog [data-error]')) && t;
      });
      check(/refused/i.test(err) && err.length > 20, `form error "${err}"`);
      check(await pageB.isVisible('#fx-dialog'), 'dialog closed on a refusal');
      check((await showState(base)).seq === before, 'a refused edit moved seq');
      log(`     "${err}"`);
      await pageB.getByRole('button', { name: 'Cancel' }).click();
    } finally {
      await closeDialogs(pages);
    }
  });

  const HALF = DURATION / 2;
  await step('click on the timeline in A jumps both pages (and the hub) to that time', async () => {
    const mark = await sentCount(pageA);
    const timeline = pageA.locator('#timeline');
    const clickHalf = async () => {
      const box = await timeline.boundingBox();
      await timeline.click({ position: { x: box.width * 0.5, y: 12 } });
    };
    await clickHalf();
    const st = await waitFor('hub at half the show', async () => {
      const s = await showState(base);
      return Math.abs(s.transport.t_ms - HALF) < 100 && s;
    });
    const sent = intentsOf(await sentSince(pageA, mark));
    check(sent.length === 1 && sent[0].name === 'transport.jump_to_time' && Number.isInteger(sent[0].payload.t_ms)
      && sent[0].payload.t_ms === st.transport.t_ms, `A sent ${JSON.stringify(sent)}, hub t_ms ${st.transport.t_ms}`);
    check(st.transport.state === 'paused', `after a jump while paused: ${st.transport.state}`);
    await agreeWithHub(base, pages, 'after jump');
    const ui = await readUi(pageB);
    check(Math.abs(ui.playhead - 50) < 1, `B's playhead at ${ui.playhead}%`);
    // Keyboard: End jumps to the end, Home to the start.
    await pageB.focus('#timeline');
    await pageB.keyboard.press('End');
    await waitFor('hub at the end', async () => (await showState(base)).transport.t_ms === DURATION);
    await pageB.keyboard.press('Home');
    await waitFor('hub at 0', async () => (await showState(base)).transport.t_ms === 0);
    await clickHalf();
    await waitFor('hub at half the show again', async () => Math.abs((await showState(base)).transport.t_ms - HALF) < 100);
    await agreeWithHub(base, pages, 'after jumps');
  });

  await step('a refused Play (crafted: rate 99) changes nothing: the hub\'s message, both pages stay paused', async () => {
    const before = await showState(base);
    check(before.transport.state === 'paused', `not paused: ${JSON.stringify(before.transport)}`);
    await pageA.evaluate(() => {
      window.__rewrite = (d) => {
        const m = JSON.parse(d);
        if (m.type !== 'intent' || m.name !== 'transport.play') return undefined;
        window.__rewrite = null;
        m.payload.rate = 99;
        return JSON.stringify(m);
      };
    });
    await pageA.getByRole('button', { name: 'Play', exact: true }).click();
    const ui = await waitFor('toast with the refusal', async () => {
      const u = await readUi(pageA);
      return /Play refused/.test(u.toast) && /rate/.test(u.toast) && u;
    });
    log(`     toast: "${ui.toast}"`);
    await sleep(300);
    const after = await showState(base);
    check(after.seq === before.seq && after.transport.state === 'paused', `hub moved: ${JSON.stringify(after.transport)}`);
    for (const [i, page] of pages.entries()) {
      const u = await readUi(page);
      check(u.tstate === 'paused' && parseClock(u.clock) === Math.floor(before.transport.t_ms) && u.play && !u.pause,
        `page ${'AB'[i]} after a refused play: ${u.tstate} ${u.clock} (hub ${before.transport.t_ms})`);
    }
  });

  await step('play again: editors lock with the reason; a forced Save shows the hub\'s conflict message', async () => {
    try {
      // B opens the editor while paused; A presses Play meanwhile.
      await pageB.getByRole('button', { name: 'Edit cue c2' }).click();
      await pageB.fill('#cue-fade', '1500');
      await pageA.getByRole('button', { name: 'Play', exact: true }).click();
      await waitFor('B playing', async () => (await readUi(pageB)).tstate === 'playing');
      // A's own page hears the transport patch on its own connection: wait for it too.
      await waitFor('A locked', async () =>
        (await readUi(pageA)).lock === 'Pause or stop playback to edit cues.');
      const lock = await waitFor('lock in the dialog', async () => {
        const vis = await pageB.isVisible('#cue-dialog [data-lock]');
        return vis && pageB.textContent('#cue-dialog [data-lock]');
      });
      check(lock === 'Pause or stop playback to edit cues.', `dialog lock "${lock}"`);
      check(await pageB.isDisabled('#cue-dialog [data-save]'), 'Save enabled while playing');
      for (const page of pages) {
        const ui = await readUi(page);
        check(ui.lock === 'Pause or stop playback to edit cues.' && !ui.addCue && ui.editButtons.every((b) => !b), `editor while playing: "${ui.lock}"`);
        check(parseClock(ui.clock) > HALF - 100, `played from ${ui.clock}, not from the jump`);
      }
      await shoot(pages, '7-locked');
      const before = await showState(base);
      await pageB.evaluate(() => {
        document.querySelector('#cue-dialog [data-save]').disabled = false;
      });
      await pageB.locator('#cue-dialog [data-save]').click();
      const err = await waitFor('the hub\'s refusal in the dialog', async () => {
        const t = await pageB.textContent('#cue-dialog [data-error]');
        return (await pageB.isVisible('#cue-dialog [data-error]')) && /playing/.test(t) && t;
      });
      const toast = (await readUi(pageB)).toast;
      check(/refused/.test(toast) && /playing/.test(toast), `toast "${toast}"`);
      const after = await showState(base);
      check(after.seq === before.seq, `seq moved ${before.seq} -> ${after.seq} on a refused edit`);
      check(after.loaded.cues.find((c) => c.id === 'c2').fade_ms === 1000, 'c2 changed while playing');
      log(`     "${err}"`);
      await pageB.screenshot({ path: path.join(ARTIFACTS, 'show-phone-7-refused.png') });
      await pageB.getByRole('button', { name: 'Cancel' }).click();
      check(!/cue c2/.test((await readUi(pageA)).toast), 'the refusal was shown in A too');
    } finally {
      await closeDialogs(pages);
    }
  });

  await step('a phone opened mid-play shows the same position; its browser blocks autoplay: "Enable audio", then in sync', async () => {
    // A browser that refuses play() without a user gesture, as phones do.
    const ctx = await pageB.context().browser().newContext({
      viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
    });
    try {
      // (Sticky activation from real input only: the test's page.evaluate
      // counts as a gesture for navigator.userActivation.)
      await ctx.addInitScript(() => {
        const play = HTMLMediaElement.prototype.play;
        let gesture = false;
        for (const t of ['pointerup', 'click', 'keydown', 'touchend']) {
          window.addEventListener(t, (e) => {
            if (e.isTrusted) gesture = true;
          }, true);
        }
        window.__blocked = 0;
        HTMLMediaElement.prototype.play = function () {
          if (!gesture) {
            window.__blocked++;
            return Promise.reject(new DOMException('play() needs a user gesture', 'NotAllowedError'));
          }
          return play.call(this);
        };
      });
      const c = await ctx.newPage();
      c.on('pageerror', (err) => pageErrors.push(`page C: ${err.message}`));
      await c.goto(`${base}/show.html`);
      await waitFor('new page live and playing', async () => {
        const u = await readUi(c);
        return u.status === 'live' && u.tstate === 'playing';
      }, 10000);
      // The new page learns the hub's clock from frame timestamps (the
      // smallest delay seen wins): on a busy machine its first frames arrive
      // late, so give its estimate a few seconds to settle, then compare.
      let x, y, d = Infinity;
      const settleBy = Date.now() + 4000;
      while (Date.now() < settleBy) {
        [x, y] = await Promise.all([readUi(pageA), readUi(c)]);
        d = Math.abs(parseClock(x.clock) - parseClock(y.clock));
        if (d < 150) break;
        await sleep(100);
      }
      check(d < 150, `A at ${x.clock}, the new page at ${y.clock}`);
      const blocked = await waitFor('"Enable audio" offered', async () => {
        const u = await readUi(c);
        return u.audio.enable && u.audio.paused && u;
      });
      check(/tap/.test(blocked.audio.status), `audio status "${blocked.audio.status}"`);
      check(await c.evaluate(() => window.__blocked) >= 1, 'play() was never tried');
      await c.screenshot({ path: path.join(ARTIFACTS, 'show-phone-7-enable-audio.png') });
      await c.getByRole('button', { name: 'Enable audio' }).click();
      const u = await waitFor('audio playing near the playhead after the tap', async () => {
        const v = await readUi(c);
        return !v.audio.paused && !v.audio.enable && Math.abs(v.audio.t - parseClock(v.clock) / 1000) < 0.3 && v;
      });
      log(`     after the tap: audio ${u.audio.t.toFixed(3)} s, playhead ${u.clock}`);
    } finally {
      await ctx.close();
    }
  });

  await step('Stop in B: both pages at 00:00.000, stopped; the audio stops and rewinds', async () => {
    await pageB.getByRole('button', { name: 'Stop', exact: true }).click();
    const st = await waitFor('hub stopped', async () => {
      const s = await showState(base);
      return s.transport.state === 'stopped' && s;
    });
    check(st.transport.t_ms === 0, `stopped at ${st.transport.t_ms}`);
    await agreeWithHub(base, pages, 'stopped');
    for (const page of pages) {
      const ui = await readUi(page);
      check(ui.clock === '00:00.000' && ui.playhead === 0, `stopped at ${ui.clock}, playhead ${ui.playhead}%`);
      check(ui.play && !ui.pause && !ui.stop && ui.unload, `stopped buttons ${JSON.stringify([ui.play, ui.pause, ui.stop, ui.unload])}`);
    }
    await waitFor('A audio paused at 0', async () => {
      const a = (await readUi(pageA)).audio;
      return a.paused && a.t < 0.05;
    });
    await shoot(pages, '8-stopped');
  });

  await step('preview rainbow on par2 from B: both list it, the universe view lights par2, Stop previews clears it', async () => {
    const mark = await sentCount(pageB);
    await pageB.locator('#pv-fixtures label', { hasText: 'par2' }).click();
    await pageB.fill('#pv-dur', '20000');
    await pageB.getByRole('button', { name: 'Preview rainbow' }).click();
    const sent = intentsOf(await sentSince(pageB, mark));
    check(sent.length === 1 && sent[0].name === 'fixture.preview_effect'
      && JSON.stringify(sent[0].payload) === JSON.stringify({ fixtures: ['par2'], effect: 'rainbow', params: {}, dur_ms: 20000 }),
    `B sent ${JSON.stringify(sent)}`);
    for (const page of pages) {
      await waitFor('preview listed', async () => {
        const p = (await readUi(page)).previews;
        return p.length === 1 && p[0].effect === 'rainbow' && /par2/.test(p[0].text) && /s left/.test(p[0].text);
      });
    }
    const st = await showState(base);
    check(st.previews.length === 1 && st.previews[0].effect === 'rainbow' && st.previews[0].until - st.previews[0].started_at === 20000,
      `hub previews ${JSON.stringify(st.previews)}`);
    const lit = await waitFor('par2 colour in A\'s universe view', async () => {
      const s = await readSlots(pageA, 1);
      const rgb = [s[SLOT.par2.red], s[SLOT.par2.green], s[SLOT.par2.blue]];
      return rgb.some((v) => v > 0) && rgb;
    });
    log(`     par2 rgb ${lit}`);
    await shoot(pages, '9-preview');
    await pageA.getByRole('button', { name: 'Stop previews' }).click();
    for (const page of pages) await waitFor('no preview listed', async () => (await readUi(page)).previews.length === 0);
    check((await showState(base)).previews.length === 0, 'hub still has previews');
    await waitFor('par2 dark again in B\'s view', async () => {
      const s = await readSlots(pageB, 1);
      return [SLOT.par2.red, SLOT.par2.green, SLOT.par2.blue].every((k) => s[k] === 0);
    });
  });

  await step('fixtures on the show page: typed value, Release (fixture.release {fixture}), arm, blackout', async () => {
    await pageB.fill('.fixture[data-fixture="par2"] .fader[data-role="dimmer"] input[type=number]', '77');
    await pageB.press('.fixture[data-fixture="par2"] .fader[data-role="dimmer"] input[type=number]', 'Enter');
    await waitFor('A shows par2 dimmer 77', async () => (await readUi(pageA)).fixtures.par2.values.dimmer === 77);
    check((await showState(base)).dmx.fixtures.par2.values.dimmer === 77, 'hub does not have par2 dimmer 77');
    await waitFor('universe view slot 17 = 77', async () => (await readSlots(pageA, 1))[SLOT.par2.dimmer] === 77);
    const mark = await sentCount(pageA);
    await pageA.getByRole('button', { name: 'Release par2', exact: true }).click();
    await waitFor('B shows par2 released', async () => (await readUi(pageB)).fixtures.par2.values.dimmer === null);
    const sent = intentsOf(await sentSince(pageA, mark));
    check(sent.length === 1 && sent[0].name === 'fixture.release' && JSON.stringify(sent[0].payload) === '{"fixture":"par2"}',
      `A sent ${JSON.stringify(sent)}`);
    check(Object.values((await showState(base)).dmx.fixtures.par2.values).every((v) => v === null), 'hub still has par2 values');
    await pageA.getByRole('switch', { name: 'par1 armed' }).click();
    await waitFor('B shows par1 disarmed', async () => (await readUi(pageB)).fixtures.par1.armed === false);
    check((await showState(base)).dmx.fixtures.par1.armed === false, 'hub has par1 armed');
    await pageB.getByRole('switch', { name: 'par1 armed' }).click();
    await waitFor('A shows par1 armed', async () => (await readUi(pageA)).fixtures.par1.armed === true);
    await pageB.getByRole('button', { name: 'Blackout' }).click();
    await waitFor('A shows blackout', async () => {
      const u = await readUi(pageA);
      return u.blackout && u.banner;
    });
    check((await showState(base)).dmx.blackout === true, 'hub has no blackout');
    await shoot(pages, '10-blackout');
    await pageA.getByRole('button', { name: 'Blackout' }).click();
    await waitFor('B shows blackout off', async () => !(await readUi(pageB)).blackout);
  });

  await step('hub restart while playing: pages say reconnecting, then resync (hello {since}) to the hub\'s show state', async () => {
    await pageA.getByRole('button', { name: 'Play', exact: true }).click();
    await waitFor('B playing', async () => (await readUi(pageB)).tstate === 'playing');
    await sleep(500);
    const markA = await sentCount(pageA);
    const before = await showState(base);
    const exit = await stopHub(hub);
    check(exit.code === 0, `hub exit ${JSON.stringify(exit)}:\n${hubLogTail(hub)}`);
    for (const page of pages) await waitFor('reconnecting', async () => (await readUi(page)).status === 'reconnecting');
    hub = startHub(port, dataDir, {});
    await waitHealthy(hub, base);
    for (const page of pages) await waitFor('live again', async () => (await readUi(page)).status === 'live', 15000);
    const st = await agreeWithHub(base, pages, 'after restart');
    check(st.loaded && st.loaded.name === 'demo', `hub came back without the show: ${JSON.stringify(st.loaded)}`);
    const hellos = (await sentSince(pageA, markA)).filter((f) => f.msg.type === 'hello').map((f) => f.msg);
    check(hellos.length >= 1 && hellos.every((h) => h.since >= before.seq && h.rooms.includes('show')),
      `A's hello after the restart: ${JSON.stringify(hellos)}, want since >= ${before.seq} with room show`);
    log(`     before: ${before.transport.state} at seq ${before.seq}; after: ${st.transport.state} t_ms ${st.transport.t_ms}`);
    if (st.transport.state !== 'stopped') await pageA.getByRole('button', { name: 'Stop', exact: true }).click();
    await waitFor('hub stopped', async () => (await showState(base)).transport.state === 'stopped');
    await agreeWithHub(base, pages, 'stopped after restart');
  });

  await step('Unload in B: both pages show no show, the audio row goes', async () => {
    await pageB.getByRole('button', { name: 'Unload', exact: true }).click();
    await waitFor('hub unloaded', async () => (await showState(base)).loaded === null);
    await agreeWithHub(base, pages, 'unloaded');
    for (const page of pages) {
      const ui = await readUi(page);
      check(ui.title === 'No show loaded' && !ui.audio.row && ui.marks.length === 0 && !ui.play, `after unload ${JSON.stringify(ui)}`);
      check(ui.lock === 'Load a show to edit its cues.', `lock "${ui.lock}"`);
    }
  });

  await step('phone layout fits 390 px and every control has a name; no page errors', async () => {
    const r = await pageB.evaluate(() => {
      const unnamed = [];
      for (const e of document.querySelectorAll('input, button, a, select, [role="slider"]')) {
        if (e.closest('[hidden]') || e.closest('template') || e.closest('dialog:not([open])')) continue;
        const name = e.getAttribute('aria-label') || e.textContent.trim() || (e.labels && e.labels[0] && e.labels[0].textContent.trim());
        if (!name) unnamed.push(e.outerHTML.slice(0, 80));
      }
      return { width: document.scrollingElement.scrollWidth, unnamed };
    });
    check(r.width <= 390, `phone page is ${r.width} px wide`);
    check(r.unnamed.length === 0, `controls without a name: ${r.unnamed.join(' | ')}`);
    await pageB.screenshot({ path: path.join(ARTIFACTS, 'show-phone-full.png'), fullPage: true });
    check(pageErrors.length === 0, pageErrors.join('; '));
  });

  await finalStop(hub, dataDir);
}

await run(main, { budgetMs: TOTAL_BUDGET_MS });
