# volmgr - OpenStack Cinder-compatible volume service in C.
#
#   make            build bin/volume-manager, bin/api-shim, bin/volctl
#   make unit       build the Criterion unit-test binaries (build/tests/test_*)
#   make deps       install missing Debian packages (scripts/deps.sh)
#   make test       deps, then all + unit, then scripts/run-tests.sh (unit, integration,
#                   faults)
#   make test-faults  only the fault-injection suites (tests/faults)
#   make test-ha    deps plus iproute2, then all, then the failover suites (tests/ha) on a
#                   RabbitMQ cluster of three and a PostgreSQL primary with a synchronous
#                   standby of their own (scripts/stack.sh start-ha)
#   make run        deps, then all, then scripts/run.sh (foreground, Ctrl-C stops)
#   make bench      deps, then all, then scripts/bench/bench.py (15-20 minutes)
#   make test-interop  deps plus python3-cinder and cinder-scheduler,
#                   then all, then tests/interop/run.py (the manager driven by Cinder's own
#                   RPC client, scheduler and API)
#   make stack-start / stack-stop   throwaway RabbitMQ + PostgreSQL under .stack
#   make test-containers  deps plus podman, runc and debootstrap, then builds volmgr's image
#                   (deploy/Containerfile) and a RabbitMQ image on a bootstrapped Debian base
#                   and runs the smoke test of tests/containers against them
#                   (scripts/test-containers.sh; its cache is build/containers)
#   make fuzz       deps plus clang, then the libFuzzer harnesses under tests/fuzz, each run
#                   FUZZ_SECONDS (default 60) from its seed corpus tests/fuzz/corpus/<target>/
#   make clean
#
# SANITIZE=1 builds with AddressSanitizer and UndefinedBehaviorSanitizer into build-san/ and
# bin-san/ (make test SANITIZE=1 runs the unit and integration suites on those binaries).
#
# Quiet output unless V=1.  CFLAGS (default -O2 -g) may be overridden; the
# project's own warning/standard flags are always added.

CC      ?= cc
AR      ?= ar
CFLAGS  ?= -O2 -g
LDFLAGS ?=
SANITIZE ?=
FUZZ_SECONDS ?= 60
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

PKGS := librabbitmq msgpack libpq libmicrohttpd jansson libcurl uuid inih

# Evaluated once at parse time.  On a fresh box the top-level `make test`
# parses before deps are installed; it only runs deps and then a recursive
# make, which re-evaluates these, so silence pkg-config errors here.
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CRITERION_LIBS := $(or $(shell pkg-config --libs criterion 2>/dev/null),-lcriterion)

VOLMGR_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
                 -Wstrict-prototypes -I. -MMD -MP -pthread
ALL_CFLAGS  = $(VOLMGR_CFLAGS) $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = -pthread $(LDFLAGS)
ALL_LIBS    = $(PKG_LIBS) -lm

ifeq ($(SANITIZE),1)
  BUILD  := build-san
  BINDIR := bin-san
  CFLAGS += $(SAN_FLAGS)
  LDFLAGS += $(SAN_FLAGS)
else
  BUILD  := build
  BINDIR := bin
endif
OBJ   := $(BUILD)/obj
LIB   := $(BUILD)/libvolmgr.a

