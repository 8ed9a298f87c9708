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
 *	2. reads the service and the other occupying bookings of the service
 *	   with the *latest* snapshot (as ri_triggers.c does under REPEATABLE
 *	   READ), scanning the indexes directly, as exclusion constraints do
 *	   (no RLS applies: the check must count bookings the caller may not
 *	   see): services_pkey, then for a future booking of an exclusive
 *	   service one step back through the btree on (service_id,
 *	   lower(during)), otherwise that btree from two hours before the
 *	   row's occupied time and, for the longer bookings starting before
 *	   that, the GiST index of long bookings on (service_id, during);
 *	3. refuses the row with 23P01 when capacity would be exceeded, or with
 *	   40001 when the conflict was committed after the transaction's
 *	   snapshot (REPEATABLE READ / SERIALIZABLE), so the client retries.
 *
 * A new booking meets the same check before it is stored, from the BEFORE
 * INSERT trigger prepare_booking (protector_reservation_precheck, below),
 * so that a refusal stores nothing.
 *
 * protector.service_mode_check() guards what the btree step relies on: a
 * shared service becomes exclusive only when its bookings that end after
 * now do not overlap.
 *
 * src/reserve.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "nodes/primnodes.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rangetypes.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/uuid.h"

#include "capabilities.h"
#include "constraints.h"
#include "errors.h"
#include "locks.h"
#include "occupancy.h"
#include "range_scan.h"
#include "reserve.h"
#include "schedule.h"
#include "support.h"
#include "timezone.h"

/* what the check needs to know of a service */
typedef struct CapacityRules
{
	char	   *name;
	pg_uuid_t	venue_id;
	bool		shared;
	int32		capacity;
	int64		buffer_before;
	int64		buffer_after;
} CapacityRules;

/* the foreign keys' targets of a new booking, as the precheck reads them */
typedef struct BookingKeys
{
	pg_uuid_t  *organization_id;
	pg_uuid_t  *venue_id;
} BookingKeys;

typedef struct BookingRow
{
	pg_uuid_t  *id;
	pg_uuid_t  *service_id;
	TimestampTz start;
	TimestampTz end;
	int32		party;
	bool		occupies;
	TimestampTz until;			/* a hold's expiry; DT_NOEND otherwise */
} BookingRow;

/*
 * The row under check, and what a check under one snapshot found.  keys:
 * set by the precheck, which passes a row whose service is not in its
 * organization and venue on to the foreign key.
 */
typedef struct CapacityCheck
{
	BookingRow *row;
	ItemPointer self;
	Relation	bookings;
	const BookingKeys *keys;
	CapacityRules rules;
	int32		taken;
	bool		rules_changed;	/* a retry: the service's rules differ too (perhaps
								 * with a booking as well) */
	bool		moving;			/* the precheck: a booking it counted is being
								 * changed by a transaction in progress */
} CapacityCheck;

/*
 * What the check knows of the installed tables, looked up once per backend
 * rather than once per row: relation and index OIDs, column positions, the
 * OIDs of the enum labels it compares against, and the scan-key functions
 * of the indexes it reads.  A relcache invalidation of any of the relations
 * (ALTER TABLE, DROP EXTENSION, a reindex...) makes it load again.
 */
typedef struct ReserveCatalog
{
	bool		valid;
	Oid			bookings;
	Oid			bookings_pkey;
	Oid			services;
	Oid			services_pkey;
	Oid			long_idx;
	Oid			start_idx;
	bool		other_arbiter;	/* has_other_arbiter(): no precheck */
	/* protector.bookings columns */
	AttrNumber	b_id;
	AttrNumber	b_organization_id;
	AttrNumber	b_venue_id;
	AttrNumber	b_idempotency_key;
	AttrNumber	b_service_id;
	AttrNumber	b_party_size;
	AttrNumber	b_during;
	AttrNumber	b_status;
	AttrNumber	b_hold_expires_at;
	/* protector.services columns */
	AttrNumber	s_id;
	AttrNumber	s_organization_id;
	AttrNumber	s_venue_id;
	AttrNumber	s_name;
	AttrNumber	s_mode;
	AttrNumber	s_capacity;
	AttrNumber	s_buffer_before;
	AttrNumber	s_buffer_after;
	/* enum labels, as the OIDs stored in the rows */
	Oid			status_cancelled;
	Oid			status_no_show;
	Oid			status_held;
	Oid			mode_shared;
	/* bookings_long_during_idx (service_id =, during &&), of the bookings
	 * booking_is_long() says are; services_pkey is read by
	 * protector_fetch_by_uuid */
	RangeIndex	long_during;
	/* bookings_service_start_idx (service_id =, lower(during) <) */
	FmgrInfo	start_eq;
	Oid			start_eq_collation;
	FmgrInfo	start_less;
	Oid			start_less_collation;
	FmgrInfo	start_ge;
	Oid			start_ge_collation;
} ReserveCatalog;

static ReserveCatalog catalog;

static void
reserve_relcache_callback(Datum arg pg_attribute_unused(), Oid relid)
{
	if (relid == InvalidOid || relid == catalog.bookings || relid == catalog.bookings_pkey ||
		relid == catalog.services || relid == catalog.services_pkey ||
		relid == catalog.long_idx || relid == catalog.start_idx)
		catalog.valid = false;
}

static Oid
enum_label(Relation rel, AttrNumber attnum, const char *label)
{
	Oid			typid = TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid;
	Oid			oid = GetSysCacheOid2(ENUMTYPOIDNAME, Anum_pg_enum_oid,
									  ObjectIdGetDatum(typid), CStringGetDatum(label));

	if (!OidIsValid(oid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("type %s has no label \"%s\"", format_type_be(typid), label),
				 protector_errhint_table(rel)));
	return oid;
}

static Oid
index_named(Relation heap, const char *name)
{
	Oid			indexoid = get_relname_relid(name, RelationGetNamespace(heap));

	if (!OidIsValid(indexoid) || get_rel_relkind(indexoid) != RELKIND_INDEX || !get_index_isvalid(indexoid) ||
		IndexGetRelation(indexoid, false) != RelationGetRelid(heap))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("index %s.%s of %s is missing or invalid",
						get_namespace_name(RelationGetNamespace(heap)), name,
						RelationGetRelationName(heap)),
				 protector_errhint_table(heap)));
	return indexoid;
}

