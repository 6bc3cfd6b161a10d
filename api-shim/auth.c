/*
 * auth.c - the noauth and tokenfile strategies, and what every strategy shares (see auth.h).
 */
#include "api-shim/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utf8.h"

#define AUTH_MAX_ADMINS 64
#define AUTH_MAX_TOKENS 4096
#define AUTH_LINE_MAX 4096

enum auth_strategy { STRATEGY_NOAUTH, STRATEGY_TOKENFILE, STRATEGY_KEYSTONE };

struct token_entry {
	char *token;
	size_t len;
	struct auth_ctx ctx;   /* is_admin filled at resolve time */
};

/* A token file as loaded: the table is replaced whole on a reload. */
struct token_table {
	struct token_entry *entries;
	int n, cap;
};

static enum auth_strategy strategy;
static char admin_users[AUTH_MAX_ADMINS][AUTH_ID_MAX];
static int nadmin_users;
static char *token_path;
/* Server threads read the table while the main thread may replace it (auth_reload). */
static pthread_rwlock_t tokens_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct token_table tokens;

/* An id must be non-empty, fit its buffer, be UTF-8 (it reaches PostgreSQL and the RPC
 * context) and hold no whitespace or control characters. */
static bool valid_id(const char *s, size_t len, size_t max)
{
	char buf[AUTH_TOKEN_MAX];

	if (len == 0 || len >= max || len >= sizeof(buf))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f)
			return false;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	return utf8_valid(buf);
}

static void copy_id(char *dst, const char *src, size_t len)
{
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/*
 * Splits a comma-separated list into trimmed, non-empty items and calls add for each.
 * Returns the number added (add returns false to refuse an item, which is skipped).
 */
static int split_list(const char *list, bool (*add)(void *arg, const char *item, size_t len),
		      void *arg)
{
	int n = 0;

	while (list != NULL && *list != '\0') {
		const char *end = strchr(list, ',');
		const char *s = list, *e = end != NULL ? end : list + strlen(list);

		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > s && add(arg, s, (size_t)(e - s)))
			n++;
		list = end != NULL ? end + 1 : NULL;
	}
	return n;
}

static bool add_role(void *arg, const char *item, size_t len)
{
	struct auth_ctx *ctx = arg;

	if (ctx->nroles >= AUTH_MAX_ROLES || !valid_id(item, len, AUTH_ROLE_MAX))
		return false;
	copy_id(ctx->roles[ctx->nroles++], item, len);
	return true;
}

static bool add_admin(void *arg, const char *item, size_t len)
{
	(void)arg;
	if (nadmin_users >= AUTH_MAX_ADMINS || !valid_id(item, len, AUTH_ID_MAX))
		return false;
	copy_id(admin_users[nadmin_users++], item, len);
	return true;
}

bool auth_has_role(const struct auth_ctx *ctx, const char *role)
{
	for (int i = 0; i < ctx->nroles; i++)
		if (strcmp(ctx->roles[i], role) == 0)
			return true;
	return false;
}

static bool is_admin_user(const char *user)
{
	for (int i = 0; i < nadmin_users; i++)
		if (strcmp(admin_users[i], user) == 0)
			return true;
	return false;
}

/* Parses one token-file line "token user project [role,role]" into e. Returns 0, 1 for a
 * blank or comment line, -1 when malformed. */
static int parse_token_line(char *line, struct token_entry *e)
{
	char *save = NULL, *fields[4] = { NULL, NULL, NULL, NULL };
	int n = 0;

	line[strcspn(line, "\r\n")] = '\0';
	for (char *tok = strtok_r(line, " \t", &save); tok != NULL && n < 5;
	     tok = strtok_r(NULL, " \t", &save)) {
		if (n == 0 && tok[0] == '#')
			return 1;
		if (n == 4)
			return -1;
		fields[n++] = tok;
	}
	if (n == 0)
		return 1;
	if (n < 3)
		return -1;
	if (!valid_id(fields[0], strlen(fields[0]), AUTH_TOKEN_MAX) ||
	    !valid_id(fields[1], strlen(fields[1]), AUTH_ID_MAX) ||
	    !valid_id(fields[2], strlen(fields[2]), AUTH_ID_MAX))
		return -1;
	memset(e, 0, sizeof(*e));
	e->token = strdup(fields[0]);
	if (e->token == NULL)
		return -1;
	e->len = strlen(e->token);
	copy_id(e->ctx.user_id, fields[1], strlen(fields[1]));
	copy_id(e->ctx.project_id, fields[2], strlen(fields[2]));
	if (fields[3] != NULL)
		split_list(fields[3], add_role, &e->ctx);
	return 0;
}

