/* SPDX-License-Identifier: MIT */
/* The control socket, both ends.  Three parts: byte buffers and line framing
 * shared by both ends, the server (accept, read, dispatch, queue, emit), and
 * the blocking-with-deadline client the CLI tools use. */
#include "ctl.h"
#include "usock.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CTL_READ_CHUNK      (16 * 1024)
#define CTL_READ_PER_ROUND  (256 * 1024) /* per client per handle(): fairness */
#define CTL_CLIENT_LINE_MAX (64 * 1024 * 1024) /* replies may be large */
#define CTL_CLIENT_EVENTS_MAX 100000     /* events kept while waiting for a reply */
#define CTL_DESC_MAX        512

/* ---- buffers ---- */

/* Bytes p[off..len) are live; the front is reclaimed lazily. */
struct ctl_buf {
	char *p;
	size_t off, len, cap;
};

static size_t buf_pending(const struct ctl_buf *b)
{
	return b->len - b->off;
}

static int buf_append(struct ctl_buf *b, const void *data, size_t n)
{
	if (b->off && b->cap - b->len < n) {
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap - b->len < n)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

static void buf_consume(struct ctl_buf *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

static void buf_free(struct ctl_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* One message as a compact line with its '\n'; NULL on failure.  Steals msg. */
static char *json_line(json_t *msg, size_t *len)
{
	char *s = msg ? json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	char *line = NULL;
	size_t n;

	json_decref(msg);
	if (!s)
		return NULL;
	n = strlen(s);
	line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	*len = n + 1;
	return line;
}

/* A JSON string for a one-line description: newlines become spaces, and text
 * that is not UTF-8 is replaced rather than lost. */
static json_t *desc_string(const char *desc)
{
	char one[CTL_DESC_MAX];
	json_t *s;

	snprintf(one, sizeof(one), "%s", desc);
	for (char *p = one; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	s = json_string(one);
	return s ? s : json_string("(error text is not UTF-8)");
}

static uint64_t deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? UINT64_MAX : vhm_now_ns() + (uint64_t)timeout_ms * 1000000ull;
}

/* ms left until deadline for poll(): -1 forever, 0 when past. */
static int ms_left(uint64_t deadline)
{
	uint64_t now;

	if (deadline == UINT64_MAX)
		return -1;
	now = vhm_now_ns();
	if (now >= deadline)
		return 0;
	return (int)((deadline - now + 999999) / 1000000);
}

/* Whose files we trust: ours and root's. */
static bool owner_trusted(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

int ctl_run_dir_check(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(dir, &st)) {
		int rc = -errno;

		if (rc == -ENOENT)
			return vhm_err(err, errlen, rc, "run dir %s does not exist", dir);
		return vhm_err(err, errlen, rc, "run dir %s: %s", dir,
			       rc == -EACCES ? "permission denied" : strerror(-rc));
	}
	if (S_ISLNK(st.st_mode))
		return vhm_err(err, errlen, -ELOOP, "run dir %s is a symlink, not followed", dir);
	if (!S_ISDIR(st.st_mode))
		return vhm_err(err, errlen, -ENOTDIR, "run dir %s is not a directory", dir);
	if (!owner_trusted(st.st_uid))
		return vhm_err(err, errlen, -EPERM, "run dir %s is owned by uid %u, not by uid %u "
			       "or root", dir, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return vhm_err(err, errlen, -EPERM, "run dir %s is writable by group or others "
			       "(mode %04o)", dir, (unsigned)(st.st_mode & 07777));
	return 0;
}

static int mkdir_p(const char *dir, char *err, size_t errlen)
{
	char tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp))
		return vhm_err(err, errlen, -ENAMETOOLONG, "run dir %.64s... is too long", dir);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(tmp, 0700) && errno != EEXIST)
		goto fail;
	return ctl_run_dir_check(dir, err, errlen);
fail:
	return vhm_err(err, errlen, -errno, "cannot create run dir %s: %s", tmp, strerror(errno));
}

/* ---- server ---- */

struct ctl_conn {
	int fd;
	bool dead;       /* to be closed and freed by reap() */
	bool eof;        /* peer shut its side; close once output is sent */
	bool discarding; /* inside an oversized line, dropping up to its '\n' */
	bool sub_all;
	json_t *sub;     /* object used as a set of event names, or NULL */
	uint64_t last_ns; /* monotonic: accepted, or last bytes received */
	struct ctl_buf in, out;
};

struct ctl_server {
	int lfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	uid_t uid;
	const struct ctl_cmd *cmds;
	size_t ncmds;
	void *ctx;
	struct ctl_conn *conns[CTL_CLIENTS_MAX];
	size_t nconns;
	int busy;        /* inside handle(): freeing conns waits for reap() */
	unsigned long ndropped;
	char *greeting;
	size_t greeting_len;
};

static void conn_flush(struct ctl_conn *c)
{
	while (!c->dead && buf_pending(&c->out)) {
		ssize_t n = send(c->fd, c->out.p + c->out.off, buf_pending(&c->out),
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			c->dead = true;
			return;
		}
		buf_consume(&c->out, (size_t)n);
	}
}

/* Queue bytes, send what the socket takes now, drop a client that is too far
 * behind: the device must never wait for a reader. */
static void conn_queue(struct ctl_server *srv, struct ctl_conn *c, const char *s, size_t n)
{
	if (c->dead)
		return;
	if (buf_append(&c->out, s, n)) {
		c->dead = true;
		return;
	}
	conn_flush(c);
	if (!c->dead && buf_pending(&c->out) > CTL_OUT_MAX) {
		c->dead = true;
		srv->ndropped++;
	}
}

/* Steals msg. */
static void conn_send(struct ctl_server *srv, struct ctl_conn *c, json_t *msg)
{
	size_t len;
	char *line = json_line(msg, &len);

	if (!line) {
		c->dead = true;
		return;
	}
	conn_queue(srv, c, line, len);
	free(line);
}

static void reply_error(struct ctl_server *srv, struct ctl_conn *c, const char *cls,
			const char *desc, json_t *id)
{
	json_t *msg = json_pack("{s:{s:s,s:o}}", "error", "class", cls, "desc",
				desc_string(desc));

	if (msg && id)
		json_object_set(msg, "id", id);
	conn_send(srv, c, msg);
}

/* Steals ret (NULL: {}). */
static void reply_return(struct ctl_server *srv, struct ctl_conn *c, json_t *ret, json_t *id)
{
	json_t *msg = json_pack("{s:o}", "return", ret ? ret : json_object());

	if (msg && id)
		json_object_set(msg, "id", id);
	conn_send(srv, c, msg);
}

static bool conn_wants(const struct ctl_conn *c, const char *event)
{
	return !c->dead && (c->sub_all || (c->sub && json_object_get(c->sub, event)));
}

/* ---- built-in commands ---- */

static int builtin_help(struct ctl_server *srv, struct ctl_conn *c, json_t *args,
			json_t **ret, char *err, size_t errlen);
static int builtin_subscribe(struct ctl_server *srv, struct ctl_conn *c, json_t *args,
			     json_t **ret, char *err, size_t errlen);
static int builtin_qmp_capabilities(struct ctl_server *srv, struct ctl_conn *c, json_t *args,
				    json_t **ret, char *err, size_t errlen);

static const struct {
	const char *name;
	const char *args_doc;
	int (*fn)(struct ctl_server *srv, struct ctl_conn *c, json_t *args, json_t **ret,
		  char *err, size_t errlen);
	const char *keys[CTL_ARGS_MAX];
} builtins[] = {
	{ "help", "", builtin_help, { NULL } },
	{ "commands", "", builtin_help, { NULL } },
	{ "subscribe", "{\"events\": [NAME, ...]} (omit for all; [] for none)",
	  builtin_subscribe, { "events" } },
	{ "qmp_capabilities", "{\"enable\": []} -- accepted for QMP clients; no capability "
	  "to enable", builtin_qmp_capabilities, { "enable" } },
};

static int help_add(json_t *list, const char *name, const char *doc)
{
	return json_array_append_new(list, json_pack("{s:s,s:s}", "name", name, "args",
						     doc ? doc : ""));
}

static int builtin_help(struct ctl_server *srv, struct ctl_conn *c, json_t *args,
			json_t **ret, char *err, size_t errlen)
{
	json_t *list = json_array();

	(void)c;
	(void)args;
	if (!list)
		goto nomem;
	for (size_t i = 0; i < VHM_ARRAY_SIZE(builtins); i++)
		if (help_add(list, builtins[i].name, builtins[i].args_doc))
			goto nomem;
	for (size_t i = 0; i < srv->ncmds; i++)
		if (help_add(list, srv->cmds[i].name, srv->cmds[i].args_doc))
			goto nomem;
	*ret = json_pack("{s:o}", "commands", list);
	return *ret ? 0 : -ENOMEM;
nomem:
	json_decref(list);
	return vhm_err(err, errlen, -ENOMEM, "out of memory");
}

/* QMP clients send this after the greeting. The server has no capability
 * to negotiate (commands work without it), so only an empty "enable" list
 * is accepted; asking for one (QEMU's "oob") is refused by name. */
static int builtin_qmp_capabilities(struct ctl_server *srv, struct ctl_conn *c, json_t *args,
				    json_t **ret, char *err, size_t errlen)
{
	json_t *enable = json_object_get(args, "enable");

	(void)srv;
	(void)c;
	(void)ret;
	if (enable && !json_is_array(enable))
		return vhm_err(err, errlen, -EINVAL, "\"enable\" must be an array");
	if (json_array_size(enable))
		return vhm_err(err, errlen, -ENOTSUP, "capability %s not available",
			       json_is_string(json_array_get(enable, 0)) ?
			       json_string_value(json_array_get(enable, 0)) : "(not a string)");
	return 0;
}

/* {"events": [...]} → a set of names; absent → all. */
static int builtin_subscribe(struct ctl_server *srv, struct ctl_conn *c, json_t *args,
			     json_t **ret, char *err, size_t errlen)
{
	json_t *events = json_object_get(args, "events");
	json_t *set, *v;
	size_t i;

	(void)srv;
	if (json_object_size(args) != (events ? 1u : 0u))
		return vhm_err(err, errlen, -EINVAL, "subscribe takes only \"events\"");
	if (!events) {
		json_decref(c->sub);
		c->sub = NULL;
		c->sub_all = true;
		*ret = json_pack("{s:s}", "events", "all");
		return 0;
	}
	if (!json_is_array(events))
		return vhm_err(err, errlen, -EINVAL, "\"events\" must be an array of event names");
	set = json_object();
	json_array_foreach(events, i, v) {
		if (!json_is_string(v)) {
			snprintf(err, errlen, "\"events\"[%zu] is not a string", i);
			json_decref(set);
			return -EINVAL;
		}
		json_object_set_new(set, json_string_value(v), json_true());
	}
	json_decref(c->sub);
	c->sub = set;
	c->sub_all = false;
	*ret = json_pack("{s:O}", "events", events);
	return 0;
}

/* ---- requests ---- */

/* Checks the envelope; on failure fills err and returns -EINVAL. */
static int req_check(json_t *req, const char **cmd, json_t **args, char *err, size_t errlen)
{
	const char *key;
	json_t *v, *exec;

	if (!json_is_object(req))
		return vhm_err(err, errlen, -EINVAL, "expected a JSON object");
	json_object_foreach(req, key, v) {
		if (strcmp(key, "execute") && strcmp(key, "arguments") && strcmp(key, "id"))
			return vhm_err(err, errlen, -EINVAL, "unexpected member \"%.64s\"", key);
	}
	exec = json_object_get(req, "execute");
	if (!exec)
		return vhm_err(err, errlen, -EINVAL, "missing \"execute\"");
	if (!json_is_string(exec))
		return vhm_err(err, errlen, -EINVAL, "\"execute\" must be a string");
	*args = json_object_get(req, "arguments");
	if (*args && !json_is_object(*args))
		return vhm_err(err, errlen, -EINVAL, "\"arguments\" must be an object");
	*cmd = json_string_value(exec);
	return 0;
}

/* The first key of args that is not among keys (NULL-padded), or NULL. */
static const char *unknown_key(const char *const keys[CTL_ARGS_MAX], json_t *args)
{
	const char *key;
	json_t *v;

	json_object_foreach(args, key, v) {
		size_t i = 0;

		while (i < CTL_ARGS_MAX && keys[i] && strcmp(keys[i], key))
			i++;
		if (i == CTL_ARGS_MAX || !keys[i])
			return key;
	}
	return NULL;
}

/* "unknown argument "K" for CMD (known: a, b)" into err. */
static void unknown_key_desc(char *err, size_t errlen, const char *cmd, const char *key,
			     const char *const keys[CTL_ARGS_MAX])
{
	size_t n = (size_t)snprintf(err, errlen, "unknown argument \"%.64s\" for %.64s", key, cmd);

	for (size_t i = 0; i < CTL_ARGS_MAX && keys[i] && n < errlen; i++)
		n += (size_t)snprintf(err + n, errlen - n, "%s%s", i ? ", " : " (known: ",
				      keys[i]);
	if (n < errlen)
		snprintf(err + n, errlen - n, "%s", keys[0] ? ")" : " (it takes none)");
}

/* Runs cmd; steals nothing.  Arguments are checked against the command's
 * keys first.  The reply is sent here and only here. */
static void run_command(struct ctl_server *srv, struct ctl_conn *c, const char *cmd,
			json_t *args, json_t *id)
{
	char err[CTL_DESC_MAX] = "";
	const char *const *keys = NULL;
	const char *bad;
	json_t *ret = NULL;
	size_t b = 0, t = 0;
	int rc;

	while (b < VHM_ARRAY_SIZE(builtins) && strcmp(builtins[b].name, cmd))
		b++;
	while (b == VHM_ARRAY_SIZE(builtins) && t < srv->ncmds && strcmp(srv->cmds[t].name, cmd))
		t++;
	if (b < VHM_ARRAY_SIZE(builtins))
		keys = builtins[b].keys;
	else if (t < srv->ncmds)
		keys = srv->cmds[t].keys;
	if (!keys) {
		snprintf(err, sizeof(err), "command \"%.64s\" not found", cmd);
		reply_error(srv, c, "CommandNotFound", err, id);
		return;
	}
	bad = unknown_key(keys, args);
	if (bad) {
		unknown_key_desc(err, sizeof(err), cmd, bad, keys);
		reply_error(srv, c, "InvalidInput", err, id);
		return;
	}
	if (b < VHM_ARRAY_SIZE(builtins))
		rc = builtins[b].fn(srv, c, args, &ret, err, sizeof(err));
	else
		rc = srv->cmds[t].fn(srv->ctx, args, &ret, err, sizeof(err));
	if (rc) {
		json_decref(ret);
		if (!err[0])
			snprintf(err, sizeof(err), "%s: %s", cmd, strerror(rc < 0 ? -rc : rc));
		reply_error(srv, c, "GenericError", err, id);
		return;
	}
	reply_return(srv, c, ret, id);
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

static void handle_line(struct ctl_server *srv, struct ctl_conn *c, const char *line, size_t n)
{
	char err[CTL_DESC_MAX];
	json_error_t jerr;
	json_t *req, *args = NULL, *empty = NULL;
	const char *cmd = NULL;

	if (n && line[n - 1] == '\r')
		n--;
	if (blank(line, n))
		return;
	req = json_loadb(line, n, JSON_DECODE_ANY, &jerr);
	if (!req) {
		snprintf(err, sizeof(err), "invalid JSON at column %d: %s", jerr.column, jerr.text);
		reply_error(srv, c, "InvalidInput", err, NULL);
		return;
	}
	if (req_check(req, &cmd, &args, err, sizeof(err))) {
		reply_error(srv, c, "InvalidInput", err, json_object_get(req, "id"));
		goto out;
	}
	if (!args)
		args = empty = json_object();
	run_command(srv, c, cmd, args, json_object_get(req, "id"));
out:
	json_decref(empty);
	json_decref(req);
}

static void line_too_long(struct ctl_server *srv, struct ctl_conn *c)
{
	char err[96];

	snprintf(err, sizeof(err), "line longer than %d bytes, discarded", CTL_LINE_MAX);
	reply_error(srv, c, "InvalidInput", err, NULL);
}

/* Frame received bytes into lines; a line over CTL_LINE_MAX is answered with
 * one error and dropped up to its '\n' without being stored. */
static void conn_feed(struct ctl_server *srv, struct ctl_conn *c, const char *p, size_t n)
{
	while (n && !c->dead) {
		const char *nl = memchr(p, '\n', n);
		size_t part = nl ? (size_t)(nl - p) : n;

		if (c->discarding) {
			c->discarding = !nl;
		} else if (c->in.len + part > CTL_LINE_MAX) {
			buf_free(&c->in);
			line_too_long(srv, c);
			c->discarding = !nl;
		} else if (!nl) {
			if (buf_append(&c->in, p, part))
				c->dead = true;
		} else if (c->in.len == 0) {
			handle_line(srv, c, p, part);
		} else if (buf_append(&c->in, p, part)) {
			c->dead = true;
		} else {
			handle_line(srv, c, c->in.p, c->in.len);
			c->in.off = c->in.len = 0;
		}
		part += nl ? 1 : 0;
		p += part;
		n -= part;
	}
}

static void conn_read(struct ctl_server *srv, struct ctl_conn *c)
{
	char chunk[CTL_READ_CHUNK];
	size_t total = 0;

	while (!c->dead && !c->eof && total < CTL_READ_PER_ROUND) {
		ssize_t n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			c->dead = true;
			return;
		}
		if (n == 0) {
			c->eof = true; /* a half line left at EOF is dropped */
			buf_free(&c->in);
			return;
		}
		total += (size_t)n;
		c->last_ns = vhm_now_ns();
		conn_feed(srv, c, chunk, (size_t)n);
	}
}

/* One best-effort line to a client we are about to close. */
static void send_refusal(int fd, const char *cls, const char *desc)
{
	json_t *msg = json_pack("{s:{s:s,s:s}}", "error", "class", cls, "desc", desc);
	size_t len;
	char *line = json_line(msg, &len);

	if (line) /* best effort: the peer is being closed anyway */
		(void)!send(fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	free(line);
}

static bool peer_allowed(const struct ctl_server *srv, int fd, char *why, size_t whylen)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		snprintf(why, whylen, "peer credentials unavailable: %s", strerror(errno));
		return false;
	}
	if (cred.uid == 0 || cred.uid == srv->uid)
		return true;
	snprintf(why, whylen, "uid %u may not use this socket (only 0 and %u)",
		 (unsigned)cred.uid, (unsigned)srv->uid);
	return false;
}

