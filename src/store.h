/* Storage (store.c): the tracker's records (the structs every layer above
 * reads), interning, entries and their side records, the timer list,
 * per-domain records, sessions, event emission. On env.h, hash.h and
 * jid.h (and mentions_impl.h for the body cache's struct); calls nothing
 * above: what selfping.c must hear goes through mj_store_hooks. */
#ifndef MJ_STORE_H
#define MJ_STORE_H

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "env.h"
#include "hash.h"
#include "leaves.h"
#include "mentions_impl.h"
#include "nickcache.h"
#include "owed.h"

typedef struct mj_ping mj_ping;

/* Domains whose learnt reflects_id outlives their record (mj_tracker
 * learned[]): a few; more are forgotten, oldest first. */
#define MJ_LEARNED 16

/* A domain some interned room is on: what self-ping (selfping.c) keeps
 * per remote domain; store.c makes and frees the record. Kept in tr->domains
 * (keyed by the domain's SipHash) while a room is on it, a link check waits
 * for it, or it is on the ready list. */
typedef struct mj_domain mj_domain;
struct mj_domain {
    uint64_t hash;
    uint32_t rooms;            /* interned rooms on the domain */
    uint32_t outstanding;      /* pings sent, not answered nor timed out */
    uint8_t check;             /* a link loss waits on tr->checks */
    uint8_t up_check;          /* a link up's visit waits on tr->ups
                                  (mj_tracker_link_up: one visit per
                                  up_interval() at most) */
    uint8_t fire;              /* its link check runs in this tick */
    uint8_t ready;             /* on tr->ready: queue and budget to send */
    uint8_t reflects_id;       /* its rooms were seen to answer a join
                                  with the join's id: a rejoin's
                                  self-presence with another id may answer
                                  an earlier stanza (joins.c) */
    uint8_t gave_up;           /* an entry of a room on it may have its
                                  gave_up bit set (a self-ping gave up:
                                  bounces, our own timeouts, the room's
                                  unknown answers): its next link up
                                  visits its rooms (selfping.c
                                  mj_tracker_link_up) */
    uint8_t give_up_logs;      /* self-ping give-ups logged at info
                                  since give_up_until was set
                                  (selfping.c log_give_up()) */
    uint32_t up_epoch;         /* link ups of the domain so far
                                  (mj_tracker_link_up), wrapping */
    uint32_t down_epoch;       /* link losses of the domain so far
                                  (mj_tracker_link_lost), wrapping */
    double lost_at;            /* when its link was last lost
                                  (-INFINITY: never): a leave's
                                  recipient-unavailable after it is the
                                  path's (selfping.c mj_leave_bounced) */
    double check_due;          /* when check */
    double up_walk_at;         /* when a link up last visited its rooms
                                  (-INFINITY: never) */
    double up_due;             /* when up_check */
    double give_up_until;      /* the end of the window give_up_logs
                                  counts in (-INFINITY: none yet) */
    mj_domain *unext, *uprev;  /* tr->ups, by up_due */
    mj_domain *cnext, *cprev;  /* tr->checks, by check_due (doubly
                                  linked: a domain whose last room goes
                                  leaves it at once) */
    mj_domain *rnext;          /* tr->ready */
    mj_ping *qhead, *qtail;    /* due pings waiting for the budget, FIFO */
    struct mj_istr *room_list; /* its interned rooms (dprev/dnext) */
    uint32_t len;
    char name[]; /* prepared, len bytes + NUL */
};

/* An interned, reference-counted prepared room JID, shared by sessions. */
typedef struct mj_entry mj_entry;

