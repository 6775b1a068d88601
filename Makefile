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
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(HARDEN) $(SAN) -MMD -MP -Icore -Iadapters $(PKG_CFLAGS)
LDFLAGS += -pie -Wl,-z,relro,-z,now $(SAN)
LDLIBS  += $(PKG_LIBS) -lpthread -lm

# V=1 shows the full commands.
V       ?= 0
ifeq ($(V),0)
Q       := @
endif

BUILD   ?= build
BIN     ?= bin

CORE_SRC    := $(wildcard core/*.c) $(wildcard adapters/*.c)
API_SRC     := $(wildcard fcgi-app/*.c)
WORKER_SRC  := $(wildcard workers/*.c)
CLI_SRC     := $(wildcard cli/*.c)
TEST_SRC    := $(wildcard tests/unit/test_*.c)

CORE_OBJ    := $(CORE_SRC:%.c=$(BUILD)/%.o)
API_OBJ     := $(API_SRC:%.c=$(BUILD)/%.o)
WORKER_OBJ  := $(WORKER_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ     := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN    := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)

LIBAIF      := $(BUILD)/libaif.a

.PHONY: all clean unit check up down test install deps bench fmt
all: $(BIN)/aif-api $(BIN)/aif-worker $(BIN)/aifctl

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

$(BIN)/aifctl: $(CLI_OBJ) $(LIBAIF)
	@mkdir -p $(BIN)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests: one cmocka program per module, linked against libaif.
$(BUILD)/tests/%: tests/unit/%.c $(LIBAIF)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBAIF) $(LDLIBS) -lcmocka

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

-include $(CORE_OBJ:.o=.d) $(API_OBJ:.o=.d) $(WORKER_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
