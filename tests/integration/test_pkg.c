/* SPDX-License-Identifier: MIT */
/* Packaging, as an operator meets it (issue 18 items 4 and 5):
 *   pkg_version   `vhm --version` is "vhm VERSION (git COMMIT)", VERSION the
 *                 file's; `make dist` names its tarball so and puts COMMIT in it;
 *   pkg_deps      a plain make's check names missing build packages and
 *                 installs nothing;
 *   pkg_man       every command `vhm help` lists has its page, whose options
 *                 (hand-written examples included) are exactly those of its
 *                 --help, and vhm(1) lists them all;
 *   pkg_complete  bash completion, driven in bash as readline would: commands,
 *                 each command's options, running instances' names;
 *   pkg_install   scripts/install.sh (make install / uninstall) with PREFIX and
 *                 DESTDIR puts exactly its files, uninstall takes exactly them
 *                 back, and a file vhm did not install is never touched;
 *   pkg_unit      the libvirt-watch unit: `systemd-analyze security` exposure
 *                 at most 4.0, `systemd-analyze verify` clean;
 *   pkg_notify    `vhm libvirt-watch` under systemd's notify protocol: READY=1
 *                 once its control socket answers, WATCHDOG=1 at half
 *                 $WATCHDOG_USEC, none without it, STOPPING=1 on SIGTERM;
 *                 a failed start sends STATUS= and ERRNO=, never READY=1.
 * They run from the repository root (as make's test targets do) and use the
 * binaries and man pages of $VHM_BUILD. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "devtest.h"
#include "support.h"

#define PKG_CMDS_MAX 40
#define PKG_OPTS_MAX 64
#define PKG_NAME_MAX 32

static void fini(void)
{
	ts_cleanup();
}

/* ---- helpers ----------------------------------------------------------------- */

/* The absolute path of `rel` in the source tree, or skip: the tests run from
 * the repository root. */
static void src_path(const char *rel, char *out)
{
	if (!realpath(rel, out))
		cr_skip_test("%s not found: run the tests from the repository root", rel);
}

/* A program on $PATH, or skip with the package that has it. */
static void need_program(const char *prog, const char *package)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	if (system(cmd) != 0)
		cr_skip_test("%s is not installed (Debian package %s)", prog, package);
}

/* Run argv, asserting it started and finished in time. */
static void run(const char *const argv[], struct ts_run *r)
{
	cr_assert(eq(int, ts_run_cmd(argv, 60000, r), 0), "cannot start %s", argv[0]);
	cr_assert(not(r->timed_out), "%s timed out", argv[0]);
}