static void conn_free(struct ctl_conn *c);
static void server_reap(struct ctl_server *srv);

/* Idle: nothing half-read, nothing to send, no events wanted. */
static bool conn_idle(const struct ctl_conn *c)
{
	return !c->dead && !c->eof && !c->in.len && !c->discarding && !buf_pending(&c->out) &&
	       !c->sub_all && !json_object_size(c->sub);
}

/* Make room for one more client: close the idle client that has been quiet
 * longest, telling it why. false if every client is busy. Runs only from
 * accept, after every polled entry was handled, so freeing is safe here. */
static bool evict_idle(struct ctl_server *srv)
{
	size_t old = srv->nconns;
	char why[160];

	for (size_t i = 0; i < srv->nconns; i++)
		if (conn_idle(srv->conns[i]) &&
		    (old == srv->nconns || srv->conns[i]->last_ns < srv->conns[old]->last_ns))
			old = i;
	if (old == srv->nconns)
		return false;
	snprintf(why, sizeof(why), "closed: idle longest of %d clients, and a new client needs "
		 "the slot", CTL_CLIENTS_MAX);
	send_refusal(srv->conns[old]->fd, "GenericError", why);
	conn_free(srv->conns[old]);
	memmove(&srv->conns[old], &srv->conns[old + 1],
		(srv->nconns - old - 1) * sizeof(srv->conns[0]));
	srv->nconns--;
	return true;
}

