// UTC time helpers of the schedule page: the hub schedules in UTC (RRULEs
// are expanded in UTC), so the page shows and edits UTC too.
export const DAY_MS = 86400000;
const WD = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n) => String(n).padStart(2, '0');

export const parseTime = (s) => (typeof s === 'string' ? Date.parse(s) : NaN);

// 'YYYY-MM-DD' of the UTC day of ms.
export const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);

// 'HH:MM' in UTC.
export function hm(ms) {
  const d = new Date(ms);
  return `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}`;
}

// 'Mon 7 Dec' in UTC.
export function dayLabel(ms) {
  const d = new Date(ms);
  return `${WD[d.getUTCDay()]} ${d.getUTCDate()} ${MON[d.getUTCMonth()]}`;
}

// Monday 00:00 UTC of the week holding ms.
export function mondayOf(ms) {
  const day = Math.floor(ms / DAY_MS) * DAY_MS;
  const wd = (new Date(day).getUTCDay() + 6) % 7; // Mon = 0
  return day - wd * DAY_MS;
}

// RRULE weekday (MO..SU) of ms in UTC.
export const rruleDay = (ms) => ['SU', 'MO', 'TU', 'WE', 'TH', 'FR', 'SA'][new Date(ms).getUTCDay()];

// A datetime-local input's value for ms, read as UTC, and back.
export const toInput = (ms) => new Date(ms).toISOString().slice(0, 16);
export function fromInput(v) {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(v)) return v;
  return v.length === 16 ? `${v}:00Z` : `${v}Z`;
}

// "5 s ago", "in 2 min", ... for people.
export function rel(ms, now = Date.now()) {
  if (!Number.isFinite(ms)) return '–';
  const s = Math.round((ms - now) / 1000);
  const a = Math.abs(s);
  if (a < 2) return 'just now';
  const text = a < 60 ? `${a} s` : a < 3600 ? `${Math.floor(a / 60)} min ${a % 60} s` : a < 86400
    ? `${Math.floor(a / 3600)} h ${Math.floor((a % 3600) / 60)} min` : `${Math.floor(a / 86400)} d`;
  return s < 0 ? `${text} ago` : `in ${text}`;
}
