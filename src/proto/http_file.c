/* proto/http_file.c - a domain's file routes: downloads with Range.
 *
 * A file route (hub_route_def_t.file, e.g. GET /api/v1/shows/<name>/audio)
 * makes the same trip as a read route: its callback runs on the loop thread
 * with the domain's context and names a file and its content type, or
 * refuses (the /api/v1 error with the status of err->code). The answer comes
 * back to the network thread, which opens the file and sends it from lws
 * writable callbacks, one chunk (64 KiB) per callback, so a 100 MB audio file
 * never sits in memory and a slow client only holds one chunk. The headers
 * go out with the first chunk; after the last one the exchange completes as
 * any other (keep-alive). A client that takes nothing for FILE_STALL_SECS is
 * dropped (an lws timeout); one that leaves mid-file closes the file with
 * its connection (LWS_CALLBACK_CLOSED_HTTP resets the connection's state).
 *
 * Ranges (RFC 7233): one range "bytes=a-b", "bytes=a-" or "bytes=-n" gets
 * 206 with Content-Range; a range starting at or past the end (or "-0")
 * gets 416 with a Content-Range of the size alone (4.2). A header
 * that is not a valid byte-range set is ignored (200, the whole file), as
 * 3.1 requires. Several ranges are ignored too (200): 3.1 lets a server
 * ignore Range, and one 206 part for a request of several would surprise a
 * client waiting for multipart/byteranges, which we do not write; media
 * players ask for one range at a time. If-Range is ignored (a client that
 * sends it gets the range even if the file changed): these files change only
 * when an operator replaces them, and Last-Modified lets a client notice.
 *
 * Auth: a file route follows the other /api/v1 reads, which are open (the
 * API key guards mutations: x-api-key on REST, ?token= on /ws). A browser's
 * <audio src> cannot send headers, so a "?token=<key>" in the URL is
 * accepted as it is on /ws: it does not change routing (the route sees it in
 * rq->query) and needs no check while reads are open.
 *
 * Threading: hub__file_query on the loop thread; the rest on the
 * connection's network thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/jbuf.h"
#include "core/log.h"
#include "core/mem.h"
#include "proto/proto_int.h"

#define FILE_CHUNK      (64 * 1024) /* body bytes per writable callback */
#define FILE_HDR_MAX    2048        /* room for the headers (first write) */
#define FILE_STALL_SECS 60          /* a client that reads nothing this long is dropped */

struct hub_http_file {
    int fd;
    int status; /* 200 or 206 */
    const char *ctype;
    uint64_t size;  /* the whole file */
    uint64_t start; /* first byte of the body */
    uint64_t len;   /* body bytes */
    uint64_t sent;  /* body bytes written */
    time_t mtime;
    int headers_sent;
    unsigned char *buf; /* LWS_PRE + FILE_HDR_MAX + FILE_CHUNK */
};

/* ---- the Range header ------------------------------------------------------- */

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* 1*DIGIT, saturating at UINT64_MAX (a huge first-byte-pos is still a
 * valid, unsatisfiable range). Returns the end, or NULL without a digit. */
static const char *parse_pos(const char *p, uint64_t *out)
{
    uint64_t v = 0;
    if (*p < '0' || *p > '9')
        return NULL;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    *out = v;
    return p;
}

hub_range_kind_t hub__http_range_parse(const char *hdr, uint64_t size, hub_range_t *out)
{
    /* byte-ranges-specifier = bytes-unit "=" byte-range-set
     * byte-range-set = 1#( byte-range-spec / suffix-byte-range-spec )
     * byte-range-spec = first-byte-pos "-" [ last-byte-pos ]
     * suffix-byte-range-spec = "-" suffix-length
     * A list (#) may have empty elements and OWS around its commas. */
    uint64_t first = 0, last = 0;
    int nspecs = 0, suffix = 0, has_last = 0;
    const char *p;

    memset(out, 0, sizeof(*out));
    out->kind = HUB_RANGE_NONE;
    if (hdr == NULL)
        return HUB_RANGE_NONE;
    p = skip_ows(hdr);
    if (strncasecmp(p, "bytes=", 6) != 0)
        return HUB_RANGE_NONE; /* no header, or a unit we do not know: ignore */
    p += 6;
    for (;;) {
        p = skip_ows(p);
        if (*p == ',') { /* an empty element */
            p++;
            continue;
        }
        if (*p == '\0')
            break;
        uint64_t a = 0, b = 0;
        int sfx = 0, hb = 0;
        if (*p == '-') {
            sfx = 1;
            if ((p = parse_pos(p + 1, &a)) == NULL)
                return HUB_RANGE_NONE;
        } else {
            if ((p = parse_pos(p, &a)) == NULL || *p != '-')
                return HUB_RANGE_NONE;
            p++;
            if (*p >= '0' && *p <= '9') {
                p = parse_pos(p, &b);
                hb = 1;
                if (b < a) /* syntactically invalid (2.1): ignore the header */
                    return HUB_RANGE_NONE;
            }
        }
        p = skip_ows(p);
        if (*p != ',' && *p != '\0')
            return HUB_RANGE_NONE;
        if (nspecs++ == 0) {
            first = a;
            last = b;
            suffix = sfx;
            has_last = hb;
        }
    }
    if (nspecs != 1) /* none is invalid; several: the whole file (see above) */
        return HUB_RANGE_NONE;
    if (suffix) {
        if (first == 0)
            return out->kind = HUB_RANGE_UNSATISFIABLE;
        if (size == 0) /* nothing to send a part of: the (empty) whole */
            return HUB_RANGE_NONE;
        out->start = first >= size ? 0 : size - first;
        out->end = size - 1;
        return out->kind = HUB_RANGE_ONE;
    }
    if (first >= size)
        return out->kind = HUB_RANGE_UNSATISFIABLE;
    out->start = first;
    out->end = !has_last || last >= size ? size - 1 : last;
    return out->kind = HUB_RANGE_ONE;
}

