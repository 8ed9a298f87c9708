# protector — PGXS build.  `make demo` and `make test` provision everything
# themselves (scripts/install-deps.sh), so they work before PostgreSQL's
# development files are installed; the PGXS rules load once they are.

EXTENSION = protector
EXTVERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big = $(EXTENSION)
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script of the version in development (default_version) is
# generated from the concern files sql/NN_*.sql.  Released install scripts
# (sql/protector--0.1.0.sql) and upgrade scripts (sql/protector--A--B.sql)
# are checked in as shipped and never edited: every change to the schema or
# functions goes into the parts and into the upgrade script to the version
# in development (docs/operations.md, Releases).
SQL_PARTS = $(sort $(wildcard sql/[0-9][0-9]_*.sql))
SQL_INSTALL = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA = $(SQL_INSTALL) $(filter-out $(SQL_INSTALL),$(wildcard sql/$(EXTENSION)--*.sql))
EXTRA_CLEAN = $(SQL_INSTALL)

ICU_CFLAGS := $(shell pkg-config --cflags icu-uc icu-i18n 2>/dev/null)
ICU_LIBS := $(shell pkg-config --libs icu-uc icu-i18n 2>/dev/null)
# The bar: -Wall -Wextra -Werror with no warning left out.  PostgreSQL's
# own headers are system headers here, so that -Wextra holds our code to it
# without flagging theirs: GCC drops pgxs's -I of a directory also given
# with -isystem.  Both of pgxs's directories, in pgxs's order, so that
# libpq-dev's internal/libpq/pqcomm.h does not stand in for the server's.
PG_CPPFLAGS = -Isrc -isystem $(includedir_server) -isystem $(includedir_internal) $(ICU_CFLAGS)
PG_CFLAGS = -Wall -Wextra -Werror
SHLIB_LINK = $(ICU_LIBS)

TESTS = $(sort $(wildcard test/sql/*.sql))
REGRESS = $(patsubst test/sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=test --load-extension=btree_gist

# Prefer the PostgreSQL 15 of Debian's packages; PG_CONFIG=... overrides.
ifneq ($(wildcard /usr/lib/postgresql/15/bin/pg_config),)
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
else
PG_CONFIG ?= pg_config
endif
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
all install installcheck:
	@echo "PostgreSQL server development files not found: run scripts/install-deps.sh (or make demo / make test)" >&2
	@exit 1
endif

$(SQL_INSTALL): $(SQL_PARTS) $(EXTENSION).control
	cat $(SQL_PARTS) > $@

# every object (and its JIT bitcode) is built again when a header changes:
# PGXS tracks no header, and an object left from before a header's change
# was linked against the new one (a call with two arguments too few)
$(OBJS) $(OBJS:.o=.bc): $(wildcard src/*.h)

all: $(SQL_INSTALL)

.PHONY: demo test bench lint fuzz check-sanitize
demo:
	bash scripts/demo.sh

test:
	bash scripts/test.sh

bench:
	bash bench/run.sh

lint: all
	bash scripts/lint.sh

# not part of `make test`: they take minutes (docs/operations.md)
fuzz:
	bash scripts/fuzz.sh

check-sanitize:
	bash scripts/check-sanitize.sh
