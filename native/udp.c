/*
 * moat scan's native UDP socket (N-API, C), part of the one addon native/build.mjs builds.
 *
 * Why: Linux tells a UDP sender "port unreachable" (the port is closed) only on a *connected* socket,
 * unless the socket asks for its ICMP errors with IP_RECVERR / IPV6_RECVERR: then every error is
 * queued on the socket's error queue, read with recvmsg(MSG_ERRQUEUE), with the datagram's original
 * destination as msg_name. So one unconnected socket per family can send every probe (sendmmsg, up
 * to SEND_BATCH a call) and still learn which ports are closed, where Node's dgram needs a connect,
 * a send and a disconnect per (address, port). src/scan/udp-native.ts wraps this; without the addon
 * the engine keeps its connected sockets.
 *
 *  udpOpen(family 4|6, bufferBytes, onEvents(events: Buffer, more: boolean)) -> handle
 *      binds to an ephemeral port; whenever the socket is readable (replies or ICMP errors) it reads
 *      everything there is (up to MAX_EVENTS) on the JavaScript thread, from libuv's poll phase,
 *      and calls onEvents once with the records below; more = there may be more to read.
 *  udpPort(handle) -> number      the bound port
 *  udpSend(handle, records: Buffer, start, end, errors: Int32Array) -> offset
 *      sends the send records in [start, end) without blocking; returns the offset of the first
 *      one not sent (the socket's send buffer is full: call again later). Datagrams the kernel
 *      refused are skipped: errors[0] counts them, errors[1..] keep their errno values (as many as
 *      fit).
 *  udpClose(handle)
 *  udpParseError(name: Buffer, control: Buffer) -> Buffer | null
 *      the error-queue parser alone, over given bytes (tests with crafted and truncated input).
 *
 * Send record: 16 address bytes (IPv4 in the first 4), port (2, big-endian), payload length (2,
 * little-endian), payload. Event record (EVENT_HEADER bytes, then the payload of a datagram):
 *   0 kind (EV_DATAGRAM | EV_ICMP), 1 family (4|6), 2-3 port (big-endian): the source of a datagram,
 *   the original destination of an ICMP error; 4-7 datagram: payload length (little-endian);
 *   ICMP error: ee_origin, ee_type, ee_code, ee_errno; 8-23 address (IPv4 in the first 4).
 * Everything is bounds-checked; the kernel's control messages are parsed by length, never trusted.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <time.h> /* struct timespec, which linux/errqueue.h uses */
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "vec.h"

enum { SEND_HEADER = 20, EVENT_HEADER = 24, EV_DATAGRAM = 1, EV_ICMP = 2 };
enum { SEND_BATCH = 64, RECV_SLOTS = 32, SLOT_BYTES = 65536, MAX_EVENTS = 4096 };
/* One onEvents call carries at most this much (a flood of large datagrams waits for the next call). */
enum { MAX_EVENT_BYTES = 4 << 20 };
/*
 * A send refused with an errno a queued ICMP error may have left (see send_records) is tried again:
 * ECONNREFUSED, which nothing local causes, as long as errors keep coming (a burst of port
 * unreachables fails as many sends in a row); the others, which a missing route also gives, a few times.
 */
enum { SEND_TRIES = 8, REFUSED_TRIES = 4096 };

static int try_again(int e, int tries) {
  return e == ECONNREFUSED ? tries < REFUSED_TRIES : tries < SEND_TRIES;
}

typedef struct {
  int fd, epfd, family, port, closed;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  uv_poll_t poll;
  uint8_t *slots;
  struct mmsghdr msgs[RECV_SLOTS];
  struct iovec iov[RECV_SLOTS];
  struct sockaddr_in6 names[RECV_SLOTS];
  vec out;
  int out_count;
} udp_sock;

/* ------------------------------------------------------------------------------ event records */

/* The port sits at the same offset in both address structs: one copy serves both families. */
_Static_assert(offsetof(struct sockaddr_in, sin_port) == offsetof(struct sockaddr_in6, sin6_port),
               "sin_port and sin6_port at one offset");

