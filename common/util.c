/* SPDX-License-Identifier: MIT */
/* The helpers every module shares: strict decimal numbers, sizes, durations
 * and rates with units, MAC addresses, the monotonic clock, and run-dir and
 * socket paths that are refused rather than truncated. */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Digits only, in `base`; no sign, no spaces, no trailing junk. */
static int parse_u64_base(const char *s, int base, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || !isxdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end || end == s)
		return -EINVAL;
	*out = v;
	return 0;
}

int vhm_parse_u64(const char *s, uint64_t *out)
{
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	return parse_u64_base(s, 10, out);
}

int vhm_parse_addr(const char *s, uint64_t *out)
{
	if (s && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		if (strpbrk(s + 2, "xX")) /* strtoull would take a second "0x" */
			return -EINVAL;
		return parse_u64_base(s + 2, 16, out);
	}
	return vhm_parse_u64(s, out);
}

/* Split "1.5abc" into the number and its unit; the unit is compared by the
 * caller. The number is decimal digits with at most one '.': strtod alone
 * would also take hex ("0x10") and exponents ("1e3"). */
static int split_unit(const char *s, double *num, const char **unit)
{
	size_t n = s ? strspn(s, "0123456789.") : 0;
	const char *dot;
	char buf[32], *end;

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	dot = strchr(buf, '.');
	if (dot && (n == 1 || strchr(dot + 1, '.')))
		return -EINVAL;
	errno = 0;
	*num = strtod(buf, &end);
	if (errno || *end)
		return -EINVAL;
	*unit = s + n;
	return 0;
}

int vhm_parse_size(const char *s, uint64_t *bytes)
{
	static const struct { const char *u; double mul; } units[] = {
		{ "", 1 }, { "B", 1 },
		{ "K", 1024.0 }, { "KiB", 1024.0 }, { "k", 1024.0 },
		{ "M", 1048576.0 }, { "MiB", 1048576.0 },
		{ "G", 1073741824.0 }, { "GiB", 1073741824.0 },
		{ "T", 1099511627776.0 }, { "TiB", 1099511627776.0 },
	};
	const char *unit;
	double num;

	if (split_unit(s, &num, &unit))
		return -EINVAL;
	for (size_t i = 0; i < VHM_ARRAY_SIZE(units); i++) {
		if (strcmp(unit, units[i].u))
			continue;
		double v = num * units[i].mul;
		if (v >= 18446744073709551615.0)
			return -ERANGE;
		*bytes = (uint64_t)v;
		return 0;
	}
	return -EINVAL;
}

void vhm_format_bytes(double bytes, char *out, size_t len)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	double v = bytes;
	size_t u = 0;

	if (bytes < 1024) {
		snprintf(out, len, "%.0f B", bytes);
		return;
	}
	for (v /= 1024; v >= 1024 && u + 1 < VHM_ARRAY_SIZE(units); u++)
		v /= 1024;
	snprintf(out, len, v < 10 && u >= 2 ? "%.2f %s" : "%.1f %s", v, units[u]);
}

int vhm_parse_duration_ms(const char *s, uint64_t *ms)
{
	static const struct { const char *u; double mul; } units[] = {
		{ "", 1000 }, { "s", 1000 }, { "ms", 1 }, { "m", 60000 }, { "h", 3600000 },
	};
	const char *unit;
	double num;

	if (split_unit(s, &num, &unit))
		return -EINVAL;
	for (size_t i = 0; i < VHM_ARRAY_SIZE(units); i++) {
		if (strcmp(unit, units[i].u))
			continue;
		double v = num * units[i].mul;
		if (v > 1e15)
			return -ERANGE;
		*ms = (uint64_t)(v + 0.5);
		return 0;
	}
	return -EINVAL;
}

int vhm_parse_rate(const char *s, uint64_t *bytes_per_s)
{
	char buf[64];
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n + 1);
	if (n > 2 && !strcmp(buf + n - 2, "/s"))
		buf[n - 2] = '\0';
	return vhm_parse_size(buf, bytes_per_s);
}

int vhm_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char sep1, sep2, sep3, sep4, sep5, extra;

	if (!s || strlen(s) != 17)
		return -EINVAL;
	if (sscanf(s, "%2x%c%2x%c%2x%c%2x%c%2x%c%2x%c", &b[0], &sep1, &b[1], &sep2,
		   &b[2], &sep3, &b[3], &sep4, &b[4], &sep5, &b[5], &extra) != 11)
		return -EINVAL;
	char seps[5] = { sep1, sep2, sep3, sep4, sep5 };
	for (int i = 0; i < 5; i++)
		if (seps[i] != seps[0] || (seps[i] != ':' && seps[i] != '-'))
			return -EINVAL;
	for (int i = 0; i < 17; i++)
		if (i % 3 != 2 && !isxdigit((unsigned char)s[i]))
			return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

void vhm_format_mac(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x",
		 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

bool vhm_pid_running(pid_t pid)
{
	char path[64], state = 0;
	FILE *f;
	int n;

	if (kill(pid, 0) && errno == ESRCH)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return errno != ENOENT;
	/* "pid (comm) state ...": comm may hold spaces and parentheses */
	n = fscanf(f, "%*d (%*[^)]) %c", &state);
	fclose(f);
	return n != 1 || (state != 'Z' && state != 'X');
}

uint64_t vhm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *vhm_run_dir(const char *override)
{
	const char *env = getenv("VHM_RUN_DIR");

	if (override && *override)
		return override;
	if (env && *env)
		return env;
	return "/run/vhm";
}

int vhm_sock_path(const char *dir, const char *name, char *out, size_t outlen)
{
	struct sockaddr_un sa;
	int n = snprintf(out, outlen, "%s/%s.sock", dir, name);

	if (n < 0 || (size_t)n >= outlen || (size_t)n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	return 0;
}

/* path's directory part into dir ("." when it has none); its last
 * component returned (inside path). */
static const char *split_dir(const char *path, char *dir, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(dir, len, ".");
	else if (slash == path)
		snprintf(dir, len, "/");
	else
		snprintf(dir, len, "%.*s", (int)(slash - path), path);
	return slash ? slash + 1 : path;
}

bool vhm_same_path(const char *a, const char *b)
{
	char da[4096], db[4096];
	const char *ba = split_dir(a, da, sizeof(da)), *bb = split_dir(b, db, sizeof(db));
	struct stat sa, sb;

	if (strcmp(ba, bb))
		return false;
	if (!stat(da, &sa) && !stat(db, &sb))
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	return !strcmp(da, db);
}

int vhm_sockaddr_un(struct sockaddr_un *sa, const char *path)
{
	size_t n = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, n + 1);
	return 0;
}

int vhm_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	errno = saved;
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double vhm_median(double *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int vhm_thread_nice_get(int *nice)
{
	errno = 0;
	*nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
	return *nice == -1 && errno ? -errno : 0;
}

int vhm_thread_nice(int nice)
{
	return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice) ? -errno : 0;
}

int vhm_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	static const int faults[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT };
	sigset_t block, old;
	int rc;

	sigfillset(&block);
	for (size_t i = 0; i < VHM_ARRAY_SIZE(faults); i++)
		sigdelset(&block, faults[i]);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	rc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}
