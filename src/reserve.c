/*-------------------------------------------------------------------------
 *
 * reserve.c
 *	  The reservation invariant: at no instant does a service hold more
 *	  than its capacity (one booking if exclusive, the sum of party sizes
 *	  up to capacity if shared), buffers included, ignoring cancelled and
 *	  no-show bookings and expired holds.
 *
 * protector.reservation_check() is an AFTER INSERT OR UPDATE row trigger
 * on protector.bookings, so the invariant holds for every path into the
 * table: RPC, PostgREST table writes, imports, admin SQL.  For each row
 * that newly occupies time it
 *	1. takes the service's transaction-level advisory lock (locks.c), so
 *	   checks of one service run one at a time and see each other's
 *	   committed work;
 *	2. reads the other occupying bookings of the service with the *latest*
 *	   snapshot (as ri_triggers.c does under REPEATABLE READ), as the
 *	   table's owner without RLS, since the check must count bookings the
 *	   caller may not see;
 *	3. refuses the row with 23P01 when capacity would be exceeded, or with
 *	   40001 when the conflict was committed after the transaction's
 *	   snapshot (REPEATABLE READ / SERIALIZABLE), so the client retries.
 *
 * src/reserve.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rangetypes.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/uuid.h"

#include "access.h"
#include "errors.h"
#include "locks.h"
#include "reserve.h"
#include "schedule.h"

static SPIPlanPtr occupancy_plan = NULL;
static SPIPlanPtr capacity_plan = NULL;

/* what the check needs to know of a service */
typedef struct CapacityRules
{
	char	   *name;
	bool		shared;
	int32		capacity;
	int64		buffer_before;
	int64		buffer_after;
} CapacityRules;

#define OCCUPANCY_SQL \
	"SELECT lower(during), upper(during), party_size FROM protector.bookings" \
	" WHERE service_id OPERATOR(pg_catalog.=) $1" \
	"   AND during OPERATOR(pg_catalog.&&) pg_catalog.tstzrange($2, $3)" \
	"   AND id OPERATOR(pg_catalog.<>) $4" \
	"   AND status OPERATOR(pg_catalog.<>) ALL ('{cancelled,no_show}'::protector.booking_status[])" \
	"   AND (status OPERATOR(pg_catalog.<>) 'held'::protector.booking_status" \
	"        OR hold_expires_at OPERATOR(pg_catalog.>) pg_catalog.now())" \
	" ORDER BY lower(during)"

/*
 * Loads the occupied intervals ([start - buffer_before, end + buffer_after))
 * of the bookings of a service that overlap [from, to), sorted by start,
 * as the owner of the bookings table (no RLS).  exclude_id, if given, is
 * left out.  With a valid snapshot the query runs with it; otherwise with
 * the current one.  limit 0 means all.  owner: the bookings table's owner,
 * or InvalidOid to look it up.
 */
Occupancy *
protector_load_occupancy(const pg_uuid_t *service_id, TimestampTz from,
						 TimestampTz to, int64 buffer_before,
						 int64 buffer_after, const pg_uuid_t *exclude_id,
						 Snapshot snapshot, long limit, Oid owner, int *n)
{
	MemoryContext caller = CurrentMemoryContext;
	ProtectorElevation saved;
	pg_uuid_t	nil_uuid;
	Datum		values[4];
	int			ret;
	Occupancy  *result;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	{
		Oid			argtypes[4] = {UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID, UUIDOID};

		protector_keep_plan(&occupancy_plan, OCCUPANCY_SQL, 4, argtypes);
	}

	memset(&nil_uuid, 0, sizeof(nil_uuid));
	values[0] = UUIDPGetDatum(service_id);
	/* occupied intervals overlap [from, to) iff during overlaps this */
	values[1] = TimestampTzGetDatum(from - buffer_after);
	values[2] = TimestampTzGetDatum(to + buffer_before);
	values[3] = UUIDPGetDatum(exclude_id ? exclude_id : &nil_uuid);

	if (!OidIsValid(owner))
		owner = protector_table_owner("bookings");
	protector_elevate(owner, &saved);
	if (snapshot != InvalidSnapshot)
		ret = SPI_execute_snapshot(occupancy_plan, values, NULL, snapshot,
								   InvalidSnapshot, true, false, limit);
	else
		ret = SPI_execute_plan(occupancy_plan, values, NULL, true, limit);
	protector_restore(&saved);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "occupancy query failed: %s", SPI_result_code_string(ret));

	*n = (int) SPI_processed;
	result = MemoryContextAlloc(caller, sizeof(Occupancy) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		result[i].start = DatumGetTimestampTz(SPI_getbinval(tup, desc, 1, &isnull)) - buffer_before;
		result[i].end = DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull)) + buffer_after;
		result[i].party = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	}
	SPI_finish();
	return result;
}

