/*
 * nova.h - the shim's client of the compute API: does a server still use a volume attachment
 * (cinder/compute/nova.py get_server_volume, asked by the 409 guard of bug 2004555)?
 *
 * Blocking, bounded by [nova] timeout; called outside any transaction.
 */
#ifndef VOLMGR_SHIM_NOVA_H
#define VOLMGR_SHIM_NOVA_H

#include <stddef.h>

enum nova_use {
	NOVA_IN_USE = 1,     /* the server has the volume attached through this attachment */
	NOVA_NOT_USED = 0,   /* 404, or the server uses another attachment of the volume */
	NOVA_FAILED = -1,    /* no endpoint, transport error or an unexpected answer */
};

/*
 * GET <[nova] endpoint>/servers/<server>/os-volume_attachments/<volume_id> with
 * X-OpenStack-Nova-API-Version 2.89 (the microversion whose answer has attachment_id) and,
 * when [nova] token is set, X-Auth-Token. err receives the reason of NOVA_FAILED.
 */
int nova_attachment_in_use(const char *server, const char *volume_id, const char *attachment_id,
			   char *err, size_t errlen);

#endif
