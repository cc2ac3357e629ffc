/* Ghost joins: when to self-ping (XEP-0410) and what the answer means
 * (docs/semantics.md §5). The caller sends the iq when MJ_EV_PING_NEEDED fires
 * and hands the answer back; this file decides everything else: debouncing
 * link losses, one outstanding ping per (session, room), a budget per remote
 * domain, timeouts, bounded retries with exponential backoff, stale
 * answers, and the verdict. */
#include <math.h>
#include <string.h>

#include "env.h"
#include "hash.h"
#include "jid.h"
#include "leaves.h"
#include "selfping.h"
#include "store.h"
#include "target.h"

/* The queue may send: put the domain on the ready list (once). */
static void dom_ready(mj_tracker *tr, mj_domain *d)
{
    if (d->ready || d->qhead == NULL || d->outstanding >= tr->cfg.ping_budget)
        return;
    d->ready = 1;
    d->rnext = tr->ready;
    tr->ready = d;
}

/* The least time between two link-up visits of a domain (up_walk()):
 * ping_start_delay, as link losses' checks, but at least 1 s (0 would be
 * no bound) and at most 10 minutes (an infinite delay would defer a
 * visit for good: link ups must still ask). Always finite. */
static double up_interval(const mj_tracker *tr)
{
    double t = tr->cfg.ping_start_delay;

    if (!(t >= 1)) /* also NaN */
        return 1;
    return t < 600 ? t : 600;
}

/* Put d (off the list) on tr->checks, after the last check due no later
 * than d->check_due: appended (O(1)) as long as the clock does not go
 * back (a lowered ping_start_delay brought the later checks forward
 * already: mj_pings_configured()); else placed from the tail. */
static void checks_insert(mj_tracker *tr, mj_domain *d)
{
    mj_domain *n = tr->checks_tail;

    while (n != NULL && n->check_due > d->check_due)
        n = n->cprev;
    /* after n (NULL: at the head) */
    d->cprev = n;
    d->cnext = n != NULL ? n->cnext : tr->checks;
    if (d->cnext != NULL)
        d->cnext->cprev = d;
    else
        tr->checks_tail = d;
    if (n != NULL)
        n->cnext = d;
    else
        tr->checks = d;
}

/* A new configuration: queues may send (a larger budget), and what waits
 * on ping_start_delay waits no longer than the new one from now: each
 * link check due later (one made under an infinite delay, due at +inf,
 * kept its domain's losses debounced for good) falls due the
 * new delay from now, and each link up's deferred visit due later the
 * new up_interval() from now. Both lists are in due order and stay so
 * (the later ones, a tail, all move to the same time), and the checks and
 * visits added afterwards, due at least that late, are appended in O(1)
 * again: with the old times kept, each of them looked for its place
 * among every one made under the longer delay (quadratic in remote link
 * losses or ups). The walk is over the entries moved. */
void mj_pings_configured(mj_tracker *tr)
{
    double now = mj_now(tr), by = now + tr->cfg.ping_start_delay;
    double up_by = now + up_interval(tr);
    mj_domain *n;

    for (size_t i = 0; i < tr->domains.cap; i++)
        if (tr->domains.slots[i] != NULL)
            dom_ready(tr, tr->domains.slots[i]);
    if (isfinite(by))
        for (n = tr->checks_tail; n != NULL && !(n->check_due <= by);
             n = n->cprev)
            n->check_due = by;
    for (n = tr->ups_tail; n != NULL && !(n->up_due <= up_by); n = n->uprev)
        n->up_due = up_by;
}

static void q_push(mj_domain *d, mj_ping *p)
{
    p->qnext = NULL;
    p->qprev = d->qtail;
    if (d->qtail)
        d->qtail->qnext = p;
    else
        d->qhead = p;
    d->qtail = p;
    p->queued = 1;
}

static void q_remove(mj_domain *d, mj_ping *p)
{
    if (p->qprev)
        p->qprev->qnext = p->qnext;
    else
        d->qhead = p->qnext;
    if (p->qnext)
        p->qnext->qprev = p->qprev;
    else
        d->qtail = p->qprev;
    p->qprev = p->qnext = NULL;
    p->queued = 0;
}

/* ---- the heap of pings, by when something is next due ------------------ */

static double key_of(const mj_ping *p)
{
    if (p->id != 0)
        return p->deadline;
    return p->due == INFINITY ? p->rest_until : p->due;
}

static void heap_set(mj_tracker *tr, size_t i, mj_ping *p)
{
    tr->heap[i] = p;
    p->heap = (uint32_t)(i + 1);
}

static void sift_up(mj_tracker *tr, size_t i)
{
    mj_ping *p = tr->heap[i];
    double k = key_of(p);
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!(k < key_of(tr->heap[up])))
            break;
        heap_set(tr, i, tr->heap[up]);
        i = up;
    }
    heap_set(tr, i, p);
}

static void sift_down(mj_tracker *tr, size_t i)
{
    mj_ping *p = tr->heap[i];
    double k = key_of(p);
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= tr->nheap)
            break;
        if (c + 1 < tr->nheap && key_of(tr->heap[c + 1]) < key_of(tr->heap[c]))
            c++;
        if (!(key_of(tr->heap[c]) < k))
            break;
        heap_set(tr, i, tr->heap[c]);
        i = c;
    }
    heap_set(tr, i, p);
}

/* capheap >= npings always holds, so there is room. */
static void heap_push(mj_tracker *tr, mj_ping *p)
{
    tr->heap[tr->nheap++] = p;
    sift_up(tr, tr->nheap - 1);
}

