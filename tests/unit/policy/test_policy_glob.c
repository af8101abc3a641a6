/* policy: glob matching for deny paths and egress URL paths. */
#include "policy/policy.h"
#include "../check.h"

#define MATCH(p, s)    CHECK(policy_glob_match(p, s))
#define NO_MATCH(p, s) CHECK(!policy_glob_match(p, s))

static void test_literal(void)
{
	MATCH("/a/b", "/a/b");
	NO_MATCH("/a/b", "/a/bc");
	NO_MATCH("/a/b", "/a");
	NO_MATCH("/a/b", "/a/b/");
	MATCH("", "");
	NO_MATCH("", "/");
	NO_MATCH(NULL, "/a");
	NO_MATCH("/a", NULL);
}

static void test_star(void)
{
	MATCH("/home/*/x", "/home/a/x");
	MATCH("/home/*/x", "/home/alice/x");
	NO_MATCH("/home/*/x", "/home/a/b/x");
	NO_MATCH("/home/*/x", "/home/x");
	MATCH("/home/*/x", "/home//x"); /* "*" may be empty */
	MATCH("/a/*.txt", "/a/notes.txt");
	MATCH("/a/*.txt", "/a/.txt");
	NO_MATCH("/a/*.txt", "/a/b/notes.txt");
	MATCH("/a/*", "/a/b");
	MATCH("/a/*", "/a/");
	NO_MATCH("/a/*", "/a/b/c");
	MATCH("*", "abc");
	NO_MATCH("*", "/abc");
	MATCH("/*a*a*a*a*a*b", "/aaaaaaaaaaaaaaaaaaaaaaab");
	NO_MATCH("/*a*a*a*a*a*b", "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac");
}

static void test_question(void)
{
	MATCH("/a/?", "/a/b");
	NO_MATCH("/a/?", "/a/");
	NO_MATCH("/a/?", "/a/bc");
	NO_MATCH("/a?b", "/a/b");
	MATCH("/v?/x", "/v1/x");
}

static void test_double_star(void)
{
	MATCH("**/.env", "/a/b/.env");
	MATCH("**/.env", "/.env");
	MATCH("**/.env", "/project/.env");
	NO_MATCH("**/.env", "/a/b/.envrc");
	NO_MATCH("**/.env", "/a/b.env");
	NO_MATCH("**/.env", "/a/.env/x");
	MATCH("/home/**/x", "/home/x");
	MATCH("/home/**/x", "/home/a/x");
	MATCH("/home/**/x", "/home/a/b/c/x");
	NO_MATCH("/home/**/x", "/home/ax");
	NO_MATCH("/home/**/x", "/homex");
	NO_MATCH("/home/**/x", "/home/a/x/y");
	MATCH("/api/**", "/api");
	MATCH("/api/**", "/api/");
	MATCH("/api/**", "/api/v1");
	MATCH("/api/**", "/api/v1/users/7");
	NO_MATCH("/api/**", "/apix");
	NO_MATCH("/api/**", "/ap");
	MATCH("/**", "/anything/at/all");
	MATCH("**", "/anything");
	MATCH("**", "");
	MATCH("/a/**/b/**/c", "/a/b/c");
	MATCH("/a/**/b/**/c", "/a/x/b/y/z/c");
	NO_MATCH("/a/**/b/**/c", "/a/x/c");
	MATCH("/a/**/*.pem", "/a/k.pem");
	MATCH("/a/**/*.pem", "/a/b/c/k.pem");
	NO_MATCH("/a/**/*.pem", "/a/b/c/k.pem.bak");
	MATCH("/a**", "/a/b/c"); /* "**" not between slashes: any characters */
	MATCH("/a/***/b", "/a/x/y/b");
	MATCH("/a/**/**/b", "/a/b");
	MATCH("/a/**/**/b", "/a/x/y/b");
	MATCH("/a/**/**", "/a");
	MATCH("/a/**/**", "/a/x/y");
	NO_MATCH("/a/**/**", "/ab");
	/* many double stars stay fast (dynamic programming, no backtracking) */
	NO_MATCH("/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/z",
		 "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y");
}

int main(void)
{
	test_literal();
	test_star();
	test_question();
	test_double_star();
	CHECK_DONE();
}
