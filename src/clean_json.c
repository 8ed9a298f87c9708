/*-------------------------------------------------------------------------
 *
 * clean_json.c
 *	  protector_internal.json_is_clean(jsonb): is every string and key of a
 *	  JSON value clean text, as protector_internal.text_is_clean() says?
 *	  A booking's details from a widget visitor or a customer are asked.
 *
 * Invariant: one pass over the value (JsonbIterator, which keeps its own
 * stack: no recursion), each string and key asked once, so the time is
 * linear in the value's size whatever its depth.  A jsonpath '$.**' walk
 * copied every subtree: 8,000 levels of a widget's 16 kB of details took
 * 0.3 s before any limit was asked, and a customer's 12,000 levels
 * exceeded the stack (54001).
 *
 * src/clean_json.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation_d.h"
#include "catalog/pg_type_d.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "support.h"

/* text_is_clean(text), looked up once per call site (fn_extra) */
static FmgrInfo *
text_is_clean_function(FunctionCallInfo fcinfo)
{
	FmgrInfo   *f = (FmgrInfo *) fcinfo->flinfo->fn_extra;

	if (f == NULL)
	{
		Oid			argtypes[1] = {TEXTOID};

		f = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(FmgrInfo));
		fmgr_info_cxt(protector_internal_function_of("text_is_clean", 1, argtypes), f,
					  fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = f;
	}
	return f;
}

/* is a JSON string (a key or a value) clean text? */
static bool
string_is_clean(FmgrInfo *text_is_clean, const JsonbValue *v)
{
	text	   *t = cstring_to_text_with_len(v->val.string.val, v->val.string.len);
	bool		clean;

	/* (its regular expressions compare in the database's collation) */
	clean = DatumGetBool(FunctionCall1Coll(text_is_clean, DEFAULT_COLLATION_OID, PointerGetDatum(t)));
	pfree(t);
	return clean;
}

/*
 * protector_internal.json_is_clean(p_value jsonb) returns boolean
 *
 * False when a string or key anywhere in the value is not clean text;
 * true for NULL.
 */
PG_FUNCTION_INFO_V1(protector_json_is_clean);
Datum
protector_json_is_clean(PG_FUNCTION_ARGS)
{
	Jsonb	   *value;
	FmgrInfo   *text_is_clean;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken token;

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(true);
	value = PG_GETARG_JSONB_P(0);
	text_is_clean = text_is_clean_function(fcinfo);
	it = JsonbIteratorInit(&value->root);
	while ((token = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		CHECK_FOR_INTERRUPTS();
		if ((token == WJB_KEY || token == WJB_VALUE || token == WJB_ELEM) &&
			v.type == jbvString && !string_is_clean(text_is_clean, &v))
			PG_RETURN_BOOL(false);
	}
	PG_RETURN_BOOL(true);
}
