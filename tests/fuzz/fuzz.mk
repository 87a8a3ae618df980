# SPDX-License-Identifier: MIT
# Fuzzing with libFuzzer (clang): one harness per parser that reads what
# another process sends (tests/fuzz/fuzz_*.c say which), built with
# ASan+UBSan into $(BUILD)/fuzz.
#
#   make fuzz [FUZZ_S=60] [FUZZ_ONLY=name]
#                      run each harness FUZZ_S seconds (default 60) from its
#                      corpus (tests/fuzz/corpus/NAME, read only); what it
#                      finds new goes to $(BUILD)/fuzz/work/NAME, crashes to
#                      $(BUILD)/fuzz/artifacts/ (the run then fails)
#   make fuzz-merge    add the new inputs that widen coverage to the corpus
#   make fuzz-replay   run every corpus entry once (part of make check)
#   make fuzz-seeds    write each harness's hand-made seeds into the corpus
#                      (files already there are kept)

FUZZ_CC     ?= clang
FUZZ_BUILD   = $(BUILD)/fuzz
FUZZ_S      ?= 60
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  = -O1 -g -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-missing-field-initializers \
               -Wno-unknown-warning-option -fno-strict-aliasing -fno-omit-frame-pointer \
               $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(FUZZ_SAN)
FUZZ_DIRS   := common logtrack rarp libvirt ui orchestrator/vhost tests/backend
# fuzz_run_args calls the runner's argument checks, which reach into the
# device and migration layers (the archive keeps only what is linked).
FUZZ_XSRCS  := orchestrator/runner/run_args.c \
               $(wildcard orchestrator/device/*.c orchestrator/migration/*.c)
FUZZ_LSRCS  := $(wildcard $(addsuffix /*.c,$(FUZZ_DIRS))) $(FUZZ_XSRCS)
FUZZ_LOBJS  := $(FUZZ_LSRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_NAMES  := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS   := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_RUN    := $(if $(FUZZ_ONLY),$(FUZZ_ONLY),$(FUZZ_NAMES))
# Each harness's -dict, when it has one; quiet stderr of the code under test.
FUZZ_OPTS    = $(if $(wildcard tests/fuzz/$(1).dict),-dict=tests/fuzz/$(1).dict) \
               -close_fd_mask=2 -max_len=65536

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $<";)
	$(Q)$(FUZZ_CC) $(CPPFLAGS) $(TEST_CPPFLAGS) -DTBE_NO_MAIN $(FUZZ_CFLAGS) \
	  -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/libvhm-fuzz.a: $(FUZZ_LOBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_BUILD)/obj/tests/fuzz/fuzz.o \
                      $(FUZZ_BUILD)/libvhm-fuzz.a
	@$(if $(Q),echo "  FUZZLD  $@";)
	$(Q)$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) $^ -o $@ $(LDLIBS)

fuzz-build: $(FUZZ_BINS)

fuzz-replay: fuzz-build
	@for n in $(FUZZ_NAMES); do \
	  set -- tests/fuzz/corpus/$$n/*; [ -e "$$1" ] || { echo "fuzz: $$n has no corpus"; exit 1; }; \
	  printf 'fuzz-replay: %-10s %4d inputs\n' $$n $$#; \
	  $(FUZZ_BUILD)/fuzz_$$n -close_fd_mask=2 "$$@" >$(FUZZ_BUILD)/replay-$$n.log 2>&1 || \
	    { tail -40 $(FUZZ_BUILD)/replay-$$n.log; echo "fuzz-replay: $$n failed"; exit 1; }; \
	done

fuzz: fuzz-build
	@mkdir -p $(FUZZ_BUILD)/artifacts
	@for n in $(FUZZ_RUN); do \
	  mkdir -p $(FUZZ_BUILD)/work/$$n; echo "fuzz: $$n for $(FUZZ_S) s"; \
	  $(FUZZ_BUILD)/fuzz_$$n $(call FUZZ_OPTS,$$n) -max_total_time=$(FUZZ_S) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$n- \
	    $(FUZZ_BUILD)/work/$$n tests/fuzz/corpus/$$n >$(FUZZ_BUILD)/fuzz-$$n.log 2>&1 || \
	    { tail -60 $(FUZZ_BUILD)/fuzz-$$n.log; echo "fuzz: $$n found a crash (above)"; exit 1; }; \
	  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)' \
	    $(FUZZ_BUILD)/fuzz-$$n.log | tr '\n' ' '; echo; \
	done

fuzz-merge: fuzz-build
	@for n in $(FUZZ_RUN); do \
	  $(FUZZ_BUILD)/fuzz_$$n -merge=1 -close_fd_mask=2 tests/fuzz/corpus/$$n \
	    $(FUZZ_BUILD)/work/$$n 2>&1 | grep -E 'MERGE-OUTER: [0-9]+ new files' || true; \
	done

fuzz-seeds: fuzz-build
	@for n in $(FUZZ_NAMES); do mkdir -p tests/fuzz/corpus/$$n; \
	  VHM_FUZZ_SEEDS=tests/fuzz/corpus/$$n $(FUZZ_BUILD)/fuzz_$$n 2>&1 | grep -v '^INFO' || true; \
	done

.PHONY: fuzz fuzz-build fuzz-replay fuzz-merge fuzz-seeds
.SECONDARY: $(FUZZ_NAMES:%=$(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o) $(FUZZ_BUILD)/obj/tests/fuzz/fuzz.o
-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
