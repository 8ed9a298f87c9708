/*-------------------------------------------------------------------------
 *
 * balance_due.h
 *	  bookings.balance_due = total_price - amount_paid (balance_due.c).
 *
 * src/balance_due.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_BALANCE_DUE_H
#define PROTECTOR_BALANCE_DUE_H

#include "executor/tuptable.h"
#include "utils/relcache.h"

/*
 * row, or row with balance_due = total_price - amount_paid when it says
 * otherwise; slot, when not NULL, holds row (read from it, deformed once)
 */
extern HeapTuple protector_with_balance_due(Relation rel, TupleTableSlot *slot, HeapTuple row);

#endif							/* PROTECTOR_BALANCE_DUE_H */
