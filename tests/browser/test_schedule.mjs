// Browser test of the schedule page (web/schedule.html) against the real hub
// binary (MQTT off: power intents are computed and kept in the state, not
// published). A laptop (1280 x 800) and a phone (375 x 812) page: a weekly
// event (Mo, We, Fr, 6 times, "run scene lobby_on" at its start) is made in
// the dialog with the recurrence picker and shows on the right days of the
// next two weeks and on none after; a refused event shows the hub's error
// with its field; one occurrence is detached on the phone and changed, and
// both pages show it apart from the series; each group's power intent card
// follows the hub (off, on while an event covers now, off again when the
// phone deletes it). Screenshots go to a temp dir kept after the test (its
// path is logged), or to $HUB_ARTIFACTS when set.
//   SHOWHUB_BIN=build/showhub node tests/browser/test_schedule.mjs
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ARTIFACTS, BIN, check, finalStop, freePort, getJson, hubStarter, loadChromium, log, openPages, run, sleep,
  step, waitFor, waitHealthy,
} from './harness.mjs';

const TOTAL_BUDGET_MS = 180000;
const PHONE = { width: 375, height: 812 };
const DAY = 86400000;
const GROUP = 7;
const startHub = hubStarter('schedule-hub');
const SHOTS = process.env.HUB_ARTIFACTS ? ARTIFACTS : fs.mkdtempSync(path.join(os.tmpdir(), 'showhub-schedule-shots-'));

const mondayOf = (ms) => {
  const day = Math.floor(ms / DAY) * DAY;
  return day - ((new Date(day).getUTCDay() + 6) % 7) * DAY;
};
const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);
const iso = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');

const RECORD_SENDS = () => {
  const orig = WebSocket.prototype.send;
  window.__sent = [];
  WebSocket.prototype.send = function (data) {
    window.__sent.push({ t: performance.now(), data: String(data) });
    return orig.call(this, data);
  };
};

// What a user sees on the schedule page.
function readUi(page) {
  return page.evaluate(() => {
    const $ = (id) => document.getElementById(id);
    const vis = (e) => !!e && !e.closest('[hidden]') && e.getClientRects().length > 0;
    const txt = (e) => (e ? e.textContent.trim() : '');
    const days = {};
    for (const li of document.querySelectorAll('#week li.day')) {
      days[li.dataset.date] = [...li.querySelectorAll('button.occ')].map((b) => ({
        id: Number(b.dataset.eventId),
        start: b.dataset.start,
        title: txt(b.querySelector('.o-title')),
        time: txt(b.querySelector('.o-time')),
        recurring: b.classList.contains('recurring'),
        detached: b.classList.contains('detached'),
      }));
    }
    const power = {};
    for (const li of document.querySelectorAll('#power-list li.power')) {
      power[li.dataset.group] = {
        state: li.dataset.state,
        badge: txt(li.querySelector('.p-state')),
        reason: txt(li.querySelector('.p-reason')),
        window: txt(li.querySelector('.p-window')),
        id: txt(li.querySelector('.p-id')).replace(/^intent /, ''),
        times: txt(li.querySelector('.p-times')),
        expired: vis(li.querySelector('.p-expired')),
        selected: li.classList.contains('selected'),
      };
    }
    const dlg = $('ev-dialog');
    const err = $('ev-error');
    return {
      status: $('status').dataset.state,
      seq: Number(txt($('seq'))) || 0,
      groups: [...$('group').options].map((o) => o.value),
      group: $('group').value,
      weekLabel: txt($('week-label')),
      weekInfo: vis($('week-info')) ? txt($('week-info')) : '',
      days,
      power,
      powerInfo: txt($('power-info')),
      dialog: dlg.open,
      heading: txt($('ev-dialog-h')),
      rrule: txt($('rec-text')),
      start: $('ev-start').value,
      end: $('ev-end').value,
      error: vis(err) ? { field: err.dataset.field, text: txt($('ev-error-text')) } : null,
      invalid: [...document.querySelectorAll('#ev-form [aria-invalid="true"]')].map((e) => e.id),
      answer: vis($('ev-answer')) ? txt($('ev-answer')) : '',
      detach: vis($('ev-detach')),
    };
  });
}

