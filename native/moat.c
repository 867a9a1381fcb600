/*
 * moat's optional native helper (N-API, C). Two jobs that dominate `moat audit` on large hosts:
 *
 *  listeners(nsPath|null) -> Promise<Buffer>   the TCP listeners and unconnected UDP sockets of one
 *      network namespace through NETLINK_SOCK_DIAG (inet_diag, as ss does), off the JavaScript
 *      thread: binary records from the kernel instead of /proc/net/{tcp,udp}* text the kernel
 *      formats a page at a time.
 *  socketFds(procRoot) -> Promise<{pairs: Uint32Array [inode, pid, ...], hiddenPids, owners}>
 *      (pairs sorted by inode, then pid, each pair once)
 *      every socket fd in /proc/<pid>/fd, with readlinkat on a directory fd (no per-fd JS string,
 *      exception or path building), on two threads off the JavaScript thread; owners holds the
 *      comm, cgroup and cmdline text of each pid that holds a socket: [pid, comm, cgroup, cmdline, ...].
 *  parseDiag(Buffer, protocol) -> Buffer   the netlink parser alone, for tests with crafted input.
 *
 * src/host/native.ts loads this and falls back to the JavaScript readers when it is missing or
 * throws. Everything the kernel sends is bounds-checked before it is read.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <node_api.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vec.h"

/* Record layout shared with src/host/native.ts (RECORD_SIZE there). */
enum { REC_SIZE = 24 };
/* byte 0 protocol (6|17), 1 family (4|6), 2-3 port (little-endian), 4-7 inode (LE), 8-23 address */

enum { TCP_LISTEN_STATE = 10, TCP_CLOSE_STATE = 7 };

static void put_le32(uint8_t *p, uint32_t x) {
  p[0] = x & 0xff;
  p[1] = (x >> 8) & 0xff;
  p[2] = (x >> 16) & 0xff;
  p[3] = (x >> 24) & 0xff;
}

/*
 * Parse one recv() worth of netlink messages of a sock_diag dump. Appends a record per socket that
 * accepts traffic from others: TCP in LISTEN; UDP unconnected (state CLOSE, remote all zero), the
 * same rule as proc-net.ts. Returns 1 when the dump is done, 0 when more is to come, -EPROTO on a
 * malformed message, -errno for an NLMSG_ERROR from the kernel, -ENOMEM.
 */
static int parse_diag(const uint8_t *buf, size_t len, uint8_t protocol, vec *out) {
  size_t off = 0;
  while (off < len) {
    if (len - off < sizeof(struct nlmsghdr)) return -EPROTO;
    struct nlmsghdr h;
    memcpy(&h, buf + off, sizeof h); /* copy: buf may be unaligned when it comes from JS */
    if (h.nlmsg_len < sizeof h || h.nlmsg_len > len - off) return -EPROTO;
    const uint8_t *body = buf + off + NLMSG_HDRLEN;
    size_t body_len = h.nlmsg_len > NLMSG_HDRLEN ? h.nlmsg_len - NLMSG_HDRLEN : 0;
    if (h.nlmsg_type == NLMSG_DONE) return 1;
    if (h.nlmsg_type == NLMSG_ERROR) {
      int err;
      if (body_len < sizeof err) return -EPROTO;
      memcpy(&err, body, sizeof err);
      return err < 0 ? err : -EPROTO;
    }
    if (h.nlmsg_type != SOCK_DIAG_BY_FAMILY) return -EPROTO;
    struct inet_diag_msg m;
    if (body_len < sizeof m) return -EPROTO;
    memcpy(&m, body, sizeof m);
    if (m.idiag_family != AF_INET && m.idiag_family != AF_INET6) return -EPROTO;
    int remote_zero = m.id.idiag_dport == 0;
    for (int i = 0; i < 4; i++) remote_zero = remote_zero && m.id.idiag_dst[i] == 0;
    int wanted = protocol == IPPROTO_TCP ? m.idiag_state == TCP_LISTEN_STATE
                                         : m.idiag_state == TCP_CLOSE_STATE && remote_zero;
    if (wanted) {
      if (vec_reserve(out, REC_SIZE)) return -ENOMEM;
      uint8_t *r = out->data + out->len;
      memset(r, 0, REC_SIZE);
      r[0] = protocol;
      r[1] = m.idiag_family == AF_INET ? 4 : 6;
      uint16_t port = ntohs(m.id.idiag_sport);
      r[2] = port & 0xff;
      r[3] = port >> 8;
      put_le32(r + 4, m.idiag_inode);
      /* idiag_src is in network byte order; IPv4 uses its first 4 bytes */
      memcpy(r + 8, m.id.idiag_src, m.idiag_family == AF_INET ? 4 : 16);
      out->len += REC_SIZE;
    }
    /* NLMSG_ALIGN of a length <= len - off can pass len: clamp so the loop ends */
    size_t step = NLMSG_ALIGN(h.nlmsg_len);
    off = step > len - off ? len : off + step;
  }
  return 0;
}

