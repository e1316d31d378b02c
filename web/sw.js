// Service worker: serves the app shell cache-first so the UI opens even when
// the hub is unreachable. Everything else (/ws, /rgb, /healthz, /metrics, …)
// goes straight to the network and is never cached.
// Bump VERSION whenever a shell file changes: it renames the cache, the new
// worker re-downloads the shell and the old cache is deleted on activate.
const VERSION = 'v8';
const PREFIX = 'showhub-shell-';
const CACHE = PREFIX + VERSION;
const SHELL = [
  './',
  'index.html',
  'app.js',
  'hub.js',
  'ulid.js',
  'coalesce.js',
  'style.css',
  'console.html',
  'console.js',
  'console.css',
  'desk.js',
  'show.html',
  'show.js',
  'show_state.js',
  'show_timeline.js',
  'show_audio.js',
  'show_editor.js',
  'show_fields.js',
  'show_previews.js',
  'show.css',
  'fleet.html',
  'fleet.js',
  'fleet_state.js',
  'fleet_panels.js',
  'fleet_devices.js',
  'fleet_commands.js',
  'fleet_logs.js',
  'fleet.css',
  'live.js',
  'live.css',
  'scenes.html',
  'scenes.js',
  'scenes_editor.js',
  'scenes.css',
  'schedule.html',
  'schedule.js',
  'schedule_dialog.js',
  'schedule_time.js',
  'rrule.js',
  'schedule.css',
  'manifest.webmanifest',
  'icon.svg',
  'icon-192.png',
  'icon-512.png',
  'icon-maskable-512.png',
  'apple-touch-icon.png',
];
const SHELL_URLS = new Set(SHELL.map((p) => new URL(p, self.registration.scope).href));

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL.map((p) => new Request(p, { cache: 'reload' }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith(PREFIX) && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  const key = url.origin + url.pathname; // the shell ignores query strings
  if (!SHELL_URLS.has(key)) return;
  event.respondWith(
    caches.open(CACHE).then((cache) =>
      cache.match(key).then(
        (hit) =>
          hit ||
          fetch(req).then((res) => {
            if (res.ok) cache.put(key, res.clone());
            return res;
          }),
      ),
    ),
  );
});
