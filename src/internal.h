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

/* Fill key from the OS random source (getrandom / /dev/urandom), falling
 * back to time and addresses if none is readable. */
void mj_hkey_random(mj_hkey *key);

/* Open-addressing table of item pointers with their hashes (linear probing,
 * backward-shift deletion). Items are found by hash + a caller match. */
typedef struct mj_slot {
    uint64_t hash;
    void *item; /* NULL: empty */
} mj_slot;

typedef struct mj_table {
    mj_slot *slots;
    size_t cap; /* 0 or a power of two */
    size_t count;
} mj_table;

struct mj_tracker;

/* Make room for one more item (grows at 3/4 load). MJ_OK or MJ_ENOMEM. */
int mj_table_reserve(struct mj_tracker *tr, mj_table *t);
/* Insert; mj_table_reserve() must have succeeded before. */
void mj_table_insert(mj_table *t, uint64_t hash, void *item);
/* Index of the item matching, or (size_t)-1. */
size_t mj_table_find(const mj_table *t, uint64_t hash,
                     int (*match)(const void *item, const void *key),
                     const void *key);
/* Remove the item at a found index. */
void mj_table_remove_at(mj_table *t, size_t idx);
void mj_table_free(struct mj_tracker *tr, mj_table *t);

/* ---- memory ------------------------------------------------------------ */

void *mj_alloc(struct mj_tracker *tr, size_t size);
void mj_free(struct mj_tracker *tr, void *p, size_t size);
/* A NUL-terminated copy of (p, len), or NULL. Free with
 * mj_free(tr, s, len + 1). */
char *mj_strdup(struct mj_tracker *tr, const char *p, size_t len);

/* ---- tracker storage (tracker.c) -------------------------------------- */

/* An interned, reference-counted prepared room JID, shared by sessions. */
typedef struct mj_istr {
    uint64_t hash;
    uint32_t refs;
    uint32_t len;
    char s[]; /* len bytes + NUL */
} mj_istr;

typedef struct mj_entry mj_entry;

/* Self-ping work for one entry (selfping.c): allocated only while a ping
 * is scheduled or outstanding, on the tracker's ping list. */
typedef struct mj_ping mj_ping;
struct mj_ping {
    mj_entry *e;
    uint32_t id;       /* outstanding ping's id; 0: none outstanding */
    uint32_t tries;    /* unknown answers so far */
    double due;        /* send at (when id == 0) */
    double deadline;   /* the answer is late after (when id != 0) */
    double rest_until; /* after giving up: link losses do not reschedule
                          before this (a down server's refused connections
                          are link losses too) */
    mj_ping *prev, *next;
};

/* A link loss waiting for its start delay (debounce per domain). */
typedef struct mj_linkcheck mj_linkcheck;
struct mj_linkcheck {
    mj_linkcheck *next;
    double due;
    size_t len;
    char domain[]; /* prepared, len bytes + NUL */
};

struct mj_entry {
    mj_istr *room;
    mj_session *sess;
    char *nick;  /* shown nick (NUL-terminated) or NULL */
    char *pnick; /* asked / announced nick or NULL */
    uint32_t nick_len, pnick_len;
    uint8_t state; /* mj_state */
    double since;
    double deadline;
    mj_entry *tprev, *tnext; /* timer list while in a timed state */
    mj_ping *ping;           /* self-ping work, or NULL */
};

struct mj_session {
    struct mj_tracker *tr;
    char *jid; /* as given */
    size_t jid_len;
    char *pjid; /* prepared, the key */
    size_t pjid_len;
    uint64_t hash;
    mj_table rooms; /* mj_entry *, hash = room->hash */
    size_t n_pending, n_shown, n_changing, n_leaving;
    int warned_limit;
};

struct mj_tracker {
    mj_config cfg;
    mj_hkey key;
    mj_table rooms;    /* mj_istr * */
    mj_table sessions; /* mj_session * */
    mj_entry *thead, *ttail;
    mj_ping *phead;       /* entries with self-ping work */
    mj_linkcheck *checks; /* link losses waiting for their delay */
    uint32_t last_ping_id;
    size_t bytes;
    mj_stats st;
};

double mj_now(struct mj_tracker *tr);
void mj_log(struct mj_tracker *tr, mj_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Find the interned room (NULL if no session has it). */
mj_istr *mj_room_find(struct mj_tracker *tr, const char *p, size_t len,
                      uint64_t *hash_out);
/* The session's entry for an interned room, or NULL. */
mj_entry *mj_entry_find(const mj_session *s, const mj_istr *room);
/* Create a NONE entry for room (interned on demand). NULL on ENOMEM. */
mj_entry *mj_entry_create(mj_session *s, const char *room, size_t len,
                          uint64_t hash);
/* Remove and free an entry (no event). */
void mj_entry_destroy(mj_entry *e);

/* Move an entry to a state, keeping counters and the timer list right.
 * Nicks are set by the caller with mj_entry_set_nick(). */
void mj_entry_set_state(mj_entry *e, mj_state state);
/* Replace e->nick (which = 0) or e->pnick (which = 1) by a copy of
 * (p, len) (p NULL clears). MJ_OK or MJ_ENOMEM (unchanged). */
int mj_entry_set_nick(mj_entry *e, int which, const char *p, size_t len);
/* Swap pnick into nick (pnick becomes NULL). */
void mj_entry_promote_nick(mj_entry *e);

/* Fire an event about an entry (from_nick: MENTION's writer). */
void mj_emit(mj_entry *e, mj_event_type type, mj_reason reason,
             mj_str old_nick, mj_str condition, mj_str text, mj_str alt_venue);

void mj_emit_mention(mj_entry *e, mj_str from_nick);

/* messages.c: what a received message is to the session (fires MENTION
 * when fire is non-zero). */
int mj_messages_classify(mj_session *s, const mj_stanza *st, int fire,
                         mj_msg_class *out);

/* selfping.c */
/* Membership of e is unclear: schedule a ping and send it if allowed. */
void mj_ping_request(mj_entry *e);
/* Forget e's ping work (rejoin, entry freed). */
void mj_ping_drop(mj_entry *e);
/* Due link checks, ping timeouts and scheduled pings. */
void mj_pings_tick(struct mj_tracker *tr, double now);
void mj_pings_free(struct mj_tracker *tr);

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
    char res[1023 + 1]; /* prepared resource */
    size_t rlen;
    int has_res;
    mj_str raw_res; /* the resource as written in the stanza */
} mj_target;

/* Prepare and split jid. MJ_OK; or the error, with *bad set to the
 * outcome to report (bad-jid / limit; counted and logged once). */
int mj_parse_target(mj_session *s, mj_str jid, mj_target *t, mj_outcome *bad);

/* joins.c: the state machine. */
int mj_joins_outgoing(mj_session *s, const mj_stanza *st, mj_outcome *out);
int mj_joins_incoming(mj_session *s, const mj_stanza *st, mj_outcome *out);
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
