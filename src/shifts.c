/*-------------------------------------------------------------------------
 *
 * shifts.c
 *	  Staff shifts: a member's shifts never overlap, and a booking's agent
 *	  is on shift at the booking's venue for its whole time.
 *
 * Both are kept under concurrency the way reserve.c keeps bookings, with
 * its mechanics (range_scan.c): every write that can break them takes the
 * member's transaction-level advisory lock (locks.c, class 1886547719),
 * then checks under the latest snapshot, and a conflict its own
 * REPEATABLE READ / SERIALIZABLE snapshot cannot see asks for a retry
 * (40001).
 *
 *	- protector.shift_check(): AFTER INSERT OR UPDATE OR DELETE on
 *	  staff_shifts.  A new or moved shift must not overlap another shift of
 *	  the member (GiST index on (member_id, during), as the booking check
 *	  probes); a shift that shrinks, moves or goes must leave every active
 *	  booking assigned to the member at its venue within its old time
 *	  covered by the member's remaining shifts there.
 *	- protector.agent_shift_check(): AFTER INSERT or UPDATE of the agent,
 *	  time, venue or status of a booking: the agent's shifts at the venue
 *	  cover the booking's whole time (several shifts back to back count);
 *	  the agent is an active member whose role sees tasks (the review
 *	  task is theirs) where the booking has not ended, for imports too,
 *	  which skip lock_agent().
 *
 * Organizations that do not schedule shifts turn the second rule off
 * (settings.staff.require_shifts = false).  Restores write history as it
 * was and are not checked.
 *
 * src/shifts.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "capabilities.h"
#include "errors.h"
#include "locks.h"
#include "range_scan.h"
#include "spi_scope.h"
#include "support.h"
#include "timezone.h"

typedef struct ShiftCatalog
{
	bool		valid;
	Oid			shifts;
	RangeIndex	during;
	AttrNumber	id;
	AttrNumber	organization_id;
	AttrNumber	member_id;
	AttrNumber	venue_id;
	AttrNumber	range;
} ShiftCatalog;

static ShiftCatalog catalog;

typedef struct ShiftRow
{
	pg_uuid_t  *id;
	pg_uuid_t  *organization_id;
	pg_uuid_t  *member_id;
	pg_uuid_t  *venue_id;
	Datum		during;
	TimestampTz start;
	TimestampTz end;
} ShiftRow;

static void
shifts_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	if (relid == InvalidOid || relid == catalog.shifts || relid == catalog.during.index)
		catalog.valid = false;
}

static void
load_catalog(Relation shifts)
{
	Oid			indexoid = get_relname_relid("staff_shifts_during_idx", RelationGetNamespace(shifts));

	protector_on_relcache_change(shifts_relcache_callback);
	catalog.valid = false;
	if (!OidIsValid(indexoid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("index %s.staff_shifts_during_idx is missing",
						get_namespace_name(RelationGetNamespace(shifts))),
				 protector_errhint_table(shifts)));
	catalog.shifts = RelationGetRelid(shifts);
	catalog.id = protector_column_required(shifts, "id", UUIDOID);
	catalog.organization_id = protector_column_required(shifts, "organization_id", UUIDOID);
	catalog.member_id = protector_column_required(shifts, "member_id", UUIDOID);
	catalog.venue_id = protector_column_required(shifts, "venue_id", UUIDOID);
	catalog.range = protector_column_required(shifts, "during", TSTZRANGEOID);
	protector_range_index_init(&catalog.during, shifts, indexoid, catalog.member_id, catalog.range, true);
	catalog.valid = true;
}

static void
read_shift(HeapTuple tuple, TupleDesc desc, ShiftRow *row)
{
	row->id = DatumGetUUIDP(protector_attr_notnull(tuple, desc, catalog.id, "shifts"));
	row->organization_id = DatumGetUUIDP(protector_attr_notnull(tuple, desc, catalog.organization_id, "shifts"));
	row->member_id = DatumGetUUIDP(protector_attr_notnull(tuple, desc, catalog.member_id, "shifts"));
	row->venue_id = DatumGetUUIDP(protector_attr_notnull(tuple, desc, catalog.venue_id, "shifts"));
	row->during = protector_attr_notnull(tuple, desc, catalog.range, "shifts");
	protector_range_bounds(row->during, &row->start, &row->end);
}

/* ---------- messages ---------- */

