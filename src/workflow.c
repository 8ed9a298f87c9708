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
 *		assigned to the booking's agent, and a desk notification
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
#include "lib/stringinfo.h"
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
#include "realtime.h"
#include "booking_followups.h"
#include "range_scan.h"
#include "support.h"

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
	TimestampTz start;
	char	   *status;
	char	   *source;
	int32		party_size;
	Datum		hold_expires_at;
	bool		no_hold;
} NewBooking;

static char *
column_text(HeapTuple tuple, TupleDesc desc, AttrNumber attnum)
{
	bool		isnull;
	Datum		d = heap_getattr(tuple, attnum, desc, &isnull);

	return isnull ? NULL : protector_value_text(TupleDescAttr(desc, attnum - 1)->atttypid, d);
}

static Datum
column_value(Relation rel, HeapTuple tuple, const char *name, Oid type, bool *isnull)
{
	return heap_getattr(tuple, protector_column_required(rel, name, type), RelationGetDescr(rel), isnull);
}

static void
read_new_booking(Relation bookings, HeapTuple tuple, NewBooking *b)
{
	TupleDesc	desc = RelationGetDescr(bookings);
	bool		isnull;
	TimestampTz end;

	b->id = DatumGetUUIDP(column_value(bookings, tuple, "id", UUIDOID, &isnull));
	b->organization_id = DatumGetUUIDP(column_value(bookings, tuple, "organization_id", UUIDOID, &isnull));
	b->service_id = DatumGetUUIDP(column_value(bookings, tuple, "service_id", UUIDOID, &isnull));
	b->assigned_agent = column_value(bookings, tuple, "assigned_agent", UUIDOID, &b->no_agent);
	(void) column_value(bookings, tuple, "customer_id", UUIDOID, &b->no_customer);
	protector_range_bounds(column_value(bookings, tuple, "during", TSTZRANGEOID, &isnull), &b->start, &end);
	b->status = column_text(tuple, desc, protector_column_required(bookings, "status", InvalidOid));
	b->source = column_text(tuple, desc, protector_column_required(bookings, "source", InvalidOid));
	b->party_size = DatumGetInt32(column_value(bookings, tuple, "party_size", INT4OID, &isnull));
	b->hold_expires_at = column_value(bookings, tuple, "hold_expires_at", TIMESTAMPTZOID, &b->no_hold);
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
	Timestamp	local = DatumGetTimestamp(DirectFunctionCall2(timestamptz_zone,
															  CStringGetTextDatum(facts->timezone),
															  TimestampTzGetDatum(start)));
	struct pg_tm tm;
	fsec_t		fsec;

	if (timestamp2tm(local, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	return psprintf("Review booking: %s, %04d-%02d-%02d %02d:%02d (%s)", facts->name,
					tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, facts->timezone);
}

static void
set_column(DirectTable *t, Datum *values, bool *nulls, const char *name, Datum value, bool isnull)
{
	AttrNumber	attnum = protector_column_required(protector_direct_relation(t), name, InvalidOid);

	values[attnum - 1] = value;
	nulls[attnum - 1] = isnull;
}

/* the review task: due an hour before the start, never before now nor after the start */
static void
write_review_task(Relation bookings, const NewBooking *b, const ServiceFacts *facts)
{
	DirectTable *t = protector_direct_table(protector_sibling_relid(bookings, "tasks"));
	Relation	rel = protector_direct_relation(t);
	int			natts = RelationGetDescr(rel)->natts;
	Datum	   *values = palloc(sizeof(Datum) * natts);
	bool	   *nulls = palloc(sizeof(bool) * natts);
	TimestampTz due = Min(b->start, Max(GetCurrentTransactionStartTimestamp(), b->start - USECS_PER_HOUR));
	AttrNumber	status = protector_column_required(rel, "status", InvalidOid);
	AttrNumber	id = protector_column_required(rel, "id", UUIDOID);
	char	   *status_text;
	pg_uuid_t	task_id;

	protector_direct_defaults(t, values, nulls);
	set_column(t, values, nulls, "organization_id", UUIDPGetDatum(b->organization_id), false);
	set_column(t, values, nulls, "booking_id", UUIDPGetDatum(b->id), false);
	set_column(t, values, nulls, "kind", CStringGetTextDatum("booking_review"), false);
	set_column(t, values, nulls, "title", CStringGetTextDatum(review_title(facts, b->start)), false);
	set_column(t, values, nulls, "assignee", b->assigned_agent, b->no_agent);
	set_column(t, values, nulls, "due_at", TimestampTzGetDatum(due), false);
	status_text = nulls[status - 1] ? NULL :
		protector_value_text(TupleDescAttr(RelationGetDescr(rel), status - 1)->atttypid, values[status - 1]);
	task_id = *DatumGetUUIDP(values[id - 1]);	/* the insert frees the row's values */
	protector_direct_insert(t, values, nulls);
	protector_announce_insert(rel, b->organization_id, &task_id, status_text);
}

/* the desk's notification: no customer data beyond what staff see on the booking */
static void
write_desk_notification(Relation bookings, const NewBooking *b, const ServiceFacts *facts, const char *kind)
{
	DirectTable *t = protector_direct_table(protector_sibling_relid(bookings, "notifications"));
	Relation	rel = protector_direct_relation(t);
	int			natts = RelationGetDescr(rel)->natts;
	Datum	   *values = palloc(sizeof(Datum) * natts);
	bool	   *nulls = palloc(sizeof(bool) * natts);
	AttrNumber	id = protector_column_required(rel, "id", UUIDOID);
	pg_uuid_t	notification_id;
	char		ts[MAXDATELEN + 1];
	StringInfoData json;

	initStringInfo(&json);
	appendStringInfoString(&json, "{\"service\": ");
	escape_json(&json, facts->name);
	JsonEncodeDateTime(ts, TimestampTzGetDatum(b->start), TIMESTAMPTZOID, NULL);
	appendStringInfo(&json, ", \"start\": \"%s\", \"timezone\": ", ts);
	escape_json(&json, facts->timezone);
	appendStringInfoString(&json, ", \"status\": ");
	escape_json(&json, b->status);
	appendStringInfo(&json, ", \"party_size\": %d, \"confirm_by\": ", b->party_size);
	if (b->no_hold)
		appendStringInfoString(&json, "null}");
	else
	{
		JsonEncodeDateTime(ts, b->hold_expires_at, TIMESTAMPTZOID, NULL);
		appendStringInfo(&json, "\"%s\"}", ts);
	}

	protector_direct_defaults(t, values, nulls);
	set_column(t, values, nulls, "organization_id", UUIDPGetDatum(b->organization_id), false);
	set_column(t, values, nulls, "booking_id", UUIDPGetDatum(b->id), false);
	set_column(t, values, nulls, "kind", CStringGetTextDatum(kind), false);
	set_column(t, values, nulls, "payload", DirectFunctionCall1(jsonb_in, CStringGetDatum(json.data)), false);
	notification_id = *DatumGetUUIDP(values[id - 1]);	/* the insert frees the row's values */
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
	if (protector_restoring())
		return PointerGetDatum(NULL);
	read_new_booking(trigdata->tg_relation, trigdata->tg_trigtuple, &b);
	/* reminders, the agent's shift, waivers: booking_followups.c */
	protector_booking_followups(fcinfo, b.status, !b.no_customer, !b.no_agent);
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
