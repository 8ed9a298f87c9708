/*-------------------------------------------------------------------------
 *
 * workflow.c
 *	  protector_internal.booking_workflow_insert(): the work a new booking
 *	  creates for the operations team, written with the booking.
 *
 * Invariants (docs/workflow.md; the same rules the PL/pgSQL trigger of
 * sql/82_workflow.sql keeps for changes of a booking):
 *	  - a new pending or confirmed booking gets a review task, due an hour
 *		before it starts (never after the start, never before now),
 *		assigned to the booking's agent (the desk's where the booking has
 *		ended and the agent's role sees no tasks), and a desk notification
 *		("booking.created"); a widget hold gets the notification only
 *		("booking.awaiting_confirmation"); other new bookings get nothing;
 *	  - the task's and the notification's organization and booking are the
 *		booking's, and the assignee is the booking's agent, whom the
 *		booking's own foreign key proves a member of that organization: the
 *		rows are written directly (direct_insert.c: constraints checked,
 *		no foreign-key triggers, so no lock on the organization's row per
 *		booking) and announced on the organization's channel as their
 *		statement triggers would announce them (realtime.c);
 *	  - a restore writes history: nothing is created while one runs.
 *
 * Why C: this runs for every booking, and the PL/pgSQL version paid for
 * two INSERT statements with their foreign-key checks, each taking a KEY
 * SHARE lock on the same organization row as every other booking of the
 * tenant.
 *
 * src/workflow.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/genam.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rangetypes.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "capabilities.h"
#include "direct_insert.h"
#include "booking_followups.h"
#include "output_style.h"
#include "range_scan.h"
#include "realtime.h"
#include "spi_scope.h"
#include "support.h"
#include "timezone.h"

static const TriggerProtocol workflow_protocol = {
	.function = "booking_workflow_insert()",
	.after = true,
	.row_events = PROTECTOR_ON_INSERT,
	.fired = "AFTER INSERT FOR EACH ROW",
};

/* what the trigger reads of a new booking */
typedef struct NewBooking
{
	pg_uuid_t  *id;
	pg_uuid_t  *organization_id;
	pg_uuid_t  *service_id;
	Datum		assigned_agent;
	bool		no_agent;
	bool		no_customer;
	bool		no_promo;
	TimestampTz start;
	TimestampTz end;
	char	   *status;
	char	   *source;
	int32		party_size;
	Datum		hold_expires_at;
	bool		no_hold;
} NewBooking;

/*
 * The columns the trigger reads and writes, by name once per backend (and
 * again after a relcache invalidation of the table): 23 lookups by name
 * per booking were 8,600 instructions.
 */
enum
{
	BK_ID, BK_ORGANIZATION_ID, BK_SERVICE_ID, BK_ASSIGNED_AGENT, BK_CUSTOMER_ID,
	BK_DURING, BK_STATUS, BK_SOURCE, BK_PARTY_SIZE, BK_HOLD_EXPIRES_AT, BK_PROMO_CODE_ID
};
static const ProtectorColumn booking_column_list[] = {
	[BK_ID] = {"id", UUIDOID},
	[BK_ORGANIZATION_ID] = {"organization_id", UUIDOID},
	[BK_SERVICE_ID] = {"service_id", UUIDOID},
	[BK_ASSIGNED_AGENT] = {"assigned_agent", UUIDOID},
	[BK_CUSTOMER_ID] = {"customer_id", UUIDOID},
	[BK_DURING] = {"during", TSTZRANGEOID},
	[BK_STATUS] = {"status", InvalidOid},
	[BK_SOURCE] = {"source", InvalidOid},
	[BK_PARTY_SIZE] = {"party_size", INT4OID},
	[BK_HOLD_EXPIRES_AT] = {"hold_expires_at", TIMESTAMPTZOID},
	[BK_PROMO_CODE_ID] = {"promo_code_id", UUIDOID},
};
static ProtectorColumns booking_columns = {
	.columns = booking_column_list, .ncolumns = lengthof(booking_column_list)
};

enum
{
	TK_ID, TK_ORGANIZATION_ID, TK_BOOKING_ID, TK_KIND, TK_TITLE, TK_ASSIGNEE, TK_DUE_AT, TK_STATUS
};
static const ProtectorColumn task_column_list[] = {
	[TK_ID] = {"id", UUIDOID},
	[TK_ORGANIZATION_ID] = {"organization_id", UUIDOID, true},
	[TK_BOOKING_ID] = {"booking_id", UUIDOID, true},
	[TK_KIND] = {"kind", TEXTOID, true},
	[TK_TITLE] = {"title", TEXTOID, true},
	[TK_ASSIGNEE] = {"assignee", UUIDOID, true},
	[TK_DUE_AT] = {"due_at", TIMESTAMPTZOID, true},
	[TK_STATUS] = {"status", InvalidOid},
};
static ProtectorColumns task_columns = {
	.columns = task_column_list, .ncolumns = lengthof(task_column_list)
};

