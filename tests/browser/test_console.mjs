// Browser test of the lighting console (web/console.html) against the real
// hub binary, with a patch file of two universes and Art-Net output to a UDP
// socket opened here. Two pages (desktop + phone) drive faders by keyboard,
// mouse and typing, release, POI, arm and blackout; each change is checked
// in the other page, in GET /api/v1/…, in both pages' live slot view and in
// the ArtDmx packets on the wire. Then a refused intent, and a hub restart
// that the pages resync from with hello {since}. Screenshots go to
// $HUB_ARTIFACTS (default tests/browser/artifacts/).
//   SHOWHUB_BIN=build/showhub node tests/browser/test_console.mjs
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ARTIFACTS, BIN, ULID_RE, check, checkAtMost30PerSecond, finalStop, freePort, getJson, hubLogTail, hubStarter,
  loadChromium, log, openPages, run, sentCount, sentSince, sleep, step, stopHub, waitFor, waitHealthy,
} from './harness.mjs';

const TOTAL_BUDGET_MS = 100000;
const startHub = hubStarter('console-hub'); // logs ARTIFACTS/console-hub-1.log, ...

// Two universes, a few fixtures. demo is required on universe 1, 1-3.
const PATCH = {
  universes: [1, 2],
  fixtures: [
    { name: 'demo', universe: 1, address: 1, channels: ['red', 'green', 'blue'] },
    { name: 'par1', universe: 1, address: 10, channels: ['red', 'green', 'blue', 'dimmer'] },
    { name: 'wash', universe: 2, address: 1, channels: ['red', 'green', 'blue', 'white', 'dimmer'] },
    { name: 'mover', universe: 2, address: 20, channels: ['pan', 'pan_fine', 'tilt', 'tilt_fine', 'dimmer'] },
  ],
  pois: [
    { name: 'center', pan: 128, pan_fine: 0, tilt: 60, tilt_fine: 0 },
    { name: 'stage_left', pan: 40, pan_fine: 0, tilt: 90, tilt_fine: 0 },
  ],
};

let udp = null;

// ---- hub API -------------------------------------------------------------------

const getState = async (base) => getJson(base, '/api/v1/state');
const getUniverse = async (base, u) => (await getJson(base, `/api/v1/universes/${u}`)).channels;

// ---- Art-Net receiver ------------------------------------------------------------

// Every ArtDmx packet the hub sends, parsed; malformed ones are kept apart.
const art = { packets: [], bad: [] };

function parseArtDmx(buf) {
  if (buf.length < 20 || buf.toString('latin1', 0, 8) !== 'Art-Net\0') return 'no Art-Net ID';
  const op = buf.readUInt16LE(8);
  if (op !== 0x5000) return null; // not ArtDmx (ArtPoll replies etc.): ignore
  if (buf.readUInt16BE(10) !== 14) return `ProtVer ${buf.readUInt16BE(10)}`;
  const len = buf.readUInt16BE(16);
  if (len < 2 || len > 512 || len % 2 !== 0 || buf.length !== 18 + len) return `Length ${len} for ${buf.length} bytes`;
  const portAddress = (buf[15] << 8) | buf[14];
  const data = new Uint8Array(512);
  data.set(buf.subarray(18, 18 + len));
  return { t: Date.now(), universe: portAddress + 1, seq: buf[12], data };
}

function openUdp() {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', reject);
    sock.on('message', (msg) => {
      const p = parseArtDmx(msg);
      if (p === null) return;
      if (typeof p === 'string') art.bad.push(p);
      else art.packets.push(p);
    });
    sock.bind(0, '127.0.0.1', () => resolve(sock));
  });
}

// Waits for an ArtDmx packet sent after `since` (ms) for universe u that
// satisfies pred(data).
async function waitArt(desc, u, since, pred, timeoutMs = 4000) {
  return waitFor(`Art-Net: ${desc}`, () => {
    const hits = art.packets.filter((p) => p.universe === u && p.t >= since);
    const hit = hits.find((p) => pred(p.data));
    if (hit) return hit;
    const last = hits.at(-1);
    throw new Error(last ? `${hits.length} packets, last u${u} slots 1-24: ${[...last.data.slice(0, 24)]}` : 'no packet yet');
  }, timeoutMs);
}

