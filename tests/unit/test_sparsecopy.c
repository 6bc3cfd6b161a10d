/*
 * test_sparsecopy.c - the migration's copy of a volume file (manager/sparsecopy.h): the
 * bytes equal, the holes of the source holes in the copy, odd sizes, a copy run again over a
 * partial or dirty one.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manager/sparsecopy.h"

#define MIB (1 << 20)

static char dir[] = "/tmp/volmgr-sparsecopy-XXXXXX";
static char src_path[64], dst_path[64];

static void setup(void)
{
	cr_assert(mkdtemp(dir) != NULL);
	snprintf(src_path, sizeof(src_path), "%s/src", dir);
	snprintf(dst_path, sizeof(dst_path), "%s/dst", dir);
}

static void teardown(void)
{
	unlink(src_path);
	unlink(dst_path);
	rmdir(dir);
	strcpy(dir, "/tmp/volmgr-sparsecopy-XXXXXX");
}

TestSuite(sparsecopy, .init = setup, .fini = teardown);

/* Writes len bytes of value c at off. */
static void put(int fd, off_t off, size_t len, int c)
{
	char *buf = malloc(len);

	cr_assert(buf != NULL);
	memset(buf, c, len);
	cr_assert(eq(sz, (size_t)pwrite(fd, buf, len, off), len));
	free(buf);
}

/* The data extents of fd as SEEK_DATA / SEEK_HOLE report them, into out; returns the count. */
static int extents(int fd, off_t out[][2], int max)
{
	struct stat st;
	int n = 0;

	cr_assert(fstat(fd, &st) == 0);
	for (off_t off = 0; off < st.st_size && n < max; ) {
		off_t data = lseek(fd, off, SEEK_DATA);
		if (data < 0)
			break;
		off_t hole = lseek(fd, data, SEEK_HOLE);
		out[n][0] = data;
		out[n++][1] = hole;
		off = hole;
	}
	return n;
}

static void assert_same_bytes(int a, int b)
{
	struct stat sa, sb;
	char *x = malloc(MIB), *y = malloc(MIB);

	cr_assert(fstat(a, &sa) == 0 && fstat(b, &sb) == 0);
	cr_assert(eq(i64, (int64_t)sa.st_size, (int64_t)sb.st_size));
	for (off_t off = 0; off < sa.st_size; off += MIB) {
		ssize_t n = pread(a, x, MIB, off);
		cr_assert(n > 0);
		cr_assert(eq(sz, (size_t)pread(b, y, MIB, off), (size_t)n));
		cr_assert(memcmp(x, y, (size_t)n) == 0, "bytes differ near %lld", (long long)off);
	}
	free(x);
	free(y);
}

static void assert_same_extents(int a, int b)
{
	off_t ea[16][2], eb[16][2];
	int na = extents(a, ea, 16), nb = extents(b, eb, 16);

	cr_assert(eq(int, na, nb));
	for (int i = 0; i < na; i++) {
		cr_expect(eq(i64, (int64_t)ea[i][0], (int64_t)eb[i][0]));
		cr_expect(eq(i64, (int64_t)ea[i][1], (int64_t)eb[i][1]));
	}
}

static void copy(int in, int out)
{
	char err[256] = "";

	cr_assert(eq(int, sparsecopy_fd(in, out, 0, NULL, err, sizeof(err)), 0), "%s", err);
}

Test(sparsecopy, holes_stay_holes_and_bytes_are_equal)
{
	int in = open(src_path, O_RDWR | O_CREAT, 0600), out = open(dst_path, O_RDWR | O_CREAT, 0600);

	cr_assert(in >= 0 && out >= 0);
	cr_assert(ftruncate(in, 64 * MIB) == 0);
	put(in, 0, 4096, 'A');
	put(in, 10 * MIB, 3 * MIB + 17, 'B');   /* longer than one buffer, not aligned */
	put(in, 64 * MIB - 4096, 4096, 'Z');
	cr_assert(ftruncate(out, 64 * MIB) == 0);
	copy(in, out);
	assert_same_bytes(in, out);
	assert_same_extents(in, out);
	close(in);
	close(out);
}

Test(sparsecopy, odd_size_grows_the_destination)
{
	int in = open(src_path, O_RDWR | O_CREAT, 0600), out = open(dst_path, O_RDWR | O_CREAT, 0600);

	cr_assert(in >= 0 && out >= 0);
	put(in, 12345, 777, 'q');
	cr_assert(ftruncate(in, 5 * MIB + 3) == 0);
	copy(in, out);
	assert_same_bytes(in, out);
	close(in);
	close(out);
}

Test(sparsecopy, a_copy_again_over_a_dirty_destination_is_exact)
{
	int in = open(src_path, O_RDWR | O_CREAT, 0600), out = open(dst_path, O_RDWR | O_CREAT, 0600);

	cr_assert(in >= 0 && out >= 0);
	cr_assert(ftruncate(in, 16 * MIB) == 0);
	put(in, 2 * MIB, MIB, 'x');
	cr_assert(ftruncate(out, 16 * MIB) == 0);
	/* What an interrupted earlier copy, or anything else, left where the source has holes. */
	put(out, 0, MIB, 'j');
	put(out, 9 * MIB, 2 * MIB, 'k');
	copy(in, out);
	copy(in, out);
	assert_same_bytes(in, out);
	assert_same_extents(in, out);
	close(in);
	close(out);
}

Test(sparsecopy, an_empty_source_is_an_empty_copy)
{
	int in = open(src_path, O_RDWR | O_CREAT, 0600), out = open(dst_path, O_RDWR | O_CREAT, 0600);
	struct stat st;

	cr_assert(in >= 0 && out >= 0);
	copy(in, out);
	cr_assert(fstat(out, &st) == 0);
	cr_expect(eq(i64, (int64_t)st.st_size, 0));
	close(in);
	close(out);
}
