/* names.c - names, gecos and home directories. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "refreshd/config.h"
#include "refreshd/names.h"

int scim_map_name(const char *raw, size_t len, bool lowercase, bool strip_domain, char *out)
{
	size_t n = 0;

	if (strip_domain) {
		const char *at = memchr(raw, '@', len);
		if (at)
			len = (size_t)(at - raw);
	}
	/* Check the length before copying: a long name is invalid, not cut. */
	if (len == 0 || len > SCIM_POSIX_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = raw[i];
		if (lowercase && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		out[n++] = c;
	}
	out[n] = 0;
	/* A NUL inside raw shows up as a length mismatch. */
	if (strlen(out) != n || !scim_name_is_valid(out))
		return -EINVAL;
	return 0;
}

void scim_clean_gecos(const char *raw, size_t len, char *out)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)raw[i];
		/* ':' and newlines would split a passwd line, ',' separates the
		 * classic gecos subfields (finger, chfn). */
		if (c < 0x20 || c == 0x7f || c == ':' || c == ',')
			continue;
		if (n == 0 && c == ' ')
			continue;
		if (n == SCIM_GECOS_MAX)
			break;
		out[n++] = (char)c;
	}
	/* Do not end in the middle of a UTF-8 sequence. */
	if (n == SCIM_GECOS_MAX) {
		size_t k = n;
		while (k > 0 && ((unsigned char)out[k - 1] & 0xc0) == 0x80)
			k--;
		if (k > 0 && ((unsigned char)out[k - 1] & 0x80)) {
			unsigned char lead = (unsigned char)out[k - 1];
			size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
			if (n - (k - 1) < need)
				n = k - 1;
		}
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = 0;
}

int scim_expand_home(const char *tmpl, const char *name, uint32_t uid, char *out, size_t outlen)
{
	size_t n = 0;
	char num[16];
	/* The loop only checks what it adds: an empty template must still find
	 * room for its NUL (fuzz/corpus/config/crash-home-outlen-0). */
	if (outlen == 0)
		return -ENAMETOOLONG;
	for (const char *p = tmpl; *p; p++) {
		const char *add;
		size_t alen;
		if (*p == '%' && p[1] == 'u') {
			add = name;
			p++;
		} else if (*p == '%' && p[1] == 'U') {
			snprintf(num, sizeof(num), "%u", uid);
			add = num;
			p++;
		} else if (*p == '%' && p[1] == '%') {
			add = "%";
			p++;
		} else {
			add = p;
			alen = 1;
			goto copy;
		}
		alen = strlen(add);
copy:
		if (n + alen >= outlen)
			return -ENAMETOOLONG;
		memcpy(out + n, add, alen);
		n += alen;
	}
	out[n] = 0;
	return 0;
}
