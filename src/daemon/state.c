/* The daemon's state in SQLite: one row per agent, written (WAL,
 * synchronous=FULL) before any change is answered, so a kill -9 at any
 * moment loses nothing that was acknowledged. */
#include "daemon/internal.h"

#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <string.h>

static int db_error(struct daemon *d, struct pc_error *err, const char *what)
{
	return pc_error(err, -EIO, "state %s/state.db: %s: %s", d->state_dir, what,
			sqlite3_errmsg(d->db));
}

int state_open(struct daemon *d, struct pc_error *err)
{
	_cleanup_free_ char *path = pc_xasprintf("%s/state.db", d->state_dir);
	if (sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			    NULL) != SQLITE_OK)
		return db_error(d, err, "open");
	static const char schema[] =
		"PRAGMA journal_mode=WAL;"
		"PRAGMA synchronous=FULL;"
		"CREATE TABLE IF NOT EXISTS agents ("
		" name TEXT PRIMARY KEY, user TEXT NOT NULL, policy TEXT NOT NULL,"
		" policy_sha256 TEXT NOT NULL, command TEXT NOT NULL, restart TEXT NOT NULL,"
		" want INTEGER NOT NULL, state TEXT NOT NULL, restarts INTEGER NOT NULL,"
		" last_exit TEXT, failed_reason TEXT, created TEXT NOT NULL, started TEXT,"
		" pid INTEGER NOT NULL DEFAULT 0, pid_start INTEGER NOT NULL DEFAULT 0,"
		" revoked INTEGER NOT NULL DEFAULT 0);"
		/* one JSON document per approval (daemon.h, "approvals") */
		"CREATE TABLE IF NOT EXISTS approvals ("
		" id TEXT PRIMARY KEY, agent TEXT NOT NULL, doc TEXT NOT NULL);";
	char *msg = NULL;
	if (sqlite3_exec(d->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		int r = pc_error(err, -EIO, "state %s: %s", path, msg ? msg : "?");
		sqlite3_free(msg);
		return r;
	}
	return 0;
}

void state_close(struct daemon *d)
{
	if (d->db)
		sqlite3_close(d->db);
	d->db = NULL;
}

static const char *col(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? (const char *)t : NULL;
}

static enum agent_state state_parse(const char *s)
{
	if (s && strcmp(s, "running") == 0)
		return AG_RUNNING;
	if (s && strcmp(s, "backoff") == 0)
		return AG_BACKOFF;
	if (s && strcmp(s, "failed") == 0)
		return AG_FAILED;
	return AG_STOPPED;
}

int state_load(struct daemon *d, struct pc_error *err)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(d->db,
			       "SELECT name, user, policy, policy_sha256, command, restart, want,"
			       " state, restarts, last_exit, failed_reason, created, started,"
			       " pid, pid_start, revoked FROM agents ORDER BY name",
			       -1, &s, NULL) != SQLITE_OK)
		return db_error(d, err, "read");
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct agent *a = pc_xcalloc(1, sizeof(*a));
		a->d = d;
		a->pidfd = -1;
		a->name = pc_xstrdup(col(s, 0));
		a->user = pc_xstrdup(col(s, 1));
		a->policy = pc_xstrdup(col(s, 2));
		a->policy_sha256 = pc_xstrdup(col(s, 3));
		a->command_json = pc_xstrdup(col(s, 4));
		json_t *cmd = json_loads(a->command_json, 0, NULL);
		size_t i;
		json_t *v;
		json_array_foreach(cmd, i, v) pc_strv_push(&a->command, json_string_value(v));
		json_decref(cmd);
		agent_restart_parse(col(s, 5), &a->restart);
		a->want = sqlite3_column_int(s, 6) != 0;
		a->state = state_parse(col(s, 7));
		a->restarts = (unsigned)sqlite3_column_int(s, 8);
		const char *le = col(s, 9);
		if (le) {
			json_t *j = json_loads(le, 0, NULL);
			if (j) {
				a->has_exit = true;
				a->exit_code = (int)json_integer_value(json_object_get(j, "code"));
				a->exit_signal = (int)json_integer_value(json_object_get(j, "signal"));
				a->exit_oom = json_is_true(json_object_get(j, "oom"));
				const char *at = json_string_value(json_object_get(j, "at"));
				snprintf(a->exit_at, sizeof(a->exit_at), "%s", at ? at : "");
				json_decref(j);
			}
		}
		a->failed_reason = col(s, 10) ? pc_xstrdup(col(s, 10)) : NULL;
		snprintf(a->created, sizeof(a->created), "%s", col(s, 11) ? col(s, 11) : "");
		snprintf(a->started, sizeof(a->started), "%s", col(s, 12) ? col(s, 12) : "");
		a->pid = (pid_t)sqlite3_column_int64(s, 13);
		a->pid_start = (uint64_t)sqlite3_column_int64(s, 14);
		a->revoked = sqlite3_column_int(s, 15) != 0;
		d->agents = pc_xrealloc(d->agents, (d->n_agents + 1) * sizeof(*d->agents));
		d->agents[d->n_agents++] = a;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : db_error(d, err, "read");
}

