/* sync_stub.c - placeholder until the network sync (issue 4) lands; the
 * network helper deletes this file and takes over sync.h. */
#include <errno.h>

#include "refreshd/log.h"
#include "refreshd/sync.h"

int scim_sync_once(const struct scim_config *cfg, bool force)
{
	log_error("network sync is not built yet (use --once --import DIR)");
	return -ENOSYS;
}

int scim_daemon_run(const char *config_path, bool force)
{
	log_error("network sync is not built yet (use --once --import DIR)");
	return -ENOSYS;
}
