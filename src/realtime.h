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

/* GUCs protector.notify and protector.notify_batch_limit */
extern bool protector_notify;
extern int	protector_notify_batch_limit;

#endif							/* PROTECTOR_REALTIME_H */
