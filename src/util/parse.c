/* Sizes, durations, time, randomness. */
#include "util.h"

#include <ctype.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

int pc_parse_size(const char *s, uint64_t *out)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	uint64_t mul = 1;
	switch (*end) {
	case '\0':
		break;
	case 'K':
	case 'k':
		mul = 1ULL << 10;
		end++;
		break;
	case 'M':
	case 'm':
		mul = 1ULL << 20;
		end++;
		break;
	case 'G':
	case 'g':
		mul = 1ULL << 30;
		end++;
		break;
	case 'T':
	case 't':
		mul = 1ULL << 40;
		end++;
		break;
	default:
		return -EINVAL;
	}
	if (*end == 'i' && mul > 1)
		end++; /* "512Mi" reads the same */
	if (*end == 'B' && mul > 1)
		end++;
	if (*end != '\0')
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

int pc_parse_duration(const char *s, uint64_t *out_ms)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	uint64_t mul;
	if (strcmp(end, "ms") == 0)
		mul = 1;
	else if (strcmp(end, "s") == 0)
		mul = 1000;
	else if (strcmp(end, "m") == 0)
		mul = 60 * 1000;
	else if (strcmp(end, "h") == 0)
		mul = 3600 * 1000;
	else if (strcmp(end, "d") == 0)
		mul = 24ULL * 3600 * 1000;
	else
		return -EINVAL; /* a bare number is ambiguous: say the unit */
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*out_ms = v * mul;
	return 0;
}

void pc_format_size(uint64_t bytes, char *out, size_t n)
{
	static const char units[] = "KMGT";
	int u = -1;
	uint64_t v = bytes;
	while (v && v % 1024 == 0 && u < 3) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(out, n, "%llu", (unsigned long long)bytes);
	else
		snprintf(out, n, "%llu%c", (unsigned long long)v, units[u]);
}

void pc_format_duration(uint64_t ms, char *out, size_t n)
{
	static const struct {
		uint64_t ms;
		const char *unit;
	} units[] = {{24ULL * 3600 * 1000, "d"}, {3600 * 1000, "h"}, {60 * 1000, "m"}, {1000, "s"}};
	for (size_t i = 0; i < PC_ARRAY_SIZE(units); i++) {
		if (ms && ms % units[i].ms == 0) {
			snprintf(out, n, "%llu%s", (unsigned long long)(ms / units[i].ms),
				 units[i].unit);
			return;
		}
	}
	snprintf(out, n, "%llums", (unsigned long long)ms);
}

uint64_t pc_now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

uint64_t pc_realtime_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

void pc_random(void *buf, size_t n)
{
	char *p = buf;
	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			abort(); /* no entropy source: nothing safe can follow */
		p += r;
		n -= (size_t)r;
	}
}

void pc_hex(const void *data, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}