/* Read a whole small file into buf; asserted. */
static void read_text(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	cr_assert(ne(ptr, f, NULL), "%s: %s", path, strerror(errno));
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* The commands `vhm help` lists, in its order. */
static int vhm_commands(char names[][PKG_NAME_MAX])
{
	const char *args[] = { "help", NULL };
	struct ts_run r;
	char *line, *save = NULL;
	bool on = false;
	int n = 0;

	dt_vhm(args, &r);
	cr_assert(eq(int, r.status, 0));
	for (line = strtok_r(r.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strcmp(line, "commands:")) {
			on = true;
			continue;
		}
		if (!on || strncmp(line, "  ", 2) || line[2] == ' ')
			continue;
		cr_assert(lt(int, n, PKG_CMDS_MAX));
		sscanf(line, "%31s", names[n++]);
	}
	ts_run_free(&r);
	cr_assert(lt(int, 5, n), "`vhm help` listed %d commands", n);
	return n;
}

/* The long options ("--name") text mentions, each once. */
static int long_options(const char *text, char opts[][PKG_NAME_MAX])
{
	int n = 0;

	for (const char *p = strstr(text, "--"); p; p = strstr(p + 2, "--")) {
		size_t len = 2;
		bool dup = false;

		while (p[len] == '-' || (p[len] >= 'a' && p[len] <= 'z') ||
		       (p[len] >= '0' && p[len] <= '9'))
			len++;
		if (len < 4 || p[2] < 'a' || p[2] > 'z' || len >= PKG_NAME_MAX)
			continue;
		for (int i = 0; i < n && !dup; i++)
			dup = strlen(opts[i]) == len && !strncmp(opts[i], p, len);
		if (dup)
			continue;
		cr_assert(lt(int, n, PKG_OPTS_MAX));
		memcpy(opts[n], p, len);
		opts[n++][len] = '\0';
	}
	return n;
}

/* Is every option of `a` among those of `b`? The first missing, or NULL. */
static const char *first_missing(char a[][PKG_NAME_MAX], int na, char b[][PKG_NAME_MAX], int nb)
{
	for (int i = 0; i < na; i++) {
		bool found = false;

		for (int j = 0; j < nb && !found; j++)
			found = !strcmp(a[i], b[j]);
		if (!found)
			return a[i];
	}
	return NULL;
}

/* ---- pkg_version ------------------------------------------------------------- */

Test(pkg_version, is_the_release_and_the_commit, .fini = fini)
{
	const char *args[] = { "--version", NULL };
	char path[PATH_MAX], version[64], want[128];
	regex_t re;
	regmatch_t m[2];
	struct ts_run r;

	src_path("VERSION", path);
	read_text(path, version, sizeof(version));
	version[strcspn(version, "\n")] = '\0';
	cr_assert(eq(int, regcomp(&re, "^[0-9]+\\.[0-9]+\\.[0-9]+$", REG_EXTENDED), 0));
	cr_assert(eq(int, regexec(&re, version, 0, NULL, 0), 0), "VERSION holds '%s'", version);
	regfree(&re);

	dt_vhm(args, &r);
	cr_assert(eq(int, r.status, 0));
	cr_assert(eq(str, r.err, ""));
	cr_assert(eq(int, regcomp(&re, "^vhm ([0-9.]+)( \\(git [0-9a-f]{7,}(-dirty)?\\))?\n$",
				  REG_EXTENDED), 0));
	cr_assert(eq(int, regexec(&re, r.out, 2, m, 0), 0),
		  "want 'vhm X.Y.Z (git abcdef0)', got '%s'", r.out);
	regfree(&re);
	snprintf(want, sizeof(want), "%.*s", (int)(m[1].rm_eo - m[1].rm_so), r.out + m[1].rm_so);
	cr_assert(eq(str, want, version));
	/* In a checkout the commit is there; a tarball carries it in GIT_REVISION. */
	if (access(".git", F_OK) == 0)
		cr_assert(ne(ptr, strstr(r.out, " (git "), NULL), "in a checkout: %s", r.out);
	ts_run_free(&r);
}

Test(pkg_version, make_dist_names_the_tarball_and_carries_the_commit, .fini = fini,
     .timeout = 60)
{
	char path[PATH_MAX], version[64], build[PATH_MAX + 8], tarball[PATH_MAX + 32];
	struct ts_run r, head;

	if (access(".git", F_OK))
		cr_skip_test("not a git checkout: make dist archives the committed tree");
	need_program("git", "git");
	src_path("VERSION", path);
	read_text(path, version, sizeof(version));
	version[strcspn(version, "\n")] = '\0';
	/* BUILD in the test's dir: nothing of the tree under test is rebuilt. A
	 * make running the tests passes its own variables (BUILD, SAN) in the
	 * environment: not to this one. */
	snprintf(build, sizeof(build), "BUILD=%s", ts_dir());
	const char *dist[] = { "env", "-u", "MAKEFLAGS", "-u", "MFLAGS", "-u", "MAKELEVEL", "make",
			       "--no-print-directory", "-s", build, "dist", NULL };

	run(dist, &r);
	cr_assert(eq(int, r.status, 0), "make dist: %s", r.err);
	ts_run_free(&r);
	snprintf(tarball, sizeof(tarball), "%s/vhm-%s.tar.gz", ts_dir(), version);
	snprintf(path, sizeof(path), "vhm-%s/GIT_REVISION", version);
	const char *rev[] = { "tar", "-xzOf", tarball, path, NULL };
	const char *git[] = { "git", "rev-parse", "--short=7", "HEAD", NULL };

	run(rev, &r);
	cr_assert(eq(int, r.status, 0), "%s in %s: %s", path, tarball, r.err);
	run(git, &head);
	cr_assert(eq(str, r.out, head.out), "GIT_REVISION is the commit archived");
	ts_run_free(&r);
	ts_run_free(&head);
}

/* ---- pkg_deps ---------------------------------------------------------------- */

/* scripts/deps.sh --check-build with a stand-in dpkg-query that reports
 * `absent` not installed (and every other package installed), and an apt-get
 * that leaves a mark if anything runs it. */
static void check_build(const char *absent, struct ts_run *r)
{
	char script[PATH_MAX], fake[TS_PATH_MAX], mark[TS_PATH_MAX], code[4 * PATH_MAX];

	src_path("scripts/deps.sh", script);
	cr_assert(eq(int, ts_path("bin", fake, sizeof(fake)), 0));
	cr_assert(eq(int, ts_path("apt-get-ran", mark, sizeof(mark)), 0));
	snprintf(code, sizeof(code),
		 "mkdir -p '%s' && printf '#!/bin/sh\\ntouch %s\\n' > '%s/apt-get' && "
		 "printf '#!/bin/sh\\nfor p; do :; done\\n[ \"$p\" = \"%s\" ] && exit 1\\n"
		 "printf \"install ok installed\"\\n' > '%s/dpkg-query' && "
		 "chmod +x '%s/apt-get' '%s/dpkg-query' && PATH='%s':$PATH '%s' --check-build",
		 fake, mark, fake, absent, fake, fake, fake, fake, script);
	const char *argv[] = { "sh", "-c", code, NULL };

	run(argv, r);
	cr_assert(eq(int, access(mark, F_OK), -1), "apt-get ran");
}

Test(pkg_deps, a_missing_build_package_is_named_and_nothing_installed, .fini = fini)
{
	struct ts_run r;

	check_build("libjansson-dev", &r);
	cr_assert(eq(int, r.status, 1), "%s", r.err);
	cr_assert(eq(str, r.out, ""));
	cr_assert(eq(int, ts_count_lines(r.err), 1), "one line: %s", r.err);
	cr_assert(ne(ptr, strstr(r.err, "missing build packages: libjansson-dev;"), NULL), "%s",
		  r.err);
	cr_assert(ne(ptr, strstr(r.err, "make deps"), NULL), "%s", r.err);
	ts_run_free(&r);
}

Test(pkg_deps, test_packages_are_not_needed_to_build, .fini = fini)
{
	struct ts_run r;

	/* dpdk-dev is for the tests and the demo: a plain make does not ask for it. */
	check_build("dpdk-dev", &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	cr_assert(eq(str, r.err, ""));
	cr_assert(eq(str, r.out, ""));
	ts_run_free(&r);
}

/* ---- pkg_man ----------------------------------------------------------------- */

/* The page rendered as man shows it, with man's warnings asserted absent. */
static void render(const char *page, struct ts_run *r)
{
	const char *argv[] = { "env", "MANWIDTH=200", "man", "--warnings", "-l", page, NULL };

	run(argv, r);
	cr_assert(eq(int, r->status, 0), "man -l %s: %s", page, r->err);
	cr_assert(eq(str, r->err, ""), "man warns about %s", page);
}

Test(pkg_man, every_command_has_a_page_with_exactly_its_options, .fini = fini)
{
	static char names[PKG_CMDS_MAX][PKG_NAME_MAX];
	static char hopts[PKG_OPTS_MAX][PKG_NAME_MAX], mopts[PKG_OPTS_MAX][PKG_NAME_MAX];
	char page[PATH_MAX], title[64];
	int n = vhm_commands(names);

	need_program("man", "man-db");
	for (int i = 0; i < n; i++) {
		const char *args[] = { names[i], "--help", NULL };
		struct ts_run h, m;
		const char *miss;
		char *see;
		int nh, nm;

		snprintf(page, sizeof(page), "%s/man/vhm-%s.1", ts_build_dir(), names[i]);
		cr_assert(eq(int, access(page, R_OK), 0), "no man page %s for 'vhm %s'", page,
			  names[i]);
		dt_vhm(args, &h);
		cr_assert(eq(int, h.status, 0));
		render(page, &m);
		snprintf(title, sizeof(title), "vhm-%s - ", names[i]);
		cr_assert(ne(ptr, strstr(m.out, title), NULL), "%s: no NAME line '%s'", page, title);
		see = strstr(m.out, "SEE ALSO");
		if (see)
			*see = '\0';
		nh = long_options(h.out, hopts);
		nm = long_options(m.out, mopts);
		miss = first_missing(hopts, nh, mopts, nm);
		cr_assert(eq(ptr, (void *)miss, NULL), "'vhm %s --help' has %s, its page does not",
			  names[i], miss);
		miss = first_missing(mopts, nm, hopts, nh);
		cr_assert(eq(ptr, (void *)miss, NULL), "vhm-%s(1) has %s, --help does not",
			  names[i], miss);
		ts_run_free(&h);
		ts_run_free(&m);
	}
}

Test(pkg_man, vhm_1_lists_every_command, .fini = fini)
{
	static char names[PKG_CMDS_MAX][PKG_NAME_MAX];
	char page[PATH_MAX], ref[64];
	int n = vhm_commands(names);
	struct ts_run m;

	need_program("man", "man-db");
	snprintf(page, sizeof(page), "%s/man/vhm.1", ts_build_dir());
	render(page, &m);
	for (int i = 0; i < n; i++) {
		snprintf(ref, sizeof(ref), "vhm-%s(1)", names[i]);
		cr_assert(ne(ptr, strstr(m.out, ref), NULL), "vhm(1) does not mention %s", ref);
	}
	ts_run_free(&m);
}

/* ---- pkg_complete ------------------------------------------------------------ */

/* What `complete -p vhm` prints once the completion file is sourced. */
#define PKG_COMPLETE_SPEC "complete -o default -F _vhm vhm\n"
#define PKG_SPEC_LEN (sizeof(PKG_COMPLETE_SPEC) - 1)

/* What bash completes for the words (the last one being completed), one
 * candidate a line, after PKG_COMPLETE_SPEC (asserted): the candidates are at
 * r->out + PKG_SPEC_LEN. */
static void complete(const char *words, struct ts_run *r)
{
	char script[PATH_MAX], vhm[PATH_MAX], code[2 * PATH_MAX + 512];

	src_path("contrib/vhm.bash", script);
	ts_bin("vhm", vhm, sizeof(vhm));
	snprintf(code, sizeof(code),
		 "source '%s' && complete -p vhm && COMP_WORDS=('%s' %s) && "
		 "COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) && _vhm && printf '%%s\\n' \"${COMPREPLY[@]}\"",
		 script, vhm, words);
	const char *argv[] = { "bash", "--norc", "--noprofile", "-c", code, NULL };

	run(argv, r);
	cr_assert(eq(int, r->status, 0), "bash: %s", r->err);
	cr_assert(eq(int, strncmp(r->out, PKG_COMPLETE_SPEC, PKG_SPEC_LEN), 0),
		  "complete -p vhm: %s", r->out);
}

/* The candidates of `words` are exactly `want` (lines, sorted as given). */
static void expect_completion(const char *words, const char *want)
{
	struct ts_run r;

	complete(words, &r);
	cr_assert(eq(str, r.out + PKG_SPEC_LEN, (char *)want), "completing [%s]", words);
	ts_run_free(&r);
}

Test(pkg_complete, commands_and_options, .fini = fini)
{
	need_program("bash", "bash");
	expect_completion("mig", "migrate\n");
	expect_completion("li", "libvirt-watch\nlist\n");
	expect_completion("help libv", "libvirt-watch\n");
	expect_completion("migrate --b", "--bandwidth\n");
	expect_completion("status --", "--help\n--json\n--run-dir\n--timeout\n");
	/* After an option taking a value: nothing of ours (files, by -o default). */
	expect_completion("status --run-dir ''", "\n");
}

Test(pkg_complete, every_option_of_every_command, .fini = fini)
{
	static char names[PKG_CMDS_MAX][PKG_NAME_MAX];
	static char hopts[PKG_OPTS_MAX][PKG_NAME_MAX], copts[PKG_OPTS_MAX][PKG_NAME_MAX];
	int n = vhm_commands(names);

	need_program("bash", "bash");
	for (int i = 0; i < n; i++) {
		const char *args[] = { names[i], "--help", NULL };
		char words[64];
		struct ts_run h, c;
		const char *miss;
		int nh, nc;

		if (!strcmp(names[i], "help"))
			continue; /* `vhm help` completes commands, tested above */
		dt_vhm(args, &h);
		snprintf(words, sizeof(words), "%s --", names[i]);
		complete(words, &c);
		nh = long_options(h.out, hopts);
		nc = long_options(c.out + PKG_SPEC_LEN, copts);
		miss = first_missing(hopts, nh, copts, nc);
		cr_assert(eq(ptr, (void *)miss, NULL), "'vhm %s %s<TAB>' lacks %s", names[i],
			  "--", miss);
		ts_run_free(&h);
		ts_run_free(&c);
	}
}

Test(pkg_complete, names_of_running_instances, .fini = fini, .timeout = 60)
{
	char sock[TS_PATH_MAX], run_dir[TS_PATH_MAX], ctl[TS_PATH_MAX], vhm[PATH_MAX];
	struct ts_run r;

	cr_assert(eq(int, ts_path("be.sock", sock, sizeof(sock)), 0));
	cr_assert(lt(int, 0, ts_testbe_start(sock, NULL)));
	/* The instance's run dir holds its control socket alone. */
	cr_assert(eq(int, ts_path("run", run_dir, sizeof(run_dir)), 0));
	cr_assert(eq(int, mkdir(run_dir, 0700), 0));
	cr_assert(eq(int, ts_path("run/pkgdev.sock", ctl, sizeof(ctl)), 0));
	ts_bin("vhm", vhm, sizeof(vhm));
	const char *argv[] = { vhm, "run", "--backend", sock, "--name", "pkgdev", "--run-dir",
			       run_dir, "--quiet", NULL };

	cr_assert(lt(int, 0, ts_spawn(argv, NULL)));
	cr_assert(eq(int, ts_wait_socket(ctl, 10000), 0), "no %s in 10 s", ctl);
	/* `vhm list` reads $VHM_RUN_DIR, as the operator's shell would set it. */
	setenv("VHM_RUN_DIR", run_dir, 1);
	complete("status pk", &r);
	cr_assert(eq(str, r.out + PKG_SPEC_LEN, "pkgdev\n"));
	ts_run_free(&r);
	complete("stop ''", &r);
	cr_assert(eq(str, r.out + PKG_SPEC_LEN, "pkgdev\n"));
	ts_run_free(&r);
	/* probe takes a SOCKET, not an instance: files. */
	complete("probe ''", &r);
	cr_assert(eq(str, r.out + PKG_SPEC_LEN, "\n"));
	ts_run_free(&r);
}

/* ---- pkg_install ------------------------------------------------------------- */

#define PKG_TREE_MAX 8192

static char tree[PKG_TREE_MAX];
static size_t tree_root_len;

static int tree_add(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_D || type == FTW_DP || strlen(path) == tree_root_len)
		return 0;
	cr_assert(lt(sz, strlen(tree) + strlen(path), sizeof(tree) - 2));
	strcat(tree, path + tree_root_len);
	strcat(tree, "\n");
	return 0;
}

/* Every file (not directory) under root, one path a line relative to it
 * (starting with '/'), in nftw's order; "" when none. The directories are
 * count_dirs'. nftw's callbacks take no context, hence the statics. */
static const char *files_under(const char *root)
{
	tree[0] = '\0';
	tree_root_len = strlen(root);
	cr_assert(eq(int, nftw(root, tree_add, 16, FTW_PHYS), 0));
	return tree;
}

static int ndirs;

static int dir_count(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)path;
	(void)st;
	ndirs += (type == FTW_D || type == FTW_DP) && ftw->level > 0;
	return 0;
}

