/*-------------------------------------------------------------------------
 *
 * booking_shape.c
 *	  protector_internal.booking_shape(p_booking, p_replayed): a booking as
 *	  the RPCs answer with it (docs/bookings.md): to_jsonb() of its row,
 *	  plus "start" and "end" in UTC (ISO 8601), the venue's "timezone",
 *	  "local_start" and "local_end" in it, and "replayed" when given.
 *
 * Invariant: the answer is exactly
 *	  to_jsonb(p_booking) || jsonb_build_object('start', ..., 'local_end', ...)
 *	  [|| jsonb_build_object('replayed', p_replayed)]
 * as the PL/pgSQL version computed it (the added keys win over a column of
 * the same name); the venue is read as the caller, under RLS, and is UTC
 * when the caller cannot see it.
 *
 * Why C: jsonb sorts an object's keys whenever one is built, and the
 * concatenations sorted the booking's 30-odd keys three times more
 * (308,000 instructions per call, an eighth of a create_booking).  Here the
 * row's columns, converted as to_jsonb() converts them (row_jsonb.c, which
 * works out each column's conversion once per row type where to_jsonb()
 * does for every value), and the added keys are pushed merged in jsonb's
 * key order, so the last sort finds them sorted.
 *
 * src/booking_shape.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/jsonb.h"
#include "utils/rangetypes.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "row_jsonb.h"
#include "spi_scope.h"
#include "support.h"
#include "timezone.h"

#define SHAPE_MAX_EXTRA 6

/* a key the shape adds to the row's, with its value */
typedef struct ShapeKey
{
	const char *key;
	JsonbValue	value;
} ShapeKey;

#define VENUE_TZ_SQL \
	"SELECT v.timezone FROM protector.venues v" \
	" WHERE v.organization_id OPERATOR(pg_catalog.=) $1 AND v.id OPERATOR(pg_catalog.=) $2"

static SPIPlanPtr venue_tz_plan = NULL;

static void
copy_timezone(HeapTuple tuple, TupleDesc desc, uint64 row,
			  uint64 nrows pg_attribute_unused(), void *arg)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, desc, 1, &isnull);

	if (row == 0 && !isnull)
		*(char **) arg = TextDatumGetCString(d);
}

/* the venue's time zone as the caller sees it, else UTC */
static char *
venue_timezone(Datum organization_id, Datum venue_id, bool isnull)
{
	char	   *tzname = NULL;

	if (!isnull)
	{
		Oid			argtypes[2] = {UUIDOID, UUIDOID};
		ProtectorRead read = {.plan = &venue_tz_plan, .sql = VENUE_TZ_SQL, .nargs = 2,
			.argtypes = argtypes, .owner_of = NULL, .limit = 1};
		Datum		values[2] = {organization_id, venue_id};

		(void) protector_read(&read, values, NULL, copy_timezone, &tzname);
	}
	return tzname != NULL ? tzname : "UTC";
}

/*
 * to_char(timezone(tzname, ts), format), as the SQL version wrote it, the
 * zone read from its file (protector_local_timestamp); a missing or
 * infinite time is null there (to_char of infinity is NULL)
 */
