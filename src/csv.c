/*-------------------------------------------------------------------------
 *
 * csv.c
 *	  protector.csv_agg(anyelement): rows as one RFC 4180 CSV document, the
 *	  handler PostgREST 12 uses for Accept: text/csv when the aggregate
 *	  returns the domain protector."text/csv" (docs/dashboards.md#export).
 *
 * Invariants:
 *	  - a header row of the column names, then one record per row, fields
 *		separated by commas, records ended by CRLF; a field holding a comma,
 *		a double quote, CR or LF is quoted, its quotes doubled; NULL is an
 *		empty field;
 *	  - spreadsheet formula injection: a text field that starts with "=",
 *		"+", "-", "@", tab or carriage return is prefixed with a single
 *		quote and quoted (OWASP's advice); numbers, dates and other
 *		non-text types are written as they are, so -5 stays -5;
 *	  - the document is built once: the final function hands the state's
 *		buffer over as the text value (a header's room is kept in front of
 *		it), so a large export is not copied at the end.
 *
 * src/csv.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "errors.h"

typedef struct CsvState
{
	StringInfoData buf;			/* VARHDRSZ bytes of room, then the CSV */
	Oid			type;			/* of the rows */
	int32		typmod;
	int			ncolumns;		/* 1 for a scalar input */
	FmgrInfo   *out;			/* output function per column */
	bool	   *text_like;		/* guard against formula injection */
	int			nfields;		/* columns written (dropped ones are not) */
	TupleDesc	desc;			/* of the rows (a copy), NULL for scalars */
	Datum	   *values;			/* reused for every row */
	bool	   *nulls;
} CsvState;

/* an export stops short of a text value's 1 GB limit */
#define CSV_MAX_BYTES ((int) (MaxAllocSize - VARHDRSZ - 1024))

static bool
is_text_like(Oid type)
{
	char		category;
	bool		preferred;

	get_type_category_preferred(getBaseType(type), &category, &preferred);
	return getBaseType(type) == CHAROID || category == TYPCATEGORY_STRING || category == TYPCATEGORY_USER ||
		category == TYPCATEGORY_UNKNOWN || category == TYPCATEGORY_ENUM;
}

/* one field, quoted and guarded as the invariants say */
static void
append_field(StringInfo buf, const char *value, bool text_like)
{
	bool		guard = text_like &&
		(value[0] == '=' || value[0] == '+' || value[0] == '-' || value[0] == '@' ||
		 value[0] == '\t' || value[0] == '\r');
	bool		quote = guard || strpbrk(value, ",\"\r\n") != NULL;

	if (!quote)
	{
		appendStringInfoString(buf, value);
		return;
	}
	appendStringInfoChar(buf, '"');
	if (guard)
		appendStringInfoChar(buf, '\'');
	for (const char *p = value; *p; p++)
	{
		if (*p == '"')
			appendStringInfoChar(buf, '"');
		appendStringInfoChar(buf, *p);
	}
	appendStringInfoChar(buf, '"');
}

static void
end_record(StringInfo buf)
{
	appendStringInfoString(buf, "\r\n");
	if (buf->len > CSV_MAX_BYTES)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("the CSV document would exceed 1 GB"),
				 errhint("Export a shorter date range at a time.")));
}

/* the state, its column output functions and the header row, first call */
static CsvState *
start_document(FunctionCallInfo fcinfo, MemoryContext aggcontext, Datum row, Oid argtype)
{
	MemoryContext old = MemoryContextSwitchTo(aggcontext);
	CsvState   *state = palloc0(sizeof(CsvState));
	TupleDesc	desc = NULL;

	initStringInfo(&state->buf);
	appendStringInfoSpaces(&state->buf, VARHDRSZ);
	if (type_is_rowtype(argtype))
	{
		HeapTupleHeader td = DatumGetHeapTupleHeader(row);

		state->type = HeapTupleHeaderGetTypeId(td);
		state->typmod = HeapTupleHeaderGetTypMod(td);
		desc = lookup_rowtype_tupdesc_copy(state->type, state->typmod);
		state->ncolumns = desc->natts;
		state->desc = desc;
		state->values = palloc(sizeof(Datum) * desc->natts);
		state->nulls = palloc(sizeof(bool) * desc->natts);
	}
	else
	{
		state->type = argtype;
		state->ncolumns = 1;
	}
	state->out = palloc(sizeof(FmgrInfo) * Max(state->ncolumns, 1));
	state->text_like = palloc(sizeof(bool) * Max(state->ncolumns, 1));
	for (int i = 0, written = 0; i < state->ncolumns; i++)
	{
		Oid			type = desc ? TupleDescAttr(desc, i)->atttypid : argtype;
		Oid			outfunc;
		bool		varlena;

		if (desc && TupleDescAttr(desc, i)->attisdropped)
			continue;
		getTypeOutputInfo(type, &outfunc, &varlena);
		fmgr_info_cxt(outfunc, &state->out[i], aggcontext);
		state->text_like[i] = is_text_like(type);
		if (written++ > 0)
			appendStringInfoChar(&state->buf, ',');
		append_field(&state->buf, desc ? NameStr(TupleDescAttr(desc, i)->attname) : "value", true);
		state->nfields++;
	}
	end_record(&state->buf);
	MemoryContextSwitchTo(old);
	return state;
}

