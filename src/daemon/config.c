/* The daemon's config file: who is an admin, and which identity a peer
 * uid speaks for.
 *
 *   admins: [root, alice]
 *   users: {1001: alice, 1002: bob}
 *   backoff: 1s          # the first wait before a restart (doubles to 60 s)
 *   groups: {sales-managers: [bob, carol]}   # for approvals' group:NAME
 *
 * Unknown keys and wrong shapes are errors naming the line. A missing file
 * is the defaults: the daemon's own user is the one admin, every uid is
 * its user name. */
#include "daemon/internal.h"
#include "vault/vault.h"

#include <errno.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

struct cfg_parser {
	yaml_parser_t p;
	yaml_event_t ev;
	const char *file;
	struct pc_error *err;
};

static int next(struct cfg_parser *c)
{
	yaml_event_delete(&c->ev);
	if (!yaml_parser_parse(&c->p, &c->ev))
		return pc_error(c->err, -EINVAL, "%s:%zu: not valid YAML: %s", c->file,
				c->p.problem_mark.line + 1, c->p.problem ? c->p.problem : "?");
	return 0;
}

static int bad(struct cfg_parser *c, const char *what)
{
	return pc_error(c->err, -EINVAL, "%s:%zu: %s", c->file, c->ev.start_mark.line + 1, what);
}

