/*-------------------------------------------------------------------------
 *
 * csv.c
 *	  protector.csv_agg(anyelement): rows as one RFC 4180 CSV document, the
 *	  handler PostgREST 12 uses for Accept: text/csv when the aggregate
 *	  returns the domain protector."text/csv" (docs/dashboards.md#export).
 *
 * Invariants:
 *	  - a header row of the column names (without rows, those the call
 *		names: input_layout), then one record per row, fields
 *		separated by commas, records ended by CRLF; a field holding a comma,
 *		a double quote, CR or LF is quoted, its quotes doubled; NULL is an
 *		empty field, an empty string "" (as COPY's CSV writes them);
 *	  - spreadsheet formula injection: a text field that starts with "=",
 *		"+", "-", "@", tab or carriage return is prefixed with a single
 *		quote and quoted (OWASP's advice), and so is every such character
 *		that follows a ";" or a line break inside it, directly or after
 *		double quotes (or inside an array,
 *		composite or range, whose text holds its elements'), where a
 *		spreadsheet reading ";" as the separator starts a cell; numbers,
 *		dates and other types are written as they are, so -5 stays -5 (a
 *		record starting with such a value has its first text field after it
 *		quoted, as its cell in a ";" reading runs on into it);
 *	  - the document is never in memory twice: it grows in one buffer (on
 *		Linux, past 2 MB, a mapping that mremap() doubles in place); the final
 *		function moves it into the result a step at a time, unmapping what
 *		it has copied; the result is allocated where the aggregate's caller
 *		wants it, so PostgreSQL 15 does not copy it again (finalize_aggregate
 *		copies a result from any other context).  Under hashed grouping
 *		(GROUP BY, one document per group) documents stay in memory the
 *		aggregate's context counts, so the hash table spills as it should,
 *		and are copied into their results, as a group may be finalized
 *		again.
 *
 * Why a mapping: on the VM this was measured on a page fault costs several
 * microseconds, and a document grown by repalloc and copied at the end took
 * two faults per 4 kB page, a third of csv_agg's time (docs/performance.md).
 * Transparent huge pages (madvise) make that a fault per 2 MB.  A document
 * moves into a mapping once it reaches 2 MB; smaller ones stay palloc'd.
 *
 * src/csv.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#ifdef __linux__
#include <sys/mman.h>
#endif

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/execnodes.h"
#include "nodes/nodeFuncs.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"
#include "utils/uuid.h"

#include "errors.h"

/*
 * The document's buffer: mapped (Linux) or memory of the aggregate's
 * context; a mapping is unmapped when that context is reset or deleted, so
 * an export that fails half way leaks nothing.
 */
typedef struct CsvBuffer
{
	char	   *data;
	Size		len;
	Size		cap;
	bool		mapped;
	bool		mappable;		/* not under hashed grouping (see hashed_grouping) */
	MemoryContext cxt;			/* the aggregate's */
	MemoryContextCallback release;
} CsvBuffer;

/*
 * How a column's values become text: text and varchar are their own bytes
 * (no output call, no copy); an enum's labels are remembered after their
 * first output call (enum_out looks each one up in the catalog cache); a
 * uuid and an integer are written straight into the document, as uuid_out
 * and int4out write them; anything else goes through its output function,
 * as COPY does.
 */
typedef enum CsvWrite
{
	CSV_WRITE_OUTPUT,
	CSV_WRITE_TEXT,
	CSV_WRITE_ENUM,
	CSV_WRITE_UUID,
	CSV_WRITE_INT4
} CsvWrite;

#define CSV_ENUM_LABELS 32

typedef struct CsvColumn
{
	FmgrInfo	out;			/* output function */
	CsvWrite	how;
	bool		text_like;		/* guard against formula injection */
	int			nlabels;		/* CSV_WRITE_ENUM: labels seen so far */
	Oid			label_oids[CSV_ENUM_LABELS];
	char	   *labels[CSV_ENUM_LABELS];
} CsvColumn;

