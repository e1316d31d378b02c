/* bench/lg_sync.c - blocking HTTP GET (see lg_sync.h). */
#include "lg_sync.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lg_cmd.h"

static int wait_fd(int fd, short ev, uint64_t deadline_ns)
{
    uint64_t now = lg_now_ns();
    if (now >= deadline_ns)
        return -1;
    struct pollfd p = {.fd = fd, .events = ev};
    int rc = poll(&p, 1, (int)((deadline_ns - now) / 1000000 + 1));
    return rc > 0 ? 0 : -1;
}

/* Decode a chunked body in place; returns its length. */
static size_t unchunk(char *b, size_t len)
{
    size_t in = 0, out = 0;
    while (in < len) {
        char *eol = memmem(b + in, len - in, "\r\n", 2);
        if (!eol)
            break;
        size_t n = strtoul(b + in, NULL, 16);
        size_t data = (size_t)(eol - b) + 2;
        if (n == 0 || data + n > len)
            break;
        memmove(b + out, b + data, n);
        out += n;
        in = data + n + 2;
    }
    b[out] = 0;
    return out;
}

int lg_sync_get(const char *host, int port, const char *path, int timeout_ms, char **body,
                size_t *len)
{
    uint64_t deadline = lg_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    char req[512];
    int status = -1;
    inet_pton(AF_INET, host, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
        goto out;
    if (wait_fd(fd, POLLOUT, deadline) < 0)
        goto out;
    int err = 0;
    socklen_t el = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err)
        goto out;
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                     path, host);
    if (write(fd, req, (size_t)n) != n)
        goto out;
    size_t cap = 65536, got = 0;
    char *buf = malloc(cap);
    if (!buf)
        abort();
    long clen = -1;
    int chunked = 0;
    char *hend = NULL;
    for (;;) {
        if (hend && !chunked && clen >= 0 && got >= (size_t)(hend - buf) + 4 + (size_t)clen)
            break;
        if (hend && chunked && memmem(hend, got - (size_t)(hend - buf), "\r\n0\r\n\r\n", 7))
            break;
        if (wait_fd(fd, POLLIN, deadline) < 0) {
            free(buf);
            goto out;
        }
        if (cap - got < 4096) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf)
                abort();
        }
        ssize_t r = read(fd, buf + got, cap - got - 1);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        buf[got] = 0;
        if (!hend && (hend = memmem(buf, got, "\r\n\r\n", 4))) {
            *hend = 0;
            for (char *p = strchr(buf, '\n'); p; p = strchr(p + 1, '\n')) {
                if (!strncasecmp(p + 1, "content-length:", 15))
                    clen = strtol(p + 16, NULL, 10);
                if (!strncasecmp(p + 1, "transfer-encoding:", 18) && strstr(p, "chunked"))
                    chunked = 1;
            }
            *hend = '\r';
        }
    }
    if (!hend || got < 12) {
        free(buf);
        goto out;
    }
    status = atoi(buf + 9);
    size_t hl = (size_t)(hend - buf) + 4;
    size_t bl = got - hl;
    if (!chunked && clen >= 0 && (size_t)clen < bl)
        bl = (size_t)clen;
    memmove(buf, buf + hl, bl);
    buf[bl] = 0;
    if (chunked)
        bl = unchunk(buf, bl);
    if (body)
        *body = buf;
    else
        free(buf);
    if (len)
        *len = bl;
out:
    close(fd);
    return status;
}

double lg_metric(const char *text, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, nl) != 0 || (p[nl] != ' ' && p[nl] != '{'))
            continue;
        const char *v = p + nl;
        if (*v == '{') {
            v = strchr(v, '}');
            if (!v)
                return NAN;
            v++;
        }
        return strtod(v, NULL);
    }
    return NAN;
}

int lg_sync_state(const char *host, int port, uint32_t *value, uint64_t *seq)
{
    char *body = NULL;
    size_t len = 0;
    int st = lg_sync_get(host, port, "/rgb", 5000, &body, &len);
    int rc = -1;
    if (st == 200 && lg_parse_state(body, len, value, seq) == 0)
        rc = 0;
    free(body);
    return rc;
}