async function shoot(pages, name) {
  const [a, b] = pages;
  await a.screenshot({ path: path.join(SHOTS, `schedule-laptop-${name}.png`), fullPage: true });
  await b.screenshot({ path: path.join(SHOTS, `schedule-phone-${name}.png`), fullPage: true });
}

async function post(base, p, body, method = 'POST') {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

// The layout rules of the phone page (and of an open dialog): no horizontal
// scroll, every visible control named and at least 40 x 40 px.
function phoneCheck(page, width) {
  return page.evaluate((w) => {
    const unnamed = [];
    const small = [];
    const root = document.getElementById('ev-dialog').open ? document.getElementById('ev-dialog') : document;
    for (const e of root.querySelectorAll('input, button, a, select, textarea, summary')) {
      if (e.closest('[hidden]') || e.getClientRects().length === 0 || e.classList.contains('skip')) continue;
      const name = e.getAttribute('aria-label') || (e.labels && e.labels[0] && e.labels[0].textContent.trim()) || e.textContent.trim();
      if (!name) unnamed.push(e.outerHTML.slice(0, 80));
      // a checkbox's target is its chip (the label around it)
      const box = (e.type === 'checkbox' && e.closest('label')) ? e.closest('label') : e;
      const b = box.getBoundingClientRect();
      if (b.height < 40 || b.width < 40) small.push(`${e.tagName} "${name}" ${Math.round(b.width)}x${Math.round(b.height)}`);
    }
    return { width: document.scrollingElement.scrollWidth, w, unnamed, small };
  }, width);
}

// ---- the test --------------------------------------------------------------------------

async function main() {
  const chromium = await loadChromium();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'showhub-schedule-'));
  log(`hub ${BIN} on ${base}, data ${dataDir}, screenshots ${SHOTS}`);
  const hub = startHub(port, dataDir, { POLL_INTERVAL_SECONDS: '1' });
  await waitHealthy(hub, base);

  // The schedules API must be there: fail, do not skip.
  const probe = await fetch(`${base}/api/v1/events`);
  check(probe.status === 200, `GET /api/v1/events answered ${probe.status}: the hub at ${BIN} has no schedules API yet `
    + '(src/domains/schedules routes); this test needs it');
  check((await fetch(`${base}/api/v1/power`)).status === 200, 'GET /api/v1/power is missing');
  // A scene for the "run a scene" picker.
  const scene = await post(base, '/api/v1/scenes/lobby_on', { room: 'lobby', actions: [{ t_ms: 0, topic: 'lobby/light', message: 'ON' }] }, 'PUT');
  check(scene.status === 200, `PUT scene ${JSON.stringify(scene)}`);

  const { pageA, pageB, pageErrors } = await openPages(chromium, RECORD_SENDS, { phone: PHONE });
  const pages = [pageA, pageB];
  for (const page of pages) await page.goto(`${base}/schedule.html`);
  const dlgA = pageA.locator('#ev-dialog');
  const dlgB = pageB.locator('#ev-dialog');
  const thisMonday = mondayOf(Date.now());
  const nextMonday = thisMonday + 7 * DAY;

  await step('both pages go live (hello with room schedules); no groups yet, the week shows this week in UTC', async () => {
    for (const page of pages) await waitFor('live', async () => (await readUi(page)).status === 'live', 10000);
    const hello = (await pageA.evaluate(() => window.__sent)).map((s) => JSON.parse(s.data)).find((m) => m.type === 'hello');
    check(hello && hello.rooms.includes('schedules'), `hello ${JSON.stringify(hello)}`);
    const ui = await readUi(pageA);
    check(Object.keys(ui.days).join() === [0, 1, 2, 3, 4, 5, 6].map((i) => isoDay(thisMonday + i * DAY)).join(), `days ${Object.keys(ui.days)}`);
    check(ui.groups.join() === '', `groups ${ui.groups}`);
  });

  let seriesId = null;
  await step('laptop: next week, Add event, weekly Mo/We/Fr 6 times with "run scene lobby_on" at the start; the hub has it', async () => {
    await pageA.getByRole('button', { name: 'Next week' }).click();
    await pageA.getByRole('button', { name: 'Add event' }).click();
    let ui = await waitFor('dialog open', async () => {
      const u = await readUi(pageA);
      return u.dialog && u;
    }, 3000);
    check(ui.heading === 'Add event' && ui.start === `${isoDay(nextMonday)}T09:00` && ui.end === `${isoDay(nextMonday)}T17:00`,
      `defaults ${ui.heading} ${ui.start} ${ui.end}`);
    await dlgA.getByLabel('Title').fill('Opening hours');
    await dlgA.getByLabel('Type').fill('presentation');
    await dlgA.getByLabel('Group').fill(String(GROUP));
    await dlgA.getByLabel('Repeats').selectOption('weekly');
    ui = await readUi(pageA);
    check(ui.rrule === 'FREQ=WEEKLY;BYDAY=MO', `the start's weekday is ticked: ${ui.rrule}`);
    await dlgA.getByRole('checkbox', { name: 'Wednesday' }).check();
    await dlgA.getByRole('checkbox', { name: 'Friday' }).check();
    await dlgA.getByLabel('Ends').selectOption('count');
    await dlgA.getByLabel('Occurrences').fill('6');
    ui = await readUi(pageA);
    check(ui.rrule === 'FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=6', `rrule ${ui.rrule}`);
    await dlgA.getByLabel('At the start', { exact: true }).selectOption('scene');
    const pick = dlgA.getByLabel('Scene to run at the start');
    await waitFor('scene list loaded', async () => (await pick.locator('option').allTextContents()).includes('lobby_on'), 3000);
    await pick.selectOption('lobby_on');
    await pageA.locator('#ev-dialog').screenshot({ path: path.join(SHOTS, 'schedule-laptop-2-dialog.png') });
    await dlgA.getByRole('button', { name: 'Save', exact: true }).click();
    await waitFor('dialog closed', async () => !(await readUi(pageA)).dialog, 5000);
    const events = (await getJson(base, '/api/v1/events')).events;
    check(events.length === 1, `hub events ${JSON.stringify(events)}`);
    const ev = events[0];
    seriesId = ev.id;
    check(ev.group_id === GROUP && ev.title === 'Opening hours' && ev.type === 'presentation'
      && ev.start === `${isoDay(nextMonday)}T09:00:00Z` && ev.end === `${isoDay(nextMonday)}T17:00:00Z`
      && ev.rrule === 'FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=6', `hub event ${JSON.stringify(ev)}`);
    check(JSON.stringify(ev.on_start) === '[{"intent":{"name":"scene.run","payload":{"name":"lobby_on"}}}]' && ev.on_end === null,
      `hooks ${JSON.stringify([ev.on_start, ev.on_end])}`);
  });

  const onDays = (ui, monday) => [0, 1, 2, 3, 4, 5, 6].filter((i) => (ui.days[isoDay(monday + i * DAY)] || []).length > 0);

  await step('the week view shows it on Mon, Wed, Fri of the next two weeks on both pages (phone selects group 7), none after', async () => {
    for (const [i, page] of pages.entries()) {
      if (i === 1) {
        await waitFor('phone has group 7', async () => (await readUi(pageB)).group === String(GROUP), 5000);
        await pageB.getByRole('button', { name: 'Next week' }).click();
      }
      const ui = await waitFor(`page ${'AB'[i]}: Mon/Wed/Fri`, async () => {
        const u = await readUi(page);
        return onDays(u, nextMonday).join() === '0,2,4' && u;
      }, 5000);
      const mon = ui.days[isoDay(nextMonday)][0];
      check(mon.title === 'Opening hours' && mon.time === '09:00–17:00' && mon.recurring && !mon.detached, `Monday ${JSON.stringify(mon)}`);
      check(/^Group 7 · /.test(ui.weekLabel), `label "${ui.weekLabel}"`);
    }
    await shoot(pages, '3-week');
    await pageA.getByRole('button', { name: 'Next week' }).click();
    await waitFor('laptop: the week after, Mon/Wed/Fri again', async () => onDays(await readUi(pageA), nextMonday + 7 * DAY).join() === '0,2,4', 5000);
    await pageA.getByRole('button', { name: 'Next week' }).click();
    await waitFor('laptop: after 6 occurrences, nothing', async () => {
      const u = await readUi(pageA);
      return Object.keys(u.days)[0] === isoDay(nextMonday + 14 * DAY) && onDays(u, nextMonday + 14 * DAY).length === 0;
    }, 5000);
    const occ = await getJson(base, `/api/v1/events?group_id=${GROUP}&from=${iso(nextMonday)}&to=${iso(nextMonday + 21 * DAY)}`);
    check(occ.occurrences.length === 6, `hub occurrences ${occ.occurrences.length}`);
    await pageA.getByRole('button', { name: 'Previous week' }).click();
    await pageA.getByRole('button', { name: 'Previous week' }).click();
  });

  await step('a refused event (end before start) shows the hub\'s error at event.end and marks the field', async () => {
    await pageA.getByRole('button', { name: 'Add event' }).click();
    await dlgA.getByLabel('Title').fill('Backwards');
    await dlgA.getByLabel('Group').fill(String(GROUP));
    await dlgA.getByLabel('End (UTC)').fill(`${isoDay(nextMonday)}T08:00`);
    await dlgA.getByRole('button', { name: 'Save', exact: true }).click();
    const ui = await waitFor('error shown', async () => {
      const u = await readUi(pageA);
      return u.error && u;
    }, 5000);
    check(ui.error.field === 'event.end' && /end must be after start/.test(ui.error.text), `error ${JSON.stringify(ui.error)}`);
    check(ui.invalid.includes('ev-end') && ui.dialog, `marked ${ui.invalid}`);
    await pageA.locator('#ev-dialog').screenshot({ path: path.join(SHOTS, 'schedule-laptop-4-refused.png') });
    await dlgA.getByRole('button', { name: 'Cancel' }).click();
    check((await getJson(base, '/api/v1/events')).events.length === 1, 'the refused event was created');
  });

  const wed = nextMonday + 2 * DAY;
  let detachedId = null;
  await step('phone: tap Wednesday\'s occurrence, Detach this occurrence, change it; both pages show it apart from the series', async () => {
    await pageB.locator(`li.day[data-date="${isoDay(wed)}"] button.occ`).click();
    let ui = await waitFor('dialog with detach', async () => {
      const u = await readUi(pageB);
      return u.dialog && u.detach && u;
    }, 3000);
    check(ui.heading === `Edit event ${seriesId}`, `heading ${ui.heading}`);
    const lay = await phoneCheck(pageB, PHONE.width);
    check(lay.small.length === 0 && lay.unnamed.length === 0, `dialog on the phone: small ${lay.small.join(' | ')}; unnamed ${lay.unnamed.join(' | ')}`);
    await pageB.screenshot({ path: path.join(SHOTS, 'schedule-phone-5-occurrence.png') });
    await pageB.getByRole('button', { name: `Detach the occurrence of ${isoDay(wed)}` }).click();
    ui = await waitFor('the detached copy in the dialog', async () => {
      const u = await readUi(pageB);
      return /^Detached/.test(u.answer) && u;
    }, 5000);
    detachedId = Number(ui.heading.replace('Edit event ', ''));
    check(detachedId > seriesId && !ui.detach && ui.rrule.startsWith('none'), `after detach ${JSON.stringify(ui)}`);
    await dlgB.getByLabel('Title').fill('Opening hours (late)');
    await dlgB.getByLabel('End (UTC)').fill(`${isoDay(wed)}T19:00`);
    await dlgB.getByRole('button', { name: 'Save', exact: true }).click();
    await waitFor('dialog closed', async () => !(await readUi(pageB)).dialog, 5000);
    const series = await getJson(base, `/api/v1/events/${seriesId}`);
    check(series.exdates.includes(`${isoDay(wed)}T09:00:00Z`), `series exdates ${series.exdates}`);
    const copy = await getJson(base, `/api/v1/events/${detachedId}`);
    check(copy.detached_from === seriesId && copy.title === 'Opening hours (late)' && copy.end === `${isoDay(wed)}T19:00:00Z`
      && copy.rrule === null && JSON.stringify(copy.on_start) === JSON.stringify(series.on_start), `copy ${JSON.stringify(copy)}`);
    for (const [i, page] of pages.entries()) {
      const u = await waitFor(`page ${'AB'[i]}: Wednesday detached`, async () => {
        const x = await readUi(page);
        const w = x.days[isoDay(wed)];
        return w && w.length === 1 && w[0].detached && w[0].title === 'Opening hours (late)' && x;
      }, 5000);
      const w = u.days[isoDay(wed)][0];
      check(w.time === '09:00–19:00' && !w.recurring && w.id === detachedId, `Wednesday ${JSON.stringify(w)}`);
      const mon = u.days[isoDay(nextMonday)][0];
      const fri = u.days[isoDay(nextMonday + 4 * DAY)][0];
      check(mon.recurring && fri.recurring && mon.id === seriesId && fri.id === seriesId, `Mon/Fri ${JSON.stringify([mon, fri])}`);
    }
    await shoot(pages, '5-detached');
  });

  let nowId = null;
  await step('power intent card of group 7: off (no active event), on live while an event covers now, as GET /api/v1/power', async () => {
    for (const [i, page] of pages.entries()) {
      await waitFor(`page ${'AB'[i]}: group 7 card off`, async () => {
        const p = (await readUi(page)).power[String(GROUP)];
        return p && p.state === 'off' && p.badge === 'off' && /no active event/.test(p.reason) && !p.window;
      }, 5000);
    }
    const offId = (await readUi(pageA)).power[String(GROUP)].id;
    const now = Date.now();
    const created = await post(base, '/api/v1/events', {
      group_id: GROUP, title: 'Right now', start: iso(Math.floor(now / 60000) * 60000 - 3600000), end: iso(Math.floor(now / 60000) * 60000 + 3600000),
    });
    check(created.status === 201, `POST ${JSON.stringify(created)}`);
    nowId = created.body.id;
    for (const [i, page] of pages.entries()) {
      const p = await waitFor(`page ${'AB'[i]}: card on`, async () => {
        const x = (await readUi(page)).power[String(GROUP)];
        return x && x.state === 'on' && x;
      }, 5000);
      check(p.badge === 'on' && new RegExp(`active event · event ${nowId}$`).test(p.reason) && /^window /.test(p.window)
        && p.id !== offId && !p.expired && /^issued .* · expires in /.test(p.times), `card ${JSON.stringify(p)}`);
    }
    const hubPower = (await getJson(base, '/api/v1/power')).groups.find((g) => g.group_id === GROUP);
    const ui = await readUi(pageA);
    check(hubPower.intent.desired_state === 'on' && hubPower.intent.intent_id === ui.power[String(GROUP)].id
      && JSON.stringify(hubPower.intent.active_event_ids) === JSON.stringify([nowId]), `hub ${JSON.stringify(hubPower)}`);
    check(/computed, not published/.test(ui.powerInfo), `power info "${ui.powerInfo}"`);
    await pageB.getByRole('button', { name: 'This week' }).click();
    await waitFor('phone: this week shows Right now', async () => {
      const d = (await readUi(pageB)).days[isoDay(now)] || [];
      return d.some((o) => o.title === 'Right now');
    }, 5000);
    await shoot(pages, '6-power-on');
  });

  await step('phone: delete the event with a second tap; the card goes off on the laptop', async () => {
    await pageB.locator('button.occ', { hasText: 'Right now' }).first().click();
    await waitFor('dialog', async () => (await readUi(pageB)).dialog, 3000);
    await pageB.getByRole('button', { name: `Delete event ${nowId}` }).click();
    await sleep(200);
    check((await fetch(`${base}/api/v1/events/${nowId}`)).status === 200, 'deleted after one tap');
    await pageB.getByRole('button', { name: 'Confirm delete' }).click();
    await waitFor('dialog closed', async () => !(await readUi(pageB)).dialog, 5000);
    check((await fetch(`${base}/api/v1/events/${nowId}`)).status === 404, 'the hub still has the event');
    await waitFor('laptop: card off', async () => (await readUi(pageA)).power[String(GROUP)].state === 'off', 5000);
  });

  await step(`phone layout: no horizontal scroll at ${PHONE.width} px, tap targets >= 40 px, every control named; no page errors`, async () => {
    const r = await phoneCheck(pageB, PHONE.width);
    check(r.width <= PHONE.width, `phone page is ${r.width} px wide`);
    check(r.unnamed.length === 0, `controls without a name: ${r.unnamed.join(' | ')}`);
    check(r.small.length === 0, `tap targets under 40 px: ${r.small.join(' | ')}`);
    await shoot(pages, '7-full');
    check(pageErrors.length === 0, pageErrors.join('; '));
  });

  await finalStop(hub, dataDir);
}

await run(main, { budgetMs: TOTAL_BUDGET_MS });
