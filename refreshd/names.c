/* names.c - names, gecos and home directories. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* Names Debian or a common package creates on its own (so they may be absent
 * from /etc today and appear tomorrow), and names that stock sudoers, polkit
 * or udev rules grant rights to.  A directory account under one of them would
 * inherit those rights, or collide with the package's account later.  Sorted
 * for bsearch; data/scim-refreshd.conf.5 lists the same names. */
static const char *const reserved_names[] = {
	"adm", "admin", "audio", "avahi", "avahi-autoipd", "backup", "bin", "bind", "bluetooth",
	"cdrom", "chrony", "clamav", "colord", "crontab", "daemon", "dialout", "dip", "disk",
	"dnsmasq", "docker", "fax", "floppy", "ftp", "fuse", "games", "gdm", "geoclue", "gnats",
	"gpio", "i2c", "incus", "incus-admin", "input", "irc", "kmem", "kvm", "libvirt",
	"libvirt-dnsmasq", "libvirt-qemu", "lightdm", "list", "lp", "lpadmin", "lxd", "mail",
	"man", "messagebus", "mlocate", "mysql", "netdev", "news", "nm-openvpn", "nobody",
	"nogroup", "nslcd", "ntp", "ntpsec", "openldap", "operator", "plocate", "plugdev",
	"polkitd", "postdrop", "postfix", "postgres", "proxy", "pulse", "pulse-access", "qemu",
	"rdma", "redis", "render", "root", "rtkit", "sambashare", "saned", "sasl", "scanner",
	"sddm", "sgx", "shadow", "spi", "src", "ssh", "sshd", "ssl-cert", "sssd", "staff", "statd",
	"sudo", "sync", "sys", "syslog", "tape", "tcpdump", "tss", "tty", "usbmux", "users",
	"utmp", "uucp", "uuidd", "vboxusers", "video", "voice", "wheel", "wireshark", "www-data",
};

static int cmp_name(const void *key, const void *elem)
{
	return strcasecmp(key, *(const char *const *)elem);
}

bool scim_name_is_reserved(const char *name)
{
	/* Prefixes: Debian's convention for new system accounts (_apt, _ssh),
	 * systemd's own (systemd-journal, systemd-network, ...) and the
	 * Debian-exim/debian-tor style. */
	if (name[0] == '_' || !strncasecmp(name, "systemd-", 8) || !strncasecmp(name, "debian-", 7))
		return true;
	return bsearch(name, reserved_names, sizeof(reserved_names) / sizeof(reserved_names[0]),
		       sizeof(reserved_names[0]), cmp_name) != NULL;
}

size_t scim_reserved_names(const char *const **names)
{
	*names = reserved_names;
	return sizeof(reserved_names) / sizeof(reserved_names[0]);
}
