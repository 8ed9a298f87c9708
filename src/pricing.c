/*-------------------------------------------------------------------------
 *
 * pricing.c
 *	  protector.booking_total(p_price, p_price_per_person, p_party_size):
 *	  the price of a booking, price + price_per_person x party_size
 *	  (docs/payments.md).
 *
 * Invariants kept: the same numeric arithmetic as the SQL expression (the
 * party size converted to numeric, multiplied, added), NULL when any
 * argument is NULL (STRICT); a total above the largest amount a money
 * column holds (numeric(12,2)) is refused as bad input, the same error on
 * every path that prices a booking (it was numeric's own 22003 where the
 * total was stored, on all but create_booking), and so are a total below 0
 * or not a number and a negative party (the formula is callable by anyone
 * signed in, and answered -Infinity).
 *
 * Why C: create_booking, the insert's price trigger and the price change
 * trigger call it for every booking; as PL/pgSQL it needed a SET
 * search_path clause (every SQL function pins its path), which costs a GUC
 * nest level and a fresh resolution of the path per call, more than the
 * sum itself.  C names nothing, so it has no path to pin.
 *
 * src/pricing.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "errors.h"

/* the largest amount protector's money columns hold: numeric(12,2) */
#define MAX_AMOUNT "9999999999.99"

/* a numeric constant, read once per backend into *slot */
static Datum
numeric_constant(Datum *slot, const char *text)
{
	if (*slot == (Datum) 0)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		*slot = DirectFunctionCall3(numeric_in, CStringGetDatum(text),
									ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		MemoryContextSwitchTo(old);
	}
	return *slot;
}

static Datum
max_amount(void)
{
	static Datum value = (Datum) 0;

	return numeric_constant(&value, MAX_AMOUNT);
}

static Datum
zero_amount(void)
{
	static Datum value = (Datum) 0;

	return numeric_constant(&value, "0");
}

/* an amount as an error quotes it: one of 130,000 digits is cut */
static char *
amount_text(Datum amount)
{
	char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out, amount));

	return protector_clip(text, strlen(text), 40);
}

PG_FUNCTION_INFO_V1(protector_booking_total);
Datum
protector_booking_total(PG_FUNCTION_ARGS)
{
	Datum		party;
	Datum		per_person;
	Datum		total;

	if (PG_GETARG_INT32(2) < 0)
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("p_party_size must be at least 0"),
				 errdetail("Got %d.", PG_GETARG_INT32(2))));
	party = DirectFunctionCall1(int4_numeric, PG_GETARG_DATUM(2));
	per_person = DirectFunctionCall2(numeric_mul, PG_GETARG_DATUM(1), party);
	total = DirectFunctionCall2(numeric_add, PG_GETARG_DATUM(0), per_person);

	/* (NaN sorts above every number: it is no amount, named as such) */
	if (numeric_is_nan(DatumGetNumeric(total)) ||
		DatumGetBool(DirectFunctionCall2(numeric_lt, total, zero_amount())))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("the booking's total must be an amount of at least 0"),
				 errdetail("%s + %s x %d is %s.", amount_text(PG_GETARG_DATUM(0)), amount_text(PG_GETARG_DATUM(1)),
						   PG_GETARG_INT32(2), amount_text(total))));
	if (DatumGetBool(DirectFunctionCall2(numeric_gt, total, max_amount())))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("the booking's total is more than an amount can be"),
				 errdetail("%s + %s x %d is above " MAX_AMOUNT ".", amount_text(PG_GETARG_DATUM(0)),
						   amount_text(PG_GETARG_DATUM(1)), PG_GETARG_INT32(2))));
	PG_RETURN_DATUM(total);
}
