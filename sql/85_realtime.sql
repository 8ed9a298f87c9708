\echo Use "CREATE EXTENSION protector" to load this file. \quit
-- sql/85_realtime.sql: dashboards learn of every booking, task and
-- notification change the moment it commits.  See docs/realtime.md.
--
--   1. pg_notify on channel protector_<organization uuid without dashes>,
--      ids and status only (src/realtime.c), for any LISTEN client;
--   2. Supabase Realtime "Postgres Changes": the tables join the
--      supabase_realtime publication (protector.enable_realtime());
--   3. Supabase Realtime "Broadcast": booking changes on the private topic
--      protector:<organization uuid>, readable by that organization's
--      members only (RLS on realtime.messages).

CREATE FUNCTION protector.notify_trigger()
RETURNS trigger
AS 'MODULE_PATHNAME', 'protector_notify_trigger'
LANGUAGE C;
COMMENT ON FUNCTION protector.notify_trigger() IS
'Trigger (per statement, with a transition table): pg_notify per changed row, or one summary over protector.notify_batch_limit';

DO $notify$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['bookings', 'tasks', 'notifications', 'booking_messages'] LOOP
		EXECUTE format('CREATE TRIGGER notify_insert AFTER INSERT ON protector.%I'
					   ' REFERENCING NEW TABLE AS changed FOR EACH STATEMENT'
					   ' EXECUTE FUNCTION protector.notify_trigger()', t);
		-- (the old rows too: a row moved to another organization is a
		-- DELETE on the old one's channel)
		EXECUTE format('CREATE TRIGGER notify_update AFTER UPDATE ON protector.%I'
					   ' REFERENCING OLD TABLE AS before NEW TABLE AS changed FOR EACH STATEMENT'
					   ' EXECUTE FUNCTION protector.notify_trigger()', t);
		EXECUTE format('CREATE TRIGGER notify_delete AFTER DELETE ON protector.%I'
					   ' REFERENCING OLD TABLE AS changed FOR EACH STATEMENT'
					   ' EXECUTE FUNCTION protector.notify_trigger()', t);
	END LOOP;
END
$notify$;

-- What committed transactions announce, until the outbox worker of the
-- database sends it (src/outbox.c): one row per transaction and
-- organization (its channel), the payloads one per line, taken oldest id
-- first.  No foreign key: an organization deleted meanwhile still has its
-- deletion announced.  Nobody but the worker (a superuser) reads it; it is
-- not dumped (a restore announces nothing).
CREATE TABLE protector_internal.outbox (
	id				bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	organization_id uuid NOT NULL,
	payloads		text NOT NULL
);
ALTER TABLE protector_internal.outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector_internal.outbox FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE protector_internal.outbox IS
'Announcements of committed transactions waiting for the outbox worker (docs/realtime.md); no policy: the worker only';

-- Supabase Realtime's functions, called as their owner (src/realtime_call.c):
-- the broadcast triggers run as protector's owner, a superuser, and
-- realtime's functions and realtime.messages may be a role's that is no
-- superuser (Supabase's supabase_realtime_admin, whom a project's postgres
-- role may act as): what it put into them ran as a superuser on the next
-- booking change (an attack review).  They run with their owner's rights
-- now, in a security-restricted operation.
CREATE FUNCTION protector_internal.realtime_broadcast_changes(p_topic text, p_event text, p_operation text, p_table text,
															  p_schema text, p_new record, p_old record)
RETURNS void
AS 'MODULE_PATHNAME', 'protector_realtime_broadcast_changes'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION protector_internal.realtime_broadcast_changes(text, text, text, text, text, record, record) IS
'realtime.broadcast_changes(...) at level ROW, called as its owner in a security-restricted operation';
CREATE FUNCTION protector_internal.realtime_send(p_payload jsonb, p_event text, p_topic text, p_private boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'protector_realtime_send'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION protector_internal.realtime_send(jsonb, text, text, boolean) IS
'realtime.send(...), called as its owner in a security-restricted operation';

-- Supabase Realtime Broadcast: the booking row, old and new, on the
-- organization's private topic.  Called only where realtime.broadcast_changes
-- exists (protector.enable_realtime() attaches it).
CREATE FUNCTION protector_internal.broadcast_booking_change()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF protector_internal.restoring_into(TG_RELID) THEN
		RETURN NULL;		-- a restore: nothing happens live
	END IF;
	-- an erasure's own change does not send on the data it erases (also of
	-- a booking once theirs, another customer's now: the flag is the
	-- erasure's, scrub_customer_rows)
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE'
	   AND ((NEW.customer_id IS NOT NULL
			 AND EXISTS (SELECT FROM protector.customer_erasures e
						 WHERE e.organization_id OPERATOR(pg_catalog.=) NEW.organization_id
						   AND e.customer_id OPERATOR(pg_catalog.=) NEW.customer_id))
			OR pg_catalog.current_setting('protector_internal.erasing', true) OPERATOR(pg_catalog.=) 'on') THEN
		PERFORM protector_internal.realtime_broadcast_changes(
			'protector:' OPERATOR(pg_catalog.||) NEW.organization_id::text,
			TG_OP, TG_OP, TG_TABLE_NAME, TG_TABLE_SCHEMA, NEW, NULL);
		RETURN NULL;
	END IF;
	-- a booking moved to another organization leaves the old one's topic
	-- (a DELETE there, with the row as it was: theirs) and arrives on the
	-- new one's without its old row, which is the old organization's (as
	-- NOTIFY does: an UPDATE on the new channel, a DELETE on the old)
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE'
	   AND OLD.organization_id OPERATOR(pg_catalog.<>) NEW.organization_id THEN
		PERFORM protector_internal.realtime_broadcast_changes(
			'protector:' OPERATOR(pg_catalog.||) OLD.organization_id::text,
			'DELETE', 'DELETE', TG_TABLE_NAME, TG_TABLE_SCHEMA, NULL, OLD);
		PERFORM protector_internal.realtime_broadcast_changes(
			'protector:' OPERATOR(pg_catalog.||) NEW.organization_id::text,
			TG_OP, TG_OP, TG_TABLE_NAME, TG_TABLE_SCHEMA, NEW, NULL);
		RETURN NULL;
	END IF;
	PERFORM protector_internal.realtime_broadcast_changes(
		'protector:' OPERATOR(pg_catalog.||) COALESCE(NEW.organization_id, OLD.organization_id)::text,
		TG_OP, TG_OP, TG_TABLE_NAME, TG_TABLE_SCHEMA, NEW, OLD);
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.broadcast_booking_change() IS
'Trigger: booking changes to Supabase Realtime Broadcast, topic protector:<organization id> (private)';

-- Whether protector is in Supabase Realtime is data, so that a restore
-- brings it back: the publication's membership, the tables' replica
-- identity and the broadcast trigger belong to no dump of the extension's
-- tables, but this row does, and restoring it applies them again.
CREATE TABLE protector_internal.realtime_state (
	enabled		boolean PRIMARY KEY CHECK (enabled)
);
ALTER TABLE protector_internal.realtime_state ENABLE ROW LEVEL SECURITY;
ALTER TABLE protector_internal.realtime_state FORCE ROW LEVEL SECURITY;
COMMENT ON TABLE protector_internal.realtime_state IS
'One row while protector is in Supabase Realtime (enable_realtime); restoring it re-applies the publication membership';
SELECT pg_catalog.pg_extension_config_dump('protector_internal.realtime_state', '');

-- A policy as stored (its expressions, command, roles and kind), hashed:
-- what realtime_policy writes in the comment of one it made, and compares
-- with it.
CREATE FUNCTION protector_internal.policy_shape(p_policy oid)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT md5(concat_ws(' ', pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid),
						 p.polcmd, p.polroles::text, p.polpermissive))
	FROM pg_policy p WHERE p.oid = p_policy
$$;
COMMENT ON FUNCTION protector_internal.policy_shape(oid) IS
'A policy as stored (expressions, command, roles, kind), hashed: realtime_policy keeps it in the comment of one it made';

-- A policy of protector's on realtime.messages, for p_roles: without
-- p_check, permissive, FOR SELECT USING p_using; with it, restrictive,
-- FOR ALL USING p_using WITH CHECK p_check (the owner's broadcast
-- triggers, which no such role runs, are not held to it); created,
-- or set to p_using where it exists (an earlier version's); 'created',
-- 'present' or 'not permitted' (only the owner of realtime.messages may,
-- and the policy is then left as it is, with a warning).  While
-- restoring, one that exists is the restore's own ('restored'); a
-- data-only restore into a database without it gets it created.
CREATE FUNCTION protector_internal.realtime_policy(p_name text, p_using text, p_check text DEFAULT NULL,
												   p_roles text DEFAULT 'authenticated')
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_policy record;
	v_exists boolean;
	v_made_from text := 'protector: ' || md5(concat_ws(' ', p_using, p_check, p_roles)) || ' ';
	v_restrictive boolean := p_check IS NOT NULL;
	v_shape text := CASE WHEN v_restrictive THEN 'AS RESTRICTIVE FOR ALL' ELSE 'FOR SELECT' END || ' TO ' || p_roles;
	v_check text := CASE WHEN v_restrictive THEN format(' WITH CHECK (%s)', p_check) ELSE '' END;
BEGIN
	-- (ALTER POLICY sets roles, USING and WITH CHECK only: one made
	-- another command or kind, or with a WITH CHECK where ours has none,
	-- is not alterable into ours)
	SELECT p.oid, obj_description(p.oid, 'pg_policy') AS mark,
		   p.polcmd = CASE WHEN v_restrictive THEN '*' ELSE 'r' END AND p.polpermissive = NOT v_restrictive
		   AND (p.polwithcheck IS NULL OR v_restrictive) AS alterable
	INTO v_policy FROM pg_policy p
	WHERE p.polrelid = 'realtime.messages'::regclass AND p.polname = p_name;
	v_exists := FOUND;
	IF v_exists AND protector_internal.restoring() THEN
		RETURN 'restored';
	END IF;
	-- (a re-run that would change nothing leaves the policy, and
	-- realtime.messages, alone: ALTER POLICY locks the table ACCESS
	-- EXCLUSIVE.  Its comment says what it was made from and what it was
	-- then: one edited by hand since is made again)
	IF v_exists AND v_policy.mark = v_made_from || protector_internal.policy_shape(v_policy.oid) THEN
		RETURN 'present';
	END IF;
	IF v_exists AND v_policy.alterable THEN
		EXECUTE format('ALTER POLICY %I ON realtime.messages TO %s USING (%s)%s', p_name, p_roles, p_using, v_check);
	ELSE
		IF v_exists THEN
			EXECUTE format('DROP POLICY %I ON realtime.messages', p_name);
		END IF;
		EXECUTE format('CREATE POLICY %I ON realtime.messages %s USING (%s)%s', p_name, v_shape, p_using, v_check);
	END IF;
	EXECUTE format('COMMENT ON POLICY %I ON realtime.messages IS %L', p_name,
		v_made_from || (SELECT protector_internal.policy_shape(p.oid) FROM pg_policy p
						WHERE p.polrelid = 'realtime.messages'::regclass AND p.polname = p_name));
	RETURN CASE WHEN v_exists THEN 'present' ELSE 'created' END;
EXCEPTION WHEN insufficient_privilege THEN
	RAISE WARNING 'could not % the policy % on realtime.messages: %',
		CASE WHEN v_exists THEN 'update' ELSE 'create' END, p_name, SQLERRM
		USING HINT = 'Run protector.enable_realtime() as the owner of realtime.messages (or a superuser), or private topics stay closed to everyone.';
	RETURN 'not permitted';
END
$$;
COMMENT ON FUNCTION protector_internal.realtime_policy(text, text, text, text) IS
'Creates, or brings up to date, one of protector''s policies on realtime.messages (enable_realtime)';

-- Puts bookings, tasks, notifications and booking messages into whatever
-- Supabase Realtime the database has; idempotent; reports what it found
-- and did.  (Postgres Changes delivers a row to whoever RLS lets read it:
-- an agent learns of their bookings' messages there.)  Without
-- p_policies the policies on realtime.messages are left as they are: a
-- full restore's dump brings its own, and one made here first would make
-- the dump's CREATE POLICY fail (publication_created).
CREATE FUNCTION protector_internal.apply_realtime(p_policies boolean DEFAULT true)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_added text[] := '{}';
	v_publication boolean;
	v_broadcast boolean;
	v_refused text;
	v_hint text;
	v_policy text := 'none';
	t text;
	-- who reads a message of realtime.messages: a member whose role may
	-- read all the organization's bookings, of the topic they joined; a
	-- customer, of their own topic.  Both name the message's own topic: the
	-- session's topic alone let whoever joined one topic read every topic's
	-- messages straight from the table.
	v_members_using text := $u$realtime.messages.extension = 'broadcast'
		AND realtime.messages.topic = (SELECT realtime.topic())
		AND (SELECT realtime.topic()) = ANY (
			SELECT 'protector:' || o::text FROM unnest(protector_internal.orgs_with('bookings.read')) o)$u$;
	v_customers_using text := $u$realtime.messages.extension = 'broadcast'
		AND realtime.messages.topic = (SELECT realtime.topic())
		AND (SELECT realtime.topic()) = 'protector:customer:' || (SELECT protector.current_user_id())::text$u$;
	-- (and protector's topics are closed to all others whatever other
	-- policies open realtime.messages: permissive policies add up, and
	-- Supabase's guide has one that lets anyone signed in receive every
	-- private broadcast, or send one.  Nobody but protector's triggers
	-- sends on them: a message there is a booking's change.  For anon
	-- without the readers' test, which calls what anon may not execute:
	-- a policy anon cannot run failed every query of anon's on the table,
	-- the application's own topics' too)
	v_topics_using text := format($u$NOT starts_with(realtime.messages.topic, 'protector:') OR (%s) OR (%s)$u$,
								  v_members_using, v_customers_using);
	v_topics_check CONSTANT text := $u$NOT starts_with(realtime.messages.topic, 'protector:')$u$;
BEGIN
	v_publication := EXISTS (SELECT FROM pg_publication WHERE pubname = 'supabase_realtime');
	IF v_publication THEN
		FOREACH t IN ARRAY ARRAY['bookings', 'tasks', 'notifications', 'booking_messages'] LOOP
			-- the primary key alone in the WAL (REPLICA IDENTITY DEFAULT):
			-- Realtime sends an update's old record with every column the
			-- subscriber's role may select to whoever may read the row as it
			-- is now (a booking handed to another customer sent them the
			-- first one's notes; an erasure sent the rows it scrubbed), and
			-- matches a delete's filters against the whole old row, which
			-- RLS does not check (anyone signed in could test another
			-- tenant's deleted messages): an attack review.  FULL, as 0.1.0
			-- and this function once set it, is set back (only then: ALTER
			-- TABLE locks the table ACCESS EXCLUSIVE, and a re-run made
			-- bookings wait behind any open reader)
			IF (SELECT c.relreplident FROM pg_class c WHERE c.oid = format('protector.%I', t)::regclass) = 'f' THEN
				EXECUTE format('ALTER TABLE protector.%I REPLICA IDENTITY DEFAULT', t);
				RAISE NOTICE 'protector.% has its replica identity set back to DEFAULT: with FULL, Supabase Realtime sends subscribers whole old rows', t;
			END IF;
			IF NOT EXISTS (SELECT FROM pg_publication_tables
						   WHERE pubname = 'supabase_realtime' AND schemaname = 'protector' AND tablename = t) THEN
				EXECUTE format('ALTER PUBLICATION supabase_realtime ADD TABLE protector.%I', t);
				v_added := v_added || ('protector.' || t);
			END IF;
		END LOOP;
	END IF;

	v_broadcast := EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
						   WHERE n.nspname = 'realtime' AND p.proname = 'broadcast_changes')
				   AND to_regclass('realtime.messages') IS NOT NULL;
	-- the broadcast triggers call into schema realtime with their owner's
	-- rights: only where a superuser owns it (a schema of that name made
	-- by another role could run its functions as protector's owner); ones
	-- attached before (by 0.1.0, which did not ask) are taken off.  And
	-- only where the functions have the signatures the triggers call, as
	-- their owner (realtime_call.c): without them every broadcast, and
	-- the booking with it, would fail.
	IF v_broadcast AND NOT protector_internal.trusted_schema('realtime') THEN
		v_refused := pg_catalog.format('schema realtime belongs to role %s, which is not a superuser',
									   (SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'realtime'));
		v_hint := 'Have a superuser own schema realtime (Supabase''s does), then run SELECT protector.enable_realtime().';
	ELSIF v_broadcast
		  AND (to_regprocedure('realtime.broadcast_changes(text,text,text,text,text,record,record,text)') IS NULL
			   OR to_regprocedure('realtime.send(jsonb,text,text,boolean)') IS NULL) THEN
		v_refused := 'realtime.broadcast_changes(text, text, text, text, text, record, record, text) or realtime.send(jsonb, text, text, boolean) is missing';
		v_hint := 'Update Supabase Realtime, then run SELECT protector.enable_realtime().';
	END IF;
	IF v_refused IS NOT NULL THEN
		RAISE WARNING 'protector does not broadcast to Supabase Realtime: %', v_refused USING HINT = v_hint;
		v_broadcast := false;
		DROP TRIGGER IF EXISTS broadcast_booking_change ON protector.bookings;
		IF to_regclass('protector.booking_messages') IS NOT NULL THEN
			DROP TRIGGER IF EXISTS broadcast_message ON protector.booking_messages;
		END IF;
	END IF;
	IF v_broadcast THEN
		IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = 'protector.bookings'::regclass
					   AND tgname = 'broadcast_booking_change') THEN
			CREATE TRIGGER broadcast_booking_change
				AFTER INSERT OR UPDATE OR DELETE ON protector.bookings
				FOR EACH ROW EXECUTE FUNCTION protector_internal.broadcast_booking_change();
		END IF;
		-- booking messages (sql/84_messages.sql)
		IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = 'protector.booking_messages'::regclass
					   AND tgname = 'broadcast_message') THEN
			CREATE TRIGGER broadcast_message
				AFTER INSERT OR UPDATE ON protector.booking_messages
				FOR EACH ROW EXECUTE FUNCTION protector_internal.broadcast_message();
		END IF;
		-- members receive their organizations' topics; nobody else does
		IF p_policies THEN
			v_policy := protector_internal.realtime_policy('protector_members_receive_organization_topic',
														   v_members_using);
		END IF;
	END IF;

	-- a customer joins their own topic (their booking messages) only
	IF v_broadcast AND p_policies THEN
		PERFORM protector_internal.realtime_policy('protector_customers_receive_own_topic', v_customers_using);
		PERFORM protector_internal.realtime_policy('protector_topics_closed_to_others', v_topics_using, v_topics_check);
		PERFORM protector_internal.realtime_policy('protector_topics_closed_to_anon', v_topics_check, v_topics_check, 'anon');
	END IF;

	RETURN jsonb_build_object('publication', v_publication, 'tables_added', to_jsonb(v_added),
							  'broadcast', v_broadcast, 'broadcast_policy', v_policy);
END
$$;
COMMENT ON FUNCTION protector_internal.apply_realtime(boolean) IS
'Adds bookings, tasks and notifications to the Supabase Realtime the database has (publication, broadcast trigger, topic policy)';

-- Idempotent: run after creating the supabase_realtime publication or
-- installing Supabase Realtime; reports what it found and did, and
-- remembers it (realtime_state) so that a restore does it again.
CREATE FUNCTION protector.enable_realtime()
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_result jsonb := protector_internal.apply_realtime();
BEGIN
	IF (v_result ->> 'publication')::boolean OR (v_result ->> 'broadcast')::boolean THEN
		INSERT INTO protector_internal.realtime_state (enabled) VALUES (true) ON CONFLICT DO NOTHING;
	END IF;
	RETURN v_result;
END
$$;
COMMENT ON FUNCTION protector.enable_realtime() IS
'Adds bookings, tasks and notifications to Supabase Realtime (publication, broadcast trigger, topic policy) where present';

-- Undoes enable_realtime() outside protector's own tables: the policy on
-- realtime.messages depends on protector, so run this before DROP EXTENSION
-- (or use DROP EXTENSION ... CASCADE).
CREATE FUNCTION protector.disable_realtime()
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_removed text[] := '{}';
	v_policy boolean := false;
	v_trigger boolean := false;
	t text;
BEGIN
	IF EXISTS (SELECT FROM pg_publication WHERE pubname = 'supabase_realtime') THEN
		FOREACH t IN ARRAY ARRAY['bookings', 'tasks', 'notifications', 'booking_messages'] LOOP
			-- (only a table named in it: one the publication takes FOR ALL
			-- TABLES or with its schema cannot be dropped from it alone, and
			-- the whole call failed bare, its trigger and policies kept)
			IF EXISTS (SELECT FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid
					   WHERE p.pubname = 'supabase_realtime' AND r.prrelid = format('protector.%I', t)::regclass) THEN
				EXECUTE format('ALTER PUBLICATION supabase_realtime DROP TABLE protector.%I', t);
				v_removed := v_removed || ('protector.' || t);
			ELSIF EXISTS (SELECT FROM pg_publication_tables
						  WHERE pubname = 'supabase_realtime' AND schemaname = 'protector' AND tablename = t) THEN
				RAISE NOTICE 'protector.% stays in publication supabase_realtime, which takes it FOR ALL TABLES or with its schema', t;
			END IF;
			EXECUTE format('ALTER TABLE protector.%I REPLICA IDENTITY DEFAULT', t);
		END LOOP;
	END IF;
	IF EXISTS (SELECT FROM pg_trigger WHERE tgrelid = 'protector.bookings'::regclass
			   AND tgname = 'broadcast_booking_change') THEN
		DROP TRIGGER broadcast_booking_change ON protector.bookings;
		v_trigger := true;
	END IF;
	IF EXISTS (SELECT FROM pg_trigger WHERE tgrelid = 'protector.booking_messages'::regclass
			   AND tgname = 'broadcast_message') THEN
		DROP TRIGGER broadcast_message ON protector.booking_messages;
	END IF;
	-- protector's policies on realtime.messages (apply_realtime)
	FOR t IN SELECT p.polname FROM pg_policy p
			 WHERE p.polrelid = to_regclass('realtime.messages')
			   AND p.polname IN ('protector_members_receive_organization_topic', 'protector_customers_receive_own_topic',
								 'protector_topics_closed_to_others', 'protector_topics_closed_to_anon')
	LOOP
		EXECUTE format('DROP POLICY %I ON realtime.messages', t);
		v_policy := v_policy OR t = 'protector_members_receive_organization_topic';
	END LOOP;
	DELETE FROM protector_internal.realtime_state;
	RETURN jsonb_build_object('tables_removed', to_jsonb(v_removed), 'broadcast_trigger_dropped', v_trigger,
							  'broadcast_policy_dropped', v_policy);
END
$$;
COMMENT ON FUNCTION protector.disable_realtime() IS
'Takes protector out of Supabase Realtime (publication, broadcast trigger, topic policy); run before DROP EXTENSION';

-- Realtime as a restored realtime_state row asks for it, where the
-- publication exists before the data (the schema restored first, then the
-- data; a data-only restore into a database that has it): applied once its
-- tables lock as lock_for_restore() says (sql/98_restore.sql).  False when
-- a parallel load held them, or is the load of one of them (the next
-- load's drain tries again).
CREATE FUNCTION protector_internal.apply_restored_realtime()
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_publication p WHERE p.pubname OPERATOR(pg_catalog.=) 'supabase_realtime')
	   OR EXISTS (SELECT FROM pg_catalog.pg_publication_tables t
				  WHERE t.pubname OPERATOR(pg_catalog.=) 'supabase_realtime'
					AND t.schemaname OPERATOR(pg_catalog.=) 'protector' AND t.tablename OPERATOR(pg_catalog.=) 'bookings') THEN
		RETURN true;	-- the publication made later applies it (publication_created), or it is applied
	END IF;
	BEGIN
		IF NOT protector_internal.lock_for_restore(
				'{protector.bookings,protector.tasks,protector.notifications,protector.booking_messages}',
				'ACCESS EXCLUSIVE') THEN
			RETURN false;
		END IF;
		PERFORM protector_internal.apply_realtime();
		RETURN true;
	EXCEPTION WHEN object_in_use THEN
		-- (the drain of a published table's own load, whose COPY keeps it
		-- open: tried again when the load commits, as no later load's end
		-- may come, apply_realtime_at_commit)
		-- (once: not again from that commit's own attempt, which a cursor
		-- still open on the table fails the same way: it looped)
		IF pg_catalog.current_setting('protector_internal.realtime_at_commit', true) IS DISTINCT FROM 'firing' THEN
			PERFORM pg_catalog.set_config('protector_internal.realtime_at_commit', 'on', true);
			UPDATE protector_internal.realtime_state SET enabled = enabled;
		END IF;
		RETURN false;
	END;
END
$$;
COMMENT ON FUNCTION protector_internal.apply_restored_realtime() IS
'During a restore: puts protector into the Realtime publication that exists already, unless another session holds its tables (false)';

-- The drain of a published table's own load could not alter that table
-- (its COPY was still running): the load's commit tries again, once the
-- table is closed.  The largest table loads last in a parallel restore,
-- and is often a published one (notifications): with no load after it,
-- Realtime stayed off with no word.  A deferred trigger on realtime_state,
-- whose row that drain touched; a WARNING where it still cannot.
CREATE FUNCTION protector_internal.apply_realtime_at_commit()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	v_message text;
BEGIN
	-- (Realtime turned off since, in this transaction or another: stays off)
	IF NOT EXISTS (SELECT FROM protector_internal.realtime_state) THEN
		RETURN NULL;
	END IF;
	PERFORM pg_catalog.set_config('protector_internal.realtime_at_commit', 'firing', true);
	-- (nothing here may fail the load's commit: its rows matter more)
	BEGIN
		IF NOT protector_internal.apply_restored_realtime() AND NOT protector_internal.loads_running() THEN
			v_message := 'another session holds its tables';
		END IF;
	EXCEPTION WHEN OTHERS THEN
		v_message := SQLERRM;
	END;
	PERFORM pg_catalog.set_config('protector_internal.realtime_at_commit', 'off', true);
	IF v_message IS NOT NULL THEN
		RAISE WARNING 'protector: not back in Supabase Realtime yet: %', v_message
			USING HINT = 'Run SELECT protector.enable_realtime() once the restore is done.';
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION protector_internal.apply_realtime_at_commit() IS
'Deferred trigger: Realtime applied at the commit of a published table''s load, whose drain could not alter it';
CREATE CONSTRAINT TRIGGER apply_realtime_at_commit AFTER UPDATE ON protector_internal.realtime_state
	DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (pg_catalog.current_setting('protector_internal.realtime_at_commit', true) OPERATOR(pg_catalog.=) 'on')
	EXECUTE FUNCTION protector_internal.apply_realtime_at_commit();

-- A restored realtime_state row is kept once (a row that is there already
-- is not doubled) and applied (apply_restored_realtime); publication_created
-- applies it when pg_dump's post-data section creates the publication.  A
-- parallel load that holds a published table keeps it from applying: the
-- row is kept, and each later load's drain tries again.
CREATE FUNCTION protector_internal.restore_realtime_state()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT protector_internal.restoring_into(TG_RELID) THEN
		RETURN NEW;
	END IF;
	IF EXISTS (SELECT FROM protector_internal.realtime_state) THEN
		RETURN NULL;
	END IF;
	PERFORM protector_internal.apply_restored_realtime();
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION protector_internal.restore_realtime_state() IS
'Trigger: a restored realtime_state row is kept once, and applied where the publication exists already';

CREATE TRIGGER restore_realtime_state BEFORE INSERT ON protector_internal.realtime_state
	FOR EACH ROW EXECUTE FUNCTION protector_internal.restore_realtime_state();
-- also under session_replication_role = replica (Supabase's restore recipe)
ALTER TABLE protector_internal.realtime_state ENABLE ALWAYS TRIGGER restore_realtime_state;

-- A full restore creates the publication after the data (pg_dump's
-- post-data section): when it appears, protector's tables join it again.
CREATE FUNCTION protector_internal.publication_created()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	-- It fires for every role's CREATE PUBLICATION: only the owner of
	-- protector's tables may read realtime_state and add them (looked up by
	-- name, which needs no right on protector's schemas); nobody else's
	-- publication is protector's business, and their DDL must not fail.
	IF NOT pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
								   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
								   WHERE n.nspname OPERATOR(pg_catalog.=) 'protector_internal'
									 AND c.relname OPERATOR(pg_catalog.=) 'realtime_state'), 'USAGE') THEN
		RETURN;
	END IF;
	-- A dump's script (row_security off, as pg_dump writes it): the load
	-- of the restored realtime_state row, if one is under way, is waited
	-- for (the row and this publication, each made before the other
	-- committed, missed each other, and Realtime stayed off with no word);
	-- and the dump brings its own policies on realtime.messages (pg_restore
	-- -j may run this before their CREATE POLICY, which would then fail as
	-- made already).
	-- Its tables are taken all at once, as lock_for_restore() takes them,
	-- waiting for loads too (no load's end follows this one): it waited
	-- for each in turn holding those altered already, and deadlocked with
	-- a load whose end inserted rows set aside into one of them.
	IF pg_catalog.current_setting('row_security') OPERATOR(pg_catalog.=) 'off' THEN
		LOCK TABLE protector_internal.realtime_state IN SHARE MODE;
		IF NOT EXISTS (SELECT FROM protector_internal.realtime_state) THEN
			RETURN;
		ELSIF protector_internal.lock_for_restore(
				'{protector.bookings,protector.tasks,protector.notifications,protector.booking_messages}',
				'ACCESS EXCLUSIVE', true) THEN
			PERFORM protector_internal.apply_realtime(false);
		ELSE
			RAISE WARNING 'protector: not back in Supabase Realtime: another session held its tables too long'
				USING HINT = 'Run SELECT protector.enable_realtime() once the restore is done.';
		END IF;
	ELSIF EXISTS (SELECT FROM protector_internal.realtime_state) THEN
		PERFORM protector_internal.apply_realtime();
	END IF;
END
$$;
COMMENT ON FUNCTION protector_internal.publication_created() IS
'Event trigger: a publication created while protector is in Realtime (a restore) gets protector''s tables again';

CREATE EVENT TRIGGER protector_publication_created ON ddl_command_end
	WHEN TAG IN ('CREATE PUBLICATION')
	EXECUTE FUNCTION protector_internal.publication_created();
-- also under session_replication_role = replica: a restore run that way
-- (PGOPTIONS, as Supabase's recipes set it) left protector out of Realtime
ALTER EVENT TRIGGER protector_publication_created ENABLE ALWAYS;

-- (not during a restore: the restored realtime_state, publication and
-- policy bring protector back into Realtime as it was)
SELECT protector.enable_realtime() WHERE NOT protector_internal.restoring();