typedef struct CsvState
{
	CsvBuffer	buf;
	Oid			type;			/* of the rows */
	int32		typmod;
	int			ncolumns;		/* 1 for a scalar input */
	CsvColumn  *columns;
	int			nfields;		/* columns written (dropped ones are not) */
	TupleDesc	desc;			/* of the rows (a copy), NULL for scalars */
	Datum	   *values;			/* reused for every row */
	bool	   *nulls;
	bool		started;		/* the header is written */
	int64		leading_nulls;	/* NULL rows before it: empty records to come */
} CsvState;

/* an export stops short of a text value's 1 GB limit */
#define CSV_MAX_BYTES ((Size) (MaxAllocSize - VARHDRSZ - 1024))

/* a huge page: the mapping's first size and the final copy's step */
#define CSV_STEP ((Size) 2 * 1024 * 1024)

static void
advise_huge_pages(char *start, Size len)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
	uintptr_t	from = TYPEALIGN(CSV_STEP, (uintptr_t) start);
	uintptr_t	to = TYPEALIGN_DOWN(CSV_STEP, (uintptr_t) start + len);

	/* advice only: where it is not taken, pages are small */
	if (to > from)
		(void) madvise((void *) from, to - from, MADV_HUGEPAGE);
#endif
}

static void
buffer_release(void *arg)
{
	CsvBuffer  *buf = (CsvBuffer *) arg;

#ifdef __linux__
	if (buf->mapped && buf->data != NULL && buf->cap > 0)
		(void) munmap(buf->data, buf->cap);
#endif
	buf->data = NULL;
	buf->cap = buf->len = 0;
}

static void
buffer_init(CsvBuffer *buf, MemoryContext cxt, bool mappable)
{
	buf->len = 0;
	buf->cxt = cxt;
	buf->mapped = false;
	buf->mappable = mappable;
	buf->cap = 8 * 1024;		/* a GROUP BY may make many small documents */
	buf->data = MemoryContextAlloc(cxt, buf->cap);
}

/*
 * Moves a buffer that reaches CSV_STEP into a mapping of cap bytes (Linux):
 * small documents (one per group of a GROUP BY, say) stay palloc'd, so
 * they cost no mapping each.  False where no mapping is to be had.
 */
static bool
buffer_map(CsvBuffer *buf, Size cap)
{
#ifdef __linux__
	char	   *data;

	if (buf->mapped || !buf->mappable || cap < CSV_STEP)
		return false;
	data = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (data == MAP_FAILED)
		return false;
	advise_huge_pages(data, cap);
	memcpy(data, buf->data, buf->len);
	pfree(buf->data);
	buf->data = data;
	buf->cap = cap;
	buf->mapped = true;
	buf->release.func = buffer_release;
	buf->release.arg = buf;
	MemoryContextRegisterResetCallback(buf->cxt, &buf->release);
	return true;
#else
	(void) buf;
	(void) cap;
	return false;
#endif
}

static void
document_too_large(void)
{
	ereport(ERROR,
			(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
			 errmsg("the CSV document would exceed 1 GB"),
			 errhint("Export a shorter date range at a time.")));
}

/* room for "more" bytes: doubles the buffer, in place where it is mapped */
static void
buffer_grow(CsvBuffer *buf, Size more)
{
	Size		need = buf->len + more;
	Size		cap = buf->cap;
	char	   *data;

	if (need > CSV_MAX_BYTES)
		document_too_large();
	cap = Max(cap, 8 * 1024);	/* (a spent buffer has none) */
	while (cap < need)
		cap *= 2;
	cap = Min(cap, CSV_MAX_BYTES);
	if (buffer_map(buf, cap))
		return;
#ifdef __linux__
	if (buf->mapped)
	{
		data = mremap(buf->data, buf->cap, cap, MREMAP_MAYMOVE);
		if (data == MAP_FAILED)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory"),
					 errdetail("The CSV document could not grow to %zu bytes: %m.", cap)));
		buf->data = data;
		buf->cap = cap;
		advise_huge_pages(buf->data, buf->cap);
		return;
	}
