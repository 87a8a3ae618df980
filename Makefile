# SPDX-License-Identifier: MIT
# vhm — live migration of vhost-user devices, and live dirty-rate tracking.
#
#   make          build build/vhm and its man pages; only builds (a missing
#                 build package is named, with the command installing it)
#   make demo     a real run against DPDK testpmd (installs what it needs)
#   make check    every test, plain, under ASan+UBSan, and the threaded
#                 suites under ThreadSanitizer (installs what it needs)
#   make bench    benchmarks, each printed as a ratio to a baseline of the same run
#   make soak     1000 migrations back and forth, nothing may grow or be lost
#   make fuzz     libFuzzer harnesses, FUZZ_S seconds each (tests/fuzz/fuzz.mk)
#   make deps     install the Debian packages (scripts/deps.sh)
#   make install, make uninstall   PREFIX=/usr/local DESTDIR= (scripts/install.sh)
#   make dist     build/vhm-$(cat VERSION).tar.gz
#
# BUILD=dir puts the build elsewhere (several builds may coexist).
# V=1 prints the compiler command lines (one short line per file otherwise).

BUILD    ?= build
V        ?= 0
Q        := $(if $(filter 1,$(V)),,@)
CC       ?= cc
SAN      ?=
# The release number is in VERSION; the commit comes from GIT_REVISION in a
# tarball of `make dist`, else from git, else is left out.
VERSION  := $(shell cat VERSION)
GIT_REV  := $(shell cat GIT_REVISION 2>/dev/null || \
              git describe --always --dirty --abbrev=7 --exclude='*' 2>/dev/null)

PKGS     := jansson libxml-2.0 libvirt ncursesw
# libvirt's headers only: vhm loads libvirt.so.0 when a command needs it
# (libvirt/lv_api.h). The tests call libvirt themselves and link it.
LINK_PKGS:= $(filter-out libvirt,$(PKGS))
LIBVIRT_LIBS := $(shell pkg-config --libs libvirt 2>/dev/null)
# Source folders, lowest layer first (README "Layout"; scripts/check-layers.sh
# refuses an include that reaches up).
VHM_DIRS := orchestrator/vhost orchestrator/device orchestrator/migration \
            orchestrator/certify orchestrator/runner orchestrator/cli
DIRS     := common logtrack rarp bpf ui libvirt $(VHM_DIRS)
CPPFLAGS += $(addprefix -I,$(DIRS)) -D_GNU_SOURCE -DVHM_VERSION='"$(VERSION)"' \
            -DVHM_GIT='"$(GIT_REV)"'
TEST_CPPFLAGS := -Itests/backend -Itests/integration
OPT      ?= -O2 -g
CFLAGS   += $(OPT) -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers -Wno-format-truncation \
            -fno-strict-aliasing $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(LINK_PKGS) 2>/dev/null) -lm -lpthread
# Sanitizer builds link libvirt all the same: their interceptors (libtirpc's
# xdr_*, which libvirt calls) find the real functions when the program
# starts, and one in a library loaded later is left unbound -- a call
# through NULL. lv_api's dlopen then finds libvirt already loaded.
ifneq ($(SAN),)
LDLIBS   += -Wl,--push-state,--no-as-needed $(LIBVIRT_LIBS) -Wl,--pop-state
endif
# SAN=1: ASan+UBSan; SAN=thread: ThreadSanitizer.
# GCC warns that TSan does not model atomic_thread_fence; vring's fences
# order guest-memory accesses against the backend, another process TSan does
# not see anyway.
ifeq ($(SAN),thread)
CFLAGS   += -fsanitize=thread -fno-omit-frame-pointer \
            $(shell $(CC) -Werror -Wno-tsan -E -x c /dev/null >/dev/null 2>&1 && echo -Wno-tsan)
LDFLAGS  += -fsanitize=thread
else ifneq ($(SAN),)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif

LIB_SRCS  := $(filter-out orchestrator/cli/main.c %.bpf.c,$(wildcard $(addsuffix /*.c,$(DIRS))))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
TBE_SRCS  := $(wildcard tests/backend/*.c)
TEST_SRCS := $(wildcard tests/unit/*.c tests/integration/*.c)
BENCH_SRCS:= $(wildcard bench/*.c)

VHM       := $(BUILD)/vhm
TESTBE    := $(BUILD)/vhm-testbe
TESTS     := $(BUILD)/vhm-tests
BENCH     := $(BUILD)/vhm-bench
LIB       := $(BUILD)/libvhm.a

.PHONY: all deps deps-auto deps-build binaries demo check check-layers test test-plain test-asan \
        test-tsan bench soak clean man dist install uninstall FORCE
# A plain `make` installs nothing: it names what is missing and stops.
all: deps-build
	@$(MAKE) --no-print-directory binaries man

deps:
	scripts/deps.sh

deps-auto:
	@scripts/deps.sh >/dev/null || scripts/deps.sh

deps-build:
	@scripts/deps.sh --check-build

binaries: $(VHM) $(TESTBE)

# The objects that print the version are rebuilt when it changes.
VERSION_STAMP := $(BUILD)/version.stamp
$(VERSION_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(VERSION) $(GIT_REV)' | cmp -s - $@ || echo '$(VERSION) $(GIT_REV)' > $@
$(BUILD)/obj/orchestrator/cli/main.o $(BUILD)/obj/common/ctl.o: $(VERSION_STAMP)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

# Test-only headers (the test backend, the integration helpers) are seen by
# the tests, the test backend and the benchmarks alone.
$(BUILD)/obj/tests/%.o $(BUILD)/obj/bench/%.o: CPPFLAGS += $(TEST_CPPFLAGS)

$(LIB): $(LIB_OBJS)
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

$(VHM): $(BUILD)/obj/orchestrator/cli/main.o $(LIB)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(TESTBE): $(TBE_SRCS:%.c=$(BUILD)/obj/%.o) $(LIB)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(TESTS): $(TEST_SRCS:%.c=$(BUILD)/obj/%.o) $(LIB)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(LIBVIRT_LIBS) -lcriterion

# Benchmarks start backends and devices with the same helpers as the tests.
$(BENCH): $(BENCH_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/tests/integration/support.o $(LIB)
	@$(if $(Q),echo "  LINK    $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Tests find the binaries under test through VHM_BUILD. The bench is built
# too (not run): make check keeps it compiling with -Werror (once: the ASan
# pass leaves TEST_BENCH empty).
TEST_BENCH ?= $(BENCH)
test-plain: $(VHM) $(TESTBE) $(TESTS) $(TEST_BENCH) man
	VHM_BUILD=$(BUILD) $(TESTS) --jobs 1 --xml=$(BUILD)/test-results.xml $(TEST_ARGS)

test-asan:
	@LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  $(MAKE) --no-print-directory BUILD=$(BUILD)/asan SAN=1 OPT="-O1 -g" TEST_BENCH= test-plain

# The suites whose processes start threads (vhm run's loop, datapath,
# writer, migration and digest threads; the test backend's datapath; vhm
# top's sampler) with vhm and vhm-testbe built with ThreadSanitizer in
# $(BUILD)/tsan: the tests exec $VHM_BUILD/vhm. The test binary itself stays
# the plain one: Criterion's arena maps memory at fixed addresses inside
# TSan's shadow range and aborts ("Could not initialize inheritable arena",
# Criterion issue #274), and no test in these suites starts a thread of its
# own. Every process writes its reports to $(TSAN_LOGS); any report fails the
# pass. The tests' own verdicts do not: TSan slows vhm down 5-15 times, past
# their rate and throughput assertions, which the plain and ASan passes
# hold; they run --quiet (their own verdicts are the other passes' job) and
# the patterns with a failing test are named. tests/tsan.supp silences third-party
# code only. Criterion takes one glob per run, hence one run per pattern.
# The migrations chosen cover a switchover, a rollback, a cancel, the state
# events, QMP's queries while the job's thread runs (qmp/*), vhm certify's own
# device through a backend restart (certify/reconnect*), a device that
# comes in by a migration stream on a thread of its own (stream_incoming/*), a
# stream over four connections, a sender and a reader thread each (stream_multi/four*)
# and the test backend's datapath; layouts, back_and_forth_20 and
# track/verify_clean_against_testpmd (a 30 s soak; the other verify tests
# run the same threads) add minutes under TSan and no other thread
# interaction. About 5 min in all.
TSAN_SUITES := device/* migrate/[cst]* migrate/between* migrate/hot_swap_test* \
               track_*/* track/[!v]* track/verify_[!c]* ctl_*/* \
               top*/* qmp/* certify/reconnect* stream_incoming/* stream_multi/four*
TSAN_BUILD   = $(BUILD)/tsan
TSAN_LOGS    = $(TSAN_BUILD)/logs
# Newer kernels map memory where TSan does not expect it ("unexpected memory
# mapping"); without ASLR it always starts. setarch is used when it works.
TSAN_NOASLR := $(shell setarch $$(uname -m) -R true 2>/dev/null && echo setarch $$(uname -m) -R)

test-tsan: $(TESTS)
	@$(MAKE) --no-print-directory BUILD=$(TSAN_BUILD) SAN=thread OPT="-O1 -g" \
	  $(TSAN_BUILD)/vhm $(TSAN_BUILD)/vhm-testbe
	@rm -rf $(TSAN_LOGS) && mkdir -p $(TSAN_LOGS)
	@failed=""; for f in $(TSAN_SUITES); do \
	  echo "tsan: $$f"; \
	  TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp log_path=$(CURDIR)/$(TSAN_LOGS)/tsan" \
	    VHM_BUILD=$(TSAN_BUILD) $(TSAN_NOASLR) $(TESTS) --jobs 1 --quiet --filter "$$f" $(TEST_ARGS) \
	    || failed="$$failed $$f"; \
	done; \
	if [ -n "$$failed" ]; then echo "tsan: patterns with a test failing under TSan's slowdown (the plain and ASan passes judge tests):$$failed"; fi
	@if ls $(TSAN_LOGS)/tsan* >/dev/null 2>&1; then \
	  cat $(TSAN_LOGS)/tsan*; echo "tsan: reports above ($(TSAN_LOGS))"; exit 1; fi
	@echo "tsan: no reports"

# Includes go down only (README "Layout").
check-layers:
	scripts/check-layers.sh

# Tests that a second pass teaches nothing: `make check` runs them once, in
# the ASan+UBSan pass, where vhm's side of them is checked for memory errors
# too; `make test-plain` alone runs them. Criterion globs, one per entry:
# - suites that drive whole outside systems and take minutes each (libvirtd
#   with a QEMU guest under TCG, two of them migrating; Open vSwitch with DPDK);
# - vhm certify's whole runs against testpmd and OVS: their subject is the
#   backend;
# - the fault tables: faults/matrix (every migration phase x side x fault,
#   ~100 s a pass) and certify/testbe_faults (certify's verdict on each of the
#   test backend's faults, ~70 s): injected faults with fixed outcomes, whose
#   verdicts the ASan pass judges as the plain one would, memory errors on
#   the failure paths besides (one pass keeps make check under 45 min);
# - soaks: testpmd's log under verify for 30 s (its subject is the backend's
#   log; the verify tests with the test backend's faults run in both passes)
#   and 20 migrations back and forth (fds and memory that must not grow: the
#   ASan pass, with LeakSanitizer, is where that is judged best);
# - the packaging suites (pkg_*): man pages, completion, install, unit file,
#   version and tarball come out the same from either build;
# - the layout matrices against testpmd (device/testpmd_loopback and
#   migrate/layouts: 1 and 4 queue pairs, split and packed, ~70 s a pass):
#   at a fixed frame rate their verdicts do not depend on the build, as
#   the fault tables'; the plain pass keeps testpmd's split and packed
#   rings in migrate/testpmd_to_testpmd and
#   migrate/packed_destination_base_and_status.
ONCE_TESTS := libvirt_pair/*|libvirt_real/*|ovs/*|pkg_*/*
ONCE_TESTS := $(ONCE_TESTS)|certify/testpmd_passes_every_check
ONCE_TESTS := $(ONCE_TESTS)|certify/ovs_passes_every_check_it_supports
ONCE_TESTS := $(ONCE_TESTS)|track/verify_clean_against_testpmd|migrate/back_and_forth_20
ONCE_TESTS := $(ONCE_TESTS)|faults/matrix|certify/testbe_faults
ONCE_TESTS := $(ONCE_TESTS)|device/testpmd_loopback|migrate/layouts

# CI runs `make check` without -j (.ci/run): its builds (fuzz, plain, ASan,
# TSan trees) use every core unless a -j was given. The tests themselves
# run one at a time whatever -j says (--jobs 1, one recipe).
NPROC   := $(shell nproc 2>/dev/null || echo 1)
CHECK_J  = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(NPROC))

# Each pass says how long it took; each test's time is in
# <tree>/test-results.xml (Criterion's JUnit report), so that whoever finds
# make check slow can see where. $(call timed,TARGET ARGS...)
timed = t=$$(date +%s); $(MAKE) --no-print-directory $(CHECK_J) $(1); rc=$$?; \
	echo "check: $(firstword $(1)) took $$(( $$(date +%s) - t )) s"; exit $$rc

check: deps-auto
	@$(MAKE) --no-print-directory check-layers
	@$(call timed,fuzz-replay)
	@$(call timed,test-plain TEST_ARGS="--filter '!($(ONCE_TESTS))'")
	@$(call timed,test-asan)
	@$(call timed,test-tsan)

test: check

demo: deps-auto
	@$(MAKE) --no-print-directory binaries
	scripts/demo.sh $(BUILD)

# make soak [SOAK_N=1000]: migrations back and forth between two testpmds,
# failing on any growth of fds, threads or memory after the 10th, any lost
# frame or failed migration (scripts/soak.sh). Not part of make check.
soak: deps-auto
	@$(MAKE) --no-print-directory binaries
	SOAK_N=$(or $(SOAK_N),1000) scripts/soak.sh $(BUILD)

bench: deps-auto
	@$(MAKE) --no-print-directory $(VHM) $(TESTBE) $(BENCH)
	VHM_BUILD=$(BUILD) $(BENCH)

clean:
	rm -rf $(BUILD)

# Man pages: vhm(1) from man/vhm.1.in, one vhm-CMD(1) per command from its
# --help (scripts/mkman.sh), so a page never disagrees with the command, and
# the hand-written examples of man/vhm-CMD.examples.
MAN_DIR := $(BUILD)/man
man: $(MAN_DIR)/.stamp
$(MAN_DIR)/.stamp: $(VHM) man/vhm.1.in $(wildcard man/*.examples) scripts/mkman.sh
	@$(if $(Q),echo "  MAN     $(MAN_DIR)")
	$(Q)scripts/mkman.sh $(VHM) $(MAN_DIR) '$(VERSION)'
	@touch $@

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary, the man pages, bash
# completion, libvirt's QEMU hook and the libvirt-watch unit, with a list of
# what was installed that `make uninstall` removes, and nothing else
# (scripts/install.sh). libvirtd looks for hooks when it starts: restart it
# (or SIGHUP) after installing.
PREFIX   ?= /usr/local
install: $(VHM) man
	PREFIX='$(PREFIX)' DESTDIR='$(DESTDIR)' scripts/install.sh install $(BUILD)
uninstall:
	PREFIX='$(PREFIX)' DESTDIR='$(DESTDIR)' scripts/install.sh uninstall $(BUILD)

# make dist: build/vhm-VERSION.tar.gz of the committed tree, with the commit
# in GIT_REVISION (a tarball has no .git).
DIST := vhm-$(VERSION)
dist:
	@mkdir -p $(BUILD)
	@git rev-parse --short=7 HEAD > $(BUILD)/GIT_REVISION
	git archive --prefix=$(DIST)/ --add-file=$(BUILD)/GIT_REVISION -o $(BUILD)/$(DIST).tar.gz HEAD
	@echo "dist: $(BUILD)/$(DIST).tar.gz"

# Per-area build rules (BPF objects and skeletons).
-include bpf/bpf.mk
-include tests/fuzz/fuzz.mk

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