/* One dump request (family, protocol, state mask) on an open NETLINK_SOCK_DIAG socket. */
static int dump(int fd, uint8_t family, uint8_t protocol, uint32_t states, uint32_t seq, vec *out) {
  struct {
    struct nlmsghdr h;
    struct inet_diag_req_v2 r;
  } req;
  memset(&req, 0, sizeof req);
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.h.nlmsg_seq = seq;
  req.r.sdiag_family = family;
  req.r.sdiag_protocol = protocol;
  req.r.idiag_states = states;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return -errno;
  /* 32 KiB is what the kernel's dump fills per message batch at most (ss uses the same) */
  uint8_t buf[32768] __attribute__((aligned(8)));
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (n == 0) return -EPROTO;
    int r = parse_diag(buf, (size_t)n, protocol, out);
    if (r != 0) return r < 0 ? r : 0;
  }
}

/* Opens a sock_diag socket inside the namespace at ns_path, on a short-lived thread, so the main
 * thread never changes namespace (setns is per thread; the socket keeps the namespace it was
 * made in). */
typedef struct {
  const char *ns_path;
  int fd, err;
} open_job;

static void *open_in_ns(void *arg) {
  open_job *job = arg;
  int ns = open(job->ns_path, O_RDONLY | O_CLOEXEC);
  if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
    job->err = errno;
    if (ns >= 0) close(ns);
    return NULL;
  }
  close(ns);
  job->fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (job->fd < 0) job->err = errno;
  return NULL;
}

static int diag_socket(const char *ns_path) {
  if (ns_path == NULL) {
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    return fd < 0 ? -errno : fd;
  }
  open_job job = {ns_path, -1, 0};
  pthread_t t;
  int e = pthread_create(&t, NULL, open_in_ns, &job);
  if (e != 0) return -e;
  pthread_join(t, NULL);
  return job.fd >= 0 ? job.fd : -job.err;
}

/* ---- N-API glue ------------------------------------------------------------------------------ */

/* An Error whose code is the errno name for the few a caller acts on, else "E<n>". */
static napi_value errno_error(napi_env env, const char *what, int err) {
  static const struct {
    int n;
    const char *name;
  } names[] = {{ENOENT, "ENOENT"}, {EACCES, "EACCES"}, {EPERM, "EPERM"}, {ESRCH, "ESRCH"},
               {EPROTO, "EPROTO"}, {ENOMEM, "ENOMEM"}, {EINVAL, "EINVAL"}};
  char code[16];
  snprintf(code, sizeof code, "E%d", err);
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].n == err) snprintf(code, sizeof code, "%s", names[i].name);
  char msg[256];
  snprintf(msg, sizeof msg, "%.180s: %s", what, strerror(err));
  napi_value code_value, msg_value, error;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &msg_value);
  napi_create_error(env, code_value, msg_value, &error);
  return error;
}

static napi_value throw_errno(napi_env env, const char *what, int err) {
  napi_throw(env, errno_error(env, what, err));
  return NULL;
}

/* Copies v into a new Node Buffer and frees v. */
static napi_value to_buffer(napi_env env, vec *v) {
  napi_value result;
  void *dst;
  napi_status s = napi_create_buffer_copy(env, v->len, v->data ? (void *)v->data : (void *)"", &dst, &result);
  free(v->data);
  v->data = NULL;
  if (s != napi_ok) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  return result;
}

/* Reads a string argument into buf; returns 1 for a string, 0 for null/undefined, -1 otherwise. */
static int string_arg(napi_env env, napi_value v, char *buf, size_t size) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_null || t == napi_undefined) return 0;
  size_t n;
  if (t != napi_string || napi_get_value_string_utf8(env, v, buf, size, &n) != napi_ok) return -1;
  return n + 1 < size ? 1 : -1; /* refuse a truncated path */
}

