# Benchmarks (built by `make bench`, target hub_bench_all; see docs/benchmarks.md).
set(HUB_BENCH_DIR ${CMAKE_CURRENT_LIST_DIR})

# loadgen: REST/WS/MQTT load generator on one libuv loop.
add_executable(loadgen
  ${HUB_BENCH_DIR}/lg_main.c ${HUB_BENCH_DIR}/lg_util.c ${HUB_BENCH_DIR}/lg_hist.c
  ${HUB_BENCH_DIR}/lg_proc.c ${HUB_BENCH_DIR}/lg_cmd.c ${HUB_BENCH_DIR}/lg_pace.c
  ${HUB_BENCH_DIR}/lg_http.c ${HUB_BENCH_DIR}/lg_sync.c ${HUB_BENCH_DIR}/lg_rest.c
  ${HUB_BENCH_DIR}/lg_ws.c ${HUB_BENCH_DIR}/lg_mqtt.c
  ${HUB_BENCH_DIR}/lg_scn_rest.c ${HUB_BENCH_DIR}/lg_scn_fanout.c
  ${HUB_BENCH_DIR}/lg_scn_mqtt.c ${HUB_BENCH_DIR}/lg_scn_sustain.c
  ${HUB_BENCH_DIR}/lg_scn_ready.c ${HUB_BENCH_DIR}/lg_scn_frames.c
  ${HUB_BENCH_DIR}/lg_scn_replay.c ${HUB_BENCH_DIR}/nofile.c)
target_compile_options(loadgen PRIVATE ${HUB_WARNINGS})
target_link_libraries(loadgen PRIVATE PkgConfig::UV PkgConfig::LWS PkgConfig::MOSQ
                      PkgConfig::JANSSON Threads::Threads m)

# bench_engine: in-process validate+dedupe+apply latency of the engine.
add_executable(bench_engine ${HUB_BENCH_DIR}/bench_engine.c)
target_compile_options(bench_engine PRIVATE ${HUB_WARNINGS})
target_link_libraries(bench_engine PRIVATE hub_dmx)

set_target_properties(loadgen bench_engine PROPERTIES
  RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
add_custom_target(hub_bench_all DEPENDS loadgen bench_engine)

# netrx: counts the hub's Art-Net and sACN output on loopback (and, in
# `netrx floor`, the same traffic from a bare sender thread).
add_executable(netrx
  ${HUB_BENCH_DIR}/netrx_main.c ${HUB_BENCH_DIR}/netrx_rx.c ${HUB_BENCH_DIR}/netrx_pkt.c
  ${HUB_BENCH_DIR}/netrx_hub.c ${HUB_BENCH_DIR}/netrx_tx.c ${HUB_BENCH_DIR}/lg_sync.c
  ${HUB_BENCH_DIR}/cli.c
  ${HUB_BENCH_DIR}/lg_cmd.c)
target_compile_options(netrx PRIVATE ${HUB_WARNINGS})
target_link_libraries(netrx PRIVATE PkgConfig::JANSSON Threads::Threads m)
set_target_properties(netrx PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
add_dependencies(hub_bench_all netrx)
