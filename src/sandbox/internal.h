/* Private to src/sandbox: what the parent and the child side share. */
#pragma once

#include "sandbox/sandbox.h"

#include <linux/mount.h>

/* Control messages on the SOCK_SEQPACKET pair between pincer and PID 1. */
enum ctl_type {
	CTL_GO = 1,	  /* parent -> child: maps written, carry on */
	CTL_SETUP_FAILED, /* child -> parent: code = errno, text = what failed */
	CTL_PTY,	  /* child -> parent: pty master attached as an fd */
	CTL_STARTED,	  /* child -> parent: code = agent pid inside */
	CTL_EXEC_FAILED,  /* child -> parent: code = errno of execve */
	CTL_EXITED,	  /* child -> parent: code = status, a = 1 if signaled */
	CTL_LAYER,	  /* child -> parent: text = what a hardening layer did */
	CTL_SECCOMP,	  /* parent -> child: the compiled filter as an fd (none when
			   * off); code = error, a = rule count */
	CTL_NET,	  /* child -> parent: a = how many of the gate's sockets are
			   * attached (1..CTL_MAX_FDS), net[i] says what fd i is */
	/* An exec (sandbox.h) once the agent runs; a = the exec's id. */
	CTL_EXEC,	  /* parent -> PID 1: b = argc; fds stdin, stdout, stderr and
			   * a sealed memfd: argc strings of argv, then the env
			   * overlay's, each NUL-terminated */
	CTL_EXEC_SIGNAL,  /* parent -> PID 1: code = signal, to its process group */
	CTL_EXEC_STARTED, /* PID 1 -> parent: code = its pid inside */
	CTL_EXEC_REFUSED, /* PID 1 -> parent: code = errno, text = why; nothing runs */
	CTL_EXEC_EXITED,  /* PID 1 -> parent: code = exit code or signal, b = 1 if signaled */
	/* A deferred sandbox (sandbox_config.deferred): */
	CTL_READY, /* child -> parent: set up, under Landlock and seccomp; PID 1
		    * waits for CTL_AGENT */
	CTL_AGENT, /* parent -> PID 1: start the agent; as CTL_EXEC, but the
		    * strings after argv are its whole environment. Answered
		    * CTL_STARTED, or CTL_EXEC_FAILED (text = why) and PID 1
		    * exits */
};

/* Most fds one message carries (pc_send_fds's limit). */
#define CTL_MAX_FDS 8

struct ctl_msg {
	uint32_t type;
	int32_t code;
	int32_t a;
	int32_t b;
	char text[1024];
	struct {
		uint16_t kind; /* enum sandbox_listener_kind */
		uint16_t port;
	} net[CTL_MAX_FDS];
};

/* A grant prepared by the parent: a detached mount (open_tree clone) the
 * child moves into place. As root it is idmapped so the agent acts as the
 * owner of the host files there; otherwise a plain recursive bind. */
struct grant_tree {
	const struct pc_path *path;
	char *resolved; /* realpath on the host, checked against deny and hidden */
	bool writable;
	int fd;	 /* detached tree made by the parent (root), else -1 */
	int pin; /* O_PATH of the checked inode; the child's open must match */
};

/* Everything the child needs, prepared by the parent before clone3 and
 * inherited by the copy of memory the child gets. */
struct child_args {
	const struct sandbox_config *cfg;
	int ctl;		   /* child's end of the control socket */
	bool as_root;		   /* host root ran us: grants are idmapped */
	struct grant_tree *grants; /* read_only then read_write */
	size_t n_grants;
	const char *home;     /* HOME inside (from the environment) */
	bool home_tmpfs;      /* HOME gets a tmpfs of its own */
	bool rlimit_fallback; /* no cgroup: pids and memory become rlimits */
	char **deny_real;     /* per deny entry: where it resolves on the host
			       * ("" when it does not exist or is a glob) */
	bool late_cgroupns;   /* joined its cgroup after clone (v1): make the
			       * cgroup namespace then, so it is rooted there */
};

/* child.c: runs in the new namespaces; never returns. */
_noreturn_ void sandbox_child_main(struct child_args *a);
/* Report a setup failure to the parent and exit. */
_noreturn_ void child_fail(int ctl, const struct pc_error *err);

/* grants.c (parent): resolve and check every granted folder; as root, also
 * make its detached tree, idmapped so that the folder's owner on the host is
 * the agent inside. */
