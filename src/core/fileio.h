/* core/fileio.h - files people edit, written so a crash never tears them.
 *
 * hub_file_write_atomic writes <dir>/.<base>.tmp, fsyncs it, renames it over
 * the target and fsyncs the directory: after a crash or kill -9 at any
 * point the target holds the old bytes or the new ones, and at worst a
 * stale .<base>.tmp is left (overwritten by the next write, ignored by
 * directory scans because of its leading dot).
 *
 * Fault injection for tests: SHOWHUB_TEST_WRITE_DELAY_MS=N makes every
 * write pause N ms after writing the first half of the temp file and again
 * before the rename, so a test can kill the process mid-save.
 */
#ifndef HUB_CORE_FILEIO_H
#define HUB_CORE_FILEIO_H

#include <stddef.h>

/* 0, or a negative errno-style code with a line naming the path in err. */
int hub_file_write_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);
/* Remove path and fsync its directory; a missing file is not an error. */
int hub_file_remove(const char *path, char *err, size_t errlen);
/* Read a whole regular file of at most max bytes: *out (NUL-terminated,
 * free with hub_free) and *len. 0, -ENOENT, -EFBIG (larger than max), or
 * another negative code; err names the path and what to do. */
int hub_file_read(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen);
/* mkdir -p (mode 0755). */
int hub_mkdir_p(const char *dir, char *err, size_t errlen);

#endif
