// loadgen.c - small, single-threaded, epoll-based load generator and echo
// server for the forwarding-engine benchmarks. Compiled on demand by
// bench/lib.sh (never committed as a binary).
//
// Modes (all traffic is on 127.0.0.1, every loop is bounded in count and time):
//   loadgen echo      PORT [MAX_SECONDS]            echo server (backend)
//   loadgen waitport  PORT TIMEOUT_MS                exit 0 once PORT accepts
//   loadgen pingpong  PORT N [MSG] [WARMUP]          N sequential round trips
//   loadgen connrate  PORT CONC SECONDS [MSG]        connect+echo+close loop
//   loadgen hold      PORT N HOLD_SECONDS [CONC]     open N idle connections
// go-tunnel's test_e2e.sh method (its README numbers), each repeated RUNS times:
//   loadgen gtput     PORT [ROUNDS] [SIZE] [RUNS]    one conn: send SIZE, read the echo, ROUNDS times
//   loadgen gtrtt     PORT [N] [MSG] [RUNS]          N fresh conns: time MSG out + echo back
//   loadgen gtconc    PORT [WORKERS] [EACH] [MSG] [RUNS]  threads x sequential short conns
//
// Measurement modes print exactly one JSON object on stdout.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAXFD 65536

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}
static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}
static void die(const char *m) { perror(m); exit(2); }

static void raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static struct sockaddr_in addr_of(int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

static void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}
static double pct(uint64_t *v, size_t n, double p) {
  if (n == 0) return -1;
  size_t i = (size_t)(p * (n - 1) + 0.5);
  if (i >= n) i = n - 1;
  return v[i] / 1000.0;  // ns -> us
}

/* ------------------------------------------------------------------ echo */
static char *pend[MAXFD];
static int pend_len[MAXFD];

static int echo_main(int port, int max_seconds) {
  signal(SIGPIPE, SIG_IGN);
  raise_nofile();
  alarm(max_seconds);  // hard bound on lifetime
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = addr_of(port);
  if (bind(ls, (struct sockaddr *)&a, sizeof a)) die("bind");
  if (listen(ls, 4096)) die("listen");
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  static char buf[65536];
  struct epoll_event evs[256];
  fprintf(stderr, "echo listening on %d\n", port);
  for (;;) {  // bounded by alarm(max_seconds) above
    int n = epoll_wait(ep, evs, 256, 1000);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == ls) {
        for (int k = 0; k < 256; k++) {
          int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
          if (c < 0) break;
          if (c >= MAXFD) { close(c); continue; }
          set_nodelay(c);
          struct epoll_event e2 = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &e2);
        }
        continue;
      }
      if (pend_len[fd] > 0 && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        ssize_t w = write(fd, pend[fd], pend_len[fd]);
        if (w < 0 && errno != EAGAIN) goto closeit;
        if (w > 0) {
          memmove(pend[fd], pend[fd] + w, pend_len[fd] - w);
          pend_len[fd] -= w;
        }
        if (pend_len[fd] == 0) {
          struct epoll_event e2 = {.events = EPOLLIN, .data.fd = fd};
          epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e2);
        }
        continue;
      }
      if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EAGAIN)) goto closeit;
        if (r < 0) continue;
        ssize_t w = write(fd, buf, r);
        if (w < 0 && errno != EAGAIN) goto closeit;
        if (w < 0) w = 0;
        if (w < r) {  // rare: keep the rest, wait for EPOLLOUT, stop reading
          pend[fd] = realloc(pend[fd], r - w);
          memcpy(pend[fd], buf + w, r - w);
          pend_len[fd] = r - w;
          struct epoll_event e2 = {.events = EPOLLOUT, .data.fd = fd};
          epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e2);
        }
      }
      continue;
    closeit:
      pend_len[fd] = 0;
      close(fd);
    }
  }
  return 0;
}

/* --------------------------------------------------------------- waitport */
static int waitport_main(int port, int timeout_ms) {
  double end = now_s() + timeout_ms / 1000.0;
  struct sockaddr_in a = addr_of(port);
  while (now_s() < end) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) { close(s); return 0; }
    close(s);
    usleep(20000);
  }
  return 1;
}

