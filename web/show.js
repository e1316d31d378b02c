// showhub show console: the shows on the hub, the loaded show's timeline
// with transport and audio, its cues and effects (editable while not
// playing), preview effects, and the console's fixtures and live output
// (desk.js). Rooms "dmx", "show", "system" and "frames".
//
// The page's entry: it starts desk.js with the show room, lists the shows
// (load, unload) and renders every part after each change. The parts:
//   show_state.js     the hub's show state, its clock, shared helpers
//   show_timeline.js  transport, timeline, playhead and clock
//   show_audio.js     the <audio> element following the transport
//   show_editor.js    cue and effect tables, the edit dialogs
//   show_fields.js    fixture chips and effect parameters (editor, previews)
//   show_previews.js  the preview effects panel
// Everything shown comes from the hub's snapshot and patches. The page
// never assumes an intent worked: a button sends, and the patch that
// follows (or the refusal) is what the page shows.
import { startDesk } from './desk.js';
import {
  $, button, desk, fmtShort, make, noShows, onPatch, onSnapshot, playing, plural, sampleClock, send, setDesk, show,
} from './show_state.js';
import { followPosition, kick, renderTimeline, renderTransport } from './show_timeline.js';
import { renderAudio, syncAudio } from './show_audio.js';
import { dropPendingSaves, renderTables } from './show_editor.js';
import { renderPreviews } from './show_previews.js';

const el = {
  noshow: $('noshow-banner'),
  unload: $('unload'),
  showList: $('show-list'),
  showsEmpty: $('shows-empty'),
  showsHint: $('shows-hint'),
};

followPosition(syncAudio);

// ---- show list --------------------------------------------------------------------------------

let listKey = null;

function renderShowList() {
  const busy = playing(); // the hub refuses load and unload while playing
  el.unload.disabled = !show.loaded || busy;
  const key = JSON.stringify([show.list, show.loaded && show.loaded.name, show.available, busy]);
  if (key === listKey) return;
  listKey = key;
  const loadedName = show.loaded ? show.loaded.name : null;
  const focused = document.activeElement && document.activeElement.closest('#show-list [data-show]');
  const focusName = focused ? focused.dataset.show : null;
  el.showList.replaceChildren(...show.list.map((s) => {
    const li = make('li', 'show-item');
    const name = typeof s.name === 'string' ? s.name : '?';
    li.dataset.show = name;
    const info = make('div', 'show-info');
    info.append(make('span', 'show-name', name));
    if (typeof s.error === 'string') {
      li.classList.add('invalid');
      li.dataset.invalid = 'true';
      info.append(make('span', 'badge bad', 'invalid'), make('p', 'show-error', s.error));
      li.append(info);
      return li;
    }
    const facts = [fmtShort(s.duration_ms), plural(Number(s.cues) || 0, 'cue', 'cues'),
      plural(Number(s.effects) || 0, 'effect', 'effects')];
    if (s.audio) facts.push('audio');
    info.append(make('span', 'show-facts muted', facts.join(' · ')));
    if (name === loadedName) {
      li.classList.add('loaded');
      li.setAttribute('aria-current', 'true');
      info.append(make('span', 'badge ok', 'loaded'));
    }
    const b = button(name === loadedName ? 'Reload' : 'Load', 'small', `Load show ${name}`,
      () => send('show.load', { name }, `Load ${name}`));
    b.dataset.show = name;
    b.disabled = busy;
    li.append(info, b);
    return li;
  }));
  if (focusName) {
    const again = el.showList.querySelector(`button[data-show="${CSS.escape(focusName)}"]`);
    if (again) again.focus();
  }
  el.showsHint.hidden = !busy;
  el.showsEmpty.hidden = show.list.length > 0;
  el.showsEmpty.textContent = !show.available ? 'This hub serves no shows.'
    : !show.have ? 'Waiting for the hub…' : 'No show files in the shows folder.';
}

el.unload.addEventListener('click', () => send('show.unload', {}, 'Unload'));

// ---- the whole page ------------------------------------------------------------------------------

function renderShow() {
  el.noshow.hidden = show.available;
  renderTransport();
  renderTimeline();
  renderAudio();
  renderShowList();
  renderTables();
  renderPreviews();
  kick();
}

setDesk(startDesk({
  rooms: ['dmx', 'system'],
  optionalRooms: ['show'],
  onSnapshot,
  onPatch,
  onFrame: (msg) => sampleClock(msg.ts),
  onConnected() {
    // Results of the old connection will never come.
    dropPendingSaves();
  },
  onRoomsMissing(rooms, message) {
    noShows();
    el.noshow.textContent = `This hub serves no shows (${message || `no room ${rooms.join(', ')}`}): `
      + 'fixtures and output work, the show controls are off.';
  },
  onRender() {
    // Called by desk.js after every dmx render; the first call comes
    // before startDesk returns.
    if (!desk) return;
    renderShow();
  },
}));
renderShow();