typedef struct mj_istr mj_istr;
struct mj_istr {
    uint64_t hash;  /* SipHash of s: its slot in tr->rooms */
    uint32_t qhash; /* mj_qhash of s: its entries' slots in sessions' rooms
                       tables */
    uint32_t refs;
    uint32_t len : 31;
    uint32_t fixed : 1;     /* s prepares to itself (mj_parse_target may skip
                               preparing a JID with these bytes) */
    mj_domain *dom;         /* the domain part's record */
    mj_istr *dprev, *dnext; /* dom->room_list: a link check visits the
                               rooms on its domain only */
    uint32_t id;            /* its index in tr->room_pool: what its entries'
                               room_id holds */
    uint32_t entries;       /* the first of the refs entries naming it
                               (rnext, rprev), 0: none */
    char s[];               /* len bytes + NUL */
};

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
    uint8_t queued;         /* in mj_entry_room(e)->dom's queue */
    uint8_t parked;         /* neither in the heap nor queued */
    uint8_t relinked;       /* this round had its one more try for a link
                               up while its last try was out (selfping.c
                               unknown()) */
    double due;             /* send at (when id == 0) */
    double deadline;        /* the answer is late after (when id != 0) */
    double rest_until;      /* after giving up: link losses do not reschedule
                               before this (a down server's refused connections
                               are link losses too) */
    uint32_t down_epoch;    /* outstanding ping: its domain's down_epoch when
                               it was sent (a link loss while it was out:
                               our server may bounce it, selfping.c
                               path_error()) */
    uint32_t up_epoch;      /* outstanding ping: its domain's up_epoch when
                               it was sent (a link up while it was out:
                               its "unknown" is the old path's) */
    uint64_t to_key;        /* outstanding ping: key of the nick it went to
                               (selfping.c nick_key()); its answer comes
                               from room/<that nick> */
    mj_ping *qprev, *qnext; /* the domain's queue, or a tick's batch */
};

/* What an entry needs only while something is open about it: a timed
 * state (PENDING, CHANGING, EXPECTING, LEAVING), an asked nick, self-ping
 * work. Allocated on demand and freed when the entry settles (JOINED, no
 * ping work), so that a settled join costs only its mj_entry and its
 * table slot (the target: at most 64 bytes per join besides the strings). */
typedef struct mj_aux mj_aux;
struct mj_aux {
    mj_entry *e;
    uint32_t id;           /* its index in tr->aux_pool: what e->u.aux holds */
    uint8_t prev_more;     /* answers owed to the join sent again (JOINED
                              with resent: join_id; LEAVING: prev_join_id)
                              beyond one: the same join, with the same id,
                              sent again more than once (joins.c; saturates
                              at 3; in the padding, no byte more) */
    uint8_t retried;       /* PENDING: the join was sent again before any
                              answer (join_id is the last one's; joins.c,
                              retry_owed()) */
    uint8_t retry_more;    /* PENDING: times join_id was sent beyond the
                              first before any answer (the same join again,
                              or a join sent again more than once while
                              JOINED that a removal overtook): answers owed
                              to it beyond one (saturates at 3) */
    uint8_t rename_owed;   /* LEAVING, and PENDING entered from it: the
                              room's 303 renamed the old occupancy and
                              its self-presence from the new nick has not
                              come yet (joins.c, answers_join(): not the
                              rejoin's answer); CHANGING: entered from
                              EXPECTING, that self-presence still owed
                              (in the padding) */
    mj_aux *tprev, *tnext; /* timer list while in a timed state, or
                              JOINED with resent */
    double deadline;
    double since;  /* the entry's, while it has this record */
    mj_ping *ping; /* self-ping work, or NULL */
    char *pnick;   /* asked / announced nick (in pbuf when it fits, else
                      its own copy) or NULL */
    uint32_t pnick_len;
    char pbuf[20];    /* a nick of up to 19 bytes: no second allocation for
                         a join or a nick change */
    uint64_t join_id; /* PENDING: the join's id as joins.c keys it (0: the
                         join had none; MJ_JOIN_ID_UNKNOWN: restored);
                         LEAVING: the leave's; JOINED with resent: the
                         join sent again (its deadline in deadline) */
    uint64_t prev_join_id; /* PENDING after a cancelled join: that join's
                              id key (0: none); JOINED with resent: the
                              join sent again before (MJ_JOIN_ID_NONE:
                              it had no id); LEAVING: the join sent
                              again before the leave */
};

/* mj_aux.join_id of a join restored (mj_session_restore), whose id is not
 * known: any answer is its answer. Keys of ids are odd. */
#define MJ_JOIN_ID_UNKNOWN 2
/* mj_aux.prev_join_id of a JOINED entry whose earlier join sent again had
 * no id: never a key, never owed. */
#define MJ_JOIN_ID_NONE 4

