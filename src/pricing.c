/*-------------------------------------------------------------------------
 *
 * pricing.c
 *	  protector.booking_total(p_price, p_price_per_person, p_party_size):
 *	  the price of a booking, price + price_per_person x party_size
 *	  (docs/payments.md).
 *
 * Invariant kept: the same numeric arithmetic as the SQL expression (the
 * party size converted to numeric, multiplied, added; overflow is numeric's
 * own 22003), NULL when any argument is NULL (STRICT).
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

PG_FUNCTION_INFO_V1(protector_booking_total);
Datum
protector_booking_total(PG_FUNCTION_ARGS)
{
	Datum		party = DirectFunctionCall1(int4_numeric, PG_GETARG_DATUM(2));
	Datum		per_person = DirectFunctionCall2(numeric_mul, PG_GETARG_DATUM(1), party);

	PG_RETURN_DATUM(DirectFunctionCall2(numeric_add, PG_GETARG_DATUM(0), per_person));
}