static void heap_remove(mj_tracker *tr, mj_ping *p)
{
    size_t i = (size_t)p->heap - 1;
    mj_ping *last = tr->heap[--tr->nheap];
    p->heap = 0;
    if (last == p)
        return;
    heap_set(tr, i, last);
    sift_up(tr, i);
    sift_down(tr, (size_t)last->heap - 1);
}

/* The key of p (in the heap) changed. */
static void heap_fix(mj_tracker *tr, mj_ping *p)
{
    sift_up(tr, (size_t)p->heap - 1);
    sift_down(tr, (size_t)p->heap - 1);
}

/* Room in the heap for one more ping record. */
static int heap_reserve(mj_tracker *tr)
{
    if (tr->npings + 1 <= tr->capheap)
        return MJ_OK;
    size_t ncap = tr->capheap ? 2 * tr->capheap : 16;
    mj_ping **h = mj_alloc(tr, ncap * sizeof *h);
    if (h == NULL)
        return MJ_ENOMEM;
    if (tr->nheap)
        memcpy(h, tr->heap, tr->nheap * sizeof *h);
    mj_free(tr, tr->heap, tr->capheap * sizeof *h);
    tr->heap = h;
    tr->capheap = ncap;
    return MJ_OK;
}

/* After a record is freed: give memory back when the heap is mostly
 * empty (a burst of pings leaves nothing behind). */
static void heap_trim(mj_tracker *tr)
{
    if (tr->npings == 0) {
        mj_free(tr, tr->heap, tr->capheap * sizeof *tr->heap);
        tr->heap = NULL;
        tr->capheap = 0;
        return;
    }
    if (tr->capheap > 64 && tr->npings < tr->capheap / 4) {
        size_t ncap = tr->capheap / 2;
        mj_ping **h = mj_alloc(tr, ncap * sizeof *h);
        if (h == NULL)
            return; /* keep the larger one */
        memcpy(h, tr->heap, tr->nheap * sizeof *h);
        mj_free(tr, tr->heap, tr->capheap * sizeof *h);
        tr->heap = h;
        tr->capheap = ncap;
    }
}

/* ---- ping records ---------------------------------------------------------
 */

/* Take p out of wherever it is (heap, queue, parked). */
static void ping_detach(mj_tracker *tr, mj_ping *p)
{
    if (p->heap)
        heap_remove(tr, p);
    else if (p->queued)
        q_remove(mj_entry_room(p->e)->dom, p);
    p->parked = 0;
}

/* The outstanding ping ends (answer, timeout, drop): the budget frees. */
static void ping_settle(mj_tracker *tr, mj_ping *p)
{
    if (p->id == 0)
        return;
    mj_domain *d = mj_entry_room(p->e)->dom;
    p->id = 0;
    d->outstanding--;
    tr->outstanding--;
    dom_ready(tr, d);
}

void mj_ping_drop(mj_entry *e)
{
    mj_ping_forget(e);
    mj_entry_aux_trim(e);
}

void mj_ping_forget(mj_entry *e)
{
    mj_ping *p = mj_entry_ping(e);
    if (p == NULL)
        return;
    mj_tracker *tr = e->sess->tr;
    /* a round after a give-up dropped unanswered (a join sent again, a
     * restore, self_ping turned off): nothing settled the give-up, so
     * the next link up must still ask. A resting record (due INFINITY)
     * was marked when it gave up; a verdict clears the mark first. */
    if (e->gave_up && p->due != INFINITY)
        mj_entry_room(e)->dom->gave_up = 1;
    ping_detach(tr, p);
    ping_settle(tr, p);
    mj_entry_aux_of(e)->ping = NULL;
    mj_free(tr, p, sizeof *p);
    tr->npings--;
    heap_trim(tr);
}

static void retry_or_give_up(mj_ping *p, double now);

void mj_ping_restale(mj_entry *e)
{
    mj_ping *p = mj_entry_ping(e);
    if (p == NULL || p->id == 0)
        return; /* nothing out: what is scheduled, queued or parked stays */
    mj_tracker *tr = e->sess->tr;
    ping_detach(tr, p);
    ping_settle(tr, p); /* its id is gone: its answer is stale */
    /* nothing has answered the question yet: a try spent, as after an
     * unknown answer (one ping per backoff however many joins the client
     * sends, parked while CHANGING; and a round ends, resting, after
     * ping_retries of them: a client retrying its join to a room that
     * never answers was pinged for good) */
    retry_or_give_up(p, mj_now(tr));
}

/* The key of a nick a ping goes to, or an answer comes from: a keyed
 * hash of its Resourceprep form (of its bytes when it does not prepare),
 * so that nicks equal after preparation (mj_nick_equal) have one key. */
static uint64_t nick_key(const mj_tracker *tr, mj_str nick)
{
    char buf[MJ_PART_MAX + 1];
    size_t len;
    if (nick.ptr == NULL)
        return 0;
    if (!mj_res_plain(nick.ptr, nick.len) &&
        mj_prep_part(MJ_PROFILE_RESOURCE, nick.ptr, nick.len, buf, sizeof buf,
                     &len) == MJ_OK)
        nick = mj_str_of(buf, len);
    return mj_siphash(&tr->key, nick.ptr, nick.len) | 1;
}

/* Send now if the state and the domain's budget allow; else it waits in
 * the domain's queue (behind the pings already there, unless it is the
 * queue's own head: from_queue) or is parked. p is detached. */