/* Entries and rooms are named by 24-bit ids (mj_entry_at(), mj_entry_room()):
 * an entry is 24 bytes (a settled join's bytes: bench/RESULTS.md), and the ids
 * fit beside its flags. Id 0 names nothing. */
#define MJ_ID_BITS  24
#define MJ_ID_LIMIT (1u << MJ_ID_BITS)
/* Entries come in blocks of this many (tr->eblocks): an entry's id is its
 * block's index * MJ_EBLOCK + its slot, and blocks never move, so an
 * entry's address holds for its life (mj_aux.e, mj_ping.e). */
#define MJ_EBLOCK_SHIFT 8
#define MJ_EBLOCK       (1u << MJ_EBLOCK_SHIFT)

/* One (session, room), 24 bytes. The shown nick is the session's
 * (mj_session.nick: most users have one nick in every room, and a
 * settled join then costs the entry alone) unless own_nick: then it is in
 * a record of its own, found through its block (mj_eblock.nicks;
 * mj_entry_nick()).
 *
 * The room's list of entries is doubly linked by ids (rnext, rprev; 0:
 * none; the head is room->entries), so that unlinking is O(1); an
 * entry's own id is what its neighbour (or the room) holds.
 * since and the aux record share one 32-bit word: a settled entry keeps
 * since there (a float offset from tr->epoch), one with a record keeps the
 * record's id (tr->aux_pool) and since moves into the record (has_aux);
 * read both through mj_entry_aux_of() and mj_entry_since(). */
struct mj_entry {
    mj_session *sess;              /* NULL: a free slot of its block */
    uint32_t room_id : MJ_ID_BITS; /* its room (mj_entry_room()) */
    uint32_t state : 4;            /* mj_state */
    uint32_t gave_up : 1;          /* its self-ping gave up and no answer
                                      settled it since ('joined', 'not
                                      joined', a self-presence; cleared when
                                      the entry ends): a link up of its
                                      domain asks it again, and only entries
                                      so marked (selfping.c); the domain's
                                      gave_up is set again when such a round
                                      is dropped unanswered */
    uint32_t has_nick : 1;         /* it shows a nick */
    uint32_t live : 1;             /* the room's subject came after the
                                      join's self-presence: its history is
                                      over */
    uint32_t has_aux : 1;          /* u.aux, not u.since */
    uint32_t rnext : MJ_ID_BITS;   /* the next entry of the same room; in a
                                      free slot: the block's next free slot
                                      + 1 */
    uint32_t owed : 2;           /* PENDING: leaves the room has not confirmed
                                    yet (a rejoin's window, joins.c; saturates
                                    at 3) */
    uint32_t held_back : 1;      /* in that window, an available self-presence
                                    without the join's id was held back since
                                    the last confirmation */
    uint32_t cancelled : 1;      /* PENDING: a leave was sent before the join's
                                    answer (set through mj_entry_set_cancelled;
                                    these bits are cleared by any state but
                                    PENDING) */
    uint32_t close_owed : 1;     /* PENDING: the session closed last under this
                                    JID was in the room (owed.h, settled): the
                                    room may still answer that close's
                                    unavailable, with a confirmation or a
                                    removal; one unavailable self-presence is
                                    that answer, not this join's refusal */
    uint32_t resent : 1;         /* JOINED: the session sent a join again (a
                                    client's XEP-0410 recovery), not answered or
                                    refused yet (joins.c, mark_resent()); set
                                    through mj_entry_set_resent: the entry is
                                    then on the timer list, which ends it after
                                    pending_timeout, and keeps its mj_aux
                                    record; cleared by every state change */
    uint32_t own_nick : 1;       /* has_nick, and the nick is its record's
                                    (mj_entry_enick()), not the session's */
    uint32_t has_rec : 1;        /* it has a record (own_nick, or made ahead
                                    by mj_entry_fit_nick()) */
    uint32_t rprev : MJ_ID_BITS; /* the previous entry of the same room (0:
                                    it is room->entries) */
    union {
        float since;  /* !has_aux: clock time of the last state change,
                         minus tr->epoch, rounded down (exact to 1/64 s
                         within 3 days of it, to 2 s within a year, 4 s
                         within two) */
        uint32_t aux; /* has_aux: the record's id in tr->aux_pool */
    } u;
};

