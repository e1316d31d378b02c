// The recurrence picker's model and the RRULE text (RFC 5545) it stands
// for. The picker covers: none, daily, weekly on chosen weekdays, monthly
// (on the start's day of the month); an interval; ends never, on a date
// (UNTIL=<date>T235959Z, that day included) or after N occurrences (COUNT).
// Any other rule is "custom": kept as typed.

export const WEEKDAYS = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'];
const FREQS = { DAILY: 'daily', WEEKLY: 'weekly', MONTHLY: 'monthly' };

// {freq: 'none'|'daily'|'weekly'|'monthly'|'custom', interval, days: [..],
//  ends: 'never'|'until'|'count', until: 'YYYY-MM-DD', count, raw}
export function parseRrule(text) {
  const raw = (text || '').replace(/^RRULE:/i, '').trim();
  const pick = { freq: 'none', interval: 1, days: [], ends: 'never', until: '', count: 10, raw };
  if (!raw) return pick;
  const parts = {};
  for (const p of raw.split(';')) {
    const [k, v] = p.split('=');
    if (!k || v === undefined) return { ...pick, freq: 'custom' };
    parts[k.toUpperCase()] = v.toUpperCase();
  }
  const custom = { ...pick, freq: 'custom' };
  const freq = FREQS[parts.FREQ];
  const known = new Set(['FREQ', 'INTERVAL', 'BYDAY', 'UNTIL', 'COUNT']);
  if (!freq || Object.keys(parts).some((k) => !known.has(k))) return custom;
  pick.freq = freq;
  if (parts.INTERVAL) {
    if (!/^\d+$/.test(parts.INTERVAL) || Number(parts.INTERVAL) < 1) return custom;
    pick.interval = Number(parts.INTERVAL);
  }
  if (parts.BYDAY) {
    const days = parts.BYDAY.split(',');
    if (freq !== 'weekly' || days.some((d) => !WEEKDAYS.includes(d))) return custom;
    pick.days = WEEKDAYS.filter((d) => days.includes(d));
  }
  if (parts.UNTIL && parts.COUNT) return custom;
  if (parts.UNTIL) {
    const m = /^(\d{4})(\d{2})(\d{2})(?:T(\d{6})Z)?$/.exec(parts.UNTIL);
    if (!m) return custom;
    pick.ends = 'until';
    pick.until = `${m[1]}-${m[2]}-${m[3]}`;
  } else if (parts.COUNT) {
    if (!/^\d+$/.test(parts.COUNT) || Number(parts.COUNT) < 1) return custom;
    pick.ends = 'count';
    pick.count = Number(parts.COUNT);
  }
  return pick;
}

// The RRULE for a picker state; null for none. startDay: the start's
// weekday (MO..SU), used when a weekly rule has no day ticked.
export function buildRrule(pick, startDay) {
  if (pick.freq === 'none') return null;
  if (pick.freq === 'custom') return pick.raw.replace(/^RRULE:/i, '').trim() || null;
  const parts = [`FREQ=${pick.freq.toUpperCase()}`];
  const n = Math.floor(Number(pick.interval));
  if (n > 1) parts.push(`INTERVAL=${n}`);
  if (pick.freq === 'weekly') {
    const days = pick.days.length ? pick.days : startDay ? [startDay] : [];
    if (days.length) parts.push(`BYDAY=${WEEKDAYS.filter((d) => days.includes(d)).join(',')}`);
  }
  if (pick.ends === 'until' && /^\d{4}-\d{2}-\d{2}$/.test(pick.until)) {
    parts.push(`UNTIL=${pick.until.replace(/-/g, '')}T235959Z`);
  } else if (pick.ends === 'count') {
    parts.push(`COUNT=${Math.max(1, Math.floor(Number(pick.count)) || 1)}`);
  }
  return parts.join(';');
}

// "every 2 weeks on Mo, We, until 2026-12-31" for people.
export function describeRrule(text) {
  const p = parseRrule(text);
  if (p.freq === 'none') return 'once';
  if (p.freq === 'custom') return `custom: ${p.raw}`;
  const unit = { daily: 'day', weekly: 'week', monthly: 'month' }[p.freq];
  let s = p.interval > 1 ? `every ${p.interval} ${unit}s` : `every ${unit}`;
  if (p.days.length) s += ` on ${p.days.map((d) => d[0] + d[1].toLowerCase()).join(', ')}`;
  if (p.ends === 'until') s += ` until ${p.until}`;
  if (p.ends === 'count') s += `, ${p.count} times`;
  return s;
}
