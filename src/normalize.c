/*-------------------------------------------------------------------------
 *
 * normalize.c
 *	  How a customer is recognized: ICU normalization of emails and names,
 *	  and phone numbers reduced to digits with a country code.
 *
 *	  normalize_email(text)  trimmed, NFKC case-folded (ICU): the customer
 *							 identity key; "  Zoë@Example.COM " and
 *							 "zoë@example.com" are one key.
 *	  normalize_name(text)	 NFKC case-folded, ICU transliteration to
 *							 Latin, then to ASCII, folded again,
 *							 whitespace collapsed:
 *							 "Zoë Ångström" and "ZOE  ANGSTROM" both become
 *							 "zoe angstrom"; "Зоя" becomes "zoa".
 *	  names_match(text, text)	 the same name as typed: NFKC case-folded,
 *							 Latin, Greek and Cyrillic letters without
 *							 accents, white space collapsed, other scripts
 *							 as written: "Zoë Ångström" matches "ZOE
 *							 ANGSTROM", Ёлкин Елкин, but 张伟 does not match
 *							 章伟 (both "zhang wei" transliterated).
 *	  typed_name(text)		 the key names_match() compares, as text.
 *	  has_letters_or_digits(text)
 *							 does a name hold a letter or digit of any
 *							 script ("." and "?!" tell nobody apart)?
 *	  country_is_known(text)	 an assigned ISO 3166-1 alpha-2 code?
 *	  normalize_phone(text, country)
 *							 digits with a leading + and country code when
 *							 one is known: "+49 (0)30 1234" and, for DE,
 *							 "030 1234" both become "+49301234".
 *
 * All return NULL for NULL or for input with nothing left to compare.
 * They need a UTF8 database (as Supabase's are).
 *
 * src/normalize.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utrans.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "errors.h"
#include "support.h"

/* the longest input: an e-mail of 320 characters of up to 4 bytes each */
#define MAX_NORMALIZE_BYTES 1280

static UTransliterator *name_transliterator = NULL;	/* Any-Latin; Latin-ASCII */
static UTransliterator *accent_transliterator = NULL;	/* ACCENT_RULES */

/*
 * What names_match() leaves out: the accents (nonspacing marks) of Latin
 * and Greek letters, which writers drop (ΟΔΥΣΣΕΥΣ for Οδυσσεύς); of
 * Cyrillic only two: ё's diaeresis (Елкин for Ёлкин) and the
 * stress marks (not on г and к, whose acute makes the letters ѓ and ќ):
 * й, ї and ў stay letters of their own; nor the marks of scripts whose
 * marks are letters' parts (Devanagari, Thai).  Then Latin letters as
 * ASCII (ß, Æ, ø).
 */
#define ACCENT_RULES \
	"::NFD; [[:Latin:][:Greek:]] { [:Mn:]+ > ;" \
	" [\\u0435\\u0415] { \\u0308 > ;" \
	" [[:Cyrillic:]-[\\u0433\\u0413\\u043A\\u041A]] { [\\u0300\\u0301]+ > ;" \
	" ::NFC; ::Latin-ASCII;"

static void
check_utf8(void)
{
	protector_require_utf8("customer normalization");
}

static void
icu_check(UErrorCode status, const char *what)
{
	if (U_FAILURE(status))
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("ICU %s failed: %s", what, u_errorName(status))));
}

/* ASCII text as a new UTF-16 string */
static UChar *
ascii_uchars(const char *s)
{
	int32_t		len = strlen(s);
	UChar	   *u = palloc(sizeof(UChar) * (len + 1));

	u_charsToUChars(s, u, len + 1);
	return u;
}

/*
 * The transliterator of ICU id, or with rules (id then only names it),
 * opened once per backend into *cache
 */