#endif
	data = repalloc_huge(buf->data, cap);
	buf->data = data;
	buf->cap = cap;
}

static inline void
buffer_reserve(CsvBuffer *buf, Size more)
{
	if (buf->len + more > buf->cap)
		buffer_grow(buf, more);
}

static inline void
buffer_append(CsvBuffer *buf, const char *bytes, Size n)
{
	buffer_reserve(buf, n);
	memcpy(buf->data + buf->len, bytes, n);
	buf->len += n;
}

static inline void
buffer_append_char(CsvBuffer *buf, char c)
{
	buffer_reserve(buf, 1);
	buf->data[buf->len++] = c;
}

/*
 * The document as a text value in the current memory context, moved a step
 * at a time: each copied step of a mapping is unmapped at once, so the
 * document and its copy are never both whole.
 */
static text *
buffer_to_text(CsvBuffer *buf)
{
	text	   *result = (text *) palloc(buf->len + VARHDRSZ);
	char	   *to = VARDATA(result);
	Size		done = 0;

	advise_huge_pages((char *) result, buf->len + VARHDRSZ);
	SET_VARSIZE(result, buf->len + VARHDRSZ);
	while (done < buf->len)
	{
		Size		n = Min(CSV_STEP, buf->len - done);

		memcpy(to + done, buf->data + done, n);
		done += n;
#ifdef __linux__
		if (buf->mapped && n == CSV_STEP)
			(void) munmap(buf->data + done - n, n);
#endif
	}
	if (buf->mapped)
	{
		/* the mapping's rest, past the steps already unmapped */
		Size		unmapped = done - done % CSV_STEP;

		buf->data += unmapped;
		buf->cap -= unmapped;
	}
	else
		pfree(buf->data);
	buffer_release(buf);
	return result;
}

/*
 * May the type's text carry someone's text, so that its fields are guarded?
 * Strings, enums, object names (regclass...) and types of unknown make;
 * arrays, composites and ranges, whose text holds their elements' verbatim
 * (a tags array {vip;=1+1} would start a formula cell in a ';' reading:
 * their text starts with {, ( or [, so the guards inside a field apply);
 * and pseudo-types (record[], an array of anonymous rows; cstring).
 * Numbers, dates and the like are written as they are.
 */
static bool
is_text_like(Oid type)
{
	Oid			base = getBaseType(type);
	char		category;
	bool		preferred;

	switch (base)
	{
			/* object names, whoever named the object */
		case REGCLASSOID:
		case REGPROCOID:
		case REGPROCEDUREOID:
		case REGOPEROID:
		case REGOPERATOROID:
		case REGTYPEOID:
		case REGCONFIGOID:
		case REGDICTIONARYOID:
		case REGROLEOID:
		case REGNAMESPACEOID:
		case REGCOLLATIONOID:
			return true;
		default:
			break;
	}
	get_type_category_preferred(base, &category, &preferred);
	return base == CHAROID || category == TYPCATEGORY_STRING || category == TYPCATEGORY_USER ||
		category == TYPCATEGORY_UNKNOWN || category == TYPCATEGORY_ENUM ||
		category == TYPCATEGORY_ARRAY || category == TYPCATEGORY_RANGE || category == TYPCATEGORY_PSEUDOTYPE ||
		type_is_rowtype(base);
}

/* may a spreadsheet read a formula from a cell starting with c? (a lookup: asked of every byte) */
static const bool formula_start[256] = {['='] = true, ['+'] = true, ['-'] = true, ['@'] = true, ['\t'] = true, ['\r'] = true};

static inline bool
starts_formula(char c)
{
	return formula_start[(unsigned char) c];
}

/*
 * Where a spreadsheet may start a cell inside a text field: after a
 * semicolon (the list separator of many locales, which reads a
 * comma-separated document as one cell up to each ";") or a line break
 * (inside a quoted field, which such a reading does not see as quoted)
 */
static inline bool
starts_cell_after(char c)
{
	return c == ';' || c == '\n' || c == '\r';
}