static int count_dirs(const char *root)
{
	ndirs = 0;
	cr_assert(eq(int, nftw(root, dir_count, 16, FTW_PHYS), 0));
	return ndirs;
}

/* scripts/install.sh ACTION with PREFIX and DESTDIR; its outcome in r. */
static void install_sh(const char *action, const char *prefix, const char *destdir,
		       struct ts_run *r)
{
	char script[PATH_MAX], p[PATH_MAX + 8], d[PATH_MAX + 8];

	src_path("scripts/install.sh", script);
	snprintf(p, sizeof(p), "PREFIX=%s", prefix);
	snprintf(d, sizeof(d), "DESTDIR=%s", destdir);
	const char *argv[] = { "env", p, d, script, action, ts_build_dir(), NULL };

	run(argv, r);
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = strstr(text, line); p; p = strstr(p + 1, line))
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

Test(pkg_install, puts_exactly_its_files_and_uninstall_takes_them_back, .fini = fini,
     .timeout = 60)
{
	static char names[PKG_CMDS_MAX][PKG_NAME_MAX];
	char dest[TS_PATH_MAX], path[PATH_MAX], want[128], text[4096];
	int n = vhm_commands(names);
	struct ts_run r;

	cr_assert(eq(int, ts_path("dest", dest, sizeof(dest)), 0));
	install_sh("install", "/opt/vhmt", dest, &r);
	cr_assert(eq(int, r.status, 0), "install: %s", r.err);
	ts_run_free(&r);

	const char *files = files_under(dest);
	const char *fixed[] = { "/opt/vhmt/bin/vhm", "/opt/vhmt/share/man/man1/vhm.1",
				"/opt/vhmt/share/bash-completion/completions/vhm",
				"/opt/vhmt/lib/systemd/system/vhm-libvirt-watch.service",
				"/etc/libvirt/hooks/qemu.d/50-vhm", "/opt/vhmt/share/vhm/installed" };

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		cr_assert(has_line(files, fixed[i]), "%s not installed; installed:\n%s", fixed[i],
			  files);
	for (int i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "/opt/vhmt/share/man/man1/vhm-%s.1", names[i]);
		cr_assert(has_line(files, want), "%s not installed", want);
	}
	cr_assert(eq(int, ts_count_lines(files), 6 + n), "nothing else installed:\n%s", files);

	/* Both the unit and the hook run the installed binary. */
	snprintf(path, sizeof(path), "%s/opt/vhmt/lib/systemd/system/vhm-libvirt-watch.service",
		 dest);
	read_text(path, text, sizeof(text));
	cr_assert(ne(ptr, strstr(text, "\nExecStart=/opt/vhmt/bin/vhm libvirt-watch\n"), NULL));
	snprintf(path, sizeof(path), "%s/etc/libvirt/hooks/qemu.d/50-vhm", dest);
	read_text(path, text, sizeof(text));
	cr_assert(ne(ptr, strstr(text, "exec '/opt/vhmt/bin/vhm' hook"), NULL), "%s", text);

	/* Someone else's file in a directory install created stays, with it. */
	snprintf(path, sizeof(path), "%s/opt/vhmt/share/man/man1/other.1", dest);
	FILE *f = fopen(path, "we");

	cr_assert(ne(ptr, f, NULL));
	fputs("not vhm's\n", f);
	fclose(f);

	install_sh("uninstall", "/opt/vhmt", dest, &r);
	cr_assert(eq(int, r.status, 0), "uninstall: %s", r.err);
	ts_run_free(&r);
	cr_assert(eq(str, (char *)files_under(dest), "/opt/vhmt/share/man/man1/other.1\n"));
	/* dest/opt/vhmt/share/man/man1 and its parents remain, nothing else. */
	cr_assert(eq(int, count_dirs(dest), 5));
	cr_assert(eq(int, unlink(path), 0));

	/* Uninstalling again finds nothing to do. */
	install_sh("uninstall", "/opt/vhmt", dest, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	ts_run_free(&r);
}