/*
 * The check reads the btree of bookings by position, so it makes sure it
 * is what 30_tables.sql made it: on (service_id, lower(during)) in
 * ascending order, of every booking (a partial one hid bookings from the
 * check, a descending one met the earliest booking first: both let
 * overlaps through).  (The GiST index on (service_id, during) is checked
 * by protector_range_index_init, its predicate by
 * check_long_index_predicate.)
 */
static void
check_start_index_shape(Relation index, AttrNumber during)
{
	Form_pg_index form = index->rd_index;
	List	   *exprs = RelationGetIndexExpressions(index);
	FuncExpr   *start = list_length(exprs) == 1 && IsA(linitial(exprs), FuncExpr) ?
		(FuncExpr *) linitial(exprs) : NULL;
	bool		ok = index->rd_rel->relam == BTREE_AM_OID && form->indnkeyatts == 2 &&
		index->rd_opcintype[0] == UUIDOID &&
		form->indkey.values[0] == catalog.b_service_id &&
		form->indkey.values[1] == 0 && index->rd_opcintype[1] == TIMESTAMPTZOID &&
		index->rd_indoption[0] == 0 && index->rd_indoption[1] == 0 &&
		start != NULL && start->funcid == F_LOWER_ANYRANGE &&
		list_length(start->args) == 1 && IsA(linitial(start->args), Var) &&
		((Var *) linitial(start->args))->varattno == during &&
		RelationGetIndexPredicate(index) == NIL;

	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index %s.%s does not have the columns the reservation check reads",
						get_namespace_name(RelationGetNamespace(index)), RelationGetRelationName(index)),
				 errdetail("It must be a btree on (service_id, lower(during)) in ascending order, of every booking, without a predicate."),
				 protector_errhint_table(index)));
}

/* a primary key the check reads rows by: unique, on the table's id alone */
static void
check_id_index(Oid indexoid, AttrNumber id)
{
	static const Oid uuid_key[] = {UUIDOID};
	Relation	index = index_open(indexoid, AccessShareLock);

	protector_check_key_index(index, 1, &id, uuid_key);
	index_close(index, AccessShareLock);
}

/*
 * The GiST index must hold every long booking (occupancy_taken() finds
 * those that start before its start-index window there only): its
 * predicate is booking_is_long(during), or it has none.  Any other
 * predicate could leave out a booking that occupies, and the check would
 * let an overlap through.
 */
static void
check_long_index_predicate(Oid indexoid, AttrNumber during)
{
	static const Oid argtypes[] = {TSTZRANGEOID};
	Relation	index = index_open(indexoid, AccessShareLock);
	List	   *pred = RelationGetIndexPredicate(index);
	FuncExpr   *f = list_length(pred) == 1 && IsA(linitial(pred), FuncExpr) ?
		(FuncExpr *) linitial(pred) : NULL;
	bool		ok = pred == NIL ||
		(f != NULL && f->funcid == protector_internal_function_of("booking_is_long", 1, argtypes) &&
		 list_length(f->args) == 1 && IsA(linitial(f->args), Var) &&
		 ((Var *) linitial(f->args))->varattno == during);

	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index %s.%s does not hold every long booking",
						get_namespace_name(RelationGetNamespace(index)), RelationGetRelationName(index)),
				 errdetail("Its predicate must be protector_internal.booking_is_long(during), or none."),
				 protector_errhint_table(index)));
	index_close(index, AccessShareLock);
}

/*
 * The GiST index of long bookings, or 0.1.0's of every booking, which the
 * check reads the same way, until ALTER EXTENSION UPDATE replaces it.
 */
static Oid
long_index_of(Relation bookings)
{
	Oid			nsp = RelationGetNamespace(bookings);

	if (!OidIsValid(get_relname_relid("bookings_long_during_idx", nsp)) &&
		OidIsValid(get_relname_relid("bookings_during_idx", nsp)))
		return index_named(bookings, "bookings_during_idx");
	return index_named(bookings, "bookings_long_during_idx");
}

/*
 * A trigger's own table must hold every row the check compares: a
 * partition holds some (the trigger on a partitioned table fires on each,
 * which then checked its own rows alone beside its own siblings).
 */
static void
refuse_partition(Relation rel)
{
	if (rel->rd_rel->relispartition)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s.%s is a partition", get_namespace_name(RelationGetNamespace(rel)),
						RelationGetRelationName(rel)),
				 errdetail("The check compares every row of the table, which a partition holds only some of."),
				 protector_errhint_table(rel)));
}

/*
 * Does bookings have a unique index that neither its id nor its
 * idempotency key (NULLs distinct) is a key column of (an application's
 * own import key), or an exclusion constraint?  An INSERT ... ON CONFLICT
 * may take it as its arbiter, and the precheck, which runs before
 * PostgreSQL's conflict check, answered a row the clause meant to skip or
 * update with a slot conflict (the row whose slot it met being the very
 * row the clause would have matched).
 */
static bool
has_other_arbiter(Relation bookings)
{
	List	   *indexes = RelationGetIndexList(bookings);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = index->rd_index;
		bool		covered = false;

		/*
		 * A unique index on id meets the row's own id first, one on the
		 * idempotency key no row the precheck takes (it has none), unless
		 * NULLs count as equal there; an exclusion constraint may take any
		 * row whatever its columns.
		 */
		for (int k = 0; form->indisunique && k < form->indnkeyatts; k++)
			covered |= form->indkey.values[k] == catalog.b_id ||
				(form->indkey.values[k] == catalog.b_idempotency_key && !form->indnullsnotdistinct);
		found = (form->indisunique || form->indisexclusion) && !covered;
		index_close(index, AccessShareLock);
		if (found)
			break;
	}
	list_free(indexes);
	return found;
}