static void try_send(mj_ping *p, double now, int from_queue)
{
    mj_entry *e = p->e;
    mj_tracker *tr = e->sess->tr;
    mj_domain *d = mj_entry_room(e)->dom;
    if (!tr->cfg.self_ping) {
        /* turned off since it was scheduled (mj_tracker_configure): no
         * retry, nothing from the queue */
        mj_ping_drop(e);
        return;
    }
    switch ((mj_state)e->state) {
    case MJ_S_JOINED:
    case MJ_S_EXPECTING:
        break;
    case MJ_S_PENDING:
    case MJ_S_CHANGING:
        /* no ping while the room is answering us anyway; back when the
         * state changes */
        p->parked = 1;
        return;
    case MJ_S_LEAVING:
    case MJ_S_NONE:
        mj_ping_drop(e);
        return;
    }
    if (d->outstanding >= tr->cfg.ping_budget ||
        (!from_queue && d->qhead != NULL)) {
        q_push(d, p);
        return;
    }
    if (++tr->last_ping_id == 0)
        tr->last_ping_id = 1;
    p->id = tr->last_ping_id;
    p->deadline = now + tr->cfg.ping_timeout;
    /* where it goes: the nick the event names (mj_emit()) */
    p->to_key = nick_key(tr, mj_entry_ping_nick(e));
    p->up_epoch = d->up_epoch;
    p->down_epoch = d->down_epoch;
    d->outstanding++;
    tr->outstanding++;
    heap_push(tr, p);
    tr->st.pings_sent++;
    mj_emit(e, MJ_EV_PING_NEEDED, MJ_R_NONE, mj_str_none(), mj_str_none(),
            mj_str_none(), mj_str_none());
}

void mj_ping_state_changed(mj_entry *e)
{
    mj_ping *p = mj_entry_ping(e);
    if (p == NULL || !p->parked)
        return;
    p->parked = 0;
    heap_push(e->sess->tr, p); /* due already: the next tick decides */
}

/* Schedule a ping of e at time due (keeping an earlier schedule). A link
 * loss (from_link) does not wake an entry resting after a give-up. */
static void schedule(mj_entry *e, double due, int from_link)
{
    mj_tracker *tr = e->sess->tr;
    mj_ping *p = mj_entry_ping(e);
    if (p != NULL) {
        if (p->id != 0 || p->queued || p->parked)
            return; /* outstanding (one per (session, room)), or due */
        if (p->due == INFINITY) { /* resting after a give-up */
            if (from_link && due < p->rest_until)
                return;
            p->tries = 0; /* a new round */
            p->relinked = 0;
            p->due = due;
            heap_fix(tr, p);
            return;
        }
        if (!from_link && due < p->due) {
            p->due = due; /* waiting to retry: a direct sign pulls it in */
            heap_fix(tr, p);
        }
        return;
    }
    p = heap_reserve(tr) == MJ_OK && mj_entry_aux(e) == MJ_OK
            ? mj_alloc(tr, sizeof *p)
            : NULL;
    if (p == NULL) {
        mj_entry_aux_trim(e);
        mj_log(tr, MJ_LOG_WARN, "out of memory: self-ping of %s skipped",
               mj_entry_room(e)->s);
        return;
    }
    memset(p, 0, sizeof *p);
    p->e = e;
    p->due = due;
    p->rest_until = -INFINITY;
    mj_entry_aux_of(e)->ping = p;
    tr->npings++;
    heap_push(tr, p);
}

void mj_ping_request(mj_entry *e)
{
    mj_tracker *tr = e->sess->tr;
    if (!tr->cfg.self_ping)
        return;
    double now = mj_now(tr);
    schedule(e, now, 0);
    mj_ping *p = mj_entry_ping(e);
    if (p != NULL && p->id == 0 && p->heap && p->due <= now) {
        heap_remove(tr, p);
        try_send(p, now, 0);
    }
}

/* The room said nothing about membership: retry later, boundedly. p is
 * outstanding and detached; it goes back to the heap. */
static void unknown(mj_ping *p, double now)
{
    mj_tracker *tr = p->e->sess->tr;
    tr->st.pings_unknown++;
    ping_settle(tr, p);
    retry_or_give_up(p, now);
}

/* Give-ups logged at info per domain within MJ_GIVE_UP_WINDOW seconds;
 * the rest at debug. */
#define MJ_GIVE_UP_LOGS   10
#define MJ_GIVE_UP_WINDOW 60

/* A round of p's self-pings gave up: logged at info, where an operator
 * sees it (the entry stays shown though nothing confirmed it), once per
 * round, none per retry. Bounded per domain: a hostile room makes a
 * round give up in a dozen stanzas (docs/semantics.md §5), and each
 * round would be a line; past MJ_GIVE_UP_LOGS lines
 * in MJ_GIVE_UP_WINDOW seconds its domain's further give-ups go to debug
 * until the window ends (counted in pings_given_up all the same), the
 * last info line saying so. */
static void log_give_up(mj_ping *p, double now)
{
    mj_entry *e = p->e;
    mj_tracker *tr = e->sess->tr;
    mj_domain *d = mj_entry_room(e)->dom;
    mj_log_level level = MJ_LOG_DEBUG;
    const char *more = "";
    char opt[MJ_OPTION_NAME_CAP];

    if (!(now < d->give_up_until)) {
        d->give_up_until = now + MJ_GIVE_UP_WINDOW;
        d->give_up_logs = 0;
    }
    if (d->give_up_logs < MJ_GIVE_UP_LOGS) {
        level = MJ_LOG_INFO;
        if (++d->give_up_logs == MJ_GIVE_UP_LOGS)
            more = " (further give-ups on this domain within a minute are "
                   "logged at debug level)";
    }
    mj_log(tr, level,
           "%.*s: self-ping of %s unanswered %u times (no answer said "
           "whether the session is in it; %s = %u): keeping the entry, "
           "asked again when a link to %s comes up%s",
           (int)e->sess->jid_len, e->sess->jid, mj_entry_room(e)->s, p->tries,
           mj_option_name(tr, "ping_retries", opt), tr->cfg.ping_retries,
           d->name, more);
}

