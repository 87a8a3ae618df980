/* SPDX-License-Identifier: MIT */
/* lvh_hook — `vhm hook`, libvirt's QEMU hook: parse, check policy, notify the
 * daemon without waiting, exit.  Nothing is ever written to stdout. */
#include "lvh_hook.h"
#include "cli.h"
#include "ctl.h"
#include "usock.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const op_names[] = {
#define LVH_OP_NAME(e, s) [LVH_OP_##e] = s,
	LVH_OPS(LVH_OP_NAME)
#undef LVH_OP_NAME
};

enum lvh_op lvh_op_parse(const char *s)
{
	for (size_t i = 0; i < LVH_OP_COUNT; i++)
		if (!strcmp(s, op_names[i]))
			return (enum lvh_op)i;
	return LVH_OP_UNKNOWN;
}

const char *lvh_op_name(enum lvh_op op)
{
	return op < LVH_OP_COUNT ? op_names[op] : "unknown";
}

int lvh_policy_check(const struct lvh_conf *c, enum lvh_op op, const struct lvh_domain *dom,
		     char *why, size_t whylen)
{
	if (op != LVH_OP_PREPARE || !c->require_backend_socket)
		return 0;
	for (size_t i = 0; i < dom->nifaces; i++) {
		const struct lvh_iface *ifc = &dom->ifaces[i];
		char mac[18] = "no MAC";
		struct stat st;

		/* mode='client': QEMU connects, so the backend must listen already;
		 * mode='server': QEMU listens and the backend comes later. */
		if (ifc->mode != LVH_MODE_CLIENT)
			continue;
		if (ifc->has_mac)
			vhm_format_mac(ifc->mac, mac);
		if (!ifc->path[0]) {
			snprintf(why, whylen, "domain %s: vhostuser interface %s has no socket path",
				 dom->name, mac);
			return -EPERM;
		}
		if (stat(ifc->path, &st) || !S_ISSOCK(st.st_mode)) {
			snprintf(why, whylen,
				 "domain %s: vhostuser interface %s: backend socket %s %s "
				 "(require_backend_socket=yes)", dom->name, mac, ifc->path,
				 errno == ENOENT || !S_ISSOCK(st.st_mode) ? "is missing" : "is unreadable");
			return -EPERM;
		}
	}
	return 0;
}

static int remaining_ms(uint64_t deadline_ns)
{
	uint64_t now = vhm_now_ns();

	return now >= deadline_ns ? 0 : (int)((deadline_ns - now + 999999) / 1000000);
}

/* The line is in the socket buffer, but the daemon reads it only once it
 * accepts, and a peer that has already closed makes its greeting fail with
 * EPIPE, which drops the connection unread.  So a detached child (stdio on
 * /dev/null, so libvirt's pipes close when the hook exits) keeps the socket
 * open until the reply arrives or LVH_COURIER_MS pass; the hook itself
 * returns at once. */
static void courier(int fd)
{
	pid_t pid = fork();

	if (pid != 0) {
		if (pid > 0)
			waitpid(pid, NULL, 0); /* the first child exits at once */
		return;
	}
	if (fork() != 0)
		_exit(0);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	setsid();
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
	}
	shutdown(fd, SHUT_WR);
	uint64_t deadline = vhm_now_ns() + (uint64_t)LVH_COURIER_MS * 1000000;
	int nl = 0;
	char buf[512];

	/* The greeting, then the reply: two lines. */
	while (nl < 2) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = remaining_ms(deadline);
		ssize_t n;

		if (!left || poll(&p, 1, left) <= 0)
			break;
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			nl += buf[i] == '\n';
	}
	_exit(0);
}

