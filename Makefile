# The README's two commands. Each installs what is missing (Debian packages),
# configures, builds, and then runs the demo or every test.
PRESET ?= default
BUILD  := build/$(PRESET)

.PHONY: demo test build deps bench clean

demo: build
	./$(BUILD)/examples/tightloop --table

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