/* A try of p (settled, detached) ended without a verdict: the next after
 * the backoff, doubling, or, after ping_retries, the round gives up and
 * rests. */
static void retry_or_give_up(mj_ping *p, double now)
{
    mj_entry *e = p->e;
    mj_tracker *tr = e->sess->tr;
    double delay = tr->cfg.ping_backoff;
    /* (a zero backoff stays zero: no doubling, whatever the tries) */
    for (uint32_t i = 1; i < p->tries + 1 && delay > 0 && delay < 86400; i++)
        delay *= 2;
    /* a link of the domain came up while this ping was out: its bounce
     * or timeout may be the old path's, and a link up after a give-up is
     * the only thing that asks again. Not the end of the round: one
     * more try, over the new link. Once a round: the link a ping itself
     * opens (no link to the domain when it was sent) comes up while it
     * is out too, and a room that never answers, behind a link that
     * closes between tries, would otherwise be asked for good */
    int relinked =
        p->up_epoch != mj_entry_room(e)->dom->up_epoch && !p->relinked;
    if (++p->tries > tr->cfg.ping_retries && relinked) {
        p->tries = tr->cfg.ping_retries;
        p->relinked = 1;
    }
    if (p->tries > tr->cfg.ping_retries) {
        tr->st.pings_given_up++;
        e->gave_up = 1; /* mj_tracker_link_up() asks again */
        mj_entry_room(e)->dom->gave_up = 1;
        log_give_up(p, now);
        /* rest as long as the next retry would have waited: further link
         * losses in that time do not start another round */
        p->due = INFINITY;
        p->rest_until = now + delay;
    } else {
        p->due = now + delay;
    }
    heap_push(tr, p);
}

/* ---- link losses -------------------------------------------------------- */

/* The record of a link's domain (need not be prepared): MJ_OK with *out
 * set (NULL: no tracked room is on it) and the prepared name in buf
 * (MJ_PART_MAX + 1 bytes; *plen of them), or the preparation's error. */
static int link_domain(mj_tracker *tr, const char *domain, size_t len,
                       mj_domain **out, char *buf, size_t *plen_out)
{
    size_t plen;
    uint64_t h;
    *out = NULL;
    if (tr == NULL || domain == NULL)
        return MJ_EINVAL;
    if (MJ_IN_HOOK(tr))
        return MJ_EBUSY;
    if (len > 0 && domain[len - 1] == '.')
        len--;
    int rc = mj_prep_part(MJ_PROFILE_NAME, domain, len, buf, MJ_PART_MAX + 1,
                          &plen);
    if (rc != MJ_OK)
        return rc;
    /* a domain, not nothing nor a JID with a node or a resource (as
     * prepared: nameprep maps U+FF20 to '@') */
    if (plen == 0 || memchr(buf, '@', plen) != NULL ||
        memchr(buf, '/', plen) != NULL)
        return MJ_EJID;
    *out = mj_domain_find(tr, mj_str_of(buf, plen), &h);
    *plen_out = plen;
    return MJ_OK;
}

/* Put d on tr->ups (not on it), due at now + up_interval(): appended
 * (O(1)), the list being in due order, as long as the clock does not go
 * back (a lowered interval brought the later visits forward already:
 * mj_pings_configured()); else placed from the tail. */
static void ups_insert(mj_tracker *tr, mj_domain *d, double due)
{
    mj_domain *n = tr->ups_tail;

    d->up_check = 1;
    d->up_due = due;
    while (n != NULL && n->up_due > due)
        n = n->uprev;
    /* after n (NULL: at the head) */
    d->uprev = n;
    d->unext = n != NULL ? n->unext : tr->ups;
    if (d->unext != NULL)
        d->unext->uprev = d;
    else
        tr->ups_tail = d;
    if (n != NULL)
        n->unext = d;
    else
        tr->ups = d;
}

/* A link up's walk (mj_tracker_link_up): the domain's entries whose
 * check gave up, each asked again as a new round once its rest is over.
 * It visits every entry on the domain: mj_tracker_link_up() runs it at
 * most once per up_interval(). */
static void up_walk(mj_tracker *tr, mj_domain *d, double now)
{
    d->gave_up = 0;
    d->up_walk_at = now;
    /* The entries keep their marks: only an answer settles a give-up
     * (settle(), a self-presence). A round dropped unanswered marks the
     * domain again (mj_ping_drop), as a new give-up does; a round under
     * way is left alone (schedule()). */
    for (mj_istr *r = d->room_list; r != NULL; r = r->dnext)
        for (mj_entry *e = mj_room_first(tr, r); e != NULL;
             e = mj_room_next(tr, e)) {
            if (!e->gave_up || !e->has_nick || e->state == MJ_S_LEAVING)
                continue; /* PENDING, LEAVING: their answers settle them */
            mj_ping *p = mj_entry_ping(e);
            double due = now;
            if (p != NULL && p->due == INFINITY && p->rest_until > now)
                due = p->rest_until; /* resting: the new round after it */
            schedule(e, due, 1);
            if (mj_entry_ping(e) == NULL)
                d->gave_up = 1; /* no memory: the next link up asks */
        }
}

