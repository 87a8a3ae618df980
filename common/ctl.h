/* SPDX-License-Identifier: MIT */
/* ctl — the JSON-lines control socket of a running vhm instance, in the
 * spirit of QMP, and the small client library the CLI tools use.
 *
 * The server lives inside the embedding program's single-threaded poll loop:
 * it never blocks, never sleeps, and knows nothing of what its commands do;
 * the commands come from a table the embedder passes in. It has no lock:
 * every ctl_server_* call, ctl_server_emit included, comes from that one
 * thread (another thread hands its events to the loop, as mig_job does).
 *
 * Protocol (docs/control.md is the long form).  UTF-8 JSON, one value per
 * line, lines end with '\n' (a '\r' before it is ignored, empty lines too):
 *
 *   server, on connect:
 *     {"vhm": {"version": V, "name": NAME, "pid": N}, "capabilities": ["events"],
 *      "QMP": {"version": {"qemu": {0, 0, 0}, "package": "vhm V"}, "capabilities": []}}
 *   client:
 *     {"execute": CMD, "arguments": {...}, "id": ANY}     arguments, id optional
 *   server, exactly one reply per line received, in order:
 *     {"return": {...}, "id": ANY}                         id only if given
 *     {"error": {"class": C, "desc": "one line"}, "id": ANY}
 *   server, to subscribers, between replies:
 *     {"event": NAME, "data": {...},
 *      "timestamp": {"seconds": S, "microseconds": US}}   wall clock
 *
 * Error classes:
 *   InvalidInput     not JSON, not an object, "execute" missing or not a
 *                    string, "arguments" not an object, an unknown member,
 *                    an argument key the command does not know,
 *                    a line longer than CTL_LINE_MAX bytes (the rest of that
 *                    line is discarded; the connection stays usable)
 *   CommandNotFound  no such command
 *   GenericError     the command ran and failed; desc is its error line
 *   PermissionDenied peer uid is neither 0 nor ours; sent once, then closed
 *
 * Built-in commands (they shadow table rows of the same name):
 *   help, commands   {"commands": [{"name": N, "args": DOC}, ...]}
 *   subscribe        {"events": ["stats", ...]} or no arguments for all;
 *                    replies {"events": [...]} or {"events": "all"};
 *                    {"events": []} unsubscribes.
 *   qmp_capabilities {} or {"enable": []}: what a QMP client sends after the
 *                    greeting; replies {} (nothing to negotiate).
 *
 * Limits: a client whose unsent output exceeds CTL_OUT_MAX bytes (a subscriber
 * that does not read, or one pipelining commands without reading replies) is
 * dropped, so the device never waits for a client.  At most CTL_CLIENTS_MAX
 * clients: when one more comes, the idle client quiet for longest (nothing
 * sent for the longest time, no output pending, no subscription) is told so
 * in one GenericError line and closed to make room; if none is idle, the
 * newcomer is told so and closed. */
#ifndef VHM_CTL_H
#define VHM_CTL_H

#include <jansson.h>
#include <poll.h>
#include <stddef.h>

#define CTL_LINE_MAX     (64 * 1024)   /* bytes in one request line */
#define CTL_OUT_MAX      (1024 * 1024) /* bytes queued for one client */
#define CTL_CLIENTS_MAX  256
#define CTL_NAME_MAX     64            /* bytes in an instance name */

#define CTL_ARGS_MAX     12            /* argument keys one command knows */

/* One command of the embedding program.  fn gets the "arguments" object
 * (borrowed; an empty object when none was sent) and returns 0 with *ret set
 * to a new reference (or left NULL for {}), or a negative errno with a
 * one-line message in err (strerror(-rc) when left empty), sent as a
 * GenericError.  args_doc is a one-line summary for `help`, may be NULL.
 * keys are the argument names the command knows (unused slots NULL; none
 * at all: it takes no arguments); the server answers a request carrying any
 * other key with InvalidInput naming it, and fn never sees it. */
struct ctl_cmd {
	const char *name;
	const char *args_doc;
	int (*fn)(void *ctx, json_t *args, json_t **ret, char *err, size_t errlen);
	const char *keys[CTL_ARGS_MAX];
};

struct ctl_server;

/* Create run_dir if missing (0700, parents too) and refuse one that fails
 * ctl_run_dir_check(), then listen on
 * <run_dir>/<name>.sock (mode 0600, non-blocking).  A stale socket (nobody
 * listening) is replaced; a live one is refused with -EADDRINUSE.  cmds and
 * ctx are borrowed and must outlive the server.  0 or -errno and err. */
int ctl_server_open(struct ctl_server **out, const char *run_dir, const char *name,
		    const struct ctl_cmd *cmds, size_t ncmds, void *ctx,
		    char *err, size_t errlen);

/* Is dir fit to hold control sockets? It must be a directory itself (lstat:
 * a symlink is refused, not followed), owned by our euid or root, and not
 * writable by group or others -- else another user could swap a socket in
 * it.  0, or -ENOENT (missing), -ELOOP, -ENOTDIR, -EPERM, -EACCES (cannot look)
 * with err naming the dir and what is wrong.  Both ends call it. */
