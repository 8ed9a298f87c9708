/*-------------------------------------------------------------------------
 *
 * audit_settings.h
 *	  protector_internal.audit_settings as the audit trigger reads it
 *	  (audit_settings.c).
 *
 * src/audit_settings.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_AUDIT_SETTINGS_H
#define PROTECTOR_AUDIT_SETTINGS_H

typedef struct AuditSetting
{
	bool		found;			/* the table has a row */
	bool		audited;		/* true without a row */
	int			nmasked;
	char	  **masked;			/* column names, in CurrentMemoryContext */
} AuditSetting;

/* the table's row, read past RLS on the latest snapshot */
extern void protector_audit_setting(Oid relid, AuditSetting *setting);

/* does the row mask the column name? */
extern bool protector_audit_setting_masks(const AuditSetting *setting, const char *name);

#endif							/* PROTECTOR_AUDIT_SETTINGS_H */