/* A nick an entry shows that is not its session's: a record of its own,
 * found through its block (mj_eblock.nicks). */
typedef struct mj_enick {
    uint16_t len; /* the nick's bytes */
    uint16_t cap; /* bytes of s[] */
    char s[];     /* len bytes + NUL */
} mj_enick;

/* Records named by 32-bit ids (store.c): ids[id] is the record; a free
 * id's slot holds (next free id << 1) | 1; slot 0 is never an id. */
typedef struct mj_ids {
    uintptr_t *ids;
    uint32_t cap;  /* slots of ids */
    uint32_t top;  /* ids below it have been given */
    uint32_t free; /* first free id below top, 0: none */
    uint32_t live; /* records */
} mj_ids;

/* A block of MJ_EBLOCK entries (store.c). */
typedef struct mj_eblock {
    mj_entry *mem;       /* NULL: freed (its header on tr->eb_spare) */
    uint16_t live;       /* entries in use */
    uint16_t top;        /* slots handed out at least once */
    uint16_t free;       /* first released slot + 1 (chained through rnext) */
    uint16_t open;       /* its bit is set in tr->eb_map: a free slot */
    uint32_t prev, next; /* tr->eb_spare (indices + 1) */
    struct mj_enick **nicks; /* the records of its entries' own nicks by
                                slot (NULL: none has one) */
    uint32_t nnicks;         /* records in nicks */
} mj_eblock;

/* The entry's record (e->has_rec). */
mj_enick *mj_entry_enick(const mj_entry *e);

/* The shown nick's bytes (mj_entry_nick_len() of them); "" when it has
 * none. */
static inline const char *mj_entry_nick_ptr(const mj_entry *e);

static inline size_t mj_entry_nick_len(const mj_entry *e);

/* The entry's room. */
static inline struct mj_istr *mj_entry_room(const mj_entry *e);

/* The entry's mj_aux record, or NULL. */
static inline mj_aux *mj_entry_aux_of(const mj_entry *e);

/* Clock time of the entry's last state change. */
static inline double mj_entry_since(const mj_entry *e);

static inline void mj_entry_set_since(mj_entry *e, double t);

/* The shown nick (ptr NULL: none). */
static inline mj_str mj_entry_nick(const mj_entry *e)
{
    mj_str n = {NULL, 0};
    if (e->has_nick && e->own_nick) {
        const mj_enick *r = mj_entry_enick(e); /* one lookup for both */
        n.ptr = r->s;
        n.len = r->len;
    } else if (e->has_nick) {
        n.ptr = mj_entry_nick_ptr(e);
        n.len = mj_entry_nick_len(e);
    }
    return n;
}

static inline mj_ping *mj_entry_ping(const mj_entry *e);

/* The asked nick (ptr NULL: none). */
static inline mj_str mj_entry_pnick(const mj_entry *e)
{
    mj_str n = {NULL, 0};
    const mj_aux *a = mj_entry_aux_of(e);
    if (a != NULL && a->pnick != NULL) {
        n.ptr = a->pnick;
        n.len = a->pnick_len;
    }
    return n;
}

/* The nick a self-ping goes to (and its event names): the session's nick
 * as the room last said it. In EXPECTING(o, m) the room announced m
 * (303), and o is free for another occupant to take (Prosody would
 * forward the ping to it); without a shown nick, the one asked. */
static inline mj_str mj_entry_ping_nick(const mj_entry *e)
{
    mj_str m = mj_entry_pnick(e);
    if ((e->state == MJ_S_EXPECTING || !e->has_nick) && m.ptr != NULL)
        return m;
    return mj_entry_nick(e);
}

/* What every decision reads comes first (one cache line: tr, rooms and
 * the counters); the JIDs are read for lookups by JID, events and logs. */
/* Bits of mj_session.warned_limit: each is logged once per session. */
#define MJ_WARNED_ROOMS     1  /* max_rooms reached */
#define MJ_WARNED_FORGED    2  /* a forged self-presence refused */
#define MJ_WARNED_BAD_JID   4  /* a stanza with an unusable JID */
#define MJ_WARNED_PENDING   8  /* max_pending reached */
#define MJ_WARNED_CANCELLED 16 /* max_pending cancelled joins reached */