static void
load_catalog(Relation bookings)
{
	Relation	services;
	Relation	index;
	Oid			relid = protector_sibling_relid(bookings, "services");

	protector_on_relcache_change(reserve_relcache_callback);
	catalog.valid = false;
	refuse_partition(bookings);

	catalog.bookings = RelationGetRelid(bookings);
	catalog.services = relid;
	catalog.b_id = protector_column_required(bookings, "id", UUIDOID);
	catalog.b_organization_id = protector_column_required(bookings, "organization_id", UUIDOID);
	catalog.b_venue_id = protector_column_required(bookings, "venue_id", UUIDOID);
	catalog.b_idempotency_key = protector_column_required(bookings, "idempotency_key", TEXTOID);
	catalog.b_service_id = protector_column_required(bookings, "service_id", UUIDOID);
	catalog.b_party_size = protector_column_required(bookings, "party_size", INT4OID);
	catalog.b_during = protector_column_required(bookings, "during", TSTZRANGEOID);
	catalog.b_status = protector_column_required(bookings, "status", InvalidOid);
	catalog.b_hold_expires_at = protector_column_required(bookings, "hold_expires_at", TIMESTAMPTZOID);
	catalog.status_cancelled = enum_label(bookings, catalog.b_status, "cancelled");
	catalog.status_no_show = enum_label(bookings, catalog.b_status, "no_show");
	catalog.status_held = enum_label(bookings, catalog.b_status, "held");
	catalog.other_arbiter = has_other_arbiter(bookings);

	services = table_open(relid, AccessShareLock);
	catalog.s_id = protector_column_required(services, "id", UUIDOID);
	catalog.s_organization_id = protector_column_required(services, "organization_id", UUIDOID);
	catalog.s_venue_id = protector_column_required(services, "venue_id", UUIDOID);
	catalog.s_name = protector_column_required(services, "name", TEXTOID);
	catalog.s_mode = protector_column_required(services, "mode", InvalidOid);
	catalog.s_capacity = protector_column_required(services, "capacity", INT4OID);
	catalog.s_buffer_before = protector_column_required(services, "buffer_before", INTERVALOID);
	catalog.s_buffer_after = protector_column_required(services, "buffer_after", INTERVALOID);
	catalog.mode_shared = enum_label(services, catalog.s_mode, "shared");

	catalog.services_pkey = index_named(services, "services_pkey");
	check_id_index(catalog.services_pkey, catalog.s_id);
	table_close(services, AccessShareLock);
	catalog.bookings_pkey = index_named(bookings, "bookings_pkey");
	check_id_index(catalog.bookings_pkey, catalog.b_id);

	catalog.long_idx = long_index_of(bookings);
	protector_range_index_init(&catalog.long_during, bookings, catalog.long_idx,
							   catalog.b_service_id, catalog.b_during, false);
	check_long_index_predicate(catalog.long_idx, catalog.b_during);

	catalog.start_idx = index_named(bookings, "bookings_service_start_idx");
	index = index_open(catalog.start_idx, AccessShareLock);
	check_start_index_shape(index, catalog.b_during);
	protector_index_key_function(index, 1, BTEqualStrategyNumber, &catalog.start_eq, &catalog.start_eq_collation);
	protector_index_key_function(index, 2, BTLessStrategyNumber, &catalog.start_less, &catalog.start_less_collation);
	protector_index_key_function(index, 2, BTGreaterEqualStrategyNumber, &catalog.start_ge,
								 &catalog.start_ge_collation);
	index_close(index, AccessShareLock);

	catalog.valid = true;
}

static void
read_booking(HeapTuple tuple, TupleDesc desc, BookingRow *row)
{
	bool		isnull;
	Datum		d;

	row->id = DatumGetUUIDP(protector_attr_notnull(tuple, desc, catalog.b_id, "bookings"));
	row->service_id = DatumGetUUIDP(protector_attr_notnull(tuple, desc, catalog.b_service_id, "bookings"));
	row->party = DatumGetInt32(protector_attr_notnull(tuple, desc, catalog.b_party_size, "bookings"));

	/* the table's CHECK constraint guarantees finite, non-empty [a, b) */
	protector_range_bounds(protector_attr_notnull(tuple, desc, catalog.b_during, "bookings"), &row->start, &row->end);

	row->until = DT_NOEND;
	d = heap_getattr(tuple, catalog.b_status, desc, &isnull);
	if (DatumGetObjectId(d) == catalog.status_cancelled ||
		DatumGetObjectId(d) == catalog.status_no_show)
		row->occupies = false;
	else if (DatumGetObjectId(d) == catalog.status_held)
	{
		d = heap_getattr(tuple, catalog.b_hold_expires_at, desc, &isnull);
		row->occupies = !isnull &&
			DatumGetTimestampTz(d) > GetCurrentTransactionStartTimestamp();
		row->until = isnull ? DT_NOBEGIN : DatumGetTimestampTz(d);
	}
	else
		row->occupies = true;
}

/*
 * The booking's range in its venue's local time, as every other message
 * about times says it: read only when a conflict is reported, through the
 * venues' primary key (a refusal in the hot path pays for it).
 */
static char *
format_range(Relation bookings, const pg_uuid_t *venue_id, BookingRow *row)
{
	char	   *tzname = protector_text_by_key(bookings, "venues", UUIDPGetDatum(venue_id),
											   "timezone", NULL, NULL);

	if (tzname == NULL)
		tzname = "UTC";
	return psprintf("[%s, %s) local time (%s)", protector_local_text(row->start, tzname),
					protector_local_text(row->end, tzname), tzname);
}

/*
 * How contended each service has been lately, as this backend met it: the
 * share of its recent booking checks that were refusals, as a moving
 * average (each outcome weighs 1/8, older ones fade), in a small table
 * indexed by a hash of the service id (a service that collides with
 * another starts over from 0).  The precheck runs for a service above
 * PRECHECK_SHARE: below it, checking twice costs the bookings let through
 * more than refusing early saves (a refusal after the insert costs about
 * five times a check).
 */
#define CONTENTION_SLOTS 256
#define PRECHECK_SHARE 0.2

static struct
{
	pg_uuid_t	service_id;
	double		refused;
} contention[CONTENTION_SLOTS];

static double *
contention_of(const pg_uuid_t *service_id)
{
	uint32		h = hash_bytes(service_id->data, UUID_LEN) % CONTENTION_SLOTS;

	if (memcmp(&contention[h].service_id, service_id, UUID_LEN) != 0)
	{
		contention[h].service_id = *service_id;
		contention[h].refused = 0;
	}
	return &contention[h].refused;
}

