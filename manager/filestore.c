/*
 * filestore.c - the filestore driver: each volume is a sparse file <filestore_dir>/volume-<id>
 * of size << 30 bytes.
 *
 * With [filestore] filestore_compute_feedback, an attached volume is treated like an NFS
 * volume opened by a hypervisor: only the hypervisor can grow the open file, so extend
 * returns DRV_NEEDS_FEEDBACK without touching it, and verify_size later checks that it did.
 *
 * The directory is shared with compute hosts, so a name in it may be anything: files are
 * reached relative to the directory's descriptor, opened once at setup, never through a
 * symbolic link (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW), and only regular files are volumes.
 */
#include "manager/driver.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <linux/fs.h>
#include <unistd.h>

#include "common/cfg.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/util.h"
#include "manager/mconf.h"
#include "manager/sparsecopy.h"

#define GIB_SHIFT 30
/* The driver's version in its capability reports; it changes when what it reports does. */
#define FS_DRIVER_VERSION "1.0.0"

/* filestore_dir, opened by fs_setup. */
static int fs_dirfd = -1;

/* The volume file's name in the directory: the last element of its path. */
static const char *fs_leaf(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

/* The path of the volume whose id is id. */
static int fs_path_of(const char *id, char *out, size_t outlen, char *err, size_t errlen)
{
	/* The id comes from the database, which took it from a validated message, but it is
	 * about to become a path: refuse anything that is not a uuid. */
	if (!util_is_uuid(id)) {
		snprintf(err, errlen, "volume id '%s' is not a uuid", id);
		return DRV_ERROR;
	}
	int n = snprintf(out, outlen, "%s/volume-%s", mconf.filestore_dir, id);
	if (n < 0 || (size_t)n >= outlen) {
		snprintf(err, errlen, "path of volume %s is too long", id);
		return DRV_ERROR;
	}
	return DRV_OK;
}

/* The path of v's file: named after _name_id once a migration moved the volume onto the
 * store of another row (Cinder's volume.name_id), else after the id. */
static int fs_path(const struct vol_row *v, char *out, size_t outlen, char *err, size_t errlen)
{
	return fs_path_of(v->name_id[0] != '\0' ? v->name_id : v->id, out, outlen, err, errlen);
}

static int fs_fail(char *err, size_t errlen, const char *what, const char *path)
{
	snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
	return DRV_ERROR;
}

/* Stats the volume file at path without following a link; only a regular file will do. */
static int fs_stat(const char *path, struct stat *st, char *err, size_t errlen)
{
	if (fstatat(fs_dirfd, fs_leaf(path), st, AT_SYMLINK_NOFOLLOW) != 0)
		return fs_fail(err, errlen, "cannot stat", path);
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		return DRV_ERROR;
	}
	return DRV_OK;
}

/* Makes the directory (and its parents) with mode 0750, like mkdir -p. */
static int fs_setup(char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (util_strlcpy(path, mconf.filestore_dir, sizeof(path)) >= sizeof(path)) {
		snprintf(err, errlen, "filestore_dir is too long");
		return DRV_ERROR;
	}
	for (char *p = path + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(path, 0750) != 0 && errno != EEXIST)
			return fs_fail(err, errlen, "cannot create", path);
		*p = c;
		if (c == '\0')
			break;
	}
	if (fs_dirfd < 0)
		fs_dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs_dirfd < 0)
		return fs_fail(err, errlen, "cannot open the directory", path);
	return DRV_OK;
}

/* Makes sure a new or removed directory entry is on disk before the transaction commits. */
static void fs_sync_dir(void)
{
	(void)fsync(fs_dirfd);
}

/* Opens path (creating it when create is set) and grows it to at least gib GiB, without
 * syncing it. Returns the open descriptor, or -1 with err set. */
