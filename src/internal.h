/* Internal structures of the tracker. Not part of the public API. */
#ifndef MJ_INTERNAL_H
#define MJ_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mucjoins.h"

/* ---- hashing (hash.c) ------------------------------------------------ */

typedef struct mj_hkey {
    uint64_t k0, k1;
} mj_hkey;

/* SipHash-1-3 of (p, len) under key. */
uint64_t mj_siphash(const mj_hkey *key, const void *p, size_t len);

/* Where a hash key came from. */
typedef enum mj_hkey_source {
    MJ_HKEY_GETRANDOM = 0, /* getrandom(2) (Linux) */
    MJ_HKEY_DEVICE = 1,    /* the random device file */
    MJ_HKEY_WEAK = 2       /* neither: time, pid and addresses (guessable) */
} mj_hkey_source;

/* Fill key from getrandom(2), else from the file device (NULL: none),
 * else from time, pid and addresses; says which. */
mj_hkey_source mj_hkey_fill(mj_hkey *key, const char *device);
/* mj_hkey_fill(key, "/dev/urandom"). */
mj_hkey_source mj_hkey_random(mj_hkey *key);

/* Open-addressing table of item pointers (linear probing, backward-shift
 * deletion). A slot is only the pointer (8 bytes): an item's hash is kept
 * in the item and read back with a hash_of function when the table grows
 * or shifts; lookups start at the hash's slot and ask a caller match. */
typedef struct mj_table {
    void **slots; /* NULL: empty */
    size_t cap;   /* 0 or a power of two */
    size_t count;
} mj_table;

typedef uint64_t (*mj_hash_of)(const void *item);

struct mj_tracker;

/* Make room for one more item (grows at 3/4 load). MJ_OK or MJ_ENOMEM. */
int mj_table_reserve(struct mj_tracker *tr, mj_table *t, mj_hash_of hash_of);
/* Insert; mj_table_reserve() must have succeeded before. */
void mj_table_insert(mj_table *t, uint64_t hash, void *item);
/* Index of the item matching, or (size_t)-1. */
size_t mj_table_find(const mj_table *t, uint64_t hash,
                     int (*match)(const void *item, const void *key),
                     const void *key);
/* Remove the item at a found index. */
void mj_table_remove_at(mj_table *t, size_t idx, mj_hash_of hash_of);
void mj_table_free(struct mj_tracker *tr, mj_table *t);

/* ---- memory ------------------------------------------------------------ */

void *mj_alloc(struct mj_tracker *tr, size_t size);
void mj_free(struct mj_tracker *tr, void *p, size_t size);
/* A NUL-terminated copy of (p, len), or NULL. Free with
 * mj_free(tr, s, len + 1). */
char *mj_strdup(struct mj_tracker *tr, const char *p, size_t len);

/* ---- tracker storage (tracker.c) -------------------------------------- */

typedef struct mj_ping mj_ping;

/* A domain some interned room is on (selfping.c): what self-ping keeps
 * per remote domain. Kept in tr->domains (keyed by the domain's SipHash)
 * while a room is on it, a link check waits for it, or it is on the
 * ready list. */
typedef struct mj_domain mj_domain;
struct mj_domain {
    uint64_t hash;
    uint32_t rooms;         /* interned rooms on the domain */
    uint32_t outstanding;   /* pings sent, not answered nor timed out */
    uint8_t check;          /* a link loss waits on tr->checks */
    uint8_t fire;           /* its link check runs in this tick */
    uint8_t ready;          /* on tr->ready: queue and budget to send */
    double check_due;       /* when check */
    mj_domain *cnext;       /* tr->checks, by check_due */
    mj_domain *rnext;       /* tr->ready */
    mj_ping *qhead, *qtail; /* due pings waiting for the budget, FIFO */
    uint32_t len;
    char name[]; /* prepared, len bytes + NUL */
};