/* --------------------------------------------------------------- pingpong */
static int readn(int fd, char *b, int n) {
  int got = 0;
  while (got < n) {
    ssize_t r = read(fd, b + got, n - got);
    if (r <= 0) return -1;
    got += r;
  }
  return got;
}
static int pingpong_main(int port, long n, int msg, long warmup) {
  signal(SIGPIPE, SIG_IGN);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = addr_of(port);
  if (connect(s, (struct sockaddr *)&a, sizeof a)) die("connect");
  set_nodelay(s);
  char out[65536], in[65536];
  if (msg > (int)sizeof out) msg = sizeof out;
  memset(out, 'p', msg);
  uint64_t *lat = calloc(n, sizeof *lat);
  double deadline = now_s() + 60;  // hard bound
  long done = 0, errors = 0;
  for (long i = 0; i < warmup + n && now_s() < deadline; i++) {
    uint64_t t0 = now_ns();
    if (write(s, out, msg) != msg || readn(s, in, msg) != msg) { errors++; break; }
    uint64_t t1 = now_ns();
    if (i >= warmup) lat[done++] = t1 - t0;
  }
  close(s);
  double sum = 0;
  for (long i = 0; i < done; i++) sum += lat[i];
  qsort(lat, done, sizeof *lat, cmp_u64);
  printf("{\"round_trips\":%ld,\"errors\":%ld,\"msg_bytes\":%d,\"p50_us\":%.2f,"
         "\"p90_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"min_us\":%.2f,"
         "\"max_us\":%.2f,\"mean_us\":%.2f}\n",
         done, errors, msg, pct(lat, done, .5), pct(lat, done, .9), pct(lat, done, .99),
         pct(lat, done, .999), pct(lat, done, 0), pct(lat, done, 1),
         done ? sum / done / 1000.0 : -1);
  return errors ? 1 : 0;
}

/* ------------------------------------------------ connrate / hold (shared) */
enum { ST_FREE, ST_CONNECTING, ST_WAITING, ST_IDLE };
struct slot { int fd, st, got; uint64_t t0; };

struct cstats {
  long ok, e_connect, e_immediate, e_reset, e_eof, e_timeout, e_other;
  uint64_t *lat; long nlat, caplat;
};

static int start_conn(int ep, struct slot *sl, int idx, struct sockaddr_in *a,
                      struct cstats *cs) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) { cs->e_other++; return -1; }
  set_nodelay(fd);
  sl->fd = fd; sl->got = 0; sl->t0 = now_ns();
  int r = connect(fd, (struct sockaddr *)a, sizeof *a);
  if (r < 0 && errno != EINPROGRESS) {
    cs->e_immediate++;
    close(fd);
    sl->st = ST_FREE;
    return -1;
  }
  sl->st = ST_CONNECTING;
  struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = idx};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  return 0;
}

// advance one slot on an event; returns 1 when the echo completed.
static int step_conn(int ep, struct slot *sl, int idx, uint32_t events, int msg,
                     struct cstats *cs) {
  static char out[4096], in[4096];
  if (sl->st == ST_CONNECTING) {
    int err = 0; socklen_t el = sizeof err;
    getsockopt(sl->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) { cs->e_connect++; goto fail; }
    memset(out, 'c', msg);
    if (write(sl->fd, out, msg) != msg) { cs->e_other++; goto fail; }
    sl->st = ST_WAITING;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = idx};
    epoll_ctl(ep, EPOLL_CTL_MOD, sl->fd, &ev);
    return 0;
  }
  if (sl->st == ST_WAITING) {
    ssize_t r = read(sl->fd, in, msg - sl->got);
    if (r < 0 && errno == EAGAIN) return 0;
    if (r < 0) { if (errno == ECONNRESET) cs->e_reset++; else cs->e_other++; goto fail; }
    if (r == 0) { cs->e_eof++; goto fail; }
    sl->got += r;
    if (sl->got < msg) return 0;
    return 1;
  }
  (void)events;
  return 0;
fail:
  epoll_ctl(ep, EPOLL_CTL_DEL, sl->fd, NULL);
  close(sl->fd);
  sl->st = ST_FREE;
  return -1;
}