int state_save(struct daemon *d, const struct agent *a, struct pc_error *err)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(d->db,
			       "INSERT OR REPLACE INTO agents (name, user, policy, policy_sha256,"
			       " command, restart, want, state, restarts, last_exit, failed_reason,"
			       " created, started, pid, pid_start, revoked)"
			       " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
			       -1, &s, NULL) != SQLITE_OK)
		return db_error(d, err, "write");
	_cleanup_free_ char *exit_json = NULL;
	if (a->has_exit) {
		json_t *j = json_pack("{s:i, s:i, s:b, s:s}", "code", a->exit_code, "signal",
				      a->exit_signal, "oom", a->exit_oom, "at", a->exit_at);
		exit_json = json_dumps(j, JSON_COMPACT);
		json_decref(j);
	}
	sqlite3_bind_text(s, 1, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, a->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, a->policy, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, a->policy_sha256, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, a->command_json, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 6, agent_restart_name(a->restart), -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 7, a->want);
	sqlite3_bind_text(s, 8, agent_state_name(a->state), -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 9, (int)a->restarts);
	if (exit_json)
		sqlite3_bind_text(s, 10, exit_json, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 10);
	if (a->failed_reason)
		sqlite3_bind_text(s, 11, a->failed_reason, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 11);
	sqlite3_bind_text(s, 12, a->created, -1, SQLITE_STATIC);
	if (a->started[0])
		sqlite3_bind_text(s, 13, a->started, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 13);
	sqlite3_bind_int64(s, 14, a->pid);
	sqlite3_bind_int64(s, 15, (sqlite3_int64)a->pid_start);
	sqlite3_bind_int(s, 16, a->revoked);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : db_error(d, err, "write");
}

int state_delete(struct daemon *d, const char *name, struct pc_error *err)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(d->db, "DELETE FROM agents WHERE name = ?", -1, &s, NULL) !=
	    SQLITE_OK)
		return db_error(d, err, "delete");
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : db_error(d, err, "delete");
}

int state_approval_put(struct daemon *d, const char *id, const char *agent, const char *doc,
		       struct pc_error *err)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(d->db,
			       "INSERT OR REPLACE INTO approvals (id, agent, doc) VALUES (?,?,?)", -1,
			       &s, NULL) != SQLITE_OK)
		return db_error(d, err, "write an approval");
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, agent, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, doc, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : db_error(d, err, "write an approval");
}

int state_approvals_load(struct daemon *d, void (*each)(struct daemon *d, const char *doc),
			 struct pc_error *err)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(d->db, "SELECT doc FROM approvals ORDER BY rowid", -1, &s, NULL) !=
	    SQLITE_OK)
		return db_error(d, err, "read the approvals");
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if (col(s, 0))
			each(d, col(s, 0));
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : db_error(d, err, "read the approvals");
}
