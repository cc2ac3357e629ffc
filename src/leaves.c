/* Leaves owed to rooms (leaves.h). */
#include <string.h>

#include "leaves.h"
#include "store.h"

/* The records of one domain: what its link up sends. */
typedef struct mj_leave_dom {
    uint64_t hash;
    mj_leave *head, *tail; /* its records (dprev/dnext): those owed first,
                              in the order they became owed (a link up
                              sends the head's run of them), then those
                              sent that may be sent again, in the order
                              sent (a link loss owes them again in that
                              order), then the spent ones: sent
                              MJ_LEAVE_SENDS times, or done (neither walk
                              visits them) */
    mj_leave *owed_tail;   /* the last owed (NULL: none) */
    mj_leave *spent;       /* the first spent (NULL: none) */
    uint32_t losses;       /* link losses while it had records (wrapping) */
    uint32_t len;
    char name[]; /* len bytes + NUL */
} mj_leave_dom;

/* The records of one session (none: no record). Kept here, not in the
 * session, which every session would pay for in memory. */
typedef struct mj_leave_sess {
    uint64_t hash; /* of the session (its own hash): its slot in sessions */
    mj_session *s;
    mj_leave *head, *tail; /* its records (sprev/snext): those sent or
                              done first, in the order sent (or done, if
                              owed again then), then those owed, oldest
                              first (the bound frees from the head) */
    mj_leave *sent_tail;   /* the last sent or done (NULL: none) */
    uint32_t n;
} mj_leave_sess;

struct mj_leave {
    uint64_t hash;     /* of (session, room): its slot in the set's table */
    mj_leave_sess *ls; /* its session's records (ls->s: the session) */
    mj_leave_dom *dom;
    mj_leave *sprev, *snext; /* the session's */
    mj_leave *tprev, *tnext; /* the set's, oldest first */
    mj_leave *dprev, *dnext; /* the domain's */
    double until;
    uint64_t join_key; /* done: the key of the last rejoin's id (with the
                          MUC <x/>; 0: none or not known), which tells its
                          answer from the ghost's word on a service that
                          reflects ids (mj_leaves_ghosts_word()) */
    uint32_t losses;   /* the domain's losses when a link up last sent it */
    uint8_t sent;      /* sent, its answer not seen: not sent again */
    uint8_t done;      /* sent, then the session sent the room a presence
                          (a rejoin): neither owed nor sent again, kept
                          only so that its answer is known (while the
                          rejoin waits, mj_leaves_answer_rejoined()) */
    uint8_t reflects;  /* the room's service was seen to reflect join ids
                          (mj_leaves_owe()) */
    uint8_t sends;     /* times sent (at most MJ_LEAVE_SENDS; below it while
                          owed: a record sent that many times is never owed
                          again, so a link up's token[sends] is in bounds) */
    uint64_t token[MJ_LEAVE_SENDS]; /* the id each send carried (leave_id()):
                                       an answer to an earlier send may
                                       come after a later one went */
    uint32_t rlen, nlen;
    char s_[]; /* the room's rlen bytes, '/', the nick's nlen, NUL */
};

/* Owed: a link up sends it. */
static int is_owed(const mj_leave *l)
{
    return !l->sent && !l->done;
}

/* Spent: sent for the last time, or done; kept for its answer alone. */
static int is_spent(const mj_leave *l)
{
    return l->done || (l->sent && l->sends >= MJ_LEAVE_SENDS);
}

/* The id send k (from 0) of l carried, "mjleave-" and 16 hex digits of
 * its token: a new one at every send, which nobody can tell in advance
 * (once sent it is no secret: Prosody's MUC broadcasts the leave to the
 * other occupants). */
