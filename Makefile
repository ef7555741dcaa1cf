# The two commands a new user needs: `make demo` and `make test`. Each does its
# own set-up (Debian packages, build) from a fresh clone.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEDMIGRATE_WERROR=ON

.PHONY: setup configure build test demo bench clean format

setup:
	@bash scripts/setup.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

configure: setup $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	$(BUILD)/medmigrate demo

clean:
	rm -rf $(BUILD)

format:
	find src cli tests bench -name '*.cpp' -o -name '*.h' | xargs clang-format -i
