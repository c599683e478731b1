/*
 * dte-agent benchmark client (not a test): a small C load generator, so that the client
 * costs little CPU next to the agent and Slurm on a small machine.
 *
 *   loadgen create HOST PORT N CONCURRENCY OUT.json
 *       creates N trivial pods (one container running `true`) through POST /create, from
 *       CONCURRENCY threads with one keep-alive connection each; times from the first request
 *       until every pod has its job id (the answer of /create). OUT.json gets the figures, the
 *       pod UIDs and the job ids.
 *   loadgen status HOST PORT UIDS.json ROUNDS OUT.json
 *       sends GET /status for every UID of UIDS.json (the "uids" list of a create result),
 *       ROUNDS times one after another; p50/p95 of the time until the whole answer is read.
 *
 * Build: cc -O2 -pthread -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *host;
/* "Authorization: Bearer <DTE_TOKEN>\r\n" when DTE_TOKEN is set (the agent with OIDC on); set in main. */
static char authorization[20000];
static int port;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static int connect_agent(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "HOST must be an IPv4 address\n");
        exit(2);
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_all(int fd, const char *data, size_t length) {
    while (length > 0) {
        ssize_t n = send(fd, data, length, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("send");
        }
        data += n;
        length -= (size_t)n;
    }
}

/* One HTTP/1.1 exchange on a keep-alive connection; returns the status, *body malloc'ed. */
static int exchange(int fd, const char *method, const char *path, const char *body, size_t body_length,
                    char **answer, size_t *answer_length) {
    char head[20480];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     method, path, host, authorization, body_length);
    send_all(fd, head, (size_t)n);
    send_all(fd, body, body_length);

    size_t capacity = 65536, used = 0;
    char *buffer = malloc(capacity);
    if (!buffer) die("malloc");
    char *header_end = NULL;
    size_t content_length = 0;
    for (;;) {
        ssize_t got = recv(fd, buffer + used, capacity - used, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) die("recv (connection closed)");
        used += (size_t)got;
        if (!header_end) {
            header_end = memmem(buffer, used, "\r\n\r\n", 4);
            if (!header_end) continue;
            const char *cl = memmem(buffer, (size_t)(header_end - buffer), "ontent-Length:", 14);
            if (!cl) cl = memmem(buffer, (size_t)(header_end - buffer), "ontent-length:", 14);
            if (!cl) {
                fprintf(stderr, "answer without Content-Length\n");
                exit(2);
            }
            content_length = strtoul(cl + 14, NULL, 10);
        }
        size_t header_length = (size_t)(header_end - buffer) + 4;
        if (used >= header_length + content_length) {
            int status = atoi(buffer + 9);
            *answer = malloc(content_length + 1);
            if (!*answer) die("malloc");
            memcpy(*answer, buffer + header_length, content_length);
            (*answer)[content_length] = 0;
            *answer_length = content_length;
            free(buffer);
            return status;
        }
        /* header_end points into buffer; keep it valid across realloc */
        if (used == capacity) {
            size_t offset = header_end ? (size_t)(header_end - buffer) : 0;
            capacity *= 2;
            buffer = realloc(buffer, capacity);
            if (!buffer) die("realloc");
            if (header_end) header_end = buffer + offset;
        }
    }
}

/* ---- create ---- */

static int total;
static atomic_int cursor;
static atomic_int errors;
static char (*uids)[37];
static char **bodies;
static size_t *body_lengths;
static char **jobs;
static char first_error[512];
static pthread_mutex_t error_lock = PTHREAD_MUTEX_INITIALIZER;

static void random_uid(char *out) {
    unsigned char b[16];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(b, 1, 16, f) != 16) die("/dev/urandom");
    fclose(f);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
             b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static void *create_worker(void *unused) {
    (void)unused;
    int fd = connect_agent();
    for (;;) {
        int i = atomic_fetch_add(&cursor, 1);
        if (i >= total) break;
        char *answer;
        size_t length;
        int status = exchange(fd, "POST", "/create", bodies[i], body_lengths[i], &answer, &length);
        const char *jid = status == 200 ? strstr(answer, "\"PodJID\":\"") : NULL;
        if (jid) {
            jid += 10;
            const char *end = strchr(jid, '"');
            jobs[i] = strndup(jid, end ? (size_t)(end - jid) : strlen(jid));
        } else {
            atomic_fetch_add(&errors, 1);
            pthread_mutex_lock(&error_lock);
            if (!first_error[0]) snprintf(first_error, sizeof first_error, "%d %.400s", status, answer);
            pthread_mutex_unlock(&error_lock);
        }
        free(answer);
    }
    close(fd);
    return NULL;
}

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
        else fputc(*s, f);
    }
    fputc('"', f);
}

