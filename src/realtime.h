/*-------------------------------------------------------------------------
 *
 * realtime.h
 *	  Live change notifications (realtime.c).
 *
 * src/realtime.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_REALTIME_H
#define PROTECTOR_REALTIME_H

/* GUC protector.notify_batch_limit */
extern int	protector_notify_batch_limit;

#endif							/* PROTECTOR_REALTIME_H */
