#!/usr/bin/env bash
# Build the libFuzzer targets with clang and run each for a bounded time
# (default 20 s, FUZZ_SECONDS to change). Used by ctest (label "fuzz").
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/build/fuzz}
secs=${FUZZ_SECONDS:-20}
mkdir -p "$out"
flags=(-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -I"$root/src"
       $(pkg-config --cflags jansson))
libs=($(pkg-config --libs jansson) -lm)

clang "${flags[@]}" -o "$out/fuzz_command" "$here/fuzz_command.c" \
  "$root/src/engine/intent.c" "$root/src/core/jbuf.c" "$root/src/core/ulid.c" "$root/src/core/mem.c" \
  "${libs[@]}"
clang "${flags[@]}" -o "$out/fuzz_patch" "$here/fuzz_patch.c" \
  "$root/src/domains/dmx/patchfile.c" "$root/src/domains/dmx/roles.c" "$root/src/core/mem.c" \
  "${libs[@]}"
clang "${flags[@]}" -o "$out/fuzz_show" "$here/fuzz_show.c" \
  "$root/src/domains/show/showfile.c" "$root/src/domains/show/showfile_parse.c" \
  "$root/src/domains/show/render.c" "$root/src/domains/show/render_compile.c" \
  "$root/src/domains/dmx/patchfile.c" "$root/src/domains/dmx/roles.c" "$root/src/core/mem.c" \
  "$root/src/core/jbuf.c" "${libs[@]}"
clang "${flags[@]}" -o "$out/fuzz_mqtt" "$here/fuzz_mqtt.c" \
  "$root/src/proto/mqtt_devices.c" "$root/src/core/mem.c" "${libs[@]}"
clang "${flags[@]}" -o "$out/fuzz_fleet" "$here/fuzz_fleet.c" \
  "$root"/src/domains/devices/model_*.c "$root/src/core/jbuf.c" "$root/src/core/uuid.c" \
  "$root/src/core/mem.c" "${libs[@]}"
clang "${flags[@]}" -o "$out/fuzz_scene" "$here/fuzz_scene.c" \
  "$root"/src/domains/scenes/model_*.c "$root"/src/domains/devices/model_*.c \
  "$root/src/core/jbuf.c" "$root/src/core/uuid.c" "$root/src/core/mem.c" "$root/src/core/str.c" \
  "$root/src/engine/intent.c" "$root/src/core/ulid.c" "${libs[@]}"
clang "${flags[@]}" $(pkg-config --cflags libical) -o "$out/fuzz_sched" "$here/fuzz_sched.c" \
  "$root"/src/domains/schedules/model_*.c "$root/src/core/jbuf.c" "$root/src/core/uuid.c" \
  "$root/src/core/mem.c" "${libs[@]}" $(pkg-config --libs libical)

for t in command mqtt patch show fleet scene sched; do
  case $t in command) corpus=corpus_cmd;; mqtt) corpus=corpus_mqtt;; patch) corpus=corpus_patch;;
    show) corpus=corpus_show;; fleet) corpus=corpus_fleet;; scene) corpus=corpus_scene;;
    sched) corpus=corpus_sched;; esac
  work="$out/corpus_$t"
  mkdir -p "$work"
  echo "fuzz: $t for ${secs}s"
  "$out/fuzz_$t" -max_total_time="$secs" -max_len=20000 -timeout=5 -print_final_stats=1 \
    "$work" "$here/$corpus" 2>&1 | tail -4
done
echo "fuzz: no crash, leak or assertion in any target"