static int create(int n, int concurrency, const char *out) {
    total = n;
    uids = calloc((size_t)n, sizeof *uids);
    bodies = calloc((size_t)n, sizeof *bodies);
    body_lengths = calloc((size_t)n, sizeof *body_lengths);
    jobs = calloc((size_t)n, sizeof *jobs);
    if (!uids || !bodies || !body_lengths || !jobs) die("calloc");
    for (int i = 0; i < n; i++) {
        random_uid(uids[i]);
        int length = asprintf(
            &bodies[i],
            "{\"pod\":{\"metadata\":{\"name\":\"bench-%d\",\"namespace\":\"bench\",\"uid\":\"%s\"},"
            "\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"busybox\",\"command\":[\"true\"],"
            "\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"16Mi\"}}}]}},"
            "\"container\":[{\"name\":\"main\",\"configMaps\":null,\"secrets\":null,\"projectedvolumemaps\":null}],"
            "\"jobConfig\":{}}",
            i, uids[i]);
        if (length < 0) die("asprintf");
        body_lengths[i] = (size_t)length;
    }
    pthread_t *threads = calloc((size_t)concurrency, sizeof *threads);
    if (!threads) die("calloc");
    double start = now();
    for (int t = 0; t < concurrency; t++) pthread_create(&threads[t], NULL, create_worker, NULL);
    for (int t = 0; t < concurrency; t++) pthread_join(threads[t], NULL);
    double seconds = now() - start;

    FILE *f = fopen(out, "w");
    if (!f) die(out);
    int failed = atomic_load(&errors);
    fprintf(f, "{\"pods\":%d,\"concurrency\":%d,\"seconds\":%.6f,\"pods_per_second\":%.3f,\"errors\":%d,\"first_errors\":[",
            n, concurrency, seconds, n / seconds, failed);
    if (first_error[0]) json_string(f, first_error);
    fprintf(f, "],\"uids\":[");
    for (int i = 0; i < n; i++) fprintf(f, "%s\"%s\"", i ? "," : "", uids[i]);
    fprintf(f, "],\"jobs\":[");
    int first = 1;
    for (int i = 0; i < n; i++) {
        if (!jobs[i]) continue;
        fprintf(f, "%s", first ? "" : ",");
        json_string(f, jobs[i]);
        first = 0;
    }
    fprintf(f, "]}\n");
    fclose(f);
    printf("created %d/%d pods in %.2f s: %.0f pods/s (%d errors)\n", n - failed, n, seconds, n / seconds, failed);
    if (first_error[0]) printf("first error: %s\n", first_error);
    return 0;
}

/* ---- status ---- */

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int status(const char *uids_file, int rounds, const char *out) {
    FILE *f = fopen(uids_file, "r");
    if (!f) die(uids_file);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) die("read");
    text[size] = 0;
    fclose(f);
    char *list = strstr(text, "\"uids\":[");
    if (!list) {
        fprintf(stderr, "%s has no uids list\n", uids_file);
        return 2;
    }
    list += 8;
    size_t capacity = 1 << 20, used = 0;
    char *body = malloc(capacity);
    if (!body) die("malloc");
    body[used++] = '[';
    int count = 0;
    /* STATUS_PODS=K asks for the first K pods only: with K=1 a call measures what each request
       costs (parsing, authentication, routing) rather than the answer's size. */
    const char *limit_text = getenv("STATUS_PODS");
    int limit = limit_text ? atoi(limit_text) : 0;
    for (char *p = list; *p && *p != ']' && (limit <= 0 || count < limit);) {
        char *q = strchr(p, '"');
        if (!q) break;
        char *e = strchr(q + 1, '"');
        if (!e) break;
        if (used + 200 > capacity) {
            capacity *= 2;
            body = realloc(body, capacity);
            if (!body) die("realloc");
        }
        used += (size_t)sprintf(body + used, "%s{\"metadata\":{\"uid\":\"%.*s\",\"name\":\"\",\"namespace\":\"bench\"}}",
                                count ? "," : "", (int)(e - q - 1), q + 1);
        count++;
        p = e + 1;
        while (*p == ',' || *p == ' ') p++;
    }
    body[used++] = ']';
    int fd = connect_agent();
    double *times = calloc((size_t)rounds, sizeof *times);
    if (!times) die("calloc");
    int answered = 0;
    for (int r = 0; r < rounds; r++) {
        char *answer;
        size_t length;
        double start = now();
        int code = exchange(fd, "GET", "/status", body, used, &answer, &length);
        times[r] = (now() - start) * 1000;
        if (code != 200) {
            fprintf(stderr, "/status answered %d: %.300s\n", code, answer);
            return 1;
        }
        answered = 0;
        for (char *p = answer; (p = strstr(p, "\"UID\":")); p += 6) answered++;
        free(answer);
    }
    close(fd);
    qsort(times, (size_t)rounds, sizeof *times, compare);
    double p50 = rounds % 2 ? times[rounds / 2] : (times[rounds / 2 - 1] + times[rounds / 2]) / 2;
    double p95 = times[(int)(0.95 * (rounds - 1))];
    FILE *o = fopen(out, "w");
    if (!o) die(out);
    fprintf(o, "{\"pods\":%d,\"answered\":%d,\"rounds\":%d,\"p50_ms\":%.3f,\"p95_ms\":%.3f,\"max_ms\":%.3f}\n", count,
            answered, rounds, p50, p95, times[rounds - 1]);
    fclose(o);
    printf("/status for %d pods: p50 %.1f ms, p95 %.1f ms\n", answered, p50, p95);
    return 0;
}

int main(int argc, char **argv) {
    const char *token = getenv("DTE_TOKEN");
    if (token && *token && strlen(token) < sizeof authorization - 64)
        snprintf(authorization, sizeof authorization, "Authorization: Bearer %s\r\n", token);
    if (argc == 7 && strcmp(argv[1], "create") == 0) {
        host = argv[2];
        port = atoi(argv[3]);
        return create(atoi(argv[4]), atoi(argv[5]), argv[6]);
    }
    if (argc == 7 && strcmp(argv[1], "status") == 0) {
        host = argv[2];
        port = atoi(argv[3]);
        return status(argv[4], atoi(argv[5]), argv[6]);
    }
    fprintf(stderr, "usage: loadgen create HOST PORT N CONCURRENCY OUT.json\n"
                    "       loadgen status HOST PORT UIDS.json ROUNDS OUT.json\n");
    return 2;
}