/* Address and port of a sockaddr the kernel filled in; 0 when it is not one of ours. */
static int put_address(uint8_t *rec, const void *name, socklen_t len) {
  sa_family_t family;
  if (len < sizeof family) return 0;
  memcpy(&family, name, sizeof family);
  int v4 = family == AF_INET;
  if (!v4 && family != AF_INET6) return 0;
  if (len < (v4 ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6))) return 0;
  const uint8_t *p = name;
  rec[1] = v4 ? 4 : 6;
  memcpy(rec + 2, p + offsetof(struct sockaddr_in, sin_port), 2);
  if (v4) memcpy(rec + 8, p + offsetof(struct sockaddr_in, sin_addr), 4);
  else memcpy(rec + 8, p + offsetof(struct sockaddr_in6, sin6_addr), 16);
  return 1;
}

/*
 * One message read from the error queue -> an EV_ICMP record. 1: written; 0: not an ICMP error
 * (a local error such as EMSGSIZE, or no extended error at all); -1: malformed (a control message
 * longer than the buffer, a truncated sock_extended_err, an address of the wrong size).
 */
static int parse_error(const struct msghdr *m, uint8_t rec[EVENT_HEADER]) {
  memset(rec, 0, EVENT_HEADER);
  rec[0] = EV_ICMP;
  if (m->msg_flags & MSG_CTRUNC) return -1;
  const uint8_t *base = m->msg_control;
  int found = 0;
  struct sock_extended_err ee;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
    size_t at = (const uint8_t *)c - base;
    if (c->cmsg_len < CMSG_LEN(0) || c->cmsg_len > m->msg_controllen - at) return -1;
    int is_err = (c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
                 (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR);
    if (!is_err) continue;
    if (c->cmsg_len < CMSG_LEN(sizeof ee)) return -1;
    memcpy(&ee, CMSG_DATA(c), sizeof ee);
    found = 1;
  }
  if (!found) return 0;
  if (ee.ee_origin != SO_EE_ORIGIN_ICMP && ee.ee_origin != SO_EE_ORIGIN_ICMP6) return 0;
  if (!put_address(rec, m->msg_name, m->msg_namelen)) return -1;
  if ((rec[1] == 4) != (ee.ee_origin == SO_EE_ORIGIN_ICMP)) return -1;
  rec[4] = ee.ee_origin;
  rec[5] = ee.ee_type;
  rec[6] = ee.ee_code;
  rec[7] = ee.ee_errno > 255 ? 255 : (uint8_t)ee.ee_errno;
  return 1;
}

static int events_full(const udp_sock *s) {
  return s->out_count >= MAX_EVENTS || s->out.len >= MAX_EVENT_BYTES;
}