static SPIPlanPtr member_name_plan = NULL;
static SPIPlanPtr venue_plan = NULL;

static char *
member_name(const pg_uuid_t *member_id)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(member_id)};
	bool		found;
	Datum		d = protector_select_datum(&member_name_plan,
										   "SELECT COALESCE(m.full_name, m.email, m.user_id::text) FROM protector.members m"
										   " WHERE m.id OPERATOR(pg_catalog.=) $1",
										   1, argtypes, values, &found);

	return found ? TextDatumGetCString(d) : "(a former member)";
}

/* "[a, b) local time (Zone) at Venue" */
static char *
local_range(const pg_uuid_t *venue_id, TimestampTz start, TimestampTz end)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1] = {UUIDPGetDatum(venue_id)};
	bool		found;
	Datum		d = protector_select_datum(&venue_plan,
										   "SELECT pg_catalog.concat_ws(chr(10), v.timezone, v.name) FROM protector.venues v"
										   " WHERE v.id OPERATOR(pg_catalog.=) $1",
										   1, argtypes, values, &found);
	char	   *tz = "UTC";
	char	   *name = "?";

	if (found)
	{
		char	   *both = TextDatumGetCString(d);
		char	   *nl = strchr(both, '\n');

		tz = both;
		if (nl != NULL)
		{
			*nl = '\0';
			name = nl + 1;
		}
	}
	return psprintf("[%s, %s) local time (%s) at %s", protector_local_text(start, tz),
					protector_local_text(end, tz), tz, name);
}

/* ---------- a member's shifts never overlap ---------- */

typedef struct OverlapCheck
{
	ShiftRow   *row;
	ItemPointer self;
	Relation	shifts;
	TupleDesc	desc;
	bool		found;
	ShiftRow	other;
} OverlapCheck;

static bool
visit_overlap(TupleTableSlot *slot, void *arg)
{
	OverlapCheck *c = (OverlapCheck *) arg;
	ShiftRow	other;

	read_shift(ExecFetchSlotHeapTuple(slot, false, NULL), c->desc, &other);
	/* GiST answers may be lossy: recheck */
	if (memcmp(other.member_id, c->row->member_id, UUID_LEN) != 0 ||
		other.start >= c->row->end || other.end <= c->row->start ||
		memcmp(other.id, c->row->id, UUID_LEN) == 0)
		return true;
	c->found = true;
	c->other.start = other.start;
	c->other.end = other.end;
	c->other.venue_id = palloc(sizeof(pg_uuid_t));
	memcpy(c->other.venue_id, other.venue_id, sizeof(pg_uuid_t));
	return false;
}

static bool
overlap_check(Snapshot snapshot, void *arg)
{
	OverlapCheck *c = (OverlapCheck *) arg;

	c->found = false;
	protector_range_scan(c->shifts, &catalog.during, UUIDPGetDatum(c->row->member_id),
						 c->row->start, c->row->end, snapshot, c->self, visit_overlap, c);
	return c->found;
}

static void
check_no_overlap(Relation shifts, HeapTuple tuple, ShiftRow *row)
{
	OverlapCheck latest = {.row = row, .self = &tuple->t_self, .shifts = shifts,
		.desc = RelationGetDescr(shifts)};
	OverlapCheck then = latest;
	RangeVerdict verdict = protector_range_verdict(overlap_check, &latest, overlap_check, &then);

	if (verdict == RANGE_RETRY)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_RETRY),
				 errmsg("the shifts of %s were changed concurrently", member_name(row->member_id)),
				 errdetail("Requested %s; a shift committed after this transaction started overlaps it.",
						   local_range(row->venue_id, row->start, row->end)),
				 errhint("Retry the transaction: it will then see the other shift.")));
	if (verdict == RANGE_CONFLICT)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_CONFLICT),
				 errmsg("the shifts of %s overlap", member_name(row->member_id)),
				 errdetail("Requested %s; their shift %s overlaps it.",
						   local_range(row->venue_id, row->start, row->end),
						   local_range(latest.other.venue_id, latest.other.start, latest.other.end)),
				 errhint("A member works one shift at a time: end the other one first, or choose another time.")));
}

