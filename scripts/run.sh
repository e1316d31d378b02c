#!/usr/bin/env bash
# make run: start a local Mosquitto when none answers on DMX_MQTT_HOST:PORT
# (localhost only), then run showhub in the foreground. Ctrl-C stops both.
set -euo pipefail
bin=${1:-build/showhub}
cd "$(dirname "$0")/.."

export DMX_DATA_DIR=${DMX_DATA_DIR:-./data}
export DMX_MQTT_HOST=${DMX_MQTT_HOST:-localhost}
export DMX_MQTT_PORT=${DMX_MQTT_PORT:-1883}
broker_bind=${DMX_BROKER_BIND:-127.0.0.1}
mkdir -p "$DMX_DATA_DIR/mosquitto"

listening() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

broker_pid=""
cleanup() {
  if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
    kill "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

case "$DMX_MQTT_HOST" in
  localhost|127.0.0.1|::1)
    if listening 127.0.0.1 "$DMX_MQTT_PORT"; then
      echo "run: using the MQTT broker already listening on localhost:$DMX_MQTT_PORT" >&2
    else
      d=$(cd "$DMX_DATA_DIR/mosquitto" && pwd)
      cat > "$d/mosquitto.conf" <<CONF
# Written by make run. Low latency and no silent loss under bursts:
# Nagle off, and a queue that holds a full command burst.
listener $DMX_MQTT_PORT $broker_bind
allow_anonymous true
user $(id -un)
persistence true
persistence_location $d/
set_tcp_nodelay true
max_queued_messages 100000
max_inflight_messages 1000
log_dest file $d/mosquitto.log
CONF
      # setsid: Ctrl-C reaches showhub only, so it can still say "offline".
      setsid mosquitto -c "$d/mosquitto.conf" &
      broker_pid=$!
      for _ in $(seq 1 50); do listening 127.0.0.1 "$DMX_MQTT_PORT" && break; sleep 0.1; done
      listening 127.0.0.1 "$DMX_MQTT_PORT" || { echo "run: mosquitto did not start; see $d/mosquitto.log" >&2; exit 1; }
      echo "run: started mosquitto on $broker_bind:$DMX_MQTT_PORT (data in $d)" >&2
    fi ;;
esac

echo "run: showhub on http://localhost:${DMX_HTTP_PORT:-8080}/ — console /console.html, shows /show.html (Ctrl-C to stop)" >&2
"$bin" &
hub=$!
# Ctrl-C reaches showhub from the terminal directly; a TERM sent to this
# script is passed on. Either way showhub shuts down cleanly by itself.
trap '' INT
trap 'kill -TERM $hub 2>/dev/null || true' TERM
set +e
wait $hub; rc=$?
# wait returns early when a trapped signal arrives; wait for the real exit.
while kill -0 $hub 2>/dev/null; do wait $hub; rc=$?; done
exit $rc