static UTransliterator *
transliterator(UTransliterator **cache, const char *id, const char *rules)
{
	if (*cache == NULL)
	{
		UErrorCode	status = U_ZERO_ERROR;
		UParseError parse_error;
		UChar	   *uid = ascii_uchars(id);
		UChar	   *urules = rules ? ascii_uchars(rules) : NULL;

		*cache = utrans_openU(uid, -1, UTRANS_FORWARD, urules, urules ? -1 : 0, &parse_error, &status);
		pfree(uid);
		if (urules)
			pfree(urules);
		icu_check(status, "transliterator");
	}
	return *cache;
}

/* the text argument as UTF-16, refusing oversize input */
static UChar *
to_uchars(text *t, const char *param, int32_t *ulen)
{
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	UErrorCode	status = U_ZERO_ERROR;
	UChar	   *u;

	if (len > MAX_NORMALIZE_BYTES)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("%s must be at most %d bytes", param, MAX_NORMALIZE_BYTES)));
	u = palloc(sizeof(UChar) * (len + 1));
	u_strFromUTF8(u, len + 1, ulen, s, len, &status);
	icu_check(status, "UTF-8 decoding");
	return u;
}

static text *
from_uchars(const UChar *u, int32_t ulen)
{
	UErrorCode	status = U_ZERO_ERROR;
	int32_t		blen;
	char	   *buf;

	u_strToUTF8(NULL, 0, &blen, u, ulen, &status);
	if (status != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(status))
		icu_check(status, "UTF-8 encoding");
	status = U_ZERO_ERROR;
	buf = palloc(blen + 1);
	u_strToUTF8(buf, blen + 1, &blen, u, ulen, &status);
	icu_check(status, "UTF-8 encoding");
	return cstring_to_text_with_len(buf, blen);
}

/*
 * NFKC case folding of u[0..ulen) into a new buffer, as long as it needs
 * (one character may become 18: U+FDFA)
 */
static UChar *
nfkc_casefold(const UChar *u, int32_t ulen, int32_t *outlen)
{
	UErrorCode	status = U_ZERO_ERROR;
	const UNormalizer2 *norm = unorm2_getNFKCCasefoldInstance(&status);
	int32_t		cap = ulen * 4 + 16;
	UChar	   *out;

	icu_check(status, "NFKC_Casefold");
	out = palloc(sizeof(UChar) * cap);
	*outlen = unorm2_normalize(norm, u, ulen, out, cap, &status);
	if (status == U_BUFFER_OVERFLOW_ERROR)
	{
		/* the call said how long: once more with room for it */
		cap = *outlen + 1;
		out = repalloc(out, sizeof(UChar) * cap);
		status = U_ZERO_ERROR;
		*outlen = unorm2_normalize(norm, u, ulen, out, cap, &status);
	}
	icu_check(status, "normalization");
	return out;
}

/*
 * Replaces a surrogate without its pair by U+FFFD: transliteration can
 * leave one (a kana repeat mark after a character beyond the basic plane,
 * 𠮷ゝ, repeats half of its pair), and UTF-8 cannot encode it.
 */
static void
repair_surrogates(UChar *u, int32_t ulen)
{
	for (int32_t i = 0; i < ulen; i++)
	{
		if (U16_IS_LEAD(u[i]) && i + 1 < ulen && U16_IS_TRAIL(u[i + 1]))
			i++;				/* a pair */
		else if (U16_IS_SURROGATE(u[i]))
			u[i] = 0xFFFD;
	}
}

/*
 * u[0..*ulen) transliterated by trans into a new buffer:
 * transliteration lengthens text (a Han syllable becomes up to seven
 * letters, U+FDFA eighteen), so it runs again in a buffer twice as large
 * while it does not fit
 */