/* A link to the domain was (re)established. Every entry on it whose
 * check gave up since (the path bounced or timed out: the server could
 * not be reached, and Prosody reports no loss of a link that never
 * authenticated) is asked again as a new round, once its rest is over
 * (so link ups cannot ask more often than link losses): a ghost left by
 * an outage longer than the retries is found once the server is back.
 * The domain's other entries are left alone, and a domain where nothing
 * gave up costs a lookup. Finding the marked entries visits the whole
 * domain, and a hostile room can make one give up in a dozen stanzas
 * while its server opens a stream per link up: a walk within
 * up_interval() (ping_start_delay) of the last one waits on tr->ups
 * until that much after this link up (one per domain), whatever the
 * number of link ups. */
int mj_tracker_link_up(mj_tracker *tr, const char *domain, size_t len)
{
    char name[MJ_PART_MAX + 1];
    size_t nlen;
    mj_domain *d;
    int rc = link_domain(tr, domain, len, &d, name, &nlen);
    if (rc != MJ_OK)
        return rc;
    /* the leaves our server bounced while the link was down, first: a
     * lookup when none is owed (leaves.h) */
    mj_leaves_link_up(tr, name, nlen);
    if (d != NULL)
        d->up_epoch++; /* the pings out now went over the old path */
    /* self_ping off: nothing can be asked; the marks wait for it */
    if (d == NULL || !d->gave_up || !tr->cfg.self_ping)
        return MJ_OK;
    if (d->up_check)
        return MJ_OK; /* a visit waits already */
    double now = mj_now(tr), interval = up_interval(tr);
    /* (never visited: up_walk_at -INFINITY, now - it is +INFINITY) */
    if (!(now - d->up_walk_at < interval) || d->rooms == 0) {
        up_walk(tr, d, now);
        return MJ_OK;
    }
    ups_insert(tr, d, now + interval);
    return MJ_OK;
}

int mj_tracker_link_lost(mj_tracker *tr, const char *domain, size_t len)
{
    char name[MJ_PART_MAX + 1];
    size_t nlen;
    mj_domain *d;
    int rc = link_domain(tr, domain, len, &d, name, &nlen);
    if (rc != MJ_OK)
        return rc;
    if (d != NULL) {
        d->down_epoch++; /* the pings out now may come back as bounces */
        d->lost_at = mj_now(tr); /* and the leaves sent (mj_leave_bounced) */
    }
    mj_leaves_link_lost(tr, name, nlen); /* a branch when none is sent */
    /* Only a domain some tracked room is on has anything to check: any
     * other loss costs this lookup and leaves nothing behind, so the
     * pending checks are at most one per such domain. */
    if (d == NULL || d->rooms == 0 || d->check)
        return MJ_OK; /* nothing to check, or debounced */
    d->check = 1;
    d->check_due = mj_now(tr) + tr->cfg.ping_start_delay;
    checks_insert(tr, d);
    return MJ_OK;
}

/* The due link checks: schedule a ping of every shown room on their
 * domains, every session. Each domain lists its interned rooms and each
 * room its entries, so the work is the entries on those domains, not
 * everything tracked. */
static void run_checks(mj_tracker *tr, double now)
{
    mj_domain *due = NULL;
    while (tr->checks != NULL && tr->checks->check_due <= now) {
        mj_domain *d = tr->checks;
        tr->checks = d->cnext;
        if (tr->checks == NULL)
            tr->checks_tail = NULL;
        else
            tr->checks->cprev = NULL;
        d->check = 0;
        d->fire = 1;
        d->cnext = due;
        due = d;
    }
    /* the link ups' deferred visits (a domain on tr->ups has rooms, or
     * is on tr->ready: its last room going takes it off, or the ready
     * loop's release once its queue is done) */
    while (tr->ups != NULL && tr->ups->up_due <= now) {
        mj_domain *d = tr->ups;
        tr->ups = d->unext;
        if (tr->ups == NULL)
            tr->ups_tail = NULL;
        else
            tr->ups->uprev = NULL;
        d->up_check = 0;
        /* self_ping off: the marks wait, as at a link up */
        if (tr->cfg.self_ping && d->gave_up)
            up_walk(tr, d, now);
    }
    if (due == NULL)
        return;
    if (tr->cfg.self_ping) {
        /* the rooms on those domains and their entries only */
        for (mj_domain *d = due; d != NULL; d = d->cnext)
            for (mj_istr *r = d->room_list; r != NULL; r = r->dnext)
                for (mj_entry *e = mj_room_first(tr, r); e != NULL;
                     e = mj_room_next(tr, e))
                    if (e->has_nick && e->state != MJ_S_LEAVING)
                        schedule(e, now, 1);
    }
    while (due != NULL) {
        mj_domain *d = due;
        due = d->cnext;
        d->fire = 0;
        mj_domain_release(tr, d);
    }
}

void mj_pings_tick(mj_tracker *tr, double now)
{
    run_checks(tr, now);
    /* What is due now, taken out first: a ping rescheduled at now (a
     * backoff or timeout of 0) waits for the next tick. Timeouts first,
     * then sends, so that the budget they free is used. */
    mj_ping *late = NULL, *go = NULL;
    while (tr->nheap > 0 && key_of(tr->heap[0]) <= now) {
        mj_ping *p = tr->heap[0];
        heap_remove(tr, p);
        if (p->id != 0) {
            p->qnext = late;
            late = p;
        } else {
            p->qnext = go;
            go = p;
        }
    }
    while (late != NULL) {
        mj_ping *p = late;
        late = p->qnext;
        p->qnext = NULL;
        unknown(p, now); /* our own timeout */
    }
    while (go != NULL) {
        mj_ping *p = go;
        go = p->qnext;
        p->qnext = NULL;
        if (p->due == INFINITY)
            mj_ping_drop(p->e); /* rested: forget it */
        else
            try_send(p, now, 0);
    }
    mj_pings_send_ready(tr, now);
}