static void
note_outcome(const pg_uuid_t *service_id, bool refused)
{
	double	   *share = contention_of(service_id);

	*share = *share * 0.875 + (refused ? 0.125 : 0);
}

static void
report_conflict(Relation bookings, CapacityCheck *found, BookingRow *row, RangeVerdict verdict)
{
	CapacityRules *rules = &found->rules;
	int32		taken = found->taken;
	char	   *range;

	note_outcome(row->service_id, true);
	range = format_range(bookings, &rules->venue_id, row);

	if (verdict == RANGE_RETRY && found->rules_changed)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_RETRY),
				 errmsg("service \"%s\" was changed or booked concurrently", rules->name),
				 errdetail("Requested %s; a change of the service's mode, capacity or buffers, or a booking, committed after this transaction started leaves no room for it.",
						   range),
				 errhint("Retry the transaction: it will then see the service and its bookings as they are now.")));
	if (verdict == RANGE_RETRY)
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
				 errhint("Choose another time; get_available_slots() (get_widget_slots() in the widget) lists the free ones.")));
	ereport(ERROR,
			(protector_errcode(PROTECTOR_ERR_CONFLICT),
			 errmsg("service \"%s\" has no room for a party of %d at the requested time", rules->name, row->party),
			 errdetail_plural("Requested %s; the service holds %d at a time and %d place is already taken then.",
							  "Requested %s; the service holds %d at a time and %d places are already taken then.",
							  taken, range, rules->capacity, taken),
			 errhint("Choose another time or a smaller party; get_available_slots() (get_widget_slots() in the widget) lists the free places.")));
}

/*
 * The check reads the tables directly through their indexes, as
 * PostgreSQL's own exclusion constraints do, rather than through SPI: it
 * runs for every booking written, and an executor start-up per booking
 * would cost more than the check itself.  Scans bypass RLS by nature.
 */

static bool
uuid_column_is(TupleTableSlot *slot, AttrNumber attnum, const pg_uuid_t *value)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, attnum, &isnull);

	return !isnull && memcmp(DatumGetUUIDP(d), value, UUID_LEN) == 0;
}

/*
 * The service's capacity rules, read through services_pkey.  With keys
 * (the precheck): false, and nothing read, when the service does not exist
 * in the row's organization and venue (the foreign key will say so);
 * without, that is an error.
 */
static bool
read_capacity_rules(const pg_uuid_t *service_id, const BookingKeys *keys,
					Snapshot snapshot, CapacityRules *rules)
{
	Relation	services = table_open(catalog.services, AccessShareLock);
	Relation	pkey = index_open(catalog.services_pkey, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(services, NULL);
	bool		found = protector_fetch_by_uuid(services, pkey, UUIDPGetDatum(service_id), snapshot, slot);

	if (found && keys != NULL)
		found = uuid_column_is(slot, catalog.s_organization_id, keys->organization_id) &&
			uuid_column_is(slot, catalog.s_venue_id, keys->venue_id);
	if (found)
	{
		rules->name = TextDatumGetCString(protector_slot_notnull(slot, catalog.s_name, "services"));
		rules->venue_id = *DatumGetUUIDP(protector_slot_notnull(slot, catalog.s_venue_id, "services"));
		rules->shared = DatumGetObjectId(protector_slot_notnull(slot, catalog.s_mode, "services")) == catalog.mode_shared;
		rules->capacity = DatumGetInt32(protector_slot_notnull(slot, catalog.s_capacity, "services"));
		rules->buffer_before = protector_buffer_usecs(protector_slot_notnull(slot, catalog.s_buffer_before, "services"),
													  "buffer_before");
		rules->buffer_after = protector_buffer_usecs(protector_slot_notnull(slot, catalog.s_buffer_after, "services"),
													 "buffer_after");
	}

	ExecDropSingleTupleTableSlot(slot);
	/* the locks stay until the transaction ends, as a query's would */
	index_close(pkey, NoLock);
	table_close(services, NoLock);
	if (!found && keys == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("booking refers to a service that does not exist")));
	return found;
}

/*
 * Occupying bookings of an exclusive service never overlap one another, so
 * a row ending at "to" is free iff the last occupying booking to start
 * before "to" ends by "from": one step back through the btree on
 * (service_id, lower(during)), where a GiST probe (and the exclusion
 * constraint's check) descends every subtree that might overlap.  The
 * argument needs one thing of the other bookings: none of them contains
 * the end of a later-starting one ("no nesting").  The checks keep it for
 * every booking written through them while the service is exclusive;
 * service_mode_check() refuses to make a service exclusive while bookings
 * that end after now overlap; bookings reaching into the past (imports,
 * corrections) are counted as a shared service's are (occupancy_taken()),
 * which needs no such argument.  Rows
 * written with the trigger switched off (session_replication_role =
 * replica) are, as for foreign keys, the writer's responsibility.  Holds
 * keep it while they are alive: an expired one may lie inside a later
 * booking, and the walk passes over it (exclusive_taken()).
 */
/*
 * A walk over one service's bookings in start order through
 * bookings_service_start_idx: keyed by the service and bounds on the start
 * (at_least <= start < below; DT_NOBEGIN and DT_NOEND: no bound).  The
 * exclusivity check, the occupancy count and the service-mode check walk
 * this way.
 */
typedef struct StartWalk
{
	Relation	index;
	TupleTableSlot *slot;
	IndexScanDesc scan;
	TupleDesc	desc;
} StartWalk;