/* ---------- assigned bookings stay covered ---------- */

/* an active booking (not a hold that ran out) of the member in $3 their shifts at its venue do not cover */
#define UNCOVERED_SQL \
	"SELECT b.id::pg_catalog.uuid, b.venue_id::pg_catalog.uuid, b.during::pg_catalog.tstzrange FROM protector.bookings b" \
	" JOIN protector.members m ON m.organization_id OPERATOR(pg_catalog.=) $1 AND m.id OPERATOR(pg_catalog.=) $2" \
	"  AND b.assigned_agent OPERATOR(pg_catalog.=) m.user_id" \
	" JOIN protector.organizations o ON o.id OPERATOR(pg_catalog.=) $1" \
	" WHERE b.organization_id OPERATOR(pg_catalog.=) $1 AND b.venue_id OPERATOR(pg_catalog.=) $4" \
	"   AND b.during OPERATOR(pg_catalog.&&) $3" \
	"   AND b.status OPERATOR(pg_catalog.=) ANY ('{held,pending,confirmed,in_progress}'::protector.booking_status[])" \
	"   AND NOT (b.status OPERATOR(pg_catalog.=) 'held' AND b.hold_expires_at OPERATOR(pg_catalog.<=) pg_catalog.now())" \
	"   AND (o.settings OPERATOR(pg_catalog.#>>) '{staff,require_shifts}') IS DISTINCT FROM 'false'" \
	"   AND NOT b.during OPERATOR(pg_catalog.<@) COALESCE((SELECT pg_catalog.range_agg(s.during)" \
	"        FROM protector.staff_shifts s WHERE s.organization_id OPERATOR(pg_catalog.=) $1" \
	"         AND s.member_id OPERATOR(pg_catalog.=) $2 AND s.venue_id OPERATOR(pg_catalog.=) b.venue_id" \
	"         AND s.during OPERATOR(pg_catalog.&&) b.during), '{}'::pg_catalog.tstzmultirange)" \
	" ORDER BY pg_catalog.lower(b.during) LIMIT 1"

static SPIPlanPtr uncovered_plan = NULL;

typedef struct CoverageCheck
{
	const pg_uuid_t *organization_id;
	const pg_uuid_t *member_id;
	const pg_uuid_t *venue_id;
	Datum		window;			/* tstzrange */
	bool		found;
	pg_uuid_t	booking;
	pg_uuid_t	venue;
	TimestampTz start;
	TimestampTz end;
} CoverageCheck;

static void
copy_uncovered(HeapTuple tuple, TupleDesc desc,
			   uint64 row pg_attribute_unused(),
			   uint64 nrows pg_attribute_unused(), void *arg)
{
	CoverageCheck *c = (CoverageCheck *) arg;

	c->found = true;
	memcpy(&c->booking, DatumGetUUIDP(protector_attr_notnull(tuple, desc, 1, "bookings")), sizeof(pg_uuid_t));
	memcpy(&c->venue, DatumGetUUIDP(protector_attr_notnull(tuple, desc, 2, "bookings")), sizeof(pg_uuid_t));
	protector_range_bounds(protector_attr_notnull(tuple, desc, 3, "bookings"), &c->start, &c->end);
}

static bool
coverage_check(Snapshot snapshot, void *arg)
{
	CoverageCheck *c = (CoverageCheck *) arg;
	Oid			argtypes[4] = {UUIDOID, UUIDOID, TSTZRANGEOID, UUIDOID};
	Datum		values[4] = {UUIDPGetDatum(c->organization_id), UUIDPGetDatum(c->member_id), c->window,
		UUIDPGetDatum(c->venue_id)};
	ProtectorRead read = {.plan = &uncovered_plan, .sql = UNCOVERED_SQL, .nargs = 4,
		.argtypes = argtypes, .owner_of = "members", .limit = 1, .snapshot = snapshot};

	c->found = false;
	(void) protector_read(&read, values, NULL, copy_uncovered, c);
	return c->found;
}

/*
 * After a shift shrank, moved or went: the member's active bookings at its
 * venue in its old time are still covered.  Another venue's booking (one
 * left without a shift there while staff.require_shifts was false) is not
 * this change's to answer for.  (Whether the old shift covered a booking
 * is not asked: the rows a statement changes are checked one by one, and
 * two shifts back to back that one statement removes each leave the
 * booking covered by the other's old time.)  change names what changed,
 * for the message.
 */