/* An interned, reference-counted prepared room JID, shared by sessions. */
typedef struct mj_istr {
    uint64_t hash;
    uint32_t refs;
    uint32_t len : 31;
    uint32_t fixed : 1; /* s prepares to itself (mj_parse_target may skip
                           preparing a JID with these bytes) */
    mj_domain *dom;     /* the domain part's record */
    char s[];           /* len bytes + NUL */
} mj_istr;

typedef struct mj_entry mj_entry;

/* Self-ping work for one entry (selfping.c): allocated only while a ping
 * is scheduled, outstanding or resting. It is in exactly one place: the
 * tracker's heap (keyed by when something is next due for it: due,
 * deadline or rest_until), its domain's queue (due, waiting for the
 * budget), or parked (due while the entry is PENDING or CHANGING: back
 * to the heap when the entry's state changes). */
struct mj_ping {
    mj_entry *e;
    uint32_t id;            /* outstanding ping's id; 0: none outstanding */
    uint32_t tries;         /* unknown answers so far */
    uint32_t heap;          /* index in tr->heap + 1; 0: not in the heap */
    uint8_t queued;         /* in e->room->dom's queue */
    uint8_t parked;         /* neither in the heap nor queued */
    double due;             /* send at (when id == 0) */
    double deadline;        /* the answer is late after (when id != 0) */
    double rest_until;      /* after giving up: link losses do not reschedule
                               before this (a down server's refused connections
                               are link losses too) */
    mj_ping *qprev, *qnext; /* the domain's queue, or a tick's batch */
};

/* What an entry needs only while something is open about it: a timed
 * state (PENDING, CHANGING, EXPECTING, LEAVING), an asked nick, self-ping
 * work. Allocated on demand and freed when the entry settles (JOINED, no
 * ping work), so that a settled join costs only its mj_entry and its
 * table slot (issue 7: at most 64 bytes per join besides the strings). */
typedef struct mj_aux mj_aux;
struct mj_aux {
    mj_entry *e;
    mj_aux *tprev, *tnext; /* timer list while in a timed state */
    double deadline;
    mj_ping *ping; /* self-ping work, or NULL */
    char *pnick;   /* asked / announced nick or NULL */
    uint32_t pnick_len;
};

/* One (session, room). The shown nick is stored in the entry itself
 * (one allocation and one cache miss less per join and per self-presence);
 * changing it to a longer one moves the entry (mj_entry_set_nick). */
struct mj_entry {
    mj_istr *room;
    mj_session *sess;
    mj_aux *aux; /* or NULL */
    double since;
    uint16_t nick_len;    /* <= MJ_PART_MAX */
    uint16_t nick_cap;    /* bytes of nick[] (nick_len + 1 when shown) */
    uint8_t state;        /* mj_state */
    uint8_t has_nick : 1; /* nick[] holds the shown nick */
    uint8_t live : 1;     /* the room's subject came after the join's
                             self-presence: its history is over */
    char nick[];          /* the shown nick + NUL when has_nick */
};

/* The shown nick (ptr NULL: none). */
static inline mj_str mj_entry_nick(const mj_entry *e)
{
    mj_str n = {NULL, 0};
    if (e->has_nick) {
        n.ptr = e->nick;
        n.len = e->nick_len;
    }
    return n;
}

static inline mj_ping *mj_entry_ping(const mj_entry *e)
{
    return e->aux ? e->aux->ping : NULL;
}

/* The asked nick (ptr NULL: none). */
static inline mj_str mj_entry_pnick(const mj_entry *e)
{
    mj_str n = {NULL, 0};
    if (e->aux != NULL && e->aux->pnick != NULL) {
        n.ptr = e->aux->pnick;
        n.len = e->aux->pnick_len;
    }
    return n;
}

/* What every decision reads comes first (one cache line: tr, rooms and
 * the counters); the JIDs are read for lookups by JID, events and logs. */
struct mj_session {
    struct mj_tracker *tr;
    mj_table rooms; /* mj_entry *, hash = room->hash */
    uint32_t n_pending, n_shown, n_changing, n_leaving;
    int warned_limit;
    uint64_t hash;
    char *jid; /* as given */
    size_t jid_len;
    char *pjid; /* prepared, the key */
    size_t pjid_len;
};

