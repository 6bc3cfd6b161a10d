/*
 * fuzz_token_file.c - libFuzzer harness for the shim's token file ([api] auth_strategy
 * tokenfile), through auth.h's public API only: the input's first line is a token to look up,
 * its second line [api] admin_users, the rest the token file, written to a private file for
 * auth_init. A token that resolves yields a caller whose ids and roles are non-empty and fit
 * their buffers.
 */
#include <string.h>

#include "api-shim/auth.h"
#include "tests/fuzz/fuzz.h"

/* Longer than any token auth.c keeps, so that the length checks are reached. */
#define FUZZ_LINE_MAX 2048

/* Copies the line at *data (up to '\n' or the end) into out, truncated to outlen - 1 bytes,
 * and moves *data and *size past it. */
static void take_line(const uint8_t **data, size_t *size, char *out, size_t outlen)
{
	const uint8_t *nl = memchr(*data, '\n', *size);
	size_t len = nl != NULL ? (size_t)(nl - *data) : *size;
	size_t keep = len < outlen - 1 ? len : outlen - 1;

	memcpy(out, *data, keep);
	out[keep] = '\0';
	*data += nl != NULL ? len + 1 : len;
	*size -= nl != NULL ? len + 1 : len;
}

static void check_ctx(const struct auth_ctx *ctx)
{
	FUZZ_CHECK(memchr(ctx->user_id, '\0', sizeof(ctx->user_id)) != NULL);
	FUZZ_CHECK(memchr(ctx->project_id, '\0', sizeof(ctx->project_id)) != NULL);
	FUZZ_CHECK(ctx->user_id[0] != '\0' && ctx->project_id[0] != '\0');
	FUZZ_CHECK(ctx->nroles >= 0 && ctx->nroles <= AUTH_MAX_ROLES);
	for (int i = 0; i < ctx->nroles; i++)
		FUZZ_CHECK(ctx->roles[i][0] != '\0' &&
			   memchr(ctx->roles[i], '\0', sizeof(ctx->roles[i])) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char token[FUZZ_LINE_MAX], admins[FUZZ_LINE_MAX], err[512];
	struct auth_ctx ctx;

	take_line(&data, &size, token, sizeof(token));
	take_line(&data, &size, admins, sizeof(admins));
	if (auth_init("tokenfile", fuzz_file_write(data, size), admins, err, sizeof(err)) != 0)
		return 0;
	if (auth_resolve(token, NULL, &ctx) == AUTH_OK)
		check_ctx(&ctx);
	(void)auth_service_token(token, NULL, "service,admin");
	auth_shutdown();
	return 0;
}