/*
 * protector_internal.csv_agg_transfn(internal, anyelement) returns internal
 */
PG_FUNCTION_INFO_V1(protector_csv_agg_transfn);
Datum
protector_csv_agg_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	CsvState   *state;
	Oid			argtype = get_fn_expr_argtype(fcinfo->flinfo, 1);

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("csv_agg_transfn called in a non-aggregate context")));
	if (!OidIsValid(argtype))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("csv_agg cannot tell the type of its input")));
	state = PG_ARGISNULL(0) ? NULL : (CsvState *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1))
	{
		/* a NULL row: an empty record (of as many empty fields) */
		if (state == NULL)
			PG_RETURN_NULL();	/* before the first row: nothing to write yet */
		for (int i = 1; i < state->nfields; i++)
			appendStringInfoChar(&state->buf, ',');
		end_record(&state->buf);
		PG_RETURN_POINTER(state);
	}
	if (state == NULL)
		state = start_document(fcinfo, aggcontext, PG_GETARG_DATUM(1), argtype);

	/*
	 * The field texts are made in the per-row context the aggregate resets;
	 * the buffer grows in the aggregate's context, where it was made
	 * (repalloc keeps a chunk in its context).
	 */
	if (state->desc != NULL)
	{
		HeapTupleHeader td = PG_GETARG_HEAPTUPLEHEADER(1);
		HeapTupleData tuple;

		/*
		 * Anonymous records are all of type record: their layout is the
		 * typmod, and every row must have the first row's, or it would be
		 * read with the wrong descriptor.
		 */
		if (HeapTupleHeaderGetTypeId(td) != state->type ||
			HeapTupleHeaderGetTypMod(td) != state->typmod ||
			HeapTupleHeaderGetNatts(td) > state->desc->natts)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("csv_agg rows must all have the same columns"),
					 errdetail("A row differs in type or layout from the first row.")));
		tuple.t_len = HeapTupleHeaderGetDatumLength(td);
		ItemPointerSetInvalid(&tuple.t_self);
		tuple.t_tableOid = InvalidOid;
		tuple.t_data = td;
		heap_deform_tuple(&tuple, state->desc, state->values, state->nulls);
		for (int i = 0, written = 0; i < state->ncolumns; i++)
		{
			if (TupleDescAttr(state->desc, i)->attisdropped)
				continue;
			if (written++ > 0)
				appendStringInfoChar(&state->buf, ',');
			if (!state->nulls[i])
				append_field(&state->buf, OutputFunctionCall(&state->out[i], state->values[i]),
							 state->text_like[i]);
		}
	}
	else
		append_field(&state->buf, OutputFunctionCall(&state->out[0], PG_GETARG_DATUM(1)), state->text_like[0]);
	end_record(&state->buf);
	PG_RETURN_POINTER(state);
}

/*
 * protector_internal.csv_agg_finalfn(internal) returns protector."text/csv"
 *
 * The buffer becomes the value in place: its first VARHDRSZ bytes were kept
 * for the length word.  (The aggregate is declared FINALFUNC_MODIFY =
 * READ_WRITE: nothing is appended after this.)
 */
PG_FUNCTION_INFO_V1(protector_csv_agg_finalfn);
Datum
protector_csv_agg_finalfn(PG_FUNCTION_ARGS)
{
	CsvState   *state = PG_ARGISNULL(0) ? NULL : (CsvState *) PG_GETARG_POINTER(0);
	text	   *result;

	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("csv_agg_finalfn called in a non-aggregate context")));
	if (state == NULL)
		PG_RETURN_NULL();		/* no rows: no document */
	result = (text *) state->buf.data;
	SET_VARSIZE(result, state->buf.len);
	PG_RETURN_TEXT_P(result);
}