static UChar *
transliterate(UTransliterator *trans, const UChar *u, int32_t *ulen)
{
	int32_t		cap = *ulen * 4 + 16;

	for (;;)
	{
		UErrorCode	status = U_ZERO_ERROR;
		UChar	   *out = palloc(sizeof(UChar) * cap);
		int32_t		len = *ulen;
		int32_t		limit = *ulen;

		memcpy(out, u, sizeof(UChar) * *ulen);
		utrans_transUChars(trans, out, &len, cap, 0, &limit, &status);
		if (status != U_BUFFER_OVERFLOW_ERROR || cap > 64 * (*ulen + 16))
		{
			icu_check(status, "transliteration");
			*ulen = len;
			repair_surrogates(out, len);
			return out;
		}
		pfree(out);
		cap *= 2;
	}
}

/* drops leading and trailing white space; inner runs become one space */
static int32_t
squeeze_spaces(UChar *u, int32_t ulen)
{
	int32_t		n = 0;
	bool		pending = false;

	for (int32_t i = 0; i < ulen; i++)
	{
		/* (U+1680 is the one space separator NFKC does not fold to ' ') */
		if (u[i] == ' ' || u[i] == '\t' || u[i] == '\n' || u[i] == '\r' ||
			u[i] == 0x00A0 || u[i] == 0x1680 || u[i] == 0x3000)
		{
			pending = (n > 0);
			continue;
		}
		if (pending)
			u[n++] = ' ';
		pending = false;
		u[n++] = u[i];
	}
	return n;
}

