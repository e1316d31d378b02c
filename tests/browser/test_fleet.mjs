// Browser test of the fleet page (web/fleet.html) against the real hub
// binary, a real mosquitto on a free loopback port and tools/devsim (three
// simulated signage screens: device 0 crashed and with a failed service).
// A laptop and a phone page watch the same fleet: the devices appear with
// their presence; the crashed panel's Restart leads to a reboot command
// that reaches completed live (devsim reboots and comes back); Acknowledge
// empties the service_failed panel; a device's Restart app moves to
// completed; inline edits, the filter, the log view with its level filter,
// the broker-outage banner (silence all / resume all), delete with a
// second tap, a hub restart, and the API key. Every change made in one
// page is checked in the other and over REST. Screenshots of every step,
// at both sizes, go to $HUB_ARTIFACTS (default tests/browser/artifacts/).
//   SHOWHUB_BIN=build/showhub node tests/browser/test_fleet.mjs
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import {
  ARTIFACTS, BIN, REPO, check, finalStop, freePort, getJson, hubLogTail, hubStarter, loadChromium, log,
  openPages, run, sentCount, sentSince, sleep, step, stopHub, waitFor, waitHealthy,
} from './harness.mjs';

const TOTAL_BUDGET_MS = 240000;
const MOSQUITTO = process.env.MOSQUITTO || '/usr/sbin/mosquitto';
const PYTHON = '/usr/bin/python3';
const DEVSIM = path.join(REPO, 'tools/devsim/devsim.py');
const GRACE_S = 10;
// The hub's liveness pass runs every POLL_INTERVAL_SECONDS (1): a silent
// fleet is stale after the grace plus one pass; the outage alert follows.
const OUTAGE_WAIT_MS = 20000;
const startHub = hubStarter('fleet-hub'); // logs ARTIFACTS/fleet-hub-1.log, ...

// ---- mosquitto and devsim --------------------------------------------------------------

const procs = new Set(); // our mosquitto and devsim, killed on any way out
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