static int fs_open_grown(const char *path, int gib, bool create, char *err, size_t errlen)
{
	int fd = openat(fs_dirfd, fs_leaf(path),
			O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | (create ? O_CREAT : 0), 0640);
	if (fd < 0) {
		(void)fs_fail(err, errlen, create ? "cannot create" : "cannot open", path);
		return -1;
	}
	struct stat st;
	off_t want = (off_t)gib << GIB_SHIFT;
	if (fstat(fd, &st) != 0) {
		(void)fs_fail(err, errlen, "cannot stat", path);
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
	} else if (st.st_size < want && ftruncate(fd, want) != 0) {
		(void)fs_fail(err, errlen, "cannot grow", path);
	} else {
		return fd;
	}
	close(fd);
	return -1;
}

/* Syncs and closes fd. Returns DRV_OK or DRV_ERROR with err set. */
static int fs_sync_close(int fd, const char *path, char *err, size_t errlen)
{
	int rc = fsync(fd) == 0 ? DRV_OK : fs_fail(err, errlen, "cannot sync", path);

	close(fd);
	return rc;
}

/* Opens path (creating it when create is set) and grows it to at least gib GiB, durably. */
static int fs_grow(const char *path, int gib, bool create, char *err, size_t errlen)
{
	int fd = fs_open_grown(path, gib, create, err, errlen);
	if (fd < 0)
		return DRV_ERROR;
	int rc = fs_sync_close(fd, path, err, errlen);
	if (rc == DRV_OK && create)
		fs_sync_dir();
	return rc;
}

static int fs_create(const struct vol_row *v, char *location, size_t loclen,
		     char *err, size_t errlen)
{
	if (fs_path(v, location, loclen, err, errlen) != DRV_OK)
		return DRV_ERROR;
	return fs_grow(location, v->size, true, err, errlen);
}

static int fs_remove(const struct vol_row *v, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (fs_path(v, path, sizeof(path), err, errlen) != DRV_OK)
		return DRV_ERROR;
	/* A link put in the volume's place goes, not what it points at. */
	if (unlinkat(fs_dirfd, fs_leaf(path), 0) != 0 && errno != ENOENT)
		return fs_fail(err, errlen, "cannot remove", path);
	fs_sync_dir();
	return DRV_OK;
}

static int fs_extend(const struct vol_row *v, int new_size, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (fs_path(v, path, sizeof(path), err, errlen) != DRV_OK)
		return DRV_ERROR;
	if (mconf.filestore_compute_feedback && v->nattachments > 0)
		return DRV_NEEDS_FEEDBACK;
	/* A missing file is an error, not something to recreate: the volume's data is gone. */
	return fs_grow(path, new_size, false, err, errlen);
}

/* Descriptors one step of fs_extend_group holds open at once. */
#define FS_GROUP_OPEN 64

static void fs_extend_group(const char *const *ids, const int *sizes, int n, int *status)
{
	char path[PATH_MAX];
	char err[PATH_MAX + 128];
	int fds[FS_GROUP_OPEN];

	for (int first = 0; first < n; first += FS_GROUP_OPEN) {
		int k = n - first < FS_GROUP_OPEN ? n - first : FS_GROUP_OPEN;

		/* Grow them all, then sync them all: a missing file is an error, as in extend. */
		for (int i = 0; i < k; i++) {
			fds[i] = -1;
			status[first + i] = DRV_ERROR;
			if (fs_path_of(ids[first + i], path, sizeof(path), err, sizeof(err)) == DRV_OK)
				fds[i] = fs_open_grown(path, sizes[first + i], false, err,
						       sizeof(err));
			if (fds[i] < 0)
				log_warning("volume %s: %s", ids[first + i], err);
		}
		for (int i = 0; i < k; i++) {
			if (fds[i] < 0)
				continue;
			/* The message of a failed sync names the volume rather than its path. */
			status[first + i] = fs_sync_close(fds[i], ids[first + i], err, sizeof(err));
			if (status[first + i] != DRV_OK)
				log_warning("volume %s: %s", ids[first + i], err);
		}
	}
}

static int fs_verify_size(const struct vol_row *v, int size, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;

	if (fs_path(v, path, sizeof(path), err, errlen) != DRV_OK ||
	    fs_stat(path, &st, err, errlen) != DRV_OK)
		return DRV_ERROR;
	if (st.st_size < ((off_t)size << GIB_SHIFT)) {
		snprintf(err, errlen, "%s holds %jd bytes, less than %d GiB", path,
			 (intmax_t)st.st_size, size);
		return DRV_ERROR;
	}
	return DRV_OK;
}