int lvh_send_line(const char *run_dir, const char *line, size_t len, int deadline_ms,
		  char *err, size_t errlen)
{
	uint64_t deadline = vhm_now_ns() + (uint64_t)deadline_ms * 1000000;
	size_t off = 0;
	int fd, rc;

	/* The run dir, the socket's owner and the daemon's uid are checked as
	 * every client checks them; a full backlog is retried until the
	 * deadline. */
	fd = ctl_connect(run_dir, LVH_DAEMON_NAME, deadline_ms, err, errlen);
	if (fd < 0)
		return fd;
	while (off < len) {
		ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int left;

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			rc = vhm_err(err, errlen, -errno, "sending to the daemon: %s", strerror(errno));
			goto out;
		}
		left = remaining_ms(deadline);
		if (!left || poll(&p, 1, left) == 0) {
			rc = vhm_err(err, errlen, -ETIMEDOUT, "the daemon took no line in %d ms",
				     deadline_ms);
			goto out;
		}
	}
	rc = 0;
	courier(fd);
out:
	close(fd);
	return rc;
}

/* The domain XML from stdin: up to LVH_XML_MAX + 1 bytes (so that "too big"
 * is seen), within LVH_STDIN_DEADLINE_MS.  Returns bytes read, -E2BIG,
 * -ETIMEDOUT or -errno; *out is malloc'd (NUL-terminated) on success. */
static ssize_t read_stdin(char **out)
{
	uint64_t deadline = vhm_now_ns() + (uint64_t)LVH_STDIN_DEADLINE_MS * 1000000;
	size_t cap = 64 * 1024, len = 0;
	char *buf = malloc(cap + 1);
	ssize_t rc;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
		int left = remaining_ms(deadline);
		ssize_t n;

		if (!left || poll(&p, 1, left) == 0) {
			rc = -ETIMEDOUT;
			goto fail;
		}
		if (len == cap) {
			char *nb;

			if (cap > LVH_XML_MAX) {
				rc = -E2BIG;
				goto fail;
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				rc = -ENOMEM;
				goto fail;
			}
			buf = nb;
		}
		n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			rc = -errno;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > LVH_XML_MAX) {
			rc = -E2BIG;
			goto fail;
		}
	}
	buf[len] = '\0';
	*out = buf;
	return (ssize_t)len;
fail:
	free(buf);
	return rc;
}

static json_t *ifaces_json(const struct lvh_domain *dom)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < dom->nifaces; i++) {
		const struct lvh_iface *ifc = &dom->ifaces[i];
		char mac[18] = "";

		if (ifc->has_mac)
			vhm_format_mac(ifc->mac, mac);
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:i,s:s}", "path", ifc->path,
						     "mode", lvh_mode_name(ifc->mode), "mac", mac,
						     "queues", (int)ifc->queues, "alias", ifc->alias));
	}
	return arr;
}

struct hook_opts {
	const char *run_dir;
	const char *conf;
	const char *target;
	const char *vhm;
	bool verbose, install, uninstall;
};

#define WRAPPER_MARK "# vhm libvirt hook"

/* Refuse what cannot sit inside single quotes in sh. */
static bool sh_quotable(const char *s)
{
	return s && !strchr(s, '\'') && !strchr(s, '\n');
}

/* Is the file at path a wrapper `vhm hook --install` wrote? 1 yes, 0 no,
 * -errno when it cannot be read (-ENOENT: there is none). */
static int is_vhm_wrapper(const char *path)
{
	char head[256] = "";
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	n = fread(head, 1, sizeof(head) - 1, f);
	head[n] = '\0';
	fclose(f);
	return strstr(head, WRAPPER_MARK) != NULL;
}