static void server_add_conn(struct ctl_server *srv, int fd)
{
	char why[128];
	struct ctl_conn *c;

	if (!peer_allowed(srv, fd, why, sizeof(why))) {
		send_refusal(fd, "PermissionDenied", why);
		close(fd);
		return;
	}
	if (srv->nconns == CTL_CLIENTS_MAX)
		server_reap(srv);
	if (srv->nconns == CTL_CLIENTS_MAX && !evict_idle(srv)) {
		snprintf(why, sizeof(why), "too many clients (%d)", CTL_CLIENTS_MAX);
		send_refusal(fd, "GenericError", why);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->last_ns = vhm_now_ns();
	srv->conns[srv->nconns++] = c;
	conn_queue(srv, c, srv->greeting, srv->greeting_len);
}

static void server_accept(struct ctl_server *srv)
{
	for (;;) {
		int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0)
			return; /* EAGAIN, or EMFILE & co: try again next round */
		server_add_conn(srv, fd);
	}
}

static void conn_free(struct ctl_conn *c)
{
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	json_decref(c->sub);
	free(c);
}

/* Close finished and dropped clients, keeping the order of the rest. */
static void server_reap(struct ctl_server *srv)
{
	size_t j = 0;

	for (size_t i = 0; i < srv->nconns; i++) {
		struct ctl_conn *c = srv->conns[i];

		if (c->eof && !buf_pending(&c->out))
			c->dead = true;
		if (c->dead)
			conn_free(c);
		else
			srv->conns[j++] = c;
	}
	srv->nconns = j;
}