static void
check_still_covered(ShiftRow *old, const char *change)
{
	CoverageCheck latest = {.organization_id = old->organization_id,
		.member_id = old->member_id, .venue_id = old->venue_id, .window = old->during};
	CoverageCheck then = latest;
	RangeVerdict verdict = protector_range_verdict(coverage_check, &latest, coverage_check, &then);
	char	   *booking;

	if (verdict == RANGE_FREE)
		return;
	booking = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&latest.booking)));
	ereport(ERROR,
			(protector_errcode(verdict == RANGE_RETRY ? PROTECTOR_ERR_RETRY : PROTECTOR_ERR_CONFLICT),
			 errmsg("this shift of %s cannot be %s: booking %s assigned to them would be left without a shift",
					member_name(old->member_id), change, booking),
			 errdetail("The booking is %s.", local_range(&latest.venue, latest.start, latest.end)),
			 errhint(verdict == RANGE_RETRY ? "Retry the transaction: it will then see the other change." :
					 "Assign the booking to someone on shift first, or keep a shift that covers it.")));
}

static const TriggerProtocol shift_protocol = {
	.function = "shift_check()",
	.after = true,
	.row_events = PROTECTOR_ON_INSERT | PROTECTOR_ON_UPDATE | PROTECTOR_ON_DELETE,
	.fired = "AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW",
};

/* both members' locks, in a fixed order: two moves between them never deadlock */
static void
lock_members(const pg_uuid_t *a, const pg_uuid_t *b)
{
	if (b == NULL || memcmp(a, b, UUID_LEN) == 0)
		protector_lock_member(a);
	else if (memcmp(a, b, UUID_LEN) < 0)
	{
		protector_lock_member(a);
		protector_lock_member(b);
	}
	else
	{
		protector_lock_member(b);
		protector_lock_member(a);
	}
}

/*
 * protector_internal.lock_members(p_member_id uuid, p_other_id uuid
 *		default null) returns void
 *
 * The same locks for the SQL triggers that must wait for a member's
 * schedule (a shift's member check, a venue's unassignment): in the same
 * order and with the same bounded wait as shift_check() takes them.
 */
PG_FUNCTION_INFO_V1(protector_lock_members_sql);
Datum
protector_lock_members_sql(PG_FUNCTION_ARGS)
{
	protector_require_arg(fcinfo, 0, "p_member_id");
	lock_members(PG_GETARG_UUID_P(0), PG_ARGISNULL(1) ? NULL : PG_GETARG_UUID_P(1));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(protector_shift_check);
Datum
protector_shift_check(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = protector_trigger_data(fcinfo, &shift_protocol);
	Relation	shifts = trigdata->tg_relation;
	TupleDesc	desc = RelationGetDescr(shifts);
	bool		inserted = TRIGGER_FIRED_BY_INSERT(trigdata->tg_event);
	bool		deleted = TRIGGER_FIRED_BY_DELETE(trigdata->tg_event);
	ShiftRow	old;
	ShiftRow	new;

	if (protector_restoring_row(trigdata))
		return PointerGetDatum(NULL);
	if (!catalog.valid || catalog.shifts != RelationGetRelid(shifts))
		load_catalog(shifts);

	if (!inserted)
		read_shift(trigdata->tg_trigtuple, desc, &old);
	if (!deleted)
		read_shift(inserted ? trigdata->tg_trigtuple : trigdata->tg_newtuple, desc, &new);
	lock_members(deleted ? old.member_id : new.member_id,
				 (inserted || deleted) ? NULL : old.member_id);

	if (!deleted)
		check_no_overlap(shifts, inserted ? trigdata->tg_trigtuple : trigdata->tg_newtuple, &new);
	if (deleted)
		check_still_covered(&old, "deleted");
	else if (!inserted &&
			 (memcmp(old.member_id, new.member_id, UUID_LEN) != 0 ||
			  memcmp(old.venue_id, new.venue_id, UUID_LEN) != 0 ||
			  new.start > old.start || new.end < old.end))
		check_still_covered(&old, "changed");
	return PointerGetDatum(NULL);
}

/* ---------- a booking's agent is on shift ---------- */

typedef struct BookingAgentCatalog
{
	bool		valid;
	Oid			bookings;
	AttrNumber	organization_id;
	AttrNumber	assigned_agent;
	AttrNumber	venue_id;
	AttrNumber	service_id;
	AttrNumber	during;
} BookingAgentCatalog;

static BookingAgentCatalog agent_catalog;

static void
agent_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	if (relid == InvalidOid || relid == agent_catalog.bookings)
		agent_catalog.valid = false;
}

