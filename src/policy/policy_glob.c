/* policy: glob matching for deny paths and egress URL paths.
 *
 *   ?     one character, not '/'
 *   *     any run of characters within one component (no '/')
 *   **    any run of characters, '/' included
 *   a slash, two stars and a slash: one '/' or any number of whole
 *         components between two slashes (the pattern /a/[**]/b, brackets
 *         left out, matches /a/b, /a/x/b and /a/x/y/b)
 *   a slash and two stars at the end: the folder itself and everything
 *         under it
 *
 * The pattern is split into tokens and matched by dynamic programming over
 * (token, position in path), so the time is O(tokens * length) whatever
 * the pattern: no backtracking blow-up on "*a*a*a*a*b".
 */
#include "policy/policy_internal.h"

#include <string.h>

enum gtok_kind {
	G_LIT,	   /* one literal character */
	G_ONE,	   /* ? */
	G_STAR,	   /* * */
	G_DSTAR,   /* ** */
	G_SEP_ANY, /* slash, stars, slash */
	G_TAIL,	   /* slash and stars at the end */
};

struct gtok {
	enum gtok_kind kind;
	char c;
};

static size_t tokenize(const char *pat, struct gtok *t)
{
	size_t n = 0;
	for (const char *q = pat; *q;) {
		if (q[0] == '/' && q[1] == '*' && q[2] == '*') {
			size_t stars = strspn(q + 1, "*");
			if (q[1 + stars] == '/') {
				q += 2 + stars;
				/* "/a/[**]/[**]/b" is "/a/[**]/b" (brackets left out) */
				for (size_t more = strspn(q, "*"); more > 1 && q[more] == '/';
				     more = strspn(q, "*"))
					q += more + 1;
				size_t rest = strspn(q, "*");
				if (rest > 1 && q[rest] == '\0') {
					t[n++].kind = G_TAIL;
					break;
				}
				t[n++].kind = G_SEP_ANY;
				continue;
			}
			if (q[1 + stars] == '\0') {
				t[n++].kind = G_TAIL;
				break;
			}
		}
		if (*q == '*') {
			size_t stars = strspn(q, "*");
			t[n++].kind = stars > 1 ? G_DSTAR : G_STAR;
			q += stars;
			continue;
		}
		t[n].kind = *q == '?' ? G_ONE : G_LIT;
		t[n++].c = *q++;
	}
	return n;
}

bool policy_glob_match(const char *pattern, const char *path)
{
	if (!pattern || !path)
		return false;
	size_t plen = strlen(pattern), n = strlen(path);
	_cleanup_free_ struct gtok *t = pc_xcalloc(plen + 1, sizeof(*t));
	size_t nt = tokenize(pattern, t);
	/* next[j]: tokens after the current one match path + j. any[j]: for
	 * G_SEP_ANY, some k >= j with path[k-1] == '/' and next[k]. */
	_cleanup_free_ bool *next = pc_xcalloc(n + 2, sizeof(bool));
	_cleanup_free_ bool *cur = pc_xcalloc(n + 2, sizeof(bool));
	_cleanup_free_ bool *any = pc_xcalloc(n + 3, sizeof(bool));
	next[n] = true;
	for (size_t i = nt; i-- > 0;) {
		const struct gtok *g = &t[i];
		memset(cur, 0, (n + 2) * sizeof(bool));
		switch (g->kind) {
		case G_LIT:
			for (size_t j = 0; j < n; j++)
				cur[j] = path[j] == g->c && next[j + 1];
			break;
		case G_ONE:
			for (size_t j = 0; j < n; j++)
				cur[j] = path[j] != '/' && next[j + 1];
			break;
		case G_STAR:
			cur[n] = next[n];
			for (size_t j = n; j-- > 0;)
				cur[j] = next[j] || (path[j] != '/' && cur[j + 1]);
			break;
		case G_DSTAR:
			cur[n] = next[n];
			for (size_t j = n; j-- > 0;)
				cur[j] = next[j] || cur[j + 1];
			break;
		case G_SEP_ANY:
			any[n + 1] = any[n + 2] = false;
			for (size_t k = n + 1; k-- > 0;)
				any[k] = any[k + 1] || (k > 0 && path[k - 1] == '/' && next[k]);
			for (size_t j = 0; j < n; j++)
				cur[j] = path[j] == '/' && (next[j + 1] || any[j + 2]);
			break;
		case G_TAIL:
			/* Always the last token: next[j] is (j == n). */
			cur[n] = true;
			for (size_t j = 0; j < n; j++)
				cur[j] = path[j] == '/';
			break;
		default:
			return false;
		}
		bool *swap = next;
		next = cur;
		cur = swap;
	}
	return next[0];
}