/* Domains whose budget freed up send from their queues. */
void mj_pings_send_ready(mj_tracker *tr, double now)
{
    while (tr->ready != NULL) {
        mj_domain *d = tr->ready;
        tr->ready = d->rnext;
        d->ready = 0;
        while (d->qhead != NULL && d->outstanding < tr->cfg.ping_budget) {
            mj_ping *p = d->qhead;
            q_remove(d, p);
            try_send(p, now, 1);
        }
        mj_domain_release(tr, d);
    }
}

void mj_pings_free(mj_tracker *tr)
{
    /* pings belong to entries, freed with them; what is left are domains
     * kept by a pending check */
    for (size_t i = 0; i < tr->domains.cap; i++) {
        mj_domain *d = tr->domains.slots[i];
        if (d != NULL)
            mj_free(tr, d, sizeof *d + d->len + 1);
    }
    mj_table_free(tr, &tr->domains);
    mj_free(tr, tr->heap, tr->capheap * sizeof *tr->heap);
    tr->heap = NULL;
    tr->nheap = tr->capheap = 0;
    tr->checks = tr->checks_tail = tr->ready = NULL;
    tr->ups = tr->ups_tail = NULL;
}

/* ---- answers ------------------------------------------------------------ */

static int is(mj_str s, const char *lit)
{
    return s.ptr != NULL && s.len == strlen(lit) &&
           memcmp(s.ptr, lit, s.len) == 0;
}

static int same(const char *p, size_t len, mj_str want)
{
    return len == want.len && memcmp(p, want.ptr, len) == 0;
}

/* Whom an error's by names, for a ping of entry e: prepared once per
 * stanza (anyone on the path chooses its bytes), then compared. */
enum by_who {
    BY_NONE = 0,    /* none, or one that names no one (empty, not a JID) */
    BY_OTHER,       /* anyone else */
    BY_USER_DOMAIN, /* the session's own server: the path answered */
    BY_ROOM,        /* the room */
    BY_ROOM_DOMAIN  /* the room's service */
};

static enum by_who by_who_room(const mj_session *s, mj_str room, mj_str by)
{
    char buf[3 * MJ_PART_MAX + 3];
    size_t len;
    mj_str user_bare = mj_str_of(mj_session_pjid(s), mj_session_bare_len(s));

    if (by.ptr == NULL ||
        mj_jid_prep(by.ptr, by.len, buf, sizeof buf, &len) != MJ_OK ||
        len == 0)
        return BY_NONE;
    if (same(buf, len, mj_domain_of(user_bare.ptr, user_bare.len)))
        return BY_USER_DOMAIN;
    if (same(buf, len, room))
        return BY_ROOM;
    if (same(buf, len, mj_domain_of(room.ptr, room.len)))
        return BY_ROOM_DOMAIN;
    return BY_OTHER;
}

static enum by_who by_who(const mj_session *s, const mj_entry *e, mj_str by)
{
    return by_who_room(
        s, mj_str_of(mj_entry_room(e)->s, mj_entry_room(e)->len), by);
}

/* What the room's disco#info, asked from the session's JID, said. */
enum room_info {
    INFO_NONE = -1,     /* not asked, no answer, or an answer of the path */
    INFO_PLAIN = 0,     /* a result without self-ping optimisation */
    INFO_OPTIMIZED = 1, /* a result listing muc#self-ping-optimization */
    INFO_ABSENT = 2     /* an error from the room: it does not exist */
};

/* Did the path to the room (our server, the link), not the room, answer
 * with this error (by: by_who() of its by)? lost: the room's domain lost
 * its link after the ping went out. Then recipient-unavailable is what
 * Prosody 0.12's mod_smacks bounces, from the ping's to and without a
 * by, for what the closing server-to-server link (with stream
 * management) had not got acknowledged, right after the loss (taken for
 * the room's, every room whose ping was out on it became a ghost). Otherwise
 * it is the room's: biboumi answers so for a user whose IRC connection is gone
 * (a ghost). */
static int path_error(const mj_stanza *a, enum by_who by, int lost)
{
    mj_str cond = a->error_condition;
    return is(a->error_type, "wait") || by == BY_USER_DOMAIN ||
           is(cond, "remote-server-not-found") ||
           is(cond, "remote-server-timeout") ||
           (lost && is(cond, "recipient-unavailable"));
}

int mj_leave_bounced(const mj_entry *e, const mj_stanza *st)
{
    const mj_domain *d = mj_entry_room(e)->dom;
    const mj_istr *r = mj_entry_room(e);
    /* LEAVING began when the leave was sent (its since) */
    return mj_leave_path_bounced(e->sess, mj_str_of(r->s, r->len),
                                 d != NULL && d->lost_at >= mj_entry_since(e),
                                 st);
}

int mj_leave_path_bounced(const mj_session *s, mj_str room, int lost,
                          const mj_stanza *st)
{
    enum by_who by = by_who_room(s, room, st->error_by);
    mj_str cond = st->error_condition;
    /* Stricter than a ping's answer (path_error()), where a wrong "the
     * path's" costs only an unknown: here it makes a record and a leave
     * sent later. An error that names the room, its service or anyone
     * else as its author is theirs; an error of type wait is the path's
     * only after a link loss. */
    if (by == BY_ROOM || by == BY_ROOM_DOMAIN || by == BY_OTHER)
        return 0;
    return by == BY_USER_DOMAIN || is(cond, "remote-server-not-found") ||
           is(cond, "remote-server-timeout") ||
           (lost &&
            (is(cond, "recipient-unavailable") || is(st->error_type, "wait")));
}