static void
start_walk_begin(StartWalk *walk, Relation bookings, Snapshot snapshot, const pg_uuid_t *service_id,
				 TimestampTz at_least, TimestampTz below)
{
	ScanKeyData keys[3];
	int			nkeys = 1;

	walk->index = index_open(catalog.start_idx, AccessShareLock);
	walk->slot = table_slot_create(bookings, NULL);
	walk->desc = RelationGetDescr(bookings);
	ScanKeyEntryInitializeWithInfo(&keys[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
								   catalog.start_eq_collation, &catalog.start_eq,
								   UUIDPGetDatum(service_id));
	if (at_least != DT_NOBEGIN)
		ScanKeyEntryInitializeWithInfo(&keys[nkeys++], 0, 2, BTGreaterEqualStrategyNumber, InvalidOid,
									   catalog.start_ge_collation, &catalog.start_ge,
									   TimestampTzGetDatum(at_least));
	if (below != DT_NOEND)
		ScanKeyEntryInitializeWithInfo(&keys[nkeys++], 0, 2, BTLessStrategyNumber, InvalidOid,
									   catalog.start_less_collation, &catalog.start_less,
									   TimestampTzGetDatum(below));
	walk->scan = index_beginscan(bookings, walk->index, snapshot, nkeys, 0);
	index_rescan(walk->scan, keys, nkeys, NULL, 0);
}

/*
 * The next booking that occupies its service, into *row; false at the end.
 * skip: a heap tuple passed over without a visit (the row being checked).
 */
static bool
start_walk_next(StartWalk *walk, ScanDirection direction, ItemPointer skip, BookingRow *row)
{
	ItemPointer tid;

	while ((tid = index_getnext_tid(walk->scan, direction)) != NULL)
	{
		/* an MVCC snapshot sees at most one version per index entry */
		if ((skip != NULL && ItemPointerEquals(tid, skip)) || !index_fetch_heap(walk->scan, walk->slot))
			continue;
		read_booking(ExecFetchSlotHeapTuple(walk->slot, false, NULL), walk->desc, row);
		if (row->occupies)
			return true;
	}
	return false;
}

static void
start_walk_end(StartWalk *walk)
{
	index_endscan(walk->scan);
	ExecDropSingleTupleTableSlot(walk->slot);
	index_close(walk->index, NoLock);	/* (locked until the transaction ends) */
}

/*
 * check_time: the clock at this check.  A hold counts for a transaction until
 * the expiry it sees from its start (read_booking), but once expired it
 * may lie inside a booking committed since (whose transaction began after
 * the expiry): no nesting holds only among the holds alive now, so one
 * expired by now is passed over, never the last word.
 */
static bool
exclusive_taken(BookingRow *row, ItemPointer self, Relation bookings, Snapshot snapshot,
				TimestampTz from, TimestampTz to, TimestampTz check_time, bool *moving)
{
	StartWalk	walk;
	BookingRow	other;
	bool		taken = false;
	TimestampTz since;

	/*
	 * (from a booking's longest length before from: one starting earlier
	 * ended before it, and a long run of bookings that occupy nothing,
	 * lapsed holds or a mass cancellation, was walked through to its start
	 * under the service's lock)
	 */
	if (pg_sub_s64_overflow(from, PROTECTOR_LONGEST_BOOKING_USECS, &since))
		since = DT_NOBEGIN;
	start_walk_begin(&walk, bookings, snapshot, row->service_id, since, to);
	while (start_walk_next(&walk, BackwardScanDirection, self, &other))
	{
		if (memcmp(other.id, row->id, UUID_LEN) == 0 || other.until <= check_time)
			continue;
		taken = other.end > from;
		if (taken && moving != NULL)
			*moving = protector_slot_being_changed(walk.slot);
		break;
	}
	start_walk_end(&walk);
	return taken;
}

/* what occupancy_taken's visits gather */
typedef struct OccupancyVisit
{
	BookingRow *row;
	CapacityRules *rules;
	TupleDesc	desc;
	TimestampTz from;
	TimestampTz to;
	TimestampTz since;			/* where the start index's window begins */
	Occupancy  *occ;
	int			n;
	int			cap;
	bool	   *moving;			/* the precheck's: one counted is being changed */
} OccupancyVisit;

/*
 * Counts other (the version in slot) when it occupies [from, to) beside the
 * row checked; false when the walk can stop (an exclusive service: one is
 * enough).
 */
static bool
gather_occupying(OccupancyVisit *v, const BookingRow *other, TupleTableSlot *slot)
{
	if (other->start >= v->to || other->end <= v->from ||
		memcmp(other->id, v->row->id, UUID_LEN) == 0 || !other->occupies)
		return true;
	protector_grow(v->occ, v->cap, v->n);
	v->occ[v->n].start = other->start - v->rules->buffer_before;
	v->occ[v->n].end = other->end + v->rules->buffer_after;
	v->occ[v->n].party = other->party;
	v->n++;
	if (v->moving != NULL && !*v->moving)
		*v->moving = protector_slot_being_changed(slot);
	return v->rules->shared;
}

/* a long booking that starts before the start index's window */
static bool
visit_long(TupleTableSlot *slot, void *arg)
{
	OccupancyVisit *v = (OccupancyVisit *) arg;
	BookingRow	other;

	read_booking(ExecFetchSlotHeapTuple(slot, false, NULL), v->desc, &other);
	/* GiST answers may be lossy: recheck what the keys asked */
	if (memcmp(other.service_id, v->row->service_id, UUID_LEN) != 0 || other.start >= v->since)
		return true;			/* (the start index's walk counts those) */
	return gather_occupying(v, &other, slot);
}

/*
 * The places taken at the busiest instant of [from, to) by the occupying
 * bookings other than row; for an exclusive service it stops at the first
 * (1 if any).  Two reads, which no booking is in both of: the bookings
 * starting from PROTECTOR_SHORT_BOOKING_USECS before from, through the
 * start index; and the earlier ones, which reach from only if they are
 * longer than that, through the GiST index of long bookings
 * (bookings_long_during_idx).
 */
static int32
occupancy_taken(BookingRow *row, ItemPointer self, Relation bookings, Snapshot snapshot,
				CapacityRules *rules, TimestampTz from, TimestampTz to, bool *moving)
{
	OccupancyVisit v = {row, rules, RelationGetDescr(bookings), from, to, 0, NULL, 0, 8, moving};
	StartWalk	walk;
	BookingRow	other;
	bool		more = true;

	if (pg_sub_s64_overflow(from, PROTECTOR_SHORT_BOOKING_USECS, &v.since))
		v.since = DT_NOBEGIN;
	v.occ = palloc(sizeof(Occupancy) * v.cap);
	start_walk_begin(&walk, bookings, snapshot, row->service_id, v.since, to);
	while (more && start_walk_next(&walk, ForwardScanDirection, self, &other))
		more = gather_occupying(&v, &other, walk.slot);
	start_walk_end(&walk);
	if (more)
		protector_range_scan(bookings, &catalog.long_during, UUIDPGetDatum(row->service_id), from, to,
							 snapshot, self, visit_long, &v);
	if (!rules->shared)
		return v.n > 0 ? 1 : 0;
	qsort(v.occ, v.n, sizeof(Occupancy), protector_compare_occupancy);
	return protector_max_occupancy(v.occ, v.n, row->start - rules->buffer_before,
								   row->end + rules->buffer_after);
}

/*
 * Would adding c->row to the occupancy visible in snapshot exceed
 * capacity?  Reads the service's rules into c->rules; c->taken receives
 * the places already taken at the busiest instant (for an exclusive
 * service: 1 if any).  c->self is the row's own heap tuple, whose index
 * entries are skipped without a heap visit.  The precheck (c->keys set)
 * also learns whether a booking counted is being changed (c->moving).
 */
static bool
exceeds_capacity(CapacityCheck *c, Snapshot snapshot)
{
	BookingRow *row = c->row;
	CapacityRules *rules = &c->rules;
	bool	   *moving = c->keys != NULL ? &c->moving : NULL;
	TimestampTz from;
	TimestampTz to;
	TimestampTz check_time;
	int64		gap;

	if (!read_capacity_rules(row->service_id, c->keys, snapshot, rules))
		return false;

	/* bookings whose occupied interval can overlap the row's */
	gap = rules->buffer_before + rules->buffer_after;
	from = row->start - gap;
	to = row->end + gap;

	/*
	 * The exclusive shortcut for bookings in the future only: "now" is the
	 * clock at this check, later than any commit of service_mode_check()
	 * this snapshot sees, so the overlaps it let stand end before from.
	 */
	check_time = GetCurrentTimestamp();
	if (!rules->shared && from >= check_time)
		c->taken = exclusive_taken(row, c->self, c->bookings, snapshot, from, to, check_time,
								   moving) ? 1 : 0;
	else
		c->taken = occupancy_taken(row, c->self, c->bookings, snapshot, rules, from, to, moving);

	if (!rules->shared)
		return c->taken > 0;	/* one booking at a time, whatever its party */
	return (int64) c->taken + row->party > rules->capacity;
}

static bool
capacity_check(Snapshot snapshot, void *arg)
{
	return exceeds_capacity((CapacityCheck *) arg, snapshot);
}

/*
 * The engine's verdict on row (range_scan.c: the latest snapshot, then the
 * transaction's); *latest receives what the check under the latest one
 * found, which a conflict is reported with.
 */
static RangeVerdict
judge_capacity(Relation bookings, BookingRow *row, ItemPointer self, const BookingKeys *keys,
			   CapacityCheck *latest)
{
	CapacityCheck then;
	RangeVerdict verdict;

	*latest = (CapacityCheck) {.row = row, .self = self, .bookings = bookings, .keys = keys};
	then = *latest;
	verdict = protector_range_verdict(capacity_check, latest, capacity_check, &then);
	/* hidden from the snapshot: a booking, or the service's rules changed */
	if (verdict == RANGE_RETRY)
		latest->rules_changed = then.rules.shared != latest->rules.shared ||
			then.rules.capacity != latest->rules.capacity ||
			then.rules.buffer_before != latest->rules.buffer_before ||
			then.rules.buffer_after != latest->rules.buffer_after;
	return verdict;
}

static const TriggerProtocol reservation_protocol = {
	.function = "reservation_check()",
	.after = true,
	.row_events = PROTECTOR_ON_INSERT | PROTECTOR_ON_UPDATE,
	.fired = "AFTER INSERT OR UPDATE FOR EACH ROW",
};

PG_FUNCTION_INFO_V1(protector_reservation_check);
Datum
protector_reservation_check(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata;
	Relation	bookings;
	TupleDesc	desc;
	HeapTuple	tuple;
	BookingRow	row;
	CapacityCheck latest;
	RangeVerdict verdict;

	trigdata = protector_trigger_data(fcinfo, &reservation_protocol);

	/*
	 * A restore writes history as it was: a backup holding bookings that
	 * overlap (written with triggers off, say) restores whole, and every
	 * write after it is checked again; so are the rows finish_restore()
	 * inserts later, into slots that may have been booked meanwhile.
	 */
	if (protector_restoring_unchecked(trigdata))
		return PointerGetDatum(NULL);

	bookings = trigdata->tg_relation;
	if (!catalog.valid || catalog.bookings != RelationGetRelid(bookings))
		load_catalog(bookings);
	desc = RelationGetDescr(bookings);
	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
		trigdata->tg_newtuple : trigdata->tg_trigtuple;
	read_booking(tuple, desc, &row);
	if (!row.occupies)
		return PointerGetDatum(NULL);

	/*
	 * A booking finish_restore() offers that has ended is history too: a
	 * backup may hold past bookings that overlap (a service made exclusive
	 * since, say), and only the slots still ahead can have been booked
	 * since the restore.
	 */
	if (row.end <= GetCurrentTransactionStartTimestamp() && protector_restoring_row(trigdata))
		return PointerGetDatum(NULL);

	/*
	 * An update that cannot add occupancy needs no check.  A hold occupies
	 * until its expiry, which each transaction judges by its own start: one
	 * that began later may have found the hold expired and booked its time,
	 * so a new version that outlasts the old hold (confirmed, or held
	 * longer) is checked like any other, however long ago this transaction
	 * saw the hold alive.
	 */
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		BookingRow	old;

		read_booking(trigdata->tg_trigtuple, desc, &old);
		if (old.occupies &&
			memcmp(old.service_id, row.service_id, UUID_LEN) == 0 &&
			row.start >= old.start && row.end <= old.end &&
			row.party <= old.party && row.until <= old.until)
			return PointerGetDatum(NULL);
	}

	protector_lock_service(row.service_id);
	verdict = judge_capacity(bookings, &row, &tuple->t_self, NULL, &latest);
	if (verdict != RANGE_FREE)
		report_conflict(bookings, &latest, &row, verdict);
	note_outcome(row.service_id, false);

	return PointerGetDatum(NULL);
}

