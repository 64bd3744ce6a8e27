# Thin wrapper over CMake. Both targets install missing Debian packages
# first (deploy/install-deps.sh is idempotent and quiet when all is there).
BUILD ?= build
JOBS ?= 2
DEMO_DIR ?= out/demo
ANCHORD := $(BUILD)/daemon/anchord

.PHONY: all deps build demo test bench clean

all: build

deps:
	./deploy/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j$(JOBS)

# The main job: a synthetic distorted Si(111)-7x7 frame, registered.
demo: build
	./deploy/demo.sh $(ANCHORD) $(DEMO_DIR)

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

bench: build
	$(BUILD)/bench/anchord_register_bench

clean:
	rm -rf $(BUILD) out