static int connrate_main(int port, int conc, double seconds, int msg) {
  signal(SIGPIPE, SIG_IGN);
  raise_nofile();
  if (msg > 4096) msg = 4096;
  struct sockaddr_in a = addr_of(port);
  int ep = epoll_create1(0);
  struct slot *sl = calloc(conc, sizeof *sl);
  struct cstats cs = {0};
  cs.caplat = 4000000;
  cs.lat = malloc(cs.caplat * sizeof *cs.lat);
  struct epoll_event evs[512];
  double t_start = now_s(), t_end = t_start + seconds;
  for (int i = 0; i < conc; i++) start_conn(ep, &sl[i], i, &a, &cs);
  double last_scan = t_start;
  while (now_s() < t_end) {
    int n = epoll_wait(ep, evs, 512, 50);
    for (int i = 0; i < n; i++) {
      int idx = evs[i].data.u32;
      int r = step_conn(ep, &sl[idx], idx, evs[i].events, msg, &cs);
      if (r == 1) {
        cs.ok++;
        if (cs.nlat < cs.caplat) cs.lat[cs.nlat++] = now_ns() - sl[idx].t0;
        epoll_ctl(ep, EPOLL_CTL_DEL, sl[idx].fd, NULL);
        close(sl[idx].fd);
        sl[idx].st = ST_FREE;
      }
      if (sl[idx].st == ST_FREE && now_s() < t_end) start_conn(ep, &sl[idx], idx, &a, &cs);
    }
    double t = now_s();
    if (t - last_scan > 0.1) {  // timeouts and refills of failed slots
      last_scan = t;
      uint64_t tn = now_ns();
      for (int i = 0; i < conc; i++) {
        if (sl[i].st != ST_FREE && tn - sl[i].t0 > 3000000000ull) {
          cs.e_timeout++;
          epoll_ctl(ep, EPOLL_CTL_DEL, sl[i].fd, NULL);
          close(sl[i].fd);
          sl[i].st = ST_FREE;
        }
        if (sl[i].st == ST_FREE && t < t_end) start_conn(ep, &sl[i], i, &a, &cs);
      }
    }
  }
  double elapsed = now_s() - t_start;
  for (int i = 0; i < conc; i++)
    if (sl[i].st != ST_FREE) close(sl[i].fd);
  qsort(cs.lat, cs.nlat, sizeof *cs.lat, cmp_u64);
  long errs = cs.e_connect + cs.e_immediate + cs.e_reset + cs.e_eof + cs.e_timeout + cs.e_other;
  printf("{\"conns\":%ld,\"seconds\":%.3f,\"conns_per_s\":%.1f,\"errors\":%ld,"
         "\"err_connect\":%ld,\"err_immediate\":%ld,\"err_reset\":%ld,\"err_eof\":%ld,"
         "\"err_timeout\":%ld,\"err_other\":%ld,\"concurrency\":%d,\"p50_us\":%.1f,"
         "\"p99_us\":%.1f}\n",
         cs.ok, elapsed, cs.ok / elapsed, errs, cs.e_connect, cs.e_immediate, cs.e_reset,
         cs.e_eof, cs.e_timeout, cs.e_other, conc, pct(cs.lat, cs.nlat, .5),
         pct(cs.lat, cs.nlat, .99));
  return 0;
}

static volatile sig_atomic_t stop_hold;
static void on_term(int s) { (void)s; stop_hold = 1; }

static int hold_main(int port, int n, double hold_s, int conc) {
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, on_term);
  signal(SIGINT, on_term);
  raise_nofile();
  int msg = 64;
  struct sockaddr_in a = addr_of(port);
  int ep = epoll_create1(0);
  struct slot *sl = calloc(n, sizeof *sl);
  struct cstats cs = {0};
  struct epoll_event evs[512];
  int next = 0, inflight = 0;
  double t0 = now_s(), deadline = t0 + 60;  // hard bound on setup time
  while ((next < n || inflight > 0) && now_s() < deadline && !stop_hold) {
    while (inflight < conc && next < n) {
      if (start_conn(ep, &sl[next], next, &a, &cs) == 0) inflight++;
      next++;
    }
    int k = epoll_wait(ep, evs, 512, 50);
    for (int i = 0; i < k; i++) {
      int idx = evs[i].data.u32;
      int r = step_conn(ep, &sl[idx], idx, evs[i].events, msg, &cs);
      if (r == 1) {
        cs.ok++; inflight--;
        epoll_ctl(ep, EPOLL_CTL_DEL, sl[idx].fd, NULL);
        sl[idx].st = ST_IDLE;
      } else if (r < 0) {
        inflight--;
      }
    }
  }
  long errs = cs.e_connect + cs.e_immediate + cs.e_reset + cs.e_eof + cs.e_timeout + cs.e_other;
  printf("{\"ready\":true,\"held\":%ld,\"errors\":%ld,\"setup_s\":%.3f}\n", cs.ok, errs,
         now_s() - t0);
  fflush(stdout);
  double end = now_s() + hold_s;
  while (now_s() < end && !stop_hold) usleep(50000);
  for (int i = 0; i < n; i++)
    if (sl[i].st != ST_FREE) close(sl[i].fd);
  return 0;
}

