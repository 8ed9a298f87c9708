/*-------------------------------------------------------------------------
 *
 * locks.h
 *	  Per-service transaction-level advisory locks with a bounded wait.
 *
 * src/locks.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_LOCKS_H
#define PROTECTOR_LOCKS_H

#include "utils/uuid.h"

/*
 * Class ids of protector's advisory locks, hashed with the id each guards
 * into the lock's 64-bit key (protector_lock_key): reservations of a
 * service (0x70726F01)
 */
#define PROTECTOR_LOCK_CLASS_RESERVATION 1886547713

extern int	protector_lock_timeout;

/* classid of the lock of a staff member's schedule (shifts, assignments) */
#define PROTECTOR_LOCK_CLASS_MEMBER 1886547719

/* classid of the lock of an organization's widget bookings (0x70726F03) */
#define PROTECTOR_LOCK_CLASS_WIDGET 1886547715

/* classid of the lock of a booking's manual reminders (prepare_reminder) */
#define PROTECTOR_LOCK_CLASS_REMINDER 1886547718

/* classid of the lock of a waiver version (signatures share it) */
#define PROTECTOR_LOCK_CLASS_WAIVER_VERSION 1886547720

/* classid of the lock of a customer's erasures and merges (one at a time) */
#define PROTECTOR_LOCK_CLASS_CUSTOMER_ERASURE 1886547725

extern int64 protector_lock_key(int32 classid, const pg_uuid_t *id);
extern int64 protector_service_lock_key(const pg_uuid_t *service_id);
extern void protector_lock_service(const pg_uuid_t *service_id);
extern bool protector_service_lock_busy(const pg_uuid_t *service_id);
extern void protector_lock_member(const pg_uuid_t *member_id);

typedef void (*ProtectorLockWait) (void *arg);
extern void protector_bounded_wait(ProtectorLockWait wait, void *arg,
								   const char *busy, const char *holder,
								   Oid relid, TransactionId xid);

#endif							/* PROTECTOR_LOCKS_H */
