/* What rooms still owe a closed session's full JID (owed.c), on env.h
 * and hash.h: a session closed while a room had not answered a stanza it
 * sent (a join, a nick change, a join sent again), or in a room, which
 * owes the answer to the unavailable Prosody sends for the closed session
 * (a confirmation, or a removal that crossed the close), leaves a record keyed
 * by its prepared full JID and the room, so that a session bound next
 * under the same JID (a resource conflict, a fast reconnect) does not
 * take those answers for its own join's (joins.c). Bounded (MJ_OWED_MAX,
 * the oldest dropped first) and kept for pending_timeout at most. */
#ifndef MJ_OWED_H
#define MJ_OWED_H

#include <stddef.h>
#include <stdint.h>

#include "env.h"
#include "hash.h"

struct mj_tracker;

typedef struct mj_owed mj_owed;

typedef struct mj_owed_set {
    mj_table table;         /* mj_owed *, by the hash of (JID, room) */
    mj_owed *head, *tail;   /* answers to stanzas in flight, oldest first */
    mj_owed *shead, *stail; /* settled rooms' closes (mj_owed_what.settled),
                               oldest first: at the bound these go first */
    mj_table accounts;      /* records per bare JID (struct owed_account *) */
    size_t bytes;           /* of the records (not the tables) */
} mj_owed_set;

/* Records kept at most, every session's, and their bytes (a record is
 * ~100 bytes and its two JIDs; long JIDs make it up to ~5 KiB): the
 * oldest go first. */
#define MJ_OWED_MAX       32768
#define MJ_OWED_MAX_BYTES (8u << 20)
/* The bytes of one account's records of one kind (settled or not) kept
 * at most: like the count below, so that it takes 16 accounts to fill the
 * set however long their JIDs (without it, one session's close with 2000
 * joins of long JIDs in flight pushed every other account's records
 * out). 512 KiB hold the default count share (2000 records) of
 * records whose full JID and room JID are up to 190 bytes together (a
 * record is 72 bytes and its two JIDs): one session's close fits (4 MiB
 * in all, 256 KiB a share, did not). */
#define MJ_OWED_ACCOUNT_BYTES (MJ_OWED_MAX_BYTES / 16)
/* Records kept at most for the sessions of one account (bare JID): one
 * account reconnecting in a loop with joins in flight fills its own share,
 * not the set every account's protection is in. The share is the larger
 * of this and max_rooms + max_pending (the caller's account_cap), what one
 * session's close can leave: a record per room it was in or joining.
 * A share smaller than that (64 once) lost some of the rooms the next
 * session under that JID rejoined. */
#define MJ_OWED_PER_ACCOUNT 256

/* What a room owes a closed session's JID. */
typedef struct mj_owed_what {
    unsigned owed;    /* leave confirmations */
    unsigned renamed; /* before them, the self-presence that follows a 303
                         the closed session got (EXPECTING, or a CHANGING
                         entered from it): not the next join's answer
                         (joins.c, mj_aux.rename_owed; in the padding) */
    uint64_t prev_id; /* the id key of the stanza whose answer is owed (0:
                         none known) */
    int reflects;     /* the room's domain was seen to reflect join ids (the
                         domain's record may be gone with the session) */
    int settled;      /* the session was in the room, nothing in flight:
                         only the answer to its close's unavailable is
                         owed (a confirmation, or a removal that crossed
                         the close). Such records cost nothing else: they
                         hold no answer back (joins.c), are kept in a list
                         of their own and counted apart per account, go
                         first at the set's bounds and never push another
                         kind out (a full set refuses them) */
} mj_owed_what;

/* Remember until `until` what room (prepared bare JID) owes the closed
 * session jid (prepared full JID). A record already there for the pair is
 * replaced. Out of memory, or account_cap records of its kind (settled or
 * not) of jid's account kept already: nothing is remembered (the next
 * session under that JID starts afresh). At the set's bounds the oldest
 * settled records go first, then the oldest others. */
void mj_owed_add(struct mj_tracker *tr, mj_owed_set *set, const mj_hkey *key,
                 const char *jid, size_t jlen, const char *room, size_t rlen,
                 const mj_owed_what *what, double until, size_t account_cap);

/* Take what room owes jid (the record is forgotten): 1 with *what set, or
 * 0 when nothing is owed (or the record ran out at now). The set's memory
 * is given back when it empties. */
int mj_owed_take(struct mj_tracker *tr, mj_owed_set *set, const mj_hkey *key,
                 const char *jid, size_t jlen, const char *room, size_t rlen,
                 double now, mj_owed_what *what);

/* An unavailable self-presence from room reached the session bound
 * under jid, which has no state with the room: 1 when a live record
 * explains it as an answer owed to the closed session (a settled record,
 * whose only answer this is, is forgotten; any other kind stays, since
 * what it counts may still come), 0 when none does. */
int mj_owed_explains(struct mj_tracker *tr, mj_owed_set *set,
                     const mj_hkey *key, const char *jid, size_t jlen,
                     const char *room, size_t rlen, double now);

/* An available self-presence from room reached jid while no session
 * bound under it had state with room: the self-presence a 303 owed
 * (mj_owed_what.renamed) came, and the next join's answer is not held
 * to it. */
void mj_owed_renamed_came(mj_owed_set *set, const mj_hkey *key,
                          const char *jid, size_t jlen, const char *room,
                          size_t rlen);

/* Forget the records that ran out at now. */
void mj_owed_expire(struct mj_tracker *tr, mj_owed_set *set, double now);

/* pending_timeout changed: every record's end moves by delta, or, when
 * delta is not finite (to or from an infinite timeout), becomes until. */
void mj_owed_retime(mj_owed_set *set, double delta, double until);

/* Forget every record. */
void mj_owed_free(struct mj_tracker *tr, mj_owed_set *set);

#endif