static void token_table_free(struct token_table *t)
{
	for (int i = 0; i < t->n; i++)
		free(t->entries[i].token);
	free(t->entries);
	t->entries = NULL;
	t->n = t->cap = 0;
}

/*
 * Opens the token file for reading after checking that only its owner can reach it: a token
 * file that group or others can read hands every token to them, and one they can write lets
 * them add their own.
 */
static FILE *open_token_file(const char *path, char *err, size_t errlen)
{
	struct stat st;
	FILE *f;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errlen, "[api] token_file %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "[api] token_file %s: not a regular file", path);
		goto fail;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		snprintf(err, errlen, "[api] token_file %s has mode %04o: it must not be readable "
			 "or writable by group or others (chmod 600 it)", path,
			 (unsigned)(st.st_mode & 07777));
		goto fail;
	}
	f = fdopen(fd, "r");
	if (f == NULL) {
		snprintf(err, errlen, "[api] token_file %s: %s", path, strerror(errno));
		goto fail;
	}
	return f;
fail:
	close(fd);
	return NULL;
}

/* Doubles t's room (up to AUTH_MAX_TOKENS entries). Returns 0 or -1. */
static int token_table_grow(struct token_table *t)
{
	int cap = t->cap != 0 ? t->cap * 2 : 16;
	struct token_entry *e;

	if (cap > AUTH_MAX_TOKENS)
		cap = AUTH_MAX_TOKENS;
	e = realloc(t->entries, (size_t)cap * sizeof(*e));
	if (e == NULL)
		return -1;
	memset(e + t->cap, 0, (size_t)(cap - t->cap) * sizeof(*e));
	t->entries = e;
	t->cap = cap;
	return 0;
}

/* Reads path into out. Returns 0, or -1 with a reason in err (out is then empty). */
static int load_token_file(const char *path, struct token_table *out, char *err,
			   size_t errlen)
{
	char line[AUTH_LINE_MAX];
	int lineno = 0, rc = -1;
	FILE *f;

	memset(out, 0, sizeof(*out));
	if (path == NULL || path[0] == '\0') {
		snprintf(err, errlen, "[api] token_file must be set for auth_strategy tokenfile");
		return -1;
	}
	f = open_token_file(path, err, errlen);
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		int r;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line too long", path, lineno);
			goto out;
		}
		if (out->n >= AUTH_MAX_TOKENS) {
			snprintf(err, errlen, "%s: more than %d tokens", path, AUTH_MAX_TOKENS);
			goto out;
		}
		/* The table grows with the file: a few tokens cost a few entries. */
		if (out->n == out->cap && token_table_grow(out) != 0) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		r = parse_token_line(line, &out->entries[out->n]);
		if (r < 0) {
			snprintf(err, errlen, "%s:%d: expected \"token user_id project_id "
				 "[role,role]\"", path, lineno);
			goto out;
		}
		if (r == 0)
			out->n++;
	}
	rc = 0;
out:
	fclose(f);
	if (rc != 0)
		token_table_free(out);
	return rc;
}

