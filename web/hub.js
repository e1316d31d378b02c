// One WebSocket to the hub. Reconnects with capped exponential backoff and
// jitter; reports status changes and every frame to the app.
const BASE_MS = 500;
const MAX_MS = 10000;
const MAX_BUFFERED = 16384;

// The API key (DMX_API_KEY) the pages keep in localStorage, shared by all.
export const KEY_STORE = 'showhub.apiKey';

export function apiKey() {
  try {
    return localStorage.getItem(KEY_STORE) || '';
  } catch {
    return '';
  }
}

// ws(s)://<this origin and path>/ws, with ?token= when a key is set.
export function wsUrl() {
  const url = new URL('ws', document.baseURI);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const key = apiKey();
  if (key) url.searchParams.set('token', key);
  return url.href;
}

// The browser hides a refused handshake's status, so ask over REST: a
// mutating call with an empty body changes nothing (401 for a wrong key,
// checked before the body; else 400). path: 'rgb', 'api/v1/intents'.
export async function probeAuth(path) {
  const res = await fetch(new URL(path, document.baseURI), {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': apiKey() },
    body: '{}',
    cache: 'no-store',
  });
  return res.status === 401;
}

// "Equal jitter": half the capped delay fixed, half random, so a room full of
// phones does not reconnect in lockstep when the hub comes back.
export function backoffDelay(attempt, rand = Math.random) {
  const cap = Math.min(MAX_MS, BASE_MS * 2 ** attempt);
  return Math.round(cap / 2 + (rand() * cap) / 2);
}

export class HubConnection {
  #url;
  #probeAuth;
  #onStatus;
  #onFrame;
  #onNotice;
  #ws = null;
  #gen = 0;
  #timer = 0;
  #attempt = 0;
  #synced = false;
  #everLive = false;
  #denied = false; // last attempt failed on the API key

  // url(): WebSocket URL (with token); probeAuth(): resolves true when the
  // hub says the API key is wrong; onStatus({state, at?}); onFrame(msg);
  // onNotice(text) for things worth telling the user.
  constructor({ url, probeAuth, onStatus, onFrame, onNotice }) {
    this.#url = url;
    this.#probeAuth = probeAuth;
    this.#onStatus = onStatus;
    this.#onFrame = onFrame;
    this.#onNotice = onNotice;
  }

  get live() {
    return this.#synced;
  }

  start() {
    this.#open();
  }

  // Reconnect from scratch, e.g. after the API key changed.
  restart() {
    this.#teardown();
    this.#attempt = 0;
    this.#everLive = false;
    this.#denied = false;
    this.#open();
  }

  // Skip the remaining backoff (network came back, app became visible).
  retryNow() {
    if (!this.#timer) return;
    clearTimeout(this.#timer);
    this.#timer = 0;
    this.#open();
  }

  // 'sent', 'busy' (socket backed up: try again later) or 'offline'.
  send(msg) {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || !this.#synced) return 'offline';
    if (ws.bufferedAmount > MAX_BUFFERED) return 'busy';
    ws.send(JSON.stringify(msg));
    return 'sent';
  }

  #teardown() {
    this.#gen++;
    clearTimeout(this.#timer);
    this.#timer = 0;
    this.#synced = false;
    const ws = this.#ws;
    this.#ws = null;
    if (ws) ws.close(1000);
  }

  #open() {
    const gen = ++this.#gen;
    this.#onStatus({ state: this.#status() });
    let ws;
    try {
      ws = new WebSocket(this.#url());
    } catch (err) {
      this.#onNotice(`Bad hub address: ${err.message}`);
      this.#retry('reconnecting');
      return;
    }
    this.#ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
    };
    ws.onmessage = (ev) => {
      if (gen !== this.#gen) return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        this.#onNotice('Hub sent a frame that is not JSON');
        return;
      }
      if (msg && msg.type === 'state' && !this.#synced) {
        this.#synced = true;
        this.#everLive = true;
        this.#denied = false;
        this.#attempt = 0;
        this.#onStatus({ state: 'live' });
      }
      this.#onFrame(msg);
    };
    ws.onclose = (ev) => {
      if (gen !== this.#gen) return;
      this.#ws = null;
      this.#synced = false;
      if (opened) {
        if (ev.reason) this.#onNotice(`Hub closed the connection: ${ev.reason}`);
        this.#retry('reconnecting');
        return;
      }
      // The browser hides the handshake's HTTP status; ask the hub whether
      // the key is the problem so we can say "auth failed".
      this.#probeAuth().then(
        (denied) => gen === this.#gen && this.#retry(denied ? 'auth' : 'reconnecting'),
        () => gen === this.#gen && this.#retry('reconnecting'),
      );
    };
  }

  // While retrying a refused key, keep saying so instead of flickering.
  #status() {
    if (this.#denied) return 'auth';
    return this.#everLive || this.#attempt > 0 ? 'reconnecting' : 'connecting';
  }

  #retry(state) {
    this.#denied = state === 'auth';
    const delay = backoffDelay(this.#attempt++);
    this.#onStatus({ state, at: Date.now() + delay });
    this.#timer = setTimeout(() => {
      this.#timer = 0;
      this.#open();
    }, delay);
  }
}

// Reconnect at once when the network or the page comes back, rather than
// waiting out the backoff.
export function retryOnReturn(conn) {
  window.addEventListener('online', () => conn.retryNow());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') conn.retryNow();
  });
}

// The app shell works offline (sw.js); failing to register is not fatal.
export function registerServiceWorker() {
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('sw.js').catch((err) => console.warn('service worker:', err));
  }
}
