// Shared harness of the browser tests (test_ui.mjs, test_console.mjs): paths,
// chromium, the step runner with its pass/fail counts, the hub process, the
// two standard pages, and the run loop with its time budget and cleanup.
// What a test checks stays in the test; only what every test needs the same
// way lives here, so a fix (say, to how the hub is stopped) reaches all.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '../..');
export const BIN = path.resolve(process.env.SHOWHUB_BIN || path.join(REPO, 'build/showhub'));
// HUB_WEB_DIR serves another copy of web/ (e.g. a broken one, to see the tests
// fail); DMX_* from the caller's environment never reach the hub.
export const WEB_DIR = path.resolve(process.env.HUB_WEB_DIR || path.join(REPO, 'web'));
export const ARTIFACTS = path.resolve(process.env.HUB_ARTIFACTS || path.join(HERE, 'artifacts'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const ULID_RE = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;
// Debian's chromium in a container: no sandbox, no GPU, nothing that phones
// home or updates itself behind the test's back.
export const LAUNCH = {
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

// ---- steps and their counts ------------------------------------------------------

let passed = 0;
let failed = 0;
const hubs = new Set(); // running hubs, killed on any way out
let browser = null;

const T0 = Date.now();
export function log(msg) {
  console.log(`[${((Date.now() - T0) / 1000).toFixed(1).padStart(5)}s] ${msg}`);
}
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

// A failure outside any step (the final SIGTERM, the watchdog).
export function fail(msg) {
  failed++;
  log(`FAIL ${msg}`);
}

// Polls fn until it returns a truthy value; fails with the last value seen.
export async function waitFor(desc, fn, timeoutMs = 5000, everyMs = 50) {
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

// Runs one named check; a failure is counted and logged and the test goes on.
export async function step(name, fn) {
  const t = Date.now();
  try {
    await fn();
    passed++;
    log(`ok   ${name} (${Date.now() - t} ms)`);
    return true;
  } catch (err) {
    fail(`${name}: ${err.message}`);
    return false;
  }
}

// ---- hub process ------------------------------------------------------------

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// startHub(port, dataDir, extraEnv) for one test: each start logs to
// ARTIFACTS/<logPrefix>-<n>.log, n counting from 1, so tests sharing an
// artifacts dir keep their logs apart.
export function hubStarter(logPrefix) {
  let hubRuns = 0;
  return function startHub(port, dataDir, extraEnv = {}) {
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
    const logPath = path.join(ARTIFACTS, `${logPrefix}-${++hubRuns}.log`);
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
  };
}

export function hubLogTail(hub, lines = 15) {
  try {
    return fs.readFileSync(hub.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function waitHealthy(hub, base) {
  await waitFor(
    'GET /healthz == 200',
    async () => {
      if (hub.exit) throw new Error(`hub exited early ${JSON.stringify(hub.exit)}:\n${hubLogTail(hub)}`);
      const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1000) });
      return res.status === 200;
    },
    10000,
  ).catch((err) => {
    throw new Error(`${err.message}\nhub log (${hub.logPath}):\n${hubLogTail(hub)}`);
  });
}

// SIGTERM, then SIGKILL if the hub is not gone within timeoutMs.
export async function stopHub(hub, timeoutMs = 5000) {
  if (hub.exit) return hub.exit;
  hub.child.kill('SIGTERM');
  const res = await Promise.race([hub.exited, sleep(timeoutMs).then(() => null)]);
  if (res) return res;
  hub.child.kill('SIGKILL');
  await Promise.race([hub.exited, sleep(2000)]);
  return { code: null, signal: 'SIGKILL', timedOut: true };
}

// The end of every test: the hub must still stop cleanly; the data dir goes.
export async function finalStop(hub, dataDir) {
  const exit = await stopHub(hub);
  if (exit.code !== 0) fail(`final SIGTERM: hub exit ${JSON.stringify(exit)}`);
  fs.rmSync(dataDir, { recursive: true, force: true });
}

export async function getJson(base, p) {
  const res = await fetch(`${base}${p}`, { signal: AbortSignal.timeout(2000) });
  check(res.status === 200, `GET ${p} answered ${res.status}`);
  return res.json();
}

// ---- browser and pages ---------------------------------------------------------

// Artifacts dir, hub binary and playwright-core, before anything starts.
export async function loadChromium() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  check(fs.existsSync(BIN), `hub binary not found: ${BIN} (set SHOWHUB_BIN)`);
  try {
    return (await import('playwright-core')).chromium;
  } catch {
    throw new Error('playwright-core is not installed: run `npm install` in tests/browser (scripts/deps.sh does)');
  }
}

// The browser (closed by cleanup) and two pages: A on a desktop, B on a phone,
// both with recordSends run before the page's own scripts. Uncaught page
// errors are collected in pageErrors. opts.phone: the phone's viewport
// (default 390 x 844).
export async function openPages(chromium, recordSends, opts = {}) {
  browser = await chromium.launch({ ...LAUNCH, timeout: 20000 });
  const ctxA = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const ctxB = await browser.newContext({
    viewport: opts.phone || { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  for (const ctx of [ctxA, ctxB]) {
    ctx.setDefaultTimeout(5000);
    await ctx.addInitScript(recordSends);
  }
  const pageA = await ctxA.newPage();
  const pageB = await ctxB.newPage();
  const pageErrors = [];
  for (const [name, page] of [['A', pageA], ['B', pageB]]) {
    page.on('pageerror', (err) => pageErrors.push(`page ${name}: ${err.message}`));
  }
  return { ctxA, ctxB, pageA, pageB, pageErrors };
}

// The frames a page sent from index on; the test's recordSends init script
// keeps them in window.__sent.
export async function sentSince(page, index) {
  const all = await page.evaluate(() => window.__sent);
  return all.slice(index).map((s) => ({ t: s.t, msg: JSON.parse(s.data) }));
}
export const sentCount = (page) => page.evaluate(() => window.__sent.length);

// At most 30 per second: never more than 30 frames in any 1 s window. (Frame
// times come from the browser's network thread, so the gap between two
// neighbours jitters on a busy machine; the window is the contract.)
export function checkAtMost30PerSecond(frames, what, noun) {
  for (let i = 0; i < frames.length; i++) {
    const inWindow = frames.filter((f) => f.t >= frames[i].t && f.t < frames[i].t + 1000).length;
    check(inWindow <= 30, `${what}: ${inWindow} ${noun} within one second`);
  }
}

// ---- running a test ----------------------------------------------------------------

// Runs main within budgetMs; whatever happens, closes the browser, kills the
// hubs, then calls cleanup (the test's own resources), prints the counts and
// exits 0 only if some step passed and none failed.
export async function run(main, { budgetMs, cleanup: extraCleanup = () => {} }) {
  async function cleanup() {
    if (browser) {
      await Promise.race([browser.close().catch(() => {}), sleep(5000)]);
      browser = null;
    }
    for (const hub of [...hubs]) hub.child.kill('SIGKILL');
    extraCleanup();
  }

  const watchdog = setTimeout(async () => {
    fail(`watchdog: the test took longer than ${budgetMs} ms`);
    await cleanup();
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(1);
  }, budgetMs);

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
    fail(err.message);
  } finally {
    clearTimeout(watchdog);
    await cleanup();
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}