int grants_prepare(const struct sandbox_config *cfg, bool as_root, uid_t agent_uid, gid_t agent_gid,
		   struct grant_tree **out, size_t *n_out, struct pc_error *err);
void grants_free(struct grant_tree *g, size_t n);
/* Is path equal to or below dir? */
bool path_within(const char *path, const char *dir);

/* rootfs.c (child): the new root, mounted at a staging path, then pivoted. */
int rootfs_build(const struct child_args *a, struct pc_error *err);

/* pid1.c (child): become PID 1, start the agent, reap until it exits. */
_noreturn_ void pid1_run(const struct child_args *a);

/* seccomp.c: the parent compiles the deny-list into a sealed memfd (*fd_out;
 * -1 when the policy turned seccomp off; *count = rules); PID 1 loads it. */
int seccomp_compile(const struct policy *p, int *fd_out, int *count, struct pc_error *err);
int seccomp_load_program(int fd, struct pc_error *err);

/* landlock.c (PID 1): the Landlock ABI this kernel offers (0: none), and
 * the rules applied to the calling process. Returns the ABI used, 0 when
 * skipped (off, or missing under best_effort); note says which. */
int landlock_abi(void);
int landlock_apply(const struct child_args *a, char *note, size_t note_len, struct pc_error *err);

/* rootfs.c: does HOME need a tmpfs of its own (not under a writable mount)? */
bool rootfs_home_needs_tmpfs(const struct policy *p, const char *home);

/* net.c (child, while it holds the namespace's capabilities): lo up and
 * the `local` default routes on it, then the gate's sockets (sandbox.h),
 * sent to the parent as CTL_NET messages and closed here, and a CTL_LAYER
 * note saying what was made. */
int net_setup(int ctl, const struct policy *p, struct pc_error *err);
/* The steps of net_setup, apart for the unit tests. net_configure: lo up,
 * the IPv4 route (a failure is an error), the IPv6 one (a failure is only
 * said in note). net_make_listeners: the sockets, at most max (on failure
 * none is left open). net_send_listeners: sends them, then closes them all
 * whatever happened. */
int net_configure(char *note, size_t note_len, struct pc_error *err);
int net_make_listeners(const struct policy *p, struct sandbox_listener *out, size_t max, bool *ipv6,
		       struct pc_error *err);
int net_send_listeners(int ctl, struct sandbox_listener *l, size_t n, struct pc_error *err);
/* Upper bound of the sockets net_make_listeners makes. */
#define NET_MAX_LISTENERS (SANDBOX_MAX_CAPTURE_PORTS + 2)

/* Thin wrappers for the mount API syscalls glibc 2.36 lacks or hides. */
int sys_open_tree(int dfd, const char *path, unsigned flags);
int sys_move_mount(int from_dfd, const char *from, int to_dfd, const char *to, unsigned flags);
int sys_mount_setattr(int dfd, const char *path, unsigned flags, struct mount_attr *attr);
int sys_fsopen(const char *fs, unsigned flags);
int sys_fsconfig(int fd, unsigned cmd, const char *key, const void *value, int aux);
int sys_fsmount(int fd, unsigned flags, unsigned attr);
int sys_pivot_root(const char *new_root, const char *put_old);

/* cgroup.c (parent): the sandbox's cgroup(s) with the policy's limits, on
 * cgroup v2 (unified) or v1/hybrid hosts. */
struct cgroup;
/* Create a cgroup named `name` (e.g. "pincer-<run id>") carrying lim.
 * Returns 0 with *out == NULL when this process cannot use cgroups (not
 * root and nothing delegated); *why (caller frees) then says why, for a
 * warning and an audit record. Negative errno on a real failure. */
int cgroup_create(const struct pc_limits *lim, const char *name, struct cgroup **out, char **why,
		  struct pc_error *err);
/* v2: a directory fd for clone3's CLONE_INTO_CGROUP; -1 on v1. */
int cgroup_clone_fd(const struct cgroup *cg);
/* v1 (and v2 when CLONE_INTO_CGROUP was not used): move pid in, before the
 * sandbox runs anything. */
int cgroup_attach(struct cgroup *cg, pid_t pid, struct pc_error *err);
/* After the sandbox ended: did the kernel OOM-kill anything in it? */
bool cgroup_oom_killed(struct cgroup *cg);
/* One line for humans and the audit log: "v1 memory+pids+cpu at ..." */
const char *cgroup_describe(const struct cgroup *cg);
/* Kill anything left, remove the directories, free. */
void cgroup_destroy(struct cgroup *cg);