/* The domain of e's room lost its link since e's outstanding ping went
 * out (path_error()). */
static int lost_since_sent(const mj_entry *e)
{
    const mj_ping *p = mj_entry_ping(e);
    const mj_domain *d = mj_entry_room(e)->dom;
    return p != NULL && d != NULL && p->down_epoch != d->down_epoch;
}

/* The answer table of docs/semantics.md §5 (in full: docs/state-machine.md,
 * "Self-ping answers"); info: an enum room_info; by: by_who() of the
 * answer's by. */
static mj_ping_verdict verdict(const mj_stanza *a, enum by_who by, int info,
                               int lost)
{
    mj_str cond = a->error_condition;

    if (a->type == MJ_T_RESULT)
        return MJ_PING_JOINED;
    if (a->type != MJ_T_ERROR)
        return MJ_PING_STALE; /* not an answer */
    if (path_error(a, by, lost))
        return MJ_PING_UNKNOWN; /* the path, not the room, answered */
    /* an error whose by names someone else than the room, its service or
     * our server: a ping to a nick another occupant holds is forwarded
     * to that occupant (Prosody and ejabberd answer only one to the
     * sender's own nick), and the room relays its error; not the room's
     * word on us (item-not-found: below, the room's disco#info decides).
     * A by that names no one (empty, not a JID) is read as none: taken
     * for someone else's, a service writing by='' kept its ghosts for
     * good (unknown, retried, given up) */
    if (by == BY_OTHER && !is(cond, "item-not-found"))
        return MJ_PING_UNKNOWN;
    if (is(cond, "not-acceptable") || is(cond, "gone"))
        return MJ_PING_NOT_JOINED;
    if (is(cond, "item-not-found")) {
        if (by == BY_ROOM)
            return MJ_PING_JOINED; /* our nick is stale, we are in */
        if (by == BY_ROOM_DOMAIN)
            return MJ_PING_NOT_JOINED; /* no such room (lost in a crash) */
        /* says not who (ejabberd: no by at all): a stale nick in a room
         * that exists, or a room that does not; its disco#info says */
        if (info == INFO_ABSENT)
            return MJ_PING_NOT_JOINED;
        return info == INFO_NONE ? MJ_PING_UNKNOWN : MJ_PING_JOINED;
    }
    if (is(cond, "service-unavailable") || is(cond, "feature-not-implemented"))
        return info == INFO_PLAIN    ? MJ_PING_JOINED
               : info == INFO_ABSENT ? MJ_PING_NOT_JOINED
                                     : MJ_PING_UNKNOWN;
    return MJ_PING_NOT_JOINED;
}

/* The nick the room last named the session by: where its pings go
 * (mj_entry_ping_nick()), and in LEAVING the nick a 303 announced (kept
 * from EXPECTING, or one that raced the leave: joins.c, send_leave(),
 * got_unavailable_self()), the session's until the room sees the leave.
 * No ping is sent in LEAVING; one sent before may still be out. */
static mj_str room_nick(const mj_entry *e)
{
    mj_str m = mj_entry_pnick(e);
    if (e->state == MJ_S_LEAVING && m.ptr != NULL)
        return m;
    return mj_entry_ping_nick(e);
}

/* verdict() of an answer to e's ping. The ping went to a nick that may
 * no longer be the session's in the room (a 303 or a rename by the room
 * since it was sent, also while LEAVING): another occupant may hold it by
 * now, and the room forwards the ping to it, whose error is no word on
 * the session. Only "joined" still counts then (the room answered before
 * the change; and it has named the session since). */
static mj_ping_verdict entry_verdict(mj_session *s, const mj_entry *e,
                                     const mj_stanza *a, int info)
{
    mj_ping_verdict v =
        verdict(a, by_who(s, e, a->error_by), info, lost_since_sent(e));
    if (v != MJ_PING_JOINED && v != MJ_PING_STALE &&
        mj_entry_ping(e)->to_key != nick_key(s->tr, room_nick(e)))
        v = MJ_PING_UNKNOWN;
    return v;
}

/* Classify the room's disco#info reply (NULL: none came). Only a reply
 * from the room's bare JID counts; an error of the path says nothing. */
static int room_info(mj_session *s, const mj_entry *e, const mj_stanza *info,
                     int optimized)
{
    mj_target t;
    mj_outcome bad;
    if (info == NULL || info->kind != MJ_KIND_IQ || info->from.ptr == NULL ||
        mj_parse_target(s, info->from, &t, &bad) != MJ_OK ||
        t.room != mj_entry_room(e) || t.has_res)
        return INFO_NONE;
    if (info->type == MJ_T_RESULT)
        return optimized ? INFO_OPTIMIZED : INFO_PLAIN;
    if (info->type != MJ_T_ERROR ||
        path_error(info, by_who(s, e, info->error_by), lost_since_sent(e)))
        return INFO_NONE;
    if (is(info->error_type, "cancel") ||
        is(info->error_condition, "item-not-found") ||
        is(info->error_condition, "gone"))
        return INFO_ABSENT;
    return INFO_NONE; /* auth, modify: the room is there but says nothing */
}

/* The entry a ping answer is about: the room its from names, when that
 * room's latest ping has this id (ids are unique in a tracker). One
 * lookup, not a walk over the session's rooms: anyone can send a session
 * iq answers. */