static struct ctl_conn *conn_by_fd(struct ctl_server *srv, int fd)
{
	for (size_t i = 0; i < srv->nconns; i++)
		if (srv->conns[i]->fd == fd && !srv->conns[i]->dead)
			return srv->conns[i];
	return NULL;
}

size_t ctl_server_nfds(const struct ctl_server *srv)
{
	return 1 + srv->nconns;
}

int ctl_server_pollfds(struct ctl_server *srv, struct pollfd *fds, int max)
{
	int n = 0;

	if (max < 0 || (size_t)max < ctl_server_nfds(srv))
		return -ENOSPC;
	fds[n++] = (struct pollfd){ .fd = srv->lfd, .events = POLLIN };
	for (size_t i = 0; i < srv->nconns; i++) {
		const struct ctl_conn *c = srv->conns[i];
		short ev = (c->eof ? 0 : POLLIN) | (buf_pending(&c->out) ? POLLOUT : 0);

		fds[n++] = (struct pollfd){ .fd = c->fd, .events = ev };
	}
	return n;
}

void ctl_server_handle(struct ctl_server *srv, const struct pollfd *fds, int n)
{
	bool accept_now = false;

	srv->busy++;
	for (int i = 0; i < n; i++) {
		struct ctl_conn *c;

		if (!fds[i].revents)
			continue;
		if (fds[i].fd == srv->lfd) {
			accept_now = true;
			continue;
		}
		c = conn_by_fd(srv, fds[i].fd);
		if (!c)
			continue;
		if (fds[i].revents & POLLOUT)
			conn_flush(c);
		if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
			conn_read(srv, c);
	}
	/* Accept last, so a new client never takes over a polled entry. */
	if (accept_now)
		server_accept(srv);
	srv->busy--;
	if (!srv->busy)
		server_reap(srv);
}

