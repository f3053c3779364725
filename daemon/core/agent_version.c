/*
 * Guest agent version comparison (agent_version.h says what counts). Pure:
 * the CLI's flag and any later placement rule use the same answer.
 *
 * Considered and rejected: strverscmp() (glibc only, and it orders
 * "1.10" vs "1.9" right but treats suffixes in ways an operator would not
 * guess); a full semantic-version parser (QEMU's versions are dotted numbers).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "agent_version.h"

#define PARTS 4

/* The leading dotted numbers of s; the count of parts read (0: none). */
static int parse(const char *s, unsigned long ret[PARTS], const char **ret_end)
{
	int n = 0;

	memset(ret, 0, PARTS * sizeof(*ret));
	while (n < PARTS && isdigit((unsigned char)*s)) {
		char *end;

		ret[n++] = strtoul(s, &end, 10);
		s = end;
		if (*s != '.' || !isdigit((unsigned char)s[1]))
			break;
		s++;
	}
	*ret_end = s;
	return n;
}

bool agent_version_valid_min(const char *s)
{
	unsigned long v[PARTS];
	const char *end;

	if (!s || strlen(s) > 31)
		return false;
	return parse(s, v, &end) > 0 && *end == '\0';
}

bool agent_version_below(const char *version, const char *min)
{
	unsigned long v[PARTS], m[PARTS];
	const char *end;

	if (!version || !min || !*version || !*min)
		return false;
	if (parse(version, v, &end) == 0 || parse(min, m, &end) == 0)
		return false;
	for (int i = 0; i < PARTS; i++)
		if (v[i] != m[i])
			return v[i] < m[i];
	return false;
}
