// Browser test of the web UI against the real hub binary.
// Two pages (desktop + phone); sliders, picker, coalescing, drag protection,
// hub restart, offline app shell and API-key auth. Screenshots go to
// $HUB_ARTIFACTS (default tests/browser/artifacts/).
//   SHOWHUB_BIN=build/showhub node tests/browser/test_ui.mjs
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const BIN = path.resolve(process.env.SHOWHUB_BIN || path.join(REPO, 'build/showhub'));
const WEB_DIR = path.join(REPO, 'web');
const ARTIFACTS = path.resolve(process.env.HUB_ARTIFACTS || path.join(HERE, 'artifacts'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TOTAL_BUDGET_MS = 85000;
const ULID_RE = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;
const LAUNCH = {
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-background-networking',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-component-update',
    '--disable-sync',
  ],
};

let passed = 0;
let failed = 0;
const hubs = new Set();
let browser = null;

function log(msg) {
  console.log(`[${((Date.now() - T0) / 1000).toFixed(1).padStart(5)}s] ${msg}`);
}
const T0 = Date.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

// Polls fn until it returns a truthy value; fails with the last value seen.
async function waitFor(desc, fn, timeoutMs = 5000, everyMs = 50) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = `error: ${err.message}`;
    }
    if (Date.now() >= end) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${desc}; last seen: ${JSON.stringify(last)}`);
    }
    await sleep(everyMs);
  }
}

async function step(name, fn) {
  const t = Date.now();
  try {
    await fn();
    passed++;
    log(`ok   ${name} (${Date.now() - t} ms)`);
    return true;
  } catch (err) {
    failed++;
    log(`FAIL ${name}: ${err.message}`);
    return false;
  }
}

// ---- hub process ------------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

let hubRuns = 0;
function startHub(port, dataDir, extraEnv = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('DMX_')) env[k] = v;
  Object.assign(env, {
    DMX_HTTP_HOST: '127.0.0.1',
    DMX_HTTP_PORT: String(port),
    DMX_MQTT_ENABLED: 'false',
    DMX_DATA_DIR: dataDir,
    DMX_WEB_DIR: WEB_DIR,
    DMX_LOG_LEVEL: 'info',
    ...extraEnv,
  });
  const logPath = path.join(ARTIFACTS, `hub-${++hubRuns}.log`);
  const out = fs.openSync(logPath, 'w');
  const child = spawn(BIN, [], { env, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  const hub = { child, port, logPath, exit: null };
  hub.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      hub.exit = { code, signal };
      hubs.delete(hub);
      resolve(hub.exit);
    });
    child.on('error', (err) => {
      hub.exit = { code: null, signal: null, error: err.message };
      hubs.delete(hub);
      resolve(hub.exit);
    });
  });
  hubs.add(hub);
  return hub;
}

function hubLogTail(hub, lines = 15) {
  try {
    return fs.readFileSync(hub.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function waitHealthy(hub, base) {
  await waitFor(
    'GET /healthz == 200',
    async () => {
      if (hub.exit) {
        throw new Error(`hub exited early ${JSON.stringify(hub.exit)}:\n${hubLogTail(hub)}`);
      }
      const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) });
      return res.status === 200;
    },
    10000,
  ).catch((err) => {
    throw new Error(`${err.message}\nhub log (${hub.logPath}):\n${hubLogTail(hub)}`);
  });
}

async function stopHub(hub, timeoutMs = 5000) {
  if (hub.exit) return hub.exit;
  hub.child.kill('SIGTERM');
  const res = await Promise.race([hub.exited, sleep(timeoutMs).then(() => null)]);
  if (res) return res;
  hub.child.kill('SIGKILL');
  await Promise.race([hub.exited, sleep(2000)]);
  return { code: null, signal: 'SIGKILL', timedOut: true };
}

async function getRgb(base) {
  const res = await fetch(`${base}/rgb`, { signal: AbortSignal.timeout(2000) });
  check(res.status === 200, `GET /rgb answered ${res.status}`);
  return res.json();
}

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

async function sentSince(page, index) {
  const all = await page.evaluate(() => window.__sent);
  return all.slice(index).map((s) => ({ t: s.t, msg: JSON.parse(s.data) }));
}

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
  // At most 30 per second: never more than 30 in any 1 s window. (Frame
  // times come from the browser's network thread, so the gap between two
  // neighbours jitters on a busy machine; the window is the contract.)
  for (let i = 0; i < frames.length; i++) {
    const inWindow = frames.filter((f) => f.t >= frames[i].t && f.t < frames[i].t + 1000).length;
    check(inWindow <= 30, `${what}: ${inWindow} sends within one second`);
  }
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
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  check(fs.existsSync(BIN), `hub binary not found: ${BIN} (set SHOWHUB_BIN)`);
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    throw new Error('playwright-core is not installed: run `npm install` in tests/browser (scripts/deps.sh does)');
  }

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'showhub-ui-'));
  log(`hub ${BIN} on ${base}, data ${dataDir}, artifacts ${ARTIFACTS}`);

  let hub = startHub(port, dataDir);
  await waitHealthy(hub, base);

  browser = await chromium.launch({ ...LAUNCH, timeout: 20000 });
  const ctxA = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const ctxB = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  for (const ctx of [ctxA, ctxB]) {
    ctx.setDefaultTimeout(5000);
    await ctx.addInitScript(RECORD_SENDS);
  }
  const pageA = await ctxA.newPage();
  const pageB = await ctxB.newPage();
  const pageErrors = [];
  const wsUrlsA = [];
  for (const [name, page] of [['A', pageA], ['B', pageB]]) {
    page.on('pageerror', (err) => pageErrors.push(`page ${name}: ${err.message}`));
  }
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
    await pageB.fill('#r-num', '300');
    await pageB.press('#r-num', 'Enter');
    const http = await waitFor('hub R=255', async () => {
      const h = await getRgb(base);
      return h.r === 255 && h.seq > before.seq && h;
    });
    check(http.g === before.g && http.b === before.b, `G/B changed: ${JSON.stringify(http)}`);
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

  const exit = await stopHub(hub);
  if (exit.code !== 0) {
    failed++;
    log(`FAIL final SIGTERM: hub exit ${JSON.stringify(exit)}`);
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
}

async function cleanup() {
  if (browser) {
    await Promise.race([browser.close().catch(() => {}), sleep(5000)]);
    browser = null;
  }
  for (const hub of [...hubs]) {
    hub.child.kill('SIGKILL');
  }
}

const watchdog = setTimeout(async () => {
  log(`FAIL watchdog: the test took longer than ${TOTAL_BUDGET_MS} ms`);
  failed++;
  await cleanup();
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(1);
}, TOTAL_BUDGET_MS);

process.on('exit', () => {
  for (const hub of hubs) hub.child.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    await cleanup();
    process.exit(1);
  });
}

try {
  await main();
} catch (err) {
  failed++;
  log(`FAIL ${err.message}`);
} finally {
  clearTimeout(watchdog);
  await cleanup();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