Test(pkg_install, never_replaces_a_file_it_did_not_install, .fini = fini, .timeout = 60)
{
	char dest[TS_PATH_MAX], path[PATH_MAX], text[64];
	struct ts_run r;
	FILE *f;

	cr_assert(eq(int, ts_path("dest", dest, sizeof(dest)), 0));
	snprintf(path, sizeof(path), "%s/usr/local/bin", dest);
	const char *mk[] = { "mkdir", "-p", path, NULL };

	run(mk, &r);
	ts_run_free(&r);
	strcat(path, "/vhm");
	f = fopen(path, "we");
	cr_assert(ne(ptr, f, NULL));
	fputs("someone's vhm\n", f);
	fclose(f);

	install_sh("install", "/usr/local", dest, &r);
	cr_assert(eq(int, r.status, 1));
	cr_assert(eq(int, ts_count_lines(r.err), 1), "one line: %s", r.err);
	cr_assert(ne(ptr, strstr(r.err, "was not installed by vhm"), NULL), "%s", r.err);
	ts_run_free(&r);
	read_text(path, text, sizeof(text));
	cr_assert(eq(str, text, "someone's vhm\n"));
	/* Refused before writing anything. */
	cr_assert(eq(str, (char *)files_under(dest), "/usr/local/bin/vhm\n"));
}

