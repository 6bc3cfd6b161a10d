/*
 * prescan.c - bounds a hostile msgpack body before msgpack-c allocates for it.
 *
 * msgpack-c allocates every array and map from its declared count before reading a single
 * element, so a 9-byte body can ask for a gigabyte. This walk reads only headers, keeps one
 * pending-element counter per open container and rejects any count the remaining bytes could
 * not possibly satisfy.
 */
#include "proto/internal.h"

#include <stdint.h>

enum kind { K_SCALAR, K_STR, K_ARRAY, K_MAP };

static uint64_t be(const unsigned char *p, unsigned w)
{
	uint64_t v = 0;

	while (w--)
		v = v << 8 | *p++;
	return v;
}

/*
 * Classifies type byte b: *w is the width of its length field (strings, containers) or of its
 * payload (scalars); *n the count carried in the byte itself (fix types). Returns -1 for bin,
 * ext and the never-used 0xc1.
 */
static int classify(unsigned char b, enum kind *k, unsigned *w, uint64_t *n)
{
	*k = K_SCALAR;
	*w = 0;
	*n = 0;
	if (b <= 0x7f || b >= 0xe0)
		return 0;
	if (b <= 0xbf) {
		*k = b <= 0x8f ? K_MAP : b <= 0x9f ? K_ARRAY : K_STR;
		*n = b <= 0x9f ? (b & 0x0f) : (b & 0x1f);
		return 0;
	}
	switch (b) {
	case 0xc0: case 0xc2: case 0xc3:
		return 0;
	case 0xcc: case 0xd0: *w = 1; return 0;
	case 0xcd: case 0xd1: *w = 2; return 0;
	case 0xca: case 0xce: case 0xd2: *w = 4; return 0;
	case 0xcb: case 0xcf: case 0xd3: *w = 8; return 0;
	case 0xd9: *k = K_STR; *w = 1; return 0;
	case 0xda: *k = K_STR; *w = 2; return 0;
	case 0xdb: *k = K_STR; *w = 4; return 0;
	case 0xdc: *k = K_ARRAY; *w = 2; return 0;
	case 0xdd: *k = K_ARRAY; *w = 4; return 0;
	case 0xde: *k = K_MAP; *w = 2; return 0;
	case 0xdf: *k = K_MAP; *w = 4; return 0;
	default:
		return -1;
	}
}

int proto_prescan(const unsigned char *p, size_t len, const struct proto_limits *lim,
		  size_t *end, size_t *nodes, char *detail, size_t detlen)
{
	uint64_t pending[PROTO_PRESCAN_MAX_DEPTH + 1];
	unsigned depth = 0;
	unsigned maxd = lim->max_depth < PROTO_PRESCAN_MAX_DEPTH ?
			lim->max_depth : PROTO_PRESCAN_MAX_DEPTH;
	size_t pos = 0, count = 0;

	pending[0] = 1;
	for (;;) {
		size_t at = pos, left;
		enum kind k;
		unsigned w;
		uint64_t n;

		while (pending[depth] == 0) {
			if (depth == 0)
				goto done;
			depth--;
		}
		pending[depth]--;
		if (pos >= len)
			return proto_detail(PROTO_EPARSE, detail, detlen,
					    "offset %zu: truncated msgpack", pos);
		if (++count > lim->max_nodes)
			return proto_detail(PROTO_ECOUNT, detail, detlen,
					    "offset %zu: more than %u objects", pos, lim->max_nodes);
		if (classify(p[pos], &k, &w, &n) < 0)
			return proto_detail(PROTO_EPARSE, detail, detlen,
					    "offset %zu: type byte 0x%02x (bin, ext or invalid) "
					    "not allowed", pos, p[pos]);
		pos++;
		if (w > len - pos)
			return proto_detail(PROTO_EPARSE, detail, detlen,
					    "offset %zu: truncated msgpack", at);
		if (k != K_SCALAR && w)
			n = be(p + pos, w);
		pos += w;
		left = len - pos;
		if (k == K_STR) {
			if (n > lim->max_string)
				return proto_detail(PROTO_ESTRING, detail, detlen,
						    "offset %zu: string of %llu bytes exceeds %u", at,
						    (unsigned long long)n, lim->max_string);
			if (n > left)
				return proto_detail(PROTO_ECOUNT, detail, detlen,
						    "offset %zu: string of %llu bytes but %zu left", at,
						    (unsigned long long)n, left);
			pos += n;
		} else if (k != K_SCALAR) {
			uint64_t elems = k == K_MAP ? 2 * n : n;

			if (depth + 1 > maxd)
				return proto_detail(PROTO_EDEPTH, detail, detlen,
						    "offset %zu: nesting deeper than %u", at, maxd);
			if (elems > left)
				return proto_detail(PROTO_ECOUNT, detail, detlen,
						    "offset %zu: %s of %llu entries but %zu bytes left",
						    at, k == K_MAP ? "map" : "array",
						    (unsigned long long)n, left);
			if (elems > lim->max_nodes - count)
				return proto_detail(PROTO_ECOUNT, detail, detlen,
						    "offset %zu: more than %u objects", at,
						    lim->max_nodes);
			if (elems)
				pending[++depth] = elems;
		}
	}
done:
	*end = pos;
	*nodes = count;
	return PROTO_OK;
}

int proto_json_prescan(const char *p, size_t len, const struct proto_limits *lim,
		       size_t *nodes, char *detail, size_t detlen)
{
	unsigned maxd = lim->max_depth < PROTO_PRESCAN_MAX_DEPTH ?
			lim->max_depth : PROTO_PRESCAN_MAX_DEPTH;
	unsigned depth = 0;
	size_t count = 1, str_start = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char ch = p[i];

		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
			if (in_str && i - str_start > lim->max_string)
				return proto_detail(PROTO_ESTRING, detail, detlen,
						    "offset %zu: string longer than %u bytes",
						    str_start, lim->max_string);
			continue;
		}
		switch (ch) {
		case '"':
			in_str = true;
			str_start = i + 1;
			break;
		case '{':
		case '[':
			if (++depth > maxd)
				return proto_detail(PROTO_EDEPTH, detail, detlen,
						    "offset %zu: nesting deeper than %u", i, maxd);
			count++; /* the first element, which no separator announces */
			break;
		case '}':
		case ']':
			depth -= depth > 0;
			break;
		case ',':
		case ':':
			count++;
			break;
		default:
			break;
		}
		if (count > lim->max_nodes)
			return proto_detail(PROTO_ECOUNT, detail, detlen,
					    "offset %zu: more than %u objects", i, lim->max_nodes);
	}
	*nodes = count;
	return PROTO_OK;
}