static int parse_admins(struct cfg_parser *c, struct daemon_config *cfg)
{
	int r;
	if ((r = next(c)) < 0)
		return r;
	if (c->ev.type != YAML_SEQUENCE_START_EVENT)
		return bad(c, "admins: a list of identities, e.g. [root, alice]");
	for (;;) {
		if ((r = next(c)) < 0)
			return r;
		if (c->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		const char *v = (const char *)c->ev.data.scalar.value;
		if (c->ev.type != YAML_SCALAR_EVENT || !vault_valid_identity(v))
			return bad(c, "admins: each an identity (a user name, letters, digits, ._@-)");
		pc_strv_push(&cfg->admins, v);
	}
}

static int parse_users(struct cfg_parser *c, struct daemon_config *cfg)
{
	int r;
	if ((r = next(c)) < 0)
		return r;
	if (c->ev.type != YAML_MAPPING_START_EVENT)
		return bad(c, "users: a map of uid to identity, e.g. {1001: alice}");
	for (;;) {
		if ((r = next(c)) < 0)
			return r;
		if (c->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		char *end = NULL;
		const char *k = (const char *)c->ev.data.scalar.value;
		unsigned long uid = c->ev.type == YAML_SCALAR_EVENT ? strtoul(k, &end, 10) : 0;
		if (c->ev.type != YAML_SCALAR_EVENT || !*k || *end || uid > 0xfffffffeUL)
			return bad(c, "users: keys are numeric uids");
		if ((r = next(c)) < 0)
			return r;
		const char *v = (const char *)c->ev.data.scalar.value;
		if (c->ev.type != YAML_SCALAR_EVENT || !vault_valid_identity(v))
			return bad(c, "users: values are identities (letters, digits, ._@-)");
		cfg->uids = pc_xrealloc(cfg->uids, (cfg->n_users + 1) * sizeof(*cfg->uids));
		pc_strv_push(&cfg->names, v);
		cfg->uids[cfg->n_users++] = (uid_t)uid;
	}
}

/* groups: {NAME: [identity, ...]}: one "NAME" then its members per entry,
 * each list ended by NULL in cfg->group_members (flat). */
static int parse_groups(struct cfg_parser *c, struct daemon_config *cfg)
{
	int r;
	if ((r = next(c)) < 0)
		return r;
	if (c->ev.type != YAML_MAPPING_START_EVENT)
		return bad(c, "groups: a map of group name to identities, e.g. "
			      "{sales-managers: [bob, carol]}");
	for (;;) {
		if ((r = next(c)) < 0)
			return r;
		if (c->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		const char *name = (const char *)c->ev.data.scalar.value;
		if (c->ev.type != YAML_SCALAR_EVENT || !vault_valid_identity(name))
			return bad(c, "groups: names are letters, digits and ._@-");
		struct daemon_group g = {.name = pc_xstrdup(name)};
		if ((r = next(c)) < 0 || c->ev.type != YAML_SEQUENCE_START_EVENT) {
			free(g.name);
			return r < 0 ? r : bad(c, "groups: each a list of identities, e.g. [bob, carol]");
		}
		for (;;) {
			if ((r = next(c)) < 0) {
				free(g.name);
				pc_strv_free(g.members);
				return r;
			}
			if (c->ev.type == YAML_SEQUENCE_END_EVENT)
				break;
			const char *v = (const char *)c->ev.data.scalar.value;
			if (c->ev.type != YAML_SCALAR_EVENT || !vault_valid_identity(v)) {
				free(g.name);
				pc_strv_free(g.members);
				return bad(c, "groups: members are identities (letters, digits, ._@-)");
			}
			pc_strv_push(&g.members, v);
		}
		cfg->groups = pc_xrealloc(cfg->groups, (cfg->n_groups + 1) * sizeof(*cfg->groups));
		cfg->groups[cfg->n_groups++] = g;
	}
}

int daemon_config_load(const char *file, struct daemon_config *cfg, struct pc_error *err)
{
	memset(cfg, 0, sizeof(*cfg));
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = pc_read_file(file, 1 << 20, &text, &len, err);
	if (r == -ENOENT) {
		pc_error(err, 0, "%s", "");
		r = 0;
	} else if (r < 0) {
		return r;
	}
	if (text) {
		struct cfg_parser c = {.file = file, .err = err};
		yaml_parser_initialize(&c.p);
		yaml_parser_set_input_string(&c.p, (const unsigned char *)text, len);
		int depth = 0;
		bool in_map = false;
		while ((r = next(&c)) == 0 && c.ev.type != YAML_STREAM_END_EVENT) {
			if (c.ev.type == YAML_MAPPING_START_EVENT && depth++ == 0) {
				in_map = true;
				continue;
			}
			if (c.ev.type == YAML_MAPPING_END_EVENT) {
				depth--;
				continue;
			}
			if (c.ev.type != YAML_SCALAR_EVENT || !in_map || depth != 1) {
				if (c.ev.type == YAML_STREAM_START_EVENT ||
				    c.ev.type == YAML_DOCUMENT_START_EVENT ||
				    c.ev.type == YAML_DOCUMENT_END_EVENT)
					continue;
				r = bad(&c, "expected a map with admins: and users:");
				break;
			}
			const char *key = (const char *)c.ev.data.scalar.value;
			if (strcmp(key, "admins") == 0)
				r = parse_admins(&c, cfg);
			else if (strcmp(key, "users") == 0)
				r = parse_users(&c, cfg);
			else if (strcmp(key, "groups") == 0)
				r = parse_groups(&c, cfg);
			else if (strcmp(key, "backoff") == 0) {
				uint64_t ms = 0;
				if ((r = next(&c)) == 0 &&
				    (c.ev.type != YAML_SCALAR_EVENT ||
				     pc_parse_duration((const char *)c.ev.data.scalar.value, &ms) < 0 ||
				     ms < 10 || ms > DAEMON_BACKOFF_MAX_MS))
					r = bad(&c, "backoff: a duration from 10ms to 60s, e.g. 1s");
				cfg->backoff_ms = (unsigned)ms;
			} else
				r = bad(&c, "unknown key (admins, users, backoff, groups)");
			if (r < 0)
				break;
		}
		yaml_event_delete(&c.ev);
		yaml_parser_delete(&c.p);
		if (r < 0) {
			daemon_config_free(cfg);
			return r;
		}
	}
	if (!cfg->backoff_ms)
		cfg->backoff_ms = DAEMON_BACKOFF_FIRST_MS;
	if (!cfg->admins) {
		_cleanup_free_ char *me = daemon_identity(NULL, geteuid());
		pc_strv_push(&cfg->admins, me);
	}
	return 0;
}

void daemon_config_free(struct daemon_config *cfg)
{
	pc_strv_free(cfg->admins);
	pc_strv_free(cfg->names);
	free(cfg->uids);
	for (size_t i = 0; i < cfg->n_groups; i++) {
		free(cfg->groups[i].name);
		pc_strv_free(cfg->groups[i].members);
	}
	free(cfg->groups);
	memset(cfg, 0, sizeof(*cfg));
}

char *daemon_identity(const struct daemon *d, uid_t uid)
{
	for (size_t i = 0; d && i < d->cfg.n_users; i++)
		if (d->cfg.uids[i] == uid)
			return pc_xstrdup(d->cfg.names[i]);
	struct passwd *pw = getpwuid(uid);
	if (pw && pw->pw_name && vault_valid_identity(pw->pw_name))
		return pc_xstrdup(pw->pw_name);
	return pc_xasprintf("uid-%u", (unsigned)uid);
}

bool daemon_is_admin(const struct daemon *d, const char *identity)
{
	return pc_strv_contains(d->cfg.admins, identity);
}

bool daemon_in_group(const struct daemon *d, const char *identity, const char *group)
{
	for (size_t i = 0; i < d->cfg.n_groups; i++)
		if (strcmp(d->cfg.groups[i].name, group) == 0 &&
		    pc_strv_contains(d->cfg.groups[i].members, identity))
			return true;
	return false;
}