/* ------------------------------------------------ go-tunnel test_e2e method */
// Blocking socket connected to PORT with 5 s send/receive/connect timeouts,
// or -1.
static int dial_blocking(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return -1;
  struct timeval tv = {.tv_sec = 5};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // also bounds connect()
  struct sockaddr_in a = addr_of(port);
  if (connect(s, (struct sockaddr *)&a, sizeof a)) { close(s); return -1; }
  set_nodelay(s);
  return s;
}
static int writen(int fd, const char *b, int n) {
  for (int put = 0; put < n;) {
    ssize_t w = write(fd, b + put, n - put);
    if (w <= 0) return -1;
    put += w;
  }
  return n;
}
static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double median_d(double *v, int n) {
  if (n == 0) return -1;
  qsort(v, n, sizeof *v, cmp_dbl);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// (a) one connection; each round sends SIZE bytes and reads until SIZE bytes
// came back (no pipelining across rounds). MB/s is go-tunnel's formula:
// ROUNDS * 2 * SIZE / 2^20 / seconds (both directions, MiB). Sending and
// reading overlap inside a round (poll) so that no buffer size can deadlock it.
static int gtput_main(int port, int rounds, int size, int runs) {
  signal(SIGPIPE, SIG_IGN);
  char *out = malloc(size), *in = malloc(65536);
  memset(out, 'X', size);
  double *mbs = calloc(runs, sizeof *mbs), deadline = now_s() + 60;
  int ok = 0, errors = 0;
  for (int r = 0; r < runs && now_s() < deadline; r++) {
    int s = dial_blocking(port);
    if (s < 0) { errors++; continue; }
    fcntl(s, F_SETFL, O_NONBLOCK);
    double t0 = now_s();
    int failed = 0;
    for (int i = 0; i < rounds && !failed; i++) {
      long sent = 0, got = 0;
      while (got < size) {
        struct pollfd p = {.fd = s, .events = POLLIN | (sent < size ? POLLOUT : 0)};
        if (poll(&p, 1, 5000) <= 0) { failed = 1; break; }
        if ((p.revents & POLLOUT) && sent < size) {
          ssize_t w = write(s, out + sent, size - sent);
          if (w < 0 && errno != EAGAIN) { failed = 1; break; }
          if (w > 0) sent += w;
        }
        if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
          ssize_t n = read(s, in, 65536);
          if (n == 0 || (n < 0 && errno != EAGAIN)) { failed = 1; break; }
          if (n > 0) got += n;
        }
      }
    }
    double el = now_s() - t0;
    close(s);
    if (failed) errors++;
    else mbs[ok++] = rounds * 2.0 * size / 1048576.0 / el;
  }
  double lo = ok ? mbs[0] : -1, hi = lo;
  for (int i = 0; i < ok; i++) { if (mbs[i] < lo) lo = mbs[i]; if (mbs[i] > hi) hi = mbs[i]; }
  printf("{\"runs\":%d,\"errors\":%d,\"rounds\":%d,\"round_bytes\":%d,\"mb_per_s\":%.1f,"
         "\"mb_per_s_min\":%.1f,\"mb_per_s_max\":%.1f}\n",
         ok, errors, rounds, size, median_d(mbs, ok), lo, hi);
  return errors ? 1 : 0;
}

// (b) N x RUNS fresh connections; the connect is not timed, the timer covers
// writing MSG bytes and reading their echo. Mean and percentiles in ms.
static int gtrtt_main(int port, int n, int msg, int runs) {
  signal(SIGPIPE, SIG_IGN);
  if (msg > 4096) msg = 4096;
  char out[4096], in[4096];
  memset(out, 'P', msg);
  long total = (long)n * runs, done = 0, errors = 0;
  uint64_t *lat = calloc(total, sizeof *lat);
  double deadline = now_s() + 60, sum = 0;
  for (long i = 0; i < total && now_s() < deadline; i++) {
    int s = dial_blocking(port);
    if (s < 0) { errors++; continue; }
    uint64_t t0 = now_ns();
    int good = writen(s, out, msg) == msg && readn(s, in, msg) == msg;
    uint64_t t1 = now_ns();
    close(s);
    if (!good) { errors++; continue; }
    lat[done++] = t1 - t0;
    sum += t1 - t0;
  }
  qsort(lat, done, sizeof *lat, cmp_u64);
  printf("{\"samples\":%ld,\"errors\":%ld,\"msg_bytes\":%d,\"mean_ms\":%.4f,\"p50_ms\":%.4f,"
         "\"p99_ms\":%.4f}\n",
         done, errors, msg, done ? sum / done / 1e6 : -1, pct(lat, done, .5) / 1000,
         pct(lat, done, .99) / 1000);
  return errors ? 1 : 0;
}