Test(pkg_install, refuses_a_relative_prefix, .fini = fini)
{
	struct ts_run r;

	install_sh("install", "usr/local", ts_dir(), &r);
	cr_assert(eq(int, r.status, 2));
	cr_assert(ne(ptr, strstr(r.err, "not an absolute path"), NULL), "%s", r.err);
	ts_run_free(&r);
}

/* ---- pkg_unit ---------------------------------------------------------------- */

#define PKG_UNIT "contrib/vhm-libvirt-watch.service"

Test(pkg_unit, systemd_rates_its_exposure_at_most_4, .fini = fini)
{
	char unit[PATH_MAX];
	struct ts_run r;
	const char *p;
	double level;

	need_program("systemd-analyze", "systemd");
	src_path(PKG_UNIT, unit);
	const char *argv[] = { "systemd-analyze", "security", "--offline=true", "--no-pager",
			       unit, NULL };

	run(argv, &r);
	p = strstr(r.out, "Overall exposure level for vhm-libvirt-watch.service: ");
	cr_assert(ne(ptr, (void *)p, NULL), "no overall level in:\n%s%s", r.out, r.err);
	cr_assert(eq(int, sscanf(strchr(p, ':') + 1, "%lf", &level), 1));
	cr_assert(le(dbl, level, 4.0), "exposure %.1f", level);
	ts_run_free(&r);
}

