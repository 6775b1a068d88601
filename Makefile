# Makefile -- builds aif-api, aif-worker, aif-cron, aifctl and the unit tests; drives the
# local stack. One GNU Makefile, no autotools. `make` builds; `make up` / `make down` run
# the local stack; `make test` runs every test on its own stack; `make check` adds
# ASan/UBSan; `make check-layers` checks the layering rules (CONTRIBUTING.md).

CC      ?= cc
# Libraries by layer: only core/store sees MariaDB's headers, only the HTTP layer and
# the programs that use it link libcurl, and aif-api links neither libcurl nor an
# adapter (only the adapters' catalogue, adapters/catalog.h, to check the YAML).
pc_cflags = $(shell pkg-config --cflags $(1) 2>/dev/null)
pc_libs   = $(shell pkg-config --libs $(1) 2>/dev/null || echo $(2))
CF_DB     := $(or $(call pc_cflags,libmariadb),-I/usr/include/mariadb)
CF_COMMON := $(call pc_cflags,jansson yaml-0.1 libpcre2-8 libcrypto)
LIB_CORE  := $(call pc_libs,jansson yaml-0.1 libmariadb libpcre2-8 libcrypto,-ljansson -lyaml -lmariadb -lpcre2-8 -lcrypto)
LIB_CURL  := $(call pc_libs,libcurl,-lcurl)
LIB_FCGI  := $(call pc_libs,fcgi,-lfcgi)

WARN    := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
HARDEN  := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
OPT     ?= -O2 -g
SAN     ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(HARDEN) $(SAN) -MMD -MP $(CF_COMMON)
LDFLAGS += -pie -Wl,-z,relro,-z,now $(SAN)

# V=1 shows the full commands.
V       ?= 0
ifeq ($(V),0)
Q       := @
endif

BUILD   ?= build
BIN     ?= bin

# ---- layers ------------------------------------------------------------------------
# What each folder may include is its include path (a header of a higher layer is not
# found), checked again by `make check-layers` (scripts/check-layers.sh):
#   base <- config <- protocol <- pii, ipc, store <- gate      (libaif-core.a)
#   adapters: base, config, protocol (pure wire formats)       (libaif-adapters.a)
#   http: base (the one libcurl layer)                         (libaif-http.a)
#   fcgi-app: core (+ adapters/catalog.h);  workers: core, adapters, http;
#   cli: core, adapters
I_base     := -Icore/base
I_config   := $(I_base) -Icore/config
I_protocol := $(I_config) -Icore/protocol
I_pii      := $(I_protocol) -Icore/pii
I_ipc      := $(I_protocol) -Icore/ipc
I_store    := $(I_protocol) -Icore/store $(CF_DB)
I_gate     := $(I_store) -Icore/gate
I_core     := $(I_gate) -Icore/pii -Icore/ipc
I_adapters := $(I_protocol) -Iadapters
I_http     := $(I_base) -Ihttp
I_api      := $(I_core) -Iadapters -Ifcgi-app
I_workers  := $(I_core) -Iadapters -Ihttp -Iworkers
I_cli      := $(I_core) -Iadapters -Icli
I_tests    := $(I_core) -Iadapters -Ihttp -Iworkers -Ifcgi-app $(call pc_cflags,fcgi)

