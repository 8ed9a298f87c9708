/*-------------------------------------------------------------------------
 *
 * embed_key.c
 *	  Public embed keys of venues: generation and offline verification.
 *
 * Format: <prefix>_<body>, the prefix 1-16 characters [a-z][a-z0-9]*
 * ("pk" by default), the body 24 base62 characters [0-9A-Za-z]:
 *
 *	  22 random characters, each uniform over the 62 (rejection sampling of
 *		 pg_strong_random() bytes, no modulo bias): 22 * log2(62) = 131 bits;
 *	  2 check characters.
 *
 * The check characters make the weighted sum of all 24 digit values, with
 * weights 2..23 for the random characters and 62 and 1 for the two check
 * characters, divisible by the prime 3833 (the largest prime below 62^2),
 * and encode a value below 3833.  As every weight is non-zero and all are
 * distinct modulo that prime, and digits differ by less than 62, every
 * single-character change and every swap of two adjacent characters
 * changes the sum modulo 3833: each is detected, without a database
 * look-up.  A random string passes with probability about 1/3844.
 *
 * src/embed_key.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "errors.h"
#include "support.h"

#define EMBED_RANDOM_CHARS	22
#define EMBED_BODY_CHARS	(EMBED_RANDOM_CHARS + 2)
#define EMBED_PREFIX_MAX	16
#define EMBED_PRIME			3833

static const char base62[] =
"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int
base62_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 36;
	return -1;
}

static int
embed_weight(int position)
{
	if (position < EMBED_RANDOM_CHARS)
		return position + 2;
	return (position == EMBED_RANDOM_CHARS) ? 62 : 1;
}

static bool
prefix_is_valid(const char *p, int len)
{
	if (len < 1 || len > EMBED_PREFIX_MAX || !(p[0] >= 'a' && p[0] <= 'z'))
		return false;
	for (int i = 1; i < len; i++)
	{
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9')))
			return false;
	}
	return true;
}

/* is body (EMBED_BODY_CHARS characters) a valid random part + check? */
static bool
body_is_valid(const char *body)
{
	int			sum = 0;

	for (int i = 0; i < EMBED_BODY_CHARS; i++)
	{
		int			v = base62_value(body[i]);

		if (v < 0)
			return false;
		sum = (sum + v * embed_weight(i)) % EMBED_PRIME;
	}
	/* the check value must be the canonical one, below the prime */
	if (base62_value(body[EMBED_RANDOM_CHARS]) * 62 +
		base62_value(body[EMBED_RANDOM_CHARS + 1]) >= EMBED_PRIME)
		return false;
	return sum == 0;
}

PG_FUNCTION_INFO_V1(protector_generate_embed_key);
Datum
protector_generate_embed_key(PG_FUNCTION_ARGS)
{
	text	   *prefix_t = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	const char *prefix = "pk";
	int			prefix_len = 2;
	char		body[EMBED_BODY_CHARS];
	int			filled = 0;
	int			sum = 0;
	int			check;
	char	   *result;

	if (prefix_t != NULL)
	{
		prefix = VARDATA_ANY(prefix_t);
		prefix_len = VARSIZE_ANY_EXHDR(prefix_t);
	}
	if (!prefix_is_valid(prefix, prefix_len))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("p_prefix must be 1 to %d characters: a lowercase letter, then lowercase letters or digits",
						EMBED_PREFIX_MAX),
				 errdetail("p_prefix was \"%s\".", protector_clip(prefix, prefix_len, 64))));

	while (filled < EMBED_RANDOM_CHARS)
	{
		uint8		bytes[32];

		if (!pg_strong_random(bytes, sizeof(bytes)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate random bytes for an embed key")));
		for (int i = 0; i < (int) sizeof(bytes) && filled < EMBED_RANDOM_CHARS; i++)
		{
			/* 248 = 4 * 62: larger bytes would favour the first digits */
			if (bytes[i] >= 248)
				continue;
			body[filled] = base62[bytes[i] % 62];
			sum = (sum + (bytes[i] % 62) * embed_weight(filled)) % EMBED_PRIME;
			filled++;
		}
	}
	/* 62 * c0 + c1 = check makes the whole sum divisible by the prime */
	check = (EMBED_PRIME - sum) % EMBED_PRIME;
	body[EMBED_RANDOM_CHARS] = base62[check / 62];
	body[EMBED_RANDOM_CHARS + 1] = base62[check % 62];

	result = palloc(prefix_len + 1 + EMBED_BODY_CHARS + 1);
	memcpy(result, prefix, prefix_len);
	result[prefix_len] = '_';
	memcpy(result + prefix_len + 1, body, EMBED_BODY_CHARS);
	result[prefix_len + 1 + EMBED_BODY_CHARS] = '\0';
	Assert(body_is_valid(body));
	PG_RETURN_TEXT_P(cstring_to_text_with_len(result, prefix_len + 1 + EMBED_BODY_CHARS));
}

/* is s (len bytes) a well-formed key: a valid prefix, "_", a valid body? */
static bool
key_is_well_formed(const char *s, int len)
{
	int			prefix_len = len - EMBED_BODY_CHARS - 1;

	if (prefix_len < 1 || prefix_len > EMBED_PREFIX_MAX || s[prefix_len] != '_')
		return false;
	if (!prefix_is_valid(s, prefix_len))
		return false;
	return body_is_valid(s + prefix_len + 1);
}

PG_FUNCTION_INFO_V1(protector_embed_key_is_well_formed);
Datum
protector_embed_key_is_well_formed(PG_FUNCTION_ARGS)
{
	text	   *key = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BOOL(key_is_well_formed(VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key)));
}

/*
 * protector_internal.check_code(p_code text, p_prefix text, p_parameter
 * text): promo and gift codes are keys of this format with their own
 * prefix; a code that is not one is refused (22023, "<p_parameter> is not
 * a valid code") before anything is looked up.  A NULL code is no code.
 * In C: the RPCs call it for every booking, and as PL/pgSQL its SET clause
 * cost more than the check.
 */
PG_FUNCTION_INFO_V1(protector_check_code);
Datum
protector_check_code(PG_FUNCTION_ARGS)
{
	text	   *code;
	char	   *prefix;
	int			len;
	int			prefix_len;

	if (PG_ARGISNULL(0))
		PG_RETURN_VOID();
	protector_require_arg(fcinfo, 1, "p_prefix");
	protector_require_arg(fcinfo, 2, "p_parameter");
	code = PG_GETARG_TEXT_PP(0);
	prefix = text_to_cstring(PG_GETARG_TEXT_PP(1));
	len = VARSIZE_ANY_EXHDR(code);
	prefix_len = strlen(prefix);
	/* a well-formed key whose prefix (before its one "_") is this one */
	if (len != prefix_len + 1 + EMBED_BODY_CHARS || memcmp(VARDATA_ANY(code), prefix, prefix_len) != 0 ||
		!key_is_well_formed(VARDATA_ANY(code), len))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("%s is not a valid code", protector_clip_text(PG_GETARG_TEXT_PP(2), 64)),
				 errdetail("Codes are \"%s_\" and 24 letters and digits; this one is mistyped or incomplete.",
						   protector_clip(prefix, prefix_len, 64)),
				 errhint("Copy the code as it was issued: letters are case-sensitive.")));
	PG_RETURN_VOID();
}