/*
 * Is a guard due before value[i] (a text field's n bytes)?  At a cell's
 * start, and after quotes there: a ";" reading takes ;""=1 as an empty
 * quoted string followed by =1, which it runs together into the cell.
 */
static inline bool
guard_before(const char *value, Size n, Size i)
{
	Size		start = i;

	if (i >= n || !starts_formula(value[i]))
		return false;
	if (i == 0)
		return true;
	while (start > 0 && value[start - 1] == '"')
		start--;
	return start > 0 && starts_cell_after(value[start - 1]);
}

/*
 * One field of n bytes, quoted and guarded as the invariants say: the
 * bytes it takes are counted first, so that only what is written is
 * reserved (a reservation for the worst case refused documents short of
 * 1 GB).
 */
static void
append_field(CsvBuffer *buf, const char *value, Size n, bool text_like, bool quote)
{
	Size		quotes = 0;
	Size		guards = 0;
	bool		special = false;
	char	   *out;

	for (Size i = 0; i < n; i++)
	{
		char		c = value[i];

		if (c == '"')
			quotes++;
		if (c == ',' || c == '"' || c == '\r' || c == '\n')
			special = true;
		if (text_like && guard_before(value, n, i))
			guards++;
	}
	/* (an empty string quoted, as COPY's CSV does: it is not a NULL) */
	special = special || guards > 0 || n == 0 || quote;
	if (!special)
	{
		buffer_append(buf, value, n);
		return;
	}
	buffer_reserve(buf, n + quotes + guards + 2);
	out = buf->data + buf->len;
	*out++ = '"';
	for (Size i = 0; i < n; i++)
	{
		if (text_like && guard_before(value, n, i))
			*out++ = '\'';
		if (value[i] == '"')
			*out++ = '"';
		*out++ = value[i];
	}
	*out++ = '"';
	buf->len = out - buf->data;
}

static void
append_cstring(CsvBuffer *buf, const char *value, bool text_like, bool quote)
{
	append_field(buf, value, strlen(value), text_like, quote);
}

/* an enum's label: from the column's memory after its first output call */
static const char *
enum_label(CsvColumn *col, Datum value, MemoryContext cxt)
{
	Oid			oid = DatumGetObjectId(value);
	char	   *label;

	for (int i = 0; i < col->nlabels; i++)
		if (col->label_oids[i] == oid)
			return col->labels[i];
	label = OutputFunctionCall(&col->out, value);
	if (col->nlabels < CSV_ENUM_LABELS)
	{
		col->label_oids[col->nlabels] = oid;
		col->labels[col->nlabels++] = MemoryContextStrdup(cxt, label);
	}
	return label;
}

/*
 * a uuid as uuid_out writes it: 8-4-4-4-12 lower-case hex digits, in
 * double quotes when quoted (the first text-like field after a record's
 * formula start: one of digits alone ran on into the formula)
 */
static void
append_uuid(CsvBuffer *buf, const pg_uuid_t *uuid, bool quoted)
{
	static const char hex[] = "0123456789abcdef";
	char	   *out;

	buffer_reserve(buf, 38);
	out = buf->data + buf->len;
	if (quoted)
		*out++ = '"';
	for (int i = 0; i < UUID_LEN; i++)
	{
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*out++ = '-';
		*out++ = hex[uuid->data[i] >> 4];
		*out++ = hex[uuid->data[i] & 0x0F];
	}
	if (quoted)
		*out++ = '"';
	buf->len = out - buf->data;
}

static void
append_int4(CsvBuffer *buf, int32 value)
{
	buffer_reserve(buf, 12);
	buf->len += pg_ltoa(value, buf->data + buf->len);
}