/* Open-addressing table of entry ids (as mj_table, 4-byte slots; 0:
 * empty): a session's rooms (store.c). */
typedef struct mj_idtab {
    uint32_t *slots;
    uint32_t cap; /* 0 or a power of two */
    uint32_t count;
} mj_idtab;

struct mj_session {
    struct mj_tracker *tr;
    mj_idtab rooms; /* its entries' ids, hash = their room's qhash */
    uint32_t n_pending, n_shown, n_changing, n_leaving;
    uint32_t n_cancelled; /* PENDING entries cancelled (in n_pending) */
    uint32_t n_resent;    /* JOINED entries with resent set */
    uint32_t jid_len;     /* <= MJ_FULL_JID_CAP */
    uint32_t pjid_len : 31;
    uint32_t pjid_apart : 1; /* the prepared JID differs from jid: it follows
                                jid's NUL in the same allocation
                                (mj_session_pjid()) */
    uint8_t warned_limit;    /* MJ_WARNED_*: logged once already */
    uint8_t walking;         /* rooms is being walked by index: removals do not
                                trim it (the walker trims after) */
    uint16_t nick_len;
    uint32_t hash; /* its JID's SipHash (its slot in tr->sessions: the low
                      bits) */
    char *nick;    /* the first nick one of its entries showed (nick_len
                      bytes + NUL; NULL: none yet), kept until the session
                      ends: the entries showing it share it */
    char jid[];    /* as given (jid_len bytes + NUL), in the session's own
                      allocation: finding the session by its JID (each
                      stanza's first step) reads one record, not two */
};
/* Every session pays for each byte here: bench/RESULTS.md's memory per
 * settled join is measured at 20 rooms a session, so 8 bytes more are
 * 0.4 B per join, and its margin to the target is under 1 B. State only
 * some sessions need lives in a table of its own (leaves.c's records). */
_Static_assert(sizeof(void *) != 8 || sizeof(struct mj_session) <= 72,
               "struct mj_session grew: keep rare state out of it");

/* The session's prepared JID (pjid_len bytes + NUL), its key: jid
 * itself when it was given prepared (nearly always). */
static inline const char *mj_session_pjid(const mj_session *s)
{
    return s->pjid_apart ? s->jid + s->jid_len + 1 : s->jid;
}

/* The length of the session's prepared bare JID: its prepared JID up to
 * the '/' (all of it when it has no resource). */
static inline size_t mj_session_bare_len(const mj_session *s)
{
    const char *p = mj_session_pjid(s);
    const char *slash = memchr(p, '/', s->pjid_len);

    return slash != NULL ? (size_t)(slash - p) : s->pjid_len;
}

static inline const char *mj_entry_nick_ptr(const mj_entry *e)
{
    if (!e->has_nick)
        return "";
    return e->own_nick ? mj_entry_enick(e)->s : e->sess->nick;
}

static inline size_t mj_entry_nick_len(const mj_entry *e)
{
    if (!e->has_nick)
        return 0;
    return e->own_nick ? mj_entry_enick(e)->len : e->sess->nick_len;
}

/* What storage tells the layer above about an entry with self-ping work
 * (mj_entry_ping(e) set): set by tracker.c (selfping.c's mj_ping_state_changed
 * and mj_ping_drop), so that storage never calls upward. NULL: nothing. */
typedef struct mj_store_hooks {
    void (*ping_state)(mj_entry *e); /* its state changed */
    void (*ping_drop)(mj_entry *e);  /* it is being freed */
} mj_store_hooks;

/* The resource of a stanza's JID prepared last (target.c): a stanza
 * fanned out to every session in a room names the same occupant for each
 * of them, and Resourceprep of a long nick that is not printable ASCII
 * costs up to ~200 times the rest of the stanza's decision. */
