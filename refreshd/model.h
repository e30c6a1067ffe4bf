/* model.h - SCIM resources -> a mapped directory, then publish.h publishes it.
 *
 * A model is one snapshot in the making.  Feed it every User and every Group
 * resource of a complete listing (users first is cheapest, but any order
 * works: members are resolved at publish time), then call scim_publish()
 * once.  Resources are copied into compact storage as they arrive, so the
 * caller may free each page's JSON as soon as its resources are added.
 *
 *	struct scim_model *m;
 *	r = scim_model_new(cfg, &m);            // opens and loads the id map
 *	for each user resource:  r = scim_model_add_user(m, obj);
 *	for each group resource: r = scim_model_add_group(m, obj);
 *	r = scim_publish(m, "https://...", force, &stats);
 *	scim_model_free(m);
 *
 * Every function returns 0 or a negative errno and logs its reason.  A single
 * bad resource (no id, no name, invalid name, ...) is skipped, logged with its
 * SCIM id and counted in the stats: that is not an error. */
#ifndef SCIM_REFRESHD_MODEL_H
#define SCIM_REFRESHD_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "refreshd/config.h"
#include "refreshd/publish.h"
#include "refreshd/scan.h"

struct json_object;
struct scim_model;

/* Loads the id map from cfg->state_dir (refusing a corrupt one, or a missing
 * one while a cache exists; see idmap.h) and the local names and numbers from
 * /etc/passwd and /etc/group.  cfg must outlive the model. */
int scim_model_new(const struct scim_config *cfg, struct scim_model **out);
void scim_model_free(struct scim_model *m);

/* Adds one User / Group resource (a JSON object as the server sent it).
 * A resource whose id was already added replaces the earlier one.  Returns 0
 * (also when the resource is skipped), or -ENOMEM and the like. */
int scim_model_add_user(struct scim_model *m, struct json_object *resource);
int scim_model_add_group(struct scim_model *m, struct json_object *resource);

/* The same as scim_model_add_group() in three steps, for a caller that parses
 * members one at a time instead of holding a group of 30,000 members as one
 * JSON tree: begin with the resource (its "members", if any, are added too),
 * add each member object ({"value": ..., "type": ...}), end.  Every member
 * added between begin and end belongs to that group. */
int scim_model_begin_group(struct scim_model *m, struct json_object *resource);
int scim_model_add_member(struct scim_model *m, struct json_object *member);
int scim_model_end_group(struct scim_model *m);
/* scim_model_add_member() for a member already taken apart: its "value",
 * "type" and "$ref" strings (len bytes each, not NUL-terminated; NULL when
 * absent or not a string), for a caller that reads them without json-c. */
int scim_model_add_member_ref(struct scim_model *m, const char *value, size_t value_len, const char *type,
			      size_t type_len, const char *ref, size_t ref_len);

/* A scanner sink (scan.h) that feeds users, or groups member by member,
 * into m.  Its keys are every key the mapping reads (the name, number and
 * GECOS attributes, "active", ids, "members" and in each member "value",
 * "type", "$ref" and "$+ref"); a resource where one of them appears twice
 * is skipped as ambiguous. */
void scim_model_sink(struct scim_model *m, bool groups, struct scim_scan_sink *out);

/* The sink's ambiguous callback: the next resource added (or the group
 * being added, between begin and end) holds path twice and is skipped,
 * logged by its SCIM id and counted as SCIM_SKIP_AMBIGUOUS. */
int scim_model_ambiguous(struct scim_model *m, const char *path);

/* For tests: every user and group received so far, one line each, in the
 * order they came (id, skip reason, name, suspended, members as they
 * resolved), then the counts of resources without an id. */
int scim_model_describe(const struct scim_model *m, FILE *out);

/* Distinct SCIM ids received so far (skipped resources with an id included),
 * for comparing a listing with its totalResults. */
/* A hint: the listing says total users (groups) are coming.  Nothing is
 * reserved for it (a server may promise anything); the arrays still grow
 * with what arrives, and stop growing at total rather than overshoot it. */
void scim_model_expect(struct scim_model *m, bool groups, size_t total);
size_t scim_model_user_ids(const struct scim_model *m);
size_t scim_model_group_ids(const struct scim_model *m);
/* Whether a user (group) with this SCIM id was added, skipped or not. */
bool scim_model_has_id(const struct scim_model *m, bool groups, const char *id);

/* Resolves groups (members by SCIM id, nesting flattened with cycle
 * detection), assigns numbers through the id map, applies host_groups, and
 * hands the mapped directory to scim_publish_dir() (publish.h), which
 * compares with the live cache, applies the guards and publishes.  source
 * is recorded in the cache header (a URL or "import:DIR").  force overrides
 * the two guards (too many removals, empty snapshot).  Logs each suspension
 * and reactivation by name; the caller logs the summary (scim_sync_stats_format).
 *
 * Returns 0 when published; -ECANCELED when a guard refused (the reason is
 * logged); -EBUSY when another publisher holds the lock; -EBADMSG for a
 * corrupt id map; other negative errno values for system errors.  On any
 * error the live cache is untouched.  Call at most once per model. */
int scim_publish(struct scim_model *m, const char *source, bool force, struct scim_sync_stats *stats);

#endif
