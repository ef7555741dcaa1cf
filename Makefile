# The two commands a new user needs: `make demo` and `make test`. Each does its
# own set-up (Debian packages, build) from a fresh clone.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEDMIGRATE_WERROR=ON

.PHONY: setup configure build test test-asan demo bench clean format

setup:
	@bash scripts/setup.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

configure: setup $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# The unit tests under AddressSanitizer and UBSan first (quick), then everything.
test: build test-asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: setup
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMEDMIGRATE_SANITIZE=ON -DMEDMIGRATE_WERROR=ON
	cmake --build build-asan -j $(JOBS) --target unit_tests
	cd build-asan && ctest -L unit --output-on-failure -j $(JOBS)

demo: build
	$(BUILD)/medmigrate demo

# medmigrate against a plain COPY pipe of the same tables (bench/README.md);
# e.g. make bench BENCH_ARGS="--scale prod".
bench: build
	bash bench/migrate_bench.sh $(BENCH_ARGS)

clean:
	rm -rf $(BUILD) build-asan

format:
	find src cli tests bench -name '*.cpp' -o -name '*.h' | xargs clang-format -i