typedef struct mj_res_cache {
    size_t raw_len; /* 0: empty */
    size_t prep_len;
    int rc;       /* mj_prep_part()'s answer for raw */
    size_t preps; /* resources prepared with ICU (tests) */
    char raw[MJ_PART_MAX];
    char prep[MJ_PART_MAX + 1];
} mj_res_cache;

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
    mj_domain *ups; /* link ups' deferred visits, by up_due */
    mj_domain *ups_tail;
    mj_domain *ready; /* domains whose queue may send */
    uint32_t last_ping_id;
    mj_body_cache body;    /* the last body normalised for mentions */
    mj_ref_cache refs;     /* the last message's mention references */
    mj_delay_cache delays; /* the last message's delay markers' froms */
    mj_nick_cache nicks;   /* stored nicks' prepared and folded forms */
    mj_res_cache res;      /* the last stanza resource prepared */
    mj_store_hooks hooks;
    size_t bytes;
    size_t n_resent;    /* entries with resent set, every session's */
    mj_owed_set owed;   /* what rooms owe closed sessions' JIDs (owed.h) */
    mj_leaves leaves;   /* leaves sessions owe rooms (leaves.h) */
    double epoch;       /* mj_now() at creation: settled entries' since is
                           an offset from it (mj_entry_since()) */
    mj_ids aux_pool;    /* the mj_aux records by id */
    mj_ids room_pool;   /* the interned rooms by id */
    size_t id_walked;   /* entries given their room's new id so far (a test
                           reads it) */
    mj_eblock *eblocks; /* entries' blocks by index (entry id >>
                           MJ_EBLOCK_SHIFT) */
    uint32_t eb_count;  /* headers in use (blocks made, live or freed) */
    uint32_t eb_cap;    /* headers allocated */
    uint64_t *eb_map;   /* a bit per block with a free slot (after the
                           headers, in their allocation) */
    uint32_t eb_lo;     /* no word of eb_map below it has a bit set */
    uint32_t eb_spare;  /* headers whose block was freed, +1 */
    unsigned in_hook;   /* an embedder's callback (event, log, clock) runs:
                           the calls that change the tracker refuse to
                           (MJ_EBUSY), as they would change it under the
                           call that made the callback */
    double last_now;    /* mj_now()'s last finite reading (0 before one) */
    /* Domains seen to reflect join ids (mj_domain.reflects_id) whose
     * record went with their last room: the bit comes back with a new
     * record within pending_timeout, the window in which answers to what
     * was sent before may still come (a reconnect's updates and rejoins;
     * docs/state-machine.md). hash 0: a free slot. */
    struct {
        uint64_t hash;
        double until;
    } learned[MJ_LEARNED];
    mj_stats st;
    /* mj_config.option_prefix's copy (cfg.option_prefix points here, or
     * is NULL) */
    char option_prefix[MJ_OPTION_PREFIX_MAX + 1];
};

/* A call that would change the tracker, made from one of its embedder's
 * callbacks (on_event, log, clock): refused (MJ_EBUSY, or nothing done),
 * as it would change the tracker under the call that made the callback
 * (a session closed from a log line, say, was freed under the join that
 * logged it). */
#define MJ_IN_HOOK(tr) ((tr)->in_hook != 0)

static inline mj_aux *mj_entry_aux_of(const mj_entry *e)
{
    return e->has_aux ? (mj_aux *)e->sess->tr->aux_pool.ids[e->u.aux] : NULL;
}

static inline mj_istr *mj_entry_room(const mj_entry *e)
{
    return (mj_istr *)e->sess->tr->room_pool.ids[e->room_id];
}

/* The entry an id names (a live one: the caller knows). */
static inline mj_entry *mj_entry_at(const struct mj_tracker *tr, uint32_t id)
{
    return &tr->eblocks[id >> MJ_EBLOCK_SHIFT].mem[id & (MJ_EBLOCK - 1)];
}

/* The entry in the session's table's slot i, or NULL. */
static inline mj_entry *mj_session_slot(const mj_session *s, size_t i)
{
    uint32_t id = s->rooms.slots[i];
    return id != 0 ? mj_entry_at(s->tr, id) : NULL;
}

/* The first entry of a room's list, and the next after e (NULL: none). */
static inline mj_entry *mj_room_first(const struct mj_tracker *tr,
                                      const mj_istr *r)
{
    return r->entries != 0 ? mj_entry_at(tr, r->entries) : NULL;
}

static inline mj_entry *mj_room_next(const struct mj_tracker *tr,
                                     const mj_entry *e)
{
    return e->rnext != 0 ? mj_entry_at(tr, e->rnext) : NULL;
}