static int install_hook(const struct hook_opts *o)
{
	char self[PATH_MAX], tmp[PATH_MAX + 8], dir[PATH_MAX];
	const char *vhm = o->vhm;
	char *slash;
	FILE *f;

	if (!vhm) {
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

		if (n < 0) {
			fprintf(stderr, "vhm hook: cannot find this binary: %s\n", strerror(errno));
			return VHM_EXIT_FAIL;
		}
		self[n] = '\0';
		vhm = self;
	}
	if (!sh_quotable(vhm) || (o->run_dir && !sh_quotable(o->run_dir)) ||
	    (o->conf && !sh_quotable(o->conf)))
		{
		fprintf(stderr, "vhm hook: paths must not contain quotes or newlines\n");
		return VHM_EXIT_USAGE;
	}
	/* Replace an older wrapper, never someone else's hook. */
	if (is_vhm_wrapper(o->target) == 0) {
		fprintf(stderr, "vhm hook: %s exists and is not a vhm hook wrapper; left alone\n",
			o->target);
		return VHM_EXIT_FAIL;
	}
	snprintf(dir, sizeof(dir), "%s", o->target);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		for (char *p = dir + 1; *p; p++) { /* mkdir -p */
			if (*p != '/')
				continue;
			*p = '\0';
			mkdir(dir, 0755);
			*p = '/';
		}
		if (mkdir(dir, 0755) && errno != EEXIST) {
			fprintf(stderr, "vhm hook: mkdir %s: %s\n", dir, strerror(errno));
			return VHM_EXIT_FAIL;
		}
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", o->target);
	f = fopen(tmp, "we");
	if (!f) {
		fprintf(stderr, "vhm hook: %s: %s\n", tmp, strerror(errno));
		return VHM_EXIT_FAIL;
	}
	fprintf(f, "#!/bin/sh\n" WRAPPER_MARK ", written by `vhm hook --install`; see "
		   "docs/libvirt.md.\n# libvirtd runs it as: 50-vhm DOMAIN OPERATION SUBOP "
		   "EXTRA < domain XML\nexec '%s' hook", vhm);
	if (o->run_dir)
		fprintf(f, " --run-dir '%s'", o->run_dir);
	if (o->conf)
		fprintf(f, " --conf '%s'", o->conf);
	fprintf(f, " -- \"$@\"\n");
	if (fchmod(fileno(f), 0755) || fclose(f) || rename(tmp, o->target)) {
		fprintf(stderr, "vhm hook: writing %s: %s\n", o->target, strerror(errno));
		unlink(tmp);
		return VHM_EXIT_FAIL;
	}
	printf("installed %s -> %s hook\n", o->target, vhm);
	return VHM_EXIT_OK;
}

static int uninstall_hook(const struct hook_opts *o)
{
	int rc = is_vhm_wrapper(o->target);

	if (rc == -ENOENT)
		return VHM_EXIT_OK;
	if (rc < 0) {
		fprintf(stderr, "vhm hook: %s: %s\n", o->target, strerror(-rc));
		return VHM_EXIT_FAIL;
	}
	if (!rc) {
		fprintf(stderr, "vhm hook: %s is not a vhm hook wrapper; left alone\n", o->target);
		return VHM_EXIT_FAIL;
	}
	if (unlink(o->target)) {
		fprintf(stderr, "vhm hook: unlink %s: %s\n", o->target, strerror(errno));
		return VHM_EXIT_FAIL;
	}
	return VHM_EXIT_OK;
}

/* Pass the event on; failures only matter with verbose. */
static void notify_daemon(const struct hook_opts *o, char *const args[4],
			  const struct lvh_domain *dom, const char *xml_err, const char *refused)
{
	char err[256];
	json_t *msg;
	char *line;
	int rc;

	msg = json_pack("{s:s,s:{s:s,s:s,s:s,s:s,s:s,s:o,s:i}}", "execute", "hook-event",
			"arguments", "domain", args[0], "operation", args[1],
			"sub_operation", args[2], "extra", args[3], "uuid", dom->uuid,
			"interfaces", ifaces_json(dom), "pid", (int)getpid());
	if (!msg)
		return;
	if (xml_err)
		json_object_set_new(json_object_get(msg, "arguments"), "xml_error",
				    json_string(xml_err));
	if (refused)
		json_object_set_new(json_object_get(msg, "arguments"), "refused",
				    json_string(refused));
	line = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (!line)
		return;
	size_t len = strlen(line);

	line[len] = '\0';
	char *nl = realloc(line, len + 2);

	if (nl) {
		line = nl;
		memcpy(line + len, "\n", 2);
		rc = lvh_send_line(vhm_run_dir(o->run_dir), line, len + 1, LVH_SEND_DEADLINE_MS,
				   err, sizeof(err));
		if (o->verbose)
			fprintf(stderr, "vhm hook: %s %s: daemon %s%s\n", args[0], args[1],
				rc ? "not told: " : "told", rc ? err : "");
	}
	free(line);
}

