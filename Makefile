# The two commands a newcomer needs: `make demo` and `make test`. Both set up what is missing
# first (scripts/setup.sh: project venv with libtorch, .libtorch link) and are quick when done.
CARGO ?= cargo
# Real-data tests read ../shared/data (KITTI, nuScenes, ROS 2 bags); FUSOR_DATA overrides it.
FUSOR_DATA ?= $(firstword $(wildcard $(abspath $(CURDIR)/../shared/data) /work/shared/data))
export FUSOR_DATA

.PHONY: setup build demo test lint fmt fuzz

setup:
	@./scripts/setup.sh

build: setup
	$(CARGO) build --workspace

demo: build
	@./scripts/demo.sh

test: setup
	$(CARGO) test --workspace --no-fail-fast

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

# Coverage-guided fuzzing of CDR + PointCloud2 decoding (needs nightly and cargo-fuzz).
fuzz:
	cd fuzz && $(CARGO) +nightly fuzz run cdr_pointcloud -- -max_total_time=$${FUZZ_SECONDS:-300}
