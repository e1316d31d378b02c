// Browser test of the web UI against the real hub binary.
// Two pages (desktop + phone); sliders, picker, coalescing, drag protection,
// hub restart, offline app shell and API-key auth. Screenshots go to
// $HUB_ARTIFACTS (default tests/browser/artifacts/).
//   SHOWHUB_BIN=build/showhub node tests/browser/test_ui.mjs
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ARTIFACTS, BIN, LAUNCH, ULID_RE, check, checkAtMost30PerSecond, finalStop, freePort, getJson, hubLogTail,
  hubStarter, loadChromium, log, openPages, run, sentCount, sentSince, sleep, step, stopHub, waitFor,
  waitHealthy,
} from './harness.mjs';

const TOTAL_BUDGET_MS = 85000;
const startHub = hubStarter('hub'); // logs ARTIFACTS/hub-1.log, hub-2.log, ...
const getRgb = (base) => getJson(base, '/rgb');

// ---- page helpers -------------------------------------------------------------

// What a user sees: status, live state and the control values.
function readUi(page) {
  return page.evaluate(() => {
    const $ = (id) => document.getElementById(id);
    return {
      state: $('status').dataset.state,
      statusText: $('status-text').textContent,
      seq: Number($('seq').textContent) || 0,
      hex: $('swatch').dataset.hex || '',
      swatchBg: getComputedStyle($('swatch')).backgroundColor,
      ts: $('ts').textContent,
      r: Number($('r-num').value),
      g: Number($('g-num').value),
      b: Number($('b-num').value),
      rRange: Number($('r-range').value),
      gRange: Number($('g-range').value),
      bRange: Number($('b-range').value),
      picker: $('picker').value,
    };
  });
}

// Every frame the page sends, timestamped in the page (WebSocket.send wrapper).
const RECORD_SENDS = () => {
  const orig = WebSocket.prototype.send;
  window.__sent = [];
  WebSocket.prototype.send = function (data) {
    window.__sent.push({ t: performance.now(), data: String(data) });
    return orig.call(this, data);
  };
};

function checkFrames(frames, what) {
  for (const { msg } of frames) {
    check(msg.type === 'set' && msg.src === 'ui', `${what}: frame is not a ui set: ${JSON.stringify(msg)}`);
    check(ULID_RE.test(msg.cmdId), `${what}: cmdId is not a ULID: ${msg.cmdId}`);
    for (const c of ['r', 'g', 'b']) {
      check(Number.isInteger(msg[c]) && msg[c] >= 0 && msg[c] <= 255, `${what}: bad ${c} in ${JSON.stringify(msg)}`);
    }
  }
  const ids = new Set(frames.map((f) => f.msg.cmdId));
  check(ids.size === frames.length, `${what}: cmdIds are not unique`);
  checkAtMost30PerSecond(frames, what, 'sends');
}

async function agreeWithHttp(base, page, what) {
  return waitFor(
    `${what}: page and GET /rgb agree`,
    async () => {
      const [ui, http] = await Promise.all([readUi(page), getRgb(base)]);
      return ui.r === http.r && ui.g === http.g && ui.b === http.b && ui.seq === http.seq && { ui, http };
    },
    3000,
  );
}

// ---- the test -------------------------------------------------------------------