static const struct option hook_long[] = {
	{ "run-dir", required_argument, NULL, 'd' },
	{ "conf", required_argument, NULL, 'c' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "install", no_argument, NULL, 'I' },
	{ "uninstall", no_argument, NULL, 'U' },
	{ "target", required_argument, NULL, 'T' },
	{ "vhm", required_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

int cmd_hook(int argc, char **argv)
{
	/* '+': stop at the first operand, so a domain named "-x" is an operand. */
	struct vhm_cli p = { .cmd = "hook", .shortopts = "+d:c:v", .longopts = hook_long };
	struct hook_opts o = { .target = LVH_HOOK_TARGET };
	static struct lvh_domain dom; /* 7 KiB: off the stack */
	char err[256] = "", why[512] = "";
	const char *xml_err = NULL;
	struct lvh_conf conf;
	char *xml = NULL;
	enum lvh_op op;
	ssize_t n;
	int c, rc;

	while ((c = vhm_cli_next(&p, argc, argv)) > 0) {
		switch (c) {
		case 'd': o.run_dir = optarg; break;
		case 'c': o.conf = optarg; break;
		case 'v': o.verbose = true; break;
		case 'I': o.install = true; break;
		case 'U': o.uninstall = true; break;
		case 'T': o.target = optarg; break;
		case 'V': o.vhm = optarg; break;
		}
	}
	/* libvirt passes no options (the wrapper ends them with "--"): an option
	 * vhm does not know came from a person, and is a usage error. */
	if (c != VHM_CLI_END)
		return vhm_cli_status(c);
	if (o.install && o.uninstall)
		return vhm_usage_error("hook", "--install and --uninstall exclude each other");
	if (o.install)
		return install_hook(&o);
	if (o.uninstall)
		return uninstall_hook(&o);

	rc = lvh_conf_load(&conf, o.conf, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "vhm hook: policy ignored: %s\n", err);
		memset(&conf, 0, sizeof(conf));
	}
	o.verbose |= conf.verbose;
	if (argc - optind != 4) {
		fprintf(stderr, "vhm hook: expected DOMAIN OPERATION SUBOP EXTRA, got %d "
				"argument(s); ignored\n", argc - optind);
		return VHM_EXIT_OK;
	}
	char **args = argv + optind;

	op = lvh_op_parse(args[1]);
	if (op == LVH_OP_UNKNOWN && o.verbose)
		fprintf(stderr, "vhm hook: %s: unknown operation '%s', passed on\n", args[0],
			args[1]);

	memset(&dom, 0, sizeof(dom));
	n = read_stdin(&xml);
	if (n < 0) {
		snprintf(err, sizeof(err), "domain XML on stdin: %s",
			 n == -E2BIG ? "over the size limit" :
			 n == -ETIMEDOUT ? "not complete in time" : strerror((int)-n));
		xml_err = err;
	} else if (lvh_xml_parse(xml, (size_t)n, &dom, err, sizeof(err))) {
		xml_err = err;
	}
	free(xml);
	if (xml_err) {
		fprintf(stderr, "vhm hook: %s %s: %s; ignored\n", args[0], args[1], xml_err);
		memset(&dom, 0, sizeof(dom));
	}
	if (!dom.name[0])
		snprintf(dom.name, sizeof(dom.name), "%s", args[0]);

	rc = lvh_policy_check(&conf, op, &dom, why, sizeof(why));
	notify_daemon(&o, args, &dom, xml_err, rc ? why : NULL);
	if (rc) {
		fprintf(stderr, "vhm hook: %s\n", why);
		return VHM_EXIT_FAIL;
	}
	if (o.verbose)
		fprintf(stderr, "vhm hook: %s %s %s: %zu vhostuser interface(s)\n", args[0],
			args[1], args[2], dom.nifaces);
	return VHM_EXIT_OK;
}