Test(pkg_unit, systemd_analyze_verify_is_clean, .fini = fini)
{
	char unit[PATH_MAX], vhm[PATH_MAX], copy[TS_PATH_MAX], man[TS_PATH_MAX];
	char sed[2 * PATH_MAX], pages[PATH_MAX];
	struct ts_run r;

	need_program("systemd-analyze", "systemd");
	need_program("man", "man-db");
	src_path(PKG_UNIT, unit);
	/* A copy whose ExecStart is the built binary, and MANPATH holding the
	 * built pages, since verify checks both exist. */
	cr_assert(eq(int, ts_path("vhm-libvirt-watch.service", copy, sizeof(copy)), 0));
	cr_assert(eq(int, ts_path("man", man, sizeof(man)), 0));
	ts_bin("vhm", vhm, sizeof(vhm));
	cr_assert(ne(ptr, realpath(vhm, pages), NULL));
	snprintf(sed, sizeof(sed), "sed 's|/usr/local/bin/vhm|%s|' '%s' > '%s' && mkdir '%s' && "
		 "ln -s \"$(realpath '%s/man')\" '%s/man1'", pages, unit, copy, man,
		 ts_build_dir(), man);
	const char *prep[] = { "sh", "-c", sed, NULL };

	run(prep, &r);
	cr_assert(eq(int, r.status, 0), "%s", r.err);
	ts_run_free(&r);
	snprintf(pages, sizeof(pages), "MANPATH=%s", man);
	const char *argv[] = { "env", pages, "systemd-analyze", "verify", copy, NULL };

	run(argv, &r);
	cr_assert(eq(int, r.status, 0), "verify: %s%s", r.out, r.err);
	cr_assert(eq(str, r.err, ""));
	cr_assert(eq(str, r.out, ""));
	ts_run_free(&r);
}