int ctl_server_dispatch(struct ctl_server *srv, int timeout_ms)
{
	struct pollfd fds[CTL_CLIENTS_MAX + 1];
	int n = ctl_server_pollfds(srv, fds, (int)VHM_ARRAY_SIZE(fds));

	if (n < 0)
		return n;
	if (poll(fds, (nfds_t)n, timeout_ms) < 0)
		return errno == EINTR ? 0 : -errno;
	ctl_server_handle(srv, fds, n);
	return 0;
}

static json_t *event_msg(const char *event, json_t *data)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return json_pack("{s:s,s:o,s:{s:I,s:I}}", "event", event,
			 "data", data ? data : json_object(),
			 "timestamp", "seconds", (json_int_t)ts.tv_sec,
			 "microseconds", (json_int_t)(ts.tv_nsec / 1000));
}

void ctl_server_emit(struct ctl_server *srv, const char *event, json_t *data)
{
	bool any = false;
	size_t len;
	char *line;

	for (size_t i = 0; i < srv->nconns && !any; i++)
		any = conn_wants(srv->conns[i], event);
	if (!any) {
		json_decref(data);
		return;
	}
	line = json_line(event_msg(event, data), &len);
	if (!line)
		return;
	for (size_t i = 0; i < srv->nconns; i++)
		if (conn_wants(srv->conns[i], event))
			conn_queue(srv, srv->conns[i], line, len);
	free(line);
	if (!srv->busy)
		server_reap(srv);
}

size_t ctl_server_nclients(const struct ctl_server *srv)
{
	return srv->nconns;
}

unsigned long ctl_server_ndropped(const struct ctl_server *srv)
{
	return srv->ndropped;
}

const char *ctl_server_path(const struct ctl_server *srv)
{
	return srv->path;
}

