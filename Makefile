# Thin wrapper over CMake. Both targets install missing Debian packages
# first (deploy/install-deps.sh is idempotent and quiet when all is there).
BUILD ?= build
JOBS ?= 2
DEMO_DIR ?= out/demo
ANCHORD := $(BUILD)/daemon/anchord

.PHONY: all deps build demo demo-nanonis test bench clean

all: build

deps:
	./deploy/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j$(JOBS)

# The product: the daemon, a simulated instrument publishing a drifting
# synthetic Si(111)-7x7 sequence, and a console view; 20 frames, then stop.
demo: build
	$(ANCHORD) demo --frames 20 --out $(DEMO_DIR)

# The same loop through the Nanonis TCP protocol: the protocol simulator,
# `anchord serve` and `anchord bridge nanonis --apply-drift`, each a process
# on loopback; the simulator prints the residual drift after 30 frames.
demo-nanonis: build
	./deploy/demo_nanonis.sh $(BUILD) 30

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

bench: build
	$(BUILD)/bench/anchord_register_bench

clean:
	rm -rf $(BUILD) out