/* Reads the error queue until it is empty or the event buffer is full; 1 = stopped while full. */
static int drain_errors(udp_sock *s) {
  for (;;) {
    if (events_full(s)) return 1;
    struct sockaddr_in6 name;
    uint64_t control[64]; /* aligned for cmsghdr */
    uint8_t data[64];     /* the start of our own datagram: not needed */
    struct iovec iov = {data, sizeof data};
    struct msghdr m = {0};
    m.msg_name = &name;
    m.msg_namelen = sizeof name;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    if (recvmsg(s->fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
      if (errno == EINTR) continue;
      return 0; /* EAGAIN: empty */
    }
    if (vec_reserve(&s->out, EVENT_HEADER)) return 1;
    if (parse_error(&m, s->out.data + s->out.len) == 1) {
      s->out.len += EVENT_HEADER;
      s->out_count++;
    }
  }
}

/* errno values a queued ICMP error leaves in sk_err, reported once by the next send or receive. */
static int icmp_errno(int e) {
  return e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH || e == EHOSTDOWN || e == ENONET ||
         e == EACCES || e == EPROTO || e == ENOPROTOOPT || e == EMSGSIZE || e == EOPNOTSUPP;
}

/* Reads datagrams until none is left or the event buffer is full; 1 = stopped while full. */
static int drain_datagrams(udp_sock *s) {
  int tries = 0;
  for (;;) {
    if (events_full(s)) return 1;
    for (int i = 0; i < RECV_SLOTS; i++) {
      s->msgs[i].msg_hdr.msg_namelen = sizeof s->names[i];
      s->msgs[i].msg_hdr.msg_flags = 0;
    }
    int n = recvmmsg(s->fd, s->msgs, RECV_SLOTS, MSG_DONTWAIT, NULL);
    if (n < 0) {
      if (errno == EINTR || (icmp_errno(errno) && try_again(errno, ++tries))) continue;
      return 0; /* EAGAIN: empty */
    }
    for (int i = 0; i < n; i++) {
      const struct msghdr *h = &s->msgs[i].msg_hdr;
      size_t len = s->msgs[i].msg_len;
      if (len > SLOT_BYTES) len = SLOT_BYTES;
      if (vec_reserve(&s->out, EVENT_HEADER + len)) return 1;
      uint8_t *rec = s->out.data + s->out.len;
      memset(rec, 0, EVENT_HEADER);
      rec[0] = EV_DATAGRAM;
      if (!put_address(rec, h->msg_name, h->msg_namelen)) continue;
      rec[4] = len & 0xff;
      rec[5] = (len >> 8) & 0xff;
      rec[6] = (len >> 16) & 0xff;
      rec[7] = 0;
      memcpy(rec + EVENT_HEADER, s->slots + (size_t)i * SLOT_BYTES, len);
      s->out.len += EVENT_HEADER + len;
      s->out_count++;
    }
    if (n < RECV_SLOTS) return 0; /* fewer than asked: the queue is empty */
  }
}

static void on_ready(uv_poll_t *poll, int status, int events) {
  (void)status;
  (void)events;
  udp_sock *s = poll->data;
  if (s->closed) return;
  s->out.len = 0;
  s->out_count = 0;
  /* Errors first: reading them also clears the pending sk_err the next read would return. */
  int more = drain_errors(s);
  more = drain_datagrams(s) || more;
  more = drain_errors(s) || more;
  if (s->out.len == 0) return;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value argv[2], callback, recv, result;
  void *copy;
  if (napi_create_buffer_copy(env, s->out.len, s->out.data, &copy, &argv[0]) == napi_ok &&
      napi_get_boolean(env, more, &argv[1]) == napi_ok &&
      napi_get_reference_value(env, s->callback, &callback) == napi_ok &&
      napi_get_global(env, &recv) == napi_ok) { /* make_callback wants an object */
    if (napi_make_callback(env, s->async, recv, callback, 2, argv, &result) == napi_pending_exception) {
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      napi_fatal_exception(env, error); /* as a throwing 'message' listener of a dgram socket */
    }
  }
  napi_close_handle_scope(env, scope);
}

/* ------------------------------------------------------------------------------------ sending */

/*
 * Sends the records in [start, end); returns the offset of the first record not sent, or -1 when a
 * record runs past `end` (a bug in the caller). A pending ICMP error (sk_err, set by every error
 * the socket receives, also while our own sendmmsg runs: on a veth the target's answer is processed
 * in our softirq) fails the next send once without sending: such errnos are retried.
 */
static long send_records(udp_sock *s, const uint8_t *buf, size_t start, size_t end, int32_t *errs,
                         size_t errs_len) {
  struct mmsghdr msgs[SEND_BATCH];
  struct iovec iov[SEND_BATCH];
  struct sockaddr_in6 names[SEND_BATCH];
  size_t offsets[SEND_BATCH + 1];
  size_t off = start;
  int tries = 0;
  while (off < end) {
    int n = 0;
    size_t at = off;
    while (n < SEND_BATCH && at < end) {
      if (end - at < SEND_HEADER) return -1;
      size_t len = buf[at + 18] | (buf[at + 19] << 8);
      if (end - at - SEND_HEADER < len) return -1;
      memset(&names[n], 0, sizeof names[n]);
      socklen_t namelen;
      if (s->family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&names[n];
        a->sin_family = AF_INET;
        memcpy(&a->sin_port, buf + at + 16, 2);
        memcpy(&a->sin_addr, buf + at, 4);
        namelen = sizeof *a;
      } else {
        names[n].sin6_family = AF_INET6;
        memcpy(&names[n].sin6_port, buf + at + 16, 2);
        memcpy(&names[n].sin6_addr, buf + at, 16);
        namelen = sizeof names[n];
      }
      iov[n].iov_base = (void *)(buf + at + SEND_HEADER);
      iov[n].iov_len = len;
      memset(&msgs[n], 0, sizeof msgs[n]);
      msgs[n].msg_hdr.msg_name = &names[n];
      msgs[n].msg_hdr.msg_namelen = namelen;
      msgs[n].msg_hdr.msg_iov = &iov[n];
      msgs[n].msg_hdr.msg_iovlen = 1;
      offsets[n] = at;
      at += SEND_HEADER + len;
      n++;
    }
    offsets[n] = at;
    int r = sendmmsg(s->fd, msgs, n, MSG_DONTWAIT);
    if (r > 0) {
      off = offsets[r];
      tries = 0;
      continue;
    }
    int e = errno;
    if (r == 0 || e == EINTR) continue;
    if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) break;
    if (icmp_errno(e) && try_again(e, ++tries)) continue;
    /* Refused for good (no route, a local firewall): skip it, say why. */
    int32_t count = errs[0]++;
    if ((size_t)count + 1 < errs_len) errs[count + 1] = e;
    off = offsets[1];
    tries = 0;
  }
  return (long)off;
}