static void
local_text(JsonbValue *out, const TimestampTz *ts, const char *tzname, const char *format)
{
	Datum		local;
	text	   *t;

	if (ts == NULL || TIMESTAMP_NOT_FINITE(*ts))
	{
		out->type = jbvNull;
		return;
	}
	local = TimestampGetDatum(protector_local_timestamp(*ts, tzname));
	t = DatumGetTextPP(DirectFunctionCall2(timestamp_to_char, local, CStringGetTextDatum(format)));
	protector_jsonb_string(out, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

/*
 * lower(during) and upper(during): NULL for a NULL or empty range and for
 * an unbounded side, as in SQL (stored bookings have neither: a hand-made
 * row may)
 */
static void
range_sides(Datum during, bool isnull, const TimestampTz **start, const TimestampTz **end)
{
	RangeType  *range;
	TypeCacheEntry *typcache;
	RangeBound	from;
	RangeBound	to;
	bool		empty;
	TimestampTz *bounds = palloc(2 * sizeof(TimestampTz));

	*start = *end = NULL;
	if (isnull)
		return;
	range = DatumGetRangeTypeP(during);
	typcache = lookup_type_cache(RangeTypeGetOid(range), TYPECACHE_RANGE_INFO);
	range_deserialize(typcache, range, &from, &to, &empty);
	if (empty)
		return;
	bounds[0] = DatumGetTimestampTz(from.val);
	bounds[1] = DatumGetTimestampTz(to.val);
	if (!from.infinite)
		*start = &bounds[0];
	if (!to.infinite)
		*end = &bounds[1];
}

static int
compare_shape_keys(const void *a, const void *b)
{
	const char *x = ((const ShapeKey *) a)->key;
	const char *y = ((const ShapeKey *) b)->key;

	return protector_jsonb_key_order(x, strlen(x), y, strlen(y));
}

/*
 * What the shape knows of the row type, worked out once per backend and
 * version of the type (row_jsonb.c): how each column converts, in jsonb's
 * key order, and where the columns it reads are.  (Per backend, not in
 * fn_extra: PL/pgSQL builds a simple expression's state, RETURN
 * booking_shape(...) included, again in every transaction.)
 */
typedef struct ShapeCall
{
	Oid			rowtype;
	uint64		identifier;		/* the row type's version (typcache.c) */
	uint64		casts;			/* protector_jsonb_generation() then */
	MemoryContext cxt;
	JsonbRowLayout layout;
	AttrNumber	during;
	AttrNumber	organization_id;
	AttrNumber	venue_id;
} ShapeCall;

/*
 * The current version; a replaced one lives until the transaction ends (a
 * booking_shape() call further up may still be reading it: user code
 * converting a column can call booking_shape() again after a change)
 */
static ShapeCall *shape_cache = NULL;

static ShapeCall *
shape_call(Oid rowtype, int32 typmod, TupleDesc desc)
{
	uint64		identifier = assign_record_type_identifier(rowtype, typmod);
	uint64		casts = protector_jsonb_generation();
	MemoryContext cxt;
	ShapeCall  *call;

	if (shape_cache != NULL && shape_cache->rowtype == rowtype &&
		shape_cache->identifier == identifier && shape_cache->casts == casts)
		return shape_cache;
	/* built under the caller's context (an error takes it along), kept once whole */
	cxt = AllocSetContextCreate(CurrentMemoryContext, "protector booking shape", ALLOCSET_SMALL_SIZES);
	call = MemoryContextAllocZero(cxt, sizeof(ShapeCall));
	call->cxt = cxt;
	protector_jsonb_layout_init(&call->layout, desc, call->cxt);
	call->during = protector_column(desc, "during", TSTZRANGEOID);
	call->organization_id = protector_column(desc, "organization_id", UUIDOID);
	call->venue_id = protector_column(desc, "venue_id", UUIDOID);
	if (call->during == InvalidAttrNumber || call->organization_id == InvalidAttrNumber ||
		call->venue_id == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("booking_shape() takes a row of protector.bookings"),
				 errdetail("Type %s has no during, organization_id or venue_id column of the bookings' types.",
						   format_type_be(rowtype)),
				 protector_errhint_damaged()));
	call->rowtype = rowtype;
	call->identifier = identifier;
	call->casts = casts;
	MemoryContextSetParent(cxt, CacheMemoryContext);
	if (shape_cache != NULL)
		MemoryContextSetParent(shape_cache->cxt, TopTransactionContext);
	shape_cache = call;
	return call;
}

/* the keys the shape adds, sorted in jsonb's order; returns their count */
static int
shape_keys(ShapeKey *keys, ShapeCall *call, const Datum *values, const bool *nulls,
		   FunctionCallInfo fcinfo)
{
	int			org = call->organization_id - 1;
	int			venue = call->venue_id - 1;
	const TimestampTz *start;
	const TimestampTz *end;
	char	   *tzname;
	int			n = 0;

	range_sides(values[call->during - 1], nulls[call->during - 1], &start, &end);
	tzname = venue_timezone(values[org], values[venue], nulls[org] || nulls[venue]);

	keys[n].key = "start";
	local_text(&keys[n++].value, start, "UTC", "YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"");
	keys[n].key = "end";
	local_text(&keys[n++].value, end, "UTC", "YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"");
	keys[n].key = "timezone";
	protector_jsonb_string(&keys[n++].value, tzname, strlen(tzname));
	keys[n].key = "local_start";
	local_text(&keys[n++].value, start, tzname, "YYYY-MM-DD\"T\"HH24:MI:SS");
	keys[n].key = "local_end";
	local_text(&keys[n++].value, end, tzname, "YYYY-MM-DD\"T\"HH24:MI:SS");
	if (!PG_ARGISNULL(1))
	{
		keys[n].key = "replayed";
		keys[n].value.type = jbvBool;
		keys[n++].value.val.boolean = PG_GETARG_BOOL(1);
	}
	Assert(n <= SHAPE_MAX_EXTRA);
	qsort(keys, n, sizeof(ShapeKey), compare_shape_keys);
	return n;
}

/*
 * The row's columns and the added keys, merged in jsonb's key order (an
 * added key replaces a column of the same name)
 */
static Jsonb *
shape_jsonb(ShapeCall *call, const Datum *values, const bool *nulls, ShapeKey *keys, int nkeys)
{
	JsonbParseState *state = NULL;
	int			next = 0;

	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int c = 0; c < call->layout.ncolumns; c++)
	{
		JsonbColumn *col = &call->layout.columns[call->layout.order[c]];
		JsonbValue	v;
		bool		replaced = false;

		while (next < nkeys && !replaced)
		{
			int			cmp = protector_jsonb_key_order(keys[next].key, strlen(keys[next].key),
														col->name, col->namelen);

			if (cmp > 0)
				break;
			protector_push_member(&state, keys[next].key, strlen(keys[next].key), &keys[next].value);
			next++;
			replaced = (cmp == 0);
		}
		if (replaced)
			continue;
		protector_jsonb_column_value(&v, col, values[col->attnum - 1], nulls[col->attnum - 1]);
		protector_push_member(&state, col->name, col->namelen, &v);
	}
	for (; next < nkeys; next++)
		protector_push_member(&state, keys[next].key, strlen(keys[next].key), &keys[next].value);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/*
 * protector_internal.booking_shape(p_booking protector.bookings,
 *								   p_replayed boolean default null) returns jsonb
 */
PG_FUNCTION_INFO_V1(protector_booking_shape);
Datum
protector_booking_shape(PG_FUNCTION_ARGS)
{
	HeapTupleHeader row;
	Oid			rowtype;
	int32		typmod;
	TupleDesc	desc;
	HeapTupleData tuple;
	ShapeCall  *call;
	Datum	   *values;
	bool	   *nulls;
	ShapeKey	keys[SHAPE_MAX_EXTRA];
	int			nkeys;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	row = PG_GETARG_HEAPTUPLEHEADER(0);
	rowtype = HeapTupleHeaderGetTypeId(row);
	typmod = HeapTupleHeaderGetTypMod(row);
	desc = lookup_rowtype_tupdesc(rowtype, typmod);
	call = shape_call(rowtype, typmod, desc);
	tuple.t_len = HeapTupleHeaderGetDatumLength(row);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = row;
	values = palloc(sizeof(Datum) * Max(desc->natts, 1));
	nulls = palloc(sizeof(bool) * Max(desc->natts, 1));
	heap_deform_tuple(&tuple, desc, values, nulls);
	ReleaseTupleDesc(desc);

	nkeys = shape_keys(keys, call, values, nulls, fcinfo);
	PG_RETURN_JSONB_P(shape_jsonb(call, values, nulls, keys, nkeys));
}