/*
 * the member that user is in the organization, and whether its shifts are
 * required; the member's row share-locked, as deactivate_staff() locks it
 * for update: a deactivation under way is waited for (and then read, or
 * 40001 under REPEATABLE READ), one that comes later waits for this
 * booking and releases it
 */
#define MEMBER_SQL \
	"SELECT m.id, m.active," \
	"  (o.settings OPERATOR(pg_catalog.#>>) '{staff,require_shifts}') IS DISTINCT FROM 'false'," \
	"  protector_internal.role_sees_tasks(m.role)" \
	" FROM protector.members m" \
	" JOIN protector.organizations o ON o.id OPERATOR(pg_catalog.=) m.organization_id" \
	" WHERE m.organization_id OPERATOR(pg_catalog.=) $1 AND m.user_id OPERATOR(pg_catalog.=) $2" \
	" FOR SHARE OF m"

/* do the member's shifts at the venue cover the range? */
#define COVERED_SQL \
	"SELECT $4 OPERATOR(pg_catalog.<@) COALESCE((SELECT pg_catalog.range_agg(s.during)" \
	"  FROM protector.staff_shifts s WHERE s.organization_id OPERATOR(pg_catalog.=) $1" \
	"   AND s.member_id OPERATOR(pg_catalog.=) $2 AND s.venue_id OPERATOR(pg_catalog.=) $3" \
	"   AND s.during OPERATOR(pg_catalog.&&) $4), '{}'::pg_catalog.tstzmultirange)"

static SPIPlanPtr member_plan = NULL;
static SPIPlanPtr covered_plan = NULL;

typedef struct AgentCheck
{
	Datum		values[4];		/* organization, member, venue, range */
} AgentCheck;

static void
copy_bool(HeapTuple tuple, TupleDesc desc, uint64 row pg_attribute_unused(),
		  uint64 nrows pg_attribute_unused(), void *arg)
{
	bool		isnull;

	*(bool *) arg = DatumGetBool(SPI_getbinval(tuple, desc, 1, &isnull)) && !isnull;
}

typedef struct MemberOf
{
	Datum		id;
	bool		active;
	bool		shifts_required;
	bool		sees_tasks;		/* may be given the booking's review task */
} MemberOf;

static void
copy_member(HeapTuple tuple, TupleDesc desc, uint64 row pg_attribute_unused(),
			uint64 nrows pg_attribute_unused(), void *arg)
{
	MemberOf   *m = (MemberOf *) arg;
	bool		isnull;
	pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));

	memcpy(id, DatumGetUUIDP(SPI_getbinval(tuple, desc, 1, &isnull)), sizeof(pg_uuid_t));
	m->id = UUIDPGetDatum(id);
	m->active = DatumGetBool(SPI_getbinval(tuple, desc, 2, &isnull));
	m->shifts_required = DatumGetBool(SPI_getbinval(tuple, desc, 3, &isnull));
	m->sees_tasks = DatumGetBool(SPI_getbinval(tuple, desc, 4, &isnull)) && !isnull;
}

static bool
agent_uncovered(Snapshot snapshot, void *arg)
{
	AgentCheck *c = (AgentCheck *) arg;
	Oid			argtypes[4] = {UUIDOID, UUIDOID, UUIDOID, TSTZRANGEOID};
	ProtectorRead read = {.plan = &covered_plan, .sql = COVERED_SQL, .nargs = 4,
		.argtypes = argtypes, .owner_of = "members", .limit = 1, .snapshot = snapshot};
	bool		covered = false;

	(void) protector_read(&read, c->values, NULL, copy_bool, &covered);
	return !covered;
}