struct mj_tracker {
    mj_config cfg;
    mj_hkey key;
    mj_table rooms;        /* mj_istr * */
    mj_table sessions;     /* mj_session * */
    mj_aux *thead, *ttail; /* timer list, oldest deadline first */
    mj_table domains;      /* mj_domain *, hash = SipHash of the name */
    mj_ping **heap;        /* binary min-heap of pings by next due time */
    size_t nheap, capheap; /* capheap >= npings: pushing never allocates */
    size_t npings;         /* mj_ping records */
    size_t outstanding;    /* pings sent and not answered */
    mj_domain *checks;     /* link losses waiting for their delay, by
                              due time */
    mj_domain *checks_tail;
    mj_domain *ready; /* domains whose queue may send */
    uint32_t last_ping_id;
    size_t bytes;
    mj_stats st;
};

/* A hint that p will be read soon (no effect where unsupported). With
 * 100k sessions nothing of a session is in the cache when its stanza
 * comes: fetching it while the JID is parsed hides part of the wait. */
#if defined(__GNUC__)
#define MJ_PREFETCH(p) __builtin_prefetch(p)
#else
#define MJ_PREFETCH(p) ((void)(p))
#endif

double mj_now(struct mj_tracker *tr);
void mj_log(struct mj_tracker *tr, mj_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Find the interned room (NULL if no session has it). */
mj_istr *mj_room_find(struct mj_tracker *tr, const char *p, size_t len,
                      uint64_t *hash_out);
/* The same with the hash of (p, len) already computed. */
mj_istr *mj_room_find_hashed(struct mj_tracker *tr, const char *p, size_t len,
                             uint64_t hash);
/* The session's entry for an interned room, or NULL. */
mj_entry *mj_entry_find(const mj_session *s, const mj_istr *room);
/* Create a NONE entry, with room for a shown nick of nick_hint bytes, for
 * the interned room r, or when r is NULL for the prepared room JID
 * (key, len) with its hash (interned now). NULL on ENOMEM. */
mj_entry *mj_entry_create(mj_session *s, mj_istr *r, const char *key,
                          size_t len, uint64_t hash, size_t nick_hint);
/* Remove and free an entry (no event). */
void mj_entry_destroy(mj_entry *e);

/* Move an entry to a state, keeping counters and the timer list right.
 * Nicks are set by the caller. MJ_ENOMEM (and no change) only when a
 * timed state needs e->aux and none could be allocated: never after
 * mj_entry_set_pnick(e, non-NULL) succeeded, never for JOINED or NONE. */
int mj_entry_set_state(mj_entry *e, mj_state state);
/* Make sure e->aux exists. MJ_OK or MJ_ENOMEM. */
int mj_entry_aux(mj_entry *e);
/* Free e->aux if nothing in it is in use. */
void mj_entry_aux_trim(mj_entry *e);
/* Replace the asked nick by a copy of (p, len) (p NULL clears). MJ_OK or
 * MJ_ENOMEM (unchanged). */
int mj_entry_set_pnick(mj_entry *e, const char *p, size_t len);
/* Replace the shown nick by (p, len) (p NULL: none). The entry moves when
 * the nick does not fit: the entry's address from now on is returned
 * (the tracker's own pointers to it are updated; the caller must drop
 * the old one). NULL on ENOMEM, the entry unchanged. */
mj_entry *mj_entry_set_nick(mj_entry *e, const char *p, size_t len);
/* The asked nick becomes the shown one (it is cleared). The entry's
 * address from now on, or NULL on ENOMEM (unchanged). */
mj_entry *mj_entry_promote_nick(mj_entry *e);

/* Fire an event about an entry (from_nick: MENTION's writer). */
void mj_emit(mj_entry *e, mj_event_type type, mj_reason reason,
             mj_str old_nick, mj_str condition, mj_str text, mj_str alt_venue);

void mj_emit_mention(mj_entry *e, mj_str from_nick);

/* messages.c: what a received message is to the session (fires MENTION
 * when fire is non-zero). */
int mj_messages_classify(mj_session *s, const mj_stanza *st, int fire,
                         mj_msg_class *out);
/* A received groupchat message with a <subject/>: the join's history, if
 * any, is over for the room it comes from. MJ_OK or MJ_ENOMEM. */
int mj_messages_subject(mj_session *s, const mj_stanza *st);

/* selfping.c */
/* Membership of e is unclear: schedule a ping and send it if allowed. */
void mj_ping_request(mj_entry *e);
/* Forget e's ping work (rejoin, entry freed). */
void mj_ping_drop(mj_entry *e);
/* Due link checks, ping timeouts and scheduled pings: the work is what
 * is due (a heap and per-domain queues), not what is tracked. */
void mj_pings_tick(struct mj_tracker *tr, double now);
void mj_pings_free(struct mj_tracker *tr);
/* The entry's state changed: a parked ping goes back to the heap. */
void mj_ping_state_changed(mj_entry *e);
/* The configuration changed (budget): queues that may now send are made
 * ready. */
void mj_pings_configured(struct mj_tracker *tr);
/* The record of the domain part of a prepared bare JID, made when
 * missing (NULL on ENOMEM). Its rooms count is the caller's to raise. */
mj_domain *mj_domain_get(struct mj_tracker *tr, const char *bare, size_t len);
/* Free the record if nothing uses it any more. */
void mj_domain_release(struct mj_tracker *tr, mj_domain *d);

/* ---- decisions -----------------------------------------------------------
 */

/* classify.c: what a received presence says. */
typedef struct mj_class {
    int self;   /* 110 inside muc#user */
    int has303; /* 303 inside muc#user */
    int has332;
    mj_reason removal; /* strongest removal code or destroy, else NONE */
} mj_class;

void mj_classify(const mj_stanza *st, mj_class *out);
/* Is a message error condition one Prosody's MUC kicks for? */
int mj_kickable_condition(mj_str cond);

/* A JID a stanza names, prepared and raw. */
typedef struct mj_target {
    char bare[2 * 1023 + 2];
    size_t blen;
    char res[1023 + 1]; /* scratch: the resource is prepared only to
                           check it */
    int has_res;
    mj_str raw_res;  /* the resource as written in the stanza */
    mj_istr *room;   /* the interned room JID bare names, or NULL */
    mj_entry *entry; /* the session's entry for room, or NULL */
    uint64_t hash;   /* of bare */
} mj_target;

/* Prepare and split jid. MJ_OK; or the error, with *bad set to the
 * outcome to report (bad-jid / limit; counted and logged once). */
int mj_parse_target(mj_session *s, mj_str jid, mj_target *t, mj_outcome *bad);

/* joins.c: the state machine. */
int mj_joins_outgoing(mj_session *s, const mj_stanza *st, mj_outcome *out);
/* 1 if st, sent by a session with no state at all, could start tracking a
 * room (a join); 0 if it cannot change anything for such a session. */
int mj_joins_may_start(const mj_tracker *tr, const mj_stanza *st);
int mj_joins_incoming(mj_session *s, const mj_stanza *st, mj_outcome *out);
/* What a session the tracker does not hold receives (mj_tracker_incoming):
 * changes nothing; a self-presence is counted as forged. */
int mj_joins_incoming_unknown(mj_tracker *tr, const mj_stanza *st,
                              mj_outcome *out);
void mj_joins_timeout(mj_entry *e);

/* Compare two nicks prepared (Resourceprep); 1 when equal. Unpreparable
 * nicks compare bytewise. */
int mj_nick_equal(const char *a, size_t alen, const char *b, size_t blen);

static inline mj_str mj_str_of(const char *p, size_t len)
{
    mj_str s;
    s.ptr = p;
    s.len = len;
    return s;
}

static inline mj_str mj_str_none(void)
{
    mj_str s;
    s.ptr = NULL;
    s.len = 0;
    return s;
}

#endif
