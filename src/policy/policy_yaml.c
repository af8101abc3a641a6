/* policy: YAML text -> a tree of nodes with their line:col.
 *
 * libyaml's event API is used (not its document loader) so that anchors and
 * aliases are refused when they are seen, before any expansion can happen
 * (billion laughs), and so that every node keeps the mark it was read at.
 * Duplicate keys, tags, non-scalar keys, a second document and too deep a
 * nesting are errors here too.
 */
#include "policy/policy_internal.h"

#include <string.h>
#include <yaml.h>

struct ybuild {
	yaml_parser_t parser;
	const char *text;
	size_t len;
	struct pctx c; /* file, error and the key path being read */
};

void ynode_free(struct ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		ynode_free(n->items[i]);
	free(n->items);
	free(n->value);
	free(n);
}

void ynode_freep(struct ynode **n)
{
	ynode_free(*n);
	*n = NULL;
}

static void eventp_delete(yaml_event_t *e)
{
	yaml_event_delete(e);
}
#define _cleanup_event_ _cleanup_(eventp_delete)

static struct pc_src mark_src(yaml_mark_t m)
{
	return (struct pc_src){.line = (int)m.line + 1, .col = (int)m.column + 1};
}

static int yerr(struct ybuild *b, struct pc_src at, const char *what)
{
	return perr(&b->c, at, "%s", what);
}

/* A reader error has only a byte offset: turn it into line:col. */
static struct pc_src offset_src(const struct ybuild *b, size_t off)
{
	struct pc_src at = {1, 1};
	for (size_t i = 0; i < off && i < b->len; i++) {
		if (b->text[i] == '\n') {
			at.line++;
			at.col = 1;
		} else if (((unsigned char)b->text[i] & 0xc0) != 0x80) {
			at.col++;
		}
	}
	return at;
}

static int parse_fail(struct ybuild *b)
{
	yaml_parser_t *p = &b->parser;
	char what[512];
	if (p->error == YAML_MEMORY_ERROR)
		return pc_error(b->c.err, ENOMEM, "%s: out of memory while reading YAML",
				b->c.file);
	if (p->error == YAML_READER_ERROR) {
		snprintf(what, sizeof(what), "not valid YAML text: %s (a policy is UTF-8 text)",
			 p->problem ? p->problem : "unreadable input");
		return yerr(b, offset_src(b, p->problem_offset), what);
	}
	snprintf(what, sizeof(what),
		 "not valid YAML: %s%s%s (check indentation, quotes and colons)",
		 p->problem ? p->problem : "syntax error", p->context ? " " : "",
		 p->context ? p->context : "");
	return yerr(b, mark_src(p->problem_mark), what);
}

static int next_event(struct ybuild *b, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&b->parser, ev))
		return parse_fail(b);
	return 0;
}

static int refuse_anchor_tag(struct ybuild *b, const yaml_event_t *ev, const yaml_char_t *anchor,
			     const yaml_char_t *tag, bool implicit)
{
	struct pc_src at = mark_src(ev->start_mark);
	if (anchor)
		return yerr(
			b, at,
			"YAML anchors (&name) are not allowed in a policy (write each value out)");
	if (tag && !implicit)
		return yerr(b, at,
			    "YAML tags (!name) are not allowed in a policy (write plain values)");
	return 0;
}

static struct ynode *node_new(enum ynode_kind kind, const yaml_event_t *ev)
{
	struct ynode *n = pc_xcalloc(1, sizeof(*n));
	n->kind = kind;
	n->at = mark_src(ev->start_mark);
	return n;
}

static void node_push(struct ynode *n, struct ynode *child)
{
	n->items = pc_xrealloc(n->items, (n->n + 1) * sizeof(*n->items));
	n->items[n->n++] = child;
}

static int build_node(struct ybuild *b, yaml_event_t *ev, int depth, struct ynode **out);

