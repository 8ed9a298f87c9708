-- protector.csv_agg (src/csv.c) at its edges: cells a spreadsheet reading
-- ";" as the separator would start inside a text field, NULL rows before
-- the first row, and a hashed GROUP BY finalized again or spilling.  Records end in
-- CRLF, shown here as <CRLF>; a line break inside a field as <LF>.
SET TimeZone = 'UTC';
\set VERBOSITY terse
\set SHOW_CONTEXT never
CREATE FUNCTION pg_temp.shown(p text) RETURNS text LANGUAGE sql AS $$
	SELECT replace(replace(p, E'\r\n', '<CRLF>'), E'\n', '<LF>')
$$;

-- a visitor's name "Jo;=1+1;" read with ";" as the separator had "=1+1"
-- as a cell of its own: every formula character after a ";" or a line
-- break is guarded too; "a;b" and "-1" after a space need nothing
SELECT pg_temp.shown(protector.csv_agg(x)) FROM (VALUES
	('Jo;=1+1;'), ('jo;=2+2@evil.example'), (E'x\n=1+1'), ('a;b'), ('a; -1'), (';@SUM(A1)'), ('=start;+end'), (E'tab;\tx')) v(x);
-- ... and after double quotes there: a ";" reading takes ;""=1 as an
-- empty quoted string run together with =1 (a field that starts with
-- quotes is a quoted cell in either reading: nothing to guard)
SELECT pg_temp.shown(protector.csv_agg(x)) FROM (VALUES
	('Jo;"=HYPERLINK(A1);'), (E'x\n"-2+3;'), ('""=1'), ('a;"""@b')) v(x);
-- arrays, composites and ranges hold their elements' text verbatim: the
-- guards inside a field apply to them too ({vip;=1+1} was a live formula)
SELECT pg_temp.shown(protector.csv_agg(r)) FROM (SELECT ARRAY['vip;=1+1', 'x'] AS tags, ROW('a;@b', 2) AS pair,
	ARRAY[E'note\n=2+3'] AS note, ARRAY[-1, 2] AS numbers) r;
-- ... and arrays of anonymous rows (record[], a pseudo-type: array_agg of
-- a ROW(...) in a view), which went out unguarded
SELECT pg_temp.shown(protector.csv_agg(r)) FROM (SELECT ARRAY[ROW('a;+b'), ROW('=1+1')] AS pairs) r;
-- ... and object names (regclass and the like), which whoever named the object chose
CREATE TABLE pg_temp."x;=1+1" (id int);
SELECT pg_temp.shown(protector.csv_agg(r)) FROM (SELECT 'pg_temp."x;=1+1"'::regclass::regclass AS tbl) r;
-- only text: a number after a ";" cannot be (numbers have none)
SELECT pg_temp.shown(protector.csv_agg(r)) FROM (SELECT 'a;b'::text AS t, -5 AS n) r;
-- ... but a record starting with a signed number starts a cell there that
-- runs over the commas (-5,0+1 is a formula): the text after it is quoted;
-- not after a number that starts none, nor text after the first text field
SELECT pg_temp.shown(protector.csv_agg(r))
FROM (VALUES (-5, '0+WEBSERVICE(B1)', 'x+1'), (5, '0+1', 'x+1'), (NULL, '0+1', 'x')) r(n, t, u);
-- ... the first text field, however many numbers, dates or empty fields
-- come between (only the second field was quoted: a review)
SELECT pg_temp.shown(protector.csv_agg(r))
FROM (VALUES (-5, date '2026-12-09', NULL::text, '0+1', 'x+1')) r(n, d, e, t, u);
-- ... a uuid is text-like, and quoted so (it was written bare, and the
-- text after it too: a review)
SELECT pg_temp.shown(protector.csv_agg(r))
FROM (VALUES (-5, '12345678-1234-7234-8234-123456789012'::uuid, '0+1')) r(n, u, t);
-- (an interval: pg_regress's IntervalStyle writes '@ 1 day ago', which @ begins)
SELECT pg_temp.shown(protector.csv_agg(r)) FROM (SELECT '-1 day'::interval AS i, '0+1'::text AS t) r;

-- NULL rows: one empty record each, before the first row as after it
SELECT pg_temp.shown(protector.csv_agg(x)) FROM (VALUES (NULL::int), (NULL), (1), (NULL)) v(x);
SELECT pg_temp.shown(protector.csv_agg(c ORDER BY b.n DESC)) AS desc_order,
	   pg_temp.shown(protector.csv_agg(c ORDER BY b.n)) AS asc_order
FROM (VALUES (1, NULL::int), (2, 1)) b(n, cid)
LEFT JOIN (VALUES (1, 'Ann')) c(id, name) ON c.id = b.cid;
-- only NULL rows: the header from the call, an empty record per row
SELECT pg_temp.shown(protector.csv_agg(x)) FROM (VALUES (NULL::int), (NULL)) v(x);

-- No rows: the header alone, its columns read from the call.  A
-- subquery's whole row (PostgREST's handler query has this shape: the
-- planner turns it into ROW(...) with the column names), a table's row
-- type, a scalar, ROW(...) (f1, f2); the row of a subquery the planner
-- keeps (OFFSET 0), whose columns nothing in the call names, has no document.
SELECT pg_temp.shown(protector.csv_agg(_postgrest_t)) AS subquery
FROM (SELECT b.status, b.party_size, b.total_price FROM protector.bookings b WHERE false) _postgrest_t;
SELECT pg_temp.shown(protector.csv_agg(o ORDER BY o.name)) AS table_row FROM protector.organizations o WHERE false;
SELECT pg_temp.shown(protector.csv_agg(n)) AS scalar FROM generate_series(1, 0) n;
SELECT pg_temp.shown(protector.csv_agg(r)) AS anonymous_row FROM (SELECT ROW(1, 'a') AS r WHERE false) s;
SELECT protector.csv_agg(s) IS NULL AS kept_subquery FROM (SELECT 1 AS a WHERE false OFFSET 0) s;
-- a subquery of constants, which a custom plan folds into one value: the
-- header all the same, whatever plan the statement gets
PREPARE csv_empty(int) AS SELECT pg_temp.shown(protector.csv_agg(s)) FROM (SELECT $1 AS a, 'q' AS b WHERE false) s;
EXECUTE csv_empty(1);
SET plan_cache_mode = force_generic_plan;
EXECUTE csv_empty(1);
RESET plan_cache_mode;
-- an organization's export of a month without bookings
INSERT INTO protector.organizations (id, name, slug, timezone, currency) VALUES
	('0d190000-0000-4000-8000-000000000000', 'Empty', 'csv-empty', 'UTC', 'EUR');