static void leave_id(const mj_leave *l, int k, char buf[MJ_LEAVE_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    memcpy(buf, "mjleave-", 8);
    for (int i = 0; i < 16; i++)
        buf[8 + i] = hex[(l->token[k] >> (60 - 4 * i)) & 0xf];
    buf[MJ_LEAVE_ID_LEN] = '\0';
}

/* Whether id is one that a send of l carried, the last or an earlier
 * one (whose answer may come after the next send went: a link lost and
 * up again before it came): its answer (our server's bounce, or a room
 * that reflects ids), the tracker's own traffic (MJ_O_ANSWERED), not the
 * session's. */
static int carries_id(const mj_leave *l, mj_str id)
{
    char buf[MJ_LEAVE_ID_LEN + 1];
    if (id.ptr == NULL || id.len != MJ_LEAVE_ID_LEN)
        return 0;
    for (int k = 0; k < l->sends; k++) {
        leave_id(l, k, buf);
        if (memcmp(buf, id.ptr, MJ_LEAVE_ID_LEN) == 0)
            return 1;
    }
    return 0;
}

struct leave_key {
    const mj_session *s;
    const char *room;
    size_t rlen;
};

static size_t leave_size(const mj_leave *l)
{
    return sizeof *l + l->rlen + 1 + l->nlen + 1;
}

static uint64_t leave_hash(const void *item)
{
    return ((const mj_leave *)item)->hash;
}

static int same_leave(const void *item, const void *key)
{
    const mj_leave *l = item;
    const struct leave_key *k = key;
    return l->ls->s == k->s && l->rlen == k->rlen &&
           memcmp(l->s_, k->room, k->rlen) == 0;
}

static uint64_t key_hash(const mj_tracker *tr, const struct leave_key *k)
{
    /* the session's own keyed hash, mixed with the room's: the pair is
     * never copied for a lookup */
    return mj_siphash(&tr->key, k->room, k->rlen) ^
           (uint64_t)k->s->hash * 0x9E3779B97F4A7C15u;
}

static uint64_t dom_hash(const void *item)
{
    return ((const mj_leave_dom *)item)->hash;
}

struct dom_key {
    const char *name;
    size_t len;
};

static int same_dom(const void *item, const void *key)
{
    const mj_leave_dom *d = item;
    const struct dom_key *k = key;
    return d->len == k->len && memcmp(d->name, k->name, k->len) == 0;
}

/* The record of domain (name, len), made when missing and make is set
 * (NULL: none, or no memory). */
static mj_leave_dom *dom_get(mj_tracker *tr, const char *name, size_t len,
                             int make)
{
    mj_leaves *set = &tr->leaves;
    struct dom_key k = {name, len};
    uint64_t h = mj_siphash(&tr->key, name, len);
    size_t i = mj_table_find(&set->doms, h, same_dom, &k);
    if (i != (size_t)-1)
        return set->doms.slots[i];
    if (!make || mj_table_reserve(tr, &set->doms, dom_hash) != MJ_OK)
        return NULL;
    mj_leave_dom *d = mj_alloc(tr, sizeof *d + len + 1);
    if (d == NULL)
        return NULL;
    d->hash = h;
    d->head = d->tail = d->owed_tail = d->spent = NULL;
    d->losses = 0;
    d->len = (uint32_t)len;
    memcpy(d->name, name, len);
    d->name[len] = '\0';
    mj_table_insert(&set->doms, h, d);
    return d;
}

static void dom_free(mj_tracker *tr, mj_leave_dom *d)
{
    mj_leaves *set = &tr->leaves;
    mj_table_remove_item(&set->doms, d->hash, d, dom_hash);
    mj_free(tr, d, sizeof *d + d->len + 1);
    mj_table_trim(tr, &set->doms, dom_hash);
}

static uint64_t sess_hash_of(const mj_session *s)
{
    return (uint64_t)s->hash * 0x9E3779B97F4A7C15u;
}

static uint64_t sess_hash(const void *item)
{
    return ((const mj_leave_sess *)item)->hash;
}

static int same_sess(const void *item, const void *key)
{
    return ((const mj_leave_sess *)item)->s == key;
}

/* The record of s, made when missing and make is set (NULL: none, or no
 * memory). */
static mj_leave_sess *sess_get(mj_tracker *tr, const mj_session *s, int make)
{
    mj_leaves *set = &tr->leaves;
    uint64_t h = sess_hash_of(s);
    size_t i = mj_table_find(&set->sessions, h, same_sess, s);
    if (i != (size_t)-1)
        return set->sessions.slots[i];
    if (!make || mj_table_reserve(tr, &set->sessions, sess_hash) != MJ_OK)
        return NULL;
    mj_leave_sess *ls = mj_alloc(tr, sizeof *ls);
    if (ls == NULL)
        return NULL;
    ls->hash = h;
    ls->s = (mj_session *)s;
    ls->head = ls->tail = ls->sent_tail = NULL;
    ls->n = 0;
    mj_table_insert(&set->sessions, h, ls);
    return ls;
}

static void sess_free(mj_tracker *tr, mj_leave_sess *ls)
{
    mj_leaves *set = &tr->leaves;
    mj_table_remove_item(&set->sessions, ls->hash, ls, sess_hash);
    mj_free(tr, ls, sizeof *ls);
    mj_table_trim(tr, &set->sessions, sess_hash);
}

/* Take l off its domain's list. */
static void dom_unlink(mj_leave *l)
{
    mj_leave_dom *d = l->dom;
    if (d->owed_tail == l)
        d->owed_tail = l->dprev; /* owed too, or none */
    if (d->spent == l)
        d->spent = l->dnext; /* spent too, or none */
    if (l->dprev != NULL)
        l->dprev->dnext = l->dnext;
    else
        d->head = l->dnext;
    if (l->dnext != NULL)
        l->dnext->dprev = l->dprev;
    else
        d->tail = l->dprev;
}

/* Put l (owed) after the last owed record of its domain: the records
 * owed come before those sent, so a link up visits only what it sends. */
static void dom_push(mj_leave *l)
{
    mj_leave_dom *d = l->dom;
    mj_leave *after = d->owed_tail;
    l->dprev = after;
    l->dnext = after != NULL ? after->dnext : d->head;
    if (l->dnext != NULL)
        l->dnext->dprev = l;
    else
        d->tail = l;
    if (after != NULL)
        after->dnext = l;
    else
        d->head = l;
    d->owed_tail = l;
}

/* Put l (just sent, or done) after its domain's records sent that may
 * be sent again, in the order sent (a link loss owes them again in that
 * order), or at the very end when it is spent (a link loss passes over
 * none of them). */
static void dom_append(mj_leave *l)
{
    mj_leave_dom *d = l->dom;
    int spent = is_spent(l);
    mj_leave *before = spent ? NULL : d->spent;
    l->dnext = before;
    l->dprev = before != NULL ? before->dprev : d->tail;
    if (l->dprev != NULL)
        l->dprev->dnext = l;
    else
        d->head = l;
    if (before != NULL)
        before->dprev = l;
    else
        d->tail = l;
    if (spent && d->spent == NULL)
        d->spent = l;
}

/* Take l off its session's list. */
static void sess_unlink(mj_leave *l)
{
    mj_leave_sess *ls = l->ls;
    if (ls->sent_tail == l)
        ls->sent_tail = l->sprev; /* sent too, or none */
    if (l->sprev != NULL)
        l->sprev->snext = l->snext;
    else
        ls->head = l->snext;
    if (l->snext != NULL)
        l->snext->sprev = l->sprev;
    else
        ls->tail = l->sprev;
}

/* Put l at the end of its session's list (owed: the newest). */
static void sess_append(mj_leave *l)
{
    mj_leave_sess *ls = l->ls;
    l->snext = NULL;
    l->sprev = ls->tail;
    if (ls->tail != NULL)
        ls->tail->snext = l;
    else
        ls->head = l;
    ls->tail = l;
}

/* Put l (just sent) after the session's last sent record: the bound
 * frees what was sent and not answered before what was never sent (a
 * ghost whose leave never reached its room). */
static void sess_push_sent(mj_leave *l)
{
    mj_leave_sess *ls = l->ls;
    mj_leave *after = ls->sent_tail;
    l->sprev = after;
    l->snext = after != NULL ? after->snext : ls->head;
    if (l->snext != NULL)
        l->snext->sprev = l;
    else
        ls->tail = l;
    if (after != NULL)
        after->snext = l;
    else
        ls->head = l;
    ls->sent_tail = l;
}

/* Take l off every list and table and free it. */
static void leave_free(mj_tracker *tr, mj_leave *l)
{
    mj_leaves *set = &tr->leaves;
    mj_leave_sess *ls = l->ls;
    mj_leave_dom *d = l->dom;
    mj_table_remove_item(&set->table, l->hash, l, leave_hash);
    sess_unlink(l);
    ls->n--;
    if (l->tprev != NULL)
        l->tprev->tnext = l->tnext;
    else
        set->head = l->tnext;
    if (l->tnext != NULL)
        l->tnext->tprev = l->tprev;
    else
        set->tail = l->tprev;
    dom_unlink(l);
    set->count--;
    set->sent -= l->sent != 0;
    set->done -= l->done != 0;
    set->tried -= l->sends != 0;
    mj_free(tr, l, leave_size(l));
    if (d->head == NULL)
        dom_free(tr, d);
    if (ls->head == NULL)
        sess_free(tr, ls);
    mj_table_trim(tr, &set->table, leave_hash);
}

/* l, sent or done, moves to the owed: the newest of its domain's and its
 * session's */
static void move_to_owed(mj_leave *l)
{
    dom_unlink(l);
    dom_push(l);
    sess_unlink(l);
    sess_append(l);
}

/* l, sent, is owed again: the newest owed of its domain and session (the
 * next link up sends it). */
static void owe_again(mj_tracker *tr, mj_leave *l)
{
    l->sent = 0;
    tr->leaves.sent--;
    move_to_owed(l);
}

/* Free ls's first records (those sent, then the oldest owed) until at
 * most keep are left (ls may be NULL: none). Returns ls, or NULL when it
 * went with its last record. */
static mj_leave_sess *trim_to(mj_tracker *tr, mj_leave_sess *ls, size_t keep)
{
    while (ls != NULL && ls->n > keep) {
        int last = ls->n == 1;
        leave_free(tr, ls->head);
        if (last)
            ls = NULL; /* freed with its last record */
    }
    return ls;
}

static mj_leave *find(mj_tracker *tr, const struct leave_key *k,
                      uint64_t *hash)
{
    mj_leaves *set = &tr->leaves;
    *hash = key_hash(tr, k);
    size_t i = mj_table_find(&set->table, *hash, same_leave, k);
    return i != (size_t)-1 ? set->table.slots[i] : NULL;
}

void mj_leaves_owe(mj_tracker *tr, mj_session *s, const char *room,
                   size_t rlen, const char *nick, size_t nlen, int reflects)
{
    mj_leaves *set = &tr->leaves;
    struct leave_key k = {s, room, rlen};
    uint64_t h;
    mj_leave *old = find(tr, &k, &h);
    if (old != NULL)
        leave_free(tr, old); /* the latest leave's nick */
    /* room for one more: the session's first go (max_rooms 0: all) */
    size_t max = tr->cfg.max_rooms;
    mj_leave_sess *ls = trim_to(tr, sess_get(tr, s, 0), max ? max - 1 : 0);
    if (max == 0)
        return;
    mj_str dn = mj_domain_of(room, rlen);
    mj_leave_dom *d = dom_get(tr, dn.ptr, dn.len, 1);
    if (d != NULL && ls == NULL)
        ls = sess_get(tr, s, 1);
    mj_leave *l = NULL;
    if (d != NULL && ls != NULL &&
        mj_table_reserve(tr, &set->table, leave_hash) == MJ_OK)
        l = mj_alloc(tr, sizeof *l + rlen + 1 + nlen + 1);
    if (l == NULL) {
        if (d != NULL && d->head == NULL)
            dom_free(tr, d);
        if (ls != NULL && ls->head == NULL)
            sess_free(tr, ls);
        mj_log(tr, MJ_LOG_WARN,
               "out of memory: the leave of %.*s owed to %.*s is not "
               "remembered",
               (int)s->jid_len, s->jid, (int)rlen, room);
        return;
    }
    l->hash = h;
    l->ls = ls;
    l->dom = d;
    l->until = mj_now(tr) + MJ_LEAVE_TTL;
    l->losses = 0;
    l->sent = 0;
    l->done = 0;
    l->reflects = (uint8_t)(reflects != 0);
    l->join_key = 0;
    l->sends = 0;
    memset(l->token, 0, sizeof l->token);
    l->rlen = (uint32_t)rlen;
    l->nlen = (uint32_t)nlen;
    memcpy(l->s_, room, rlen);
    l->s_[rlen] = '/';
    memcpy(l->s_ + rlen + 1, nick, nlen);
    l->s_[rlen + 1 + nlen] = '\0';
    sess_append(l);
    ls->n++;
    l->tnext = NULL;
    l->tprev = set->tail;
    if (set->tail != NULL)
        set->tail->tnext = l;
    else
        set->head = l;
    set->tail = l;
    dom_push(l);
    set->count++;
    mj_table_insert(&set->table, h, l);
    mj_log(tr, MJ_LOG_DEBUG,
           "%.*s: the leave of %.*s was bounced on the way (the link to "
           "%s is down): sent again when a link to it comes up",
           (int)s->jid_len, s->jid, (int)rlen, room, d->name);
}

int mj_leaves_clear(mj_tracker *tr, mj_session *s, const char *room,
                    size_t rlen, int rejoin, uint64_t join_key)
{
    if (sess_get(tr, s, 0) == NULL)
        return 0; /* a lookup by the session's own hash: no SipHash */
    struct leave_key k = {s, room, rlen};
    uint64_t h;
    mj_leave *l = find(tr, &k, &h);
    if (l == NULL)
        return 0;
    if (l->done) { /* a join behind it owes its answer too: the rejoin
                      was no join to the tracker, over max_pending, or
                      timed out (failed, or shown: timeout_held_back());
                      its answer would have ended the record */
        if (rejoin && join_key != 0)
            l->join_key = join_key; /* the latest join's answer ends it */
        return rejoin ? (l->reflects ? 3 : 2) : 0;
    }
    if (l->sends == 0 || !rejoin) {
        leave_free(tr, l); /* never sent: nothing will answer it; or no
                              join waits behind it */
        return 1;
    }
    /* sent: its answer may come yet, ahead of the room's answer to the
     * rejoin (the same path, in order): kept to know it */
    mj_leaves *set = &tr->leaves;
    if (!l->sent) { /* owed again: the newest of those sent */
        sess_unlink(l);
        sess_push_sent(l);
    } /* else among those sent, in its place: the bound frees it so */
    set->sent -= l->sent;
    l->sent = 0;
    l->done = 1;
    l->join_key = join_key;
    set->done++;
    dom_unlink(l);
    dom_append(l); /* spent */
    return l->reflects ? 3 : 2;
}

void mj_leaves_bound(mj_tracker *tr)
{
    mj_leaves *set = &tr->leaves;
    size_t max = tr->cfg.max_rooms;
    if (max == 0) {
        while (set->head != NULL)
            leave_free(tr, set->head);
        return;
    }
    /* max >= 1: no session loses its last record, so the sessions table
     * does not change under the walk */
    for (size_t i = 0; i < set->sessions.cap; i++) {
        mj_leave_sess *ls = set->sessions.slots[i];
        if (ls != NULL && ls->n > max)
            trim_to(tr, ls, max);
    }
}

void mj_leaves_session_gone(mj_tracker *tr, mj_session *s)
{
    trim_to(tr, sess_get(tr, s, 0), 0);
}

void mj_leaves_link_up(mj_tracker *tr, const char *domain, size_t len)
{
    if (tr->leaves.count == tr->leaves.sent + tr->leaves.done)
        return; /* nothing owed anywhere: not even a hash */
    mj_leave_dom *d = dom_get(tr, domain, len, 0);
    if (d == NULL)
        return; /* a lookup: nothing owed there */
    /* one line at info per link up (a hostile domain chooses when its
     * link comes up), each leave at debug */
    size_t n = 0;
    for (const mj_leave *l = d->head; l != NULL && is_owed(l); l = l->dnext)
        n++;
    if (n == 0)
        return; /* sent already, their answers not seen */
    mj_log(tr, MJ_LOG_INFO,
           "a link to %.*s is up: sending %zu leave%s our server bounced "
           "while it was down",
           (int)len, domain, n, n == 1 ? "" : "s");
    /* each record is marked sent before its event and stays, for the
     * answer (mj_leaves_answered()); the callback may not change the
     * tracker */
    mj_leave *next;
    for (mj_leave *l = d->head; l != NULL && is_owed(l); l = next) {
        mj_session *s = l->ls->s;
        next = l->dnext;
        char id[MJ_LEAVE_ID_LEN + 1];
        uint64_t serial = ++tr->leaves.serial;
        l->token[l->sends] = mj_siphash(&tr->key, &serial, sizeof serial);
        tr->leaves.tried += l->sends == 0;
        l->sent = 1;
        l->sends++;
        l->losses = d->losses;
        dom_unlink(l);
        dom_append(l); /* after those sent before (spent: last), and
                          stops the walk */
        sess_unlink(l);
        sess_push_sent(l);
        tr->leaves.sent++;
        tr->st.leaves_resent++;
        mj_log(tr, MJ_LOG_DEBUG,
               "%.*s: a link to %.*s is up: sending %s the leave our "
               "server bounced",
               (int)s->jid_len, s->jid, (int)len, domain, l->s_);
        if (tr->cfg.on_event != NULL) {
            mj_event ev;
            memset(&ev, 0, sizeof ev);
            ev.type = MJ_EV_LEAVE_NEEDED;
            ev.session = s;
            ev.session_jid = mj_str_of(s->jid, s->jid_len);
            ev.room = mj_str_of(l->s_, l->rlen);
            ev.nick = mj_str_of(l->s_ + l->rlen + 1, l->nlen);
            leave_id(l, l->sends - 1, id);
            ev.id = mj_str_of(id, MJ_LEAVE_ID_LEN);
            tr->in_hook++;
            tr->cfg.on_event(tr->cfg.event_ud, &ev);
            tr->in_hook--;
        }
    }
    d->owed_tail = NULL; /* all sent */
}

void mj_leaves_link_lost(mj_tracker *tr, const char *domain, size_t len)
{
    if (tr->leaves.sent == 0)
        return; /* only a leave sent again asks when the link went */
    mj_leave_dom *d = dom_get(tr, domain, len, 0);
    if (d == NULL)
        return;
    d->losses++;
    /* the leaves sent over it whose answer has not come may have been
     * lost with it (no stream management between servers): owed again,
     * in the order sent, unless sent MJ_LEAVE_SENDS times; an answer that
     * comes yet carries the send's id (mj_leaves_waiting()) */
    size_t n = 0;
    mj_leave *next;
    for (mj_leave *l = d->owed_tail != NULL ? d->owed_tail->dnext : d->head;
         l != NULL && l != d->spent; l = next) {
        next = l->dnext; /* sent fewer than MJ_LEAVE_SENDS times: the
                            spent ones are kept last, never walked */
        owe_again(tr, l);
        n++;
    }
    if (n != 0)
        mj_log(tr, MJ_LOG_DEBUG,
               "the link to %.*s was lost: %zu leave%s sent again over it, "
               "not answered, owed again",
               (int)len, domain, n, n == 1 ? "" : "s");
}

mj_leave *mj_leaves_waiting(mj_tracker *tr, mj_session *s, const char *room,
                            size_t rlen, mj_str id, int *lost, int *ours)
{
    if (tr->leaves.tried == 0 || sess_get(tr, s, 0) == NULL)
        return NULL; /* a branch, or a lookup by the session's own hash */
    struct leave_key k = {s, room, rlen};
    uint64_t h;
    mj_leave *l = find(tr, &k, &h);
    if (l == NULL)
        return NULL;
    if (!l->sent) {
        /* owed again (a bounce, or the link lost since the send), or
         * done: only what carries the id of one of its sends still
         * answers it */
        if (l->sends == 0 || !carries_id(l, id))
            return NULL;
        *lost = 1;
        *ours = 1;
        return l;
    }
    *lost = l->dom->losses != l->losses;
    *ours = carries_id(l, id);
    return l;
}

void mj_leaves_answered(mj_tracker *tr, mj_leave *l, int bounced)
{
    mj_session *s = l->ls->s;
    if (!bounced || l->done) {
        mj_log(tr, MJ_LOG_DEBUG, "%.*s: %s answered the leave sent again%s",
               (int)s->jid_len, s->jid, l->s_,
               l->done ? " (before the session came back)"
                       : ": it reached the room");
        leave_free(tr, l); /* the leave reached the room, or the session
                              came back to it since: nothing to send */
        return;
    }
    if (!l->sent)
        return; /* owed again already (the link was lost since) */
    /* bounced again (the link came up from the room's side only): owed
     * again, for the next link up, unless it was sent MJ_LEAVE_SENDS
     * times (a domain that connects to us and refuses our connections
     * would have it sent at each of its streams) */
    if (l->sends >= MJ_LEAVE_SENDS) {
        mj_log(tr, MJ_LOG_DEBUG,
               "%.*s: the leave sent again to %s was bounced on the way "
               "%d times: not sent again",
               (int)s->jid_len, s->jid, l->s_, (int)l->sends);
        leave_free(tr, l);
        return;
    }
    owe_again(tr, l);
    mj_log(tr, MJ_LOG_DEBUG,
           "%.*s: the leave sent again to %s was bounced on the way too: "
           "sent again when a link to %s comes up",
           (int)s->jid_len, s->jid, l->s_, l->dom->name);
}

/* The done record of s for room (NULL: none). */
static mj_leave *done_record(mj_tracker *tr, mj_session *s, const char *room,
                             size_t rlen)
{
    if (sess_get(tr, s, 0) == NULL)
        return NULL; /* a lookup by the session's own hash */
    struct leave_key k = {s, room, rlen};
    uint64_t h;
    mj_leave *l = find(tr, &k, &h);
    return l != NULL && l->done ? l : NULL;
}

int mj_leaves_answer_rejoined(mj_tracker *tr, mj_session *s, const char *room,
                              size_t rlen, mj_str id)
{
    if (id.len != MJ_LEAVE_ID_LEN)
        return 0; /* a length */
    mj_leave *l = done_record(tr, s, room, rlen);
    if (l == NULL || !carries_id(l, id))
        return 0;
    mj_log(tr, MJ_LOG_DEBUG,
           "%.*s: %s answered the leave sent again before the session's "
           "rejoin: not the rejoin's answer",
           (int)s->jid_len, s->jid, l->s_);
    leave_free(tr, l);
    return 1;
}

void mj_leaves_rejoin_answered(mj_tracker *tr, mj_session *s, const char *room,
                               size_t rlen)
{
    mj_leave *l = done_record(tr, s, room, rlen);
    if (l == NULL)
        return;
    mj_log(tr, MJ_LOG_DEBUG,
           "%.*s: %s answered the session's rejoin: the leave sent again "
           "before it was answered before, or ignored",
           (int)s->jid_len, s->jid, l->s_);
    leave_free(tr, l);
}

void mj_leaves_rejoin_bounced(mj_tracker *tr, mj_session *s, const char *room,
                              size_t rlen)
{
    mj_leave *l = done_record(tr, s, room, rlen);
    if (l == NULL)
        return;
    if (l->sends >= MJ_LEAVE_SENDS) {
        leave_free(tr, l); /* sent that many times: never owed again */
        return;
    }
    /* owed again, as a leave sent over a link lost before its answer
     * (mj_leaves_link_lost(), owe_again()); an answer to an earlier send
     * still carries its id */
    l->done = 0;
    l->join_key = 0;
    tr->leaves.done--;
    move_to_owed(l);
    mj_log(tr, MJ_LOG_DEBUG,
           "%.*s: our server bounced the rejoin of %s: the leave sent again "
           "before it is owed again",
           (int)s->jid_len, s->jid, l->s_);
}

int mj_leaves_ghosts_word(mj_tracker *tr, mj_session *s, const char *room,
                          size_t rlen, uint64_t key)
{
    const mj_leave *l = done_record(tr, s, room, rlen);
    return l != NULL && l->join_key != 0 && key != l->join_key;
}

void mj_leaves_expire(mj_tracker *tr, double now)
{
    while (tr->leaves.head != NULL && tr->leaves.head->until <= now)
        leave_free(tr, tr->leaves.head);
}

void mj_leaves_retime(mj_tracker *tr, double delta)
{
    for (mj_leave *l = tr->leaves.head; l != NULL; l = l->tnext)
        l->until += delta;
}

void mj_leaves_free(mj_tracker *tr)
{
    mj_leaves *set = &tr->leaves;
    while (set->head != NULL)
        leave_free(tr, set->head);
    mj_table_free(tr, &set->table);
    mj_table_free(tr, &set->doms);
    mj_table_free(tr, &set->sessions);
}