/*
 * The file is reached by its path, as os-brick's "local" connector takes it (data.device_path):
 * a host that mounts filestore_dir at the same path (NFS-like) opens the file directly, so
 * there is nothing to export.
 */
static int fs_initialize_connection(const struct vol_row *v, const struct pv *connector,
				    struct pv_arena *a, struct pv **info, char *err,
				    size_t errlen)
{
	char path[PATH_MAX];
	struct pv *data = pv_new_map(a, 8);
	struct stat st;

	(void)connector;
	*info = pv_new_map(a, 2);
	if (fs_path(v, path, sizeof(path), err, errlen) != DRV_OK ||
	    fs_stat(path, &st, err, errlen) != DRV_OK)
		return DRV_ERROR;
	pv_map_put_str(a, *info, "driver_volume_type", "local");
	pv_map_put_str(a, data, "device_path", path);
	pv_map_put(a, *info, "data", data);
	if (a->failed) {
		snprintf(err, errlen, "out of memory");
		return DRV_ERROR;
	}
	return DRV_OK;
}

static int fs_terminate_connection(const struct vol_row *v, const struct pv *connector,
				   char *err, size_t errlen)
{
	(void)v;
	(void)connector;
	(void)err;
	(void)errlen;
	return DRV_OK;
}

/* The destination is another backend's file, reached by the absolute path its manager
 * answered; like the volumes here it must be a regular file and no link. */