/* The four dumps, same order as the /proc tables: tcp, tcp6, udp, udp6. 0 or -errno; *what names
 * the step that failed. */
static int read_listeners(const char *ns_path, vec *out, const char **what) {
  int fd = diag_socket(ns_path);
  if (fd < 0) {
    *what = "sock_diag socket";
    return fd;
  }
  static const struct {
    uint8_t family, protocol;
    uint32_t states;
  } q[4] = {{AF_INET, IPPROTO_TCP, 1u << TCP_LISTEN_STATE},
            {AF_INET6, IPPROTO_TCP, 1u << TCP_LISTEN_STATE},
            {AF_INET, IPPROTO_UDP, 1u << TCP_CLOSE_STATE},
            {AF_INET6, IPPROTO_UDP, 1u << TCP_CLOSE_STATE}};
  for (int i = 0; i < 4; i++) {
    int r = dump(fd, q[i].family, q[i].protocol, q[i].states, (uint32_t)i + 1, out);
    if (r < 0) {
      close(fd);
      *what = "sock_diag dump";
      return r;
    }
  }
  close(fd);
  return 0;
}

/* The promise of a task on libuv's pool: started by start_async, settled (and the work freed) by
 * settle, with `result`, or an errno error (ENOMEM when there is neither). */
static napi_value start_async(napi_env env, const char *name, napi_async_execute_callback execute,
                              napi_async_complete_callback complete, void *task, napi_deferred *deferred,
                              napi_async_work *work) {
  napi_value promise, resource;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource);
  if (napi_create_promise(env, deferred, &promise) != napi_ok ||
      napi_create_async_work(env, NULL, resource, execute, complete, task, work) != napi_ok ||
      napi_queue_async_work(env, *work) != napi_ok) {
    napi_throw_error(env, NULL, "cannot start the native read");
    return NULL;
  }
  return promise;
}

static void settle(napi_env env, napi_deferred deferred, napi_async_work work, napi_value result,
                   const char *what, int err) {
  if (result != NULL) napi_resolve_deferred(env, deferred, result);
  else napi_reject_deferred(env, deferred, errno_error(env, what, err ? err : ENOMEM));
  napi_delete_async_work(env, work);
}

/* listeners runs on libuv's thread pool, so moat's JavaScript loads while the kernel dumps the
 * table. (A namespace is still entered on a thread of its own: see diag_socket.) */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char path[4096];
  int has_path, err;
  const char *what;
  vec out;
} listeners_task;

static void listeners_execute(napi_env env, void *data) {
  (void)env;
  listeners_task *t = data;
  t->err = -read_listeners(t->has_path ? t->path : NULL, &t->out, &t->what);
}

static void listeners_complete(napi_env env, napi_status status, void *data) {
  listeners_task *t = data;
  napi_value result = NULL;
  void *dst;
  if (status == napi_ok && t->err == 0)
    napi_create_buffer_copy(env, t->out.len, t->out.data ? (void *)t->out.data : (void *)"", &dst, &result);
  settle(env, t->deferred, t->work, result, t->err ? t->what : "listeners", t->err);
  free(t->out.data);
  free(t);
}

/* The first argument as string_arg reads it (missing: 0, as null). */
static int first_string_arg(napi_env env, napi_callback_info info, char *buf, size_t size) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  return argc < 1 ? 0 : string_arg(env, argv[0], buf, size);
}

static napi_value listeners(napi_env env, napi_callback_info info) {
  listeners_task *t = calloc(1, sizeof *t);
  if (!t) return throw_errno(env, "listeners", ENOMEM);
  t->has_path = first_string_arg(env, info, t->path, sizeof t->path);
  if (t->has_path < 0) {
    free(t);
    napi_throw_type_error(env, NULL, "listeners(nsPath): a path string or null");
    return NULL;
  }
  napi_value promise =
      start_async(env, "moat.listeners", listeners_execute, listeners_complete, t, &t->deferred, &t->work);
  if (promise == NULL) free(t);
  return promise;
}

static napi_value parse_diag_js(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data;
  size_t len;
  uint32_t protocol;
  if (argc < 2 || napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &protocol) != napi_ok) {
    napi_throw_type_error(env, NULL, "parseDiag(buffer, protocol)");
    return NULL;
  }
  vec out = {0};
  int r = parse_diag(data, len, (uint8_t)protocol, &out);
  if (r < 0) {
    free(out.data);
    return throw_errno(env, "sock_diag parse", -r);
  }
  return to_buffer(env, &out);
}

