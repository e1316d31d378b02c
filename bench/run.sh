#!/usr/bin/env bash
# bench/run.sh <build-dir> [--quick] - run every benchmark scenario against a
# fresh showhub (Release build in <build-dir>) and then against the seed's
# design (../shared/peers/seed000_py/app.py), each with its own Mosquitto,
# on 127.0.0.1 free ports and temp data dirs; before both, once per run, the
# kernel/loopback floors (bench/floor, bench/netrx floor: plain sockets, no
# server). showhub also runs the issue-7 scenarios: DMX output of 256
# universes by Art-Net and sACN into bench/netrx, WS frames, hello{since}
# replay, intents. With BENCH_BASELINE_BIN (and BENCH_BASELINE_ENGINE) set to
# an older build, its seed-000 scenarios run too, as the baseline column.
# Last (so they cannot disturb the rows above), the show issue's scenarios:
# bench/bench_show in process, then fresh hubs playing a show under WS load
# and three times for determinism. BENCH_ONLY=show runs only those. After
# them the fleet issue's: devsim devices (tools/devsim) against a fresh hub
# and against seed 004's design (bench/fleet_peer.py), side by side, driven
# by bench/fleet_hub.py. BENCH_ONLY=fleet runs only those. Then issue 10's:
# 50 scenes at once against a bare publisher (the floor) and seed 002's
# design (bench/scenes_hub.py, bench/scenes_peer.py; BENCH_ONLY=scenes), and
# the scheduler over 1,000 groups x 50 events with the seed-000 fan-out beside
# it (bench/schedules_hub.py; BENCH_ONLY=schedules).
# Prints one table and writes bench/out/<timestamp>.json. Every step is
# bounded in time (timeout(1)); everything started here is stopped on exit.
# See docs/benchmarks.md.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] || { echo "usage: bench/run.sh <build-dir> [--quick]" >&2; exit 2; }
BUILD=$(cd "$1" && pwd) || exit 2
QUICK=0
[ "${2:-}" = "--quick" ] && QUICK=1
HUB_BIN=$BUILD/showhub
LG=$BUILD/bench/loadgen
ENG=$BUILD/bench/bench_engine
FLOOR=$BUILD/bench/floor
NETRX=$BUILD/bench/netrx
SHOWB=$BUILD/bench/bench_show
ONLY=${BENCH_ONLY:-}
case "$ONLY" in
  ""|show|fleet|scenes|schedules) ;;
  *) echo "bench: BENCH_ONLY=$ONLY: only 'show', 'fleet', 'scenes' and 'schedules' are known" >&2
     exit 2 ;;
esac
BASE_BIN=${BENCH_BASELINE_BIN:-}
BASE_ENG=${BENCH_BASELINE_ENGINE:-}
PEER_APP=$(cd "$ROOT/.." && pwd)/shared/peers/seed000_py/app.py
PY=/usr/bin/python3
for f in "$HUB_BIN" "$LG" "$ENG" "$FLOOR" "$NETRX" "$SHOWB"; do
  [ -x "$f" ] || { echo "bench: $f missing (cmake --build $1 --target showhub hub_bench_all)" >&2; exit 2; }
done
[ "$ONLY" = show ] || command -v mosquitto >/dev/null ||
  { echo "bench: mosquitto not installed" >&2; exit 2; }
if [ -n "$BASE_BIN" ] && [ ! -x "$BASE_BIN" ]; then
  echo "bench: BENCH_BASELINE_BIN=$BASE_BIN is not an executable" >&2; exit 2
fi
if [ -n "$BASE_ENG" ] && [ ! -x "$BASE_ENG" ]; then
  echo "bench: BENCH_BASELINE_ENGINE=$BASE_ENG is not an executable" >&2; exit 2
fi

TMP=$(mktemp -d /tmp/showhub-bench.XXXXXX)
RES=$TMP/results
mkdir -p "$RES/hub" "$RES/peer" "$RES/base" "$ROOT/bench/out"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
T_START=$SECONDS
PIDS=()

cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    local alive=0
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.2
  done
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Scenario sizes: full run <= 25 min, --quick <= 10 min (all targets; the show
# section alone, BENCH_ONLY=show: ~2.5 min, --quick ~1 min; the fleet section
# alone, BENCH_ONLY=fleet: ~4.5 min, --quick ~2 min; scenes: ~1 min, quick
# ~25 s; schedules: ~1.5 min, quick ~35 s).
if [ $QUICK = 1 ]; then
  ENG_ARGS=--quick; PEER_ENG_ARGS=--quick
  READ_S=2; WRITE_S=2; FAN_S=2; FAN_NS="1 100 1000"; MQTT_S=2; TAIL=2
  SUSTAIN="--step 1 --hold 2 --over 2 --tail 2"
  FLOOR_S=2; FLOOR_NS="1000"
  NET_S=10; NETF_S=5; FRAMES_S=3
  SHOW_S=10; SHOW_READERS=200; SHOW_DET_S=10
  FLEET_S=20; FLEET_SCALE_N=3000; FLEET_SCALE_S=15; FLEET_WARMUP=3
  SCENES_ROUNDS=1; SCHED_REPEAT=1
else
  ENG_ARGS=; PEER_ENG_ARGS=
  READ_S=10; WRITE_S=10; FAN_S=10; FAN_NS="1 100 1000 10000"; MQTT_S=10; TAIL=5
  SUSTAIN="--step 2 --hold 30 --over 10 --tail 10"
  FLOOR_S=10; FLOOR_NS="1000 10000"
  NET_S=60; NETF_S=10; FRAMES_S=10
  SHOW_S=60; SHOW_READERS=1000; SHOW_DET_S=20
  FLEET_S=60; FLEET_SCALE_N=10000; FLEET_SCALE_S=30; FLEET_WARMUP=5
  SCENES_ROUNDS=3; SCHED_REPEAT=2
fi
FAN_RATE=44          # the DMX frame rate
FAN_RATE_10K=10      # 10,000 readers x 10/s = 100,000 frames/s into one loadgen
OPEN_RATE=500        # open-loop REST writes: a rate both servers hold
MQTT_LOW=1000
MQTT_HIGH=12000     # QoS 1 above the 10,000/s target: what is applied is what holds
CONNS=64
SUSTAIN_CONNS=128
# Issue 7, section 9.
NET_UNIVERSES=256    # Art-Net and sACN, every slot changing every tick
NET_FPS=44
NET_WARMUP=2
FRAMES_READERS=100   # WS clients in room frames ...
FRAMES_UNIVERSES=4   # ... for universes 1..4
REPLAY_ENTRIES=10000 # hello{since} over this many journal entries
REPLAY_REPEAT=5
# The show issue's performance section.
SHOW_UNIVERSES=16    # the playback hub's patch: universes 1..16, fixtures on 2..16
SHOW_FPS=60          # DMX_PLAYBACK_FPS
SHOW_WS_UNIVERSES=4  # loadgen frames: every reader subscribes universes 1..4
SHOW_DET_RUNS=3
# The fleet issue's performance section (issue 9, section 8).
FLEET_N=1000         # devices: health every 5 s (200 msg/s), heartbeat 65 s, logs
FLEET_HEALTH=5
FLEET_HEARTBEAT=65
FLEET_LOGS=2         # log lines per device per minute
FLEET_RATE=20        # restart_app commands/s over the window, device k mod N
FLEET_CONNS=4        # POST connections (a command due while all 4 wait: unsent)
# Issue 10, section 6.
SCENES_N=50          # scenes run at once, rooms r01..r50 ...
SCENES_ACTIONS=40    # ... each 40 MQTT actions 100 ms apart (t_ms 0..3900) ...
SCENES_EXTRA=2       # ... plus 2 at offsets that already have one
SCENES_SUBS=5        # subscriber processes, the rooms split between them
SCHED_GROUPS=1000    # schedules: groups ...
SCHED_EVENTS=50      # ... x recurring events each, POLL_INTERVAL_SECONDS=1

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

free_udp_port() {
  $PY -c 'import socket; s=socket.socket(type=socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

stop_pid() {
  local p=$1
  kill -TERM "$p" 2>/dev/null || return 0
  for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null
}

# A fresh broker per target: no retained state or sessions carried over.
start_broker() {
  local dir=$1
  MQTT_PORT=$(free_port)
  cat > "$dir/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
set_tcp_nodelay true
max_queued_messages 1000000
max_inflight_messages 0
persistence false
log_dest file $dir/mosquitto.log
log_type error
log_type warning
CONF
  mosquitto -c "$dir/mosquitto.conf" >/dev/null 2>&1 &
  BROKER_PID=$!
  disown "$BROKER_PID"   # stopped by pid here; no job-control notices
  PIDS+=("$BROKER_PID")
  for _ in $(seq 1 50); do
    (exec 3<>/dev/tcp/127.0.0.1/$MQTT_PORT) 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench: mosquitto did not start" >&2
  return 1
}

# start_server hub|base|peer <dir> [ready-name]: exec the server, time exec
# -> /readyz 200 (kept as <ready-name>.json, default ready). hub and base
# (the baseline build) get HUB_ENV (VAR=value words) on top of the usual.
HUB_ENV=()
start_server() {
  local t=$1 dir=$2 ready=${3:-ready} since bin=$HUB_BIN
  HTTP_PORT=$(free_port)
  mkdir -p "$dir/data"
  [ "$t" = base ] && bin=$BASE_BIN
  since=${EPOCHREALTIME/./}
  if [ "$t" != peer ]; then
    # In its own dir with core dumps on: a crash leaves evidence (kept below).
    (cd "$dir" && ulimit -c unlimited 2>/dev/null
     DMX_HTTP_HOST=127.0.0.1 DMX_HTTP_PORT=$HTTP_PORT DMX_MQTT_HOST=127.0.0.1 \
       DMX_MQTT_PORT=${MQTT_PORT:-1} DMX_DATA_DIR=$dir/data DMX_LOG_LEVEL=warn \
       exec env "${HUB_ENV[@]}" "$bin" > "$dir/server.log" 2>&1) &
  else
    DMX_HTTP_PORT=$HTTP_PORT DMX_MQTT_HOST=127.0.0.1 DMX_MQTT_PORT=$MQTT_PORT \
      DMX_DATA_DIR=$dir/data "$PY" "$PEER_APP" > "$dir/server.log" 2>&1 &
  fi
  SRV_PID=$!
  disown "$SRV_PID"
  PIDS+=("$SRV_PID")
  timeout 40 "$LG" wait-ready --port "$HTTP_PORT" --since-us "$since" --duration 30 \
    > "$RES/$t/$ready.json" 2>>"$dir/loadgen.log"
}

# result <target> <name> <timeout-s> <cmd...>: run a scenario, keep its JSON
# (last line of stdout) or a {"failed": why} record.
result() {
  local t=$1 name=$2 limit=$3 out rc
  shift 3
  out=$(timeout "$limit" "$@" 2>>"$TMP/$t/loadgen.log")
  rc=$?
  if [ $rc = 0 ] && [ -n "$out" ]; then
    printf '%s\n' "$out" | tail -n 1 > "$RES/$t/$name.json"
  elif [ $rc = 124 ]; then
    printf '{"failed":"timed out after %ss"}\n' "$limit" > "$RES/$t/$name.json"
  elif ! kill -0 "$SRV_PID" 2>/dev/null; then
    printf '{"failed":"server died"}\n' > "$RES/$t/$name.json"
  else
    printf '{"failed":"exit %s"}\n' "$rc" > "$RES/$t/$name.json"
  fi
  printf '  %-13s %3ss  %s\n' "$name" "$((SECONDS - T_START))" \
    "$(head -c 150 "$RES/$t/$name.json")" >&2
}

run_target() {
  local t=$1 dir=$TMP/$1 n rate conn start_rate
  mkdir -p "$dir"
  echo "== $t ==" >&2
  if [ "$t" = hub ]; then
    result hub engine 180 "$ENG" $ENG_ARGS
  elif [ "$t" = base ]; then
    [ -n "$BASE_ENG" ] && result base engine 180 "$BASE_ENG" $ENG_ARGS
  else
    result peer engine 180 "$PY" "$ROOT/bench/peer_engine.py" "$PEER_APP" "$dir/engdata" \
      $PEER_ENG_ARGS
  fi
  start_broker "$dir" || { echo '{"failed":"broker"}' > "$RES/$t/ready.json"; return; }
  if ! start_server "$t" "$dir"; then
    echo "bench: $t did not become ready (see $dir/server.log)" >&2
    tail -n 5 "$dir/server.log" >&2
    stop_pid "$BROKER_PID"
    keep_logs "$t"
    return
  fi
  sleep 1
  printf '{"idle_rss_kb":%s}\n' "$(awk '/^VmRSS/{print $2}' /proc/$SRV_PID/status)" \
    > "$RES/$t/footprint.json"
  cp "$RES/$t/ready.json" "$RES/$t/ready_first.json"
  local P=(--port "$HTTP_PORT" --pid "$SRV_PID")

  result "$t" rest_read $((READ_S + 30)) bash -c \
    "wrk -t2 -c$CONNS -d${READ_S}s -s '$ROOT/bench/wrk_report.lua' http://127.0.0.1:$HTTP_PORT/rgb | grep '^{'"
  result "$t" rest_write $((WRITE_S + 40)) "$LG" rest-write "${P[@]}" --conns $CONNS \
    --duration $WRITE_S --tail $((TAIL * 2))
  # Issue 7: the same closed loop through the intent envelope, right after
  # /rgb on the same server (the peer has no /api/v1/intents).
  [ "$t" = hub ] && result hub rest_intents $((WRITE_S + 40)) "$LG" rest-write "${P[@]}" \
    --conns $CONNS --duration $WRITE_S --tail $((TAIL * 2)) --intents
  result "$t" rest_open $((WRITE_S + 40)) "$LG" rest-write "${P[@]}" --conns $CONNS \
    --rate $OPEN_RATE --duration $WRITE_S --tail $TAIL
  for n in $FAN_NS; do
    [ "$t" = base ] && [ "$n" -ge 10000 ] && continue
    rate=$FAN_RATE; conn=20
    [ "$n" -ge 10000 ] && { rate=$FAN_RATE_10K; conn=40; }
    result "$t" "fanout_$n" $((FAN_S + TAIL + conn + 40)) "$LG" fanout "${P[@]}" --readers "$n" \
      --rate $rate --duration $FAN_S --tail $TAIL --connect $conn
  done
  result "$t" mqtt_low $((MQTT_S + TAIL + 30)) "$LG" mqtt "${P[@]}" --mqtt-port "$MQTT_PORT" \
    --rate $MQTT_LOW --duration $MQTT_S --tail $TAIL
  result "$t" mqtt_high $((MQTT_S + TAIL + 30)) "$LG" mqtt "${P[@]}" --mqtt-port "$MQTT_PORT" \
    --rate $MQTT_HIGH --duration $MQTT_S --tail $TAIL
  # Issue 7: hello{since} over the last 10,000 journal entries (the writes
  # above left far more; replay posts intents first when not). Last on this
  # server: the replayed frames would weigh on the seed-000 RSS rows.
  [ "$t" = hub ] && result hub replay 150 "$LG" replay "${P[@]}" --entries $REPLAY_ENTRIES \
    --repeat $REPLAY_REPEAT
  # Sustain/overload on a fresh server and broker: nothing queued by the MQTT
  # runs (the peer may still hold thousands) may distort the ramp.
  stop_pid "$SRV_PID"
  stop_pid "$BROKER_PID"
  if [ "$t" = base ]; then # the baseline: seed-000 rows only, no sustain
    keep_logs "$t"
    return
  fi
  mkdir -p "$dir/2"
  if ! start_broker "$dir/2" || ! start_server "$t" "$dir/2"; then
    echo '{"failed":"restart before sustain"}' > "$RES/$t/sustain.json"
    keep_logs "$t"
    return
  fi
  mv "$RES/$t/ready.json" "$RES/$t/ready_restart.json"
  cp "$RES/$t/ready_first.json" "$RES/$t/ready.json"
  P=(--port "$HTTP_PORT" --pid "$SRV_PID")
  start_rate=1000
  [ "$t" = peer ] && start_rate=250
  # Quick: skip the low steps every run passes (the 2-minute budget).
  [ $QUICK = 1 ] && start_rate=$((start_rate * 4))
  result "$t" sustain $([ $QUICK = 1 ] && echo 70 || echo 200) "$LG" sustain "${P[@]}" \
    --mqtt-port "$MQTT_PORT" --conns $SUSTAIN_CONNS --start-rate $start_rate $SUSTAIN
  stop_pid "$SRV_PID"
  stop_pid "$BROKER_PID"
  keep_logs "$t"
}

# floor_result <name> <timeout-s> <binary> <args...>: one floor scenario (no
# server involved), kept as $RES/floor_<name>.json. The binary (bench/floor
# or bench/netrx) gets a --limit below the timeout, so an overrun still ends
# with its own JSON line.
floor_result() {
  local name=$1 limit=$2 out rc
  shift 2
  out=$(timeout "$limit" "$@" --limit $((limit - 5)) 2>>"$TMP/floor.log")
  rc=$?
  out=$(printf '%s\n' "$out" | tail -n 1)
  if [ "${out:0:1}" = "{" ]; then
    printf '%s\n' "$out" > "$RES/floor_$name.json"
  elif [ $rc = 124 ]; then
    printf '{"failed":"timed out after %ss"}\n' "$limit" > "$RES/floor_$name.json"
  else
    printf '{"failed":"exit %s"}\n' "$rc" > "$RES/floor_$name.json"
  fi
  printf '  %-19s %3ss  %s\n' "floor_$name" "$((SECONDS - T_START))" \
    "$(head -c 150 "$RES/floor_$name.json")" >&2
}

# The floors: what this machine's kernel does on loopback with no server,
# so each target can be judged against it (docs/benchmarks.md, "Floors").
run_floors() {
  local n t rate
  echo "== floor ==" >&2
  for n in $FLOOR_NS; do
    rate=$FAN_RATE
    [ "$n" -ge 10000 ] && rate=$FAN_RATE_10K
    for t in 1 2; do
      floor_result "fanout_${n}_t$t" $((FLOOR_S + 60)) "$FLOOR" fanout --readers "$n" --threads $t \
        --rate $rate --rounds $((rate * FLOOR_S))
    done
  done
  for t in 0 1; do
    floor_result "rtt_h$t" $((FLOOR_S + 30)) "$FLOOR" rtt --rate $OPEN_RATE --duration $FLOOR_S \
      --hops $t
  done
  # The DMX output's wire pattern from a bare sender thread into netrx.
  floor_result net $((NETF_S + NET_WARMUP + 30)) "$NETRX" floor --universes $NET_UNIVERSES \
    --fps $NET_FPS --warmup $NET_WARMUP --duration $NETF_S
  if [ -s "$TMP/floor.log" ]; then
    mkdir -p "$ROOT/bench/out/$STAMP-logs"
    cp "$TMP/floor.log" "$ROOT/bench/out/$STAMP-logs/floor.log"
  fi
}

# Server, broker and loadgen logs (and any core) go next to the results.
keep_logs() {
  local t=$1 keep=$ROOT/bench/out/$STAMP-logs/$1 f
  mkdir -p "$keep"
  for f in "$TMP/$t"/*.log "$TMP/$t"/*/*.log "$TMP/$t"/core* "$TMP/$t"/*/core*; do
    [ -f "$f" ] || continue
    cp "$f" "$keep/$(echo "${f#"$TMP/$t/"}" | tr / _)"
  done
  if ls "$keep"/core* >/dev/null 2>&1; then
    echo "bench: $t dumped core: kept in $keep (binary: $HUB_BIN)" >&2
  fi
}

# Issue 7, section 9: the DMX output and the WS frames, each on a fresh hub
# with its own patch file and the chase test pattern (every slot of every
# universe changes every tick), MQTT off (no broker: it plays no part).
run_dmx() {
  local dir=$TMP/hub/3 a s u list
  echo "== hub: DMX output ==" >&2
  mkdir -p "$dir"
  list=$(seq -s, 1 $NET_UNIVERSES)
  printf '{"universes":[%s],"fixtures":[]}\n' "$list" > "$dir/fixtures.json"
  a=$(free_udp_port); s=$(free_udp_port)
  while [ "$s" = "$a" ]; do s=$(free_udp_port); done
  HUB_ENV=(DMX_MQTT_ENABLED=false DMX_FIXTURES_FILE="$dir/fixtures.json" DMX_OUTPUT_FPS=$NET_FPS
           DMX_OUTPUT_TEST_PATTERN=chase DMX_ARTNET_ENABLED=true
           DMX_ARTNET_TARGETS=127.0.0.1:$a DMX_SACN_ENABLED=true DMX_SACN_TARGETS=127.0.0.1:$s
           DMX_OLA_ENABLED=false)
  if start_server hub "$dir" ready_net; then
    result hub net $((NET_S + NET_WARMUP + 60)) "$NETRX" hub --artnet-port "$a" --sacn-port "$s" \
      --port "$HTTP_PORT" --pid "$SRV_PID" --universes $NET_UNIVERSES --fps $NET_FPS \
      --warmup $NET_WARMUP --duration $NET_S --limit $((NET_S + NET_WARMUP + 50))
  else
    echo '{"failed":"hub did not become ready"}' > "$RES/hub/net.json"
  fi
  stop_pid "$SRV_PID"

  dir=$TMP/hub/4
  mkdir -p "$dir"
  printf '{"universes":[%s],"fixtures":[]}\n' "$(seq -s, 1 $FRAMES_UNIVERSES)" > "$dir/fixtures.json"
  HUB_ENV=(DMX_MQTT_ENABLED=false DMX_FIXTURES_FILE="$dir/fixtures.json"
           DMX_OUTPUT_TEST_PATTERN=chase DMX_OLA_ENABLED=false)
  if start_server hub "$dir" ready_frames; then
    result hub frames $((FRAMES_S + 60)) "$LG" frames --port "$HTTP_PORT" --pid "$SRV_PID" \
      --readers $FRAMES_READERS --universes $FRAMES_UNIVERSES --duration $FRAMES_S --connect 20
  else
    echo '{"failed":"hub did not become ready"}' > "$RES/hub/frames.json"
  fi
  stop_pid "$SRV_PID"
  HUB_ENV=()
  keep_logs hub
}

# tool_result <name> <timeout-s> <cmd...>: an in-process tool (no server),
# kept as $RES/hub/<name>.json like result's.
tool_result() {
  local name=$1 limit=$2 out rc
  shift 2
  out=$(timeout "$limit" "$@" 2>>"$TMP/hub/show.log")
  rc=$?
  out=$(printf '%s\n' "$out" | tail -n 1)
  if [ "${out:0:1}" = "{" ]; then
    printf '%s\n' "$out" > "$RES/hub/$name.json"
  elif [ $rc = 124 ]; then
    printf '{"failed":"timed out after %ss"}\n' "$limit" > "$RES/hub/$name.json"
  else
    printf '{"failed":"exit %s"}\n' "$rc" > "$RES/hub/$name.json"
  fi
  printf '  %-13s %3ss  %s\n' "$name" "$((SECONDS - T_START))" \
    "$(head -c 150 "$RES/hub/$name.json")" >&2
}

# The show issue: render cost in process; then fresh hubs (Release, MQTT
# off, Art-Net into a sink that never reads, DMX_PLAYBACK_FPS=60) with a
# 16-universe patch: one plays a 10-minute show while loadgen frames runs,
# three play the same 20 s show (quick: 10 s) to its end for the stream
# hashes. Patch and shows come from bench_show gen (seeded).
run_show() {
  local dir=$TMP/hub/show tpl=$TMP/hub/show_tpl sink_port sink_pid i
  echo "== hub: show ==" >&2
  mkdir -p "$dir/data/shows" "$tpl/shows"
  tool_result show_render 300 "$SHOWB" render $([ $QUICK = 1 ] && echo --quick) --limit 280
  if ! timeout 60 "$SHOWB" gen --patch "$dir/fixtures.json" --show "$dir/data/shows/bench10.cue.json" \
      --name bench10 --universes $((SHOW_UNIVERSES - 1)) --first-universe 2 --duration-s 600 \
      --cues 2000 --effects 200 --seed 1 > "$RES/hub/show_gen.json" 2>>"$TMP/hub/show.log" ||
     ! timeout 60 "$SHOWB" gen --patch "$tpl/fixtures.json" --show "$tpl/shows/det.cue.json" \
      --name det --universes $((SHOW_UNIVERSES - 1)) --first-universe 2 \
      --duration-s $SHOW_DET_S --cues $((SHOW_DET_S * 10)) --effects $((SHOW_DET_S)) --seed 2 \
      > "$RES/hub/show_gen_det.json" 2>>"$TMP/hub/show.log"; then
    echo '{"failed":"bench_show gen"}' > "$RES/hub/show_play.json"
    keep_logs hub
    return
  fi
  sink_port=$(free_udp_port)
  "$PY" "$ROOT/bench/show_hub.py" sink --port "$sink_port" 2>>"$TMP/hub/show.log" &
  sink_pid=$!
  disown "$sink_pid"
  PIDS+=("$sink_pid")
  HUB_ENV=(DMX_MQTT_ENABLED=false DMX_FIXTURES_FILE="$dir/fixtures.json"
           DMX_PLAYBACK_FPS=$SHOW_FPS DMX_OLA_ENABLED=false DMX_ARTNET_ENABLED=true
           DMX_ARTNET_TARGETS=127.0.0.1:$sink_port)
  if start_server hub "$dir" ready_show; then
    result hub show_play $((SHOW_S + 150)) "$PY" "$ROOT/bench/show_hub.py" play \
      --port "$HTTP_PORT" --pid "$SRV_PID" --show bench10 --loadgen "$LG" \
      --readers $SHOW_READERS --universes $SHOW_WS_UNIVERSES --duration $SHOW_S --connect 40
  else
    echo '{"failed":"hub did not become ready"}' > "$RES/hub/show_play.json"
  fi
  stop_pid "$SRV_PID"
  # The same with the output thread real-time (the setting for a busy box:
  # DMX_OUTPUT_PRIORITY, docs/benchmarks.md).
  HUB_ENV+=(DMX_OUTPUT_PRIORITY=10)
  if start_server hub "$dir" ready_show_rt; then
    result hub show_play_rt $((SHOW_S + 150)) "$PY" "$ROOT/bench/show_hub.py" play \
      --port "$HTTP_PORT" --pid "$SRV_PID" --show bench10 --loadgen "$LG" \
      --readers $SHOW_READERS --universes $SHOW_WS_UNIVERSES --duration $SHOW_S --connect 40
  else
    echo '{"failed":"hub did not become ready"}' > "$RES/hub/show_play_rt.json"
  fi
  stop_pid "$SRV_PID"
  for i in $(seq 1 $SHOW_DET_RUNS); do
    dir=$TMP/hub/det$i
    mkdir -p "$dir/data"
    cp -r "$tpl/shows" "$dir/data/shows"   # the same data dir contents each time
    HUB_ENV=(DMX_MQTT_ENABLED=false DMX_FIXTURES_FILE="$tpl/fixtures.json"
             DMX_PLAYBACK_FPS=$SHOW_FPS DMX_OLA_ENABLED=false DMX_ARTNET_ENABLED=true
             DMX_ARTNET_TARGETS=127.0.0.1:$sink_port)
    if start_server hub "$dir" "ready_det$i"; then
      result hub "show_det_$i" $((SHOW_DET_S + 90)) "$PY" "$ROOT/bench/show_hub.py" det \
        --port "$HTTP_PORT" --pid "$SRV_PID" --show det --bench-show "$SHOWB" \
        --patch "$tpl/fixtures.json" --show-file "$tpl/shows/det.cue.json" \
        --timeout $((SHOW_DET_S + 40))
    else
      echo '{"failed":"hub did not become ready"}' > "$RES/hub/show_det_$i.json"
    fi
    stop_pid "$SRV_PID"
  done
  stop_pid "$sink_pid"
  HUB_ENV=()
  keep_logs hub
}

# The fleet issue: N devsim devices (one process, tools/devsim/devsim.py)
# with heartbeats, health every 5 s and logs, plus restart_app commands at
# 20/s by REST, against a fresh showhub and then against seed 004's design
# (bench/fleet_peer.py: a paho listener + a one-worker command API on one
# SQLite file), each with its own fresh broker; first 1,000 devices (the
# targets), then the scale row (10,000; quick 3,000). bench/fleet_hub.py
# drives each run and measures (docs/benchmarks.md, "Fleet issue").
fleet_one() {
  local t=$1 name=$2 n=$3 win=$4 crate=$5 dir=$TMP/$1/fleet_$2 pids floor_out=
  mkdir -p "$dir"
  echo "== $t: fleet $n devices ==" >&2
  if ! start_broker "$dir"; then
    echo '{"failed":"broker"}' > "$RES/$t/fleet_$name.json"
    return
  fi
  if [ "$t" = hub ]; then
    HUB_ENV=()
    if ! start_server hub "$dir" "ready_fleet_$name"; then
      echo '{"failed":"hub did not become ready"}' > "$RES/hub/fleet_$name.json"
      stop_pid "$BROKER_PID"
      return
    fi
    pids=$SRV_PID
    floor_out=$RES/floor_fleet_$name.json
  else
    HTTP_PORT=$(free_port)
    "$PY" "$ROOT/bench/fleet_peer.py" listener --mqtt-port "$MQTT_PORT" --db "$dir/fleet.db" \
      --stats "$dir/listener.json" > "$dir/listener.out" 2>&1 &
    SRV_PID=$!
    disown "$SRV_PID"
    PIDS+=("$SRV_PID")
    "$PY" "$ROOT/bench/fleet_peer.py" api --mqtt-port "$MQTT_PORT" --db "$dir/fleet.db" \
      --http-port "$HTTP_PORT" --stats "$dir/api.json" > "$dir/api.log" 2>&1 &
    local api_pid=$!
    disown "$api_pid"
    PIDS+=("$api_pid")
    pids=$SRV_PID,$api_pid
    if ! timeout 40 "$LG" wait-ready --port "$HTTP_PORT" --duration 30 \
        > "$RES/peer/ready_fleet_$name.json" 2>>"$dir/loadgen.log"; then
      echo '{"failed":"peer did not become ready"}' > "$RES/peer/fleet_$name.json"
      stop_pid "$api_pid"; stop_pid "$SRV_PID"; stop_pid "$BROKER_PID"
      return
    fi
  fi
  result "$t" "fleet_$name" $((win + FLEET_WARMUP + n / crate + 120)) "$PY" \
    "$ROOT/bench/fleet_hub.py" run --target "$t" --port "$HTTP_PORT" --pids "$pids" \
    --broker-pid "$BROKER_PID" --mqtt-port "$MQTT_PORT" --devsim "$ROOT/tools/devsim/devsim.py" \
    --devices "$n" --window "$win" --warmup $FLEET_WARMUP --rate $FLEET_RATE \
    --conns $FLEET_CONNS --connect-rate "$crate" --health $FLEET_HEALTH \
    --heartbeat $FLEET_HEARTBEAT --logs-per-min $FLEET_LOGS --workdir "$dir" \
    --peer-db "$dir/fleet.db" --peer-stats "$dir" --floor-out "$floor_out" \
    --limit $((win + FLEET_WARMUP + n / crate + 100))
  local p
  for p in ${pids//,/ }; do stop_pid "$p"; done
  stop_pid "$BROKER_PID"
  # The peer's listener logs every message (the seed's DEBUG level): keep its end.
  [ -f "$dir/listener.out" ] && tail -n 300 "$dir/listener.out" > "$dir/listener_tail.log"
  rm -f "$dir/fleet.db" "$dir/fleet.db-wal" "$dir/fleet.db-shm" "$dir"/fleet_floor_*.json
  rm -rf "$dir/data"
}

run_fleet() {
  # 10,000 MQTT connections: the broker needs the descriptors (devsim raises
  # its own limit).
  ulimit -n "$(ulimit -Hn)" 2>/dev/null
  fleet_one hub 1k $FLEET_N "$FLEET_S" 500
  fleet_one peer 1k $FLEET_N "$FLEET_S" 500
  fleet_one hub scale $FLEET_SCALE_N "$FLEET_SCALE_S" 2000
  fleet_one peer scale $FLEET_SCALE_N "$FLEET_SCALE_S" 2000
  HUB_ENV=()
  keep_logs hub
  keep_logs peer
}

# driver_result <name> <timeout-s> <cmd...>: a driver that starts its own
# broker and hub (bench/scenes_hub.py, bench/schedules_hub.py); its JSON
# (last line of stdout) kept as $RES/hub/<name>.json, its stderr in
# $TMP/hub/<name>/driver.log.
driver_result() {
  local name=$1 limit=$2 out rc
  shift 2
  out=$(timeout "$limit" "$@" 2>>"$TMP/hub/$name/driver.log")
  rc=$?
  out=$(printf '%s\n' "$out" | tail -n 1)
  if [ "${out:0:1}" = "{" ]; then
    printf '%s\n' "$out" > "$RES/hub/$name.json"
  elif [ $rc = 124 ]; then
    printf '{"failed":"timed out after %ss"}\n' "$limit" > "$RES/hub/$name.json"
  else
    printf '{"failed":"exit %s"}\n' "$rc" > "$RES/hub/$name.json"
  fi
  printf '  %-13s %3ss  %s\n' "$name" "$((SECONDS - T_START))" \
    "$(head -c 150 "$RES/hub/$name.json")" >&2
}

# Issue 10: 50 scenes at once, in rounds of showhub, a bare publisher (the
# floor) and seed 002's design (bench/scenes_peer.py), then a feedback round
# with devsim answering; bench/scenes_hub.py starts its own Mosquitto and hub
# and writes the floor's and the peer's figures to their own files.
run_scenes() {
  local dir=$TMP/hub/scenes
  mkdir -p "$dir" "$RES/peer"
  echo "== hub: scenes ==" >&2
  driver_result scenes $((SCENES_ROUNDS * 30 + 120)) "$PY" "$ROOT/bench/scenes_hub.py" run \
    --hub "$HUB_BIN" --devsim "$ROOT/tools/devsim/devsim.py" --peer "$ROOT/bench/scenes_peer.py" \
    --scenes $SCENES_N --actions $SCENES_ACTIONS --extra $SCENES_EXTRA --step-ms 100 \
    --rounds $SCENES_ROUNDS --subs $SCENES_SUBS --workdir "$dir" \
    --peer-out "$RES/peer/scenes.json" --floor-out "$RES/floor_scenes.json" \
    --limit $((SCENES_ROUNDS * 30 + 100))
  rm -rf "$dir/data"
  keep_logs hub
}

# Issue 10: the scheduler over SCHED_GROUPS x SCHED_EVENTS recurring events
# (poll 1 s, power intents published), and run.sh's seed-000 fan-out (1,000
# readers, 44/s) on the same hub without and with that load
# (bench/schedules_hub.py). Alone, it measures the fan-out floor first.
run_schedules() {
  local dir=$TMP/hub/schedules t
  mkdir -p "$dir"
  echo "== hub: schedules ==" >&2
  if [ "$ONLY" = schedules ]; then
    for t in 1 2; do
      floor_result "fanout_1000_t$t" $((FLOOR_S + 60)) "$FLOOR" fanout --readers 1000 \
        --threads $t --rate $FAN_RATE --rounds $((FAN_RATE * FLOOR_S))
    done
  fi
  driver_result schedules $((SCHED_REPEAT * 2 * (FAN_S + 60) + 1200)) "$PY" \
    "$ROOT/bench/schedules_hub.py" run --hub "$HUB_BIN" --loadgen "$LG" \
    --groups $SCHED_GROUPS --events $SCHED_EVENTS --fan-readers 1000 --fan-rate $FAN_RATE \
    --fan-s $FAN_S --repeat $SCHED_REPEAT --workdir "$dir"
  rm -rf "$dir/idle/data" "$dir/load/data" "$dir/events.json"
  for f in "$dir"/idle/*.log "$dir"/load/*.log; do   # where keep_logs looks
    [ -f "$f" ] && cp "$f" "$dir/$(basename "$(dirname "$f")")_$(basename "$f")"
  done
  keep_logs hub
}

cpu=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
printf '{"date":"%s","nproc":%s,"cpu":"%s","kernel":"%s","quick":%s,"loadavg":"%s","only":"%s"}\n' \
  "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(nproc)" "${cpu//\"/}" "$(uname -r)" \
  "$([ $QUICK = 1 ] && echo true || echo false)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$ONLY" \
  > "$RES/machine.json"

# BENCH_ONLY=show / fleet / scenes / schedules: those scenarios alone (the
# other rows are left out).
if [ -z "$ONLY" ]; then
  run_floors
  run_target hub
  run_dmx
  if [ -n "$BASE_BIN" ]; then
    # The baseline build: seed-000 scenarios only, with --quick phase lengths
    # (the run's time budget); its own bench_engine when BENCH_BASELINE_ENGINE
    # is set, at the run's size.
    printf '{"bin":"%s","engine":"%s","phases":"quick"}\n' "$BASE_BIN" "$BASE_ENG" \
      > "$RES/base/info.json"
    saved=("$READ_S" "$WRITE_S" "$FAN_S" "$FAN_NS" "$MQTT_S" "$TAIL")
    READ_S=2; WRITE_S=2; FAN_S=2; FAN_NS="1 100 1000"; MQTT_S=2; TAIL=2
    run_target base
    READ_S=${saved[0]}; WRITE_S=${saved[1]}; FAN_S=${saved[2]}; FAN_NS=${saved[3]}
    MQTT_S=${saved[4]}; TAIL=${saved[5]}
  fi
  if [ -f "$PEER_APP" ]; then
    run_target peer
  else
    echo "bench: peer not found at $PEER_APP; its column will read n/a" >&2
  fi
fi
# Last: nothing the show hubs and the fleets do can weigh on the rows above.
mkdir -p "$TMP/hub" "$TMP/peer"
case "$ONLY" in ""|show) run_show ;; esac
case "$ONLY" in ""|fleet) run_fleet ;; esac
case "$ONLY" in ""|scenes) run_scenes ;; esac
case "$ONLY" in ""|schedules) run_schedules ;; esac
if [ "$ONLY" = schedules ] && [ -s "$TMP/floor.log" ]; then
  mkdir -p "$ROOT/bench/out/$STAMP-logs"
  cp "$TMP/floor.log" "$ROOT/bench/out/$STAMP-logs/floor.log"
fi
echo "bench: finished in $((SECONDS - T_START)) s" >&2
"$PY" "$ROOT/bench/report.py" "$RES" "$ROOT/bench/out/$STAMP.json" | tee "$ROOT/bench/out/$STAMP.txt"