int auth_init(const char *strat, const char *token_file, const char *admins, char *err,
	      size_t errlen)
{
	struct token_table loaded;

	nadmin_users = 0;
	split_list(admins, add_admin, NULL);
	if (strat != NULL && strcmp(strat, "noauth") == 0) {
		strategy = STRATEGY_NOAUTH;
		return 0;
	}
	if (strat != NULL && strcmp(strat, "tokenfile") == 0) {
		strategy = STRATEGY_TOKENFILE;
		if (load_token_file(token_file, &loaded, err, errlen) != 0)
			return -1;
		token_path = strdup(token_file);
		if (token_path == NULL) {
			token_table_free(&loaded);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		tokens = loaded;
		log_info("auth: %d tokens loaded from %s", tokens.n, token_file);
		return 0;
	}
	if (strat != NULL && strcmp(strat, "keystone") == 0) {
		strategy = STRATEGY_KEYSTONE;
		return 0;
	}
	snprintf(err, errlen, "[api] auth_strategy: '%s' is not noauth, tokenfile or keystone",
		 strat != NULL ? strat : "");
	return -1;
}

int auth_reload(char *err, size_t errlen)
{
	struct token_table loaded, old;

	if (strategy != STRATEGY_TOKENFILE)
		return 0;
	if (load_token_file(token_path, &loaded, err, errlen) != 0)
		return -1;
	pthread_rwlock_wrlock(&tokens_lock);
	old = tokens;
	tokens = loaded;
	pthread_rwlock_unlock(&tokens_lock);
	token_table_free(&old);
	log_info("auth: %d tokens reloaded from %s", loaded.n, token_path);
	return 0;
}

void auth_shutdown(void)
{
	pthread_rwlock_wrlock(&tokens_lock);
	token_table_free(&tokens);
	pthread_rwlock_unlock(&tokens_lock);
	free(token_path);
	token_path = NULL;
}

bool auth_token_equal(const char *given, size_t given_len, const char *known, size_t known_len)
{
	/* volatile keeps the compiler from turning the loop into an early exit. */
	volatile unsigned char diff = given_len != known_len || known_len == 0;

	/* The loop walks the given token whole, reading the known one cyclically: its time
	 * depends on the caller's length alone, never on where the first difference is. */
	for (size_t i = 0; known_len > 0 && i < given_len; i++)
		diff |= (unsigned char)(given[i] ^ known[i % known_len]);
	return diff == 0;
}

/* The entry whose token is token, or -1. Every entry is compared, so that the time does not
 * tell which one matched or how far a guess got. Called with tokens_lock held. */
static int find_token(const char *token, size_t len)
{
	int match = -1;

	for (int i = 0; i < tokens.n; i++) {
		bool eq = auth_token_equal(token, len, tokens.entries[i].token,
					   tokens.entries[i].len);

		match = eq && match < 0 ? i : match;
	}
	return match;
}

static int resolve_noauth(const char *token, const char *roles_header, struct auth_ctx *out)
{
	const char *colon = strchr(token, ':');
	size_t ulen = colon != NULL ? (size_t)(colon - token) : strlen(token);
	const char *project = colon != NULL && colon[1] != '\0' ? colon + 1 : token;
	size_t plen = project == token ? ulen : strlen(project);

	if (!valid_id(token, ulen, AUTH_ID_MAX) || !valid_id(project, plen, AUTH_ID_MAX))
		return AUTH_INVALID;
	copy_id(out->user_id, token, ulen);
	copy_id(out->project_id, project, plen);
	split_list(roles_header, add_role, out);
	return AUTH_OK;
}

int auth_resolve(const char *token, const char *roles_header, struct auth_ctx *out)
{
	int rc = AUTH_INVALID;

	memset(out, 0, sizeof(*out));
	if (token == NULL || token[0] == '\0')
		return AUTH_MISSING;
	if (strlen(token) >= AUTH_TOKEN_MAX)
		return AUTH_INVALID;
	if (strategy == STRATEGY_NOAUTH) {
		rc = resolve_noauth(token, roles_header, out);
	} else if (strategy == STRATEGY_TOKENFILE) {
		int i;

		pthread_rwlock_rdlock(&tokens_lock);
		i = find_token(token, strlen(token));
		if (i >= 0) {
			*out = tokens.entries[i].ctx;
			rc = AUTH_OK;
		}
		pthread_rwlock_unlock(&tokens_lock);
	}
	if (rc != AUTH_OK) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	auth_set_admin(out);
	return AUTH_OK;
}

bool auth_keystone(void)
{
	return strategy == STRATEGY_KEYSTONE;
}

void auth_set_admin(struct auth_ctx *ctx)
{
	/* Keystone's user ids are its own: [api] admin_users names users of the other
	 * strategies only. */
	ctx->is_admin = auth_has_role(ctx, "admin") ||
			(strategy != STRATEGY_KEYSTONE && is_admin_user(ctx->user_id));
}

static bool has_listed_role(void *arg, const char *item, size_t len)
{
	const struct auth_ctx *ctx = arg;

	for (int i = 0; i < ctx->nroles; i++)
		if (strlen(ctx->roles[i]) == len && memcmp(ctx->roles[i], item, len) == 0)
			return true;
	return false;
}

bool auth_is_service(const struct auth_ctx *svc, const char *service_roles)
{
	return split_list(service_roles, has_listed_role, (void *)svc) > 0;
}

bool auth_service_token(const char *token, const char *roles_header, const char *service_roles)
{
	struct auth_ctx svc;

	if (token == NULL || auth_resolve(token, roles_header, &svc) != AUTH_OK)
		return false;
	return auth_is_service(&svc, service_roles);
}
