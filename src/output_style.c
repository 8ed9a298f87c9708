/*-------------------------------------------------------------------------
 *
 * output_style.c
 *	  Values printed in fixed settings, whoever writes them (audit.c).
 *
 * Invariant: a value printed between protector_output_style_begin() and
 * _end(), or when protector_output_style_holds() says the session's
 * settings already print it so, reads as it would under ISO dates, UTC,
 * postgres intervals, shortest exact floats, hex bytea, names quoted only
 * where needed and the C locale's money: one audit row's "during" is the
 * same text whoever wrote it (a writer under DateStyle 'SQL, DMY' stored
 * "04/05/2027 ...", read back a month off under the default MDY).
 *
 * Why the check: setting seven settings for every audited row costs more
 * than the row; the sessions that write most (PostgREST's, the tests',
 * the benchmarks') already print in these settings, and are not charged.
 *
 * src/output_style.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/bytea.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "output_style.h"

const int	protector_utc_offset = 0;

static OutputStyleNeed
style_of_base(Oid base)
{
	switch (base)
	{
		case BOOLOID:
		case CHAROID:
		case NAMEOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case NUMERICOID:
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case UUIDOID:
		case JSONOID:
		case JSONBOID:
			return STYLE_FREE;
		case CASHOID:
			return STYLE_ALWAYS;
		case REGCLASSOID:
		case REGTYPEOID:
		case REGPROCOID:
		case REGPROCEDUREOID:
		case REGOPEROID:
		case REGOPERATOROID:
		case REGCONFIGOID:
		case REGDICTIONARYOID:
		case REGNAMESPACEOID:
		case REGROLEOID:
		case REGCOLLATIONOID:
			return STYLE_NAMES;
		default:
			return type_is_enum(base) ? STYLE_FREE : STYLE_CHECKED;
	}
}

/*
 * Arrays and ranges print as their elements do; regclass and its kind by
 * search_path and quote_all_identifiers (always pinned); composites, and types
 * protector does not know, are taken to depend on the settings checked
 * (a composite's money field would print by lc_monetary: rare enough to
 * be pinned only when the session's settings differ anyway).
 */
OutputStyleNeed
protector_output_style_need(Oid type)
{
	Oid			base = getBaseType(type);
	Oid			elem = get_element_type(base);

	if (OidIsValid(elem))
		return protector_output_style_need(elem);
	if (type_is_range(base))
		return protector_output_style_need(get_range_subtype(base));
	if (type_is_multirange(base))
		return protector_output_style_need(get_range_subtype(get_multirange_range(base)));
	return style_of_base(base);
}

/* the session's zone is UTC in effect: a fixed offset of zero */
static bool
session_zone_is_utc(void)
{
	long int	gmtoff;

	return session_timezone != NULL &&
		pg_get_timezone_offset(session_timezone, &gmtoff) && gmtoff == 0;
}

bool
protector_output_style_holds(OutputStyleNeed need)
{
	if (need == STYLE_FREE)
		return true;
	if (need >= STYLE_ALWAYS)
		return false;
	/* ISO output does not depend on DateStyle's field order */
	return DateStyle == USE_ISO_DATES && IntervalStyle == INTSTYLE_POSTGRES &&
		extra_float_digits > 0 && bytea_output == BYTEA_OUTPUT_HEX &&
		session_zone_is_utc();
}

int
protector_output_style_begin(bool qualify_names)
{
	static const char *const style[][2] = {
		{"datestyle", "ISO, YMD"}, {"timezone", "UTC"}, {"intervalstyle", "postgres"},
		{"extra_float_digits", "1"}, {"bytea_output", "hex"}, {"lc_monetary", "C"},
		{"quote_all_identifiers", "off"},
		{"search_path", ""}		/* last: only with qualify_names */
	};
	int			level = NewGUCNestLevel();
	size_t		n = lengthof(style) - (qualify_names ? 0 : 1);

	for (size_t i = 0; i < n; i++)
		(void) set_config_option(style[i][0], style[i][1], PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

void
protector_output_style_end(int level)
{
	AtEOXact_GUC(true, level);
}

/*
 * quote_qualified_identifier() quotes every name under
 * quote_all_identifiers: an audit row's table_name was
 * "protector"."customers", which the erasure's lookup of
 * protector.customers never found.
 */
char *
protector_qualified_name(const char *nspname, const char *relname)
{
	bool		save = quote_all_identifiers;
	char	   *volatile name = NULL;

	quote_all_identifiers = false;
	PG_TRY();
	{
		name = quote_qualified_identifier(nspname, relname);
	}
	PG_FINALLY();
	{
		quote_all_identifiers = save;
	}
	PG_END_TRY();
	return name;
}
