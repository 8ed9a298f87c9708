/*-------------------------------------------------------------------------
 *
 * identity.c
 *	  protector.current_user_id(): the Supabase auth user of the request.
 *
 * PostgREST puts the verified JWT claims into the transaction-local
 * setting request.jwt.claims (a JSON object); older versions also set
 * request.jwt.claim.sub.  We read 'sub' from the claims, and the old
 * setting only when there are no claims: claims without a user (an anon
 * token, "sub": null) mean no user, whatever an earlier client of a pooled
 * connection left in request.jwt.claim.sub for the session.  After a
 * transaction ends, a transaction-local custom setting reads as '' rather
 * than disappearing, so an empty string means "no user".
 *
 * Every RLS policy calls this once per statement, so the result for the
 * last claims string seen is cached in TopMemoryContext: a PostgREST
 * connection re-parses only when the request changes.
 *
 * src/identity.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "errors.h"
#include "identity.h"

/* Claims strings longer than this are refused rather than parsed. */
#define MAX_CLAIMS_LENGTH (64 * 1024)

/*
 * Claims nested deeper than this are refused where they are met: the
 * parser recurses per level, and 32,000 levels within the length above
 * ran out of stack (54001, a PostgREST 500) before a 22023.
 */
#define MAX_CLAIMS_DEPTH 100

typedef struct ClaimsParseState
{
	int			depth;			/* current object/array nesting */
	bool		top_is_object;	/* the top-level value is an object */
	bool		in_sub;			/* next scalar is the value of top-level sub */
	bool		sub_seen;		/* top-level "sub" key present */
	bool		sub_is_null;	/* its value was JSON null */
	bool		sub_not_string; /* its value was not a JSON string */
	char	   *sub;			/* its string value */
} ClaimsParseState;

/*
 * The parser's callbacks return nothing up to PostgreSQL 15 and an error
 * code from 16 on (JSON_SUCCESS: go on); written once for both.
 */
#if PG_VERSION_NUM >= 160000
typedef JsonParseErrorType ClaimsAction;
#define CLAIMS_OK JSON_SUCCESS
#else
typedef void ClaimsAction;
#define CLAIMS_OK
#endif

/* cache of the last claims string and its outcome */
static char *cached_claims = NULL;
static bool cached_has_user = false;
static pg_uuid_t cached_uid;

static void
claims_nest_start(ClaimsParseState *st)
{
	if (++st->depth > MAX_CLAIMS_DEPTH)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("request.jwt.claims is nested too deeply"),
				 errdetail("Its objects and arrays nest more than %d levels deep.", MAX_CLAIMS_DEPTH),
				 errhint("The setting must hold the JWT claims as a JSON object, as PostgREST sets it.")));
}

static ClaimsAction
claims_object_start(void *state)
{
	ClaimsParseState *st = (ClaimsParseState *) state;

	if (st->depth == 0)
		st->top_is_object = true;
	claims_nest_start(st);
	return CLAIMS_OK;
}

static ClaimsAction
claims_nest_end(void *state)
{
	((ClaimsParseState *) state)->depth--;
	return CLAIMS_OK;
}

static ClaimsAction
claims_array_start(void *state)
{
	ClaimsParseState *st = (ClaimsParseState *) state;

	/* an array as the value of "sub" is not a string */
	if (st->in_sub)
	{
		st->sub_not_string = true;
		st->in_sub = false;
	}
	claims_nest_start(st);
	return CLAIMS_OK;
}

static ClaimsAction
claims_field_start(void *state, char *fname, bool isnull pg_attribute_unused())
{
	ClaimsParseState *st = (ClaimsParseState *) state;

	if (st->depth == 1 && strcmp(fname, "sub") == 0)
	{
		st->sub_seen = true;
		st->in_sub = true;
		/* JSON allows duplicate keys; as jsonb does, the last one wins */
		st->sub = NULL;
		st->sub_is_null = false;
		st->sub_not_string = false;
	}
	return CLAIMS_OK;
}

static ClaimsAction
claims_field_end(void *state, char *fname pg_attribute_unused(),
				 bool isnull pg_attribute_unused())
{
	ClaimsParseState *st = (ClaimsParseState *) state;

	/* an object as the value of "sub" reaches here without a scalar */
	if (st->depth == 1 && st->in_sub)
	{
		st->sub_not_string = true;
		st->in_sub = false;
	}
	return CLAIMS_OK;
}

static ClaimsAction
claims_scalar(void *state, char *token, JsonTokenType tokentype)
{
	ClaimsParseState *st = (ClaimsParseState *) state;

	if (!st->in_sub || st->depth != 1)
		return CLAIMS_OK;
	st->in_sub = false;
	if (tokentype == JSON_TOKEN_NULL)
		st->sub_is_null = true;
	else if (tokentype == JSON_TOKEN_STRING)
		st->sub = token;
	else
		st->sub_not_string = true;
	return CLAIMS_OK;
}