static int fs_copy_to(const struct vol_row *v, const char *dst_path, int delay_ms,
		      volatile sig_atomic_t *stop, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	int in = -1, out = -1, rc = DRV_ERROR;

	if (fs_path(v, path, sizeof(path), err, errlen) != DRV_OK)
		return DRV_ERROR;
	in = openat(fs_dirfd, fs_leaf(path), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (in < 0)
		return fs_fail(err, errlen, "cannot open", path);
	out = open(dst_path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (out < 0) {
		(void)fs_fail(err, errlen, "cannot open", dst_path);
		goto out;
	}
	if (fstat(out, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", dst_path);
		goto out;
	}
	if (sparsecopy_fd(in, out, delay_ms, stop, err, errlen) == 0)
		rc = DRV_OK;
out:
	if (out >= 0)
		close(out);
	close(in);
	return rc;
}

/* The kinds of store the service names "<kind>-<uuid>" in the directory. */
static const char *const fs_owner_kinds[] = { "volume", "snapshot" };

/* The suffix of fs_clone's copy in progress, "<kind>-<uuid>.tmp". */
#define FS_TMP_SUFFIX ".tmp"

/* Fills st for the directory entry name, whose stat is sb. A copy in progress
 * ("<kind>-<uuid>.tmp") belongs to its uuid as the finished store would: it is not safe to
 * manage while its owner lives. */
static void fs_describe(const char *name, const struct stat *sb, struct drv_store *st)
{
	memset(st, 0, sizeof(*st));
	util_strlcpy(st->name, name, sizeof(st->name));
	st->bytes = (long long)sb->st_size;
	for (size_t i = 0; i < sizeof(fs_owner_kinds) / sizeof(fs_owner_kinds[0]); i++) {
		size_t k = strlen(fs_owner_kinds[i]);
		char id[sizeof(st->owner_id)];

		if (strncmp(name, fs_owner_kinds[i], k) != 0 || name[k] != '-')
			continue;
		util_strlcpy(id, name + k + 1, sizeof(id));
		if (util_is_uuid(id) && (name[k + 1 + strlen(id)] == '\0' ||
					 strcmp(name + k + 1 + strlen(id), FS_TMP_SUFFIX) == 0)) {
			util_strlcpy(st->owner_kind, fs_owner_kinds[i], sizeof(st->owner_kind));
			util_strlcpy(st->owner_id, id, sizeof(st->owner_id));
		}
	}
}

/* A manage reference must name an entry of the directory itself: a plain name, never a path
 * that leaves it. */
static int fs_check_ref(const char *ref, char *err, size_t errlen)
{
	if (ref[0] == '\0' || strchr(ref, '/') != NULL || strcmp(ref, ".") == 0 ||
	    strcmp(ref, "..") == 0 || strlen(ref) >= NAME_MAX) {
		snprintf(err, errlen, "'%s' is not the name of a file in the filestore directory",
			 ref);
		return DRV_ERROR;
	}
	return DRV_OK;
}

static int fs_manage_stat(const struct vol_row *v, const char *ref, struct drv_store *st,
			  char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat sb;

	if (fs_check_ref(ref, err, errlen) != DRV_OK)
		return DRV_ERROR;
	if (fstatat(fs_dirfd, ref, &sb, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT) {
		/* Adopted by an earlier try whose commit was lost: the volume's own file. */
		if (fs_path(v, path, sizeof(path), err, errlen) != DRV_OK)
			return DRV_ERROR;
		if (fstatat(fs_dirfd, fs_leaf(path), &sb, AT_SYMLINK_NOFOLLOW) != 0) {
			snprintf(err, errlen, "no file named '%s' in the filestore directory", ref);
			return DRV_ERROR;
		}
		ref = fs_leaf(path);
	} else if (fs_stat(ref, &sb, err, errlen) != DRV_OK) {
		return DRV_ERROR;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "'%s' is not a regular file", ref);
		return DRV_ERROR;
	}
	fs_describe(ref, &sb, st);
	return DRV_OK;
}

/* The file keeps its bytes and takes the volume's name (as Cinder's NFS driver renames a
 * managed image to the volume's name), so that every other operation finds it where it finds
 * any volume's file; it is grown, sparsely, to the whole GiB the volume's size says. */
static int fs_manage(const struct vol_row *v, const char *ref, char *location, size_t loclen,
		     char *err, size_t errlen)
{
	if (fs_check_ref(ref, err, errlen) != DRV_OK ||
	    fs_path(v, location, loclen, err, errlen) != DRV_OK)
		return DRV_ERROR;
	if (strcmp(ref, fs_leaf(location)) != 0 &&
	    renameat(fs_dirfd, ref, fs_dirfd, fs_leaf(location)) != 0 && errno != ENOENT)
		return fs_fail(err, errlen, "cannot rename", ref);
	fs_sync_dir();
	return fs_grow(location, v->size, false, err, errlen);
}

/* Entries listed at most, a bound on the answer's size. */
#define FS_LIST_MAX 4096

static int fs_list_stores(struct drv_store **out, int *n, char *err, size_t errlen)
{
	int fd = openat(fs_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct drv_store *list = NULL;
	struct dirent *de;
	struct stat sb;
	DIR *dir;

	*out = NULL;
	*n = 0;
	dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (dir == NULL) {
		if (fd >= 0)
			close(fd);
		return fs_fail(err, errlen, "cannot list", mconf.filestore_dir);
	}
	list = calloc(FS_LIST_MAX, sizeof(*list));
	if (list == NULL) {
		closedir(dir);
		snprintf(err, errlen, "out of memory");
		return DRV_ERROR;
	}
	/* Only regular files can be volumes; links and anything else are not listed, nor a name
	 * that is not UTF-8, which no reference (a JSON string) could carry. */
	while (*n < FS_LIST_MAX && (de = readdir(dir)) != NULL)
		if (utf8_valid(de->d_name) &&
		    fstatat(fs_dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode))
			fs_describe(de->d_name, &sb, &list[(*n)++]);
	closedir(dir);
	*out = list;
	return DRV_OK;
}

static int fs_image_source(const struct vol_row *v, int *fd, long long *len, char *err,
			   size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;

	if (fs_path(v, path, sizeof(path), err, errlen) != DRV_OK)
		return DRV_ERROR;
	*fd = openat(fs_dirfd, fs_leaf(path), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (*fd < 0)
		return fs_fail(err, errlen, "cannot open", path);
	if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", path);
		close(*fd);
		*fd = -1;
		return DRV_ERROR;
	}
	*len = (long long)st.st_size;
	return DRV_OK;
}

/* Truncating to nothing and growing again leaves a sparse file of zeros. */
static int fs_image_target(const struct vol_row *v, int *fd, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (fs_path(v, path, sizeof(path), err, errlen) != DRV_OK)
		return DRV_ERROR;
	*fd = fs_open_grown(path, v->size, false, err, errlen);
	if (*fd < 0)
		return DRV_ERROR;
	if (ftruncate(*fd, 0) != 0 || ftruncate(*fd, (off_t)v->size << GIB_SHIFT) != 0) {
		(void)fs_fail(err, errlen, "cannot empty", path);
		close(*fd);
		*fd = -1;
		return DRV_ERROR;
	}
	return DRV_OK;
}

static int fs_image_close(const struct vol_row *v, int fd, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (fs_path(v, path, sizeof(path), err, errlen) != DRV_OK) {
		close(fd);
		return DRV_ERROR;
	}
	return fs_sync_close(fd, path, err, errlen);
}

/* ---- snapshots and clones ---- */

/* The path of snapshot id's file. */
static int fs_snapshot_path(const char *id, char *out, size_t outlen, char *err, size_t errlen)
{
	if (!util_is_uuid(id)) {
		snprintf(err, errlen, "snapshot id '%s' is not a uuid", id);
		return DRV_ERROR;
	}
	int n = snprintf(out, outlen, "%s/snapshot-%s", mconf.filestore_dir, id);
	if (n < 0 || (size_t)n >= outlen) {
		snprintf(err, errlen, "path of snapshot %s is too long", id);
		return DRV_ERROR;
	}
	return DRV_OK;
}

/* Makes out's bytes in's: a reflink (FICLONE) where the file system shares extents, else
 * the sparse copy. */
static int fs_clone_fd(int in, int out, const char *path, char *err, size_t errlen)
{
	if (ioctl(out, FICLONE, in) == 0)
		return DRV_OK;
	if (errno != EOPNOTSUPP && errno != ENOTTY && errno != EXDEV && errno != EINVAL &&
	    errno != ENOSYS)
		return fs_fail(err, errlen, "cannot clone into", path);
	return sparsecopy_fd(in, out, 0, NULL, err, errlen) == 0 ? DRV_OK : DRV_ERROR;
}

/*
 * Makes dst a copy of src grown to at least gib GiB: the copy is made in "<dst>.tmp" (a
 * leftover of an earlier try is truncated first), synced, and renamed over dst, then the
 * directory is synced.
 */
static int fs_clone(const char *src, const char *dst, int gib, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	int in = -1, out = -1, rc = DRV_ERROR;
	struct stat st;

	if (snprintf(tmp, sizeof(tmp), "%s" FS_TMP_SUFFIX, dst) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "path %s is too long", dst);
		return DRV_ERROR;
	}
	in = openat(fs_dirfd, fs_leaf(src), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (in < 0)
		return fs_fail(err, errlen, "cannot open", src);
	if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s is not a regular file", src);
		goto out;
	}
	out = openat(fs_dirfd, fs_leaf(tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW |
		     O_NONBLOCK, 0640);
	if (out < 0) {
		(void)fs_fail(err, errlen, "cannot create", tmp);
		goto out;
	}
	if (fs_clone_fd(in, out, tmp, err, errlen) != DRV_OK)
		goto out;
	if (st.st_size < ((off_t)gib << GIB_SHIFT) && ftruncate(out, (off_t)gib << GIB_SHIFT) != 0) {
		(void)fs_fail(err, errlen, "cannot grow", tmp);
		goto out;
	}
	rc = fs_sync_close(out, tmp, err, errlen);
	out = -1;
	if (rc == DRV_OK && renameat(fs_dirfd, fs_leaf(tmp), fs_dirfd, fs_leaf(dst)) != 0)
		rc = fs_fail(err, errlen, "cannot rename into place", dst);
	if (rc == DRV_OK)
		fs_sync_dir();
out:
	if (out >= 0)
		close(out);
	if (rc != DRV_OK)
		(void)unlinkat(fs_dirfd, fs_leaf(tmp), 0);
	close(in);
	return rc;
}

static int fs_snapshot_create(const struct vol_row *v, const char *snapshot_id, char *location,
			      size_t loclen, char *err, size_t errlen)
{
	char src[PATH_MAX];

	if (fs_path(v, src, sizeof(src), err, errlen) != DRV_OK ||
	    fs_snapshot_path(snapshot_id, location, loclen, err, errlen) != DRV_OK)
		return DRV_ERROR;
	return fs_clone(src, location, 0, err, errlen);
}

static int fs_snapshot_remove(const char *snapshot_id, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (fs_snapshot_path(snapshot_id, path, sizeof(path), err, errlen) != DRV_OK)
		return DRV_ERROR;
	if (unlinkat(fs_dirfd, fs_leaf(path), 0) != 0 && errno != ENOENT)
		return fs_fail(err, errlen, "cannot remove", path);
	fs_sync_dir();
	return DRV_OK;
}

static int fs_from_snapshot(const struct vol_row *v, const char *snapshot_id, char *err,
			    size_t errlen)
{
	char src[PATH_MAX], dst[PATH_MAX];

	if (fs_snapshot_path(snapshot_id, src, sizeof(src), err, errlen) != DRV_OK ||
	    fs_path(v, dst, sizeof(dst), err, errlen) != DRV_OK)
		return DRV_ERROR;
	return fs_clone(src, dst, v->size, err, errlen);
}

static int fs_from_volume(const struct vol_row *v, const struct vol_row *srcv, char *err,
			  size_t errlen)
{
	char src[PATH_MAX], dst[PATH_MAX];

	if (fs_path(srcv, src, sizeof(src), err, errlen) != DRV_OK ||
	    fs_path(v, dst, sizeof(dst), err, errlen) != DRV_OK)
		return DRV_ERROR;
	return fs_clone(src, dst, v->size, err, errlen);
}

/*
 * The file system of the directory, as Cinder's NFS driver reports its share: the total size,
 * and as free what an unprivileged writer may still use (f_bavail, without the blocks kept
 * for root), both in GiB. Volumes are sparse files, so the backend provisions thin; a file
 * may be opened by several compute hosts at once, so it can be multiattached.
 */
static int fs_stats(struct drv_stats *st, char *err, size_t errlen)
{
	struct statvfs vfs;
	const double gib = (double)(1ULL << GIB_SHIFT);

	if (fstatvfs(fs_dirfd, &vfs) != 0)
		return fs_fail(err, errlen, "cannot statvfs", mconf.filestore_dir);
	*st = (struct drv_stats){
		.vendor_name = "Open Source",
		.driver_version = FS_DRIVER_VERSION,
		.storage_protocol = "local",
		.total_capacity_gb = (double)vfs.f_blocks * (double)vfs.f_frsize / gib,
		.free_capacity_gb = (double)vfs.f_bavail * (double)vfs.f_frsize / gib,
		.thin_provisioning = true,
		.multiattach = true,
	};
	snprintf(st->location_info, sizeof(st->location_info), "filestore:%s:%s",
		 cfg_common.host, mconf.filestore_dir);
	return DRV_OK;
}

const struct drv_ops filestore_driver = {
	.name = "filestore",
	.setup = fs_setup,
	.create = fs_create,
	.remove = fs_remove,
	.extend = fs_extend,
	.extend_group = fs_extend_group,
	.verify_size = fs_verify_size,
	.initialize_connection = fs_initialize_connection,
	.terminate_connection = fs_terminate_connection,
	.copy_to = fs_copy_to,
	.manage_stat = fs_manage_stat,
	.manage = fs_manage,
	.list_stores = fs_list_stores,
	.image_source = fs_image_source,
	.image_target = fs_image_target,
	.image_close = fs_image_close,
	.snapshot_create = fs_snapshot_create,
	.snapshot_remove = fs_snapshot_remove,
	.from_snapshot = fs_from_snapshot,
	.from_volume = fs_from_volume,
	.stats = fs_stats,
};
