// showhub console: fixtures, blackout, POIs and the live DMX output, over
// the hub's room protocol on /ws (hello/snapshot/patch/intent/result, room
// "frames"). All of it lives in desk.js, which the show page shares.
import { startDesk } from './desk.js';

startDesk({ rooms: ['dmx', 'system'] });