// ---- page helpers ------------------------------------------------------------------

// Every frame the page sends, timestamped in the page; window.__rewrite lets
// the test craft one outgoing message (a refused intent).
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

// What a user sees: status, blackout, every fixture card, toast.
function readUi(page) {
  return page.evaluate(() => {
    const $ = (id) => document.getElementById(id);
    const fixtures = {};
    for (const card of document.querySelectorAll('.fixture')) {
      const values = {};
      const ranges = {};
      for (const row of card.querySelectorAll('.fader')) {
        const num = row.querySelector('input[type=number]');
        const released = row.classList.contains('released');
        values[row.dataset.role] = released ? null : num.value === '' ? 'empty' : Number(num.value);
        ranges[row.dataset.role] = Number(row.querySelector('input[type=range]').value);
        if (released && (num.value !== '' || num.placeholder !== '—')) values[row.dataset.role] = 'bad-null';
      }
      fixtures[card.dataset.fixture] = {
        armed: card.querySelector('.arm').checked,
        values,
        ranges,
        pois: [...card.querySelectorAll('button.poi')].map((b) => b.dataset.poi),
      };
    }
    return {
      state: $('status').dataset.state,
      statusText: $('status-text').textContent,
      seq: Number($('seq').textContent) || 0,
      blackout: $('blackout').getAttribute('aria-pressed') === 'true',
      banner: !$('blackout-banner').hidden,
      order: [...document.querySelectorAll('.fixture')].map((c) => c.dataset.fixture),
      fixtures,
      toast: $('toast').classList.contains('show') ? $('toast').textContent : '',
    };
  });
}

// The live slot view: value of each slot as its title says ("ch:value …").
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

const faderSel = (fx, role) => `.fixture[data-fixture="${fx}"] .fader[data-role="${role}"]`;
const rangeSel = (fx, role) => `${faderSel(fx, role)} input[type=range]`;
const numSel = (fx, role) => `${faderSel(fx, role)} input[type=number]`;

// Both pages' cards equal the hub's state (values, armed, blackout, seq).
async function agreeWithHub(base, pages, what, timeoutMs = 4000) {
  return waitFor(`${what}: pages agree with GET /api/v1/state`, async () => {
    const st = await getState(base);
    const dmx = st.state.dmx;
    for (const [i, page] of pages.entries()) {
      const ui = await readUi(page);
      const differ = (m) => {
        throw new Error(`page ${'AB'[i]}: ${m}`);
      };
      if (ui.seq !== st.seq) differ(`seq ${ui.seq}, hub ${st.seq}`);
      if (ui.blackout !== dmx.blackout) differ(`blackout ${ui.blackout}, hub ${dmx.blackout}`);
      for (const [name, f] of Object.entries(dmx.fixtures)) {
        const mine = ui.fixtures[name];
        if (!mine) differ(`no card for ${name}`);
        if (mine.armed !== f.armed) differ(`${name} armed ${mine.armed}, hub ${f.armed}`);
        for (const [role, v] of Object.entries(f.values)) {
          if (mine.values[role] !== v || mine.ranges[role] !== (v ?? 0)) {
            differ(`${name} ${role} shows ${mine.values[role]} (fader ${mine.ranges[role]}), hub ${v}`);
          }
        }
      }
      if (ui.order.length !== Object.keys(dmx.fixtures).length) differ(`cards ${ui.order}`);
    }
    return st;
  }, timeoutMs);
}

// Both pages' slot views show what GET /api/v1/universes/u says, and pred holds.
async function slotsAgree(base, pages, u, pred, what, timeoutMs = 4000) {
  return waitFor(`${what}: slot views of universe ${u}`, async () => {
    const http = await getUniverse(base, u);
    if (!pred(http)) throw new Error(`hub output u${u} slots 1-24: ${http.slice(0, 24)}`);
    for (const [i, page] of pages.entries()) {
      const view = await readSlots(page, u);
      if (!view) throw new Error(`page ${'AB'[i]} has no view of universe ${u}`);
      const diff = view.map((v, k) => [k + 1, v, http[k]]).filter(([, a, b]) => a !== b);
      if (diff.length) throw new Error(`page ${'AB'[i]} [slot, shows, hub]: ${JSON.stringify(diff.slice(0, 5))}`);
    }
    return http;
  }, timeoutMs);
}