async function main() {
  const chromium = await loadChromium();

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'showhub-ui-'));
  log(`hub ${BIN} on ${base}, data ${dataDir}, artifacts ${ARTIFACTS}`);

  let hub = startHub(port, dataDir);
  await waitHealthy(hub, base);

  const { ctxA, pageA, pageB, pageErrors } = await openPages(chromium, RECORD_SENDS);
  const wsUrlsA = [];
  pageA.on('websocket', (ws) => wsUrlsA.push(ws.url()));

  const ok = await step('both pages load and go live with the hub state', async () => {
    await Promise.all([pageA.goto(base), pageB.goto(base)]);
    for (const page of [pageA, pageB]) {
      await waitFor('status live', async () => (await readUi(page)).state === 'live', 10000);
    }
    const [a, b, http] = await Promise.all([readUi(pageA), readUi(pageB), getRgb(base)]);
    for (const ui of [a, b]) {
      check(ui.seq === http.seq && ui.r === http.r && ui.g === http.g && ui.b === http.b,
        `page shows ${JSON.stringify(ui)} but GET /rgb says ${JSON.stringify(http)}`);
      check(ui.statusText === 'live', `status text is "${ui.statusText}"`);
    }
  });
  if (!ok) return;

  await step('ULID and backoff modules behave (known vectors, bounds)', async () => {
    const r = await pageA.evaluate(async () => {
      const { ulid } = await import('./ulid.js');
      const { backoffDelay } = await import('./hub.js');
      const ids = Array.from({ length: 200 }, () => ulid());
      return {
        zero: ulid(0, new Uint8Array(10)),
        max: ulid(2 ** 48 - 1, new Uint8Array(10).fill(255)),
        spec: ulid(1469918176385).slice(0, 10),
        bits: ulid(0, new Uint8Array([0x80, 0, 0, 0, 0, 0, 0, 0, 0, 1])).slice(10),
        unique: new Set(ids).size,
        sample: ids[0],
        d: [0, 1, 2, 3, 4, 5, 10].map((a) => [backoffDelay(a, () => 0), backoffDelay(a, () => 0.999999)]),
      };
    });
    check(r.zero === '0'.repeat(26), `ulid of zeros: ${r.zero}`);
    check(r.max === '7' + 'Z'.repeat(25), `ulid of max: ${r.max}`);
    check(r.spec === '01ARYZ6S41', `time part of 1469918176385: ${r.spec}`);
    check(r.bits === 'G000000000000001', `random part bit order: ${r.bits}`);
    check(r.unique === 200 && ULID_RE.test(r.sample), `ulid() not unique/valid: ${r.sample}`);
    const want = [[250, 500], [500, 1000], [1000, 2000], [2000, 4000], [4000, 8000], [5000, 10000], [5000, 10000]];
    check(JSON.stringify(r.d) === JSON.stringify(want), `backoff bounds ${JSON.stringify(r.d)}`);
  });

  await step('R slider by keyboard in A reaches B and GET /rgb', async () => {
    const before = await readUi(pageB);
    const mark = (await pageA.evaluate(() => window.__sent.length));
    await pageA.focus('#r-range');
    await pageA.keyboard.press('Home');
    await pageA.keyboard.press('End');
    for (let i = 0; i < 55; i++) await pageA.keyboard.press('ArrowLeft');
    check((await readUi(pageA)).rRange === 200, 'keyboard did not move the R slider to 200');
    await waitFor('B shows R=200 with a higher seq', async () => {
      const ui = await readUi(pageB);
      return ui.r === 200 && ui.rRange === 200 && ui.seq > before.seq && ui;
    });
    await agreeWithHttp(base, pageB, 'after R');
    const frames = await sentSince(pageA, mark);
    checkFrames(frames, 'keyboard R');
    check(frames.length >= 2 && frames.length < 57,
      `expected the 57 key presses to be coalesced into a few frames, got ${frames.length}`);
    check(frames.at(-1).msg.r === 200, `last frame sent r=${frames.at(-1).msg.r}, not the final 200`);
  });

  await step('a burst of 100 slider inputs in A is coalesced to <= 30/s, final value last', async () => {
    const mark = await pageA.evaluate(() => window.__sent.length);
    const burstMs = await pageA.evaluate(async () => {
      const range = document.getElementById('g-range');
      const t = performance.now();
      for (let v = 1; v <= 100; v++) {
        range.value = String(v);
        range.dispatchEvent(new Event('input', { bubbles: true }));
        await new Promise((r) => setTimeout(r, 4));
      }
      range.dispatchEvent(new Event('change', { bubbles: true }));
      return performance.now() - t;
    });
    await waitFor('B shows G=100', async () => (await readUi(pageB)).g === 100);
    await agreeWithHttp(base, pageB, 'after burst');
    const frames = await sentSince(pageA, mark);
    checkFrames(frames, 'burst');
    const most = Math.ceil(burstMs / (1000 / 30)) + 2;
    check(frames.length <= most, `${frames.length} frames for a ${burstMs.toFixed(0)} ms burst (at most ${most})`);
    check(frames.length >= 3, `only ${frames.length} frames: the burst was not streamed`);
    check(frames.at(-1).msg.g === 100, `last frame g=${frames.at(-1).msg.g}, not the final 100`);
    log(`     burst: 100 inputs in ${burstMs.toFixed(0)} ms -> ${frames.length} frames`);
  });

  await step('mouse drag of G in A streams at most 30/s and B gets the final value', async () => {
    const box = await pageA.locator('#g-range').boundingBox();
    const y = box.y + box.height / 2;
    const x0 = box.x + 16;
    const x1 = box.x + box.width * 0.8;
    const mark = await pageA.evaluate(() => window.__sent.length);
    await pageA.mouse.move(x0, y);
    await pageA.mouse.down();
    const t = Date.now();
    for (let i = 1; i <= 60; i++) {
      await pageA.mouse.move(x0 + ((x1 - x0) * i) / 60, y);
      await sleep(5);
    }
    const dragMs = Date.now() - t;
    await pageA.mouse.up();
    const final = (await readUi(pageA)).gRange;
    check(final > 150 && final < 230, `drag ended at G=${final}, expected about 80% of 255`);
    await waitFor('B shows the final G', async () => (await readUi(pageB)).g === final);
    await agreeWithHttp(base, pageB, 'after G drag');
    await sleep(100);
    const frames = await sentSince(pageA, mark);
    checkFrames(frames, 'G drag');
    check(frames.length >= Math.min(10, dragMs / 100), `only ${frames.length} frames during a ${dragMs} ms drag: not streaming`);
    check(frames.at(-1).msg.g === final, `last frame g=${frames.at(-1).msg.g}, final value ${final}`);
    log(`     G drag: 60 moves in ${dragMs} ms -> ${frames.length} frames, final G=${final}`);
  });

  await step('state from B does not yank the slider A holds, and A catches up after', async () => {
    const box = await pageA.locator('#b-range').boundingBox();
    const y = box.y + box.height / 2;
    await pageA.mouse.move(box.x + box.width * 0.3, y);
    await pageA.mouse.down();
    const held = (await readUi(pageA)).bRange;
    await waitFor('A\'s press applied', async () => (await readUi(pageB)).b === held);
    await pageB.focus('#b-range');
    await pageB.keyboard.press('End');
    const afterB = await waitFor('B\'s change applied', async () => {
      const http = await getRgb(base);
      return http.b === 255 && http;
    });
    await waitFor('A received B\'s state', async () => (await readUi(pageA)).seq === afterB.seq);
    await sleep(300);
    const during = await readUi(pageA);
    check(during.bRange === held && during.b === held,
      `A's held B slider moved to ${during.bRange} (held at ${held}) while the mouse was down`);
    check(during.hex.endsWith('ff'), `A's live swatch should show B's change, shows ${during.hex}`);
    await pageA.mouse.up();
    await waitFor('A\'s B slider catches up to 255 after release', async () => {
      const ui = await readUi(pageA);
      return ui.bRange === 255 && ui.b === 255;
    }, 4000);
    await agreeWithHttp(base, pageA, 'after release');
  });

  await step('colour picker in A sets B\'s swatch', async () => {
    const before = await readUi(pageB);
    await pageA.locator('#picker').fill('#12ab34');
    const ui = await waitFor('B\'s swatch painted #12ab34', async () => {
      const u = await readUi(pageB);
      return u.hex === '#12ab34' && u.swatchBg === 'rgb(18, 171, 52)' && u;
    });
    check(ui.r === 18 && ui.g === 171 && ui.b === 52, `B's controls show ${ui.r},${ui.g},${ui.b}`);
    check(ui.picker === '#12ab34', `B's picker shows ${ui.picker}`);
    check(ui.seq > before.seq, 'seq did not grow');
    await agreeWithHttp(base, pageB, 'after picker');
  });

  await step('typing 300 in B\'s red field sends a clamped 255 on Enter', async () => {
    const before = await getRgb(base);
    const mark = await sentCount(pageB);
    await pageB.fill('#r-num', '300');
    await pageB.press('#r-num', 'Enter');
    const http = await waitFor('hub R=255', async () => {
      const h = await getRgb(base);
      return h.r === 255 && h.seq > before.seq && h;
    });
    check(http.g === before.g && http.b === before.b, `G/B changed: ${JSON.stringify(http)}`);
    // The page clamps before sending: the hub clamping too must not hide it.
    const sets = (await sentSince(pageB, mark)).filter((s) => s.msg.type === 'set');
    check(sets.length > 0 && sets.every((s) => s.msg.r <= 255),
      `B sent ${JSON.stringify(sets.map((s) => s.msg.r))}, want every r <= 255`);
    check(sets[sets.length - 1].msg.r === 255, 'the last set carries r=255');
    await waitFor('A shows R=255', async () => {
      const u = await readUi(pageA);
      return u.r === 255 && u.rRange === 255 && u.seq === http.seq;
    });
    await pageB.locator('#r-num').blur();
    await waitFor('B\'s field shows the clamped 255', async () => (await readUi(pageB)).r === 255);
  });

  await step('screenshots (phone 390x844, desktop 1280x800)', async () => {
    await sleep(300); // let the swatch transition settle
    await pageB.screenshot({ path: path.join(ARTIFACTS, 'phone.png') });
    await pageA.screenshot({ path: path.join(ARTIFACTS, 'desktop.png') });
  });

  await step('installable: manifest, icons and service worker with the shell cached', async () => {
    const sw = await pageA.evaluate(async () => {
      const reg = await Promise.race([
        navigator.serviceWorker.ready,
        new Promise((r) => setTimeout(() => r(null), 4000)),
      ]);
      const keys = await caches.keys();
      const shell = keys.find((k) => k.startsWith('showhub-shell-'));
      const cached = shell ? (await (await caches.open(shell)).keys()).map((r) => new URL(r.url).pathname) : [];
      return { active: !!(reg && reg.active), shell, cached };
    });
    check(sw.active, 'service worker did not activate');
    for (const p of ['/', '/index.html', '/app.js', '/style.css', '/manifest.webmanifest']) {
      check(sw.cached.includes(p), `shell cache ${sw.shell} lacks ${p}: ${sw.cached.join(' ')}`);
    }
    check(!sw.cached.some((p) => p === '/ws' || p === '/rgb'), 'API paths must never be cached');
    // Chrome refuses to judge installability in incognito-like contexts, so
    // ask a fresh persistent profile.
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'showhub-ui-profile-'));
    const ctx = await chromium.launchPersistentContext(profile, { ...LAUNCH, timeout: 20000 });
    try {
      const page = await ctx.newPage();
      await page.goto(base);
      await page.evaluate(() => navigator.serviceWorker.ready);
      const cdp = await ctx.newCDPSession(page);
      const { errors: manifestErrors } = await cdp.send('Page.getAppManifest');
      check(manifestErrors.length === 0, `manifest errors: ${JSON.stringify(manifestErrors)}`);
      const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
      check(installabilityErrors.length === 0, `not installable: ${JSON.stringify(installabilityErrors)}`);
    } finally {
      await ctx.close();
      fs.rmSync(profile, { recursive: true, force: true });
    }
    const res = await fetch(`${base}/manifest.webmanifest`);
    const json = await res.json();
    check(json.name === 'showhub' && json.display === 'standalone' && json.theme_color,
      `manifest fields: ${JSON.stringify(json)}`);
    for (const icon of json.icons) {
      const r = await fetch(new URL(icon.src, `${base}/`));
      check(r.status === 200 && r.headers.get('content-type').startsWith(icon.type),
        `icon ${icon.src}: ${r.status} ${r.headers.get('content-type')}`);
    }
  });

  const beforeStop = await getRgb(base);
  await step('SIGTERM: hub exits 0 and A shows "reconnecting"', async () => {
    const exit = await stopHub(hub);
    check(exit.code === 0, `hub exit ${JSON.stringify(exit)}:\n${hubLogTail(hub)}`);
    const ui = await waitFor('A reconnecting', async () => {
      const u = await readUi(pageA);
      return u.state === 'reconnecting' && /reconnecting/.test(u.statusText) && u;
    });
    log(`     A says "${ui.statusText}"`);
    await pageA.screenshot({ path: path.join(ARTIFACTS, 'desktop-reconnecting.png') });
  });

  await step('with the hub down the app shell still opens (service worker cache)', async () => {
    const pageC = await ctxA.newPage();
    try {
      await pageC.goto(base, { timeout: 5000 });
      await waitFor('shell rendered', async () => {
        const u = await readUi(pageC);
        return ['connecting', 'reconnecting'].includes(u.state) && u;
      });
      check((await pageC.title()) === 'showhub', 'offline page has the wrong title');
    } finally {
      await pageC.close();
    }
  });

  await step('hub restarts on the same port and data dir: A is live again with the same state', async () => {
    hub = startHub(port, dataDir);
    await waitHealthy(hub, base);
    const ui = await waitFor('A live again', async () => {
      const u = await readUi(pageA);
      return u.state === 'live' && u;
    }, 15000);
    const http = await getRgb(base);
    check(http.seq === beforeStop.seq && http.r === beforeStop.r && http.g === beforeStop.g && http.b === beforeStop.b,
      `hub state after restart ${JSON.stringify(http)} differs from before ${JSON.stringify(beforeStop)}`);
    check(ui.seq === http.seq && ui.r === http.r && ui.g === http.g && ui.b === http.b,
      `A shows ${JSON.stringify(ui)} after resync, hub has ${JSON.stringify(http)}`);
    await waitFor('B live again', async () => (await readUi(pageB)).state === 'live', 15000);
  });

  await step('API key: wrong/missing key shows "auth failed", saving the key in A goes live', async () => {
    const exit = await stopHub(hub);
    check(exit.code === 0, `hub exit ${JSON.stringify(exit)}`);
    const key = `k-${Math.random().toString(36).slice(2)}`;
    hub = startHub(port, dataDir, { DMX_API_KEY: key });
    await waitHealthy(hub, base);
    for (const page of [pageA, pageB]) {
      await waitFor('auth failed', async () => {
        const u = await readUi(page);
        return u.state === 'auth' && /auth failed/.test(u.statusText);
      }, 15000);
    }
    await pageB.screenshot({ path: path.join(ARTIFACTS, 'phone-auth-failed.png') });
    check(await pageA.evaluate(() => document.getElementById('conn-details').open),
      'the Connection panel should open by itself on auth failure');
    await pageA.fill('#api-key', key);
    await pageA.click('#key-form button');
    await waitFor('A live with the key', async () => (await readUi(pageA)).state === 'live', 5000);
    const stored = await pageA.evaluate(() => localStorage.getItem('showhub.apiKey'));
    check(stored === key, `localStorage holds ${stored}`);
    const url = new URL(wsUrlsA.at(-1));
    check(url.pathname === '/ws' && url.searchParams.get('token') === key, `A connected to ${url}`);
    // The key works for changes too.
    const before = await getRgb(base);
    await pageA.focus('#r-range');
    await pageA.keyboard.press('ArrowLeft');
    await waitFor('change with key applied', async () => (await getRgb(base)).seq > before.seq);
    check((await readUi(pageB)).state === 'auth', 'B (no key) must stay out');
  });

  await step('no uncaught errors in the pages', async () => {
    check(pageErrors.length === 0, pageErrors.join('; '));
  });

  await finalStop(hub, dataDir);
}

await run(main, { budgetMs: TOTAL_BUDGET_MS });
