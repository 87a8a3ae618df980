/* SPDX-License-Identifier: MIT */
/* vhm_pid_running: a child that sleeps runs; one that exited does not, as
 * soon as it has exited (a zombie, not yet waited for, which kill(pid, 0)
 * still finds) and after it was waited for; this process runs. */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

/* Poll up to 5 s for `running` to become want. */
static bool becomes(pid_t pid, bool want)
{
	for (int i = 0; i < 500; i++) {
		if (vhm_pid_running(pid) == want)
			return true;
		usleep(10000);
	}
	return false;
}

Test(util_pid, zombie_is_not_running)
{
	pid_t pid = fork();

	cr_assert(ge(int, pid, 0));
	if (pid == 0) {
		pause();
		_exit(0);
	}
	cr_assert(vhm_pid_running(pid), "a sleeping child");
	cr_assert(eq(int, kill(pid, SIGKILL), 0));
	cr_assert(becomes(pid, false), "a child killed and not waited for still runs");
	cr_assert(eq(int, kill(pid, 0), 0), "kill(pid, 0) finds the zombie (what the call is for)");
	cr_assert(eq(int, waitpid(pid, NULL, 0), pid));
	cr_assert(not(vhm_pid_running(pid)), "a child waited for");
}

Test(util_pid, self_runs)
{
	cr_assert(vhm_pid_running(getpid()));
}