static int build_children(struct ybuild *b, struct ynode *n, yaml_event_type_t end, int depth)
{
	for (;;) {
		_cleanup_event_ yaml_event_t ev = {0};
		int r = next_event(b, &ev);
		if (r < 0)
			return r;
		if (ev.type == end)
			return 0;
		struct ynode *child = NULL;
		bool is_key = n->kind == YN_MAP && n->n % 2 == 0;
		size_t old = b->c.plen;
		if (n->kind == YN_SEQ)
			pctx_index(&b->c, n->n);
		else if (!is_key)
			pctx_key(&b->c, n->items[n->n - 1]->value);
		r = build_node(b, &ev, depth + 1, &child);
		if (r < 0)
			return r;
		pctx_pop(&b->c, old);
		if (is_key) {
			if (child->kind != YN_SCALAR) {
				ynode_free(child);
				return yerr(b, mark_src(ev.start_mark),
					    "a key must be a plain name, not a list or mapping");
			}
			for (size_t i = 0; i < n->n; i += 2) {
				if (strcmp(n->items[i]->value, child->value) != 0)
					continue;
				pctx_key(&b->c, child->value);
				char what[512];
				snprintf(what, sizeof(what),
					 "duplicate key (first at line %d; each key once)",
					 n->items[i]->at.line);
				ynode_free(child);
				return yerr(b, mark_src(ev.start_mark), what);
			}
		}
		node_push(n, child);
	}
}

static int build_node(struct ybuild *b, yaml_event_t *ev, int depth, struct ynode **out)
{
	_cleanup_(ynode_freep) struct ynode *n = NULL;
	int r;
	if (depth > PC_POLICY_MAX_DEPTH)
		return yerr(b, mark_src(ev->start_mark), "nested too deeply (a policy is shallow)");
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		return yerr(
			b, mark_src(ev->start_mark),
			"YAML aliases (*name) are not allowed in a policy (write each value out)");
	case YAML_SCALAR_EVENT:
		r = refuse_anchor_tag(b, ev, ev->data.scalar.anchor, ev->data.scalar.tag,
				      ev->data.scalar.plain_implicit ||
					      ev->data.scalar.quoted_implicit);
		if (r < 0)
			return r;
		if (strlen((const char *)ev->data.scalar.value) != ev->data.scalar.length)
			return yerr(b, mark_src(ev->start_mark),
				    "a value contains a NUL character (text only)");
		n = node_new(YN_SCALAR, ev);
		n->value = pc_xstrdup((const char *)ev->data.scalar.value);
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		break;
	case YAML_SEQUENCE_START_EVENT:
		r = refuse_anchor_tag(b, ev, ev->data.sequence_start.anchor,
				      ev->data.sequence_start.tag,
				      ev->data.sequence_start.implicit);
		if (r < 0)
			return r;
		n = node_new(YN_SEQ, ev);
		r = build_children(b, n, YAML_SEQUENCE_END_EVENT, depth);
		if (r < 0)
			return r;
		break;
	case YAML_MAPPING_START_EVENT:
		r = refuse_anchor_tag(b, ev, ev->data.mapping_start.anchor,
				      ev->data.mapping_start.tag, ev->data.mapping_start.implicit);
		if (r < 0)
			return r;
		n = node_new(YN_MAP, ev);
		r = build_children(b, n, YAML_MAPPING_END_EVENT, depth);
		if (r < 0)
			return r;
		break;
	default:
		return yerr(b, mark_src(ev->start_mark), "unexpected YAML structure");
	}
	*out = pc_steal_ptr(&n);
	return 0;
}

static void parser_deletep(yaml_parser_t **p)
{
	yaml_parser_delete(*p);
}

