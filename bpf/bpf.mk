# SPDX-License-Identifier: MIT
# bpf.mk — build rules for the kernel-side probes (included by the Makefile).
#
# Everything here is generated at build time and never committed (STYLE
# "Distilled" 7): vmlinux.h from the running kernel's BTF, the BPF objects,
# and their libbpf skeletons. User-space objects that include a skeleton
# depend on it, so a fresh tree builds in one `make`.

BPFTOOL     ?= bpftool
BPF_CLANG   ?= clang
BPF_DIR     := $(BUILD)/bpf
BPF_SRCS    := $(wildcard bpf/*.bpf.c)
BPF_OBJS    := $(BPF_SRCS:bpf/%.bpf.c=$(BPF_DIR)/%.bpf.o)
BPF_SKELS   := $(BPF_SRCS:bpf/%.bpf.c=$(BPF_DIR)/%.skel.h)
BPF_VMLINUX := $(BPF_DIR)/vmlinux.h
BPF_ARCH    := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

CPPFLAGS    += -I$(BPF_DIR)
LDLIBS      += $(shell pkg-config --libs libbpf 2>/dev/null || echo -lbpf) -lelf -lz

# Keep the objects between runs (they are intermediates of the skeletons).
.SECONDARY: $(BPF_OBJS) $(BPF_VMLINUX)

$(BPF_VMLINUX):
	@mkdir -p $(dir $@)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp
	@mv $@.tmp $@

$(BPF_DIR)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) $(BPF_VMLINUX)
	@mkdir -p $(dir $@)
	$(BPF_CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -I$(BPF_DIR) -Ibpf \
		-Wall -Werror -c $< -o $@

$(BPF_DIR)/%.skel.h: $(BPF_DIR)/%.bpf.o
	$(BPFTOOL) gen skeleton $< > $@.tmp
	@mv $@.tmp $@

# The loader includes the skeleton; make it wait for it (the .d files only
# know about it after the first build).
$(BUILD)/obj/bpf/vbpf.o: $(BPF_SKELS)