async function startMosquitto() {
  check(fs.existsSync(MOSQUITTO), `mosquitto not found at ${MOSQUITTO} (apt-get install mosquitto)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'showhub-fleet-mosq-'));
  tmpDirs.add(dir);
  const port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  const lines = [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'set_tcp_nodelay true'];
  if (process.getuid && process.getuid() === 0) lines.push('user root');
  fs.writeFileSync(conf, `${lines.join('\n')}\n`);
  const logPath = path.join(ARTIFACTS, 'fleet-mosquitto.log');
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

// devsim with --control stdin: events and control replies are JSON lines.
function startDevsim(mqttPort) {
  const args = [DEVSIM, '--host', '127.0.0.1', '--port', String(mqttPort), '--count', '3', '--seed', '1',
    '--heartbeat', '1', '--health', '1', '--control', 'stdin', '--service-failed', '1', '--crash', '1',
    '--reboot-delay', '1'];
  const errPath = path.join(ARTIFACTS, 'fleet-devsim.err');
  const err = fs.openSync(errPath, 'w');
  const child = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', err] });
  fs.closeSync(err);
  procs.add(child);
  child.on('exit', () => procs.delete(child));
  const sim = { child, events: [], replies: [], errPath };
  const outLog = fs.createWriteStream(path.join(ARTIFACTS, 'fleet-devsim.log'));
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
    return r;
  };
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

// Every frame the page sends.
const RECORD_SENDS = () => {
  const orig = WebSocket.prototype.send;
  window.__sent = [];
  WebSocket.prototype.send = function (data) {
    window.__sent.push({ t: performance.now(), data: String(data) });
    return orig.call(this, data);
  };
};

// What a user sees on the fleet page.
function readUi(page) {
  return page.evaluate(() => {
    const $ = (id) => document.getElementById(id);
    const vis = (e) => !!e && !e.closest('[hidden]') && e.getClientRects().length > 0;
    const txt = (e) => (e ? e.textContent.trim() : '');
    const devices = {};
    for (const tr of document.querySelectorAll('#device-rows tr.dev')) {
      devices[tr.dataset.id] = {
        shown: vis(tr),
        name: txt(tr.querySelector('.d-name')),
        presence: txt(tr.querySelector('.d-presence .badge')),
        alive: txt(tr.querySelector('.d-alive')),
        group: txt(tr.querySelector('.d-group')),
        process: txt(tr.querySelector('.d-proc .badge')),
        screen: txt(tr.querySelector('.d-proc .screen')),
        seen: txt(tr.querySelector('.d-seen time')),
        reconnects: Number(txt(tr.querySelector('.d-rc-count'))),
        inactive: tr.classList.contains('inactive'),
      };
    }
    const trackers = [...document.querySelectorAll('.trackers li.tracker')].map((li) => ({
      list: li.closest('[data-trackers]') ? `device:${li.closest('tr').dataset.id}` : li.parentElement.id,
      id: li.dataset.commandId || null,
      http: li.dataset.http || null,
      status: li.dataset.status,
      msg: txt(li.querySelector('.t-msg')),
      trail: txt(li.querySelector('.t-trail')),
    }));
    const commands = {};
    for (const li of document.querySelectorAll('#command-list li.cmd')) {
      commands[li.dataset.commandId] = {
        status: li.dataset.status, device: li.dataset.device, action: li.dataset.action,
        green: li.classList.contains('done'), red: li.classList.contains('bad'), text: txt(li),
      };
    }
    return {
      status: $('status').dataset.state,
      seq: Number($('seq').textContent) || 0,
      devices,
      count: txt($('devices-count')),
      crashed: [...document.querySelectorAll('#crashed-list li')].map((li) => ({ uuid: li.dataset.uuid, reason: li.dataset.reason })),
      crashedInfo: txt($('crashed-info')),
      crashedRed: $('crashed').classList.contains('has-items'),
      sf: vis($('sf')) ? [...document.querySelectorAll('#sf-list li')].map((li) => li.dataset.uuid) : null,
      sfAnswer: vis($('sf-answer')) ? txt($('sf-answer')) : '',
      outage: vis($('outage-banner')) ? txt($('outage-banner')) : '',
      alerts: [...document.querySelectorAll('#alert-list li')].map((li) => li.dataset.id),
      alertsCount: txt($('alerts-count')),
      trackers,
      commands,
      logInfo: txt($('logs-info')),
      logs: [...document.querySelectorAll('#log-list li')].map((li) => ({ level: li.dataset.level, msg: txt(li.querySelector('.l-msg')) })),
      auth: vis($('auth-banner')),
      announce: txt($('announce')),
      toast: $('toast').classList.contains('show') ? txt($('toast')) : '',
    };
  });
}

const detailRow = (page, id) => page.locator(`tr.detail-row[data-id="${id}"]`);

async function openDetails(page, id, name) {
  const row = detailRow(page, id);
  if (await row.isVisible().catch(() => false)) return row;
  await page.getByRole('button', { name: `Details of ${name}` }).click();
  await row.waitFor({ state: 'visible', timeout: 3000 });
  return row;
}

async function shoot(pages, name) {
  const [a, b] = pages;
  await a.screenshot({ path: path.join(ARTIFACTS, `fleet-laptop-${name}.png`), fullPage: true });
  await b.screenshot({ path: path.join(ARTIFACTS, `fleet-phone-${name}.png`) });
}

// ---- the test --------------------------------------------------------------------------

async function main() {
  const chromium = await loadChromium();
  const broker = await startMosquitto();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'showhub-fleet-'));
  tmpDirs.add(dataDir);
  const hubEnv = {
    DMX_MQTT_ENABLED: 'true',
    DMX_MQTT_HOST: '127.0.0.1',
    DMX_MQTT_PORT: String(broker.port),
    DMX_MQTT_CLIENT_ID: `showhub-fleet-${process.pid}`,
    POLL_INTERVAL_SECONDS: '1',
    HEARTBEAT_GRACE_SECONDS: String(GRACE_S),
  };
  log(`hub ${BIN} on ${base}, mosquitto on ${broker.port}, data ${dataDir}, artifacts ${ARTIFACTS}`);
  let hub = startHub(port, dataDir, hubEnv);
  await waitHealthy(hub, base);
  const sim = startDevsim(broker.port);
  const ready = await sim.ready();
  const uuids = ready.uuids;
  check(Array.isArray(uuids) && uuids.length === 3, `devsim ready without 3 uuids: ${JSON.stringify(ready)}`);
  const name = (i) => `devsim-${i}`;
  log(`devsim devices: ${uuids.join(' ')}`);
  await waitFor('hub registers the 3 devices', async () => (await getJson(base, '/api/v1/devices')).devices.length === 3, 10000);

  const { pageA, pageB, pageErrors } = await openPages(chromium, RECORD_SENDS);
  const pages = [pageA, pageB];
  for (const page of pages) await page.goto(`${base}/fleet.html`);

  await step('both pages go live (hello with rooms devices, commands) and list the 3 devices online', async () => {
    for (const page of pages) await waitFor('live', async () => (await readUi(page)).status === 'live', 10000);
    const hellos = (await sentSince(pageA, 0)).filter((f) => f.msg.type === 'hello').map((f) => f.msg);
    check(hellos.length >= 1 && ['devices', 'commands'].every((r) => hellos[0].rooms.includes(r)),
      `A's hello: ${JSON.stringify(hellos)}`);
    const hubDevices = (await getJson(base, '/api/v1/devices')).devices;
    for (const [i, page] of pages.entries()) {
      const ui = await waitFor(`page ${'AB'[i]} shows 3 online devices`, async () => {
        const u = await readUi(page);
        // presence comes with discovery; the screen with the first health message (its timer
        // starts at a random point of its 1 s interval)
        return uuids.every((id) => u.devices[id] && u.devices[id].presence === 'online' &&
          u.devices[id].alive === 'alive' && u.devices[id].screen !== 'screen UNKNOWN') && u;
      }, 8000);
      check(Object.keys(ui.devices).length === hubDevices.length, `page ${'AB'[i]} rows ${Object.keys(ui.devices)}`);
      uuids.forEach((id, k) => {
        const d = ui.devices[id];
        check(d.name === name(k), `row ${id} named "${d.name}", want ${name(k)}`);
        check(d.shown, `row ${id} not visible`);
        check(d.seen === 'just now' || /s ago$/.test(d.seen), `row ${id} last seen "${d.seen}"`);
      });
      check(ui.devices[uuids[0]].process === 'crashed', `device 0 process "${ui.devices[uuids[0]].process}"`);
      check(ui.devices[uuids[1]].process === 'running' && ui.devices[uuids[1]].screen === 'screen OK',
        `device 1 process "${ui.devices[uuids[1]].process}" "${ui.devices[uuids[1]].screen}"`);
      check(ui.count === '3 devices · 3 online · 3 alive', `count "${ui.count}"`);
    }
    await shoot(pages, '1-devices');
  });

  await step('the crashed panel lists device 0 (process_crashed) in red on both pages, as GET /api/clients/crashed', async () => {
    const hubCrashed = await getJson(base, '/api/clients/crashed');
    check(hubCrashed.crashed_count === 1 && hubCrashed.clients[0].uuid === uuids[0], `hub: ${JSON.stringify(hubCrashed)}`);
    for (const page of pages) {
      const ui = await waitFor('crashed row', async () => {
        const u = await readUi(page);
        return u.crashed.length === 1 && u;
      }, 5000);
      check(ui.crashed[0].uuid === uuids[0] && ui.crashed[0].reason === 'process_crashed', `crashed ${JSON.stringify(ui.crashed)}`);
      check(ui.crashedRed, 'crashed panel not red');
      check(ui.alerts.includes(`process_crashed:${uuids[0]}`), `alerts ${ui.alerts}`);
    }
  });

  await step('service_failed panel lists device 0; Acknowledge on the phone empties it on both pages and on the hub', async () => {
    for (const page of pages) {
      await waitFor('service_failed row', async () => {
        const u = await readUi(page);
        return u.sf && u.sf.length === 1 && u.sf[0] === uuids[0];
      }, 5000);
    }
    await shoot(pages, '2-panels');
    await pageB.getByRole('button', { name: `Acknowledge the service failure of ${name(0)}` }).click();
    const ui = await waitFor('B shows the answer', async () => {
      const u = await readUi(pageB);
      return u.sfAnswer && u;
    }, 5000);
    check(ui.sfAnswer === `${name(0)}: 200 service_failed Flag gelöscht.`, `answer "${ui.sfAnswer}"`);
    for (const [i, page] of pages.entries()) {
      await waitFor(`page ${'AB'[i]}: service_failed panel hidden`, async () => (await readUi(page)).sf === null, 5000);
    }
    const hubSf = await getJson(base, '/api/clients/service_failed');
    check(hubSf.service_failed_count === 0, `hub still lists ${JSON.stringify(hubSf)}`);
    await pageB.screenshot({ path: path.join(ARTIFACTS, 'fleet-phone-3-acknowledged.png') });
  });

  let rebootId = null;
  await step('Restart in the crashed panel: 202, then the reboot command reaches completed live (devsim reboots), the crash clears', async () => {
    const t0 = Date.now();
    await pageA.getByRole('button', { name: `Restart ${name(0)} (reboot host)` }).click();
    const first = await waitFor('A shows the 202 answer', async () => {
      const t = (await readUi(pageA)).trackers.find((x) => x.list === 'crashed-actions');
      return t && t.http && t;
    }, 5000);
    check(first.http === '202' && first.msg === `202 Command published for client ${uuids[0]}`, `answer ${JSON.stringify(first)}`);
    rebootId = first.id;
    check(/^[0-9a-f-]{36}$/.test(rebootId || ''), `tracker without a command id: ${JSON.stringify(first)}`);
    const done = await waitFor('A: the restart tracker reaches completed', async () => {
      const t = (await readUi(pageA)).trackers.find((x) => x.id === rebootId);
      return t && t.status === 'completed' && t;
    }, 20000, 25);
    // Every status the hub went through, in order (the page records each patch).
    check(/published → ack received → execution started → completed$/.test(done.trail), `trail "${done.trail}"`);
    log(`     reboot ${rebootId}: ${done.trail} in ${Date.now() - t0} ms`);
    const cmd = await getJson(base, `/api/clients/commands/${rebootId}`);
    check(cmd.status === 'completed' && cmd.action === 'reboot_host' && cmd.reason === 'process_crashed', `hub: ${JSON.stringify(cmd)}`);
    for (const [i, page] of pages.entries()) {
      const u = await waitFor(`page ${'AB'[i]}: command list shows it completed, green`, async () => {
        const x = await readUi(page);
        const c = x.commands[rebootId];
        return c && c.status === 'completed' && x;
      }, 5000);
      const c = u.commands[rebootId];
      check(c.green && !c.red && c.device === uuids[0] && c.action === 'reboot_host', `command row ${JSON.stringify(c)}`);
      await waitFor(`page ${'AB'[i]}: crashed panel empty, device 0 running again with a reconnect`, async () => {
        const x = await readUi(page);
        const d = x.devices[uuids[0]];
        return x.crashed.length === 0 && !x.crashedRed && d.process === 'running' && d.reconnects >= 1 && d.presence === 'online';
      }, 20000);
    }
    check((await getJson(base, '/api/clients/crashed')).crashed_count === 0, 'hub still lists a crash');
    await shoot(pages, '4-restarted');
  });

  await step('Restart app from the device details on the phone: 202, status moves to completed on both pages', async () => {
    const row = await openDetails(pageB, uuids[1], name(1));
    await row.getByLabel('Reason').fill('fleet test');
    await row.getByRole('button', { name: 'Restart app' }).click();
    const t = await waitFor('B: tracker completed', async () => {
      const x = (await readUi(pageB)).trackers.find((y) => y.list === `device:${uuids[1]}`);
      return x && x.status === 'completed' && x;
    }, 15000, 25);
    check(t.http === '202' && t.id, `tracker ${JSON.stringify(t)}`);
    const u = await waitFor('A: command completed', async () => {
      const x = await readUi(pageA);
      return x.commands[t.id] && x.commands[t.id].status === 'completed' && x;
    }, 5000);
    check(u.commands[t.id].green && u.commands[t.id].action === 'restart_app', `A ${JSON.stringify(u.commands[t.id])}`);
    const hubCmds = (await getJson(base, `/api/v1/devices/${uuids[1]}/commands`)).commands;
    const c = hubCmds.find((x) => x.command_id === t.id);
    check(c && c.status === 'completed' && c.reason === 'fleet test', `hub ${JSON.stringify(c)}`);
    await waitFor('B announces the status to screen readers', async () => /Restart app · devsim-1: completed/.test((await readUi(pageB)).announce), 2000);
    await shoot(pages, '5-restart-app');
  });

  await step('safety lockout: the 4th restart of a device within 15 min shows the 429 answer and blocked_safety in red', async () => {
    const row = await openDetails(pageB, uuids[1], name(1));
    const trackers = async () => (await readUi(pageB)).trackers.filter((y) => y.list === `device:${uuids[1]}`);
    for (let i = 0; i < 3; i++) {
      const n = (await trackers()).length;
      await row.getByRole('button', { name: 'Restart app' }).click();
      const t = await waitFor(`restart ${i + 2} answered`, async () => {
        const all = await trackers();
        return all.length > n && all[0].http && all[0];
      }, 5000);
      if (i < 2) {
        check(t.http === '202', `restart ${i + 2}: ${JSON.stringify(t)}`);
        await waitFor(`restart ${i + 2} completed`, async () => (await trackers())[0].status === 'completed', 10000);
        continue;
      }
      check(t.http === '429' && t.status === 'blocked_safety'
        && t.msg === '429 Neustart voruebergehend blockiert (Sicherheits-Lockout)', `4th restart: ${JSON.stringify(t)}`);
      for (const [k, page] of pages.entries()) {
        await waitFor(`page ${'AB'[k]}: the blocked command is red`, async () => {
          const c = (await readUi(page)).commands[t.id];
          return c && c.status === 'blocked_safety' && c.red && !c.green;
        }, 5000);
      }
    }
    await pageB.screenshot({ path: path.join(ARTIFACTS, 'fleet-phone-5b-lockout.png') });
  });

  await step('Reboot host and Shut down host ask for a second tap (Escape disarms; nothing is sent)', async () => {
    const row = await openDetails(pageA, uuids[2], name(2));
    const before = (await getJson(base, `/api/v1/devices/${uuids[2]}/commands`)).commands.length;
    for (const [label, confirm] of [['Reboot host', `Confirm reboot of ${name(2)}`], ['Shut down host', `Confirm shutdown of ${name(2)}`]]) {
      const b = row.getByRole('button', { name: label });
      await b.click();
      await row.getByRole('button', { name: confirm }).waitFor({ timeout: 2000 });
      await pageA.keyboard.press('Escape');
      await row.getByRole('button', { name: label }).waitFor({ timeout: 2000 });
    }
    await sleep(300);
    const after = (await getJson(base, `/api/v1/devices/${uuids[2]}/commands`)).commands.length;
    check(after === before, `a command was sent: ${before} -> ${after}`);
  });

  await step('inline edit of a description on the phone shows on the laptop and the hub', async () => {
    const row = await openDetails(pageB, uuids[1], name(1));
    await row.getByLabel('Description').fill('Lobby screen');
    await row.getByRole('button', { name: 'Save' }).click();
    await waitFor('A shows the new name', async () => (await readUi(pageA)).devices[uuids[1]].name === 'Lobby screen', 5000);
    const d = await getJson(base, `/api/v1/devices/${uuids[1]}`);
    check((d.description ?? (d.device && d.device.description)) === 'Lobby screen', `hub ${JSON.stringify(d).slice(0, 300)}`);
  });

  await step('inline edit of a group on the laptop shows on the phone and the hub (PUT {"group_id":3})', async () => {
    const row = await openDetails(pageA, uuids[2], name(2));
    await row.getByLabel('Group').fill('3');
    await row.getByRole('button', { name: 'Save' }).click();
    const answer = row.locator('[data-edit-answer]');
    await waitFor('A answers', async () => !/Saving/.test(await answer.textContent()) && (await answer.textContent()), 5000);
    const text = await answer.textContent();
    check(/^Saved/.test(text), `the hub refused the group: "${text}"`);
    await waitFor('B shows group 3', async () => (await readUi(pageB)).devices[uuids[2]].group === '3', 5000);
    const d = await getJson(base, `/api/v1/devices/${uuids[2]}`);
    check((d.group_id ?? (d.device && d.device.group_id)) === 3, `hub group_id ${JSON.stringify(d).slice(0, 200)}`);
  });

  await step('the Active switch: off shows "inactive" on the other page and the hub; on again', async () => {
    const row = await openDetails(pageA, uuids[2], name(2));
    await row.locator('[data-reset]').click();
    const sw = row.getByRole('switch', { name: 'Active' });
    for (const on of [false, true]) {
      await sw.setChecked(on);
      await row.getByRole('button', { name: 'Save' }).click();
      await waitFor(`B shows ${on ? 'active' : 'inactive'}`, async () => (await readUi(pageB)).devices[uuids[2]].inactive === !on, 5000);
      const d = await getJson(base, `/api/v1/devices/${uuids[2]}`);
      check((d.is_active ?? (d.device && d.device.is_active)) === on, `hub is_active ${JSON.stringify(d).slice(0, 200)}`);
    }
  });

  await step('the filter box narrows the table (by host, by status) and says how many are shown', async () => {
    await pageA.getByLabel('Filter').fill('devsim-2');
    let ui = await waitFor('one row', async () => {
      const u = await readUi(pageA);
      return Object.values(u.devices).filter((d) => d.shown).length === 1 && u;
    }, 3000);
    check(ui.devices[uuids[2]].shown && /^1 of 3 shown/.test(ui.count), `filter: ${ui.count}`);
    await pageA.getByLabel('Filter').fill('lobby');
    ui = await waitFor('lobby row', async () => {
      const u = await readUi(pageA);
      return u.devices[uuids[1]].shown && Object.values(u.devices).filter((d) => d.shown).length === 1 && u;
    }, 3000);
    await pageA.getByLabel('Filter').fill('');
    await waitFor('all rows', async () => Object.values((await readUi(pageA)).devices).every((d) => d.shown), 3000);
  });

  await step('log view: a devsim error log shows for device 0, the level filter hides and shows it', async () => {
    await sim.control('log 0 error boom');
    await sim.control('log 0 info all fine');
    await pageA.getByLabel('Device', { exact: true }).selectOption(uuids[0]);
    let ui = await waitFor('A shows boom', async () => {
      const u = await readUi(pageA);
      return u.logs.some((l) => l.msg === 'boom' && l.level === 'ERROR') && u.logs.some((l) => l.msg === 'all fine') && u;
    }, 8000);
    check(ui.logs[0].msg === 'all fine', `newest first: ${JSON.stringify(ui.logs.slice(0, 3))}`);
    await pageA.getByLabel('Level').selectOption('WARN');
    await waitFor('WARN: no boom', async () => {
      const u = await readUi(pageA);
      return !u.logs.some((l) => l.msg === 'boom') && /warn/.test(u.logInfo);
    }, 5000);
    await pageA.getByLabel('Level').selectOption('ERROR');
    ui = await waitFor('ERROR: boom only', async () => {
      const u = await readUi(pageA);
      return u.logs.length >= 1 && u.logs.every((l) => l.level === 'ERROR') && u.logs.some((l) => l.msg === 'boom') && u;
    }, 5000);
    const hubLogs = await getJson(base, `/api/v1/devices/${uuids[0]}/logs?level=ERROR&limit=100`);
    check(hubLogs.logs.length === ui.logs.length, `page ${ui.logs.length} entries, hub ${hubLogs.logs.length}`);
    // The phone opens the same log from the device's details.
    const row = await openDetails(pageB, uuids[0], name(0));
    await row.getByRole('button', { name: 'Show logs' }).click();
    await waitFor('B shows boom', async () => (await readUi(pageB)).logs.some((l) => l.msg === 'boom'), 8000);
    await shoot(pages, '6-logs');
  });

  await step(`silence all: the broker-outage banner within ${OUTAGE_WAIT_MS / 1000} s on both pages; resume all clears it`, async () => {
    const t0 = Date.now();
    await sim.control('silence all');
    for (const [i, page] of pages.entries()) {
      const u = await waitFor(`page ${'AB'[i]}: outage banner`, async () => {
        const x = await readUi(page);
        return x.outage && x;
      }, OUTAGE_WAIT_MS - (Date.now() - t0), 100);
      check(/Broker outage suspected/.test(u.outage) && u.alerts.includes('broker_outage_suspected'), `banner "${u.outage}" alerts ${u.alerts}`);
    }
    log(`     banner after ${Date.now() - t0} ms`);
    const alerts = await getJson(base, '/api/v1/alerts');
    check(alerts.broker_outage_suspected === true, `hub alerts ${JSON.stringify(alerts).slice(0, 300)}`);
    await shoot(pages, '7-outage');
    const t1 = Date.now();
    await sim.control('resume all');
    for (const [i, page] of pages.entries()) {
      await waitFor(`page ${'AB'[i]}: banner gone, devices alive`, async () => {
        const x = await readUi(page);
        return !x.outage && uuids.every((id) => x.devices[id].alive !== 'not alive');
      }, OUTAGE_WAIT_MS - (Date.now() - t1), 100);
    }
    log(`     banner cleared after ${Date.now() - t1} ms`);
  });

  await step('Delete device 2 asks for a second tap, then the row goes on both pages and the hub answers 404', async () => {
    const row = await openDetails(pageB, uuids[2], name(2));
    await row.getByRole('button', { name: 'Delete device' }).click();
    await sleep(300);
    check(!!(await readUi(pageA)).devices[uuids[2]], 'deleted after one tap');
    await row.getByRole('button', { name: `Confirm delete of ${name(2)}` }).click();
    for (const [i, page] of pages.entries()) {
      await waitFor(`page ${'AB'[i]}: row gone`, async () => !(await readUi(page)).devices[uuids[2]], 5000);
    }
    const res = await fetch(`${base}/api/v1/devices/${uuids[2]}`);
    check(res.status === 404, `GET deleted device: ${res.status}`);
  });

  await step('hub restart: pages say reconnecting, then resync (hello {since}) with the fleet', async () => {
    const mark = await sentCount(pageA);
    const before = await readUi(pageA);
    const exit = await stopHub(hub);
    check(exit.code === 0, `hub exit ${JSON.stringify(exit)}:\n${hubLogTail(hub)}`);
    for (const page of pages) await waitFor('reconnecting', async () => (await readUi(page)).status === 'reconnecting', 5000);
    await pageA.screenshot({ path: path.join(ARTIFACTS, 'fleet-laptop-8-reconnecting.png') });
    hub = startHub(port, dataDir, hubEnv);
    await waitHealthy(hub, base);
    for (const page of pages) {
      await waitFor('live again with 2 devices online', async () => {
        const u = await readUi(page);
        return u.status === 'live' && Object.keys(u.devices).length === 2
          && [uuids[0], uuids[1]].every((id) => u.devices[id].presence === 'online');
      }, 15000);
    }
    const hellos = (await sentSince(pageA, mark)).filter((f) => f.msg.type === 'hello').map((f) => f.msg);
    check(hellos.length >= 1 && hellos.every((h) => h.since >= before.seq), `hello after restart ${JSON.stringify(hellos)}, seq was ${before.seq}`);
  });

  await step('with DMX_API_KEY the pages say auth failed; with the key saved, a mutation carries x-api-key', async () => {
    const exit = await stopHub(hub);
    check(exit.code === 0, `hub exit ${JSON.stringify(exit)}`);
    hub = startHub(port, dataDir, { ...hubEnv, DMX_API_KEY: 'fleet-key' });
    await waitHealthy(hub, base);
    for (const page of pages) {
      await waitFor('auth failed', async () => {
        const u = await readUi(page);
        return u.status === 'auth' && u.auth;
      }, 15000);
    }
    await pageA.evaluate(() => localStorage.setItem('showhub.apiKey', 'fleet-key'));
    await pageA.reload();
    await waitFor('A live with the key', async () => (await readUi(pageA)).status === 'live', 10000);
    const hubAlerts = (await getJson(base, '/api/v1/alerts')).alerts;
    await waitFor('A (reloaded) shows the hub\'s alerts', async () => (await readUi(pageA)).alertsCount === `${hubAlerts.length} active`, 5000);
    const row = await openDetails(pageA, uuids[0], name(0));
    await row.getByLabel('Description').fill('Foyer');
    await row.getByRole('button', { name: 'Save' }).click();
    await waitFor('B... and A show Foyer', async () => (await readUi(pageA)).devices[uuids[0]].name === 'Foyer', 5000);
    const noKey = await fetch(`${base}/api/v1/devices/${uuids[0]}`, {
      method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"description":"x"}',
    });
    check(noKey.status === 401, `PUT without the key: ${noKey.status}`);
    check((await readUi(pageB)).status === 'auth', 'B (no key) is not in auth failed');
  });

  await step('phone layout fits 390 px and every control has a name; no page errors', async () => {
    const r = await pageB.evaluate(() => {
      const unnamed = [];
      for (const e of document.querySelectorAll('input, button, a, select')) {
        if (e.closest('[hidden]') || e.closest('template')) continue;
        const name = e.getAttribute('aria-label') || e.textContent.trim() || (e.labels && e.labels[0] && e.labels[0].textContent.trim());
        if (!name) unnamed.push(e.outerHTML.slice(0, 80));
      }
      return { width: document.scrollingElement.scrollWidth, unnamed };
    });
    check(r.width <= 390, `phone page is ${r.width} px wide`);
    check(r.unnamed.length === 0, `controls without a name: ${r.unnamed.join(' | ')}`);
    await pageB.screenshot({ path: path.join(ARTIFACTS, 'fleet-phone-full.png'), fullPage: true });
    await pageA.screenshot({ path: path.join(ARTIFACTS, 'fleet-laptop-full.png'), fullPage: true });
    check(pageErrors.length === 0, pageErrors.join('; '));
  });

  sim.child.stdin.end(); // EOF: devsim quits cleanly
  await Promise.race([new Promise((r) => sim.child.once('exit', r)), sleep(5000)]);
  await finalStop(hub, dataDir);
  broker.child.kill('SIGTERM');
}

await run(main, { budgetMs: TOTAL_BUDGET_MS, cleanup: killOurs });