/* ------------------------------------------------------------------------------- N-API glue */

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static void on_closed(uv_handle_t *handle) {
  udp_sock *s = handle->data;
  free(s->slots);
  free(s->out.data);
  free(s);
}

static void close_sock(udp_sock *s) {
  if (s->closed) return;
  s->closed = 1;
  napi_remove_env_cleanup_hook(s->env, (void (*)(void *))close_sock, s);
  uv_poll_stop(&s->poll);
  close(s->epfd);
  close(s->fd);
  napi_delete_reference(s->env, s->callback);
  napi_async_destroy(s->env, s->async);
  uv_close((uv_handle_t *)&s->poll, on_closed);
}

static udp_sock *sock_arg(napi_env env, napi_value v) {
  void *p = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &p) != napi_ok)
    return NULL;
  return p;
}

/* The arguments of a call whose first is a socket handle: that socket, when exactly `want`
 * arguments came and the first is a handle; NULL otherwise. argv gets them all. */
static udp_sock *handle_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  return argc == want ? sock_arg(env, argv[0]) : NULL;
}

static napi_value udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t family = 0, bytes = 0;
  napi_valuetype t = napi_undefined;
  if (argc == 3) napi_typeof(env, argv[2], &t);
  if (argc < 3 || napi_get_value_int32(env, argv[0], &family) != napi_ok ||
      napi_get_value_int32(env, argv[1], &bytes) != napi_ok || (family != 4 && family != 6) ||
      t != napi_function) {
    napi_throw_type_error(env, NULL, "udpOpen(family 4|6, bufferBytes, onEvents)");
    return NULL;
  }
  int af = family == 4 ? AF_INET : AF_INET6;
  int fd = socket(af, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "udpOpen: socket", errno);
  int one = 1;
  int err = 0;
  if (af == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one)) err = errno;
  if (!err && setsockopt(fd, af == AF_INET ? SOL_IP : SOL_IPV6, af == AF_INET ? IP_RECVERR : IPV6_RECVERR,
                         &one, sizeof one))
    err = errno;
  if (!err && bytes > 0) {
    /* As large as asked where privileged (FORCE), else as large as net.core.*mem_max allows. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes))
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes))
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
  }
  struct sockaddr_in6 any = {0};
  any.sin6_family = af;
  socklen_t len = af == AF_INET ? sizeof(struct sockaddr_in) : sizeof any;
  if (!err && bind(fd, (struct sockaddr *)&any, len)) err = errno;
  if (!err && getsockname(fd, (struct sockaddr *)&any, &len)) err = errno;
  int epfd = err ? -1 : epoll_create1(EPOLL_CLOEXEC);
  if (!err && epfd < 0) err = errno;
  /* libuv's poll handle stops itself on POLLERR, which a queued ICMP error raises: it watches an
   * epoll descriptor holding the socket instead, which is only ever readable. */
  struct epoll_event ev = {.events = EPOLLIN};
  if (!err && epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)) err = errno;
  udp_sock *s = err ? NULL : calloc(1, sizeof *s);
  if (!err && s == NULL) err = ENOMEM;
  if (s != NULL) s->slots = malloc((size_t)RECV_SLOTS * SLOT_BYTES);
  if (s != NULL && s->slots == NULL) err = ENOMEM;
  if (err) {
    if (s) free(s->slots);
    free(s);
    if (epfd >= 0) close(epfd);
    close(fd);
    return throw_errno(env, "udpOpen", err);
  }
  s->fd = fd;
  s->epfd = epfd;
  s->family = af;
  s->env = env;
  s->port = ntohs(any.sin6_port); /* sin_port and sin6_port sit at the same offset */
  for (int i = 0; i < RECV_SLOTS; i++) {
    s->iov[i].iov_base = s->slots + (size_t)i * SLOT_BYTES;
    s->iov[i].iov_len = SLOT_BYTES;
    s->msgs[i].msg_hdr.msg_name = &s->names[i];
    s->msgs[i].msg_hdr.msg_iov = &s->iov[i];
    s->msgs[i].msg_hdr.msg_iovlen = 1;
  }
  napi_value name, resource, handle;
  uv_loop_t *loop = NULL;
  napi_create_string_utf8(env, "moat.udp", NAPI_AUTO_LENGTH, &name);
  napi_create_object(env, &resource);
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || napi_create_reference(env, argv[2], 1, &s->callback) != napi_ok ||
      napi_async_init(env, resource, name, &s->async) != napi_ok || uv_poll_init(loop, &s->poll, epfd) != 0) {
    close(epfd);
    close(fd);
    free(s->slots);
    free(s);
    napi_throw_error(env, NULL, "udpOpen: cannot watch the socket");
    return NULL;
  }
  s->poll.data = s;
  uv_poll_start(&s->poll, UV_READABLE, on_ready);
  napi_add_env_cleanup_hook(env, (void (*)(void *))close_sock, s);
  napi_create_external(env, s, NULL, NULL, &handle);
  return handle;
}

