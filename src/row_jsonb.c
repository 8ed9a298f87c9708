/*-------------------------------------------------------------------------
 *
 * row_jsonb.c
 *	  A row's columns as jsonb values, exactly as to_jsonb() writes them:
 *	  the audit trigger's old and new rows (audit.c) and the booking the
 *	  RPCs answer with (booking_shape.c).
 *
 * Invariant: protector_jsonb_column_value() gives the value to_jsonb()
 * gives for the column (its categories, looked through domains: strings
 * from output functions, numbers as numerics with NaN and infinities as
 * strings, dates and times in ISO 8601, jsonb as itself, and to_jsonb()
 * itself for arrays, composites, json and types with a cast to json).
 *
 * Why: to_jsonb() works out each column's category (syscache lookups, a
 * search for casts to json) for every value it converts, and turns numbers
 * into text and back; its callers here convert the same columns over and
 * over, so they work it out once per row type and keep it, until the row
 * type changes or a cast is created or dropped (a cast to json changes how
 * an enum or range converts): protector_jsonb_generation() says when.
 *
 * src/row_jsonb.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/syscache.h"

#include "row_jsonb.h"
#include "support.h"

/* the to_jsonb category of a (base) type */
static JsonbColumnKind
kind_of(Oid basetype)
{
	Oid			castfunc;

	switch (basetype)
	{
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return JC_TEXT;
		case BOOLOID:
			return JC_BOOL;
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return JC_INTEGER;
		case NUMERICOID:
			return JC_NUMERIC;
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return JC_DATETIME;
		case JSONBOID:
			return JC_JSONB;
		case UUIDOID:
		case NAMEOID:
		case INETOID:
		case BYTEAOID:
		case TSTZRANGEOID:
		case INTERVALOID:
		case TIMEOID:
			return JC_OUTPUT;
		default:
			break;
	}

	/*
	 * Enums and ranges print as strings unless someone gave them a cast to
	 * json (to_jsonb looks for one on user-defined types); arrays, composites
	 * and all else go through to_jsonb.
	 */
	if (type_is_enum(basetype) || type_is_range(basetype))
	{
		if (basetype < FirstNormalObjectId ||
			(find_coercion_pathway(JSONOID, basetype, COERCION_EXPLICIT,
								   &castfunc) != COERCION_PATH_FUNC &&
			 find_coercion_pathway(JSONBOID, basetype, COERCION_EXPLICIT,
								   &castfunc) != COERCION_PATH_FUNC))
			return JC_OUTPUT;
	}
	return JC_TO_JSONB;
}

static uint64 casts_generation = 1;

static void
casts_changed(Datum arg pg_attribute_unused(),
			  int cacheid pg_attribute_unused(),
			  uint32 hashvalue pg_attribute_unused())
{
	casts_generation++;
}

uint64
protector_jsonb_generation(void)
{
	static bool registered = false;

	if (!registered)
	{
		CacheRegisterSyscacheCallback(CASTSOURCETARGET, casts_changed, (Datum) 0);
		registered = true;
	}
	return casts_generation;
}

void
protector_jsonb_column_init(JsonbColumn *col, Form_pg_attribute att, MemoryContext cxt)
{
	int32		typmod = att->atttypmod;

	col->attnum = att->attnum;
	col->name = MemoryContextStrdup(cxt, NameStr(att->attname));
	col->namelen = strlen(col->name);
	col->basetype = getBaseTypeAndTypmod(att->atttypid, &typmod);
	col->kind = kind_of(col->basetype);
	if (col->kind == JC_OUTPUT)
	{
		Oid			outfunc;
		bool		isvarlena;

		getTypeOutputInfo(col->basetype, &outfunc, &isvarlena);
		fmgr_info_cxt(outfunc, &col->func, cxt);
	}
	else if (col->kind == JC_TO_JSONB)
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);

		/* to_jsonb(anyelement) learns the type from its call expression */
		fmgr_info_cxt(F_TO_JSONB, &col->func, cxt);
		col->func.fn_expr = (Node *)
			makeFuncExpr(F_TO_JSONB, JSONBOID,
						 list_make1(makeNullConst(att->atttypid, att->atttypmod, att->attcollation)),
						 InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
		MemoryContextSwitchTo(old);
	}
}

