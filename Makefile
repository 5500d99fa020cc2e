# The two commands a newcomer needs: `make demo` and `make test`. Both set up what is missing
# first (scripts/setup.sh: project venv with libtorch, .libtorch link) and are quick when done.
CARGO ?= cargo

.PHONY: setup build demo test lint fmt fuzz

setup:
	@./scripts/setup.sh

build: setup
	$(CARGO) build --workspace

demo: build
	@./scripts/demo.sh

test: setup
	$(CARGO) test --workspace

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

# Coverage-guided fuzzing of CDR + PointCloud2 decoding (needs nightly and cargo-fuzz).
fuzz:
	cd fuzz && $(CARGO) +nightly fuzz run cdr_pointcloud -- -max_total_time=$${FUZZ_SECONDS:-300}