/*
 * The early refusal of a new booking, before it is stored.
 *
 * prepare_booking (booking_insert.c), the last BEFORE INSERT trigger,
 * calls protector_reservation_precheck() with the finished row: the same
 * check and the same error as reservation_check(), so a refused booking
 * costs no heap tuple, no index entries, no foreign-key checks, no audit
 * or workflow rows, and no transaction id; when many clients want one
 * slot, nearly every attempt is such a refusal.  It concludes only
 * refusals, and takes no lock: a booking it meets is committed (or the
 * transaction's own) and occupies the time now, so the check after the
 * insert, under the service's lock, would meet it as well (a cancellation
 * committed in between is a race the refusal lost a moment earlier).  Not
 * so a booking that a transaction in progress is changing while another
 * transaction holds the service's lock (likely the same one, moving it
 * away, which the check after the insert would wait for): the precheck
 * then concludes nothing.  A change without that lock (a cancellation, a
 * note) the check after the insert would not wait for either.  Under
 * REPEATABLE READ a booking committed after the transaction's snapshot
 * gives 40001, as there.  A row it lets through is checked after the
 * insert as always; taking no lock here also keeps the order of locks the
 * insert always took (the foreign keys' row locks, then the service's).
 *
 * It runs for services this backend has found contended lately (see
 * contention_of(); elsewhere, checking twice costs the bookings let
 * through more than refusing early saves), and where answering early
 * changes no other answer, not otherwise:
 *	- for callers row-level security does not apply to: the insert policy
 *	  is checked after the BEFORE triggers, and a caller it refuses must not
 *	  learn whether another tenant's slot is taken;
 *	- for rows without an idempotency key, and whose id no booking has: a
 *	  replayed request meets the unique index (create_booking answers it
 *	  with the first booking), an upsert its ON CONFLICT clause;
 *	- for rows whose fields the check reads pass the table's rules and
 *	  whose service exists in the row's organization and venue: otherwise
 *	  the NOT NULL, CHECK or foreign key constraint reports what is wrong;
 *	- while reservation_check() fires, and no BEFORE INSERT trigger of
 *	  someone else's fires after prepare_booking (it could still change or
 *	  drop the row).
 *
 * A booking that takes a taken slot and also breaks a rule the precheck
 * does not read (a negative price, an unknown customer) may be refused for
 * the conflict rather than for that rule; a statement that frees a slot in
 * a data-modifying WITH and books it in its main INSERT is refused (the
 * WITH runs after the INSERT).
 */