/* one non-NULL value of a column; quote: a text field quoted whatever it holds */
static void
append_value(CsvState *state, CsvColumn *col, Datum value, bool quote)
{
	switch (col->how)
	{
		case CSV_WRITE_TEXT:
			{
				text	   *t = DatumGetTextPP(value);

				append_field(&state->buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), col->text_like,
							 quote && col->text_like);
				break;
			}
		case CSV_WRITE_ENUM:
			append_cstring(&state->buf, enum_label(col, value, state->buf.cxt), col->text_like,
						   quote && col->text_like);
			break;
		case CSV_WRITE_UUID:
			append_uuid(&state->buf, DatumGetUUIDP(value), quote && col->text_like);
			break;
		case CSV_WRITE_INT4:
			append_int4(&state->buf, DatumGetInt32(value));
			break;
		case CSV_WRITE_OUTPUT:
			append_cstring(&state->buf, OutputFunctionCall(&col->out, value), col->text_like,
						   quote && col->text_like);
			break;
	}
}

/* how a column of this type is written (CsvWrite) */
static void
init_column(CsvColumn *col, Oid type, MemoryContext cxt)
{
	Oid			outfunc;
	bool		varlena;

	getTypeOutputInfo(type, &outfunc, &varlena);
	fmgr_info_cxt(outfunc, &col->out, cxt);
	col->text_like = is_text_like(type);
	col->nlabels = 0;
	if (outfunc == F_TEXTOUT || outfunc == F_VARCHAROUT)
		col->how = CSV_WRITE_TEXT;
	else if (type_is_enum(getBaseType(type)))
		col->how = CSV_WRITE_ENUM;
	else if (outfunc == F_UUID_OUT)
		col->how = CSV_WRITE_UUID;
	else if (outfunc == F_INT4OUT)
		col->how = CSV_WRITE_INT4;
	else
		col->how = CSV_WRITE_OUTPUT;
}

static void
end_record(CsvBuffer *buf)
{
	buffer_append(buf, "\r\n", 2);
}

/*
 * Is the aggregate grouping by hashing?  Its states may then be finalized
 * again (a hashed GROUP BY rescanned with its hash table kept, a
 * correlated subquery's, say), and its memory is what decides when it
 * spills to disk: there a document stays in memory the context counts (a
 * mapping is not counted) and is copied, not moved, into its result.  A
 * plain aggregate, PostgREST's, is neither.
 */
static bool
hashed_grouping(FunctionCallInfo fcinfo)
{
	AggState   *agg = (AggState *) fcinfo->context;

	return agg != NULL && IsA(agg, AggState) &&
		(agg->aggstrategy == AGG_HASHED || agg->aggstrategy == AGG_MIXED);
}

/* a NULL row: an empty record (of as many empty fields) */
static void
empty_record(CsvState *state)
{
	for (int i = 1; i < state->nfields; i++)
		buffer_append_char(&state->buf, ',');
	end_record(&state->buf);
}

/*
 * The state's columns (desc: the rows' layout, a copy in the state's
 * context; NULL for scalars of type argtype), their output functions and
 * the header row, then the empty records of the NULL rows before it.
 */
