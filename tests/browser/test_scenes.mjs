// Browser test of the scenes page (web/scenes.html) against the real hub
// binary, a real mosquitto on a free loopback port and tools/devsim
// answering scene feedback for room1 (one simulated ESP32 node). A laptop
// (1280 x 800) and a phone (375 x 812) page watch the same hub: a broken
// scene file is listed with its error; a scene is made in the phone's
// editor (action table and JSON), a bad t_ms gets the hub's validation
// error next to its field, the fixed scene is saved and shows on the
// laptop; a run's actions turn ok live (feedback latency, the histogram),
// local media "simulated"; a run in a busy room gets the conflict and its
// Restart; Stop; error feedback in red; delete with a second tap; the
// simulation banner while the broker is down. Screenshots go to a temp dir
// kept after the test (its path is logged), or to $HUB_ARTIFACTS when set.
//   SHOWHUB_BIN=build/showhub node tests/browser/test_scenes.mjs
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import {
  ARTIFACTS, BIN, REPO, check, finalStop, freePort, getJson, hubStarter, loadChromium, log,
  openPages, run, sleep, step, waitFor, waitHealthy,
} from './harness.mjs';

const TOTAL_BUDGET_MS = 240000;
const MOSQUITTO = process.env.MOSQUITTO || '/usr/sbin/mosquitto';
const PYTHON = '/usr/bin/python3';
const DEVSIM = path.join(REPO, 'tools/devsim/devsim.py');
const FEEDBACK_DELAY_MS = 300; // long enough to see "sent" before "ok"
const PHONE = { width: 375, height: 812 };
const startHub = hubStarter('scenes-hub');
const SHOTS = process.env.HUB_ARTIFACTS ? ARTIFACTS : fs.mkdtempSync(path.join(os.tmpdir(), 'showhub-scenes-shots-'));

// ---- mosquitto and devsim --------------------------------------------------------------

const procs = new Set();
const tmpDirs = new Set();

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.setTimeout(300, () => {
      s.destroy();
      resolve(false);
    });
  });
}