static mj_entry *entry_by_ping(mj_session *s, uint32_t id,
                               const mj_stanza *answer)
{
    mj_target t;
    mj_outcome bad;
    if (id == 0 || answer->from.ptr == NULL ||
        mj_parse_target(s, answer->from, &t, &bad) != MJ_OK)
        return NULL; /* not from a room */
    mj_entry *e = t.entry;
    if (e == NULL || mj_entry_ping(e) == NULL || mj_entry_ping(e)->id != id)
        return NULL; /* not the latest ping of that room */
    /* The reply to an iq comes from the JID the iq went to (our server's
     * bounce too). Another occupant's iq result or error reaches the
     * session from room/<that occupant> (Prosody's MUC routes it, with
     * the id it names): no answer to our ping, whatever its id. */
    if (!t.has_res || nick_key(s->tr, t.raw_res) != mj_entry_ping(e)->to_key)
        return NULL;
    return e;
}

/* info: an enum room_info, or INFO_ASK to classify info_reply. */
#define INFO_ASK 3

static int settle(mj_session *s, uint32_t ping_id, const mj_stanza *answer,
                  int info, const mj_stanza *info_reply, int optimized,
                  mj_ping_verdict *out)
{
    mj_ping_verdict v = MJ_PING_STALE;
    if (out)
        *out = v;
    if (s == NULL || answer == NULL)
        return MJ_EINVAL;
    if (MJ_IN_HOOK(s->tr))
        return MJ_EBUSY;
    /* older than the latest join or ping, or not from the pinged room:
     * ignored */
    mj_entry *e = entry_by_ping(s, ping_id, answer);
    if (e == NULL)
        return MJ_OK;
    mj_tracker *tr = s->tr;
    if (info == INFO_ASK)
        info = room_info(s, e, info_reply, optimized);
    v = entry_verdict(s, e, answer, info);
    switch (v) {
    case MJ_PING_JOINED:
        tr->st.pings_joined++;
        e->gave_up = 0; /* settled: no link up needs to ask it again */
        mj_ping_drop(e);
        break;
    case MJ_PING_NOT_JOINED:
        tr->st.pings_not_joined++;
        e->gave_up = 0; /* settled (the entry ends) */
        mj_ping_drop(e);
        if (e->state == MJ_S_LEAVING) {
            /* the session left meanwhile: out of the room is what it
             * asked for. The leave is done; no notice to rejoin */
            mj_emit(e, MJ_EV_LEFT, MJ_R_VOLUNTARY, mj_str_none(),
                    mj_str_none(), mj_str_none(), mj_str_none());
        } else {
            mj_emit(e, MJ_EV_LEFT, MJ_R_GHOST, mj_str_none(),
                    answer->error_condition, mj_str_none(), mj_str_none());
        }
        mj_entry_destroy(e);
        break;
    case MJ_PING_UNKNOWN:
        ping_detach(tr, mj_entry_ping(e));
        unknown(mj_entry_ping(e), mj_now(tr));
        break;
    case MJ_PING_STALE:
        break;
    }
    if (out)
        *out = v;
    return MJ_OK;
}

int mj_session_ping_answer(mj_session *s, uint32_t ping_id,
                           const mj_stanza *answer, int room_optimized,
                           mj_ping_verdict *out)
{
    int info = room_optimized < 0 ? INFO_NONE
               : room_optimized   ? INFO_OPTIMIZED
                                  : INFO_PLAIN;
    return settle(s, ping_id, answer, info, NULL, 0, out);
}

int mj_session_ping_answer_info(mj_session *s, uint32_t ping_id,
                                const mj_stanza *answer, const mj_stanza *info,
                                int info_optimized, mj_ping_verdict *out)
{
    return settle(s, ping_id, answer, INFO_ASK, info, info_optimized, out);
}

int mj_session_ping_needs_features(mj_session *s, uint32_t ping_id,
                                   const mj_stanza *answer)
{
    if (s == NULL || answer == NULL || ping_id == 0 || MJ_IN_HOOK(s->tr))
        return 0;
    mj_entry *e = entry_by_ping(s, ping_id, answer);
    if (e == NULL)
        return 0; /* not the latest ping, or not from the pinged room:
                     mj_session_ping_answer*() ignore it */
    mj_ping_verdict v = entry_verdict(s, e, answer, INFO_NONE);
    return v != entry_verdict(s, e, answer, INFO_PLAIN) ||
           v != entry_verdict(s, e, answer, INFO_OPTIMIZED) ||
           v != entry_verdict(s, e, answer, INFO_ABSENT);
}

int mj_session_is_forwarded_ping(mj_session *s, const mj_stanza *st)
{
    mj_target t;
    if (s == NULL || st == NULL || st->kind != MJ_KIND_IQ ||
        st->type != MJ_T_GET || !st->has_ping || st->from.ptr == NULL)
        return 0;
    /* a query: an unusable from is not counted or logged (bad NULL), so
     * that it changes nothing, also from a callback */
    if (mj_parse_target(s, st->from, &t, NULL) != MJ_OK || !t.has_res)
        return 0;
    mj_entry *e = t.entry;
    if (e == NULL || !e->has_nick)
        return 0;
    mj_str m = mj_entry_pnick(e); /* EXPECTING pings the announced nick */
    if (e->state == MJ_S_EXPECTING && m.ptr != NULL &&
        mj_nick_equal_res(e->sess->tr, &t, m.ptr, m.len))
        return 1;
    return mj_nick_equal_res(e->sess->tr, &t, mj_entry_nick_ptr(e),
                             mj_entry_nick_len(e));
}