/* "socket:[12345]" -> 12345; -1 for anything else (pipes, files, a malformed link). */
static int64_t socket_inode(const char *s, ssize_t n) {
  static const char prefix[] = "socket:[";
  const ssize_t plen = sizeof prefix - 1;
  if (n < plen + 2 || memcmp(s, prefix, (size_t)plen) != 0 || s[n - 1] != ']') return -1;
  int64_t v = 0;
  for (ssize_t i = plen; i < n - 1; i++) {
    if (s[i] < '0' || s[i] > '9' || v > (INT64_C(1) << 53) / 10) return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

static int all_digits(const char *s) {
  if (*s == 0) return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return 0;
  return 1;
}

static int denied(int e) { return e == EACCES || e == EPERM; }

/* What a socket owner is called and runs under, read while its /proc directory is at hand, so
 * that JavaScript does not make 600 small reads for 200 owners afterwards. */
static const char *const OWNER_FILES[] = {"comm", "cgroup", "cmdline"};
enum { N_OWNER_FILES = 3 };

/* Appends the whole file as [int32 length][bytes], length -1 when it cannot be read to the end. */
static int append_file(int procfd, const char *name, const char *file, vec *texts) {
  char path[48];
  snprintf(path, sizeof path, "%s/%s", name, file);
  if (vec_reserve(texts, 4)) return -ENOMEM;
  size_t at = texts->len;
  int32_t len = -1;
  texts->len += 4;
  int fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    for (;;) {
      if (vec_reserve(texts, 4096)) {
        close(fd);
        return -ENOMEM;
      }
      ssize_t n = read(fd, texts->data + texts->len, texts->cap - texts->len);
      if (n < 0) {
        texts->len = at + 4; /* exited mid-read: unknown, as a failed open */
        break;
      }
      if (n == 0) {
        len = (int32_t)(texts->len - at - 4);
        break;
      }
      texts->len += (size_t)n;
    }
    close(fd);
  }
  memcpy(texts->data + at, &len, 4);
  return 0;
}

/* [int32 pid] then each OWNER_FILES entry as append_file writes it. */
static int append_owner(int procfd, const char *name, int32_t pid, vec *texts) {
  if (vec_reserve(texts, 4)) return -ENOMEM;
  memcpy(texts->data + texts->len, &pid, 4);
  texts->len += 4;
  for (int i = 0; i < N_OWNER_FILES; i++) {
    int r = append_file(procfd, name, OWNER_FILES[i], texts);
    if (r < 0) return r;
  }
  return 0;
}

/* One pid's fd directory: appends (inode, pid) per socket fd, and the owner's files to texts when it
 * holds any socket. Returns 1 when refused (hidden), -ENOMEM, else 0. */
static int walk_pid(int procfd, const char *name, vec *pairs, vec *texts) {
  uint32_t pid = (uint32_t)strtoul(name, NULL, 10);
  char sub[32];
  snprintf(sub, sizeof sub, "%s/fd", name);
  int fdfd = openat(procfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fdfd < 0) return denied(errno) ? 1 : 0; /* refused, gone, or not a process directory */
  DIR *fds = fdopendir(fdfd);
  if (!fds) {
    close(fdfd);
    return 0;
  }
  int rc = 0;
  size_t sockets = 0;
  struct dirent *f;
  while ((f = readdir(fds)) != NULL) {
    if (f->d_name[0] == '.') continue;
    char target[64];
    ssize_t n = readlinkat(fdfd, f->d_name, target, sizeof target);
    if (n < 0) {
      if (denied(errno)) {
        rc = 1;
        break;
      }
      continue; /* closed meanwhile, or not a link in a copied tree */
    }
    if (n == (ssize_t)sizeof target) continue; /* longer than any socket link: not one */
    int64_t inode = socket_inode(target, n);
    if (inode < 0) continue;
    /* sockfs numbers its inodes with get_next_ino(), an unsigned int: a larger one means this is
     * not the kernel this was written for, and the JavaScript walk (any size) takes over. */
    if (inode > UINT32_MAX) {
      rc = -EOVERFLOW;
      break;
    }
    if (vec_reserve(pairs, 8)) {
      rc = -ENOMEM;
      break;
    }
    uint32_t rec[2] = {(uint32_t)inode, pid};
    memcpy(pairs->data + pairs->len, rec, sizeof rec);
    pairs->len += sizeof rec;
    sockets++;
  }
  closedir(fds);
  if (rc == 0 && sockets > 0) rc = append_owner(procfd, name, (int32_t)pid, texts);
  return rc;
}

/* Half of the pids (every other one, so both halves get big and small processes alike): the
 * readlinks are kernel work that two cores do in half the time. */
typedef struct {
  int procfd;
  char (*names)[16];
  size_t count, first;
  vec pairs, texts;
  uint32_t hidden;
  int err;
} walk_job;

static void *walk_half(void *arg) {
  walk_job *job = arg;
  for (size_t i = job->first; i < job->count && job->err == 0; i += 2) {
    int r = walk_pid(job->procfd, job->names[i], &job->pairs, &job->texts);
    if (r < 0) job->err = -r;
    else job->hidden += (uint32_t)r;
  }
  return NULL;
}

/* Pairs in (inode, pid) order, so the caller finds a socket's holders by binary search. */
static int pair_order(const void *a, const void *b) {
  uint32_t x[2], y[2];
  memcpy(x, a, sizeof x);
  memcpy(y, b, sizeof y);
  if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
  return x[1] < y[1] ? -1 : x[1] > y[1];
}

/* Sorts the pairs and drops repeats (a process holding one socket on two fds counts once). */
static void sort_pairs(vec *pairs) {
  size_t n = pairs->len / 8;
  if (n < 2) return;
  qsort(pairs->data, n, 8, pair_order);
  size_t kept = 1;
  for (size_t i = 1; i < n; i++) {
    if (memcmp(pairs->data + 8 * i, pairs->data + 8 * (kept - 1), 8) == 0) continue;
    if (kept != i) memcpy(pairs->data + 8 * kept, pairs->data + 8 * i, 8);
    kept++;
  }
  pairs->len = kept * 8;
}

/* The whole walk: every pid under root, on two threads, then its pairs sorted (sort_pairs).
 * 0, or an errno (root unreadable, ENOMEM). */
static int walk_proc(const char *root, vec *out, vec *texts, uint32_t *hidden) {
  DIR *procs = opendir(root);
  if (!procs) return errno;
  /* the pids first, then the two halves on two threads */
  char(*names)[16] = NULL;
  size_t count = 0, cap = 0;
  struct dirent *p;
  while ((p = readdir(procs)) != NULL) {
    if (!all_digits(p->d_name) || strlen(p->d_name) > 10) continue; /* not a pid */
    if (count == cap) {
      cap = cap ? cap * 2 : 1024;
      char(*grown)[16] = realloc(names, cap * sizeof *names);
      if (!grown) {
        free(names);
        closedir(procs);
        return ENOMEM;
      }
      names = grown;
    }
    memcpy(names[count++], p->d_name, strlen(p->d_name) + 1);
  }
  walk_job jobs[2] = {{dirfd(procs), names, count, 0, {0}, {0}, 0, 0},
                      {dirfd(procs), names, count, 1, {0}, {0}, 0, 0}};
  pthread_t helper;
  int threaded = pthread_create(&helper, NULL, walk_half, &jobs[1]) == 0;
  walk_half(&jobs[0]);
  if (threaded) pthread_join(helper, NULL);
  else walk_half(&jobs[1]); /* no thread to be had: walk the other half here */
  closedir(procs);
  free(names);
  int err = jobs[0].err ? jobs[0].err : jobs[1].err;
  if (!err && vec_reserve(out, jobs[0].pairs.len + jobs[1].pairs.len + 1)) err = ENOMEM;
  if (!err && vec_reserve(texts, jobs[0].texts.len + jobs[1].texts.len + 1)) err = ENOMEM;
  if (!err) {
    for (int i = 0; i < 2; i++) {
      if (jobs[i].pairs.len) memcpy(out->data + out->len, jobs[i].pairs.data, jobs[i].pairs.len);
      out->len += jobs[i].pairs.len;
      if (jobs[i].texts.len) memcpy(texts->data + texts->len, jobs[i].texts.data, jobs[i].texts.len);
      texts->len += jobs[i].texts.len;
    }
    *hidden = jobs[0].hidden + jobs[1].hidden;
    sort_pairs(out); /* here, off the JavaScript thread */
  }
  for (int i = 0; i < 2; i++) {
    free(jobs[i].pairs.data);
    free(jobs[i].texts.data);
  }
  return err;
}

/* [pid, comm, cgroup, cmdline, pid, ...] from the texts walk_pid appended; null for a file it could
 * not read. NULL when out of memory or the bytes are malformed (never, as this file wrote them). */
static napi_value owner_texts(napi_env env, const vec *texts) {
  napi_value list, value;
  if (napi_create_array(env, &list) != napi_ok) return NULL;
  uint32_t n = 0;
  size_t at = 0;
  while (at < texts->len) {
    int32_t pid;
    if (texts->len - at < 4) return NULL;
    memcpy(&pid, texts->data + at, 4);
    at += 4;
    napi_create_int32(env, pid, &value);
    napi_set_element(env, list, n++, value);
    for (int i = 0; i < N_OWNER_FILES; i++) {
      int32_t len;
      if (texts->len - at < 4) return NULL;
      memcpy(&len, texts->data + at, 4);
      at += 4;
      if (len < 0) napi_get_null(env, &value);
      else if ((size_t)len > texts->len - at ||
               napi_create_string_utf8(env, (const char *)texts->data + at, (size_t)len, &value) != napi_ok)
        return NULL;
      else at += (size_t)len;
      napi_set_element(env, list, n++, value);
    }
  }
  return list;
}

/* {pairs: Uint32Array over its own ArrayBuffer (aligned; small integers, which JavaScript reads
 * without allocating a number each, as it must for a Float64Array), hiddenPids, owners} */
static napi_value fds_result(napi_env env, const vec *pairs, const vec *texts, uint32_t hidden) {
  napi_value result, ab, arr, h;
  void *dst;
  napi_value owners = owner_texts(env, texts);
  if (owners == NULL) return NULL;
  if (napi_create_arraybuffer(env, pairs->len, &dst, &ab) != napi_ok) return NULL;
  if (pairs->len) memcpy(dst, pairs->data, pairs->len);
  napi_create_typedarray(env, napi_uint32_array, pairs->len / 4, ab, 0, &arr);
  napi_create_object(env, &result);
  napi_create_uint32(env, hidden, &h);
  napi_set_named_property(env, result, "pairs", arr);
  napi_set_named_property(env, result, "hiddenPids", h);
  napi_set_named_property(env, result, "owners", owners);
  return result;
}

/* socketFds runs the walk off the JavaScript thread: moat reads the socket table and loads the
 * catalog meanwhile, and the result comes back as a promise. */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char root[4096];
  vec pairs, texts;
  uint32_t hidden;
  int err;
} walk_task;

