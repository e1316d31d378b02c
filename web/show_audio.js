// The show page's audio: the <audio> element plays the loaded show's file
// (GET api/v1/shows/{name}/audio) following show.transport — it plays,
// pauses and seeks with the transport and is re-seeked when it drifts.
// "Enable audio" is the tap a browser that blocks autoplay waits for;
// "Mute here" mutes this page only (kept in localStorage). syncAudio(pos)
// runs on every paint of the playhead (show.js hands it to the timeline).
import { $, duration, playing, position, rateOf, show } from './show_state.js';
import { kick } from './show_timeline.js';

const AUDIO_DRIFT_S = 0.15; // re-seek the audio when it is further off than this
const AUDIO_SEEK_GAP_MS = 750; // and not more often than this
const MUTE_STORE = 'showhub.showMuted';

const el = {
  audioRow: $('audio-row'),
  audio: $('audio'),
  audioStatus: $('audio-status'),
  audioEnable: $('audio-enable'),
  audioMute: $('audio-mute'),
};

const audio = { src: '', blocked: false, failed: '', starting: false, lastSeek: -Infinity };

try {
  el.audioMute.checked = localStorage.getItem(MUTE_STORE) === '1';
} catch {
  el.audioMute.checked = false;
}
el.audio.muted = el.audioMute.checked;
el.audioMute.addEventListener('change', () => {
  el.audio.muted = el.audioMute.checked;
  try {
    localStorage.setItem(MUTE_STORE, el.audioMute.checked ? '1' : '0');
  } catch {
    // private mode: the choice lasts this page
  }
});

export function renderAudio() {
  const loaded = show.loaded;
  const src = loaded && loaded.audio ? `api/v1/shows/${encodeURIComponent(loaded.name)}/audio` : '';
  if (src !== audio.src) {
    audio.src = src;
    audio.failed = '';
    audio.starting = false;
    el.audio.pause();
    if (src) el.audio.src = new URL(src, document.baseURI).href;
    else {
      el.audio.removeAttribute('src');
      el.audio.load();
    }
  }
  el.audioRow.hidden = !src;
  let text = '';
  if (src) {
    if (audio.failed) text = `Audio ${loaded.audio}: ${audio.failed}`;
    else if (audio.blocked) text = `Audio ${loaded.audio}: the browser wants a tap before it plays sound.`;
    else text = `Audio ${loaded.audio}, following the transport`;
  }
  el.audioStatus.textContent = text;
  el.audioEnable.hidden = !src || !audio.blocked;
}

function seekAudio(s) {
  audio.lastSeek = performance.now();
  try {
    el.audio.currentTime = s;
  } catch {
    // no metadata yet: loadedmetadata seeks again
  }
}

export function syncAudio(pos) {
  if (!audio.src || audio.failed) return;
  const a = el.audio;
  const want = pos / 1000;
  const end = Number.isFinite(a.duration) ? a.duration : Infinity;
  const tr = show.transport;
  if (tr.state === 'playing' && want < end && pos < duration()) {
    if (a.playbackRate !== rateOf(tr)) a.playbackRate = rateOf(tr);
    if (a.paused) {
      if (audio.blocked || audio.starting) return;
      seekAudio(want);
      audio.starting = true;
      a.play().then(() => {
        audio.starting = false;
        if (audio.blocked) {
          audio.blocked = false;
          renderAudio();
        }
        kick();
      }, (err) => {
        audio.starting = false;
        if (err && err.name === 'NotAllowedError') audio.blocked = true;
        else if (err && err.name !== 'AbortError') audio.failed = `cannot play (${err.message || err.name})`;
        renderAudio();
      });
    } else if (!a.seeking && Math.abs(a.currentTime - want) > AUDIO_DRIFT_S
      && performance.now() - audio.lastSeek > AUDIO_SEEK_GAP_MS) {
      seekAudio(want);
    }
  } else {
    if (!a.paused) a.pause();
    if (!a.seeking && Math.abs(a.currentTime - Math.min(want, end)) > 0.05 && a.readyState > 0) {
      seekAudio(Math.min(want, end));
    }
  }
}

el.audio.addEventListener('loadedmetadata', () => {
  audio.lastSeek = -Infinity;
  syncAudio(position());
});
el.audio.addEventListener('error', () => {
  if (!audio.src) return;
  audio.failed = 'the hub could not serve the file';
  renderAudio();
});
el.audioEnable.addEventListener('click', () => {
  // A tap is the gesture the browser waits for: play now, then follow.
  audio.blocked = false;
  audio.starting = true;
  seekAudio(position() / 1000);
  const p = el.audio.play();
  p.then(() => {
    audio.starting = false;
    if (!playing()) el.audio.pause();
    renderAudio();
    kick();
  }, (err) => {
    audio.starting = false;
    audio.blocked = err && err.name === 'NotAllowedError';
    if (!audio.blocked) audio.failed = `cannot play (${err.message || err.name})`;
    renderAudio();
  });
  renderAudio();
});
