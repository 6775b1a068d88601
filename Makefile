# Makefile -- builds aif-api, aif-worker, aifctl and the unit tests; drives the local stack.
# One GNU Makefile, no autotools. `make` builds; `make up` / `make down` run the local
# stack; `make test` runs every test on its own stack; `make check` adds ASan/UBSan.

CC      ?= cc
PKGS    := fcgi libcurl jansson yaml-0.1 libmariadb libpcre2-8 libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# libfcgi ships fcgi.pc on Debian but not everywhere: fall back to -lfcgi.
ifeq ($(PKG_LIBS),)
PKG_LIBS := -lfcgi -lcurl -ljansson -lyaml -lmariadb -lpcre2-8 -lcrypto
PKG_CFLAGS := -I/usr/include/mariadb
endif

WARN    := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
HARDEN  := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
OPT     ?= -O2 -g
SAN     ?=
# core/ is split by concern (base, config, store, gate, pii, protocol, ipc).
CORE_DIRS := core/base core/config core/store core/gate core/pii core/protocol core/ipc
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(HARDEN) $(SAN) -MMD -MP \
	$(addprefix -I,$(CORE_DIRS)) -Iadapters $(PKG_CFLAGS)
LDFLAGS += -pie -Wl,-z,relro,-z,now $(SAN)
LDLIBS  += $(PKG_LIBS) -lpthread -lm

# V=1 shows the full commands.
V       ?= 0
ifeq ($(V),0)
Q       := @
endif

BUILD   ?= build
BIN     ?= bin

CORE_SRC    := $(foreach d,$(CORE_DIRS),$(wildcard $(d)/*.c)) $(wildcard adapters/*.c)
API_SRC     := $(wildcard fcgi-app/*.c)
WORKER_SRC  := $(filter-out workers/cron%.c workers/autoscale.c,$(wildcard workers/*.c))
CRON_SRC    := $(wildcard workers/cron*.c) workers/compensate.c workers/autoscale.c
CLI_SRC     := $(wildcard cli/*.c)
TEST_SRC    := $(wildcard tests/unit/test_*.c)

CORE_OBJ    := $(CORE_SRC:%.c=$(BUILD)/%.o)
API_OBJ     := $(API_SRC:%.c=$(BUILD)/%.o)
WORKER_OBJ  := $(WORKER_SRC:%.c=$(BUILD)/%.o)
CRON_OBJ    := $(CRON_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ     := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN    := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

LIBAIF      := $(BUILD)/libaif.a

.PHONY: all clean unit check up down test install deps bench fmt
all: $(BIN)/aif-api $(BIN)/aif-worker $(BIN)/aif-cron $(BIN)/aifctl

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(LIBAIF): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(Q)$(AR) rcs $@ $^

$(BIN)/aif-api: $(API_OBJ) $(LIBAIF)
	@mkdir -p $(BIN)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/aif-worker: $(WORKER_OBJ) $(LIBAIF)
	@mkdir -p $(BIN)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/aif-cron: $(CRON_OBJ) $(LIBAIF)
	@mkdir -p $(BIN)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/aifctl: $(CLI_OBJ) $(LIBAIF)
	@mkdir -p $(BIN)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests: one cmocka program per module, linked against libaif (and the program
# objects a test covers: TEST_OBJ_<name>).
TEST_OBJ_test_autoscale := $(BUILD)/workers/autoscale.o
.SECONDEXPANSION:
$(BUILD)/tests/%: tests/unit/%.c $$(TEST_OBJ_$$*) $(LIBAIF)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CFLAGS) -Iworkers $(LDFLAGS) -o $@ $< $(TEST_OBJ_$*) $(LIBAIF) $(LDLIBS) -lcmocka

unit: $(TEST_BIN)
	@fail=0; for t in $(TEST_BIN); do \
	  echo "== $$t"; (cd tests/unit && ../../$$t) || fail=1; done; exit $$fail

# Unit tests again under AddressSanitizer + UBSan, in a separate build tree.
check: unit
	$(MAKE) BUILD=build-asan BIN=build-asan/bin OPT="-O1 -g -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	  HARDEN="" unit

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

clean:
	rm -rf build build-asan bin

-include $(CORE_OBJ:.o=.d) $(API_OBJ:.o=.d) $(WORKER_OBJ:.o=.d) $(CRON_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

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
	$(INSTALL) -m 0644 nginx/aif.conf $(DESTDIR)$(NGINXDIR)/sites-available/aif.conf
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
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBAIF) $(LDLIBS)

$(BUILD)/bench/pii_bench: bench/pii_bench.c $(LIBAIF)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBAIF) $(LDLIBS)

pii-accuracy:
	@tests/pii/run.sh

bench-pii: $(BUILD)/bench/pii_bench
	@$(BUILD)/bench/pii_bench

fuzz-pii:
	@tests/fuzz/run.sh $(FUZZ_SECONDS)
