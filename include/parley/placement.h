/* Room placement across a cluster of nodes, without I/O: the record each
 * node keeps in Redis about itself, the order in which nodes are offered a
 * new room, the script that claims a room atomically, and what a node does
 * with the claim's answer (host the room, or send the client elsewhere).
 * The Redis connection, the clock and the threads are signaling/cluster.c's
 * (docs/cluster.md). */
#ifndef PARLEY_PLACEMENT_H
#define PARLEY_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PL_PLACE_ID_MAX 32
#define PL_PLACE_URL_MAX 255
#define PL_PLACE_MEDIA_MAX 63
/* Nodes a snapshot holds; beyond, the rest are not offered rooms. */
#define PL_PLACE_MAX_NODES 64

/* A node's registry record: who it is, where clients reach it, its load. */
typedef struct pl_place_node {
    char id[PL_PLACE_ID_MAX + 1];       /* [A-Za-z0-9._-] */
    char url[PL_PLACE_URL_MAX + 1];     /* ws:// or wss://, the clients' WebSocket */
    char media[PL_PLACE_MEDIA_MAX + 1]; /* the address in its ICE candidates */
    uint32_t rooms, participants;
    uint32_t pps;     /* packets per second forwarded, all workers */
    uint32_t cpu_pct; /* of one core, over the last refresh */
    bool draining;    /* takes no new rooms */
} pl_place_node;

/* The record as one JSON object: its length, or PL_ENOSPC. */
int pl_place_node_format(const pl_place_node *n, char *out, size_t cap);
/* A record read back: PL_OK, or PL_EMALFORMED (not JSON, no valid id or
 * url, a field out of range). */
int pl_place_node_parse(const char *text, size_t len, pl_place_node *out);

/* A node id: [A-Za-z0-9._-]{1,32}. */
bool pl_place_valid_id(const char *id);

/* The default public URL: ws://<announce>:<port>/ws, wss with TLS (an
 * IPv6 address in brackets). Its length, or PL_ENOSPC. */
int pl_place_public_url(const char *announce, int port, bool tls, char *out, size_t cap);

/* Whether a carries less load than b: fewer rooms, then fewer
 * participants, then less CPU, then fewer packets; the id breaks ties so
 * that every node orders the same snapshot the same way. */
bool pl_place_less_loaded(const pl_place_node *a, const pl_place_node *b);
/* The nodes that may take a new room (not draining), least loaded first:
 * their indexes into nodes in order[], how many. */
size_t pl_place_rank(const pl_place_node *nodes, size_t n, size_t *order);

/* The claim, one Lua script run by Redis (EVAL, so it is atomic):
 * KEYS[1] the room's key; ARGV[1] the key prefix, ARGV[2] the claim's
 * lifetime in ms, ARGV[3] a node not to choose ("" none: the caller when
 * it drains), ARGV[4..] the caller's ranking (pl_place_rank), least
 * loaded first. A claim whose node is alive (its record exists) stands;
 * otherwise the room goes to the live node (PREFIX nodes, with a record
 * that is not draining) with the fewest rooms: PREFIX load:<id>, which
 * its node sets to the rooms it hosts at each refresh and each claim
 * raises, so that rooms placed between refreshes spread too. Ties go by
 * the ranking, then by id. Answers {owner id, owner record}, or an error
 * reply "no-node" when no node may take it. */
extern const char pl_place_claim_script[];
/* Renews this node's claims: KEYS the rooms' keys, ARGV[1] the node id,
 * ARGV[2] the lifetime in ms. A claim gone (Redis restarted, or it lapsed)
 * is taken again unless another node holds it. Answers how many are this
 * node's. */
extern const char pl_place_renew_script[];
/* Releases a claim: KEYS[1] the room's key, ARGV[1] the node id; only
 * this node's. */
extern const char pl_place_release_script[];

enum pl_place_decision {
    PL_PLACE_LOCAL,    /* host the room here */
    PL_PLACE_REDIRECT, /* the room is another node's: its URL */
};
/* The claim's answer for this node (self): PL_PLACE_LOCAL,
 * PL_PLACE_REDIRECT with the owner's URL in url, or PL_EMALFORMED when the
 * owner's record does not parse. */
int pl_place_decide(const char *self, const char *owner, const char *owner_record, char *url,
                    size_t url_cap);

#ifdef __cplusplus
}
#endif
#endif