static int check_name(const char *name, char *err, size_t errlen)
{
	size_t n = strlen(name);

	if (n == 0)
		return vhm_err(err, errlen, -EINVAL, "empty instance name");
	if (n > CTL_NAME_MAX)
		return vhm_err(err, errlen, -ENAMETOOLONG,
			       "instance name %.32s... is longer than %d bytes", name,
			       CTL_NAME_MAX);
	for (size_t i = 0; i < n; i++) {
		if (name[i] == '/' || (unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return vhm_err(err, errlen, -EINVAL,
				       "instance name '%s' has a '/' or a control character", name);
	}
	return 0;
}

/* 0 if nobody listens at path (absent or stale), -EADDRINUSE if an
 * instance does, another -errno if path is something else. */
static int check_live(const char *path, const char *name, char *err, size_t errlen)
{
	int rc = usock_probe(path);

	if (rc == -ENOTSOCK)
		return vhm_err(err, errlen, -EEXIST, "%s exists and is not a socket", path);
	if (rc == -EADDRINUSE)
		return vhm_err(err, errlen, rc, "instance %s already running (%s)", name, path);
	if (rc && rc != -ECONNREFUSED)
		return vhm_err(err, errlen, rc, "cannot check whether %s is live: %s", path,
			       strerror(-rc));
	return 0;
}

/* Refuse a live socket at path, remove a stale one, refuse anything else. */
static int clear_stale(const char *path, const char *name, char *err, size_t errlen)
{
	int rc = check_live(path, name, err, errlen);

	if (rc)
		return rc;
	if (unlink(path) && errno != ENOENT) {
		rc = -errno;
		return vhm_err(err, errlen, rc, "cannot remove stale %s: %s", path,
			       strerror(errno));
	}
	return 0;
}

int ctl_name_free(const char *run_dir, const char *name, char *err, size_t errlen)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int rc = check_name(name, err, errlen);

	if (rc)
		return rc;
	if (vhm_sock_path(run_dir, name, path, sizeof(path)))
		return vhm_err(err, errlen, -ENAMETOOLONG, "socket path for %s in %s is too long",
			       name, run_dir);
	rc = ctl_run_dir_check(run_dir, err, errlen);
	if (rc == -ENOENT) { /* ctl_server_open makes it */
		err[0] = '\0';
		return 0;
	}
	if (rc)
		return rc;
	return check_live(path, name, err, errlen);
}

static int make_greeting(struct ctl_server *srv, const char *name)
{
	/* "QMP" is the member QMP clients look for: no QEMU version (zeros),
	 * vhm's in "package", and no capability to negotiate. */
	json_t *g = json_pack("{s:{s:s,s:s,s:I},s:[s],s:{s:{s:{s:i,s:i,s:i},s:s},s:[]}}",
			      "vhm", "version", VHM_VERSION, "name", name,
			      "pid", (json_int_t)getpid(), "capabilities", "events",
			      "QMP", "version", "qemu", "major", 0, "minor", 0, "micro", 0,
			      "package", "vhm " VHM_VERSION, "capabilities");

	srv->greeting = json_line(g, &srv->greeting_len);
	return srv->greeting ? 0 : -ENOMEM;
}

/* Socket, bind with mode 0600 from the start (the mode of a socket inode comes
 * from the socket's own mode on Linux), listen. */
static int server_listen(struct ctl_server *srv, char *err, size_t errlen)
{
	char tmp[sizeof(srv->path)];
	const char *at = srv->path;
	struct stat st;
	int rc;

	/* Bound and listening under a temporary name, then renamed into place:
	 * a client that sees the socket can always connect (between bind and
	 * listen it would be refused). A path too long for the suffix is bound
	 * in place. */
	if (snprintf(tmp, sizeof(tmp), "%s.%d", srv->path, (int)getpid()) < (int)sizeof(tmp))
		at = tmp;
	unlink(at);
	srv->lfd = usock_listen(at, SOMAXCONN, SOCK_NONBLOCK, 0600);
	if (srv->lfd < 0) {
		rc = srv->lfd;
		srv->lfd = -1;
		return vhm_err(err, errlen, rc, "cannot bind %s: %s", srv->path, strerror(-rc));
	}
	if ((at != srv->path && rename(at, srv->path)) || stat(srv->path, &st))
		goto fail_bound;
	srv->dev = st.st_dev;
	srv->ino = st.st_ino;
	return 0;
fail_bound:
	rc = -errno;
	unlink(at);
	return vhm_err(err, errlen, rc, "cannot listen on %s: %s", srv->path, strerror(-rc));
}

int ctl_server_open(struct ctl_server **out, const char *run_dir, const char *name,
		    const struct ctl_cmd *cmds, size_t ncmds, void *ctx,
		    char *err, size_t errlen)
{
	struct ctl_server *srv;
	int rc;

	*out = NULL;
	rc = check_name(name, err, errlen);
	if (rc)
		return rc;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return vhm_err(err, errlen, -ENOMEM, "out of memory");
	srv->lfd = -1;
	srv->uid = geteuid();
	srv->cmds = cmds;
	srv->ncmds = ncmds;
	srv->ctx = ctx;
	if (vhm_sock_path(run_dir, name, srv->path, sizeof(srv->path))) {
		rc = vhm_err(err, errlen, -ENAMETOOLONG,
			     "socket path %s/%s.sock does not fit a unix address", run_dir, name);
		goto fail;
	}
	rc = mkdir_p(run_dir, err, errlen);
	if (rc)
		goto fail;
	rc = clear_stale(srv->path, name, err, errlen);
	if (rc) {
		if (!err[0])
			snprintf(err, errlen, "%s: %s", srv->path, strerror(-rc));
		goto fail;
	}
	rc = make_greeting(srv, name);
	if (rc) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	rc = server_listen(srv, err, errlen);
	if (rc)
		goto fail;
	*out = srv;
	return 0;
fail:
	if (srv->lfd >= 0)
		close(srv->lfd);
	free(srv->greeting);
	free(srv);
	return rc;
}

void ctl_server_close(struct ctl_server *srv)
{
	struct stat st;

	if (!srv)
		return;
	/* The socket goes first: a client that sees its connection close (vhm stop
	 * waits for that) must find the instance gone, not its socket still there. */
	if (!stat(srv->path, &st) && st.st_dev == srv->dev && st.st_ino == srv->ino)
		unlink(srv->path);
	close(srv->lfd);
	for (size_t i = 0; i < srv->nconns; i++) {
		conn_flush(srv->conns[i]);
		conn_free(srv->conns[i]);
	}
	free(srv->greeting);
	free(srv);
}

/* ---- client ---- */

struct ctl_client {
	int fd;
	bool closed;        /* EOF seen */
	struct ctl_buf in;
	json_t *greeting;   /* the whole greeting */
	json_t *events;     /* array: events received while waiting for replies */
	json_int_t next_id;
	char err_class[32];
};

/* Next complete message, waiting until deadline.  Returns an object (new
 * reference) or -ETIMEDOUT, -ECONNRESET, -EPROTO. */
static int client_read_msg(struct ctl_client *c, json_t **msg, uint64_t deadline)
{
	for (;;) {
		char *start = c->in.p + c->in.off;
		char *nl = buf_pending(&c->in) ? memchr(start, '\n', buf_pending(&c->in)) : NULL;
		char chunk[CTL_READ_CHUNK];
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		ssize_t n;
		int rc, left;

		if (nl) {
			size_t len = (size_t)(nl - start);

			buf_consume(&c->in, len + 1);
			if (blank(start, len))
				continue;
			*msg = json_loadb(start, len, 0, NULL);
			if (!json_is_object(*msg)) {
				json_decref(*msg);
				*msg = NULL;
				return -EPROTO;
			}
			return 0;
		}
		if (c->closed)
			return -ECONNRESET;
		if (buf_pending(&c->in) > CTL_CLIENT_LINE_MAX)
			return -EPROTO;
		/* with no time left (timeout 0: "what is there?"), recv alone answers */
		left = ms_left(deadline);
		if (left) {
			rc = poll(&pfd, 1, left);
			if (rc < 0 && errno == EINTR)
				continue;
			if (rc < 0)
				return -errno;
			if (rc == 0)
				return -ETIMEDOUT;
		}
		n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN && !left)
			return -ETIMEDOUT;
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			c->closed = true;
			continue;
		}
		if (buf_append(&c->in, chunk, (size_t)n))
			return -ENOMEM;
	}
}

