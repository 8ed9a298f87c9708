/*-------------------------------------------------------------------------
 *
 * output_style.h
 *	  Values printed in fixed settings, whoever writes them: the audit log's
 *	  rows and keys read the same under every writer's DateStyle, TimeZone,
 *	  IntervalStyle, extra_float_digits, bytea_output and lc_monetary.
 *
 * src/output_style.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_OUTPUT_STYLE_H
#define PROTECTOR_OUTPUT_STYLE_H

/* how a type's printed value depends on the session's settings */
typedef enum OutputStyleNeed
{
	STYLE_FREE,					/* not at all (text, numbers, uuids, enums, json) */
	STYLE_CHECKED,				/* on settings checked cheaply (dates, times, floats...) */
	STYLE_ALWAYS,				/* on others too (money: lc_monetary) */
	STYLE_NAMES					/* on search_path too (regclass and its kind) */
} OutputStyleNeed;

extern OutputStyleNeed protector_output_style_need(Oid type);

/* JsonEncodeDateTime()'s offset for a timestamp in UTC */
extern const int protector_utc_offset;

/* whether values of that need print now as they would in the fixed settings */
extern bool protector_output_style_holds(OutputStyleNeed need);

/*
 * The fixed settings, set until protector_output_style_end(level) (or the
 * (sub)transaction's end); qualify_names also pins an empty search_path,
 * so that regclass and its kind print schema-qualified.
 */
extern int	protector_output_style_begin(bool qualify_names);
extern void protector_output_style_end(int level);

/* schema.name as protector keeps a table's name, whatever quote_all_identifiers says */
extern char *protector_qualified_name(const char *nspname, const char *relname);

#endif							/* PROTECTOR_OUTPUT_STYLE_H */
