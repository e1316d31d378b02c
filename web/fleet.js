// showhub fleet page: the signage screens and ESP32 nodes the hub knows
// (rooms "devices", "commands", "system" of /ws), with the crashed and
// service_failed panels, the broker-outage banner, per-device logs and
// commands whose status moves live.
//
// The page's entry. The parts:
//   fleet_state.js     connection, the fleet state from snapshot and patches,
//                      status, toast, REST with the API key, time, helpers
//   fleet_panels.js    outage banner, alerts, crashed and service_failed panels
//   fleet_devices.js   devices table, filter, inline edit, commands, delete
//   fleet_commands.js  sending commands, following them, the commands list
//   fleet_logs.js      the log view
// Everything shown comes from the hub: the snapshot and patches, or the
// REST answers. A button sends; the patch that follows (or the refusal)
// is what the page shows.
import {
  $, fleet, onChange, setText, start, tickTimes,
} from './fleet_state.js';
import { onFleetChange, renderAlerts, startPanels } from './fleet_panels.js';
import { renderDevices, startDevices } from './fleet_devices.js';
import { onCommandPatches, renderCommands, renderTrackers } from './fleet_commands.js';
import { loadLogs, renderLogDevices, showLogsOf, startLogs } from './fleet_logs.js';

const commandsEl = { list: $('command-list'), empty: $('commands-empty') };

// Patches can come in bursts (every heartbeat and health report is one);
// render at most once per animation frame.
const dirty = new Set();
let frame = 0;

function render() {
  frame = 0;
  const parts = new Set(dirty);
  dirty.clear();
  setText($('seq'), fleet.have ? String(fleet.seq) : '–');
  if (parts.has('registry') || parts.has('alerts')) renderAlerts();
  if (parts.has('registry')) {
    renderDevices();
    renderLogDevices();
  }
  if (parts.has('commands') || parts.has('registry')) {
    renderCommands(commandsEl);
    renderTrackers();
  }
}

onChange((parts, changes) => {
  onFleetChange(parts, changes);
  if (parts.has('commands')) onCommandPatches(changes);
  for (const p of parts) dirty.add(p);
  if (!frame) frame = requestAnimationFrame(render);
});

startDevices({ showLogs: showLogsOf });
startLogs();
startPanels();
for (const p of ['registry', 'alerts', 'commands']) dirty.add(p);
render();
setInterval(() => tickTimes(), 1000);
start();
// Reload the open log view after a reconnect (it may have missed entries).
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') loadLogs();
});
