# The README's two commands. Each installs what is missing (Debian packages),
# configures, builds, and then runs the demo or every test.
PRESET ?= default
BUILD  := build/$(PRESET)

.PHONY: demo test build deps bench clean

demo: build
	./$(BUILD)/examples/tightloop --table
	@echo
	@echo "gort::net: 100 connections to an echo server in the same process, 1 s (examples/echo_load --self):"
	./$(BUILD)/examples/echo_load --self -c 100 -d 1
	@echo "Serve it yourself: ./$(BUILD)/examples/echo 127.0.0.1:7007, then ./$(BUILD)/examples/echo_load 127.0.0.1:7007"
	@echo
	@echo "The execution trace of one call-free tight loop, preempted by signal (GORTDEBUG=trace=FILE):"
	GORTDEBUG=trace=$(BUILD)/tightloop.trace ./$(BUILD)/examples/tightloop --loop=nocalls --procs=2
	./$(BUILD)/cli/gort trace $(BUILD)/tightloop.trace --summary
	@echo "Its timeline, one page for any browser: ./$(BUILD)/cli/gort trace $(BUILD)/tightloop.trace --html tightloop.html"

test: build
	ctest --preset $(PRESET)

build: deps
	cmake --preset $(PRESET)
	cmake --build --preset $(PRESET)

deps:
	bash tools/install-deps.sh

bench: deps
	bash tools/install-deps.sh --bench
	cmake --preset default
	bench/compare.sh build/default

clean:
	rm -rf build