static void
integer_value(JsonbValue *v, Oid basetype, Datum value)
{
	int64		i;

	if (basetype == INT2OID)
		i = DatumGetInt16(value);
	else if (basetype == INT4OID)
		i = DatumGetInt32(value);
	else
		i = DatumGetInt64(value);
	v->type = jbvNumeric;
	v->val.numeric = int64_to_numeric(i);
}

static void
numeric_value(JsonbValue *v, Datum value)
{
	Numeric		n = DatumGetNumeric(value);

	if (numeric_is_nan(n) || numeric_is_inf(n))
	{
		/* JSON has no NaN or Infinity: to_jsonb makes them strings */
		char	   *str = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n)));

		protector_jsonb_string(v, str, strlen(str));
		return;
	}
	v->type = jbvNumeric;
	v->val.numeric = n;
}

static void
datetime_value(JsonbValue *v, Oid basetype, Datum value)
{
	char		buf[MAXDATELEN + 1];

	JsonEncodeDateTime(buf, value, basetype, NULL);
	protector_jsonb_string(v, pstrdup(buf), strlen(buf));
}

/* a jsonb column's value, or to_jsonb() of a value of another type */
static void
jsonb_value(JsonbValue *v, JsonbColumn *col, Datum value)
{
	Jsonb	   *jb;

	if (col->kind == JC_JSONB)
		jb = DatumGetJsonbP(value);
	else
		jb = DatumGetJsonbP(FunctionCall1(&col->func, value));
	if (JB_ROOT_IS_SCALAR(jb))
	{
		/* a scalar is stored as a one-element raw array */
		if (!JsonbExtractScalar(&jb->root, v))
			elog(ERROR, "could not extract a jsonb scalar");
		return;
	}
	v->type = jbvBinary;
	v->val.binary.data = &jb->root;
	v->val.binary.len = VARSIZE(jb) - VARHDRSZ;
}

void
protector_jsonb_column_value(JsonbValue *v, JsonbColumn *col, Datum value, bool isnull)
{
	if (isnull)
	{
		v->type = jbvNull;
		return;
	}
	switch (col->kind)
	{
		case JC_TEXT:
			{
				text	   *t = DatumGetTextPP(value);

				protector_jsonb_string(v, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
				break;
			}
		case JC_OUTPUT:
			{
				char	   *str = OutputFunctionCall(&col->func, value);

				protector_jsonb_string(v, str, strlen(str));
				break;
			}
		case JC_BOOL:
			v->type = jbvBool;
			v->val.boolean = DatumGetBool(value);
			break;
		case JC_INTEGER:
			integer_value(v, col->basetype, value);
			break;
		case JC_NUMERIC:
			numeric_value(v, value);
			break;
		case JC_DATETIME:
			datetime_value(v, col->basetype, value);
			break;
		case JC_JSONB:
		case JC_TO_JSONB:
			jsonb_value(v, col, value);
			break;
	}
}

int
protector_jsonb_key_order(const char *a, int alen, const char *b, int blen)
{
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return memcmp(a, b, alen);
}

static int
column_key_cmp(const void *a, const void *b, void *arg)
{
	const JsonbColumn *columns = (const JsonbColumn *) arg;
	const JsonbColumn *x = &columns[*(const int *) a];
	const JsonbColumn *y = &columns[*(const int *) b];

	return protector_jsonb_key_order(x->name, x->namelen, y->name, y->namelen);
}

void
protector_jsonb_layout_init(JsonbRowLayout *layout, TupleDesc desc, MemoryContext cxt)
{
	layout->columns = MemoryContextAlloc(cxt, sizeof(JsonbColumn) * Max(desc->natts, 1));
	layout->order = MemoryContextAlloc(cxt, sizeof(int) * Max(desc->natts, 1));
	layout->ncolumns = 0;
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (att->attisdropped)
			continue;
		protector_jsonb_column_init(&layout->columns[layout->ncolumns], att, cxt);
		layout->order[layout->ncolumns] = layout->ncolumns;
		layout->ncolumns++;
	}

	/*
	 * jsonb keeps an object's keys sorted; pushing them in that order makes
	 * the final sort a presorted pass
	 */
	qsort_arg(layout->order, layout->ncolumns, sizeof(int), column_key_cmp, layout->columns);
}