LIB_SRCS     := $(sort $(wildcard common/*.c proto/*.c core/*.c))
# Every program's key table, linked into all three programs: conf/registry.c lists them so
# that each program knows every key of the one configuration file they share.
CONF_SRCS    := conf/registry.c api-shim/conf.c manager/mconf.c
MANAGER_SRCS := $(filter-out $(CONF_SRCS),$(sort $(wildcard manager/*.c)))
SHIM_SRCS    := $(filter-out $(CONF_SRCS),$(sort $(wildcard api-shim/*.c)))
VOLCTL_SRCS  := $(sort $(wildcard volctl/*.c))
UNIT_SRCS    := $(sort $(wildcard tests/unit/test_*.c))

obj = $(patsubst %.c,$(OBJ)/%.o,$(1))

LIB_OBJS     := $(call obj,$(LIB_SRCS))
# sql/NNN_name.sql embedded into the library (core/migrate.h), so volctl needs no source tree.
SQL_FILES      := $(sort $(wildcard sql/*.sql))
GEN_MIGRATIONS := $(BUILD)/gen/migrations.c
LIB_OBJS       += $(OBJ)/gen/migrations.o
CONF_OBJS    := $(call obj,$(CONF_SRCS))
MANAGER_OBJS := $(call obj,$(MANAGER_SRCS))
# The group commit's SQL is embedded with .incbin, which -MMD does not see.
$(OBJ)/manager/finalize_sql.o: manager/finalize.sql
$(OBJ)/core/quota.o: core/quota_commit.sql
SHIM_OBJS    := $(call obj,$(SHIM_SRCS))
VOLCTL_OBJS  := $(call obj,$(VOLCTL_SRCS))
UNIT_OBJS    := $(call obj,$(UNIT_SRCS))
UNIT_BINS    := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

# A binary is only built once its directory has sources (lets the tree build
# while the parts are still being written).
BINS := $(if $(MANAGER_SRCS),$(BINDIR)/volume-manager) \
        $(if $(SHIM_SRCS),$(BINDIR)/api-shim) \
        $(if $(VOLCTL_SRCS),$(BINDIR)/volctl)
BINS := $(strip $(BINS))

ifeq ($(V),1)
  Q :=
  say :=
else
  Q := @
  say = @printf '  %-6s %s\n' $(1) $(2);
endif

.DEFAULT_GOAL := all
.PHONY: all unit deps test test-faults test-ha test-interop test-containers fuzz run bench clean \
	stack-start stack-stop stack-status
.DELETE_ON_ERROR:
.SECONDARY:

all: $(BINS)
	$(if $(MANAGER_SRCS),,@echo "note: manager/ has no sources; bin/volume-manager not built")
	$(if $(SHIM_SRCS),,@echo "note: api-shim/ has no sources; bin/api-shim not built")
	$(if $(VOLCTL_SRCS),,@echo "note: volctl/ has no sources; bin/volctl not built")

unit: $(UNIT_BINS)

$(OBJ)/%.o: %.c
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(GEN_MIGRATIONS): scripts/gen-migrations.sh $(SQL_FILES)
	@mkdir -p $(@D)
	$(call say,GEN,$@)scripts/gen-migrations.sh $@ $(SQL_FILES)

$(OBJ)/gen/migrations.o: $(GEN_MIGRATIONS)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@mkdir -p $(@D)
	@rm -f $@
	$(call say,AR,$@)$(AR) rcs $@ $^

$(BINDIR)/volume-manager: $(MANAGER_OBJS) $(CONF_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(ALL_LDFLAGS) -o $@ $(MANAGER_OBJS) $(CONF_OBJS) $(LIB) $(ALL_LIBS)

$(BINDIR)/api-shim: $(SHIM_OBJS) $(CONF_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(ALL_LDFLAGS) -o $@ $(SHIM_OBJS) $(CONF_OBJS) $(LIB) $(ALL_LIBS)

# make bench's broker client (tools/mqbench.c); not part of all.
$(BUILD)/bench/mqbench: $(OBJ)/tools/mqbench.o $(LIB)
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(ALL_LIBS)

$(BINDIR)/volctl: $(VOLCTL_OBJS) $(CONF_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(ALL_LDFLAGS) -o $@ $(VOLCTL_OBJS) $(CONF_OBJS) $(LIB) $(ALL_LIBS)

# A unit test of a daemon's pure modules links those modules' objects as well.
UNIT_EXTRA_policy := $(OBJ)/api-shim/policy.o $(OBJ)/api-shim/auth.o
UNIT_EXTRA_keystone := $(OBJ)/api-shim/tokcache.o $(OBJ)/api-shim/auth.o
UNIT_EXTRA_sparsecopy := $(OBJ)/manager/sparsecopy.o

.SECONDEXPANSION:
$(BUILD)/tests/test_%: $(OBJ)/tests/unit/test_%.o $$(UNIT_EXTRA_$$*) $(LIB)
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(ALL_LDFLAGS) -o $@ $< $(UNIT_EXTRA_$*) $(LIB) $(CRITERION_LIBS) $(ALL_LIBS)

# --- targets that touch the machine ---------------------------------------

deps:
	@scripts/deps.sh

# deps must run before anything compiles, so the build is a recursive make
# started after deps has finished (pkg-config is re-read by the sub-make).
# Under SANITIZE=1 the fault suites are left out: they prove properties of the whole system
# under crashes, which the sanitizers add nothing to but time.
test: deps
	@$(MAKE) --no-print-directory all unit
	@VOLMGR_BUILD_DIR=$(BUILD) VOLMGR_BIN_DIR=$(CURDIR)/$(BINDIR) \
	 $(if $(filter 1,$(SANITIZE)),VOLMGR_SUITES="unit integration") scripts/run-tests.sh

test-faults: deps
	@$(MAKE) --no-print-directory all
	@VOLMGR_BIN_DIR=$(CURDIR)/$(BINDIR) VOLMGR_SUITES=faults scripts/run-tests.sh

# ss (iproute2) tells the failover tests which broker node and which database server each
# daemon is connected to.
test-ha:
	@VOLMGR_DEPS_EXTRA="iproute2" scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@VOLMGR_BIN_DIR=$(CURDIR)/$(BINDIR) VOLMGR_SUITES=ha scripts/run-tests.sh

# --- fuzzing (clang's libFuzzer with ASan and UBSan) ------------------------------------
# Its own tree, build-fuzz/: every object is instrumented for coverage. clang and its
# runtimes (libFuzzer, the sanitizers) are installed for this target only.
FUZZ_BUILD   := build-fuzz
FUZZ_DEPS    := clang libclang-rt-14-dev
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
# clang, unlike gcc, warns about positional initializers that leave trailing members zero
# (the project's tables rely on it), so that warning is off in this tree only.
FUZZ_FLAGS   := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
                -Wno-missing-field-initializers
# The files of tests/fuzz that are not harnesses are helpers every harness links.
FUZZ_HELPERS := $(call obj,$(filter-out tests/fuzz/fuzz_%.c,$(sort $(wildcard tests/fuzz/*.c))))
# What each harness links besides the helpers and the library: the shim's objects without its
# main, or the one module it drives; every program's key table for the configuration reader.
FUZZ_SHIM    := $(filter-out %/main.o,$(SHIM_OBJS)) $(CONF_OBJS)
FUZZ_EXTRA_shim_action := $(FUZZ_SHIM)
FUZZ_EXTRA_http_route  := $(FUZZ_SHIM)
FUZZ_EXTRA_token_file  := $(OBJ)/api-shim/auth.o
FUZZ_EXTRA_config      := $(CONF_OBJS)

ifeq ($(FUZZ),1)
fuzz-bins: $(patsubst %,$(BUILD)/fuzz/%,$(FUZZ_TARGETS))

$(BUILD)/fuzz/%: $(OBJ)/tests/fuzz/fuzz_%.o $(FUZZ_HELPERS) $$(FUZZ_EXTRA_$$*) $(LIB)
	@mkdir -p $(@D)
	$(call say,LINK,$@)$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< \
	    $(FUZZ_HELPERS) $(FUZZ_EXTRA_$*) $(LIB) $(ALL_LIBS)

-include $(wildcard $(OBJ)/tests/fuzz/*.d)
endif

# Each harness runs FUZZ_SECONDS from its seed corpus in the tree; what it finds to be new
# goes to build-fuzz/corpus/<target>/ (kept between runs), a failing input to
# build-fuzz/<target>-crash-* (or -leak-, -timeout-, -oom-). Every harness runs; the target
# ends with "N passed, N failed" over the harnesses, as the test targets do, and fails if one did.
fuzz:
	@VOLMGR_DEPS_EXTRA="$(FUZZ_DEPS)" scripts/deps.sh
	@$(MAKE) --no-print-directory FUZZ=1 BUILD=$(FUZZ_BUILD) CC=clang CFLAGS="$(FUZZ_FLAGS)" \
	    fuzz-bins
	@passed=0; failed=0; for t in $(FUZZ_TARGETS); do \
	    echo "fuzz: $$t for $(FUZZ_SECONDS)s"; \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	    if $(FUZZ_BUILD)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -max_len=70000 -timeout=10 \
	        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/$$t- \
	        $(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t; then \
	        passed=$$((passed + 1)); \
	    else \
	        echo "fuzz: $$t FAILED (input saved under $(FUZZ_BUILD)/$$t-*)"; \
	        failed=$$((failed + 1)); \
	    fi; \
	done; \
	echo "$$passed passed, $$failed failed"; test $$failed -eq 0

# Cinder's own code drives the manager: its packages are installed for this target only.
test-interop:
	@VOLMGR_DEPS_EXTRA="python3-cinder cinder-scheduler" scripts/deps.sh
	@$(MAKE) --no-print-directory all
	@/usr/bin/python3 tests/interop/run.py

# The images build volmgr themselves: this target compiles nothing on the host.
CONTAINER_DEPS := podman runc debootstrap
test-containers:
	@VOLMGR_DEPS_EXTRA="$(CONTAINER_DEPS)" scripts/deps.sh
	@scripts/test-containers.sh

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run.sh

# Not part of test: 15-20 minutes against its own durable RabbitMQ and PostgreSQL
# (VOLMGR_BENCH_STAGES=all: about an hour).
bench: deps
	@scripts/deps.sh wrk
	@$(MAKE) --no-print-directory all $(BUILD)/bench/mqbench
	@/usr/bin/python3 scripts/bench/bench.py

stack-start:
	@scripts/stack.sh start

stack-stop:
	@scripts/stack.sh stop

stack-status:
	@scripts/stack.sh status

clean:
	rm -rf build bin build-san bin-san $(FUZZ_BUILD)

-include $(OBJ)/tools/mqbench.d $(LIB_OBJS:.o=.d) $(MANAGER_OBJS:.o=.d) $(SHIM_OBJS:.o=.d) \
         $(VOLCTL_OBJS:.o=.d) $(UNIT_OBJS:.o=.d)