static int
hex_digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Parses a canonical textual UUID (8-4-4-4-12 hex digits, the form GoTrue
 * issues) into *uid.  Returns false if the text has another shape.
 */
static bool
parse_uuid_text(const char *s, pg_uuid_t *uid)
{
	int			byte = 0;

	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36;)
	{
		int			hi,
					lo;

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
			i++;
			continue;
		}
		hi = hex_digit_value(s[i]);
		lo = hex_digit_value(s[i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		uid->data[byte++] = (unsigned char) ((hi << 4) | lo);
		i += 2;
	}
	return byte == UUID_LEN;
}

static void
report_bad_sub(const char *setting, const char *value)
{
	ereport(ERROR,
			(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
			 errmsg("the JWT subject in %s is not a valid user id", setting),
			 errdetail("Expected a UUID such as \"2f0c1d8e-6b1a-4c55-9a8e-3f1d2c4b5a69\", got \"%s\".",
					   protector_clip(value, strlen(value), 80)),
			 errhint("The \"sub\" claim must be the id of a Supabase auth user.")));
}

/*
 * Parses a non-empty claims string.  Returns true with *uid set when it
 * names a user, false when it has no "sub" (or "sub" is null).
 */
static bool
user_from_claims(const char *claims, pg_uuid_t *uid)
{
	size_t		len = strlen(claims);
	JsonLexContext *lex;
	JsonSemAction sem;
	ClaimsParseState state;
	JsonParseErrorType result;

	if (len > MAX_CLAIMS_LENGTH)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("request.jwt.claims is too long"),
				 errdetail("The setting is %zu bytes long; at most %d are accepted.",
						   len, MAX_CLAIMS_LENGTH)));

	memset(&state, 0, sizeof(state));
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &state;
	sem.object_start = claims_object_start;
	sem.object_end = claims_nest_end;
	sem.array_start = claims_array_start;
	sem.array_end = claims_nest_end;
	sem.object_field_start = claims_field_start;
	sem.object_field_end = claims_field_end;
	sem.scalar = claims_scalar;

#if PG_VERSION_NUM >= 170000
	lex = makeJsonLexContextCstringLen(NULL, pstrdup(claims), len,
									   GetDatabaseEncoding(), true);
#else
	lex = makeJsonLexContextCstringLen(pstrdup(claims), (int) len,
									   GetDatabaseEncoding(), true);
#endif
	result = pg_parse_json(lex, &sem);
	if (result != JSON_SUCCESS)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("request.jwt.claims is not valid JSON"),
				 errdetail("%s", json_errdetail(result, lex)),
				 errhint("The setting must hold the JWT claims as a JSON object, as PostgREST sets it.")));

	if (!state.top_is_object)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("request.jwt.claims is not a JSON object"),
				 errhint("The setting must hold the JWT claims as a JSON object, as PostgREST sets it.")));

	if (!state.sub_seen || state.sub_is_null)
		return false;
	if (state.sub_not_string)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("the JWT subject in request.jwt.claims is not a string"),
				 errhint("The \"sub\" claim must be the id of a Supabase auth user.")));
	if (state.sub[0] == '\0')
		return false;
	if (!parse_uuid_text(state.sub, uid))
		report_bad_sub("request.jwt.claims", state.sub);
	return true;
}

bool
protector_get_current_user_id(pg_uuid_t *uid)
{
	const char *claims = GetConfigOption("request.jwt.claims", true, false);
	const char *sub;

	if (claims != NULL && claims[0] != '\0')
	{
		if (cached_claims == NULL || strcmp(cached_claims, claims) != 0)
		{
			pg_uuid_t	parsed;
			bool		has_user = user_from_claims(claims, &parsed);

			/* only claims that parsed without error are remembered */
			if (cached_claims != NULL)
			{
				pfree(cached_claims);
				cached_claims = NULL;
			}
			cached_claims = MemoryContextStrdup(TopMemoryContext, claims);
			cached_has_user = has_user;
			if (has_user)
				cached_uid = parsed;
		}
		if (cached_has_user)
			*uid = cached_uid;
		return cached_has_user;
	}

	/* no claims: the setting PostgREST before version 12 set */
	sub = GetConfigOption("request.jwt.claim.sub", true, false);
	if (sub == NULL || sub[0] == '\0')
		return false;
	if (strlen(sub) > MAX_CLAIMS_LENGTH || !parse_uuid_text(sub, uid))
		report_bad_sub("request.jwt.claim.sub", sub);
	return true;
}

/*
 * protector.current_user_id() returns uuid
 *
 * The auth user id of the current request, or NULL when there is none.
 */
PG_FUNCTION_INFO_V1(protector_current_user_id);
Datum
protector_current_user_id(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *uid = palloc(sizeof(pg_uuid_t));

	if (!protector_get_current_user_id(uid))
		PG_RETURN_NULL();
	PG_RETURN_UUID_P(uid);
}