/* ---- pkg_notify -------------------------------------------------------------- */

/* A datagram socket at path, as systemd's $NOTIFY_SOCKET. */
static int notify_socket(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert(le(int, 0, fd));
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	cr_assert(eq(int, bind(fd, (struct sockaddr *)&a, sizeof(a)), 0), "%s", strerror(errno));
	return fd;
}

/* The next notification within timeout_ms into buf, or false. */
static bool next_message(int fd, int timeout_ms, char *buf, size_t len)
{
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000 };
	ssize_t n;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	n = recv(fd, buf, len - 1, 0);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* vhm libvirt-watch on libvirt's test driver, notifying the socket at
 * notify, with $WATCHDOG_USEC = watchdog_usec (NULL: unset). */
static pid_t start_watch(const char *notify, const char *watchdog_usec)
{
	char vhm[PATH_MAX], log[TS_PATH_MAX];
	pid_t pid;

	ts_bin("vhm", vhm, sizeof(vhm));
	cr_assert(eq(int, ts_path("watch.log", log, sizeof(log)), 0));
	const char *argv[] = { vhm, "libvirt-watch", "-c", "test:///default", "-d", ts_dir(),
			       NULL };

	setenv("NOTIFY_SOCKET", notify, 1);
	if (watchdog_usec)
		setenv("WATCHDOG_USEC", watchdog_usec, 1);
	pid = ts_spawn(argv, log);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	cr_assert(lt(int, 0, pid));
	return pid;
}

/* The control socket answers: READY=1 must not come before it does. */
static void expect_control_socket_answers(void)
{
	char sock[TS_PATH_MAX];
	const char *args[] = { "status", sock, "--json", NULL };
	struct ts_run r;

	cr_assert(eq(int, ts_path("libvirt.sock", sock, sizeof(sock)), 0));
	dt_vhm(args, &r);
	cr_assert(eq(int, r.status, 0), "right after READY=1: %s", r.err);
	ts_run_free(&r);
}

