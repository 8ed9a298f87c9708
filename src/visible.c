/*-------------------------------------------------------------------------
 *
 * visible.c
 *	  Does a text hold a character that renders?  By the Unicode general
 *	  category (ICU's u_charType), not by lists of ranges, which miss
 *	  whole blocks: combining marks of every script (Mn, Mc, Me), spaces
 *	  and separators (Zs, Zl, Zp), controls and format characters (Cc,
 *	  Cf: joiners, variation-free format marks), surrogates, private use
 *	  and unassigned code points render as nothing a reader can tell
 *	  apart.  A name made of them alone shows blank on an operator's
 *	  screen.
 *
 *	  renders_visible(text)	 true when some character is of another
 *							 category (a letter, digit, punctuation, symbol);
 *							 NULL for NULL.
 *	  trim_spaces(text)		 the text without the characters of Unicode's
 *							 White_Space at its ends (spaces, no-break and
 *							 ideographic spaces, line breaks), read in place
 *							 from both ends: any length costs what it trims.
 *
 * Needs a UTF8 database (as Supabase's are), like normalize.c.
 *
 * src/visible.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include "support.h"

static bool
category_renders(UChar32 c)
{
	switch (u_charType(c))
	{
		case U_NON_SPACING_MARK:
		case U_ENCLOSING_MARK:
		case U_COMBINING_SPACING_MARK:
		case U_SPACE_SEPARATOR:
		case U_LINE_SEPARATOR:
		case U_PARAGRAPH_SEPARATOR:
		case U_CONTROL_CHAR:
		case U_FORMAT_CHAR:
		case U_SURROGATE:
		case U_PRIVATE_USE_CHAR:
		case U_UNASSIGNED:
			return false;
		default:
			return true;
	}
}

PG_FUNCTION_INFO_V1(protector_renders_visible);
Datum
protector_renders_visible(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const uint8_t *s = (const uint8_t *) VARDATA_ANY(t);
	int32_t		len = VARSIZE_ANY_EXHDR(t);
	int32_t		i = 0;

	protector_require_utf8("renders_visible()");
	while (i < len)
	{
		UChar32		c;

		U8_NEXT(s, i, len, c);
		/* (PostgreSQL stores valid UTF-8 only; a negative c cannot come) */
		if (c >= 0 && category_renders(c))
			PG_RETURN_BOOL(true);
	}
	PG_RETURN_BOOL(false);
}

/*
 * protector_internal.trim_spaces(text): the text without White_Space at its
 * ends; the text itself where there is none (btrim with a set of several
 * characters made arrays of 12 bytes per byte of it: 134 million
 * characters failed with XX000)
 */
PG_FUNCTION_INFO_V1(protector_trim_spaces);
Datum
protector_trim_spaces(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const uint8_t *s = (const uint8_t *) VARDATA_ANY(t);
	int32_t		len = VARSIZE_ANY_EXHDR(t);
	int32_t		start = 0;
	int32_t		end = len;

	protector_require_utf8("trim_spaces()");
	while (start < end)
	{
		int32_t		i = start;
		UChar32		c;

		U8_NEXT(s, i, end, c);
		if (c < 0 || !u_isUWhiteSpace(c))
			break;
		start = i;
	}
	while (end > start)
	{
		int32_t		i = end;
		UChar32		c;

		U8_PREV(s, start, i, c);
		if (c < 0 || !u_isUWhiteSpace(c))
			break;
		end = i;
	}
	if (start == 0 && end == len)
		PG_RETURN_TEXT_P(t);
	PG_RETURN_TEXT_P(cstring_to_text_with_len((const char *) s + start, end - start));
}
