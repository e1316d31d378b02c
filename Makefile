# showhub: the two commands are `make run` and `make test`.
.PHONY: all deps build build-asan run test bench clean

JOBS ?= $(shell nproc)
BUILD ?= build

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DHUB_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)

run: build
	@scripts/run.sh $(BUILD)/showhub

test: build build-asan
	@echo "== tests (release build) =="
	@cd $(BUILD) && ctest --output-on-failure -j 2
	@echo "== tests (ASan + UBSan build) =="
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j 2

bench:
	@HUB_BENCH_DEPS=1 scripts/deps.sh
	@cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DHUB_BUILD_TESTS=OFF >/dev/null
	@cmake --build build-release -j $(JOBS) --target showhub hub_bench_all
	@bench/run.sh build-release $(if $(QUICK),--quick,)

clean:
	rm -rf build build-asan build-release