static inline double mj_entry_since(const mj_entry *e)
{
    return e->has_aux ? mj_entry_aux_of(e)->since
                      : e->sess->tr->epoch + (double)e->u.since;
}

/* The float at or below d (finite, within a float's range): a since kept
 * as a float is never later than the time it stands for (an age read
 * from it is never negative). */
static inline float mj_float_at_or_below(double d)
{
    float f = (float)d;
    if ((double)f > d) {
        uint32_t b;
        memcpy(&b, &f, sizeof b);
        if (f > 0)
            b--;
        else if (f < 0)
            b++;
        else
            b = 0x80000001u; /* the negative float nearest 0 */
        memcpy(&f, &b, sizeof f);
    }
    return f;
}

static inline void mj_entry_set_since(mj_entry *e, double t)
{
    double d = t - e->sess->tr->epoch;
    if (e->has_aux)
        mj_entry_aux_of(e)->since = t;
    else if (d > FLT_MAX) /* converting it would be undefined */
        e->u.since = INFINITY;
    else if (d < -FLT_MAX)
        e->u.since = -INFINITY;
    else if (d != d)
        e->u.since = NAN;
    else
        e->u.since = mj_float_at_or_below(d);
}

/* The clock was replaced (mj_tracker_configure): it read old_now, the
 * new one reads now. Every time kept (since, deadlines, pings' times,
 * link checks, owed records) keeps its distance from now; settled
 * entries' since become offsets from a new epoch, now, so that new times
 * are exact again. Walks every entry and domain. */
void mj_store_rebase(struct mj_tracker *tr, double old_now, double now);
/* Move what tr->learned keeps by delta (not finite: to until). */
void mj_learned_retime(mj_tracker *tr, double delta, double until);

static inline mj_ping *mj_entry_ping(const mj_entry *e)
{
    return e->has_aux ? mj_entry_aux_of(e)->ping : NULL;
}

/* Free the array of aux ids (mj_tracker_free). */
void mj_aux_ids_free(struct mj_tracker *tr);

/* Find the interned room (NULL if no session has it). */
mj_istr *mj_room_find(struct mj_tracker *tr, const char *p, size_t len,
                      uint64_t *hash_out);
/* The same with the hash of (p, len) already computed. */
mj_istr *mj_room_find_hashed(struct mj_tracker *tr, const char *p, size_t len,
                             uint64_t hash);
/* The session's entry for an interned room, or NULL. */
mj_entry *mj_entry_find(const mj_session *s, const mj_istr *room);
/* The session's entry for the interned room whose JID is the bytes
 * (p, len) and prepares to itself (room->fixed), or NULL: then the bytes
 * may still name one of the session's rooms once prepared. qh: their
 * mj_qhash under the tracker's key. */
mj_entry *mj_entry_find_written(const mj_session *s, const char *p, size_t len,
                                uint64_t qh);
/* Create a NONE entry (no nick: its bytes, when not the session's, are
 * made when one is shown) for the interned room r, or when r is NULL for
 * the prepared room JID (key, len) with its hash (interned now). NULL on
 * ENOMEM. */
mj_entry *mj_entry_create(mj_session *s, mj_istr *r, const char *key,
                          size_t len, uint64_t hash);
/* Remove and free an entry (no event). The session's table shrinks
 * (mj_table_trim) unless s->walking. */
void mj_entry_destroy(mj_entry *e);
/* Shrink the session's room table if it has mostly emptied. */
void mj_session_trim(mj_session *s);

/* Move an entry to a state, keeping counters and the timer list right.
 * Nicks are set by the caller. MJ_ENOMEM (and no change) only when a
 * timed state needs an mj_aux record and none could be allocated: never after
 * mj_entry_set_pnick(e, non-NULL) succeeded, never for JOINED or NONE. */
int mj_entry_set_state(mj_entry *e, mj_state state);
/* Set or clear e->resent (JOINED only): the timer list takes the entry
 * for pending_timeout from now (set again: from now again) and the
 * session's and tracker's counts follow. MJ_OK, or MJ_ENOMEM (no record:
 * nothing set). */
int mj_entry_set_resent(mj_entry *e, int on);
/* Whether e's join sent again is still owed its answer: resent, and its
 * deadline not passed (the tick ends it late when the deadline sits
 * behind the timer list's head). */