/* may the precheck run, by the triggers of bookings? */
static bool
precheck_trigger_order(Relation bookings)
{
	TriggerDesc *trigdesc = bookings->trigdesc;
	bool		checked = false;
	bool		last = true;
	int			i;

	for (i = 0; trigdesc != NULL && i < trigdesc->numtriggers; i++)
	{
		Trigger    *t = &trigdesc->triggers[i];
		bool		fires = t->tgenabled == TRIGGER_FIRES_ON_ORIGIN || t->tgenabled == TRIGGER_FIRES_ALWAYS;

		if (strcmp(t->tgname, "reservation_check") == 0)
			checked = fires;
		else if (fires && TRIGGER_FOR_ROW(t->tgtype) && TRIGGER_FOR_BEFORE(t->tgtype) &&
				 TRIGGER_FOR_INSERT(t->tgtype) && strcmp(t->tgname, "prepare_booking") > 0)
			last = false;
	}
	return checked && last;
}

/* the row's fields the check reads, if they pass the table's rules */
static bool
precheckable(HeapTuple tuple, TupleDesc desc, BookingRow *row, BookingKeys *keys)
{
	bool		isnull;
	bool		venue_null;
	Datum		d;
	int32		party;

	if (!heap_attisnull(tuple, catalog.b_idempotency_key, desc) ||
		heap_attisnull(tuple, catalog.b_id, desc) ||
		heap_attisnull(tuple, catalog.b_service_id, desc) ||
		heap_attisnull(tuple, catalog.b_status, desc))
		return false;
	d = heap_getattr(tuple, catalog.b_organization_id, desc, &isnull);
	keys->organization_id = isnull ? NULL : DatumGetUUIDP(d);
	d = heap_getattr(tuple, catalog.b_venue_id, desc, &venue_null);
	keys->venue_id = venue_null ? NULL : DatumGetUUIDP(d);
	if (isnull || venue_null)
		return false;
	d = heap_getattr(tuple, catalog.b_party_size, desc, &isnull);
	party = isnull ? 0 : DatumGetInt32(d);
	if (party < 1 || party > 100000)
		return false;
	d = heap_getattr(tuple, catalog.b_during, desc, &isnull);
	if (isnull || !protector_during_is_valid(d))
		return false;
	read_booking(tuple, desc, row);
	return row->occupies;
}