static const TriggerProtocol agent_protocol = {
	.function = "agent_shift_check()",
	.after = true,
	.row_events = PROTECTOR_ON_INSERT | PROTECTOR_ON_UPDATE,
	.fired = "AFTER INSERT OR UPDATE FOR EACH ROW",
};

PG_FUNCTION_INFO_V1(protector_agent_shift_check);
Datum
protector_agent_shift_check(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = protector_trigger_data(fcinfo, &agent_protocol);
	Relation	bookings = trigdata->tg_relation;
	TupleDesc	desc = RelationGetDescr(bookings);
	HeapTuple	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
		trigdata->tg_newtuple : trigdata->tg_trigtuple;
	Oid			argtypes[2] = {UUIDOID, UUIDOID};
	ProtectorRead read = {.plan = &member_plan, .sql = MEMBER_SQL, .nargs = 2,
		.argtypes = argtypes, .owner_of = "members", .limit = 1, .locks_rows = true};
	AgentCheck	latest;
	AgentCheck	then;
	bool		isnull;
	bool		null_org;
	bool		null_venue;
	bool		null_range;
	Datum		agent;
	Datum		service;
	Datum		args[2];
	MemberOf	member;
	RangeVerdict verdict;
	TimestampTz start;
	TimestampTz end;

	if (protector_restoring_row(trigdata))
		return PointerGetDatum(NULL);
	if (!agent_catalog.valid || agent_catalog.bookings != RelationGetRelid(bookings))
	{
		protector_on_relcache_change(agent_relcache_callback);
		agent_catalog.bookings = RelationGetRelid(bookings);
		agent_catalog.organization_id = protector_column_required(bookings, "organization_id", UUIDOID);
		agent_catalog.assigned_agent = protector_column_required(bookings, "assigned_agent", UUIDOID);
		agent_catalog.venue_id = protector_column_required(bookings, "venue_id", UUIDOID);
		agent_catalog.service_id = protector_column_required(bookings, "service_id", UUIDOID);
		agent_catalog.during = protector_column_required(bookings, "during", TSTZRANGEOID);
		agent_catalog.valid = true;
	}
	agent = heap_getattr(tuple, agent_catalog.assigned_agent, desc, &isnull);
	if (isnull)
		return PointerGetDatum(NULL);
	latest.values[0] = heap_getattr(tuple, agent_catalog.organization_id, desc, &null_org);
	latest.values[2] = heap_getattr(tuple, agent_catalog.venue_id, desc, &null_venue);
	latest.values[3] = heap_getattr(tuple, agent_catalog.during, desc, &null_range);
	if (null_org || null_venue || null_range)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("a booking's organization, venue and time must not be null"),
				 protector_errhint_table(bookings)));

	/* the member: active always, seeing tasks, on shift when the organization requires it */
	args[0] = latest.values[0];
	args[1] = agent;
	if (protector_read(&read, args, NULL, copy_member, &member) == 0)
		return PointerGetDatum(NULL);
	if (!member.active)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_CONFLICT),
				 errmsg("%s is no active member", member_name(DatumGetUUIDP(member.id))),
				 errdetail("A booking is assigned only to an active member."),
				 errhint("Assign someone else.")));
	/*
	 * (as lock_agent() asks of requests: also of imports, which skip it;
	 * a booking that has ended is history, which a role change left with
	 * them, release_on_role_change)
	 */
	protector_range_bounds(latest.values[3], &start, &end);
	if (!member.sees_tasks && end > GetCurrentTransactionStartTimestamp())
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("the agent's role sees no tasks"),
				 errdetail("A booking's agent is given its review task: their role must see tasks (tasks.read or tasks.assigned in protector.capability_map())."),
				 errhint("Assign someone else.")));
	if (!member.shifts_required)
		return PointerGetDatum(NULL);
	latest.values[1] = member.id;
	/*
	 * The booking's service's lock before its agent's, the order a
	 * reschedule takes them in (lock_services, then this check under its
	 * UPDATE): a new booking took the agent's here and the service's in
	 * its reservation check after, and the two deadlocked (40P01).  The
	 * reservation check's own take of it is then its second.
	 */
	service = heap_getattr(tuple, agent_catalog.service_id, desc, &isnull);
	if (!isnull)
		protector_lock_service(DatumGetUUIDP(service));
	lock_members(DatumGetUUIDP(latest.values[1]), NULL);
	then = latest;
	verdict = protector_range_verdict(agent_uncovered, &latest, agent_uncovered, &then);
	if (verdict == RANGE_FREE)
		return PointerGetDatum(NULL);
	ereport(ERROR,
			(protector_errcode(verdict == RANGE_RETRY ? PROTECTOR_ERR_RETRY : PROTECTOR_ERR_CONFLICT),
			 errmsg("%s is not on shift for the whole booking", member_name(DatumGetUUIDP(latest.values[1]))),
			 errdetail("The booking is %s; a booking is assigned only to someone whose shifts there cover all of it.",
					   local_range(DatumGetUUIDP(latest.values[2]), start, end)),
			 errhint(verdict == RANGE_RETRY ? "Retry the transaction: it will then see the other change." :
					 "Schedule a shift first (create_staff_schedule), or assign someone on shift.")));
	PG_RETURN_NULL();
}