SELECT pg_temp.shown(protector.csv_agg(x)) AS export
FROM (SELECT e.* FROM protector.export_bookings('0d190000-0000-4000-8000-000000000000', '2026-01-01', '2026-01-31') e) x;

-- a hashed GROUP BY under a correlated subquery keeps its hash table and
-- finalizes every group's state again for each outer row
SET enable_sort = off;
SELECT o.i, (SELECT pg_temp.shown(c) FROM (SELECT g % 3 AS k, protector.csv_agg(g) c FROM generate_series(1, 6) g
												GROUP BY 1 OFFSET 0) s WHERE s.k = o.i) AS doc
FROM generate_series(0, 2) o(i);
RESET enable_sort;

-- a hashed GROUP BY whose documents outgrow work_mem spills its later
-- groups to disk, as for any aggregate: documents over 2 MB were mapped
-- outside the memory the executor counts, and it never spilled.  Groups
-- of 120,000 rows of 21 bytes (about 2.6 MB each) arrive one after another.
CREATE FUNCTION pg_temp.spilled(p_query text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	l text;
BEGIN
	FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || p_query LOOP
		IF l LIKE '%Disk Usage%' THEN
			RETURN true;
		END IF;
	END LOOP;
	RETURN false;
END $$;
SET work_mem = '1MB';
SET enable_sort = off;
SELECT pg_temp.spilled($q$SELECT k, octet_length(protector.csv_agg(v)) FROM
	(SELECT g / 120000 AS k, lpad(g::text, 20, 'x') AS v FROM generate_series(0, 479999) g) t GROUP BY k$q$) AS spilled;
RESET enable_sort;
RESET work_mem;
-- the aggregate's support functions under an aggregate of a superuser's
-- own: as a window function its final function ran once per row and the
-- next row grew a spent buffer forever (uninterruptible); two aggregates
-- sharing one state had the second finalize a spent one (an XX000)
CREATE AGGREGATE pg_temp.csv_window(anyelement) (SFUNC = protector_internal.csv_agg_transfn, STYPE = internal,
	FINALFUNC = protector_internal.csv_agg_finalfn);
CREATE AGGREGATE pg_temp.csv_shared(anyelement) (SFUNC = protector_internal.csv_agg_transfn, STYPE = internal,
	FINALFUNC = protector_internal.csv_agg_finalfn, FINALFUNC_MODIFY = SHAREABLE);
SELECT pg_temp.csv_window(x) OVER (ORDER BY x) FROM generate_series(1, 2) x;
SELECT pg_temp.csv_window(x), pg_temp.csv_shared(x) FROM generate_series(1, 3) x;
-- an empty string is "" and NULL an empty field, as COPY's CSV writes
-- them (a one-column row of '' was a blank line, which readers skip)
SELECT replace(protector.csv_agg(x)::text, E'\r\n', '|') AS document
FROM (VALUES (1, ''::text), (2, NULL), (3, 'a')) x(n, v);
SELECT replace(protector.csv_agg(x)::text, E'\r\n', '|') AS document FROM (VALUES (''::text), (NULL)) x(v);
