/* proc_userns_unshare: make new namespaces with unshare(): a user
 * namespace first of all (inside it the agent holds every capability,
 * the usual first step of kernel exploits), and mount, network, pid, ipc,
 * uts, cgroup and time namespaces.
 *
 * Stopped by: the seccomp deny-list (EPERM for any namespace flag).
 * Without it, the kernel refuses the others for lack of CAP_SYS_ADMIN
 * (EPERM) but grants a user namespace: success is an escape from the
 * deny-list (see proc_userns_mount for what the other layers still hold).
 */
#include "escape.h"

#include <sched.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

int main(void)
{
	const struct {
		const char *name;
		int flag;
	} ns[] = {{"CLONE_NEWNS", CLONE_NEWNS},
		  {"CLONE_NEWNET", CLONE_NEWNET},
		  {"CLONE_NEWPID", CLONE_NEWPID},
		  {"CLONE_NEWIPC", CLONE_NEWIPC},
		  {"CLONE_NEWUTS", CLONE_NEWUTS},
		  {"CLONE_NEWCGROUP", CLONE_NEWCGROUP},
		  {"CLONE_NEWTIME", CLONE_NEWTIME},
		  {"CLONE_NEWUSER", CLONE_NEWUSER},
		  {"CLONE_NEWUSER|CLONE_NEWNS", CLONE_NEWUSER | CLONE_NEWNS}};
	for (size_t i = 0; i < ESC_N(ns); i++) {
		char what[64];
		snprintf(what, sizeof(what), "unshare(%s)", ns[i].name);
		MUST_FAIL(what, unshare(ns[i].flag), SECCOMP_OR("no CAP_SYS_ADMIN"));
	}
	verdict();
}