int ctl_run_dir_check(const char *dir, char *err, size_t errlen);

/* Before starting what the server will serve: is `name` valid and not taken
 * by a live instance in run_dir? 0 (free, or only a stale socket), or
 * -EADDRINUSE / -EINVAL / -ENAMETOOLONG with err, or ctl_run_dir_check()'s
 * refusal of an existing run_dir (a missing one is fine). Nothing is created. */
int ctl_name_free(const char *run_dir, const char *name, char *err, size_t errlen);

/* Polling, inside the caller's own poll():
 *   n = ctl_server_pollfds(srv, fds, max);   fills fds[0..n) (fd, events)
 *   poll(fds, n + mine, timeout);
 *   ctl_server_handle(srv, fds, n);           reads, runs commands, writes
 * ctl_server_nfds() is how many entries pollfds needs now (1 + clients);
 * pollfds returns -ENOSPC if max is smaller.  handle looks entries up by fd,
 * so the caller may put its own fds before or after, and must pass back the
 * same slice it got (with revents) before the next pollfds call. */
size_t ctl_server_nfds(const struct ctl_server *srv);
int ctl_server_pollfds(struct ctl_server *srv, struct pollfd *fds, int max);
void ctl_server_handle(struct ctl_server *srv, const struct pollfd *fds, int n);

/* For loops with no fds of their own: one poll() of up to timeout_ms
 * (-1: forever) and one handle().  0, or -errno of poll(). */
int ctl_server_dispatch(struct ctl_server *srv, int timeout_ms);

/* Queue event NAME to every subscriber of it; steals data (NULL: {}).
 * Never blocks: a subscriber over CTL_OUT_MAX is dropped.  May be called
 * from inside a command's fn. */
void ctl_server_emit(struct ctl_server *srv, const char *event, json_t *data);

/* Connected clients now, and clients dropped for not reading, since open. */
size_t ctl_server_nclients(const struct ctl_server *srv);
unsigned long ctl_server_ndropped(const struct ctl_server *srv);
/* "<run_dir>/<name>.sock" as bound. */
const char *ctl_server_path(const struct ctl_server *srv);

/* Try once (without waiting) to send what is queued, close every client, and
 * unlink the socket if it is still the one we bound.  NULL is fine. */
void ctl_server_close(struct ctl_server *srv);

/* ---- client ---- */

struct ctl_client;

/* The checked connect every client of a vhm socket makes: target is an
 * instance name in run_dir, or a socket path if it contains a '/'.  run_dir
 * must pass ctl_run_dir_check() (for a name), and the socket must be owned,
 * and served, by our euid or root.  The connected socket (non-blocking,
 * close-on-exec), or -errno with err: -EPERM (someone else's socket),
 * -ENOENT / -ECONNREFUSED (nobody there), -EACCES (permission denied). */
int ctl_connect(const char *run_dir, const char *target, int timeout_ms, char *err,
		size_t errlen);

/* Connect to instance `target` in run_dir, or to the socket path `target`
 * if it contains a '/', and read the greeting within timeout_ms (-1: wait
 * forever).  Before connecting, run_dir must pass ctl_run_dir_check() (for a
 * name), and the socket must be owned, and served, by our euid or root
 * (-EPERM: a socket someone else planted is never sent a command).  -ENOENT / -ECONNREFUSED: no
 * such or no live instance; -EACCES: permission denied (err says so). */
int ctl_client_open(struct ctl_client **out, const char *run_dir, const char *target,
		    int timeout_ms, char *err, size_t errlen);

/* The greeting's "vhm" object (borrowed; name, version, pid). */
const json_t *ctl_client_greeting(const struct ctl_client *c);

/* Execute cmd with args (borrowed; NULL: none) and wait up to timeout_ms
 * for its reply.  0 with *ret (new reference, the "return" object);
 * -EREMOTEIO for an error reply (err = its desc, ctl_client_error_class()
 * its class); -ETIMEDOUT; -ECONNRESET if the server went away; -EPROTO for
 * something that is not this protocol.  Events arriving meanwhile are kept
 * for ctl_client_next_event(). */
int ctl_client_call(struct ctl_client *c, const char *cmd, json_t *args, json_t **ret,
		    char *err, size_t errlen, int timeout_ms);
/* Class of the last error reply ("" if none). */
const char *ctl_client_error_class(const struct ctl_client *c);

/* Next event (new reference, the whole {"event", "data", "timestamp"}
 * object), waiting up to timeout_ms.  0, -ETIMEDOUT, -ECONNRESET, -EPROTO. */
int ctl_client_next_event(struct ctl_client *c, json_t **ev, int timeout_ms);

/* Wait up to timeout_ms for the server to close the connection, discarding
 * what it sends.  0 when closed, -ETIMEDOUT. */
int ctl_client_wait_closed(struct ctl_client *c, int timeout_ms);

int ctl_client_fd(const struct ctl_client *c);
void ctl_client_close(struct ctl_client *c);

#endif