/*
 * The largest total party size present at any instant of [from, to),
 * given occupied intervals sorted by start.
 */
int32
protector_max_occupancy(const Occupancy *occ, int n, TimestampTz from,
						TimestampTz to)
{
	int32		best = 0;

	/* the maximum is reached at from or at the start of some interval */
	for (int i = -1; i < n; i++)
	{
		TimestampTz p;
		int32		sum = 0;

		if (i >= 0)
		{
			if (occ[i].start <= from)
				continue;
			if (occ[i].start >= to)
				break;
			p = occ[i].start;
		}
		else
			p = from;

		for (int j = 0; j < n && occ[j].start <= p; j++)
		{
			if (occ[j].end > p)
				sum += occ[j].party;
		}
		best = Max(best, sum);
	}
	return best;
}

/*
 * Loads the capacity rules of a service as the owner (no RLS).
 */
static CapacityRules *
load_capacity_rules(const pg_uuid_t *service_id, Oid owner)
{
	MemoryContext caller = CurrentMemoryContext;
	ProtectorElevation saved;
	Datum		values[1];
	int			ret;
	CapacityRules *rules;
	bool		isnull;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	{
		Oid			argtypes[1] = {UUIDOID};

		protector_keep_plan(&capacity_plan, "SELECT name, mode::text OPERATOR(pg_catalog.=) 'shared', capacity,"
									   " buffer_before, buffer_after FROM protector.services"
									   " WHERE id OPERATOR(pg_catalog.=) $1", 1, argtypes);
	}
	values[0] = UUIDPGetDatum(service_id);
	protector_elevate(owner, &saved);
	ret = SPI_execute_plan(capacity_plan, values, NULL, true, 1);
	protector_restore(&saved);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "service query failed: %s", SPI_result_code_string(ret));
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("booking refers to a service that does not exist")));

	rules = MemoryContextAlloc(caller, sizeof(CapacityRules));
	rules->name = MemoryContextStrdup(caller,
									  TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	rules->shared = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	rules->capacity = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	rules->buffer_before = protector_interval_usecs(DatumGetIntervalP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull)));
	rules->buffer_after = protector_interval_usecs(DatumGetIntervalP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull)));
	SPI_finish();
	return rules;
}

typedef struct BookingRow
{
	pg_uuid_t  *id;
	pg_uuid_t  *service_id;
	TimestampTz start;
	TimestampTz end;
	int32		party;
	bool		occupies;
} BookingRow;

static int
attnum_of(TupleDesc desc, const char *name)
{
	int			attnum = SPI_fnumber(desc, name);

	if (attnum <= 0)
		elog(ERROR, "protector.bookings has no column \"%s\"", name);
	return attnum;
}

static void
read_booking(HeapTuple tuple, TupleDesc desc, BookingRow *row)
{
	bool		isnull;
	Datum		d;
	char	   *status;
	RangeType  *during;
	TypeCacheEntry *typcache;
	RangeBound	lower_bound,
				upper_bound;
	bool		empty;

	row->id = DatumGetUUIDP(heap_getattr(tuple, attnum_of(desc, "id"), desc, &isnull));
	row->service_id = DatumGetUUIDP(heap_getattr(tuple, attnum_of(desc, "service_id"), desc, &isnull));
	row->party = DatumGetInt32(heap_getattr(tuple, attnum_of(desc, "party_size"), desc, &isnull));

	during = DatumGetRangeTypeP(heap_getattr(tuple, attnum_of(desc, "during"), desc, &isnull));
	typcache = lookup_type_cache(RangeTypeGetOid(during), TYPECACHE_RANGE_INFO);
	range_deserialize(typcache, during, &lower_bound, &upper_bound, &empty);
	/* the table's CHECK constraint guarantees finite, non-empty [a, b) */
	if (empty || lower_bound.infinite || upper_bound.infinite)
		elog(ERROR, "booking range must be finite and non-empty");
	row->start = DatumGetTimestampTz(lower_bound.val);
	row->end = DatumGetTimestampTz(upper_bound.val);

	d = heap_getattr(tuple, attnum_of(desc, "status"), desc, &isnull);
	status = DatumGetCString(DirectFunctionCall1(enum_out, d));
	if (strcmp(status, "cancelled") == 0 || strcmp(status, "no_show") == 0)
		row->occupies = false;
	else if (strcmp(status, "held") == 0)
	{
		d = heap_getattr(tuple, attnum_of(desc, "hold_expires_at"), desc, &isnull);
		row->occupies = !isnull &&
			DatumGetTimestampTz(d) > GetCurrentTransactionStartTimestamp();
	}
	else
		row->occupies = true;
}