enum
{
	NT_ID, NT_ORGANIZATION_ID, NT_BOOKING_ID, NT_KIND, NT_PAYLOAD
};
static const ProtectorColumn notification_column_list[] = {
	[NT_ID] = {"id", UUIDOID},
	[NT_ORGANIZATION_ID] = {"organization_id", UUIDOID, true},
	[NT_BOOKING_ID] = {"booking_id", UUIDOID, true},
	[NT_KIND] = {"kind", TEXTOID, true},
	[NT_PAYLOAD] = {"payload", JSONBOID, true},
};
static ProtectorColumns notification_columns = {
	.columns = notification_column_list, .ncolumns = lengthof(notification_column_list)
};

static char *
column_text(HeapTuple tuple, TupleDesc desc, AttrNumber attnum)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, attnum, desc, &isnull);

	return isnull ? NULL : protector_value_text(TupleDescAttr(desc, attnum - 1)->atttypid, d);
}

static void
read_new_booking(Relation bookings, HeapTuple tuple, NewBooking *b)
{
	const AttrNumber *c = protector_columns(&booking_columns, bookings);
	TupleDesc	desc = RelationGetDescr(bookings);

	b->id = DatumGetUUIDP(protector_attr_notnull(tuple, desc, c[BK_ID], "bookings"));
	b->organization_id = DatumGetUUIDP(protector_attr_notnull(tuple, desc, c[BK_ORGANIZATION_ID], "bookings"));
	b->service_id = DatumGetUUIDP(protector_attr_notnull(tuple, desc, c[BK_SERVICE_ID], "bookings"));
	b->assigned_agent = heap_getattr(tuple, c[BK_ASSIGNED_AGENT], desc, &b->no_agent);
	(void) heap_getattr(tuple, c[BK_CUSTOMER_ID], desc, &b->no_customer);
	(void) heap_getattr(tuple, c[BK_PROMO_CODE_ID], desc, &b->no_promo);
	protector_range_bounds(protector_attr_notnull(tuple, desc, c[BK_DURING], "bookings"), &b->start, &b->end);
	/* (NULL, which only a changed table lets through, is no status or source) */
	b->status = column_text(tuple, desc, c[BK_STATUS]);
	b->source = column_text(tuple, desc, c[BK_SOURCE]);
	if (b->status == NULL)
		b->status = "";
	if (b->source == NULL)
		b->source = "";
	b->party_size = DatumGetInt32(protector_attr_notnull(tuple, desc, c[BK_PARTY_SIZE], "bookings"));
	b->hold_expires_at = heap_getattr(tuple, c[BK_HOLD_EXPIRES_AT], desc, &b->no_hold);
}

/* the service's name and its venue's time zone, read past RLS */
typedef struct ServiceFacts
{
	char	   *name;
	char	   *timezone;
} ServiceFacts;

/* the service's name and its venue's time zone, through their primary keys */
static ServiceFacts
read_service_facts(Relation bookings, const pg_uuid_t *service_id)
{
	ServiceFacts facts = {NULL, NULL};
	Datum		venue_id = (Datum) 0;

	facts.name = protector_text_by_key(bookings, "services", UUIDPGetDatum(service_id),
									   "name", &venue_id, "venue_id");
	if (facts.name != NULL && venue_id != (Datum) 0)
		facts.timezone = protector_text_by_key(bookings, "venues", venue_id, "timezone", NULL, NULL);
	if (facts.name == NULL || facts.timezone == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("the booking's service or its venue is missing")));
	return facts;
}

/* "Review booking: <service>, <local start YYYY-MM-DD HH24:MI> (<zone>)" */
static char *
review_title(const ServiceFacts *facts, TimestampTz start)
{
	struct pg_tm tm;
	fsec_t		fsec;
	const char *name = facts->name;
	int			len;

	/* (from the zone file, whatever the session's abbreviations) */
	protector_local_tm(start, facts->timezone, &tm, &fsec);
	/* the name as services' CHECK counts it (btrim: spaces), so the title fits tasks' */
	while (*name == ' ')
		name++;
	len = strlen(name);
	while (len > 0 && name[len - 1] == ' ')
		len--;
	return psprintf("Review booking: %.*s, %04d-%02d-%02d %02d:%02d (%s)", len, name,
					tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, facts->timezone);
}