// (c) WORKERS threads, each EACH sequential connect -> write MSG -> read the
// MSG-byte echo -> close. Requests/s = completed / wall time (connects included).
struct gtconc_arg { int port, each, msg; long ok, errors; double deadline; };
static void *gtconc_worker(void *p) {
  struct gtconc_arg *a = p;
  char out[4096], in[4096];
  memset(out, 'X', a->msg);
  for (int j = 0; j < a->each && now_s() < a->deadline; j++) {
    int s = dial_blocking(a->port);
    if (s < 0) { a->errors++; continue; }
    if (writen(s, out, a->msg) == a->msg && readn(s, in, a->msg) == a->msg) a->ok++;
    else a->errors++;
    close(s);
  }
  return NULL;
}
static int gtconc_main(int port, int workers, int each, int msg, int runs) {
  signal(SIGPIPE, SIG_IGN);
  if (msg > 4096) msg = 4096;
  if (workers > 256) workers = 256;
  pthread_t th[256];
  struct gtconc_arg args[256];
  double *rps = calloc(runs, sizeof *rps), deadline = now_s() + 60;
  long errors = 0, ok_total = 0;
  int ok = 0;
  for (int r = 0; r < runs && now_s() < deadline; r++) {
    double t0 = now_s();
    for (int w = 0; w < workers; w++) {
      args[w] = (struct gtconc_arg){.port = port, .each = each, .msg = msg, .deadline = deadline};
      pthread_create(&th[w], NULL, gtconc_worker, &args[w]);
    }
    long done = 0;
    for (int w = 0; w < workers; w++) {
      pthread_join(th[w], NULL);
      done += args[w].ok;
      errors += args[w].errors;
    }
    ok_total += done;
    rps[ok++] = done / (now_s() - t0);
  }
  double lo = ok ? rps[0] : -1, hi = lo;
  for (int i = 0; i < ok; i++) { if (rps[i] < lo) lo = rps[i]; if (rps[i] > hi) hi = rps[i]; }
  printf("{\"runs\":%d,\"requests\":%ld,\"errors\":%ld,\"workers\":%d,\"per_worker\":%d,"
         "\"msg_bytes\":%d,\"rps\":%.1f,\"rps_min\":%.1f,\"rps_max\":%.1f}\n",
         ok, ok_total, errors, workers, each, msg, median_d(rps, ok), lo, hi);
  return errors ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: see header of loadgen.c\n");
    return 2;
  }
  const char *m = argv[1];
  int port = atoi(argv[2]);
  if (!strcmp(m, "echo")) return echo_main(port, argc > 3 ? atoi(argv[3]) : 4 * 3600);
  if (!strcmp(m, "waitport")) return waitport_main(port, argc > 3 ? atoi(argv[3]) : 10000);
  if (!strcmp(m, "pingpong"))
    return pingpong_main(port, argc > 3 ? atol(argv[3]) : 20000, argc > 4 ? atoi(argv[4]) : 64,
                         argc > 5 ? atol(argv[5]) : 2000);
  if (!strcmp(m, "connrate"))
    return connrate_main(port, argc > 3 ? atoi(argv[3]) : 50, argc > 4 ? atof(argv[4]) : 5,
                         argc > 5 ? atoi(argv[5]) : 64);
  if (!strcmp(m, "hold"))
    return hold_main(port, argc > 3 ? atoi(argv[3]) : 5000, argc > 4 ? atof(argv[4]) : 5,
                     argc > 5 ? atoi(argv[5]) : 100);
  if (!strcmp(m, "gtput"))
    return gtput_main(port, argc > 3 ? atoi(argv[3]) : 10, argc > 4 ? atoi(argv[4]) : 1048576,
                      argc > 5 ? atoi(argv[5]) : 5);
  if (!strcmp(m, "gtrtt"))
    return gtrtt_main(port, argc > 3 ? atoi(argv[3]) : 100, argc > 4 ? atoi(argv[4]) : 4,
                      argc > 5 ? atoi(argv[5]) : 5);
  if (!strcmp(m, "gtconc"))
    return gtconc_main(port, argc > 3 ? atoi(argv[3]) : 10, argc > 4 ? atoi(argv[4]) : 50,
                       argc > 5 ? atoi(argv[5]) : 1024, argc > 6 ? atoi(argv[6]) : 5);
  fprintf(stderr, "unknown mode %s\n", m);
  return 2;
}