CORE_DIRS   := base config protocol pii ipc store gate
CORE_SRC    := $(foreach d,$(CORE_DIRS),$(wildcard core/$(d)/*.c))
ADAPTER_SRC := $(wildcard adapters/*.c)
HTTP_SRC    := $(wildcard http/*.c)
API_SRC     := $(wildcard fcgi-app/*.c)
WORKER_SRC  := $(filter-out workers/cron%.c workers/autoscale.c,$(wildcard workers/*.c))
CRON_SRC    := $(wildcard workers/cron*.c) workers/compensate.c workers/autoscale.c
CLI_SRC     := $(wildcard cli/*.c)
TEST_SRC    := $(wildcard tests/unit/test_*.c)

obj = $(1:%.c=$(BUILD)/%.o)
# The PII engine's English name lists (core/pii/data/) become a generated C file.
PII_NAMES_C := $(BUILD)/gen/pii_names.c
CORE_OBJ    := $(call obj,$(CORE_SRC)) $(PII_NAMES_C:.c=.o)
ADAPTER_OBJ := $(call obj,$(ADAPTER_SRC))
HTTP_OBJ    := $(call obj,$(HTTP_SRC))
API_OBJ     := $(call obj,$(API_SRC))
WORKER_OBJ  := $(call obj,$(WORKER_SRC))
CRON_OBJ    := $(call obj,$(CRON_SRC))
CLI_OBJ     := $(call obj,$(CLI_SRC))
TEST_BIN    := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

LIBAIF      := $(BUILD)/libaif-core.a
LIBADAPTERS := $(BUILD)/libaif-adapters.a
LIBHTTP     := $(BUILD)/libaif-http.a
# Everything, for the test programs, the PII accuracy tool and the fuzz targets.
LIBALL      := $(LIBADAPTERS) $(LIBHTTP) $(LIBAIF)
LIBS_ALL    := $(LIB_FCGI) $(LIB_CURL) $(LIB_CORE) -lpthread -lm

# The include path of a source file: by its folder.
inc_of = $(strip \
	$(if $(filter core/base/%,$(1)),$(I_base), \
	$(if $(filter core/config/%,$(1)),$(I_config), \
	$(if $(filter core/protocol/%,$(1)),$(I_protocol), \
	$(if $(filter core/pii/%,$(1)),$(I_pii), \
	$(if $(filter core/ipc/%,$(1)),$(I_ipc), \
	$(if $(filter core/store/%,$(1)),$(I_store), \
	$(if $(filter core/gate/%,$(1)),$(I_gate), \
	$(if $(filter adapters/%,$(1)),$(I_adapters), \
	$(if $(filter http/%,$(1)),$(I_http), \
	$(if $(filter fcgi-app/%,$(1)),$(I_api) $(call pc_cflags,fcgi), \
	$(if $(filter workers/%,$(1)),$(I_workers), \
	$(if $(filter cli/%,$(1)),$(I_cli), \
	$(I_tests))))))))))))))

.PHONY: all clean unit check check-layers up down test test-clients install deps bench fmt
all: $(BIN)/aif-api $(BIN)/aif-worker $(BIN)/aif-cron $(BIN)/aifctl

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) $(call inc_of,$<) -c -o $@ $<

$(PII_NAMES_C): scripts/gen-wordlist.sh $(wildcard core/pii/data/*.txt)
	@mkdir -p $(dir $@)
	$(Q)scripts/gen-wordlist.sh core/pii/data > $@.tmp && mv $@.tmp $@

$(PII_NAMES_C:.c=.o): $(PII_NAMES_C)
	$(Q)$(CC) $(filter-out -Wmissing-prototypes,$(CFLAGS)) -c -o $@ $<

$(LIBAIF): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(LIBADAPTERS): $(ADAPTER_OBJ)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(LIBHTTP): $(HTTP_OBJ)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BIN)/aif-api: $(API_OBJ) $(LIBADAPTERS) $(LIBAIF)
	@mkdir -p $(BIN)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIB_FCGI) $(LIB_CORE) -lpthread -lm

$(BIN)/aif-worker: $(WORKER_OBJ) $(LIBADAPTERS) $(LIBHTTP) $(LIBAIF)
	@mkdir -p $(BIN)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIB_CURL) $(LIB_CORE) -lpthread -lm

$(BIN)/aif-cron: $(CRON_OBJ) $(LIBADAPTERS) $(LIBHTTP) $(LIBAIF)
	@mkdir -p $(BIN)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIB_CURL) $(LIB_CORE) -lpthread -lm

$(BIN)/aifctl: $(CLI_OBJ) $(LIBADAPTERS) $(LIBAIF)
	@mkdir -p $(BIN)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIB_CORE) -lpthread -lm

# Unit tests: one cmocka program per module, linked against every library (and the
# program objects a test covers: TEST_OBJ_<name>).
TEST_OBJ_test_autoscale := $(BUILD)/workers/autoscale.o
TEST_OBJ_test_routing   := $(BUILD)/workers/routing.o
TEST_OBJ_test_compensate := $(BUILD)/workers/compensate.o
TEST_OBJ_test_parked    := $(BUILD)/fcgi-app/parked.o
TEST_OBJ_test_enqueuer  := $(BUILD)/fcgi-app/enqueuer.o
TEST_OBJ_test_otel      := $(BUILD)/workers/otel.o
.SECONDEXPANSION:
$(BUILD)/tests/%: tests/unit/%.c $$(TEST_OBJ_$$*) $(LIBALL)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CFLAGS) $(I_tests) $(LDFLAGS) -o $@ $< $(TEST_OBJ_$*) $(LIBALL) $(LIBS_ALL) -lcmocka

unit: $(TEST_BIN)
	@fail=0; for t in $(TEST_BIN); do \
	  echo "== $$t"; (cd tests/unit && ../../$$t) || fail=1; done; exit $$fail

# Unit tests again under AddressSanitizer + UBSan, in a separate build tree.
check: unit
	$(MAKE) BUILD=build-asan BIN=build-asan/bin OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	  HARDEN="" unit

# The layers hold: include paths, system headers, SQL only in the store, no literal
# statuses in routes, aif-api links no libcurl and no adapter (scripts/check-layers.sh).
check-layers: all
	@scripts/check-layers.sh

# clang-format with the checked-in .clang-format (an approximation of the house style,
# CONTRIBUTING.md), on the lines you changed since HEAD only: the tree predates it, and
# reformatting it whole would bury its history. `make fmt` rewrites them in place.
fmt:
	@command -v git-clang-format >/dev/null || \
	  { echo "fmt: git-clang-format not found (apt-get install clang-format)" >&2; exit 1; }
	@git clang-format --style=file --extensions c,h HEAD

deps:
	@scripts/deps.sh

up: deps all
	@scripts/stack.sh up

down:
	@scripts/stack.sh down

test: deps all
	@scripts/run-tests.sh

bench: deps all
	@bench/run.sh

# Claude Code and the Codex CLI against a private local stack (npm downloads; not in
# CI): what worked is written to build/clients/RESULTS.md.
test-clients: deps all
	@scripts/test-clients.sh

clean:
	rm -rf build build-asan bin

-include $(CORE_OBJ:.o=.d) $(ADAPTER_OBJ:.o=.d) $(HTTP_OBJ:.o=.d) $(API_OBJ:.o=.d) \
	$(WORKER_OBJ:.o=.d) $(CRON_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_BIN:=.d)

# --- install / uninstall -------------------------------------------------------------------
# `make install [DESTDIR=/stage] [PREFIX=/usr]` puts everything where a Debian system
# expects it (docs/OPERATIONS.md). Without DESTDIR it then runs `aif-setup system` (user
# aif, directories, key pepper, daemon-reload); with DESTDIR it only stages files (run
# aif-setup on the target). The config is installed only when absent; uninstall keeps
# it, /var/lib/aif, the user and the database.
PREFIX     ?= /usr
SYSCONFDIR ?= /etc
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
DATADIR    ?= $(PREFIX)/share/aif
DOCDIR     ?= $(PREFIX)/share/doc/aif
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
NGINXDIR   ?= $(SYSCONFDIR)/nginx
INSTALL    ?= install

AIF_PROGS  := aif-api aif-worker aif-cron aifctl
AIF_UNITS  := aif-api.socket aif-api.service aif-worker@.service \
	$(foreach j,reap rollup retention compensate autoscale,aif-cron-$(j).service aif-cron-$(j).timer)
# Paths the units, aif-setup and the docs name, rewritten for another PREFIX/SYSCONFDIR.
AIF_PATHS  := -e 's|/usr/bin/aif|$(BINDIR)/aif|g' -e 's|/usr/share/aif|$(DATADIR)|g' \
	-e 's|/usr/share/doc/aif|$(DOCDIR)|g' -e 's|/usr/lib/sysusers.d|$(SYSUSERSDIR)|g' \
	-e 's|/usr/lib/tmpfiles.d|$(TMPFILESDIR)|g' -e 's|/etc/aif/|$(SYSCONFDIR)/aif/|g'

.PHONY: uninstall
install: all
	@for p in $(AIF_PROGS); do [ -x $(BIN)/$$p ] || { echo "install: $(BIN)/$$p was not built" >&2; exit 1; }; done
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(DATADIR)/sql \
	  $(DESTDIR)$(DATADIR)/console \
	  $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/aif $(DESTDIR)$(NGINXDIR)/sites-available
	$(INSTALL) -m 0755 $(addprefix $(BIN)/,$(AIF_PROGS)) $(DESTDIR)$(BINDIR)/
	sed $(AIF_PATHS) systemd/aif-setup >$(DESTDIR)$(SBINDIR)/aif-setup.tmp
	chmod 0755 $(DESTDIR)$(SBINDIR)/aif-setup.tmp
	mv -f $(DESTDIR)$(SBINDIR)/aif-setup.tmp $(DESTDIR)$(SBINDIR)/aif-setup
	@set -e; for u in $(AIF_UNITS); do \
	  sed $(AIF_PATHS) systemd/$$u >$(DESTDIR)$(UNITDIR)/$$u.tmp; \
	  chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.tmp; mv -f $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u; \
	  echo "  UNIT    $(DESTDIR)$(UNITDIR)/$$u"; done
	$(INSTALL) -m 0644 systemd/aif.sysusers $(DESTDIR)$(SYSUSERSDIR)/aif.conf
	$(INSTALL) -m 0644 systemd/aif.tmpfiles $(DESTDIR)$(TMPFILESDIR)/aif.conf
	$(INSTALL) -m 0644 sql/*.sql $(DESTDIR)$(DATADIR)/sql/
	$(INSTALL) -m 0644 docs/*.md $(DESTDIR)$(DOCDIR)/
	$(INSTALL) -m 0644 console/index.html console/app.js console/app.css $(DESTDIR)$(DATADIR)/console/
	sed -e 's|/usr/share/aif|$(DATADIR)|g' nginx/aif.conf >$(DESTDIR)$(NGINXDIR)/sites-available/aif.conf
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/aif/aif.yaml ]; then \
	  echo "  KEEP    $(DESTDIR)$(SYSCONFDIR)/aif/aif.yaml (exists; new default: config/aif.production.yaml)"; \
	else \
	  echo "  CONFIG  $(DESTDIR)$(SYSCONFDIR)/aif/aif.yaml"; \
	  $(INSTALL) -m 0640 config/aif.production.yaml $(DESTDIR)$(SYSCONFDIR)/aif/aif.yaml; fi
	@if [ -z "$(DESTDIR)" ]; then $(SBINDIR)/aif-setup system && \
	  echo "install: done; next: aif-setup database, then see docs/OPERATIONS.md"; \
	else echo "install: staged in $(DESTDIR); on the target run: aif-setup"; fi

uninstall:
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
	  systemctl disable --now $(foreach j,reap rollup retention compensate autoscale,aif-cron-$(j).timer) \
	    aif-api.socket aif-api.service 2>/dev/null || true; \
	  systemctl stop 'aif-worker@*.service' 'aif-cron-*.service' 2>/dev/null || true; fi
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(AIF_PROGS)) $(DESTDIR)$(SBINDIR)/aif-setup
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(AIF_UNITS))
	rm -f $(DESTDIR)$(SYSUSERSDIR)/aif.conf $(DESTDIR)$(TMPFILESDIR)/aif.conf
	rm -rf $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)
	rm -f $(DESTDIR)$(NGINXDIR)/sites-available/aif.conf
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "uninstall: kept $(SYSCONFDIR)/aif, /var/lib/aif, the user aif and the database;"
	@echo "uninstall: remove the link $(NGINXDIR)/sites-enabled/aif.conf yourself if you made one"

# ---- PII masking engine (issue 5): accuracy test, benchmark, fuzzing ---------------
# `make pii-accuracy`  precision/recall per type on tests/pii/corpus.tsv vs baseline.tsv
# `make bench-pii`     MB/s on one core and added latency per request (bench/RESULTS.md)
# `make fuzz-pii`      libFuzzer targets, FUZZ_SECONDS each (default 30; needs clang)
FUZZ_SECONDS ?= 30

.PHONY: pii-accuracy bench-pii fuzz-pii

$(BUILD)/tests/pii_accuracy: tests/pii/accuracy.c $(LIBAIF)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(I_core) $(LDFLAGS) -o $@ $< $(LIBAIF) $(LIB_CORE) -lpthread -lm

$(BUILD)/bench/pii_bench: bench/pii_bench.c $(LIBAIF)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(I_core) $(LDFLAGS) -o $@ $< $(LIBAIF) $(LIB_CORE) -lpthread -lm

pii-accuracy:
	@tests/pii/run.sh

bench-pii: $(BUILD)/bench/pii_bench
	@$(BUILD)/bench/pii_bench

fuzz-pii:
	@tests/fuzz/run.sh $(FUZZ_SECONDS)