/* the new row's id, from its column's default, kept for its announcement */
static pg_uuid_t
default_id(Relation rel, const Datum *values, const bool *nulls, AttrNumber attnum)
{
	if (nulls[attnum - 1])
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("%s.id has no default", RelationGetRelationName(rel)),
				 errdetail("Protector's rows take their id from the column's default, protector_internal.random_uuid()."),
				 protector_errhint_damaged()));
	return *DatumGetUUIDP(values[attnum - 1]);
}

static void
set_column(Datum *values, bool *nulls, AttrNumber attnum, Datum value, bool isnull)
{
	values[attnum - 1] = value;
	nulls[attnum - 1] = isnull;
}

/*
 * Does the review task go to the desk (no assignee) rather than to the
 * booking's agent?  agent_shift_check (shifts.c) holds the agent of a
 * booking that has not ended to a role that sees tasks; one that has ended
 * (history, an import) may name any member, whose task then goes to the
 * desk, as sync_workflow leaves a confirmed hold's.
 */
#define SEES_TASKS_SQL "SELECT protector_internal.member_sees_tasks($1, $2)"

static SPIPlanPtr sees_tasks_plan = NULL;

static bool
review_task_unassigned(const NewBooking *b)
{
	Oid			argtypes[2] = {UUIDOID, UUIDOID};
	Datum		values[2] = {UUIDPGetDatum(b->organization_id), b->assigned_agent};
	bool		found;
	Datum		sees;

	if (b->no_agent)
		return true;
	if (b->end > GetCurrentTransactionStartTimestamp())
		return false;
	sees = protector_select_datum(&sees_tasks_plan, SEES_TASKS_SQL, 2, argtypes, values, &found);
	return !found || !DatumGetBool(sees);
}

/* the review task: due an hour before the start, never before now nor after the start */
static void
write_review_task(Relation bookings, const NewBooking *b, const ServiceFacts *facts)
{
	/*
	 * (asked first: the row is then made and written without SQL between;
	 * the table stays open for the transaction once opened, and the SQL
	 * asked here reads no table written directly)
	 */
	bool		unassigned = review_task_unassigned(b);
	DirectTable *t = protector_direct_table(protector_sibling_relid(bookings, "tasks"));
	Relation	rel = protector_direct_relation(t);
	AttrNumber	att[PROTECTOR_MAX_COLUMNS];

	/* (a copy: the defaults below may book into another table, see support.h) */
	const AttrNumber *c = protector_columns_copy(&task_columns, rel, att);
	int			natts = RelationGetDescr(rel)->natts;
	Datum	   *values = palloc(sizeof(Datum) * natts);
	bool	   *nulls = palloc(sizeof(bool) * natts);
	TimestampTz due = Min(b->start, Max(GetCurrentTransactionStartTimestamp(), b->start - USECS_PER_HOUR));
	char	   *status_text;
	pg_uuid_t	task_id;

	protector_direct_defaults(t, values, nulls);
	set_column(values, nulls, c[TK_ORGANIZATION_ID], UUIDPGetDatum(b->organization_id), false);
	set_column(values, nulls, c[TK_BOOKING_ID], UUIDPGetDatum(b->id), false);
	set_column(values, nulls, c[TK_KIND], CStringGetTextDatum("booking_review"), false);
	set_column(values, nulls, c[TK_TITLE], CStringGetTextDatum(review_title(facts, b->start)), false);
	set_column(values, nulls, c[TK_ASSIGNEE], b->assigned_agent, unassigned);
	set_column(values, nulls, c[TK_DUE_AT], TimestampTzGetDatum(due), false);
	status_text = nulls[c[TK_STATUS] - 1] ? NULL :
		protector_value_text(TupleDescAttr(RelationGetDescr(rel), c[TK_STATUS] - 1)->atttypid,
							 values[c[TK_STATUS] - 1]);
	task_id = default_id(rel, values, nulls, c[TK_ID]);
	protector_direct_insert(t, values, nulls);
	protector_announce_insert(rel, b->organization_id, &task_id, status_text);
}

/* key: a string, or null for NULL */
static void
push_text(JsonbParseState **state, const char *key, const char *value)
{
	JsonbValue	v;

	if (value == NULL)
		v.type = jbvNull;
	else
		protector_jsonb_string(&v, value, strlen(value));
	protector_push_member(state, key, strlen(key), &v);
}

