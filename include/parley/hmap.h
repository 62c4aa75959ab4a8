/* A hash table from byte-string keys to pointers, for the lookups on the
 * packet path (a datagram's transport by ICE ufrag or source address, a
 * transport by id): one hash and usually one probe instead of a scan.
 *
 * Keys are not copied: each key's bytes must stay unchanged while its entry
 * is in the table (they usually live in the object the value points to).
 * Open addressing with linear probing; it grows at create time of an entry,
 * never on lookup. */
#ifndef PARLEY_HMAP_H
#define PARLEY_HMAP_H

#include <stddef.h>
#include <stdint.h>

#include "parley/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pl_hmap pl_hmap;

pl_hmap *pl_hmap_create(const pl_env *env);
void pl_hmap_destroy(pl_hmap *m);
/* Adds or replaces the entry of this key. PL_ENOMEM when it cannot grow. */
int pl_hmap_put(pl_hmap *m, const void *key, size_t len, void *value);
/* The value of this key, or NULL. */
void *pl_hmap_get(const pl_hmap *m, const void *key, size_t len);
/* Removes the entry of this key when its value is `value` (NULL: any);
 * returns the value removed or NULL. */
void *pl_hmap_remove(pl_hmap *m, const void *key, size_t len, const void *value);

#ifdef __cplusplus
}
#endif
#endif
