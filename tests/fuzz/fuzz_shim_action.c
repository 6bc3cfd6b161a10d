/*
 * fuzz_shim_action.c - libFuzzer harness for the api-shim's request path that needs no
 * server: the body of POST /v3/{p}/volumes/{id}/action as JSON (or of one of the attachments
 * API's endpoints), the action table lookup and the action's schema validation
 * (actions_parse), under a microversion taken from the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api-shim/actions.h"
#include "api-shim/shim.h"
#include "core/quota.h"
#include "tests/fuzz/fuzz.h"

/* The shim's main.c, which this harness replaces, defines its quota defaults. */
struct quota_defaults shim_quota_defaults;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shim_request *r = malloc(sizeof(*r));
	struct action_ctx a;
	json_t *body;

	if (r == NULL || size < 1)
		goto out;
	req_init(r, NULL, "POST", "/v3/p/volumes/v/action");
	/* The first byte's low seven bits pick the microversion 3.0 .. 3.127, as a header would;
	 * its top bit another endpoint than the volume's (the attachments API's or the snapshot
	 * actions'), the one the microversion names. */
	r->ver.minor = data[0] & 0x7f;
	if (req_append_body(r, (const char *)data + 1, size - 1) != 0)
		goto out_free;
	memset(&a, 0, sizeof(a));
	a.t.r = r;
	if (data[0] & 0x80)
		a.ep = (enum action_endpoint)(ACTION_EP_ATTACHMENT + r->ver.minor %
					      (ACTION_EP_SNAPSHOT - ACTION_EP_ATTACHMENT + 1));
	body = actions_parse(r, &a);
	/* A parsed body always names a known row; only delete has no body to name it. */
	if (body != NULL && (a.def == NULL ||
			     (a.params == NULL) != (a.ep == ACTION_EP_ATTACHMENT_DELETE)))
		abort();
	json_decref(body);
out_free:
	req_free(r);
out:
	free(r);
	return 0;
}