/*
 * a timestamp as JSON writes it, in UTC whatever the writer's TimeZone
 * (to_jsonb: "2031-01-06T10:00:00+00:00"; a payload beside its venue's
 * zone read -02:30 for a writer in St. John's)
 */
static char *
json_timestamptz(Datum value)
{
	char	   *ts = palloc(MAXDATELEN + 1);

	return JsonEncodeDateTime(ts, value, TIMESTAMPTZOID, &protector_utc_offset);
}

/*
 * The notification's payload, built as a jsonb value (the text of it
 * parsed by jsonb_in was 16,000 instructions per booking):
 * {"service", "start", "timezone", "status", "party_size", "confirm_by"}.
 */
static Datum
desk_payload(const NewBooking *b, const ServiceFacts *facts)
{
	JsonbParseState *state = NULL;
	JsonbValue	v;
	JsonbValue *object;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	push_text(&state, "service", facts->name);
	push_text(&state, "start", json_timestamptz(TimestampTzGetDatum(b->start)));
	push_text(&state, "timezone", facts->timezone);
	push_text(&state, "status", b->status);
	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(DirectFunctionCall1(int4_numeric, Int32GetDatum(b->party_size)));
	protector_push_member(&state, "party_size", strlen("party_size"), &v);
	/* (a booking inserted confirmed with an expiry written on it has none) */
	push_text(&state, "confirm_by", b->no_hold || strcmp(b->status, "held") != 0 ? NULL :
			  json_timestamptz(b->hold_expires_at));
	object = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(object));
}

/* the desk's notification: no customer data beyond what staff see on the booking */
static void
write_desk_notification(Relation bookings, const NewBooking *b, const ServiceFacts *facts, const char *kind)
{
	DirectTable *t = protector_direct_table(protector_sibling_relid(bookings, "notifications"));
	Relation	rel = protector_direct_relation(t);
	AttrNumber	att[PROTECTOR_MAX_COLUMNS];

	/* (a copy: the defaults below may book into another table, see support.h) */
	const AttrNumber *c = protector_columns_copy(&notification_columns, rel, att);
	int			natts = RelationGetDescr(rel)->natts;
	Datum	   *values = palloc(sizeof(Datum) * natts);
	bool	   *nulls = palloc(sizeof(bool) * natts);
	pg_uuid_t	notification_id;

	protector_direct_defaults(t, values, nulls);
	set_column(values, nulls, c[NT_ORGANIZATION_ID], UUIDPGetDatum(b->organization_id), false);
	set_column(values, nulls, c[NT_BOOKING_ID], UUIDPGetDatum(b->id), false);
	set_column(values, nulls, c[NT_KIND], CStringGetTextDatum(kind), false);
	set_column(values, nulls, c[NT_PAYLOAD], desk_payload(b, facts), false);
	notification_id = default_id(rel, values, nulls, c[NT_ID]);
	protector_direct_insert(t, values, nulls);
	protector_announce_insert(rel, b->organization_id, &notification_id, NULL);
}

PG_FUNCTION_INFO_V1(protector_booking_workflow_insert);
Datum
protector_booking_workflow_insert(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = protector_trigger_data(fcinfo, &workflow_protocol);
	NewBooking	b;
	ServiceFacts facts;
	bool		review;

	/* a restore writes history: the tasks and notifications come with it */
	if (protector_restoring_row(trigdata))
		return PointerGetDatum(NULL);
	read_new_booking(trigdata->tg_relation, trigdata->tg_trigtuple, &b);
	/* reminders, the agent's shift, waivers, the promo code's use */
	/* (booking_followups.c) */
	protector_booking_followups(fcinfo, b.status, !b.no_customer, !b.no_agent, !b.no_promo);
	if (strcmp(b.status, "held") == 0 && strcmp(b.source, "widget") == 0)
		review = false;			/* a widget booking the desk confirms before its hold expires */
	else if (strcmp(b.status, "pending") == 0 || strcmp(b.status, "confirmed") == 0)
		review = true;
	else
		return PointerGetDatum(NULL);
	facts = read_service_facts(trigdata->tg_relation, b.service_id);
	if (review)
		write_review_task(trigdata->tg_relation, &b, &facts);
	write_desk_notification(trigdata->tg_relation, &b, &facts, review ? "booking.created" : "booking.awaiting_confirmation");
	return PointerGetDatum(NULL);
}