Test(pkg_notify, ready_once_the_socket_answers_then_watchdog_pings, .fini = fini,
     .timeout = 60)
{
	char path[TS_PATH_MAX], msg[512];
	int fd, pings = 0;
	pid_t pid;

	cr_assert(eq(int, ts_path("notify", path, sizeof(path)), 0));
	fd = notify_socket(path);
	pid = start_watch(path, "200000"); /* 200 ms: a ping every 100 ms */
	cr_assert(next_message(fd, 10000, msg, sizeof(msg)), "no notification in 10 s");
	cr_assert(eq(int, strncmp(msg, "READY=1\n", 8), 0), "first message: %s", msg);
	cr_assert(ne(ptr, strstr(msg, "STATUS=watching test:///default"), NULL), "%s", msg);
	expect_control_socket_answers();

	/* From now on (what queued meanwhile dropped), 2 s hold at most 21
	 * pings of a 100 ms period; late ones are tolerated down to 2. */
	while (recv(fd, msg, sizeof(msg), MSG_DONTWAIT) > 0)
		;
	long start = ts_now_ms();

	while (ts_now_ms() - start < 2000) {
		int left = (int)(2000 - (ts_now_ms() - start));

		if (left <= 0 || !next_message(fd, left, msg, sizeof(msg)))
			break;
		cr_assert(eq(str, msg, "WATCHDOG=1"));
		pings++;
	}
	cr_assert(le(int, 2, pings), "%d pings in 2 s at a 100 ms period", pings);
	cr_assert(le(int, pings, 21), "%d pings in 2 s at a 100 ms period", pings);

	cr_assert(eq(int, ts_kill(pid), 0), "SIGTERM: a clean exit");
	bool stopping = false;

	while (!stopping && next_message(fd, 1000, msg, sizeof(msg)))
		stopping = !strcmp(msg, "STOPPING=1");
	cr_assert(stopping, "no STOPPING=1 after SIGTERM");
	close(fd);
}

Test(pkg_notify, no_watchdog_pings_without_watchdog_usec, .fini = fini, .timeout = 60)
{
	char path[TS_PATH_MAX], msg[512];
	int fd;
	pid_t pid;

	cr_assert(eq(int, ts_path("notify", path, sizeof(path)), 0));
	fd = notify_socket(path);
	pid = start_watch(path, NULL);
	cr_assert(next_message(fd, 10000, msg, sizeof(msg)), "no notification in 10 s");
	cr_assert(eq(int, strncmp(msg, "READY=1\n", 8), 0), "first message: %s", msg);
	cr_assert(not(next_message(fd, 1000, msg, sizeof(msg))), "then, within 1 s: %s", msg);
	cr_assert(eq(int, ts_kill(pid), 0));
	close(fd);
}

Test(pkg_notify, a_failed_start_says_why_and_is_never_ready, .fini = fini, .timeout = 60)
{
	char path[TS_PATH_MAX], msg[512], vhm[PATH_MAX];
	struct ts_run r;
	int fd;

	cr_assert(eq(int, ts_path("notify", path, sizeof(path)), 0));
	fd = notify_socket(path);
	ts_bin("vhm", vhm, sizeof(vhm));
	/* libvirt's test driver on a file that does not exist: no connection. */
	const char *argv[] = { vhm, "libvirt-watch", "-c", "test:///no/such/file.xml", "-d",
			       ts_dir(), NULL };

	setenv("NOTIFY_SOCKET", path, 1);
	run(argv, &r);
	unsetenv("NOTIFY_SOCKET");
	cr_assert(eq(int, r.status, 3), "%s", r.err);
	cr_assert(next_message(fd, 1000, msg, sizeof(msg)), "no notification");
	const char *want = "STATUS=cannot connect to test:///no/such/file.xml: ";

	cr_assert(eq(int, strncmp(msg, want, strlen(want)), 0), "%s", msg);
	cr_assert(ne(ptr, strstr(msg, "\nERRNO="), NULL), "%s", msg);
	cr_assert(not(next_message(fd, 200, msg, sizeof(msg))), "then: %s", msg);
	ts_run_free(&r);
	close(fd);
}