static char *
format_range(TimestampTz start, TimestampTz end)
{
	char	   *s = pstrdup(timestamptz_to_str(start));

	return psprintf("[%s, %s)", s, timestamptz_to_str(end));
}

static void
report_conflict(CapacityRules *rules, BookingRow *row, int32 taken, bool retry)
{
	char	   *range = format_range(row->start, row->end);

	if (retry)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_RETRY),
				 errmsg("service \"%s\" was booked concurrently", rules->name),
				 errdetail("Requested %s; a booking committed after this transaction started leaves no room for it.",
						   range),
				 errhint("Retry the transaction: it will then see the other booking.")));
	if (!rules->shared)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_CONFLICT),
				 errmsg("service \"%s\" is already booked at the requested time", rules->name),
				 errdetail("Requested %s; the service takes one booking at a time (buffers included) and another booking overlaps it.",
						   range),
				 errhint("Choose another time; protector.get_available_slots() lists the free ones.")));
	ereport(ERROR,
			(protector_errcode(PROTECTOR_ERR_CONFLICT),
			 errmsg("service \"%s\" has no room for %d more at the requested time", rules->name, row->party),
			 errdetail("Requested %s; the service holds %d at a time and %d places are already taken then.",
					   range, rules->capacity, taken),
			 errhint("Choose another time or a smaller party; protector.get_available_slots() lists the free places.")));
}

/*
 * Would adding row to the occupancy visible in snapshot exceed capacity?
 * *taken receives the places already taken at the busiest instant.
 */
static bool
exceeds_capacity(CapacityRules *rules, BookingRow *row, Snapshot snapshot,
				 Oid owner, int32 *taken)
{
	TimestampTz from = row->start - rules->buffer_before;
	TimestampTz to = row->end + rules->buffer_after;
	Occupancy  *occ;
	int			n;

	occ = protector_load_occupancy(row->service_id, from, to,
								   rules->buffer_before, rules->buffer_after,
								   row->id, snapshot, rules->shared ? 0 : 1, owner, &n);
	if (!rules->shared)
	{
		*taken = n;
		return n > 0;
	}
	*taken = protector_max_occupancy(occ, n, from, to);
	return *taken + row->party > rules->capacity;
}

PG_FUNCTION_INFO_V1(protector_reservation_check);
Datum
protector_reservation_check(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	BookingRow	row;
	CapacityRules *rules;
	Oid			owner;
	int32		taken;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("reservation_check() must be called as a trigger")));
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(trigdata->tg_event) ||
		TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("reservation_check() must be fired AFTER INSERT OR UPDATE FOR EACH ROW")));

	desc = RelationGetDescr(trigdata->tg_relation);
	read_booking(TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
				 trigdata->tg_newtuple : trigdata->tg_trigtuple, desc, &row);
	if (!row.occupies)
		return PointerGetDatum(NULL);

	/* an update that cannot add occupancy needs no check */
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		BookingRow	old;

		read_booking(trigdata->tg_trigtuple, desc, &old);
		if (old.occupies &&
			memcmp(old.service_id, row.service_id, UUID_LEN) == 0 &&
			row.start >= old.start && row.end <= old.end &&
			row.party <= old.party)
			return PointerGetDatum(NULL);
	}

	owner = trigdata->tg_relation->rd_rel->relowner;
	rules = load_capacity_rules(row.service_id, owner);

	protector_lock_service(row.service_id);

	/* see everything committed before we got the lock, and our own work */
	CommandCounterIncrement();
	if (exceeds_capacity(rules, &row, GetLatestSnapshot(), owner, &taken))
	{
		bool		retry = false;
		int32		taken_then;

		/* hidden from our snapshot: a concurrent commit, so retry */
		if (IsolationUsesXactSnapshot() &&
			!exceeds_capacity(rules, &row, GetTransactionSnapshot(), owner, &taken_then))
			retry = true;
		report_conflict(rules, &row, taken, retry);
	}

	return PointerGetDatum(NULL);
}
