/* core/fileio.c - atomic file writes, whole-file reads (see fileio.h). */
#include "core/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/mem.h"

static int delay_ms(void)
{
    const char *v = getenv("SHOWHUB_TEST_WRITE_DELAY_MS");
    return v != NULL ? atoi(v) : 0;
}

static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (ms > 0 && nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* dir of path into out ("." when it has none). */
static void dir_of(const char *path, char *out, size_t n)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(out, n, ".");
    else if (slash == path)
        snprintf(out, n, "/");
    else
        snprintf(out, n, "%.*s", (int)(slash - path), path);
}

static int sync_dir(const char *path)
{
    char dir[4096];
    dir_of(path, dir, sizeof(dir));
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) != 0 ? -errno : 0;
    close(fd);
    return rc;
}

int hub_file_write_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    char tmp[4096], dir[4096];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    int delay = delay_ms();
    int fd, rc;

    dir_of(path, dir, sizeof(dir));
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, base) >= sizeof(tmp)) {
        snprintf(err, errlen, "%.200s: the path is too long", path);
        return -ENAMETOOLONG;
    }
    /* A stale temp file (a crash mid-save) goes; a symlink planted there is
     * removed, never followed. */
    unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot create %.200s: %s (check the directory's permissions)", tmp,
                 strerror(-rc));
        return rc;
    }
    rc = write_all(fd, data, len / 2);
    if (rc == 0 && delay > 0)
        pause_ms(delay);
    if (rc == 0)
        rc = write_all(fd, (const char *)data + len / 2, len - len / 2);
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && delay > 0)
        pause_ms(delay);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0) {
        snprintf(err, errlen, "cannot write %.200s: %s (check free space and permissions)", path,
                 strerror(-rc));
        unlink(tmp);
        return rc;
    }
    rc = sync_dir(path);
    if (rc != 0)
        snprintf(err, errlen, "cannot sync the directory of %.200s: %s", path, strerror(-rc));
    return rc;
}

int hub_file_remove(const char *path, char *err, size_t errlen)
{
    if (unlink(path) != 0 && errno != ENOENT) {
        int rc = -errno;
        snprintf(err, errlen, "cannot remove %.200s: %s", path, strerror(-rc));
        return rc;
    }
    int rc = sync_dir(path);
    if (rc != 0)
        snprintf(err, errlen, "cannot sync the directory of %.200s: %s", path, strerror(-rc));
    return rc;
}

int hub_file_read(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = 0;

    *out = NULL;
    *len = 0;
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot open %.200s: %s", path, strerror(-rc));
        return rc;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(err, errlen, "%.200s is not a regular file", path);
        return -EINVAL;
    }
    if ((unsigned long long)st.st_size > max) {
        close(fd);
        snprintf(err, errlen, "%.200s is %lld bytes, more than the limit of %zu", path,
                 (long long)st.st_size, max);
        return -EFBIG;
    }
    char *buf = hub_malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? -errno : -EIO;
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    if (rc != 0) {
        hub_free(buf);
        snprintf(err, errlen, "cannot read %.200s: %s", path, strerror(-rc));
        return rc;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

int hub_mkdir_p(const char *dir, char *err, size_t errlen)
{
    char buf[4096];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof(buf)) {
        snprintf(err, errlen, "bad directory path");
        return -EINVAL;
    }
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            int rc = -errno;
            snprintf(err, errlen, "cannot create %.200s: %s", buf, strerror(-rc));
            return rc;
        }
        buf[i] = c;
    }
    return 0;
}