int ynode_parse(const char *text, size_t len, const char *file, struct ynode **out,
		struct pc_error *err)
{
	struct ybuild b = {.text = text, .len = len, .c = {.file = file, .err = err}};
	_cleanup_(parser_deletep) yaml_parser_t *parser = &b.parser;
	_cleanup_(ynode_freep) struct ynode *root = NULL;
	if (!yaml_parser_initialize(parser))
		return pc_error(err, ENOMEM, "%s: cannot start the YAML parser", file);
	yaml_parser_set_input_string(parser, (const unsigned char *)text, len);
	yaml_parser_set_encoding(parser, YAML_UTF8_ENCODING);
	int r;
	for (;;) {
		_cleanup_event_ yaml_event_t ev = {0};
		r = next_event(&b, &ev);
		if (r < 0)
			return r;
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			continue;
		case YAML_DOCUMENT_START_EVENT:
			if (root)
				return yerr(&b, mark_src(ev.start_mark),
					    "a second YAML document (one policy per file; remove "
					    "this '---' and what follows)");
			continue;
		case YAML_STREAM_END_EVENT:
			break;
		case YAML_NO_EVENT:
		case YAML_ALIAS_EVENT:
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_START_EVENT:
		case YAML_MAPPING_END_EVENT:
		default:
			r = build_node(&b, &ev, 0, &root);
			if (r < 0)
				return r;
			continue;
		}
		break;
	}
	if (!root || ynode_is_null(root))
		return pc_error(
			err, EINVAL,
			"%s:1:1: the file holds no policy (a policy starts with 'version: 1')",
			file);
	if (root->kind != YN_MAP)
		return pc_error(err, EINVAL,
				"%s:%d:%d: the top level must be a mapping of keys (version: 1, "
				"name: ..., filesystem: ..., network: ...)",
				file, root->at.line, root->at.col);
	*out = pc_steal_ptr(&root);
	return 0;
}

static bool str_in(const char *s, const char *const *set)
{
	for (size_t i = 0; set[i]; i++)
		if (strcmp(s, set[i]) == 0)
			return true;
	return false;
}

static bool all_digits(const char *s, const char *digits)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr(digits, *s))
			return false;
	return true;
}

/* YAML 1.2 core schema, plus YAML 1.1's yes/no/on/off booleans, which many
 * readers still apply: such a value is never taken as text silently. */
enum yscalar yscalar_of(const char *s, bool plain)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE",
					    "yes",  "Yes",  "YES",  "no",    "No",    "NO",
					    "on",   "On",   "ON",   "off",   "Off",   "OFF",
					    "y",    "Y",    "n",    "N",     NULL};
	static const char *const floats[] = {".inf",  ".Inf", ".INF", "-.inf", "-.Inf", "-.INF",
					     "+.inf", ".nan", ".NaN", ".NAN",  NULL};
	if (!plain)
		return YS_STRING;
	if (str_in(s, nulls))
		return YS_NULL;
	if (str_in(s, bools))
		return YS_BOOL;
	if (str_in(s, floats))
		return YS_FLOAT;
	const char *d = s;
	if (*d == '-' || *d == '+')
		d++;
	if (all_digits(d, "0123456789"))
		return YS_INT;
	if ((strncmp(s, "0x", 2) == 0 && all_digits(s + 2, "0123456789abcdefABCDEF")) ||
	    (strncmp(s, "0o", 2) == 0 && all_digits(s + 2, "01234567")))
		return YS_INT;
	/* [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
	size_t before = strspn(d, "0123456789");
	const char *q = d + before;
	size_t after = 0;
	if (*q == '.') {
		after = strspn(q + 1, "0123456789");
		q += 1 + after;
	}
	if (before + after == 0)
		return YS_STRING;
	if (*q == '\0')
		return YS_FLOAT;
	if (*q == 'e' || *q == 'E') {
		q++;
		if (*q == '-' || *q == '+')
			q++;
		if (all_digits(q, "0123456789"))
			return YS_FLOAT;
	}
	return YS_STRING;
}

bool ynode_is_null(const struct ynode *n)
{
	return n && n->kind == YN_SCALAR && yscalar_of(n->value, n->plain) == YS_NULL;
}

struct ynode *ynode_get(const struct ynode *map, const char *key)
{
	if (!map || map->kind != YN_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < map->n; i += 2)
		if (strcmp(map->items[i]->value, key) == 0)
			return map->items[i + 1];
	return NULL;
}
