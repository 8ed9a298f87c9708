/*-------------------------------------------------------------------------
 *
 * outbox.h
 *	  Announcements delivered by a background worker (outbox.c).
 *
 * src/outbox.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_OUTBOX_H
#define PROTECTOR_OUTBOX_H

#include "utils/uuid.h"

/* GUC protector.notify_worker */
extern bool protector_notify_worker;

/* GUC protector.max_outbox_workers: -1, half of max_worker_processes */
extern int	protector_max_outbox_workers;

/* the most workers (databases) there may be at once */
#define OUTBOX_SLOTS 64

/* before commit: may the worker deliver this transaction's announcements? */
extern bool protector_outbox_usable(void);

/* before commit: an organization's payloads, one per line, for the worker */
extern void protector_outbox_write(const pg_uuid_t *org, const char *payloads);

/* after commit: wake (or start) the worker; never raises an error */
extern void protector_outbox_wake(void);

#endif							/* PROTECTOR_OUTBOX_H */