static void
begin_document(CsvState *state, TupleDesc desc, Oid argtype)
{
	if (desc != NULL)
	{
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
	state->columns = palloc(sizeof(CsvColumn) * Max(state->ncolumns, 1));
	for (int i = 0, written = 0; i < state->ncolumns; i++)
	{
		if (desc && TupleDescAttr(desc, i)->attisdropped)
			continue;
		init_column(&state->columns[i], desc ? TupleDescAttr(desc, i)->atttypid : argtype, CurrentMemoryContext);
		if (written++ > 0)
			buffer_append_char(&state->buf, ',');
		append_cstring(&state->buf, desc ? NameStr(TupleDescAttr(desc, i)->attname) : "value", true, false);
		state->nfields++;
	}
	end_record(&state->buf);
	state->started = true;
	for (int64 i = 0; i < state->leading_nulls; i++)
		empty_record(state);
}

/*
 * The state at the first row that is not NULL: its layout names the
 * columns.  state: NULL, or the one the NULL rows before it made.
 */
static text *buffer_copy_to_text(const CsvBuffer *buf);

static CsvState *
start_document(CsvState *state, MemoryContext aggcontext, Datum row, Oid argtype, bool hashed)
{
	MemoryContext old = MemoryContextSwitchTo(aggcontext);
	TupleDesc	desc = NULL;

	if (state == NULL)
		state = palloc0(sizeof(CsvState));
	buffer_init(&state->buf, aggcontext, !hashed);
	if (type_is_rowtype(argtype))
	{
		HeapTupleHeader td = DatumGetHeapTupleHeader(row);

		state->type = HeapTupleHeaderGetTypeId(td);
		state->typmod = HeapTupleHeaderGetTypMod(td);
		desc = lookup_rowtype_tupdesc_copy(state->type, state->typmod);
	}
	begin_document(state, desc, argtype);
	MemoryContextSwitchTo(old);
	return state;
}

/*
 * The layout of the aggregate's input when no row brought one, read from
 * the call: a scalar type (*desc NULL), a named composite, a registered
 * record, or ROW(...), which is what a subquery's whole row becomes when
 * the planner pulls the subquery up (PostgREST's handler query, `csv_agg
 * (_postgrest_t) FROM (...) _postgrest_t`).  False when it cannot be told.
 */
static bool
input_layout(FunctionCallInfo fcinfo, Oid *type, TupleDesc *desc)
{
	Aggref	   *aggref = AggGetAggref(fcinfo);
	Node	   *arg;

	/* its argument comes first; ORDER BY's keys follow as junk */
	if (aggref == NULL || aggref->args == NIL || ((TargetEntry *) linitial(aggref->args))->resjunk)
		return false;
	arg = (Node *) ((TargetEntry *) linitial(aggref->args))->expr;
	*type = exprType(arg);
	*desc = NULL;
	if (!type_is_rowtype(*type))
		return true;
	if (*type != RECORDOID)
	{
		TupleDesc	named = lookup_rowtype_tupdesc_domain(*type, -1, false);

		*desc = CreateTupleDescCopy(named);
		ReleaseTupleDesc(named);
	}
	else if (exprTypmod(arg) >= 0)
		*desc = lookup_rowtype_tupdesc_copy(RECORDOID, exprTypmod(arg));
	else if (IsA(arg, Const) && !((Const *) arg)->constisnull)
	{
		/* a ROW(...) of constants the planner folded: its value knows its layout */
		HeapTupleHeader td = DatumGetHeapTupleHeader(((Const *) arg)->constvalue);

		*desc = lookup_rowtype_tupdesc_copy(HeapTupleHeaderGetTypeId(td), HeapTupleHeaderGetTypMod(td));
	}
	else if (IsA(arg, RowExpr) &&
			 list_length(((RowExpr *) arg)->colnames) == list_length(((RowExpr *) arg)->args))
	{
		RowExpr    *row = (RowExpr *) arg;

		*desc = CreateTemplateTupleDesc(list_length(row->args));
		for (int i = 0; i < list_length(row->args); i++)
		{
			Node	   *field = (Node *) list_nth(row->args, i);

			TupleDescInitEntry(*desc, (AttrNumber) (i + 1), strVal(list_nth(row->colnames, i)),
							   exprType(field), exprTypmod(field), 0);
		}
	}
	else
		return false;
	return true;
}

/*
 * The document of an aggregate that had no row naming its columns (no
 * rows, or only NULL ones): its header, and an empty record per NULL row.
 * NULL when the columns cannot be told (input_layout).
 */
static text *
header_only(FunctionCallInfo fcinfo, CsvState *nulls_seen)
{
	CsvState	state = {0};
	Oid			type;
	TupleDesc	desc;

	if (!input_layout(fcinfo, &type, &desc))
		return NULL;
	buffer_init(&state.buf, CurrentMemoryContext, false);
	state.leading_nulls = nulls_seen ? nulls_seen->leading_nulls : 0;
	begin_document(&state, desc, type);
	return buffer_copy_to_text(&state.buf);
}

/*
 * A state whose document the final function took (buffer_to_text) takes
 * no more rows and gives no second document: reachable only where an
 * aggregate of someone's own declares these functions (a window, a shared
 * state), never through protector.csv_agg.
 */
static void
refuse_spent_state(const CsvState *state)
{
	if (state != NULL && state->started && state->buf.data == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("csv_agg's document was already taken from this state"),
				 errhint("Use protector.csv_agg, which is no window function and shares no state.")));
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
	refuse_spent_state(state);
	if (PG_ARGISNULL(1))
	{
		/* before the first row that names the columns: counted, written then */
		if (state == NULL)
			state = MemoryContextAllocZero(aggcontext, sizeof(CsvState));
		if (!state->started)
			state->leading_nulls++;
		else
			empty_record(state);
		PG_RETURN_POINTER(state);
	}
	if (state == NULL || !state->started)
		state = start_document(state, aggcontext, PG_GETARG_DATUM(1), argtype, hashed_grouping(fcinfo));

	/*
	 * The field texts are made in the per-row context the aggregate resets;
	 * the buffer grows in the aggregate's context, where it was made
	 * (repalloc keeps a chunk in its context).
	 */
	if (state->desc != NULL)
	{
		HeapTupleHeader td = PG_GETARG_HEAPTUPLEHEADER(1);
		HeapTupleData tuple;
		Size		record_start = state->buf.len;
		bool		quote_next = false;

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

		/*
		 * A ";" reading starts a cell at the record's start, and it runs
		 * over the commas: a first field of a number that starts a formula
		 * (-5) made one with a raw text field after it (-5,0+1); the first
		 * text field after it is quoted, which no formula takes after a
		 * number, however many numbers or dates come between (only the
		 * second field was: -5,2026-12-09,0+1 ran on; a review).
		 */
		for (int i = 0, written = 0; i < state->ncolumns; i++)
		{
			if (TupleDescAttr(state->desc, i)->attisdropped)
				continue;
			if (written++ > 0)
				buffer_append_char(&state->buf, ',');
			if (!state->nulls[i])
				append_value(state, &state->columns[i], state->values[i], quote_next);
			if (written == 1)
				quote_next = !state->columns[i].text_like && state->buf.len > record_start &&
					starts_formula(state->buf.data[record_start]);
			else if (!state->nulls[i] && state->columns[i].text_like)
				quote_next = false;
		}
	}
	else
		append_value(state, &state->columns[0], PG_GETARG_DATUM(1), false);
	end_record(&state->buf);
	PG_RETURN_POINTER(state);
}