/* ---- the loop thread: ask the route ------------------------------------------ */

hub_answer_t *hub__file_query(hub_peer_t *peer, hub_query_t *q)
{
    hub_answer_t *a = hub_calloc(1, sizeof(*a));
    char path[4096];
    const char *ctype = NULL;
    hub_error_t err;

    a->peer = peer;
    a->status = 200;
    a->ctype = "application/json";
    memset(&err, 0, sizeof(err));
    path[0] = '\0';
    if (q->route->file(q->route_ctx, q->rq, path, sizeof(path), &ctype, &err) != 0 ||
        path[0] == '\0') {
        hub_jbuf_t b;
        if (err.code == HUB_ERR_NONE) /* refused without saying why */
            hub_error_set(&err, HUB_ERR_NOT_FOUND, "", "no such file");
        hub_jbuf_init(&b);
        hub_jbuf_open(&b, '{');
        hub_jbuf_key(&b, "ok");
        hub_jbuf_bool(&b, 0);
        hub_jbuf_key(&b, "error");
        hub_jbuf_open(&b, '{');
        hub_jbuf_key(&b, "code");
        hub_jbuf_str(&b, hub_errcode_name(err.code));
        hub_jbuf_key(&b, "message");
        hub_jbuf_str(&b, err.msg);
        if (err.field[0] != '\0') {
            hub_jbuf_key(&b, "field");
            hub_jbuf_str(&b, err.field);
        }
        hub_jbuf_close(&b, '}');
        hub_jbuf_close(&b, '}');
        a->status = hub_errcode_http(err.code);
        a->retry_after = err.code == HUB_ERR_OVERLOADED || err.code == HUB_ERR_DROPPED;
        a->body = hub_jbuf_take(&b, &a->len);
        return a;
    }
    a->file = hub_strdup(path);
    a->ctype = ctype != NULL ? ctype : "application/octet-stream";
    return a;
}

/* ---- the network thread: send it ------------------------------------------------ */

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

void hub__http_file_begin(struct lws *wsi, hub_pss_t *pss, const hub_answer_t *a)
{
    char msg[160], val[64];
    struct stat st;
    hub_range_t r;
    int fd, err;

    hub__http_file_end(pss);
    /* O_NONBLOCK: a FIFO where the file should be must not block the thread;
     * it is refused below, and reads of a regular file ignore the flag. */
    fd = open(a->file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        err = fd < 0 ? errno : 0;
        if (fd >= 0)
            close(fd);
        if (err == EMFILE || err == ENFILE) {
            hub__http_add_header(pss, "retry-after:", "1");
            hub__http_respond_api_error(wsi, pss, 503, HUB_ERR_OVERLOADED,
                                        "out of file descriptors: retry later");
            return;
        }
        if (err != 0 && err != ENOENT && err != ENOTDIR)
            hub_log(HUB_LOG_WARN, "http_file_unreadable", "{s:s,s:s}", "file", a->file, "error",
                    strerror(err));
        snprintf(msg, sizeof(msg), "file not found: %.100s%s%s", base_name(a->file),
                 err != 0 && err != ENOENT && err != ENOTDIR ? ": " : "",
                 err != 0 && err != ENOENT && err != ENOTDIR ? strerror(err) : "");
        hub__http_respond_api_error(wsi, pss, 404, HUB_ERR_NOT_FOUND, msg);
        return;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (hub__http_range_parse(pss->range, size, &r) == HUB_RANGE_UNSATISFIABLE) {
        close(fd);
        snprintf(val, sizeof(val), "bytes */%llu", (unsigned long long)size);
        hub__http_add_header(pss, "content-range:", val);
        hub__http_add_header(pss, "accept-ranges:", "bytes");
        snprintf(msg, sizeof(msg), "range not satisfiable: the file has %llu bytes",
                 (unsigned long long)size);
        hub__http_respond_api_error(wsi, pss, 416, HUB_ERR_INVALID, msg);
        return;
    }
    hub_http_file_t *f = hub_calloc(1, sizeof(*f));
    f->fd = fd;
    f->ctype = a->ctype;
    f->size = size;
    f->mtime = st.st_mtime;
    if (r.kind == HUB_RANGE_ONE) {
        f->status = 206;
        f->start = r.start;
        f->len = r.end - r.start + 1;
    } else {
        f->status = 200;
        f->len = size;
    }
    f->buf = hub_malloc(LWS_PRE + FILE_HDR_MAX + FILE_CHUNK);
    pss->file = f;
    if (pss->http10)
        pss->resp.close_after = 1;
    lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, FILE_STALL_SECS);
    lws_callback_on_writable(wsi);
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                      unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                       (const unsigned char *)value, (int)strlen(value), p, end);
}