int mj_entry_resent_owed(const mj_entry *e);

/* Mark a PENDING entry cancelled or not (the session's n_cancelled
 * follows). */
void mj_entry_set_cancelled(mj_entry *e, int on);
/* Give the entry an mj_aux record (it has none). MJ_OK or MJ_ENOMEM. */
int mj_entry_aux_new(mj_entry *e);
/* Make sure the entry has its mj_aux record (mj_entry_aux_of). MJ_OK or
 * MJ_ENOMEM. */
static inline int mj_entry_aux(mj_entry *e)
{
    return e->has_aux ? MJ_OK : mj_entry_aux_new(e);
}
/* Free the entry's mj_aux record if nothing in it is in use. */
void mj_entry_aux_trim(mj_entry *e);
/* Replace the asked nick by a copy of (p, len) (p NULL clears). MJ_OK or
 * MJ_ENOMEM (unchanged). */
int mj_entry_set_pnick(mj_entry *e, const char *p, size_t len);
/* Replace the shown nick by (p, len) (p NULL: none). A nick other than
 * the session's is kept in the entry's record (made, or
 * replaced by a larger one, when it does not fit). Returns e (entries
 * never move; callers keep the returned pointer as they did when they
 * could), or NULL on ENOMEM, the entry unchanged. */
mj_entry *mj_entry_set_nick(mj_entry *e, const char *p, size_t len);
/* What mj_entry_set_nick(e, p, len) allocates, done now (the session's
 * first nick, the record for another), so that setting it then allocates
 * nothing. Shows nothing new. e, or NULL on ENOMEM, the entry
 * unchanged. */
mj_entry *mj_entry_fit_nick(mj_entry *e, const char *p, size_t len);
/* What mj_entry_fit_nick() made ahead and no nick shows, given back (the
 * caller's later step failed). */
void mj_entry_unfit_nick(mj_entry *e);
/* The asked nick becomes the shown one (it is cleared). e, or NULL on
 * ENOMEM (unchanged). */
mj_entry *mj_entry_promote_nick(mj_entry *e);

/* Fire an event about an entry (from_nick: MENTION's writer). */
void mj_emit(mj_entry *e, mj_event_type type, mj_reason reason,
             mj_str old_nick, mj_str condition, mj_str text, mj_str alt_venue);

void mj_emit_mention(mj_entry *e, mj_str from_nick);

/* The record of the domain part of a prepared bare JID, made when
 * missing (NULL on ENOMEM). Its rooms count is the caller's to raise. */
mj_domain *mj_domain_get(struct mj_tracker *tr, const char *bare, size_t len);
/* Free the record if nothing uses it any more. */
void mj_domain_release(struct mj_tracker *tr, mj_domain *d);

/* A full JID's prepared form fits in this many bytes. */
#define MJ_FULL_JID_CAP (3 * MJ_PART_MAX + 3)

/* Prepare jid into buf (MJ_FULL_JID_CAP bytes) and look it up: MJ_OK with
 * *found set (NULL if absent), or the preparation's error. */
int mj_session_lookup(struct mj_tracker *tr, const char *jid, size_t len,
                      char *buf, size_t *plen, uint64_t *h,
                      mj_session **found);
/* Create the session looked up by mj_session_lookup() (prepared JID in
 * buf, plen bytes, hash h). MJ_OK or MJ_ENOMEM. */
int mj_session_create(struct mj_tracker *tr, const char *full_jid, size_t len,
                      const char *buf, size_t plen, uint64_t h,
                      mj_session **out);
/* Free a session and its entries (no event; not removed from
 * tr->sessions: for mj_tracker_free). */
void mj_session_free(mj_session *s);

/* The domain part of a prepared bare JID. */
static inline mj_str mj_domain_of(const char *bare, size_t len)
{
    const char *at = memchr(bare, '@', len);
    if (at == NULL)
        return mj_str_of(bare, len);
    return mj_str_of(at + 1, len - (size_t)(at + 1 - bare));
}

/* The record of a domain name, or NULL; *hash: the name's hash. */
mj_domain *mj_domain_find(struct mj_tracker *tr, mj_str name, uint64_t *hash);

#endif