/*
 * Is anything left for a deactivation to release: a live booking of the
 * member's, an open task, a shift not ended (p_shifts: asked once the
 * deactivation removed those not begun and ended those under way, so one
 * under way given meanwhile counts too; a role that sees no tasks releases
 * the rest, release_on_role_change)?  Read under the latest
 * snapshot: what was given to the member while a REPEATABLE READ
 * deactivation waited for its member's lock committed after the
 * deactivation's snapshot, which its release did not see (the release's
 * own changes are in the latest snapshot too).  For those who may manage
 * the organization's members only.
 */
#define STILL_ASSIGNED_SQL \
	"SELECT true WHERE EXISTS (SELECT FROM protector.bookings b" \
	"   WHERE b.organization_id OPERATOR(pg_catalog.=) $1 AND b.assigned_agent OPERATOR(pg_catalog.=) $2" \
	"     AND pg_catalog.upper(b.during) OPERATOR(pg_catalog.>) pg_catalog.now()" \
	"     AND b.status OPERATOR(pg_catalog.=) ANY ('{held,pending,confirmed,in_progress}'::protector.booking_status[]))" \
	" OR EXISTS (SELECT FROM protector.tasks t" \
	"   WHERE t.assignee OPERATOR(pg_catalog.=) $2 AND t.organization_id OPERATOR(pg_catalog.=) $1" \
	"     AND t.status OPERATOR(pg_catalog.<>) 'done')" \
	" OR $3 AND EXISTS (SELECT FROM protector.members m JOIN protector.staff_shifts s" \
	"     ON s.organization_id OPERATOR(pg_catalog.=) m.organization_id AND s.member_id OPERATOR(pg_catalog.=) m.id" \
	"   WHERE m.organization_id OPERATOR(pg_catalog.=) $1 AND m.user_id OPERATOR(pg_catalog.=) $2" \
	"     AND pg_catalog.upper(s.during) OPERATOR(pg_catalog.>) pg_catalog.now())"

static SPIPlanPtr still_assigned_plan = NULL;

PG_FUNCTION_INFO_V1(protector_agent_still_assigned);
Datum
protector_agent_still_assigned(PG_FUNCTION_ARGS)
{
	Datum		args[3];
	Snapshot	snapshot;
	bool		found = false;

	protector_require_arg(fcinfo, 0, "p_organization_id");
	protector_require_arg(fcinfo, 1, "p_user_id");
	protector_require_arg(fcinfo, 2, "p_shifts");
	/* a question about another organization's staff is its managers' */
	protector_authorize(PG_GETARG_UUID_P(0), "members.manage", "member");
	args[0] = PG_GETARG_DATUM(0);
	args[1] = PG_GETARG_DATUM(1);
	args[2] = PG_GETARG_DATUM(2);
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	{
		Oid			argtypes[3] = {UUIDOID, UUIDOID, BOOLOID};
		ProtectorRead read = {.plan = &still_assigned_plan, .sql = STILL_ASSIGNED_SQL,
			.nargs = 3, .argtypes = argtypes, .owner_of = "bookings", .limit = 1,
			.snapshot = snapshot};

		found = protector_read(&read, args, NULL, copy_bool, &found) > 0;
	}
	UnregisterSnapshot(snapshot);
	PG_RETURN_BOOL(found);
}
