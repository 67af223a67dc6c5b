# The README's commands. `make demo` runs the main job; `make test` builds and runs every test.
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: deps configure build test fuzz sanitize sanitize-thread demo bench docs clean

deps:
	./scripts/install_deps.sh

configure: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	./fuzz/run.sh $(BUILD)

# The fuzz targets (libFuzzer, ~30 s each, run together: the file formats and the op layer);
# `make test` runs them too.
fuzz: build
	./fuzz/run.sh $(BUILD)

# ASan + UBSan (float-cast-overflow too) build of the library, tests and examples, then the
# suite and a short mica-train run; see scripts/sanitize.sh.
sanitize: deps
	./scripts/sanitize.sh

# ThreadSanitizer build of the library and the tests that use threads (eval, async_eval, the
# thread pool); see scripts/sanitize_thread.sh.
sanitize-thread: deps
	./scripts/sanitize_thread.sh

# The main job: mica-train on Debian's fortunes (about four minutes on two cores), then a sample.
demo: build
	./$(BUILD)/examples/mica-train $(ARGS)

bench: build
	./benchmarks/run_cpu.sh $(BUILD)

# The API reference from the headers' comments: $(BUILD)/api/html/index.html (fails on warnings).
docs: deps
	mkdir -p $(BUILD)/api
	MICA_SOURCE_DIR=$(CURDIR) MICA_API_OUT=$(CURDIR)/$(BUILD)/api doxygen docs/Doxyfile

clean:
	rm -rf $(BUILD)