static int client_send_all(struct ctl_client *c, const char *p, size_t n, uint64_t deadline)
{
	while (n) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN)
			return errno == EPIPE ? -ECONNRESET : -errno;
		if (poll(&pfd, 1, ms_left(deadline)) == 0)
			return -ETIMEDOUT;
	}
	return 0;
}

static void client_keep_event(struct ctl_client *c, json_t *ev)
{
	if (json_array_size(c->events) >= CTL_CLIENT_EVENTS_MAX)
		json_array_remove(c->events, 0);
	json_array_append_new(c->events, ev);
}

/* Only a socket of ours or root's is talked to: in a run dir someone else
 * could write to, or given as a path, it might be planted. */
static int client_check_socket(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st)) {
		int rc = -errno;

		if (rc == -EACCES || rc == -EPERM)
			return vhm_err(err, errlen, -EACCES, "permission denied: uid %u cannot "
				       "reach %s", (unsigned)geteuid(), path);
		return vhm_err(err, errlen, rc, "%s: %s", path, strerror(-rc));
	}
	if (!S_ISSOCK(st.st_mode))
		return vhm_err(err, errlen, -ENOTSOCK, "%s is not a socket", path);
	if (!owner_trusted(st.st_uid))
		return vhm_err(err, errlen, -EPERM, "%s is owned by uid %u, not by uid %u or root; "
			       "not talking to it", path, (unsigned)st.st_uid, (unsigned)geteuid());
	return 0;
}

/* The process that listens must be ours or root's too: a socket file of
 * root's may still be served by someone else (bound as root, listened on
 * after dropping privileges). Checked before anything is read or sent. */
static int client_check_peer(int fd, const char *path, char *err, size_t errlen)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return vhm_err(err, errlen, -errno, "%s: peer credentials: %s", path,
			       strerror(errno));
	if (!owner_trusted(cred.uid))
		return vhm_err(err, errlen, -EPERM, "%s is served by uid %u, not by uid %u or "
			       "root; not talking to it", path, (unsigned)cred.uid,
			       (unsigned)geteuid());
	return 0;
}

int ctl_connect(const char *run_dir, const char *target, int timeout_ms, char *err,
		size_t errlen)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int rc, fd;

	if (strchr(target, '/'))
		rc = snprintf(path, sizeof(path), "%s", target) >= (int)sizeof(path)
		     ? -ENAMETOOLONG : 0;
	else
		rc = vhm_sock_path(run_dir, target, path, sizeof(path));
	if (rc)
		return vhm_err(err, errlen, rc, "socket path for %s is too long", target);
	if (!strchr(target, '/') && (rc = ctl_run_dir_check(run_dir, err, errlen)))
		return rc;
	if ((rc = client_check_socket(path, err, errlen)))
		return rc;
	fd = usock_connect(path, timeout_ms, SOCK_NONBLOCK);
	if (fd == -EINVAL || fd == -ENAMETOOLONG)
		return vhm_err(err, errlen, fd, "socket path %s: %s", path, strerror(-fd));
	if (fd == -EACCES || fd == -EPERM)
		return vhm_err(err, errlen, -EACCES, "permission denied: uid %u may not connect "
			       "to %s", (unsigned)geteuid(), path);
	if (fd < 0)
		return vhm_err(err, errlen, fd, "connect %s: %s", path, strerror(-fd));
	if ((rc = client_check_peer(fd, path, err, errlen))) {
		close(fd);
		return rc;
	}
	return fd;
}

