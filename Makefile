# A thin front door over CMake. The README's two set-up commands:
#   make demo   build, then gpuci run --label run-ci-short on the example (8 simulated GPUs)
#   make test   build, then the whole test suite (unit + end-to-end)
# Both first check everything they need, the build's packages and their own
# at once, before building: as root they install what is missing via
# apt-get; otherwise they print the one apt-get line to run (tools/deps.sh).

BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_FLAGS ?= --output-on-failure -j$(JOBS)

.PHONY: all build deps test-deps demo-deps dist-deps demo demo-lock dist screenshot test test-sanitize check bench format tidy clean

all: build

deps:
	@tools/deps.sh build

test-deps:
	@tools/deps.sh test

demo-deps:
	@tools/deps.sh demo

dist-deps:
	@tools/deps.sh dist

# build/gpuci without the tests; the demos check their own needs with the
# build's first, so a missing python3 is asked for before the build, not after.
define build_gpuci
	cmake -S . -B $(BUILD) -DGPUCI_TESTS=OFF
	cmake --build $(BUILD) -j$(JOBS)
endef

build: deps
	$(build_gpuci)

demo: demo-deps
	$(build_gpuci)
	examples/demo.sh

# Several CI jobs competing for 8 simulated GPUs through gpuci lock.
demo-lock: demo-deps
	$(build_gpuci)
	examples/demo-lock.sh

# The tarball, the .deb and the wheel, into $(BUILD)/dist/ (packaging/dist.sh).
dist: dist-deps
	$(build_gpuci)
	cmake --build $(BUILD) --target dist

# doc/report.png, the README's picture of the demo's report (needs chromium).
screenshot: demo-deps
	$(build_gpuci)
	tools/screenshot.sh

test: test-deps
	cmake -S . -B $(BUILD) -DGPUCI_TESTS=ON -DGPUCI_REQUIRE_TESTS=ON
	cmake --build $(BUILD) -j$(JOBS)
	cd $(BUILD) && ctest $(CTEST_FLAGS)

# The same suite under AddressSanitizer and UndefinedBehaviorSanitizer.
test-sanitize: test-deps
	cmake -S . -B $(ASAN_BUILD) -DGPUCI_TESTS=ON -DGPUCI_REQUIRE_TESTS=ON -DGPUCI_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest $(CTEST_FLAGS)

check: test test-sanitize

bench: build
	bench/lock/run.sh $(BUILD)/gpuci

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

tidy: test
	clang-tidy -p $(BUILD) --quiet $$(git ls-files 'src/*.c')
	cppcheck --quiet --enable=warning,performance,portability --error-exitcode=1 \
		--inline-suppr -I src $$(git ls-files 'src/*.c')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