static napi_value udp_port(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  udp_sock *s = handle_args(env, info, 1, argv);
  if (s == NULL) {
    napi_throw_type_error(env, NULL, "udpPort(handle)");
    return NULL;
  }
  napi_create_int32(env, s->port, &result);
  return result;
}

static napi_value udp_send(napi_env env, napi_callback_info info) {
  napi_value argv[5], result;
  udp_sock *s = handle_args(env, info, 5, argv);
  void *data = NULL, *errs_data = NULL;
  size_t len = 0, errs_len = 0;
  int64_t start = -1, end = -1;
  napi_typedarray_type type;
  napi_value ab;
  size_t ab_offset;
  if (s == NULL || s->closed || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok ||
      napi_get_value_int64(env, argv[2], &start) != napi_ok || napi_get_value_int64(env, argv[3], &end) != napi_ok ||
      napi_get_typedarray_info(env, argv[4], &type, &errs_len, &errs_data, &ab, &ab_offset) != napi_ok ||
      type != napi_int32_array || errs_len < 1 || start < 0 || end < start || (uint64_t)end > len) {
    napi_throw_type_error(env, NULL, "udpSend(open handle, records, start, end, errors: Int32Array)");
    return NULL;
  }
  long off = send_records(s, data, (size_t)start, (size_t)end, errs_data, errs_len);
  if (off < 0) {
    napi_throw_range_error(env, NULL, "udpSend: a record runs past the end");
    return NULL;
  }
  napi_create_int64(env, off, &result);
  return result;
}

static napi_value udp_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  udp_sock *s = handle_args(env, info, 1, argv);
  if (s == NULL) {
    napi_throw_type_error(env, NULL, "udpClose(handle)");
    return NULL;
  }
  close_sock(s);
  return NULL;
}

/* parse_error over bytes from JavaScript: copied to aligned buffers first, as the kernel's are. */
static napi_value udp_parse_error(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *name = NULL, *control = NULL;
  size_t name_len = 0, control_len = 0;
  if (argc < 2 || napi_get_buffer_info(env, argv[0], &name, &name_len) != napi_ok ||
      napi_get_buffer_info(env, argv[1], &control, &control_len) != napi_ok || control_len > 4096) {
    napi_throw_type_error(env, NULL, "udpParseError(name: Buffer, control: Buffer up to 4096 bytes)");
    return NULL;
  }
  struct sockaddr_in6 name_copy = {0};
  uint64_t control_copy[512];
  if (name_len > sizeof name_copy) name_len = sizeof name_copy;
  memcpy(&name_copy, name, name_len);
  memcpy(control_copy, control, control_len);
  struct msghdr m = {0};
  m.msg_name = &name_copy;
  m.msg_namelen = name_len;
  m.msg_control = control_len ? control_copy : NULL;
  m.msg_controllen = control_len;
  uint8_t rec[EVENT_HEADER];
  int r = parse_error(&m, rec);
  if (r < 0) {
    napi_throw_range_error(env, NULL, "udpParseError: malformed error-queue message");
    return NULL;
  }
  if (r == 0) napi_get_null(env, &result);
  else napi_create_buffer_copy(env, EVENT_HEADER, rec, NULL, &result);
  return result;
}

/* Called from the addon's init (native/moat.c). */
void moat_udp_register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"udpOpen", NULL, udp_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpPort", NULL, udp_port, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpSend", NULL, udp_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpClose", NULL, udp_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udpParseError", NULL, udp_parse_error, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