/* the document copied into a text value, the buffer kept */
static text *
buffer_copy_to_text(const CsvBuffer *buf)
{
	text	   *result = (text *) palloc(buf->len + VARHDRSZ);

	SET_VARSIZE(result, buf->len + VARHDRSZ);
	memcpy(VARDATA(result), buf->data, buf->len);
	return result;
}

/*
 * protector_internal.csv_agg_finalfn(internal) returns protector."text/csv"
 *
 * The document moves into the result (buffer_to_text) and the state is
 * spent, except under hashed grouping, whose states may be finalized again:
 * there each group's (usually small) document is copied.  (The aggregate
 * is declared FINALFUNC_MODIFY = READ_WRITE: nothing is appended after
 * this, and it is not a window function.)  When no row named the
 * columns (no rows, or only NULL ones), the header from the call's input
 * (header_only), or NULL.
 */
PG_FUNCTION_INFO_V1(protector_csv_agg_finalfn);
Datum
protector_csv_agg_finalfn(PG_FUNCTION_ARGS)
{
	CsvState   *state = PG_ARGISNULL(0) ? NULL : (CsvState *) PG_GETARG_POINTER(0);
	if (!AggCheckCallContext(fcinfo, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("csv_agg_finalfn called in a non-aggregate context")));
	if (state == NULL || !state->started)
	{
		text	   *header = header_only(fcinfo, state);

		if (header == NULL)
			PG_RETURN_NULL();
		PG_RETURN_TEXT_P(header);
	}
	refuse_spent_state(state);
	if (hashed_grouping(fcinfo))
		PG_RETURN_TEXT_P(buffer_copy_to_text(&state->buf));
	PG_RETURN_TEXT_P(buffer_to_text(&state->buf));
}
