-- expire_holds cancels what is due in one statement (sql/97_lifecycle.sql).
-- Its UPDATE read two arrays through pg_catalog.unnest(a, b), which is no
-- function (unnest of several arrays is ROWS FROM's shorthand, unqualified
-- only): the 42883 went to the block's handler, and every sweep cancelled
-- one booking at a time, each in a subtransaction with an xid of its own
-- (an attack on interruptions: 1,003 xids for 1,000 holds).  Counted here
-- by the xids a sweep of 50 holds takes: a handful, not 50.
SET client_min_messages = warning;
INSERT INTO protector.organizations (id, name, slug) VALUES ('0c029000-0000-4000-8000-000000000000', 'Sweep', 'expire-holds-sweep');
INSERT INTO protector.venues (id, organization_id, name, timezone)
VALUES ('0c029000-0000-4000-8000-0000000000a1', '0c029000-0000-4000-8000-000000000000', 'V', 'UTC');
INSERT INTO protector.services (id, organization_id, venue_id, name, mode, capacity, max_party, duration, slot_interval, max_advance)
VALUES ('0c029000-0000-4000-8000-0000000005a1', '0c029000-0000-4000-8000-000000000000', '0c029000-0000-4000-8000-0000000000a1',
		'Room', 'shared', 1000, 1, '60 minutes', '60 minutes', '30 days');
INSERT INTO protector.bookings (organization_id, venue_id, service_id, status, during, hold_expires_at)
SELECT '0c029000-0000-4000-8000-000000000000', '0c029000-0000-4000-8000-0000000000a1', '0c029000-0000-4000-8000-0000000005a1', 'held',
	   tstzrange(date_trunc('hour', now()) + interval '2 days', date_trunc('hour', now()) + interval '2 days 1 hour'),
	   now() + interval '1 second'
FROM generate_series(1, 50);
SELECT pg_sleep(1.2);
SELECT txid_current() AS before \gset
SET ROLE service_role;
-- (at least these 50: a hold of an earlier test may have lapsed too)
SELECT protector.expire_holds(1000) >= 50 AS cancelled_them;
RESET ROLE;
-- (the sweep's transaction, its block's subtransaction and this one)
SELECT txid_current() - :before < 10 AS in_one_statement;
SELECT status, cancellation_reason, count(*) FROM protector.bookings
WHERE organization_id = '0c029000-0000-4000-8000-000000000000' GROUP BY 1, 2;