function checkIntents(frames, what, name, fixture) {
  const intents = frames.filter((f) => f.msg.type === 'intent');
  for (const { msg } of intents) {
    check(msg.name === name && msg.payload && msg.payload.fixture === fixture,
      `${what}: unexpected intent ${JSON.stringify(msg)}`);
    check(ULID_RE.test(msg.req_id), `${what}: req_id is not a ULID: ${msg.req_id}`);
  }
  check(new Set(intents.map((f) => f.msg.req_id)).size === intents.length, `${what}: req_ids are not unique`);
  checkAtMost30PerSecond(intents, what, 'intents');
  return intents;
}

// ---- the test -------------------------------------------------------------------------

async function main() {
  const chromium = await loadChromium();

  udp = await openUdp();
  const artPort = udp.address().port;
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'showhub-console-'));
  const patchFile = path.join(dataDir, 'patch.json');
  fs.writeFileSync(patchFile, JSON.stringify(PATCH, null, 2));
  const hubEnv = {
    DMX_FIXTURES_FILE: patchFile,
    DMX_ARTNET_ENABLED: 'true',
    DMX_ARTNET_TARGETS: `127.0.0.1:${artPort}`,
  };
  log(`hub ${BIN} on ${base}, Art-Net to 127.0.0.1:${artPort}, data ${dataDir}, artifacts ${ARTIFACTS}`);

  let hub = startHub(port, dataDir, hubEnv);
  await waitHealthy(hub, base);

  const { pageA, pageB, pageErrors } = await openPages(chromium, RECORD_SENDS);
  const pages = [pageA, pageB];
  const received = { A: [], B: [] }; // frames from the hub, for the resync check
  const wsUrls = []; // page A's WebSocket URLs
  for (const [name, page] of [['A', pageA], ['B', pageB]]) {
    // Console errors catch CSP violations ("Refused to …"); the browser's
    // own reports of refused connections (hub down, wrong key) are expected.
    page.on('console', (m) => {
      const text = m.text();
      if (m.type() !== 'error' || /^WebSocket connection to .* failed|^Failed to load resource/.test(text)) return;
      pageErrors.push(`page ${name} console: ${text}`);
    });
    page.on('websocket', (ws) => {
      if (name === 'A') wsUrls.push(new URL(ws.url()));
      ws.on('framereceived', (f) => {
        const s = String(f.payload);
        if (!s.startsWith('{"type":"frame"')) received[name].push({ t: Date.now(), s });
      });
    });
  }

  const ok = await step('the RGB page links to the console; both pages go live with the patch', async () => {
    await pageA.goto(base);
    await pageA.getByRole('link', { name: 'Console' }).click();
    await pageA.waitForURL(`${base}/console.html`);
    await pageB.goto(`${base}/console.html`);
    for (const page of pages) {
      await waitFor('status live', async () => (await readUi(page)).state === 'live', 10000);
    }
    const st = await agreeWithHub(base, pages, 'initial');
    const want = ['demo', 'par1', 'wash', 'mover'];
    for (const page of pages) {
      const ui = await readUi(page);
      check(JSON.stringify(ui.order) === JSON.stringify(want), `cards in order ${ui.order}, want ${want}`);
      check(ui.statusText === 'live', `status text "${ui.statusText}"`);
      check(JSON.stringify(ui.fixtures.mover.pois) === '["center","stage_left"]', `mover POIs ${ui.fixtures.mover.pois}`);
      check(ui.fixtures.par1.pois.length === 0, 'par1 has no pan/tilt but shows POI buttons');
      check(ui.fixtures.par1.values.red === null, `par1 red should show released, shows ${ui.fixtures.par1.values.red}`);
    }
    check(st.state.dmx.fixtures.par1.values.red === null, 'a fresh hub has par1 red released');
    for (const u of [1, 2]) await slotsAgree(base, pages, u, () => true, 'initial');
  });
  if (!ok) return;

  await step('keyboard fader in A: B, the hub, both slot views and Art-Net show 200', async () => {
    const mark = await sentCount(pageA);
    const t = Date.now();
    await pageA.focus(rangeSel('par1', 'red'));
    await pageA.keyboard.press('Home');
    await pageA.keyboard.press('End');
    for (let i = 0; i < 55; i++) await pageA.keyboard.press('ArrowLeft');
    check(Number(await pageA.inputValue(rangeSel('par1', 'red'))) === 200, 'keyboard did not move par1 red to 200');
    await waitFor('B shows par1 red 200', async () => {
      const f = (await readUi(pageB)).fixtures.par1;
      return f.values.red === 200 && f.ranges.red === 200;
    });
    await agreeWithHub(base, pages, 'after keyboard');
    await slotsAgree(base, pages, 1, (d) => d[9] === 200, 'par1 red');
    await waitArt('u1 slot 10 = 200', 1, t, (d) => d[9] === 200);
    const intents = checkIntents(await sentSince(pageA, mark), 'keyboard', 'fixture.set_values', 'par1');
    check(intents.length >= 2 && intents.length < 57,
      `expected 57 key presses coalesced into a few intents, got ${intents.length}`);
    check(intents.at(-1).msg.payload.values.red === 200, `last intent ${JSON.stringify(intents.at(-1).msg)}`);
    log(`     57 key presses -> ${intents.length} intents`);
  });

  await step('mouse drag of par1 green in A streams <= 30/s and lands everywhere', async () => {
    const box = await pageA.locator(rangeSel('par1', 'green')).boundingBox();
    const y = box.y + box.height / 2;
    const x0 = box.x + 16;
    const x1 = box.x + box.width * 0.7;
    const mark = await sentCount(pageA);
    const t = Date.now();
    await pageA.mouse.move(x0, y);
    await pageA.mouse.down();
    for (let i = 1; i <= 60; i++) {
      await pageA.mouse.move(x0 + ((x1 - x0) * i) / 60, y);
      await sleep(5);
    }
    const dragMs = Date.now() - t;
    await pageA.mouse.up();
    const final = Number(await pageA.inputValue(rangeSel('par1', 'green')));
    check(final > 120 && final < 220, `drag ended at ${final}, expected about 70% of 255`);
    await waitFor('B shows the final green', async () => (await readUi(pageB)).fixtures.par1.values.green === final);
    await agreeWithHub(base, pages, 'after drag');
    await slotsAgree(base, pages, 1, (d) => d[10] === final, 'par1 green');
    await waitArt(`u1 slot 11 = ${final}`, 1, t, (d) => d[10] === final);
    const intents = checkIntents(await sentSince(pageA, mark), 'drag', 'fixture.set_values', 'par1');
    check(intents.length >= Math.min(8, dragMs / 100), `only ${intents.length} intents in a ${dragMs} ms drag`);
    check(intents.at(-1).msg.payload.values.green === final, `last intent ${JSON.stringify(intents.at(-1).msg)}`);
    log(`     drag: 60 moves in ${dragMs} ms -> ${intents.length} intents, final ${final}`);
  });

  await step('typing 77 + Enter in B\'s mover pan field reaches A, the hub and universe 2', async () => {
    const t = Date.now();
    await pageB.fill(numSel('mover', 'pan'), '77');
    await pageB.press(numSel('mover', 'pan'), 'Enter');
    await waitFor('A shows mover pan 77', async () => (await readUi(pageA)).fixtures.mover.values.pan === 77);
    await agreeWithHub(base, pages, 'after typing');
    await slotsAgree(base, pages, 2, (d) => d[19] === 77, 'mover pan');
    await waitArt('u2 slot 20 = 77', 2, t, (d) => d[19] === 77);
  });

  await step('release in B shows "—" in A, null in the hub and 0 on the wire', async () => {
    const t = Date.now();
    await pageB.getByRole('button', { name: 'Release par1 red' }).click();
    await waitFor('A shows par1 red released', async () => (await readUi(pageA)).fixtures.par1.values.red === null);
    const st = await agreeWithHub(base, pages, 'after release');
    check(st.state.dmx.fixtures.par1.values.red === null, 'hub still has a value for par1 red');
    check(await pageA.getAttribute(numSel('par1', 'red'), 'placeholder') === '—', 'released field has no "—"');
    await slotsAgree(base, pages, 1, (d) => d[9] === 0, 'released par1 red');
    await waitArt('u1 slot 10 = 0', 1, t, (d) => d[9] === 0);
    check(await pageB.isDisabled(`${faderSel('par1', 'red')} .release`), 'release stays enabled for a released role');
  });

  await step('POI button in B points the mover (A, hub, universe 2, Art-Net)', async () => {
    const t = Date.now();
    await pageB.getByRole('button', { name: 'Point mover at center' }).click();
    await waitFor('A shows mover at center', async () => {
      const f = (await readUi(pageA)).fixtures.mover;
      return f.values.pan === 128 && f.values.tilt === 60;
    });
    await agreeWithHub(base, pages, 'after POI');
    await slotsAgree(base, pages, 2, (d) => d[19] === 128 && d[21] === 60, 'mover at center');
    await waitArt('u2 slots 20/22 = 128/60', 2, t, (d) => d[19] === 128 && d[21] === 60);
    check(await pageA.evaluate(() => document.querySelector('.fixture[data-fixture="mover"] button.poi[data-poi="center"]').classList.contains('at')),
      'the center button is not marked as where the mover points');
  });

  let green = 0;
  await step('arm switch by keyboard in A disarms par1 in B and zeroes its slots; re-arm in B', async () => {
    green = (await getState(base)).state.dmx.fixtures.par1.values.green;
    check(green > 0, `par1 green is ${green}`);
    let t = Date.now();
    await pageA.focus('.fixture[data-fixture="par1"] .arm');
    await pageA.keyboard.press('Space');
    await waitFor('B shows par1 disarmed', async () => (await readUi(pageB)).fixtures.par1.armed === false);
    const st = await agreeWithHub(base, pages, 'after disarm');
    check(st.state.dmx.fixtures.par1.armed === false, 'hub still has par1 armed');
    check(st.state.dmx.fixtures.par1.values.green === green, 'disarm changed the stored value');
    await slotsAgree(base, pages, 1, (d) => d.slice(9, 13).every((v) => v === 0), 'disarmed par1');
    await waitArt('u1 slots 10-13 = 0', 1, t, (d) => d.slice(9, 13).every((v) => v === 0));
    t = Date.now();
    await pageB.getByRole('switch', { name: 'par1 armed' }).click();
    await waitFor('A shows par1 armed', async () => (await readUi(pageA)).fixtures.par1.armed === true);
    await agreeWithHub(base, pages, 'after re-arm');
    await slotsAgree(base, pages, 1, (d) => d[10] === green, 're-armed par1');
    await waitArt(`u1 slot 11 = ${green} again`, 1, t, (d) => d[10] === green);
  });

  await step('blackout in B: both pages show it, every universe outputs zeros; off again in A', async () => {
    let t = Date.now();
    await pageB.getByRole('button', { name: 'Blackout' }).click();
    await waitFor('A shows blackout', async () => {
      const ui = await readUi(pageA);
      return ui.blackout && ui.banner;
    });
    await waitFor('B shows the blackout banner', async () => (await readUi(pageB)).banner);
    await agreeWithHub(base, pages, 'blackout on');
    for (const u of [1, 2]) {
      await slotsAgree(base, pages, u, (d) => d.every((v) => v === 0), 'blackout');
      await waitArt(`u${u} all zero`, u, t, (d) => d.every((v) => v === 0));
    }
    await pageB.screenshot({ path: path.join(ARTIFACTS, 'console-phone-blackout.png') });
    t = Date.now();
    await pageA.getByRole('button', { name: 'Blackout' }).click();
    await waitFor('B shows blackout off', async () => !(await readUi(pageB)).blackout);
    await agreeWithHub(base, pages, 'blackout off');
    await slotsAgree(base, pages, 2, (d) => d[19] === 128, 'after blackout');
    await waitArt('u2 slot 20 = 128 again', 2, t, (d) => d[19] === 128);
    await waitArt(`u1 slot 11 = ${green} again`, 1, t, (d) => d[10] === green);
  });

  await step('a refused intent shows the hub\'s message and the fader returns to the hub value', async () => {
    const before = await getState(base);
    // The next intent A sends names a fixture the hub does not have.
    await pageA.evaluate(() => {
      window.__rewrite = (d) => {
        const m = JSON.parse(d);
        if (m.type !== 'intent') return undefined;
        window.__rewrite = null;
        m.payload.fixture = 'ghost';
        return JSON.stringify(m);
      };
    });
    await pageA.focus(rangeSel('par1', 'green'));
    await pageA.keyboard.press('ArrowRight');
    const ui = await waitFor('toast with the refusal', async () => {
      const u = await readUi(pageA);
      return /refused/.test(u.toast) && /no fixture named "ghost"/.test(u.toast) && u;
    });
    log(`     toast: "${ui.toast}"`);
    await pageA.screenshot({ path: path.join(ARTIFACTS, 'console-desktop-refused.png') });
    await waitFor('A shows the hub value again', async () => {
      const f = (await readUi(pageA)).fixtures.par1;
      return f.values.green === green && f.ranges.green === green;
    });
    const after = await getState(base);
    check(after.seq === before.seq, `a refused intent moved seq ${before.seq} -> ${after.seq}`);
    check((await readUi(pageB)).toast === '', 'the refusal was shown in B too');
  });

  await step('phone layout fits 390 px and every control has a name', async () => {
    const r = await pageB.evaluate(() => {
      const unnamed = [];
      for (const e of document.querySelectorAll('input, button, a')) {
        if (e.closest('[hidden]') || e.closest('template')) continue;
        const name = e.getAttribute('aria-label') || e.textContent.trim() || (e.labels && e.labels[0] && e.labels[0].textContent.trim());
        if (!name) unnamed.push(e.outerHTML.slice(0, 80));
      }
      return { width: document.scrollingElement.scrollWidth, unnamed };
    });
    check(r.width <= 390, `phone page is ${r.width} px wide`);
    check(r.unnamed.length === 0, `controls without a name: ${r.unnamed.join(' | ')}`);
  });

  await step('screenshots (desktop 1280x800, phone 390x844)', async () => {
    await sleep(300);
    await pageA.screenshot({ path: path.join(ARTIFACTS, 'console-desktop.png'), fullPage: true });
    await pageB.screenshot({ path: path.join(ARTIFACTS, 'console-phone.png') });
    await pageB.screenshot({ path: path.join(ARTIFACTS, 'console-phone-full.png'), fullPage: true });
  });

  const before = await getState(base);
  await step('SIGTERM: hub exits 0 and both pages say "reconnecting"', async () => {
    const exit = await stopHub(hub);
    check(exit.code === 0, `hub exit ${JSON.stringify(exit)}:\n${hubLogTail(hub)}`);
    for (const page of pages) {
      await waitFor('reconnecting', async () => (await readUi(page)).state === 'reconnecting');
    }
    await pageA.screenshot({ path: path.join(ARTIFACTS, 'console-desktop-reconnecting.png') });
  });

  await step('hub restarts (same data dir): pages resync with hello {since}, incl. a change made meanwhile', async () => {
    const markA = await sentCount(pageA);
    const recvMark = { A: received.A.length, B: received.B.length };
    hub = startHub(port, dataDir, hubEnv);
    await waitHealthy(hub, base);
    const restarted = await getState(base);
    check(restarted.seq === before.seq && JSON.stringify(restarted.state) === JSON.stringify(before.state),
      `hub state after restart differs:\n${JSON.stringify(restarted)}\nbefore:\n${JSON.stringify(before)}`);
    // A change the pages can only learn from the hub after they reconnect.
    const res = await fetch(`${base}/api/v1/intents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ req_id: 'console-test-1', name: 'fixture.set_values', payload: { fixture: 'wash', values: { blue: 77 } } }),
    });
    const body = await res.json();
    check(res.status === 200 && body.ok && body.seq === before.seq + 1, `REST intent: ${res.status} ${JSON.stringify(body)}`);
    for (const page of pages) {
      await waitFor('live again', async () => (await readUi(page)).state === 'live', 15000);
    }
    await waitFor('both pages show wash blue 77', async () => {
      const [a, b] = await Promise.all(pages.map(readUi));
      return a.fixtures.wash.values.blue === 77 && b.fixtures.wash.values.blue === 77;
    });
    await agreeWithHub(base, pages, 'after restart');
    await slotsAgree(base, pages, 2, (d) => d[2] === 77 && d[19] === 128, 'after restart');
    await slotsAgree(base, pages, 1, (d) => d[10] === green, 'after restart');
    const hellos = (await sentSince(pageA, markA)).filter((f) => f.msg.type === 'hello');
    check(hellos.length >= 1 && hellos.every((h) => h.msg.since === before.seq),
      `A's hello after the restart: ${JSON.stringify(hellos.map((h) => h.msg))}, want since ${before.seq}`);
    for (const name of ['A', 'B']) {
      const got = received[name].slice(recvMark[name]).map((r) => JSON.parse(r.s));
      check(!got.some((m) => m.type === 'snapshot'), `page ${name} needed a snapshot to resync (since was not used)`);
      check(got.some((m) => m.type === 'patch' && m.seq === before.seq + 1), `page ${name} never got the patch seq ${before.seq + 1}`);
    }
  });

  await step('API key: "auth failed" until the key is saved on the RGB page; then live with ?token=', async () => {
    const exit = await stopHub(hub);
    check(exit.code === 0, `hub exit ${JSON.stringify(exit)}`);
    const key = `k-${Math.random().toString(36).slice(2)}`;
    hub = startHub(port, dataDir, { ...hubEnv, DMX_API_KEY: key });
    await waitHealthy(hub, base);
    for (const page of pages) {
      await waitFor('auth failed', async () => {
        const ui = await readUi(page);
        return ui.state === 'auth' && ui.statusText === 'auth failed';
      }, 15000);
      check(await page.isVisible('#auth-banner'), 'no hint where to set the key');
    }
    // As a technician would: RGB page, Connection, save the key, back.
    await pageA.getByRole('link', { name: 'RGB' }).click();
    await pageA.waitForURL(`${base}/`);
    await pageA.click('#conn-details summary');
    await pageA.fill('#api-key', key);
    await pageA.click('#key-form button');
    await pageA.getByRole('link', { name: 'Console' }).click();
    await pageA.waitForURL(`${base}/console.html`);
    await waitFor('A live with the key', async () => (await readUi(pageA)).state === 'live', 10000);
    check(wsUrls.at(-1).searchParams.get('token') === key, `A connected to ${wsUrls.at(-1)}`);
    await agreeWithHub(base, [pageA], 'with the key');
    const before2 = await getState(base);
    await pageA.focus(rangeSel('par1', 'green'));
    await pageA.keyboard.press('ArrowLeft');
    await waitFor('change with the key applied', async () => {
      const st = await getState(base);
      return st.seq > before2.seq && st.state.dmx.fixtures.par1.values.green === green - 1;
    });
    await agreeWithHub(base, [pageA], 'after a change with the key');
    check((await readUi(pageB)).state === 'auth', 'B (no key) must stay out');
  });

  await step('Art-Net packets were all well-formed; no page errors', async () => {
    check(art.packets.length > 0, 'no ArtDmx packet arrived');
    check(art.bad.length === 0, `malformed Art-Net packets: ${art.bad.slice(0, 5).join('; ')}`);
    check(pageErrors.length === 0, pageErrors.join('; '));
    log(`     ${art.packets.length} ArtDmx packets`);
  });

  await finalStop(hub, dataDir);
}

await run(main, {
  budgetMs: TOTAL_BUDGET_MS,
  cleanup: () => {
    if (udp) {
      udp.close();
      udp = null;
    }
  },
});