static void walk_execute(napi_env env, void *data) {
  (void)env;
  walk_task *t = data;
  t->err = walk_proc(t->root, &t->pairs, &t->texts, &t->hidden);
}

static void walk_complete(napi_env env, napi_status status, void *data) {
  walk_task *t = data;
  napi_value result = NULL;
  if (status == napi_ok && t->err == 0) result = fds_result(env, &t->pairs, &t->texts, t->hidden);
  settle(env, t->deferred, t->work, result, t->err ? t->root : "socketFds", t->err);
  free(t->pairs.data);
  free(t->texts.data);
  free(t);
}

static napi_value socket_fds(napi_env env, napi_callback_info info) {
  walk_task *t = calloc(1, sizeof *t);
  if (!t) return throw_errno(env, "socketFds", ENOMEM);
  if (first_string_arg(env, info, t->root, sizeof t->root) != 1) {
    free(t);
    napi_throw_type_error(env, NULL, "socketFds(procRoot): a path string");
    return NULL;
  }
  napi_value promise = start_async(env, "moat.socketFds", walk_execute, walk_complete, t, &t->deferred, &t->work);
  if (promise == NULL) free(t);
  return promise;
}

/* native/udp.c: moat scan's UDP socket, registered into the same addon. */
void moat_udp_register(napi_env env, napi_value exports);

NAPI_MODULE_INIT() {
  moat_udp_register(env, exports);
  napi_property_descriptor props[] = {
      {"listeners", NULL, listeners, NULL, NULL, NULL, napi_enumerable, NULL},
      {"socketFds", NULL, socket_fds, NULL, NULL, NULL, napi_enumerable, NULL},
      {"parseDiag", NULL, parse_diag_js, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