let mosqRuns = 0;
async function startMosquitto(port) {
  check(fs.existsSync(MOSQUITTO), `mosquitto not found at ${MOSQUITTO} (apt-get install mosquitto)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'showhub-scenes-mosq-'));
  tmpDirs.add(dir);
  const conf = path.join(dir, 'mosquitto.conf');
  const lines = [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'set_tcp_nodelay true'];
  if (process.getuid && process.getuid() === 0) lines.push('user root');
  fs.writeFileSync(conf, `${lines.join('\n')}\n`);
  const logPath = path.join(ARTIFACTS, `scenes-mosquitto-${++mosqRuns}.log`);
  const out = fs.openSync(logPath, 'w');
  const child = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', out, out] });
  fs.closeSync(out);
  procs.add(child);
  child.on('exit', () => procs.delete(child));
  await waitFor(`mosquitto on ${port}`, async () => {
    if (child.exitCode !== null) throw new Error(`mosquitto exited: ${fs.readFileSync(logPath, 'utf8')}`);
    return portOpen(port);
  }, 10000);
  return { child, port };
}

// One ESP32 node answering room1's scene messages on room1/status.
function startDevsim(mqttPort) {
  const args = [DEVSIM, '--host', '127.0.0.1', '--port', String(mqttPort), '--count', '0', '--seed', '1',
    '--feedback-room', 'room1', '--feedback-delay', String(FEEDBACK_DELAY_MS), '--control', 'stdin',
    '--reconnect-max', '1'];
  const errPath = path.join(ARTIFACTS, 'scenes-devsim.err');
  const err = fs.openSync(errPath, 'w');
  const child = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', err] });
  fs.closeSync(err);
  procs.add(child);
  child.on('exit', () => procs.delete(child));
  const sim = { child, events: [], replies: [] };
  const outLog = fs.createWriteStream(path.join(ARTIFACTS, 'scenes-devsim.log'));
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    outLog.write(`${line}\n`);
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    if ('cmd' in msg && 'ok' in msg) sim.replies.push(msg);
    else sim.events.push(msg);
  });
  sim.control = async (line) => {
    const n = sim.replies.length;
    child.stdin.write(`${line}\n`);
    const r = await waitFor(`devsim reply to "${line}"`, () => sim.replies.length > n && sim.replies[n], 5000);
    check(r.ok, `devsim refused "${line}": ${JSON.stringify(r)}`);
  };
  // Every message devsim got has had its answer (a late answer would resolve
  // the next pending action of the room, whichever run it belongs to).
  sim.settled = () => waitFor('devsim answered everything', () => {
    const got = sim.events.filter((e) => e.event === 'feedback_received').length;
    return got === sim.events.filter((e) => e.event === 'feedback_sent').length;
  }, 5000, 20);
  sim.ready = () => waitFor('devsim ready', () => {
    if (child.exitCode !== null) throw new Error(`devsim exited: ${fs.readFileSync(errPath, 'utf8')}`);
    return sim.events.find((e) => e.event === 'ready');
  }, 15000);
  return sim;
}

function killOurs() {
  for (const p of procs) p.kill('SIGKILL');
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
}

// ---- page helpers ----------------------------------------------------------------------

const RECORD_SENDS = () => {
  const orig = WebSocket.prototype.send;
  window.__sent = [];
  WebSocket.prototype.send = function (data) {
    window.__sent.push({ t: performance.now(), data: String(data) });
    return orig.call(this, data);
  };
};

// What a user sees on the scenes page.
function readUi(page) {
  return page.evaluate(() => {
    const $ = (id) => document.getElementById(id);
    const vis = (e) => !!e && !e.closest('[hidden]') && e.getClientRects().length > 0;
    const txt = (e) => (e ? e.textContent.trim() : '');
    const scenes = {};
    for (const li of document.querySelectorAll('#scene-list li.scene')) {
      scenes[li.dataset.name] = {
        room: txt(li.querySelector('.badge.room')),
        facts: txt(li.querySelector('.s-facts')),
        running: li.dataset.running === 'true',
        runningBadge: vis(li.querySelector('.badge[data-status="running"]')),
        broken: li.dataset.broken === 'true',
        error: vis(li.querySelector('.s-error')) ? txt(li.querySelector('.s-error')) : '',
        answer: vis(li.querySelector('.s-answer')) ? txt(li.querySelector('.s-answer')) : '',
      };
    }
    const runs = [...document.querySelectorAll('#run-list article.run')].map((a) => ({
      id: a.dataset.id,
      status: a.dataset.status,
      scene: txt(a.querySelector('.r-name')),
      sim: vis(a.querySelector('.badge.sim')),
      open: a.querySelector('details').open,
      actions: [...a.querySelectorAll('tr.ra')].map((tr) => {
        const b = tr.querySelector('.badge');
        return {
          i: Number(tr.dataset.i),
          status: tr.dataset.status,
          colour: b ? getComputedStyle(b).color : '',
          latency: txt(tr.querySelector('.ra-lat')),
          late: txt(tr.querySelector('.ra-late')),
          error: txt(tr.querySelector('.ra-err')),
        };
      }),
    }));
    const err = $('ed-error');
    return {
      status: $('status').dataset.state,
      seq: Number(txt($('seq'))) || 0,
      scenes,
      info: txt($('scenes-info')),
      runs,
      fb: txt($('fb-summary')),
      hist: [...document.querySelectorAll('#fb-hist .hcol')].map((c) => Number(c.dataset.count)),
      sim: vis($('sim-banner')) ? txt($('sim-banner')) : '',
      editor: vis($('editor-card')),
      edHeading: txt($('editor-h')),
      edRows: [...document.querySelectorAll('#ed-rows tr.act')].map((tr) => ({
        t: tr.querySelector('.a-t') ? tr.querySelector('.a-t').value : null,
        kind: tr.querySelector('.a-kind') ? tr.querySelector('.a-kind').value : null,
        target: tr.querySelector('.a-target') ? tr.querySelector('.a-target').value : null,
        value: tr.querySelector('.a-value') ? tr.querySelector('.a-value').value : null,
        invalid: [...tr.querySelectorAll('[aria-invalid="true"]')].map((e) => e.className),
      })),
      edError: vis(err) ? { field: err.dataset.field, text: txt($('ed-error-text')), head: txt(err.querySelector('.ed-error-head')) } : null,
      edAnswer: vis($('ed-answer')) ? txt($('ed-answer')) : '',
      json: $('ed-json').value,
      toast: $('toast').classList.contains('show') ? txt($('toast')) : '',
    };
  });
}

const runsOf = (ui, scene) => ui.runs.filter((r) => r.scene === scene);

async function shoot(pages, name) {
  const [a, b] = pages;
  await a.screenshot({ path: path.join(SHOTS, `scenes-laptop-${name}.png`), fullPage: true });
  await b.screenshot({ path: path.join(SHOTS, `scenes-phone-${name}.png`), fullPage: true });
}

const RED = 'rgb(255, 107, 107)';
const GREEN = 'rgb(61, 220, 132)';

// ---- the test --------------------------------------------------------------------------

async function main() {
  const chromium = await loadChromium();
  const mqttPort = await freePort();
  let broker = await startMosquitto(mqttPort);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'showhub-scenes-'));
  fs.mkdirSync(path.join(dataDir, 'scenes'));
  fs.writeFileSync(path.join(dataDir, 'scenes', 'broken.scene.json'),
    '{"room": "room9", "actions": [{"t_ms": "soon", "topic": "room9/light", "message": "ON"}]}\n');
  const hubEnv = {
    DMX_MQTT_ENABLED: 'true',
    DMX_MQTT_HOST: '127.0.0.1',
    DMX_MQTT_PORT: String(mqttPort),
    DMX_MQTT_CLIENT_ID: `showhub-scenes-${process.pid}`,
    SCENE_FEEDBACK_TIMEOUT_MS: '1000',
  };
  log(`hub ${BIN} on ${base}, mosquitto on ${mqttPort}, data ${dataDir}, screenshots ${SHOTS}`);
  const hub = startHub(port, dataDir, hubEnv);
  await waitHealthy(hub, base);
  await waitFor('hub connected to the broker', async () => (await fetch(`${base}/readyz`)).status === 200, 10000);
  const sim = startDevsim(mqttPort);
  await sim.ready();

  const { pageA, pageB, pageErrors } = await openPages(chromium, RECORD_SENDS, { phone: PHONE });
  const pages = [pageA, pageB];
  for (const page of pages) await page.goto(`${base}/scenes.html`);

  await step('both pages go live (hello with room scenes) and list the broken file with its error', async () => {
    for (const page of pages) await waitFor('live', async () => (await readUi(page)).status === 'live', 10000);
    const hello = (await pageA.evaluate(() => window.__sent)).map((s) => JSON.parse(s.data)).find((m) => m.type === 'hello');
    check(hello && hello.rooms.includes('scenes'), `hello ${JSON.stringify(hello)}`);
    const hubList = await getJson(base, '/api/v1/scenes');
    const hubBroken = hubList.scenes.find((s) => s.name === 'broken');
    check(hubBroken && hubBroken.error, `hub list ${JSON.stringify(hubList)}`);
    for (const page of pages) {
      const ui = await waitFor('broken listed', async () => {
        const u = await readUi(page);
        return u.scenes.broken && u;
      }, 5000);
      const b = ui.scenes.broken;
      check(b.broken && b.error === hubBroken.error && /t_ms/.test(b.error), `broken row ${JSON.stringify(b)}`);
      check(ui.sim === '', `simulation banner with the broker up: "${ui.sim}"`);
    }
    await shoot(pages, '1-list');
  });

  await step('phone: a new scene in the action table; a bad t_ms gets the hub\'s error next to its field', async () => {
    await pageB.getByRole('button', { name: 'New scene' }).click();
    await pageB.getByLabel('Name', { exact: true }).fill('room1_intro');
    await pageB.getByLabel('Room', { exact: true }).fill('room1');
    await pageB.getByLabel('Action 1 topic').fill('room1/light');
    await pageB.getByLabel('Action 1 message').fill('ON');
    await pageB.getByRole('button', { name: 'Add action' }).click();
    await pageB.getByLabel('Action 2 time (ms)').fill('-5');
    await pageB.getByLabel('Action 2 topic').fill('room1/audio');
    await pageB.getByLabel('Action 2 message').fill('intro.mp3');
    const json = JSON.parse((await readUi(pageB)).json);
    check(json.room === 'room1' && json.actions.length === 2 && json.actions[1].t_ms === -5
      && json.actions[1].topic === 'room1/audio', `the JSON follows the table: ${JSON.stringify(json)}`);
    await pageB.getByRole('button', { name: 'Save' }).click();
    const ui = await waitFor('the validation error', async () => {
      const u = await readUi(pageB);
      return u.edError && u;
    }, 5000);
    check(ui.edError.field === 'actions[1].t_ms' && /actions\[1\]\.t_ms must be an integer 0\.\.86400000/.test(ui.edError.text),
      `error ${JSON.stringify(ui.edError)}`);
    check(/at actions\[1\]\.t_ms/.test(ui.edError.head), `error head "${ui.edError.head}"`);
    check(ui.edRows[1].invalid.includes('a-t') && ui.edRows[0].invalid.length === 0, `marked ${JSON.stringify(ui.edRows)}`);
    check(await pageB.evaluate(() => document.activeElement.getAttribute('aria-label')) === 'Action 2 time (ms)',
      'focus is not on the bad field');
    const res = await fetch(`${base}/api/v1/scenes/room1_intro`);
    check(res.status === 404, `the refused scene exists: ${res.status}`);
    await pageB.screenshot({ path: path.join(SHOTS, 'scenes-phone-2-validation.png'), fullPage: true });
  });

  await step('phone: fix t_ms, add a third action in the JSON (the table follows), save; the laptop lists it', async () => {
    await pageB.getByLabel('Action 2 time (ms)').fill('500');
    let ui = await readUi(pageB);
    check(ui.edRows[1].invalid.length === 0, 'the mark stays after the fix');
    const scene = JSON.parse(ui.json);
    scene.actions.push({ t_ms: 900, topic: 'room1/steam', message: 'ON' });
    await pageB.getByLabel('Scene JSON').fill(JSON.stringify(scene, null, 2));
    ui = await waitFor('table has 3 rows', async () => {
      const u = await readUi(pageB);
      return u.edRows.length === 3 && u;
    }, 3000);
    check(ui.edRows[2].t === '900' && ui.edRows[2].target === 'room1/steam' && ui.edRows[2].kind === 'topic', `row 3 ${JSON.stringify(ui.edRows[2])}`);
    await pageB.getByRole('button', { name: 'Save' }).click();
    ui = await waitFor('saved', async () => {
      const u = await readUi(pageB);
      return /^Saved room1_intro/.test(u.edAnswer) && u;
    }, 5000);
    check(!ui.edError && ui.edHeading === 'Edit scene room1_intro', `after save ${JSON.stringify([ui.edError, ui.edHeading])}`);
    const hubScene = await getJson(base, '/api/v1/scenes/room1_intro');
    check(hubScene.room === 'room1' && hubScene.actions.length === 3 && hubScene.actions[1].t_ms === 500
      && hubScene.actions[1].message === 'intro.mp3', `hub ${JSON.stringify(hubScene)}`);
    const a = await waitFor('laptop lists room1_intro', async () => {
      const u = await readUi(pageA);
      return u.scenes.room1_intro && u.scenes.room1_intro;
    }, 5000);
    check(a.room === 'room1' && a.facts === '3 actions · 0.9 s' && !a.running, `laptop row ${JSON.stringify(a)}`);
    await shoot(pages, '3-saved');
  });

  await step('run from the laptop: each action\'s status moves live on both pages to ok (latency) / simulated (local media)', async () => {
    const fbBefore = await getJson(base, '/api/v1/scenes/runs');
    await pageA.getByRole('button', { name: 'Run room1_intro' }).click();
    // Live: action 0 ok while action 2 (t 900 ms) has not fired yet.
    const mid = await waitFor('a run in progress on the phone', async () => {
      const r = runsOf(await readUi(pageB), 'room1_intro')[0];
      return r && r.status === 'running' && r.actions[0].status === 'ok' && r.actions[2].status === 'pending' && r;
    }, 5000, 20);
    check(mid.actions.length === 3, `actions ${JSON.stringify(mid.actions)}`);
    const seenSent = await waitFor('laptop sees action 2 sent (before its feedback)', async () => {
      const r = runsOf(await readUi(pageA), 'room1_intro')[0];
      return r && (r.actions[2].status === 'sent' || r.actions[2].status === 'ok') && r.actions[2].status;
    }, 5000, 20);
    log(`     action 2 seen as ${seenSent} first`);
    for (const [i, page] of pages.entries()) {
      const r = await waitFor(`page ${'AB'[i]}: run finished with outcomes`, async () => {
        const x = runsOf(await readUi(page), 'room1_intro')[0];
        return x && x.status === 'finished' && x.actions.every((act) => act.status !== 'sent' && act.status !== 'pending') && x;
      }, 5000);
      const st = r.actions.map((x) => x.status);
      check(JSON.stringify(st) === '["ok","simulated","ok"]', `statuses ${st}`);
      check(r.actions[0].colour === GREEN && /^\d+\.\d ms$/.test(r.actions[0].latency), `action 0 ${JSON.stringify(r.actions[0])}`);
      const lat = Number.parseFloat(r.actions[0].latency);
      check(lat >= FEEDBACK_DELAY_MS - 50 && lat < 1000, `latency ${lat}`);
      check(/^\+\d+\.\d ms$/.test(r.actions[1].late), `late ${r.actions[1].late}`);
      check(!r.sim && r.open, `run ${JSON.stringify(r)}`);
    }
    const hubRuns = await getJson(base, '/api/v1/scenes/runs');
    const hubRun = hubRuns.runs.find((x) => x.scene === 'room1_intro');
    check(hubRun.actions.map((x) => x.status).join() === 'ok,simulated,ok', `hub run ${JSON.stringify(hubRun)}`);
    check(hubRuns.feedback.ok === fbBefore.feedback.ok + 2, `hub feedback ${JSON.stringify(hubRuns.feedback)}`);
    for (const page of pages) {
      await waitFor('histogram has the 2 latencies', async () => {
        const u = await readUi(page);
        return u.hist.reduce((s, x) => s + x, 0) === hubRuns.feedback.counts.reduce((s, x) => s + x, 0)
          && u.hist.join() === hubRuns.feedback.counts.join() && /^ok 2 · error 0 · timeout 0/.test(u.fb);
      }, 3000);
    }
    await shoot(pages, '4-run-ok');
  });

  await step('a run in a busy room: the phone gets the conflict, Restart stops the other scene and starts this one', async () => {
    const put = await fetch(`${base}/api/v1/scenes/room1_long`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ room: 'room1', actions: [{ t_ms: 0, topic: 'room1/light', message: 'DIM' }, { t_ms: 30000, topic: 'room1/light', message: 'OFF' }] }),
    });
    check(put.status === 200, `PUT room1_long ${put.status}`);
    await waitFor('laptop lists room1_long', async () => (await readUi(pageA)).scenes.room1_long, 5000);
    await pageA.getByRole('button', { name: 'Run room1_long' }).click();
    await waitFor('phone: room1_long running', async () => {
      const u = await readUi(pageB);
      return u.scenes.room1_long && u.scenes.room1_long.running && u.scenes.room1_long.runningBadge;
    }, 5000);
    await pageB.getByRole('button', { name: 'Run room1_intro' }).click();
    const ui = await waitFor('conflict answer', async () => {
      const u = await readUi(pageB);
      return /is running/.test(u.scenes.room1_intro.answer) && u;
    }, 5000);
    check(/^Room room1 is running room1_long\. Restart stops it and runs room1_intro\./.test(ui.scenes.room1_intro.answer),
      `answer "${ui.scenes.room1_intro.answer}"`);
    await pageB.screenshot({ path: path.join(SHOTS, 'scenes-phone-5-conflict.png'), fullPage: true });
    const nIntro = runsOf(ui, 'room1_intro').length;
    await pageB.getByRole('button', { name: 'Restart room1_intro' }).click();
    for (const [i, page] of pages.entries()) {
      await waitFor(`page ${'AB'[i]}: long stopped, a new intro run`, async () => {
        const u = await readUi(page);
        const long = runsOf(u, 'room1_long')[0];
        return long && long.status === 'stopped' && long.actions[1].status === 'skipped'
          && runsOf(u, 'room1_intro').length === nIntro + 1 && !u.scenes.room1_long.running;
      }, 5000);
    }
    const hubRuns = (await getJson(base, '/api/v1/scenes/runs')).runs;
    check(hubRuns.find((r) => r.scene === 'room1_long').status === 'stopped', 'hub: long not stopped');
    await shoot(pages, '5-restarted');
  });

  await step('Stop on the laptop ends a running scene: stopped, its later action skipped, on both pages', async () => {
    await waitFor('intro finished', async () => runsOf(await readUi(pageA), 'room1_intro')[0].status === 'finished', 5000);
    await pageB.getByRole('button', { name: 'Run room1_long' }).click();
    await waitFor('laptop: long running', async () => (await readUi(pageA)).scenes.room1_long.running, 5000);
    await pageA.getByRole('button', { name: 'Stop room1_long' }).first().click();
    for (const [i, page] of pages.entries()) {
      await waitFor(`page ${'AB'[i]}: stopped`, async () => {
        const u = await readUi(page);
        const long = runsOf(u, 'room1_long')[0];
        return long.status === 'stopped' && long.actions[1].status === 'skipped' && !u.scenes.room1_long.running
          && long.actions[1].error !== '';
      }, 5000);
    }
  });

  await step('error feedback (devsim answers ERROR) shows the actions in red', async () => {
    await sim.settled(); // the stopped run's last message is answered "OK" late
    await sim.control('feedback error');
    await pageB.getByRole('button', { name: 'Run room1_intro' }).click();
    const r = await waitFor('laptop: errors', async () => {
      const x = runsOf(await readUi(pageA), 'room1_intro')[0];
      return x && x.status === 'finished' && x.actions[2].status === 'error' && x;
    }, 6000);
    check(r.actions[0].status === 'error' && r.actions[0].colour === RED, `action 0 ${JSON.stringify(r.actions[0])}`);
    await sim.control('feedback ok');
    await waitFor('fb summary counts the errors', async () => /error 2/.test((await readUi(pageB)).fb), 3000);
    await shoot(pages, '6-errors');
  });

  await step('Delete asks for a second tap; then room1_long is gone on both pages and the hub', async () => {
    await pageA.getByRole('button', { name: 'Delete room1_long' }).click();
    await sleep(300);
    check((await readUi(pageB)).scenes.room1_long, 'deleted after one tap');
    await pageA.getByRole('button', { name: 'Confirm delete of room1_long' }).click();
    for (const page of pages) await waitFor('row gone', async () => !(await readUi(page)).scenes.room1_long, 5000);
    check((await fetch(`${base}/api/v1/scenes/room1_long`)).status === 404, 'hub still has room1_long');
  });

  await step('broker down: the red simulation banner on both pages; broker back: it goes', async () => {
    broker.child.kill('SIGTERM');
    await new Promise((r) => broker.child.once('exit', r));
    const t0 = Date.now();
    for (const [i, page] of pages.entries()) {
      const u = await waitFor(`page ${'AB'[i]}: banner`, async () => {
        const x = await readUi(page);
        return x.sim && x;
      }, 30000, 100);
      check(/Simulation mode/.test(u.sim) && /simulated, not sent/.test(u.sim), `banner "${u.sim}"`);
    }
    log(`     banner after ${Date.now() - t0} ms`);
    const colour = await pageA.evaluate(() => getComputedStyle(document.getElementById('sim-banner')).borderTopColor);
    check(colour === RED, `banner border ${colour}`);
    await pageB.getByRole('button', { name: 'Run room1_intro' }).click();
    await waitFor('a simulated run', async () => {
      const r = runsOf(await readUi(pageA), 'room1_intro')[0];
      return r.sim && r.status === 'finished' && r.actions.every((x) => x.status === 'simulated');
    }, 5000);
    await shoot(pages, '7-simulation');
    broker = await startMosquitto(mqttPort);
    for (const [i, page] of pages.entries()) {
      await waitFor(`page ${'AB'[i]}: banner gone`, async () => (await readUi(page)).sim === '', 40000, 100);
    }
  });

  await step(`phone layout: no horizontal scroll at ${PHONE.width} px, tap targets >= 40 px, every control named; no page errors`, async () => {
    await pageB.getByRole('button', { name: 'Edit room1_intro' }).click();
    await waitFor('editor open', async () => (await readUi(pageB)).editor, 3000);
    const r = await pageB.evaluate(() => {
      const unnamed = [];
      const small = [];
      for (const e of document.querySelectorAll('input, button, a, select, textarea, summary')) {
        if (e.closest('[hidden]') || e.closest('template') || e.getClientRects().length === 0) continue;
        if (e.classList.contains('skip')) continue;
        const name = e.getAttribute('aria-label') || e.textContent.trim() || (e.labels && e.labels[0] && e.labels[0].textContent.trim());
        if (!name) unnamed.push(e.outerHTML.slice(0, 80));
        const b = e.getBoundingClientRect();
        if (b.height < 40 || b.width < 40) small.push(`${e.tagName} "${name}" ${Math.round(b.width)}x${Math.round(b.height)}`);
      }
      return { width: document.scrollingElement.scrollWidth, unnamed, small };
    });
    check(r.width <= PHONE.width, `phone page is ${r.width} px wide`);
    check(r.unnamed.length === 0, `controls without a name: ${r.unnamed.join(' | ')}`);
    check(r.small.length === 0, `tap targets under 40 px: ${r.small.join(' | ')}`);
    await shoot(pages, '8-full');
    check(pageErrors.length === 0, pageErrors.join('; '));
  });

  sim.child.stdin.end();
  await Promise.race([new Promise((r) => sim.child.once('exit', r)), sleep(5000)]);
  await finalStop(hub, dataDir);
  broker.child.kill('SIGTERM');
}

await run(main, { budgetMs: TOTAL_BUDGET_MS, cleanup: killOurs });