PG_FUNCTION_INFO_V1(protector_normalize_email);
Datum
protector_normalize_email(PG_FUNCTION_ARGS)
{
	int32_t		ulen,
				flen;
	UChar	   *u;
	UChar	   *f;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	check_utf8();
	u = to_uchars(PG_GETARG_TEXT_PP(0), "email", &ulen);
	ulen = squeeze_spaces(u, ulen);
	if (ulen == 0)
		PG_RETURN_NULL();
	f = nfkc_casefold(u, ulen, &flen);

	/*
	 * (again after the fold, which drops ignorables such as U+200B and
	 * turns U+2000-U+200A into spaces: trimmed, and NULL with nothing left)
	 */
	flen = squeeze_spaces(f, flen);
	if (flen == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(from_uchars(f, flen));
}

PG_FUNCTION_INFO_V1(protector_normalize_name);
Datum
protector_normalize_name(PG_FUNCTION_ARGS)
{
	int32_t		ulen,
				flen;
	UChar	   *u;
	UChar	   *f;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	check_utf8();
	u = to_uchars(PG_GETARG_TEXT_PP(0), "name", &ulen);
	/*
	 * (folded before too: what the transliteration leaves alone, a
	 * compatibility form like the micro sign or a parenthesized ideograph,
	 * the fold expands only after it, into letters never transliterated:
	 * names NFKC calls one got two keys)
	 */
	u = nfkc_casefold(u, ulen, &ulen);
	u = transliterate(transliterator(&name_transliterator, "Any-Latin; Latin-ASCII", NULL), u, &ulen);
	f = nfkc_casefold(u, ulen, &flen);
	flen = squeeze_spaces(f, flen);
	if (flen == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(from_uchars(f, flen));
}

/* a typed name as names_match() compares it, into *len UChars */
static UChar *
typed_name(text *name, const char *param, int32_t *len)
{
	int32_t		ulen;
	UChar	   *u = to_uchars(name, param, &ulen);
	UChar	   *f = nfkc_casefold(u, ulen, len);

	f = transliterate(transliterator(&accent_transliterator, "protector-accents", ACCENT_RULES), f, len);
	/* (again: Latin-ASCII makes small capitals capitals) */
	f = nfkc_casefold(f, *len, len);
	*len = squeeze_spaces(f, *len);
	return f;
}

PG_FUNCTION_INFO_V1(protector_names_match);
Datum
protector_names_match(PG_FUNCTION_ARGS)
{
	int32_t		alen,
				blen;
	UChar	   *a;
	UChar	   *b;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	check_utf8();
	a = typed_name(PG_GETARG_TEXT_PP(0), "name", &alen);
	b = typed_name(PG_GETARG_TEXT_PP(1), "name", &blen);
	PG_RETURN_BOOL(alen > 0 && alen == blen && memcmp(a, b, sizeof(UChar) * alen) == 0);
}

/*
 * protector_internal.typed_name(text): the key names_match() compares, as
 * text (NULL when nothing is left), for a unique index and for set
 * comparisons of names as typed
 */
PG_FUNCTION_INFO_V1(protector_typed_name);
Datum
protector_typed_name(PG_FUNCTION_ARGS)
{
	int32_t		len;
	UChar	   *key;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	check_utf8();
	key = typed_name(PG_GETARG_TEXT_PP(0), "name", &len);
	if (len == 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(from_uchars(key, len));
}

/*
 * protector_internal.has_letters_or_digits(text): does the text hold a
 * letter or a decimal digit of any script (ICU's u_isalnum)?  A
 * participant's name of punctuation, symbols or marks only tells no
 * participant from another.
 */
PG_FUNCTION_INFO_V1(protector_has_letters_or_digits);
Datum
protector_has_letters_or_digits(PG_FUNCTION_ARGS)
{
	text	   *t;
	const unsigned char *p;
	const unsigned char *end;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	check_utf8();

	/*
	 * Read where it is, character by character, to the first letter or
	 * digit: any length (a waiver's body asks it too), no UTF-16 copy.
	 */
	t = PG_GETARG_TEXT_PP(0);
	p = (const unsigned char *) VARDATA_ANY(t);
	end = p + VARSIZE_ANY_EXHDR(t);
	while (p < end)
	{
		int			len = pg_utf_mblen(p);

		if (len > end - p)
			break;				/* (a text of the database's is whole UTF-8) */
		if (u_isalnum((UChar32) utf8_to_unicode(p)))
			PG_RETURN_BOOL(true);
		p += len;
	}
	PG_RETURN_BOOL(false);
}

/*
 * Calling codes of the countries whose numbers we complete, and how their
 * national numbers are dialled: after a trunk 0 (most), with the 0 part of
 * the number (Italy), or with no trunk prefix at all, in so many digits
 * (Denmark's 8, Spain's 9: "12 34 56 78" with DK is +4512345678; read as
 * a trunk 0 country's, DK and ES numbers were never completed).  And the
 * international prefix where it is not 00 (011 in North America, 0011 in
 * Australia, 010 in Japan, 001 in Singapore: "011 49 30 ..." with US was
 * +1114930...).
 */
typedef struct CountryCode
{
	const char *iso;
	const char *code;
	bool		keeps_trunk_zero;	/* Italy: the 0 is part of the number */
	int			no_trunk_min;	/* no trunk prefix: national digits, at least */
	int			no_trunk_max;	/* ... and at most (0: a trunk 0) */
	const char *exit_prefix;	/* international prefix other than 00 */
} CountryCode;

/* a trunk 0 (and 00 abroad unless given); no trunk prefix, in min..max digits */
#define TRUNK(iso, code, exit)			{iso, code, false, 0, 0, exit}
#define NO_TRUNK(iso, code, min, max)	{iso, code, false, min, max, NULL}

static const CountryCode country_codes[] = {
	TRUNK("AE", "971", NULL), TRUNK("AT", "43", NULL), TRUNK("AU", "61", "0011"),
	TRUNK("BE", "32", NULL), NO_TRUNK("BR", "55", 10, 11), TRUNK("CA", "1", "011"),
	TRUNK("CH", "41", NULL), NO_TRUNK("CZ", "420", 9, 9), TRUNK("DE", "49", NULL),
	NO_TRUNK("DK", "45", 8, 8), NO_TRUNK("ES", "34", 9, 9), TRUNK("FI", "358", NULL),
	TRUNK("FR", "33", NULL), TRUNK("GB", "44", NULL), NO_TRUNK("GR", "30", 10, 10),
	TRUNK("IE", "353", NULL), TRUNK("IL", "972", NULL), TRUNK("IN", "91", NULL),
	{"IT", "39", true, 0, 0, NULL}, TRUNK("JP", "81", "010"), NO_TRUNK("MX", "52", 10, 10),
	TRUNK("NL", "31", NULL), NO_TRUNK("NO", "47", 8, 8), TRUNK("NZ", "64", NULL),
	NO_TRUNK("PL", "48", 9, 9), NO_TRUNK("PT", "351", 9, 9), TRUNK("SE", "46", NULL),
	{"SG", "65", false, 8, 8, "001"}, TRUNK("TR", "90", NULL), TRUNK("UA", "380", NULL),
	TRUNK("US", "1", "011"), TRUNK("ZA", "27", NULL),
};

/* ISO 3166-1 alpha-2: every assigned code, two letters each, sorted */
static const char iso_countries[] =
"ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZ"
"CACCCDCFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZDEDJDKDMDODZECEEEGEHERESETFIFJFKFMFO"
"FRGAGBGDGEGFGGGHGIGLGMGNGPGQGRGSGTGUGWGYHKHMHNHRHTHUIDIEILIMINIOIQIRISITJE"
"JMJOJPKEKGKHKIKMKNKPKRKWKYKZLALBLCLILKLRLSLTLULVLYMAMCMDMEMFMGMHMKMLMMMNMO"
"MPMQMRMSMTMUMVMWMXMYMZNANCNENFNGNINLNONPNRNUNZOMPAPEPFPGPHPKPLPMPNPRPSPTPW"
"PYQARERORSRURWSASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZTCTDTFTGTHTJTKTLTM"
"TNTOTRTTTVTWTZUAUGUMUSUYUZVAVCVEVGVIVNVUWFWSYEYTZAZMZW";

/* is code (any case) an assigned ISO 3166-1 alpha-2 country code? */
static bool
protector_country_is_known(const char *code, int len)
{
	if (len != 2)
		return false;
	for (const char *c = iso_countries; *c; c += 2)
	{
		if (c[0] == pg_ascii_toupper((unsigned char) code[0]) &&
			c[1] == pg_ascii_toupper((unsigned char) code[1]))
			return true;
	}
	return false;
}

/*
 * protector.country_is_known(p_country text) returns boolean
 */
PG_FUNCTION_INFO_V1(protector_country_is_known_sql);
Datum
protector_country_is_known_sql(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BOOL(protector_country_is_known(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
}

/* p_country's entry in country_codes (NULL: none given, or none listed) */
static const CountryCode *
phone_country(FunctionCallInfo fcinfo)
{
	char	   *country;
	const CountryCode *cc = NULL;

	if (PG_ARGISNULL(1))
		return NULL;
	country = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (!protector_country_is_known(country, strlen(country)))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("p_country \"%s\" is not an ISO 3166 country code",
						protector_clip(country, strlen(country), 8)),
				 errhint("Use two letters such as DE or US, or NULL when the country is unknown.")));
	for (size_t i = 0; i < lengthof(country_codes); i++)
	{
		if (pg_strcasecmp(country, country_codes[i].iso) == 0)
			cc = &country_codes[i];
	}
	return cc;
}

/*
 * The digits of s (at most PHONE_MAX_DIGITS, NUL-terminated in digits);
 * *plus says whether a '+' came before the first.  Returns their count.
 */
#define PHONE_MAX_DIGITS 63

static int
phone_digits(const char *s, int len, char *digits, bool *plus)
{
	int			n = 0;

	*plus = false;
	for (int i = 0; i < len; i++)
	{
		if (s[i] == '+' && n == 0)
			*plus = true;
		else if (s[i] >= '0' && s[i] <= '9')
		{
			if (n >= PHONE_MAX_DIGITS)
				ereport(ERROR,
						(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
						 errmsg("phone has too many digits")));
			digits[n++] = s[i];
		}
	}
	digits[n] = '\0';
	return n;
}

/*
 * "+<digits>": a number written with its country code (after + or 00).
 * "+49 (0)30 ...", "0049 (0)30 ...": a trunk 0 in parentheses after the
 * country code is dropped.  No country code begins with 0: "+00 49 ...",
 * "+030 ..." are no number written out, and keep their digits only.
 */
static void
append_international(StringInfo out, const char *digits, const char *s, int len)
{
	const char *d = digits;
	bool		parenthesis = memchr(s, '(', len) != NULL;

	if (d[0] == '0')
	{
		appendStringInfoString(out, d);
		return;
	}
	appendStringInfoChar(out, '+');
	for (size_t i = 0; parenthesis && i < lengthof(country_codes); i++)
	{
		size_t		cl = strlen(country_codes[i].code);

		if (!country_codes[i].keeps_trunk_zero &&
			strncmp(d, country_codes[i].code, cl) == 0 && d[cl] == '0')
		{
			appendBinaryStringInfo(out, d, cl);
			d += cl + 1;
			break;
		}
	}
	appendStringInfoString(out, d);
}

/*
 * protector.normalize_phone(p_phone text, p_country text default null)
 * returns text
 *
 * The number as "+<country code><number>" where its country is known (a
 * leading + or 00, or p_country for a national number), else its digits;
 * NULL for fewer than three digits.  22023 for over 100 characters, over
 * 63 digits or an unknown p_country.
 */
PG_FUNCTION_INFO_V1(protector_normalize_phone);
Datum
protector_normalize_phone(PG_FUNCTION_ARGS)
{
	text	   *t;
	const char *s;
	int			len;
	char		digits[PHONE_MAX_DIGITS + 1];
	int			n;
	bool		plus;
	const CountryCode *cc;
	StringInfoData out;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	t = PG_GETARG_TEXT_PP(0);
	s = VARDATA_ANY(t);
	len = VARSIZE_ANY_EXHDR(t);
	if (len > 100)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("phone must be at most 100 bytes"),
				 errdetail("It has %d bytes (a character outside ASCII takes 2 to 4).", len)));
	cc = phone_country(fcinfo);
	n = phone_digits(s, len, digits, &plus);
	if (n < 3)
		PG_RETURN_NULL();

	initStringInfo(&out);
	if (plus)
		append_international(&out, digits, s, len);
	else if (cc != NULL && cc->exit_prefix != NULL &&
			 strncmp(digits, cc->exit_prefix, strlen(cc->exit_prefix)) == 0)
		append_international(&out, digits + strlen(cc->exit_prefix), s, len);
	else if (digits[0] == '0' && digits[1] == '0')
		append_international(&out, digits + 2, s, len);	/* 00: as + */
	else if (cc != NULL && cc->no_trunk_max > 0)
	{
		/*
		 * a national number of its length, also after a 0 (Brazil's trunk
		 * prefix, "(011) 98765-4321"; Poland's until 2009), else its digits
		 */
		int			skip = digits[0] == '0' ? 1 : 0;

		if (digits[skip] != '0' && n - skip >= cc->no_trunk_min && n - skip <= cc->no_trunk_max)
			appendStringInfo(&out, "+%s%s", cc->code, digits + skip);
		else
			appendStringInfoString(&out, digits);
	}
	else if (cc != NULL && digits[0] == '0' && !cc->keeps_trunk_zero)
		appendStringInfo(&out, "+%s%s", cc->code, digits + 1);
	else if (cc != NULL && strcmp(cc->code, "1") == 0 && n == 11 && digits[0] == '1')
		appendStringInfo(&out, "+%s", digits);
	else if (cc != NULL && (strcmp(cc->code, "1") == 0 ? n == 10 : cc->keeps_trunk_zero))
		appendStringInfo(&out, "+%s%s", cc->code, digits);
	else
		appendStringInfoString(&out, digits);	/* country unknown: digits only */

	/*
	 * (the digits written out, a country code added included, after a 00
	 * or a trunk 0 was dropped: "000" and "+49(0" are no numbers)
	 */
	if (strspn(out.data + (out.data[0] == '+'), "0123456789") < 3)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}
