-- protector 0.1.0 -> 0.2.0.  Every change made to sql/NN_*.sql since the
-- 0.1.0 release, in the order made; ALTER EXTENSION protector UPDATE runs
-- it.  test/ops/upgrade.sh checks that 0.1.0 + this script equals a fresh
-- install of 0.2.0, catalog and data.
\echo Use "ALTER EXTENSION protector UPDATE TO '0.2.0'" to load this file. \quit
