/*-------------------------------------------------------------------------
 *
 * errors.c
 *	  SQLSTATE mapping for protector's domain errors, and protector.raise(),
 *	  the SQL-callable twin used by the SQL and PL/pgSQL parts of the API.
 *
 * See DESIGN.md "Errors": the default codes are standard SQLSTATEs that
 * SQL callers can catch by name; protector.http_errors = on switches the
 * codes PostgREST would map badly to its custom PTxyz codes.
 *
 * src/errors.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "errors.h"

bool		protector_http_errors = false;

typedef struct ProtectorErrorDef
{
	const char *name;			/* name used by protector.raise() */
	int			sqlstate;		/* standard code */
	int			http_sqlstate;	/* code with protector.http_errors = on */
} ProtectorErrorDef;

static const ProtectorErrorDef error_defs[PROTECTOR_ERR_KIND_COUNT] = {
	[PROTECTOR_ERR_CONFLICT] = {
		"conflict", ERRCODE_EXCLUSION_VIOLATION,
		MAKE_SQLSTATE('P', 'T', '4', '0', '9')
	},
	[PROTECTOR_ERR_INVALID_PARAMETER] = {
		"invalid_parameter", ERRCODE_INVALID_PARAMETER_VALUE,
		MAKE_SQLSTATE('P', 'T', '4', '2', '2')
	},
	[PROTECTOR_ERR_INVALID_DATETIME] = {
		"invalid_datetime", ERRCODE_INVALID_DATETIME_FORMAT,
		MAKE_SQLSTATE('P', 'T', '4', '2', '2')
	},
	[PROTECTOR_ERR_DATETIME_OVERFLOW] = {
		"datetime_overflow", ERRCODE_DATETIME_VALUE_OUT_OF_RANGE,
		MAKE_SQLSTATE('P', 'T', '4', '2', '2')
	},
	[PROTECTOR_ERR_NOT_FOUND] = {
		"not_found", ERRCODE_NO_DATA_FOUND,
		MAKE_SQLSTATE('P', 'T', '4', '0', '4')
	},
	[PROTECTOR_ERR_FORBIDDEN] = {
		"forbidden", ERRCODE_INSUFFICIENT_PRIVILEGE,
		ERRCODE_INSUFFICIENT_PRIVILEGE
	},
	[PROTECTOR_ERR_RETRY] = {
		"retry", ERRCODE_T_R_SERIALIZATION_FAILURE,
		ERRCODE_T_R_SERIALIZATION_FAILURE
	},
	[PROTECTOR_ERR_RATE_LIMITED] = {
		"rate_limited", ERRCODE_CONFIGURATION_LIMIT_EXCEEDED,
		MAKE_SQLSTATE('P', 'T', '4', '2', '9')
	},
};

int
protector_sqlstate(ProtectorErrorKind kind)
{
	if ((int) kind < 0 || kind >= PROTECTOR_ERR_KIND_COUNT)
		elog(ERROR, "unrecognized protector error kind: %d", (int) kind);

	return protector_http_errors ? error_defs[kind].http_sqlstate
		: error_defs[kind].sqlstate;
}

/*
 * Look up an error kind by its SQL-level name; raises 22023 for unknown
 * names, listing the valid ones.
 */
static ProtectorErrorKind
error_kind_from_name(const char *name)
{
	StringInfoData valid;

	for (int i = 0; i < PROTECTOR_ERR_KIND_COUNT; i++)
	{
		if (strcmp(error_defs[i].name, name) == 0)
			return (ProtectorErrorKind) i;
	}

	initStringInfo(&valid);
	for (int i = 0; i < PROTECTOR_ERR_KIND_COUNT; i++)
		appendStringInfo(&valid, "%s%s", i > 0 ? ", " : "", error_defs[i].name);

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown protector error kind \"%s\"", protector_clip(name, strlen(name), 80)),
			 errhint("Valid kinds are: %s.", valid.data)));
	pg_unreachable();
}

/*
 * protector.error_sqlstate(p_kind text) returns text
 *
 * The SQLSTATE that errors of this kind carry under the current setting of
 * protector.http_errors.
 */
PG_FUNCTION_INFO_V1(protector_error_sqlstate);
Datum
protector_error_sqlstate(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PG_RETURN_TEXT_P(cstring_to_text(unpack_sql_state(protector_sqlstate(error_kind_from_name(name)))));
}

/*
 * The longest message, and detail or hint, protector.raise sends, in bytes.
 * Errors quote what they were given ("Got ..."); a value a caller made a
 * megabyte long came back a megabyte long, to the client and into the
 * server's log, where the quoting code forgot to cut it.  The longest
 * detail protector writes, a list of twenty bookings, is under 2 kB.
 */
#define RAISE_MESSAGE_MAX 1000
#define RAISE_DETAIL_MAX 4000

/*
 * text argument n, at most maxbytes long: cut on a character boundary,
 * "..." included
 */
static char *
clipped_arg(FunctionCallInfo fcinfo, int n, int maxbytes)
{
	text	   *value = PG_GETARG_TEXT_PP(n);

	return protector_clip_text(value, (int) VARSIZE_ANY_EXHDR(value) <= maxbytes ? maxbytes : maxbytes - 3);
}

/*
 * protector.raise(p_kind text, p_message text, p_detail text default null,
 *				   p_hint text default null) returns void
 *
 * Raises a domain error of the given kind: the SQL and PL/pgSQL functions
 * of the API use it so that their errors carry the same codes as the C
 * ones.  Not STRICT: detail and hint may be NULL, kind and message may not.
 */
PG_FUNCTION_INFO_V1(protector_raise);
Datum
protector_raise(PG_FUNCTION_ARGS)
{
	ProtectorErrorKind kind;
	char	   *message;
	char	   *detail = NULL;
	char	   *hint = NULL;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("p_kind and p_message must not be null")));

	kind = error_kind_from_name(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	message = clipped_arg(fcinfo, 1, RAISE_MESSAGE_MAX);
	if (PG_NARGS() > 2 && !PG_ARGISNULL(2))
		detail = clipped_arg(fcinfo, 2, RAISE_DETAIL_MAX);
	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
		hint = clipped_arg(fcinfo, 3, RAISE_DETAIL_MAX);

	ereport(ERROR,
			(protector_errcode(kind),
			 errmsg_internal("%s", message),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0));

	PG_RETURN_VOID();
}

/* a text value as an error quotes it: cut after maxbytes, with "..." */
char *
protector_clip_text(text *value, int maxbytes)
{
	return protector_clip(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value), maxbytes);
}

char *
protector_clip(const char *value, int len, int maxbytes)
{
	int			keep;

	if (len <= maxbytes)
		return pnstrdup(value, len);
	keep = pg_mbcliplen(value, len, maxbytes);
	return psprintf("%.*s...", keep, value);
}
