/* The agent's environment: nothing of the host's unless asked for. */
#include "box/internal.h"

#include <string.h>

void box_env_set(char ***env, const char *name, const char *value)
{
	size_t n = strlen(name);
	for (size_t i = 0; *env && (*env)[i]; i++) {
		if (strncmp((*env)[i], name, n) == 0 && (*env)[i][n] == '=') {
			free((*env)[i]);
			(*env)[i] = pc_xasprintf("%s=%s", name, value);
			return;
		}
	}
	_cleanup_free_ char *kv = pc_xasprintf("%s=%s", name, value);
	pc_strv_push(env, kv);
}

char **box_environment(const struct policy *p, char *const *setenv, bool tty)
{
	char **env = NULL;
	box_env_set(&env, "PATH", "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin");
	box_env_set(&env, "HOME", "/home/agent");
	box_env_set(&env, "USER", "agent");
	box_env_set(&env, "LOGNAME", "agent");
	box_env_set(&env, "SHELL", "/bin/sh");
	box_env_set(&env, "LANG", "C.UTF-8");
	box_env_set(&env, "TMPDIR", p->fs.scratch_path);
	/* the gate, for every client that reads these (curl, git, pip, npm,
	 * python, node, Go); the others are captured anyway */
	_cleanup_free_ char *proxy = pc_xasprintf("http://127.0.0.1:%u", p->net.gate_port);
	const char *proxy_vars[] = {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
				    "http_proxy", "https_proxy", "all_proxy"};
	for (size_t i = 0; i < PC_ARRAY_SIZE(proxy_vars); i++)
		box_env_set(&env, proxy_vars[i], proxy);
	box_env_set(&env, "NO_PROXY", "localhost,127.0.0.1,::1");
	box_env_set(&env, "no_proxy", "localhost,127.0.0.1,::1");
	const char *term = getenv("TERM");
	if (tty && term && *term)
		box_env_set(&env, "TERM", term);
	for (size_t i = 0; i < p->process.n_env; i++)
		box_env_set(&env, p->process.env[i].name, p->process.env[i].value);
	for (size_t i = 0; setenv && setenv[i]; i++) {
		const char *eq = strchr(setenv[i], '=');
		if (!eq)
			continue; /* the CLI checked the form */
		_cleanup_free_ char *name = pc_xstrndup(setenv[i], (size_t)(eq - setenv[i]));
		box_env_set(&env, name, eq + 1);
	}
	return env;
}