/* is there a booking with this id already (the insert will meet it)? */
static bool
booking_exists(Relation bookings, const pg_uuid_t *id, Snapshot snapshot)
{
	Relation	pkey = index_open(catalog.bookings_pkey, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(bookings, NULL);
	bool		found = protector_fetch_by_uuid(bookings, pkey, UUIDPGetDatum(id), snapshot, slot);

	ExecDropSingleTupleTableSlot(slot);
	index_close(pkey, AccessShareLock);
	return found;
}

void
protector_reservation_precheck(Relation bookings, HeapTuple tuple)
{
	BookingRow	row;
	BookingKeys keys;
	Snapshot	snapshot;
	bool		exists;
	CapacityCheck latest;
	RangeVerdict verdict;

	if (!catalog.valid || catalog.bookings != RelationGetRelid(bookings))
		load_catalog(bookings);
	if (catalog.other_arbiter ||
		!precheckable(tuple, RelationGetDescr(bookings), &row, &keys) ||
		*contention_of(row.service_id) <= PRECHECK_SHARE ||
		check_enable_rls(RelationGetRelid(bookings), InvalidOid, true) == RLS_ENABLED ||
		!precheck_trigger_order(bookings))
		return;

	/* no lock: only a refusal is concluded (see above) */
	verdict = judge_capacity(bookings, &row, NULL, &keys, &latest);
	if (verdict == RANGE_FREE)
		return;
	/* a booking being changed while the service's lock is held: maybe a move */
	if (latest.moving && protector_service_lock_busy(row.service_id))
		return;

	/* a booking with this id: the insert meets it first (asked only now) */
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	exists = booking_exists(bookings, row.id, snapshot);
	UnregisterSnapshot(snapshot);
	if (!exists)
		report_conflict(bookings, &latest, &row, verdict);
}

static const TriggerProtocol service_mode_protocol = {
	.function = "service_mode_check()",
	.after = true,
	.row_events = PROTECTOR_ON_UPDATE,
	.fired = "AFTER UPDATE FOR EACH ROW",
};

/*
 * protector.service_mode_check(): AFTER UPDATE OF mode ON protector.services
 *
 * A shared service may hold overlapping bookings; an exclusive one may
 * not.  Turning a service exclusive is refused (23P01) while two of its
 * occupying bookings overlap, buffers included, and one of them ends after
 * now: the exclusive check relies on that (see exclusive_taken()), and a
 * desk switching a service to exclusive would not expect overlapping
 * bookings to stay.  Overlaps entirely in the past are history and kept.
 * Runs under the service's reservation lock, so no booking slips in
 * between the check and the commit.
 */

/* a row of a walk copied out: the walk's tuples, which it points into, go with it */
static void
keep_row(BookingRow *dst, const BookingRow *src)
{
	*dst = *src;
	dst->id = palloc(sizeof(pg_uuid_t));
	memcpy(dst->id, src->id, sizeof(pg_uuid_t));
	dst->service_id = palloc(sizeof(pg_uuid_t));
	memcpy(dst->service_id, src->service_id, sizeof(pg_uuid_t));
}

/*
 * Two bookings of a service that overlap (buffers included) and reach past
 * since: false if there are none, else the first such pair in start order
 * in *earlier and *later.  Two overlapping bookings one of which ends after
 * since both end after since minus a booking's longest occupied span (31
 * days plus buffers), so both start after since minus twice that: the
 * walk starts there, keeping the booking reaching furthest.
 */
static bool
find_overlap(Relation bookings, Snapshot snapshot, const pg_uuid_t *service_id, int64 buffer_before,
			 int64 buffer_after, TimestampTz since, BookingRow *earlier, BookingRow *later)
{
	StartWalk	walk;
	BookingRow	row;
	bool		have_widest = false;
	bool		found = false;

	start_walk_begin(&walk, bookings, snapshot, service_id,
					 since - 2 * (PROTECTOR_LONGEST_BOOKING_USECS + buffer_before + buffer_after), DT_NOEND);
	while (!found && start_walk_next(&walk, ForwardScanDirection, NULL, &row))
	{
		if (have_widest && row.start - buffer_before < earlier->end + buffer_after &&
			Max(row.end, earlier->end) + buffer_after > since)
		{
			keep_row(later, &row);
			found = true;
		}
		else if (!have_widest || row.end > earlier->end)
		{
			keep_row(earlier, &row);
			have_widest = true;
		}
	}
	start_walk_end(&walk);
	return found;
}

static void
report_overlap(Relation bookings, const char *service, const pg_uuid_t *venue_id,
			   BookingRow *earlier, BookingRow *later)
{
	char	   *first = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(earlier->id)));
	char	   *second = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(later->id)));

	ereport(ERROR,
			(protector_errcode(PROTECTOR_ERR_CONFLICT),
			 errmsg("service \"%s\" cannot become exclusive while its bookings overlap", service),
			 errdetail("Bookings %s %s and %s %s overlap (buffers included).",
					   first, format_range(bookings, venue_id, earlier),
					   second, format_range(bookings, venue_id, later)),
			 errhint("Cancel or move one of them first, or keep the service shared.")));
}

/* protector.bookings, opened, with the catalog loaded for it and services */
static Relation
open_bookings_of(Relation services)
{
	Oid			relid = protector_sibling_relid(services, "bookings");
	Relation	bookings;

	refuse_partition(services);
	bookings = table_open(relid, AccessShareLock);

	if (!catalog.valid || catalog.bookings != relid || catalog.services != RelationGetRelid(services))
		load_catalog(bookings);
	/* (the columns were found in the services beside bookings: read no other) */
	if (catalog.services != RelationGetRelid(services))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("service_mode_check fired on %s.%s, which is not the services table beside its bookings",
						get_namespace_name(RelationGetNamespace(services)), RelationGetRelationName(services)),
				 errdetail("It reads a service's mode, buffers and name where it found them in %s.services.",
						   get_namespace_name(RelationGetNamespace(services))),
				 protector_errhint_table(services)));
	return bookings;
}

static int64
service_interval(HeapTuple service, AttrNumber attnum, TupleDesc desc)
{
	return protector_buffer_usecs(protector_attr_notnull(service, desc, attnum, "services"),
								  NameStr(TupleDescAttr(desc, attnum - 1)->attname));
}

PG_FUNCTION_INFO_V1(protector_service_mode_check);
Datum
protector_service_mode_check(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = protector_trigger_data(fcinfo, &service_mode_protocol);
	Relation	services = trigdata->tg_relation;
	TupleDesc	sdesc = RelationGetDescr(services);
	HeapTuple	service = trigdata->tg_newtuple;
	Relation	bookings = open_bookings_of(services);
	pg_uuid_t  *service_id;
	Snapshot	snapshot;
	BookingRow	earlier = {0};
	BookingRow	later;

	/* only a shared service becoming exclusive is checked */
	if (DatumGetObjectId(protector_attr_notnull(service, sdesc, catalog.s_mode, "services")) == catalog.mode_shared ||
		DatumGetObjectId(protector_attr_notnull(trigdata->tg_trigtuple, sdesc, catalog.s_mode, "services")) != catalog.mode_shared)
	{
		table_close(bookings, AccessShareLock);
		return PointerGetDatum(NULL);
	}
	service_id = DatumGetUUIDP(protector_attr_notnull(service, sdesc, catalog.s_id, "services"));
	protector_lock_service(service_id);
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	if (find_overlap(bookings, snapshot, service_id, service_interval(service, catalog.s_buffer_before, sdesc),
					 service_interval(service, catalog.s_buffer_after, sdesc),
					 GetCurrentTransactionStartTimestamp(), &earlier, &later))
		report_overlap(bookings, TextDatumGetCString(protector_attr_notnull(service, sdesc, catalog.s_name, "services")),
					   DatumGetUUIDP(protector_attr_notnull(service, sdesc, catalog.s_venue_id, "services")),
					   &earlier, &later);
	UnregisterSnapshot(snapshot);
	table_close(bookings, AccessShareLock);
	return PointerGetDatum(NULL);
}
