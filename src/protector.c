/*-------------------------------------------------------------------------
 *
 * protector.c
 *	  Module magic and initialization: defines protector's settings.
 *
 * Everything else lives in a file per concern: errors.c (SQLSTATEs),
 * support.c (argument, trigger and column checks), spi_scope.c (SQL from
 * C under a pinned search_path), elevation.c (reads past RLS),
 * capabilities.c (the capability map), identity.c (the JWT user),
 * constraints.c (CHECKs in C), compiled_table.c (CHECKs and DEFAULTs
 * compiled once per backend), timezone.c (zone names), touch.c
 * (updated_at), locks.c (service locks), occupancy.c (what occupies a
 * service), reserve.c (the reservation invariant), schedule.c (hours and
 * slots), availability.c, venue.c, audit.c, realtime.c, analytics.c,
 * dashboards.c, csv.c, normalize.c and embed_key.c.
 *
 * src/protector.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <limits.h>

#include "fmgr.h"
#include "utils/guc.h"

#include "booking_insert.h"
#include "compiled_table.h"
#include "errors.h"
#include "locks.h"
#include "outbox.h"
#include "realtime.h"

PG_MODULE_MAGIC;

/* read by the refund trigger through current_setting() */
static bool protector_refund_on_cancel = true;

/* read by request_client_address() through current_setting() */
static char *protector_client_address = NULL;

/*
 * protector.client_address is "header" or "header:hop": a request
 * header's name as PostgREST passes it (lower case: letters, digits and
 * dashes) and which entry of its comma-separated list, 1 the first, -1
 * the last (at most 10 either way).
 */
static bool
check_client_address(char **newval, void **extra pg_attribute_unused(), GucSource source pg_attribute_unused())
{
	const char *p = *newval;
	int			n = 0;

	while (*p != '\0' && *p != ':' && (islower((unsigned char) *p) || isdigit((unsigned char) *p) || *p == '-'))
	{
		p++;
		n++;
	}
	if (n == 0 || n > 64 || (*p != '\0' && *p != ':'))
	{
		GUC_check_errdetail("A header's name in lower case (letters, digits and dashes, at most 64), e.g. \"x-forwarded-for\" or \"cf-connecting-ip\", optionally with \":hop\".");
		return false;
	}
	if (*p == ':')
	{
		char	   *end;
		long		hop = strtol(p + 1, &end, 10);

		if (end == p + 1 || *end != '\0' || hop == 0 || hop < -10 || hop > 10)
		{
			GUC_check_errdetail("The hop after the colon is which entry of the header's list: 1 to 10 from the first, -1 to -10 from the last.");
			return false;
		}
	}
	return true;
}

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomBoolVariable("protector.http_errors",
							 "Raise protector's domain errors with PostgREST's PTxyz codes.",
							 "With this on, a slot conflict raises PT409, bad input PT422 and "
							 "a missing row PT404, which PostgREST sends as those HTTP statuses. "
							 "Set it for the authenticator role of a Supabase project.",
							 &protector_http_errors,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("protector.lock_timeout",
							"How long a booking waits for its service's lock, in milliseconds.",
							"When the wait runs out the booking fails with a retryable 40001 "
							"instead of hanging. 0 waits without limit.",
							&protector_lock_timeout,
							5000, 0, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("protector.notify",
							 "Announce booking, task and notification changes with NOTIFY.",
							 "PostgreSQL serializes the commits of all transactions that "
							 "NOTIFY, so a database whose dashboards use Supabase Realtime "
							 "instead can turn this off (ALTER DATABASE ... SET).",
							 &protector_notify,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("protector.notify_worker",
							 "Deliver protector.notify's announcements through a background worker.",
							 "A committing transaction leaves its announcements in "
							 "protector_internal.outbox and a worker per database sends them, "
							 "so that bookings do not wait for NOTIFY's cluster-wide commit lock. "
							 "Off: each transaction notifies at its own commit.",
							 &protector_notify_worker,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("protector.max_outbox_workers",
							"How many databases may have an announcement worker at once.",
							"Each takes a max_worker_processes slot, which parallel queries, "
							"logical replication and other extensions need too; a database "
							"beyond it notifies at each commit. -1: half of max_worker_processes.",
							&protector_max_outbox_workers,
							-1,
							-1,
							OUTBOX_SLOTS,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("protector.refund_on_cancel",
							 "Record a refund by the service's refund policy when a booking is cancelled.",
							 "cancel_booking(p_issue_refund => false) turns it off for its own "
							 "transaction; a batch of cancellations may do the same with SET LOCAL.",
							 &protector_refund_on_cancel,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("protector.client_address",
							   "Which request header, and which entry of it, is a widget visitor's address.",
							   "\"header\" or \"header:hop\" of PostgREST's request.headers: "
							   "x-forwarded-for (its first entry) by default; behind a gateway "
							   "that appends to a header the client sent, the entry that gateway "
							   "wrote (x-forwarded-for:-1, its last), or a header it overwrites "
							   "(cf-connecting-ip behind Cloudflare).",
							   &protector_client_address,
							   "x-forwarded-for",
							   PGC_USERSET,
							   0,
							   check_client_address, NULL, NULL);

	DefineCustomStringVariable("protector.promo_code",
							   "The promo code create_booking passes to its insert (internal).",
							   "Set for one insert by protector.create_booking; a booking "
							   "inserted while it is set, in the transaction that set it, "
							   "is discounted by that code.",
							   &protector_promo_code,
							   "",
							   PGC_USERSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	protector_find_promo_code_setting();

	DefineCustomIntVariable("protector.notify_batch_limit",
							"Rows per statement and organization notified one by one.",
							"A statement that changes more rows of one organization sends "
							"a single summary notification with the row count instead.",
							&protector_notify_batch_limit,
							100, 1, 100000,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("protector");

	/* statements into protector's tables evaluate CHECKs compiled once */
	protector_compiled_table_init();
}