static int write_headers(struct lws *wsi, hub_pss_t *pss, hub_http_file_t *f, unsigned char **p,
                         unsigned char *end)
{
    const hub_http_resp_t *r = &pss->resp;
    char val[96];
    struct tm tm;

    if (lws_add_http_common_headers(wsi, (unsigned)f->status, f->ctype, (lws_filepos_t)f->len, p,
                                    end) ||
        add_header(wsi, "accept-ranges:", "bytes", p, end) ||
        add_header(wsi, "cache-control:", "no-cache", p, end) ||
        add_header(wsi, "x-content-type-options:", "nosniff", p, end))
        return -1;
    if (f->status == 206) {
        snprintf(val, sizeof(val), "bytes %llu-%llu/%llu", (unsigned long long)f->start,
                 (unsigned long long)(f->start + f->len - 1), (unsigned long long)f->size);
        if (add_header(wsi, "content-range:", val, p, end))
            return -1;
    }
    if (gmtime_r(&f->mtime, &tm) != NULL &&
        strftime(val, sizeof(val), "%a, %d %b %Y %H:%M:%S GMT", &tm) > 0 &&
        add_header(wsi, "last-modified:", val, p, end))
        return -1;
    for (int i = 0; i < r->nextra; i++) { /* CORS, staged when the request came */
        if (add_header(wsi, r->hname[i], r->hval[i], p, end))
            return -1;
        /* a script (fetch with Range) may read what it got */
        if (strcmp(r->hname[i], "access-control-allow-origin:") == 0 &&
            add_header(wsi, "access-control-expose-headers:",
                       "content-range, accept-ranges, content-length, last-modified", p, end))
            return -1;
    }
    if (r->close_after && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                                       (const unsigned char *)"close", 5, p, end))
        return -1;
    return lws_finalize_http_header(wsi, p, end) ? -1 : 0;
}

int hub__http_file_write(struct lws *wsi, hub_pss_t *pss)
{
    hub_http_file_t *f = pss->file;
    unsigned char *start = f->buf + LWS_PRE, *p = start;

    if (!f->headers_sent) {
        if (write_headers(wsi, pss, f, &p, start + FILE_HDR_MAX) != 0) {
            hub_log(HUB_LOG_WARN, "http_file_headers", "{s:s}", "error", "headers do not fit");
            return -1;
        }
        f->headers_sent = 1;
        if (pss->method == HUB_M_HEAD)
            f->len = 0;
    }
    uint64_t left = f->len - f->sent;
    size_t want = left < FILE_CHUNK ? (size_t)left : FILE_CHUNK;
    if (want > 0) {
        ssize_t n;
        do
            n = pread(f->fd, p, want, (off_t)(f->start + f->sent));
        while (n < 0 && errno == EINTR);
        if (n <= 0) { /* shrunk under us: the promised length cannot be kept */
            hub_log(HUB_LOG_WARN, "http_file_short", "{s:s,s:I,s:I}", "error",
                    n < 0 ? strerror(errno) : "the file ended early", "sent", (json_int_t)f->sent,
                    "length", (json_int_t)f->len);
            return -1;
        }
        p += n;
        f->sent += (uint64_t)n;
    }
    int last = f->sent == f->len;
    int total = (int)(p - start);
    if (lws_write(wsi, start, (size_t)total, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != total)
        return -1;
    if (last)
        return 1;
    /* Progress: a client may take this long for the next chunk. */
    lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, FILE_STALL_SECS);
    lws_callback_on_writable(wsi);
    return 0;
}

void hub__http_file_end(hub_pss_t *pss)
{
    hub_http_file_t *f = pss->file;
    if (f == NULL)
        return;
    close(f->fd);
    hub_free(f->buf);
    hub_free(f);
    pss->file = NULL;
}
