-- protector.set_updated_at on a user's own table (docs/security.md: users'
-- tables attach it by that name) stores the stamp as an assignment would:
-- the column's type modifier applied, its domain's checks run (it wrote
-- fractional seconds into a timestamptz(0), and a stamp a domain's CHECK
-- refuses, which then kept the table's dump from loading).  A table
-- missing what the trigger needs is told so, not that protector is
-- damaged.  An audited row holding a json value jsonb cannot hold fails
-- its change (as to_jsonb(row) does): the error says it was the audit.
BEGIN;
SELECT plan(5);

CREATE TABLE public.rounded (id int PRIMARY KEY, v text, updated_at timestamptz(0));
INSERT INTO public.rounded VALUES (1, 'a', '2020-01-01');
CREATE TRIGGER set_updated_at BEFORE UPDATE ON public.rounded FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at();
UPDATE public.rounded SET v = 'b';
SELECT is((SELECT updated_at FROM public.rounded), now()::timestamptz(0),
	'a timestamptz(0) column gets the transaction''s start rounded to the second, as now() assigned to it would');

CREATE DOMAIN public.stamp_2000s AS timestamptz CHECK (VALUE < '2010-01-01');
CREATE TABLE public.checked (id int PRIMARY KEY, v text, updated_at public.stamp_2000s);
INSERT INTO public.checked VALUES (1, 'a', '2005-01-01');
CREATE TRIGGER set_updated_at BEFORE UPDATE ON public.checked FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at();
SELECT throws_ok($$UPDATE public.checked SET v = 'b'$$, '23514',
	'value for domain stamp_2000s violates check constraint "stamp_2000s_check"',
	'a domain''s CHECK refuses the stamp, as it refuses now() assigned to it');
SELECT is((SELECT updated_at::timestamptz FROM public.checked), '2005-01-01'::timestamptz, '... and the row keeps its stamp');

CREATE TABLE public.local_stamp (id int PRIMARY KEY, v text, updated_at timestamp);
INSERT INTO public.local_stamp VALUES (1, 'a', '2020-01-01');
CREATE TRIGGER set_updated_at BEFORE UPDATE ON public.local_stamp FOR EACH ROW EXECUTE FUNCTION protector.set_updated_at();
SELECT is(tests.error_text($$UPDATE public.local_stamp SET v = 'b'$$),
	'42703 | public.local_stamp has no column "updated_at" of type timestamp with time zone | '
	'A trigger of protector''s attached to a table of your own needs it there.',
	'a user''s table without the column is told what the trigger needs, not that protector is damaged');


CREATE TABLE public.notes (id int PRIMARY KEY, body json, title text);
INSERT INTO public.notes VALUES (1, '{"a": "\u0000"}', 'x');
SELECT protector.enable_audit('public.notes') IS NOT NULL AS audited \gset
SELECT is(tests.error_text($$UPDATE public.notes SET title = 'z'$$, 'protector''s audit'),
	'22P05 | unsupported Unicode escape sequence | \u0000 cannot be converted to text. | protector''s audit of public.notes: column "body" as jsonb',
	'a json value jsonb cannot hold fails the audited change, and the error names the audit and the column');

SELECT * FROM finish();
ROLLBACK;
