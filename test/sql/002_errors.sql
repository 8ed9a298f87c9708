-- One error helper: each kind has one SQLSTATE, switched to PostgREST's
-- PTxyz codes by protector.http_errors.
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
\set VERBOSITY default

SELECT kind, protector.error_sqlstate(kind) AS sqlstate
FROM unnest(ARRAY['conflict', 'invalid_parameter', 'invalid_datetime',
				  'datetime_overflow', 'not_found', 'forbidden', 'retry']) AS kind;

SELECT protector.raise('conflict', 'the slot is taken', 'Room 1 from 10:00 to 11:00.', 'Pick another time.');
\echo :LAST_ERROR_SQLSTATE
SELECT protector.raise('not_found', 'booking not found');
\echo :LAST_ERROR_SQLSTATE
SELECT protector.raise('forbidden', 'not allowed');
\echo :LAST_ERROR_SQLSTATE

SET protector.http_errors = on;
SELECT kind, protector.error_sqlstate(kind) AS sqlstate
FROM unnest(ARRAY['conflict', 'invalid_parameter', 'invalid_datetime',
				  'datetime_overflow', 'not_found', 'forbidden', 'retry']) AS kind;
SELECT protector.raise('conflict', 'the slot is taken', 'Room 1 from 10:00 to 11:00.', 'Pick another time.');
\echo :LAST_ERROR_SQLSTATE
SELECT protector.raise('invalid_parameter', 'p_party_size must be positive');
\echo :LAST_ERROR_SQLSTATE
SELECT protector.raise('not_found', 'booking not found');
\echo :LAST_ERROR_SQLSTATE
SELECT protector.raise('retry', 'try again');
\echo :LAST_ERROR_SQLSTATE
-- errors of the C helpers follow the setting too
SELECT protector.check_timezone('Mars/Olympus_Mons', 'p_timezone');
\echo :LAST_ERROR_SQLSTATE
RESET protector.http_errors;

-- PL/pgSQL callers can catch the standard codes by name
DO $$
BEGIN
	PERFORM protector.raise('conflict', 'taken');
EXCEPTION WHEN exclusion_violation THEN
	RAISE NOTICE 'caught exclusion_violation: %', SQLERRM;
END
$$;

-- bad calls of the helper itself
SELECT protector.raise('teapot', 'short and stout');
SELECT protector.raise(NULL, 'no kind');
SELECT protector.raise('conflict', NULL);
SELECT protector.error_sqlstate('');
SELECT protector.error_sqlstate(NULL) IS NULL AS strict;

-- the setting's prefix is reserved: a typo is an error, not a silent no-op
SET protector.http_error = on;
SET protector.http_errors = 'maybe';
-- an unknown kind or zone is echoed clipped to 80 bytes (a 1 MB argument
-- made a 1 MB message and log line)
SELECT protector.error_sqlstate(repeat('k', 300));
SELECT protector.check_timezone(repeat('z', 300), repeat('p', 300));