/* The greeting, or the refusal a server sends instead. */
static int client_greeting(struct ctl_client *c, const char *path, uint64_t deadline,
			   char *err, size_t errlen)
{
	json_t *msg = NULL;
	int rc = client_read_msg(c, &msg, deadline);

	if (rc)
		return vhm_err(err, errlen, rc, "no greeting from %s: %s", path, strerror(-rc));
	if (json_is_object(json_object_get(msg, "vhm"))) {
		c->greeting = msg;
		return 0;
	}
	if (json_is_object(json_object_get(msg, "error"))) {
		json_t *e = json_object_get(msg, "error");

		snprintf(err, errlen, "%s refused: %s", path,
			 json_string_value(json_object_get(e, "desc")) ?: "(no reason)");
		json_decref(msg);
		return -EACCES;
	}
	json_decref(msg);
	return vhm_err(err, errlen, -EPROTO, "%s did not greet like a vhm control socket", path);
}

int ctl_client_open(struct ctl_client **out, const char *run_dir, const char *target,
		    int timeout_ms, char *err, size_t errlen)
{
	uint64_t deadline = deadline_after(timeout_ms);
	struct ctl_client *c;
	int rc;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->events = json_array())) {
		free(c);
		return vhm_err(err, errlen, -ENOMEM, "out of memory");
	}
	c->fd = ctl_connect(run_dir, target, timeout_ms, err, errlen);
	rc = c->fd < 0 ? c->fd : client_greeting(c, target, deadline, err, errlen);
	if (rc) {
		ctl_client_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

const json_t *ctl_client_greeting(const struct ctl_client *c)
{
	return json_object_get(c->greeting, "vhm");
}

const char *ctl_client_error_class(const struct ctl_client *c)
{
	return c->err_class;
}

int ctl_client_fd(const struct ctl_client *c)
{
	return c->fd;
}

/* Reply for request id: 0 and *ret, or -EREMOTEIO and err; 1 if msg is not it. */
static int client_take_reply(struct ctl_client *c, json_t *msg, json_int_t id, json_t **ret,
			     char *err, size_t errlen)
{
	json_t *rid = json_object_get(msg, "id");
	json_t *e = json_object_get(msg, "error");
	json_t *r = json_object_get(msg, "return");

	if (!r && !json_is_object(e))
		return 1;
	/* An error without an id answers no request of ours but ends the session
	 * (refusals); take it as ours. */
	if (rid ? json_integer_value(rid) != id || !json_is_integer(rid) : !e)
		return 1;
	if (r) {
		*ret = json_incref(r);
		return 0;
	}
	snprintf(c->err_class, sizeof(c->err_class), "%s",
		 json_string_value(json_object_get(e, "class")) ?: "");
	return vhm_err(err, errlen, -EREMOTEIO, "%s",
		       json_string_value(json_object_get(e, "desc")) ?: "error");
}

int ctl_client_call(struct ctl_client *c, const char *cmd, json_t *args, json_t **ret,
		    char *err, size_t errlen, int timeout_ms)
{
	uint64_t deadline = deadline_after(timeout_ms);
	json_int_t id = ++c->next_id;
	json_t *req = json_pack("{s:s,s:I}", "execute", cmd, "id", id);
	size_t len;
	char *line;
	int rc;

	*ret = NULL;
	c->err_class[0] = '\0';
	if (req && args)
		json_object_set(req, "arguments", args);
	line = json_line(req, &len);
	if (!line)
		return vhm_err(err, errlen, -EINVAL, "cannot encode request %s", cmd);
	rc = client_send_all(c, line, len, deadline);
	free(line);
	while (!rc) {
		json_t *msg = NULL;

		rc = client_read_msg(c, &msg, deadline);
		if (rc)
			break;
		if (json_object_get(msg, "event")) {
			client_keep_event(c, msg);
			continue;
		}
		rc = client_take_reply(c, msg, id, ret, err, errlen);
		json_decref(msg);
		if (rc != 1)
			return rc;
		rc = 0;
	}
	return vhm_err(err, errlen, rc, "%s: %s", cmd,
		       rc == -ECONNRESET ? "connection closed by instance"
		       : rc == -EPROTO ? "reply is not JSON" : strerror(-rc));
}

int ctl_client_next_event(struct ctl_client *c, json_t **ev, int timeout_ms)
{
	uint64_t deadline = deadline_after(timeout_ms);

	*ev = NULL;
	if (json_array_size(c->events)) {
		*ev = json_incref(json_array_get(c->events, 0));
		json_array_remove(c->events, 0);
		return 0;
	}
	for (;;) {
		json_t *msg = NULL;
		int rc = client_read_msg(c, &msg, deadline);

		if (rc)
			return rc;
		if (json_is_string(json_object_get(msg, "event"))) {
			*ev = msg;
			return 0;
		}
		json_decref(msg); /* a late reply to a call that timed out */
	}
}

int ctl_client_wait_closed(struct ctl_client *c, int timeout_ms)
{
	uint64_t deadline = deadline_after(timeout_ms);

	for (;;) {
		json_t *msg = NULL;
		int rc = client_read_msg(c, &msg, deadline);

		json_decref(msg);
		if (rc == -ECONNRESET)
			return 0;
		if (rc == -ETIMEDOUT)
			return rc;
		if (rc == -EPROTO) /* junk: skip it and keep waiting */
			buf_free(&c->in);
		else if (rc)
			return rc;
	}
}

void ctl_client_close(struct ctl_client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	buf_free(&c->in);
	json_decref(c->greeting);
	json_decref(c->events);
	free(c);
}
