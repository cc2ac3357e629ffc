/* The join state machine: docs/semantics.md §2 and §3. Every decision about
 * whether a session is in a room, and under which nick, is made here.
 * docs/state-machine.md draws it. */
#include <string.h>

#include "classify.h"
#include "env.h"
#include "hash.h"
#include "jid.h"
#include "joins.h"
#include "leaves.h"
#include "messages.h"
#include "owed.h"
#include "selfping.h"
#include "store.h"
#include "target.h"

static mj_str none(void)
{
    return mj_str_none();
}

/* What went over a bound (warn_limit()). */
enum mj_bound { MJ_BOUND_ROOMS, MJ_BOUND_PENDING, MJ_BOUND_CANCELLED };

/* A join or a room over a bound, or a cancel beyond the bound of
 * cancelled joins; counted under limits and logged once per session and
 * bound (once, one hit of max_pending hid every later max_rooms one, and
 * the cancelled bound was neither counted nor logged). */
static void warn_limit(mj_session *s, enum mj_bound bound)
{
    static const int bits[] = {MJ_WARNED_ROOMS, MJ_WARNED_PENDING,
                               MJ_WARNED_CANCELLED};
    const mj_config *cfg = &s->tr->cfg;
    int bit = bits[bound];
    s->tr->st.limits++;
    if (s->warned_limit & bit)
        return;
    s->warned_limit |= (uint8_t)bit;
    char opt[MJ_OPTION_NAME_CAP];
    switch (bound) {
    case MJ_BOUND_PENDING:
        mj_log(s->tr, MJ_LOG_WARN,
               "%.*s: %s limit (%zu) reached: joins are not tracked while "
               "that many wait for their answers",
               (int)s->jid_len, s->jid,
               mj_option_name(s->tr, "max_pending", opt), cfg->max_pending);
        break;
    case MJ_BOUND_CANCELLED:
        mj_log(s->tr, MJ_LOG_WARN,
               "%.*s: %s limit (%zu) of joins left before their answers "
               "reached: what the rooms still send about further ones is "
               "ignored (and counted forged)",
               (int)s->jid_len, s->jid,
               mj_option_name(s->tr, "max_pending", opt), cfg->max_pending);
        break;
    case MJ_BOUND_ROOMS:
        mj_log(s->tr, MJ_LOG_WARN,
               "%.*s: %s limit (%zu) reached; further rooms are not tracked",
               (int)s->jid_len, s->jid,
               mj_option_name(s->tr, "max_rooms", opt), cfg->max_rooms);
        break;
    }
}

static void note_forged(mj_session *s, const mj_target *t)
{
    s->tr->st.forged++;
    if (s->warned_limit & MJ_WARNED_FORGED)
        return;
    s->warned_limit |= MJ_WARNED_FORGED;
    char opt[MJ_OPTION_NAME_CAP];
    mj_log(s->tr, MJ_LOG_DEBUG,
           "%.*s: refusing a self-presence from %.*s: no join waits for "
           "it (none was sent there, or it failed: refused, or its answer "
           "came after %s) (further ones are not logged)",
           (int)s->jid_len, s->jid, (int)t->blen, t->bare,
           mj_option_name(s->tr, "pending_timeout", opt));
}

static void emit_simple(mj_entry *e, mj_event_type type, mj_reason reason)
{
    mj_emit(e, type, reason, none(), none(), none(), none());
}

/* The left event of a removal for reason (a destroy's reason text and
 * venue from st). */
static void emit_left(mj_entry *e, mj_reason reason, const mj_stanza *st)
{
    mj_str text = none(), venue = none();
    if (reason == MJ_R_DESTROYED && st != NULL) {
        text = st->destroy_reason;
        venue = st->destroy_jid;
    }
    mj_emit(e, MJ_EV_LEFT, reason, none(), none(), text, venue);
}

/* The entry leaves with an event and is freed. */
static void leave(mj_entry *e, mj_reason reason, const mj_stanza *st)
{
    emit_left(e, reason, st);
    mj_entry_destroy(e);
}

static void fail_join(mj_entry *e, mj_reason reason, const mj_stanza *st)
{
    mj_str cond = none(), text = none(), venue = none();
    if (st != NULL && reason == MJ_R_ERROR)
        cond = st->error_condition;
    if (st != NULL && reason == MJ_R_DESTROYED) {
        text = st->destroy_reason;
        venue = st->destroy_jid;
    }
    mj_emit(e, MJ_EV_JOIN_FAILED, reason, none(), cond, text, venue);
    mj_entry_destroy(e);
}

static mj_outcome ask_ping(mj_entry *e)
{
    e->sess->tr->st.ambiguous++;
    mj_ping_request(e);
    return MJ_O_AMBIGUOUS;
}

/* ---- what the session sends ------------------------------------------ */

/* A presence id as a waiting join or a leave keeps it (mj_aux.join_id):
 * 0 when absent, else its keyed hash with the low bit set (never 0). */
static uint64_t id_key(const mj_tracker *tr, mj_str id)
{
    if (id.ptr == NULL)
        return 0;
    return mj_siphash(&tr->key, id.ptr, id.len) | 1;
}

/* Unavailable (or a presence error, or a kickable message error) sent to
 * a room: the session is on its way out. id: id_key() of what was sent,
 * which LEAVING keeps in mj_aux.join_id (an error from the room refusing
 * another stanza does not end the leave: got_error()). */
static mj_outcome send_leave(mj_entry *e, int is_unavailable, uint64_t id)
{
    switch ((mj_state)e->state) {
    case MJ_S_PENDING:
        if (!is_unavailable || e->cancelled)
            return MJ_O_UNCHANGED;
        if (e->sess->n_cancelled >= e->sess->tr->cfg.max_pending) {
            /* bounded: beyond max_pending cancelled joins, a late answer
             * finds no state (refused as forged) */
            warn_limit(e->sess, MJ_BOUND_CANCELLED);
            mj_entry_destroy(e);
            return MJ_O_CHANGED;
        }
        /* nothing was shown, and nothing will be: the entry stays, hidden,
         * for what the room answers to the join and then to the leave
         * (mj_joins_incoming), or for a rejoin, which those answers must
         * not answer (answers_join()) */
        mj_entry_set_cancelled(e, 1);
        if (e->owed < 3)
            e->owed++; /* the leave's confirmation */
        /* close_owed stays a bit of its own: the close's answer, if it
         * comes, comes before the join's (mj_joins_incoming()) */
        return MJ_O_CHANGED;
    case MJ_S_JOINED:
    case MJ_S_CHANGING:
    case MJ_S_EXPECTING:
        /* EXPECTING keeps the nick the room's 303 announced: the session
         * is that occupant until the room sees the leave (a destroy
         * without 110 comes from it: got_unavailable_other()) */
        if (e->state != MJ_S_EXPECTING)
            mj_entry_set_pnick(e, NULL, 0);
        /* EXPECTING, and CHANGING entered from it: the self-presence
         * from m is still to come, before the leave's confirmation
         * (answers_join(), after a rejoin) */
        int rename_owed =
            e->state == MJ_S_EXPECTING ||
            (e->state == MJ_S_CHANGING && mj_entry_aux_of(e)->rename_owed);
        /* a join sent again (resent) is still owed its answer: its id
         * stays in prev_join_id, for a rejoin (send_join()) */
        int resent = e->state == MJ_S_JOINED && mj_entry_resent_owed(e);
        uint64_t resent_id = resent ? mj_entry_aux_of(e)->join_id : 0;
        uint8_t resent_more = resent ? mj_entry_aux_of(e)->prev_more : 0;
        if (mj_entry_set_state(e, MJ_S_LEAVING) != MJ_OK) {
            /* no memory for the leave's timer: take the leave as done
             * now rather than keep an entry nothing would end */
            leave(e, MJ_R_LEFT_UNCONFIRMED, NULL);
        } else {
            mj_aux *a = mj_entry_aux_of(e); /* the timer's record */
            a->join_id = id;
            a->prev_join_id = resent_id;
            a->prev_more = resent_more;
            a->rename_owed = (uint8_t)rename_owed;
        }
        return MJ_O_CHANGED;
    case MJ_S_LEAVING:
    case MJ_S_NONE:
        break;
    }
    return MJ_O_UNCHANGED;
}

/* Whether another join of s to wait for would exceed max_pending:
 * cancelled joins do not count (they have their own bound); all of them
 * stay within twice the bound, also when it was lowered under cancelled
 * ones. */
static int pending_full(const mj_session *s)
{
    return s->n_pending - s->n_cancelled >= s->tr->cfg.max_pending ||
           s->n_pending / 2 >= s->tr->cfg.max_pending; /* no overflow */
}

/* The entry waits for the answer to the join whose id is join_id (its
 * asked nick is set, which gave it its mj_aux record): PENDING shows
 * nothing, and the room sends history again. */
static void wait_for_join(mj_entry *e, uint64_t join_id)
{
    mj_entry_set_nick(e, NULL, 0);
    e->live = 0;
    mj_entry_set_state(e, MJ_S_PENDING); /* cannot fail: it has its aux */
    mj_entry_aux_of(e)->join_id = join_id;
}

/* A first join to a room from a session bound under the full JID of one
 * closed while that room owed it answers (a resource conflict, a client
 * reconnecting at once): the room answers the closed session's stanzas
 * first, in order, and those answers must not be taken for this join's.
 * The entry starts as a join after a leave does: the confirmations owed,
 * and the id of the stanza whose answer is owed (answers_join()). */
static void take_owed(mj_session *s, mj_entry *e)
{
    mj_tracker *tr = s->tr;
    const mj_istr *r = mj_entry_room(e);
    mj_owed_what w;
    if (!mj_owed_take(tr, &tr->owed, &tr->key, mj_session_pjid(s), s->pjid_len,
                      r->s, r->len, mj_now(tr), &w))
        return;
    if (w.settled) {
        /* the session was in the room: the room may still answer its
         * close's unavailable (got_unavailable_self()); nothing held back */
        e->close_owed = 1;
        return;
    }
    e->owed = w.owed > 3 ? 3 : w.owed;
    mj_entry_aux_of(e)->prev_join_id = w.prev_id;
    mj_entry_aux_of(e)->prev_more = 0;
    mj_entry_aux_of(e)->rename_owed = (uint8_t)(w.renamed && w.owed > 0);
    if (w.reflects && r->dom != NULL)
        r->dom->reflects_id = 1; /* learnt before the session went */
}

/* behind: the join goes behind a leave a link up sent, whose answer is
 * still to come (mj_leaves_clear()): 1; 2 when the room's service was
 * seen to reflect join ids (before its rooms went, and the tracker with
 * them forgot it) */
static int send_join(mj_session *s, mj_entry *e, const mj_target *t,
                     const mj_stanza *st, int behind, mj_outcome *out)
{
    mj_tracker *tr = s->tr;
    int fresh = e == NULL;
    /* a PENDING entry counted the leave sent again when it started */
    int counted = !fresh && e->state == MJ_S_PENDING;
    if (fresh || e->state != MJ_S_PENDING || e->cancelled) {
        if (pending_full(s)) {
            warn_limit(s, MJ_BOUND_PENDING);
            *out = MJ_O_LIMIT;
            return MJ_OK;
        }
    }
    if (fresh &&
        (e = mj_entry_create(s, t->room, t->bare, t->blen, t->hash)) == NULL)
        return MJ_ENOMEM;
    if (mj_entry_set_pnick(e, t->raw_res.ptr, t->raw_res.len) != MJ_OK) {
        if (fresh)
            mj_entry_destroy(e);
        return MJ_ENOMEM; /* the entry as it was, its self-ping too */
    }
    /* answers to pings before this join are stale; after the allocation
     * (dropped before it, a failed rejoin lost the ping that
     * would end a LEAVING ghost), and without trimming the record the
     * asked nick is in */
    mj_ping_forget(e);
    if (e->state == MJ_S_LEAVING) {
        /* LEAVING(o) -> PENDING(n): the entry stops being shown; the
         * leave is taken as done (its late confirmation changes nothing,
         * and what the room answers before it is not this join's answer:
         * answers_join()) */
        emit_simple(e, MJ_EV_LEFT, MJ_R_VOLUNTARY);
    }
    /* the asked nick gave the entry its mj_aux record */
    mj_aux *a = mj_entry_aux_of(e);
    /* a join sent again before any answer (not after a cancel) */
    int retry = !fresh && e->state == MJ_S_PENDING && !e->cancelled;
    if (e->state == MJ_S_LEAVING) {
        /* the leave's confirmation; and the answer to a join sent again
         * before the leave, whose id send_leave() kept in prev_join_id */
        e->owed = 1;
    } else if (e->state == MJ_S_PENDING && e->cancelled) {
        /* join, leave, join: the room owes the cancelled join's answer
         * and the leave's confirmation (counted by send_leave) first */
        mj_entry_set_cancelled(e, 0);
        if (a->join_id != 0) { /* 0: it had no id; the earlier one's stays */
            a->prev_join_id = a->join_id;
            a->prev_more = 0;
        }
    } else if (e->state != MJ_S_PENDING) {
        e->owed = 0;
        a->prev_join_id = 0;
        a->prev_more = 0;
    }
    if (e->state != MJ_S_LEAVING && e->state != MJ_S_PENDING)
        a->rename_owed = 0; /* LEAVING's stays: the rejoin's window */
    e->held_back = 0;
    uint64_t k = id_key(tr, st->id);
    if (retry && k == a->join_id) /* the same join once more (or both
                                     without an id) */
        a->retry_more += a->retry_more < 3;
    else
        a->retry_more = 0;
    a->retried = (uint8_t)retry;
    if (fresh)
        take_owed(s, e);
    /* the leave sent again before it is answered first (the same path),
     * with its id (stopped: mj_leaves_answer_rejoined(), which counts it
     * here) or without: owed, as a leave's confirmation is to a rejoin
     * from LEAVING, so that what the room still sends the ghost before
     * the leave (a role change) is held back on a service that reflects
     * ids, not taken for the rejoin's answer. Each entry that starts
     * waiting while the record does (one PENDING already, joining again
     * or after a cancel, counted it): the stop pays one back whatever the
     * entry, so a join after a rejoin the tracker took for no join, over
     * max_pending or timed out, and one from LEAVING after a rejoin shown
     * at its timeout (timeout_held_back()) must count it too (else the
     * stop took from it the cancelled join's answer or a leave's
     * confirmation) */
    if (behind && !counted && e->owed < 3)
        e->owed++;
    if (behind == 2 && mj_entry_room(e)->dom != NULL)
        mj_entry_room(e)->dom->reflects_id = 1; /* as take_owed() */
    /* when the earlier join (the closed session's, the one a leave
     * cancelled, one sent again before a leave) had this very id, the id
     * cannot tell the answers to the two apart: same_id_as_prev() */
    wait_for_join(e, k);
    *out = MJ_O_CHANGED;
    return MJ_OK;
}

/* Does an available presence the session sends to a room count as a
 * join (when the session has no state with the room)? */
static int counts_as_join(const mj_tracker *tr, const mj_stanza *st)
{
    return st->has_muc_x || tr->cfg.legacy_joins;
}

/* Only a join can start tracking a room: every other stanza a session
 * sends is about a room it already has state with, so from a session the
 * tracker does not hold it changes nothing (mj_tracker_outgoing). A join
 * here is an available presence addressed to a JID with a resource (the
 * nick); whether that JID is usable is left to the state machine. */
int mj_joins_may_start(const mj_tracker *tr, const mj_stanza *st)
{
    return st->kind == MJ_KIND_PRESENCE && st->type == MJ_T_AVAILABLE &&
           st->to.ptr != NULL && memchr(st->to.ptr, '/', st->to.len) != NULL &&
           counts_as_join(tr, st);
}

/* A join sent again while JOINED (a client's XEP-0410 recovery): no
 * state changes, but a removal the room sent before it saw that join is
 * not the end (got_unavailable_self()). Remembered, with its id, until
 * the next available self-presence, a state change, its refusal
 * (got_error()) or pending_timeout (the timer list: mj_joins_timeout());
 * without memory for the record it is not remembered (such a removal
 * then ends the entry). Like any join it makes the answers to earlier
 * self-pings stale. */
static void mark_resent(mj_entry *e, const mj_stanza *st)
{
    mj_tracker *tr = e->sess->tr;
    /* an outstanding ping's answer is stale now, but the check goes on:
     * the room may never answer this join (a ghost's is often lost) */
    mj_ping_restale(e);
    /* a join sent again whose time is up owes nothing more, even before
     * the tick clears it */
    int again = mj_entry_resent_owed(e);
    if (mj_entry_set_resent(e, 1) != MJ_OK)
        return;
    mj_aux *a = mj_entry_aux_of(e);
    uint64_t k = id_key(tr, st->id);
    /* the same join once more, its answer not come yet: one answer more
     * owed to that id (once, the first answer forgot the id that the
     * second still carried, which a same-id rejoin then took as its own) */
    if (again && k != 0 && k == a->join_id) {
        a->prev_more += a->prev_more < 3;
        return;
    }
    /* another join sent again before the last one's answer: that one's
     * id, so that its answer is not taken for this one's
     * (may_answer_resent()) */
    if (!again || a->join_id == MJ_JOIN_ID_UNKNOWN)
        a->prev_join_id = 0;
    else if (a->join_id == 0)
        a->prev_join_id = MJ_JOIN_ID_NONE; /* it had none */
    else
        a->prev_join_id = a->join_id;
    a->prev_more = 0;
    a->join_id = k;
}

/* The join sent again is answered or refused: forget it, unless it was
 * sent more than once (the next answer is owed too). */
static void clear_resent(mj_entry *e)
{
    mj_aux *a = mj_entry_aux_of(e);
    if (e->resent && a != NULL && a->prev_more > 0) {
        a->prev_more--;
        return;
    }
    mj_entry_set_resent(e, 0);
}

/* Whether the bare JID t names is the session's own account. Prosody's
 * mod_presence sends each presence a session broadcasts to its account's
 * other resources through the hook that sees joins; no room has a user's
 * JID. */
static int to_own_account(const mj_session *s, const mj_target *t)
{
    size_t blen = mj_session_bare_len(s);

    return t->blen == blen && memcmp(t->bare, mj_session_pjid(s), blen) == 0;
}

static int send_available(mj_session *s, mj_entry *e, const mj_stanza *st,
                          const mj_target *t, int behind, mj_outcome *out)
{
    mj_state state = e ? (mj_state)e->state : MJ_S_NONE;
    /* a legacy join (no <x/>) to the session's own account is that
     * broadcast, never a join */
    int is_join =
        counts_as_join(s->tr, st) && (st->has_muc_x || !to_own_account(s, t));
    if (!t->has_res) {
        /* no nick: neither a join nor a nick change. Prosody takes it as
         * sent to the session's current nick, so with the MUC <x/> it is
         * a join re-sent (below): history, then the subject */
        if (st->has_muc_x &&
            (state == MJ_S_JOINED || state == MJ_S_EXPECTING ||
             state == MJ_S_CHANGING)) {
            e->live = 0;
            mj_ping_restale(e); /* a join: earlier pings' answers are stale */
        }
        if (st->has_muc_x && state == MJ_S_JOINED)
            mark_resent(e, st);
        /* about a room the session has state with: an update (or a join
         * sent again) of its current nick, as one to room/o is */
        if (e != NULL)
            *out = MJ_O_UNCHANGED;
        return MJ_OK;
    }
    switch (state) {
    case MJ_S_NONE:
    case MJ_S_PENDING:
    case MJ_S_LEAVING:
        if (is_join)
            return send_join(s, e, t, st, behind, out);
        /* a presence update to a room the session is joining or leaving:
         * about a room it has state with, as one to the bare room is */
        if (e != NULL)
            *out = MJ_O_UNCHANGED;
        return MJ_OK;
    case MJ_S_JOINED:
    case MJ_S_EXPECTING:
    case MJ_S_CHANGING:
        /* Prosody answers an available presence with the MUC <x/> from
         * an occupant (a join re-sent, with or without a new nick) with
         * the join sequence again: history, then the subject */
        if (st->has_muc_x) {
            e->live = 0;
            /* a join, whatever the nick (a ghost's client rejoining): the
             * answers to pings sent before it are stale
             * (docs/semantics.md §5); the check goes on, as the room may
             * never answer this join */
            mj_ping_restale(e);
        }
        if (state != MJ_S_CHANGING &&
            mj_nick_equal_res(e->sess->tr, t, mj_entry_nick_ptr(e),
                              mj_entry_nick_len(e))) {
            /* a presence update; with the <x/>, a join sent again
             * (got_unavailable_self()) */
            if (st->has_muc_x && state == MJ_S_JOINED)
                mark_resent(e, st);
            *out = MJ_O_UNCHANGED;
            return MJ_OK;
        }
        if (state == MJ_S_EXPECTING) {
            /* to the announced nick m: the client already followed the
             * 303; an update, and the timeout still gives m */
            mj_str m = mj_entry_pnick(e);
            if (m.ptr != NULL &&
                mj_nick_equal_res(e->sess->tr, t, m.ptr, m.len)) {
                *out = MJ_O_UNCHANGED;
                return MJ_OK;
            }
            /* to another nick n: the room named the session m (its 303),
             * and that is where the change to n starts; the asked n takes
             * m's place, so m is shown now (nick-changed), as the
             * EXPECTING timeout would show it: a CHANGING(o->n) fell back
             * to o at its timeout, a nick the room no longer gives the
             * session */
            if (m.ptr != NULL &&
                !mj_nick_equal(e->sess->tr, m.ptr, m.len, mj_entry_nick_ptr(e),
                               mj_entry_nick_len(e))) {
                char old[MJ_PART_MAX + 1];
                size_t old_len = mj_entry_nick_len(e);
                memcpy(old, mj_entry_nick_ptr(e), old_len);
                mj_entry *moved = mj_entry_promote_nick(e);
                if (moved == NULL)
                    return MJ_ENOMEM;
                e = moved;
                mj_emit(e, MJ_EV_NICK_CHANGED, MJ_R_NONE,
                        mj_str_of(old, old_len), none(), none(), none());
            }
        }
        if (mj_entry_set_pnick(e, t->raw_res.ptr, t->raw_res.len) != MJ_OK)
            return MJ_ENOMEM;
        /* a legacy join (no <x/>) to another nick is a join too: the
         * answers to pings sent before it are stale, as above (else a
         * "not joined" ended the entry and the join's answer was refused
         * as forged) */
        if (is_join && !st->has_muc_x)
            mj_ping_restale(e);
        if (state != MJ_S_CHANGING)
            mj_entry_set_state(e, MJ_S_CHANGING);
        /* from EXPECTING the 303's self-presence from m is still owed
         * (send_leave()); CHANGING keeps what it had */
        if (state != MJ_S_CHANGING)
            mj_entry_aux_of(e)->rename_owed = state == MJ_S_EXPECTING;
        /* a join (the MUC <x/>) is a join too: to a room that has dropped
         * the session meanwhile (a removal on its way), a join under the
         * nick asked; the record is the asked nick's. One
         * without the <x/> keeps an earlier one's (still owed) */
        mj_aux *a = mj_entry_aux_of(e);
        if (is_join) /* the <x/>, or any with legacy joins on */
            a->join_id =
                st->id.ptr != NULL ? id_key(s->tr, st->id) : MJ_JOIN_ID_NONE;
        else if (state != MJ_S_CHANGING)
            a->join_id = 0;
        *out = MJ_O_CHANGED;
        return MJ_OK;
    }
    return MJ_OK;
}

/* What mj_joins_outgoing() and mj_joins_incoming() (with
 * mj_messages_classify()) read, by kind and type: keep in step with them. */
MJ_HOT unsigned mj_stanza_needs(int outgoing, mj_kind kind, mj_type type)
{
    switch (kind) {
    case MJ_KIND_PRESENCE:
        if (outgoing) /* ids: a join's, a leave's (send_leave()) */
            return MJ_NEED_TO | MJ_NEED_MUC |
                   (type == MJ_T_AVAILABLE || type == MJ_T_UNAVAILABLE ||
                            type == MJ_T_ERROR
                        ? MJ_NEED_ID
                        : 0);
        return MJ_NEED_FROM | MJ_NEED_MUC_USER | MJ_NEED_ID |
               (type == MJ_T_ERROR ? MJ_NEED_ERROR : 0);
    case MJ_KIND_MESSAGE:
        if (type == MJ_T_ERROR) /* sent: it may be a leave */
            return (outgoing ? MJ_NEED_TO | MJ_NEED_ID : MJ_NEED_FROM) |
                   MJ_NEED_ERROR;
        if (type == MJ_T_GROUPCHAT) /* sent: to a room the session is in */
            return outgoing ? MJ_NEED_TO : MJ_NEED_FROM | MJ_NEED_MESSAGE;
        return 0;
    case MJ_KIND_IQ:
        break;
    }
    return 0;
}

/* A received presence's id is read only by answers_join() and
 * retry_owed() (PENDING), in LEAVING by got_error() and
 * forget_answered_resent() (an error, or the answer to a join sent again
 * before the leave), in JOINED with a join sent again by got_error(),
 * may_answer_resent() and removal_after_resent(); an error's also while
 * CHANGING (or EXPECTING: one count), by error_refuses_change_join();
 * and while any leave was sent again (waiting for its answer, or owed
 * again), by resent_leave_answer() (whether it carries that send's id). */
unsigned mj_session_needs(const mj_session *s, int outgoing, mj_kind kind,
                          mj_type type)
{
    unsigned need = mj_stanza_needs(outgoing, kind, type);
    if (!outgoing && kind == MJ_KIND_PRESENCE &&
        (s == NULL ||
         (s->n_pending == 0 && s->n_resent == 0 && s->n_leaving == 0 &&
          (type != MJ_T_ERROR || s->n_changing == 0) &&
          s->tr->leaves.tried == 0)))
        need &= ~(unsigned)MJ_NEED_ID;
    return need;
}

unsigned mj_tracker_needs(const mj_tracker *tr, int outgoing, mj_kind kind,
                          mj_type type)
{
    unsigned need = mj_stanza_needs(outgoing, kind, type);
    if (!outgoing && kind == MJ_KIND_PRESENCE &&
        (tr == NULL ||
         (tr->st.pending == 0 && tr->n_resent == 0 && tr->st.leaving == 0 &&
          (type != MJ_T_ERROR || tr->st.changing == 0) &&
          tr->leaves.tried == 0)))
        need &= ~(unsigned)MJ_NEED_ID;
    return need;
}

MJ_HOT int mj_joins_outgoing(mj_session *s, const mj_stanza *st,
                             mj_outcome *out)
{
    mj_target t;
    *out = MJ_O_IGNORED;

    int presence = st->kind == MJ_KIND_PRESENCE;
    int kick_msg = st->kind == MJ_KIND_MESSAGE && st->type == MJ_T_ERROR &&
                   mj_kickable_condition(st->error_condition);
    /* a groupchat message to a room the session is in changes nothing,
     * but the room's not-acceptable refusal of it may come next (a
     * ghost: mj_joins_incoming()); a local MUC sends it with
     * origin.send(), which the module sees only while it watches the
     * session's outgoing stanzas: "unchanged" says so */
    int groupchat = st->kind == MJ_KIND_MESSAGE && st->type == MJ_T_GROUPCHAT;
    if (!presence && !kick_msg && !groupchat)
        return MJ_OK;

    if (st->to.ptr == NULL) {
        /* broadcast: an unavailable leaves every room */
        if (!presence || st->type != MJ_T_UNAVAILABLE)
            return MJ_OK;
        /* nothing it changes (every room LEAVING or a cancelled join,
         * as after an earlier broadcast): no walk, which cost O(rooms)
         * for every broadcast sent again */
        if (s->n_pending == s->n_cancelled && s->n_shown == s->n_leaving)
            return MJ_OK;
        uint64_t id = id_key(s->tr, st->id);
        s->walking = 1; /* the table keeps its size until the walk ends */
        for (size_t i = 0; i < s->rooms.cap; i++) {
            mj_entry *e = mj_session_slot(s, i);
            if (e == NULL)
                continue;
            if (send_leave(e, 1, id) == MJ_O_CHANGED) {
                *out = MJ_O_CHANGED;
                if (mj_session_slot(s, i) != e)
                    i--; /* removal shifted another entry here */
            }
        }
        s->walking = 0;
        mj_session_trim(s);
        return MJ_OK;
    }

    if (groupchat) {
        /* the room by the bytes of its JID, as Prosody's router writes it
         * (prepared); a to written otherwise is let go (the filter is not
         * put on for it) */
        const char *slash;
        mj_entry *g = mj_target_written(s, st->to, &slash);
        if (g != NULL &&
            (g->state == MJ_S_JOINED || g->state == MJ_S_EXPECTING))
            *out = MJ_O_UNCHANGED; /* where its refusal asks the room */
        return MJ_OK;
    }

    int rc = mj_parse_target(s, st->to, &t, out);
    if (rc != MJ_OK)
        return rc == MJ_ENOMEM ? rc : MJ_OK;
    mj_entry *e = t.entry;
    /* a presence other than a leave to a room the session owes a leave
     * (a rejoin, whose join a link up may flush before the leave would
     * go): not owed. A leave sent again keeps it (bounced too, it finds
     * no entry to owe it again; a record sent at a link up takes that
     * bounce for its own: owed again, resent_leave_answer()) */
    int behind = 0; /* a join behind a leave sent again (send_join()) */
    if (presence && st->type != MJ_T_UNAVAILABLE && s->tr->leaves.count != 0) {
        int rejoin = st->type == MJ_T_AVAILABLE && t.has_res;
        int cleared = mj_leaves_clear(
            s->tr, s, t.bare, t.blen, rejoin,
            rejoin && st->has_muc_x ? id_key(s->tr, st->id) : 0);
        behind = cleared >= 2 ? cleared - 1 : 0;
    }

    if (kick_msg || st->type == MJ_T_ERROR) {
        if (e != NULL)
            *out = send_leave(e, 0, id_key(s->tr, st->id));
        return MJ_OK;
    }
    switch (st->type) {
    case MJ_T_AVAILABLE:
        return send_available(s, e, st, &t, behind, out);
    case MJ_T_UNAVAILABLE:
        if (e != NULL)
            *out = send_leave(e, 1, id_key(s->tr, st->id));
        return MJ_OK;
    default:
        if (e != NULL)
            *out = MJ_O_UNCHANGED;
        return MJ_OK;
    }
}

/* ---- what the session receives ------------------------------------------ */

/* What a PENDING join's answer leaves owed: the answers to joins sent
 * again before it (mj_aux.retried). On a service seen to reflect ids, an
 * answer with another id than the last join's is an earlier join's, and
 * the last one's answers are all still owed; one with the last join's id,
 * sent n times (retry_more), leaves n - 1 owed; so does one without an
 * id there (the earlier join had none), and one with an id
 * when the retry had none. Read before the answer
 * shows the room: the id kept (0: nothing owed) and the answers owed to
 * it beyond one. */
typedef struct {
    uint64_t id;
    uint8_t keep; /* something is owed (id 0: a retry without an id) */
    uint8_t more;
    double deadline; /* the last join's (PENDING's) */
} mj_retry;

static mj_retry retry_owed(const mj_entry *e, const mj_stanza *st)
{
    mj_retry r = {0, 0, 0, 0};
    const mj_aux *a = mj_entry_aux_of(e);
    const mj_domain *d = mj_entry_room(e)->dom;
    if (a != NULL)
        r.deadline = a->deadline;
    if (a != NULL && a->retried && a->join_id == 0 && st->id.ptr != NULL &&
        d != NULL && d->reflects_id) {
        r.keep = 1; /* a retry without an id: an answer with one is the
                       earlier join's */
        return r;
    }
    if (a != NULL && a->join_id == 0 && a->retry_more > 0 &&
        st->id.ptr == NULL && d != NULL && d->reflects_id) {
        r.keep = 1; /* joins without an id sent n times: n - 1 answers
                       owed */
        r.more = (uint8_t)(a->retry_more - 1);
        return r;
    }
    if (a == NULL || (!a->retried && a->retry_more == 0) || a->join_id == 0 ||
        a->join_id == MJ_JOIN_ID_UNKNOWN)
        return r;
    if (st->id.ptr != NULL && id_key(e->sess->tr, st->id) == a->join_id) {
        if (a->retry_more > 0) { /* its id: the service reflects ids */
            r.id = a->join_id;
            r.keep = 1;
            r.more = (uint8_t)(a->retry_more - 1);
        }
        return r;
    }
    if (a->retried && d != NULL && d->reflects_id) {
        r.id = a->join_id;
        r.keep = 1;
        r.more = a->retry_more;
    }
    return r;
}

/* The room shows the session in after the earlier of joins sent before
 * any answer: the entry keeps the rest as a join sent again while JOINED
 * (resent), so that their answers, still owed, are not taken by what
 * comes next (a close's record keeps the id for the next session under
 * the JID). Without memory for the record it is not kept.
 * Its deadline stays the one that join had (once, pending_timeout
 * from the answer held it back up to twice as long); the timer list,
 * ordered by when entries joined it, then ends it at the latest
 * pending_timeout after the answer, and removal_after_resent() reads the
 * deadline itself. */
static void keep_retry(mj_entry *e, mj_retry r)
{
    if (r.deadline <= mj_now(e->sess->tr))
        return; /* its time is up already: nothing owed */
    if (mj_entry_set_resent(e, 1) != MJ_OK)
        return;
    mj_aux *a = mj_entry_aux_of(e);
    a->join_id = r.id;
    a->prev_join_id = 0;
    a->prev_more = r.more;
    if (r.deadline < a->deadline)
        a->deadline = r.deadline;
}

/* JOINED with a join sent again: whether an available self-presence is
 * that join's answer. One carrying the id of the join sent again before
 * it (kept in prev_join_id by mark_resent()) answers that one, which it
 * forgets: the last one is still owed its answer (found by make
 * model-check). On a service seen to reflect ids, one with any other id
 * answers another stanza (an update, a join sent again before those):
 * the join stays owed. A known limit: ejabberd answers a second session
 * of an occupant with the main session's presence, id included; a
 * removal then hides the entry in PENDING until a join-failed at
 * pending_timeout (taking any unknown id for the answer, so
 * that the removal ended the entry, lost rooms: an update's echo, then a
 * removal the room sent before it saw the join, then the join's answer
 * refused as forged). One without an id answers the earlier
 * join sent again when that had none, else the last one when
 * that had none; otherwise, on such a service, it is the echo of an
 * update sent without one. When the last join had no id, one
 * with the earlier one's id answers that one, and on such a service one
 * with any other id is another stanza's too. */
static int may_answer_resent(mj_entry *e, const mj_stanza *st)
{
    mj_aux *a = mj_entry_aux_of(e);
    const mj_domain *d = mj_entry_room(e)->dom;
    int reflects = d != NULL && d->reflects_id;
    if (!mj_entry_resent_owed(e))
        return 1;
    if (st->id.ptr == NULL) {
        if (a->prev_join_id == MJ_JOIN_ID_NONE) {
            a->prev_join_id = 0; /* the earlier one's, which had none */
            return 0;
        }
        return a->join_id == 0 || !reflects;
    }
    uint64_t k = id_key(e->sess->tr, st->id);
    if (a->join_id != 0 && k == a->join_id)
        return 1;
    if (a->prev_join_id != 0 && k == a->prev_join_id) {
        a->prev_join_id = 0;
        return 0;
    }
    /* any other id: another stanza's (an update's echo), also for a last
     * join without an id (taking it for that join's answer, for
     * ejabberd's answer to a second session, which carries another
     * session's id, lost the room at a kick sent before the room saw the
     * join; ejabberd's case is the known limit above: a removal after
     * its answer hides the entry until pending_timeout) */
    return !reflects;
}

static int changing_by_join(const mj_entry *e);

/* Whether the asked nick is the shown one (a join sent to it again while
 * CHANGING). */
static int asked_is_shown(const mj_entry *e)
{
    mj_str n = mj_entry_pnick(e);
    return n.ptr != NULL &&
           mj_nick_equal(e->sess->tr, n.ptr, n.len, mj_entry_nick_ptr(e),
                         mj_entry_nick_len(e));
}

static int got_available_self(mj_session *s, mj_entry *e, const mj_target *t,
                              mj_retry retry, int resent_answered,
                              mj_outcome *out)
{
    mj_tracker *tr = s->tr;
    mj_state state = (mj_state)e->state;
    const char *x = t->raw_res.ptr;
    size_t xlen = t->raw_res.len;

    /* the room says the session is in: a self-ping that gave up is
     * settled as by a 'joined' answer (no link up needs to ask it) */
    if (state != MJ_S_LEAVING)
        e->gave_up = 0;

    if (state == MJ_S_PENDING) {
        if (s->n_shown >= tr->cfg.max_rooms) {
            warn_limit(s, MJ_BOUND_ROOMS);
            mj_entry_destroy(e);
            *out = MJ_O_LIMIT;
            return MJ_OK;
        }
        mj_entry *moved = mj_entry_set_nick(e, x, xlen);
        if (moved == NULL)
            return MJ_ENOMEM;
        e = moved;
        mj_entry_set_state(e, MJ_S_JOINED);
        emit_simple(e, MJ_EV_JOINED, MJ_R_NONE);
        mj_str asked = mj_entry_pnick(e);
        if (asked.ptr &&
            !mj_nick_equal(e->sess->tr, x, xlen, asked.ptr, asked.len))
            mj_emit(e, MJ_EV_NICK_REWRITTEN, MJ_R_NONE, asked, none(), none(),
                    none());
        mj_entry_set_pnick(e, NULL, 0);
        if (retry.keep)
            keep_retry(e, retry);
        *out = MJ_O_CHANGED;
        return MJ_OK;
    }
    if (state == MJ_S_LEAVING) {
        /* sent before the room saw the leave (after a 303, the one from
         * the new nick that follows it) */
        mj_entry_aux_of(e)->rename_owed = 0;
        *out = MJ_O_UNCHANGED;
        return MJ_OK;
    }
    /* JOINED, CHANGING, EXPECTING: the room is the authority on the nick;
     * after a 303, this is the self-presence owed (send_leave()) */
    if (e->has_aux)
        mj_entry_aux_of(e)->rename_owed = 0;
    if (mj_nick_equal(e->sess->tr, x, xlen, mj_entry_nick_ptr(e),
                      mj_entry_nick_len(e))) {
        if (changing_by_join(e) && !asked_is_shown(e)) {
            /* a join under another nick waits: its answer comes from the
             * nick asked (a 303, or a join's answer after a removal);
             * this one answers something sent before it (an update's
             * echo, a role change) and must not end the join's record,
             * so that a removal after it still finds the join */
            *out = MJ_O_UNCHANGED;
            return MJ_OK;
        }
        if (state == MJ_S_JOINED && resent_answered)
            clear_resent(e); /* a join sent again is answered by now */
        mj_entry_set_pnick(e, NULL, 0);
        if (state == MJ_S_JOINED) {
            *out = MJ_O_UNCHANGED; /* duplicate or multi-session echo */
            return MJ_OK;
        }
        mj_entry_set_state(e, MJ_S_JOINED);
        *out = MJ_O_CHANGED;
        return MJ_OK;
    }
    char old[MJ_PART_MAX + 1];
    size_t old_len = mj_entry_nick_len(e);
    memcpy(old, mj_entry_nick_ptr(e), old_len);
    mj_entry *moved = mj_entry_set_nick(e, x, xlen);
    if (moved == NULL)
        return MJ_ENOMEM;
    e = moved;
    mj_entry_set_pnick(e, NULL, 0);
    mj_entry_set_state(e, MJ_S_JOINED);
    mj_emit(e, MJ_EV_NICK_CHANGED, MJ_R_NONE, mj_str_of(old, old_len), none(),
            none(), none());
    *out = MJ_O_CHANGED;
    return MJ_OK;
}

/* A removal of a JOINED entry whose session sent a join again since the
 * last available self-presence, less than pending_timeout ago (e->resent,
 * mark_resent()): the room sent the removal before it saw that join,
 * whose answer is still coming (a room answers in order). The entry ends
 * as for any removal (left, with its reason), then waits for that answer,
 * hidden, as PENDING under the same nick with that join's id (so an
 * error refusing another stanza does not fail it). Self-pings asked
 * meanwhile are stale. Beyond max_pending, or without memory for the
 * asked nick, the entry just ends. */
static void removed_before_join(mj_entry *e, mj_reason reason,
                                const mj_stanza *st)
{
    mj_aux *a = mj_entry_aux_of(e); /* resent: it has its record */
    mj_ping_drop(e);
    if (pending_full(e->sess) ||
        mj_entry_set_pnick(e, mj_entry_nick_ptr(e), mj_entry_nick_len(e)) !=
            MJ_OK) {
        leave(e, reason, st);
        return;
    }
    emit_left(e, reason, st);
    /* the join sent again more than once: its other answers stay owed
     * (the join sent n times); so does the last one after an earlier
     * one with another id, whose answer comes first (retried) */
    uint8_t more = a->prev_more;
    int earlier = a->prev_join_id != 0;
    a->prev_join_id = 0;
    a->prev_more = 0;
    a->rename_owed = 0;
    wait_for_join(e, a->join_id);
    a->retried = (uint8_t)earlier;
    a->retry_more = more;
}

/* CHANGING entered or updated by a presence with the MUC <x/> to another
 * nick (send_available()): the room takes it for a join when it has
 * dropped the session before it saw it. A removal then (unavailable
 * self-presence without 303, or a destroy or 332 from the shown nick)
 * was sent before the room saw that join: the entry ends as for any
 * removal (left, with its reason) and waits, hidden, as PENDING under the
 * nick asked for the join's answer, as removed_before_join() does for a
 * join sent again to the shown nick (before, the answer was refused
 * as forged, the session in the room without an entry). Beyond
 * max_pending the entry just ends. */
static int changing_by_join(const mj_entry *e)
{
    const mj_aux *a = mj_entry_aux_of(e);
    return e->state == MJ_S_CHANGING && a != NULL && a->join_id != 0 &&
           a->pnick != NULL;
}

static void removed_before_change_join(mj_entry *e, mj_reason reason,
                                       const mj_stanza *st)
{
    mj_aux *a = mj_entry_aux_of(e);
    uint64_t id = a->join_id == MJ_JOIN_ID_NONE ? 0 : a->join_id;
    mj_ping_drop(e);
    if (pending_full(e->sess)) {
        leave(e, reason, st);
        return;
    }
    emit_left(e, reason, st);
    a->prev_join_id = 0;
    a->prev_more = 0;
    a->rename_owed = 0;
    wait_for_join(e, id);
    a->retried = 0;
    a->retry_more = 0;
}

/* Whether a received stanza carries the id of the entry's join (which
 * had one). */
static int carries_join_id(const mj_entry *e, const mj_stanza *st)
{
    const mj_aux *a = mj_entry_aux_of(e);
    return a != NULL && a->join_id != 0 && a->join_id != MJ_JOIN_ID_UNKNOWN &&
           st->id.ptr != NULL && id_key(e->sess->tr, st->id) == a->join_id;
}

/* Whether a removal of an entry with e->resent came after the room saw
 * the join sent again: it carries that join's id, or the join's time is
 * up (the tick has not run yet). */
static int removal_after_resent(const mj_entry *e, const mj_stanza *st)
{
    return !mj_entry_resent_owed(e) || carries_join_id(e, st);
}

/* Whether a 303's <item nick/> names a nick: present and a non-empty
 * Resourceprep-valid one. */
static int usable_303_nick(mj_str m)
{
    char pm[MJ_PART_MAX + 1];
    size_t pmlen;

    return m.ptr != NULL &&
           mj_prep_part(MJ_PROFILE_RESOURCE, m.ptr, m.len, pm, sizeof pm,
                        &pmlen) == MJ_OK &&
           pmlen > 0;
}

static int got_unavailable_self(mj_entry *e, const mj_stanza *st,
                                const mj_class *c, mj_outcome *out)
{
    mj_state state = (mj_state)e->state;
    switch (state) {
    case MJ_S_PENDING:
        if (c->has303 && c->removal == MJ_R_NONE) {
            /* another session of the occupant changing its nick: not
             * the close's answer, which stays owed */
            *out = MJ_O_UNCHANGED;
            return MJ_OK;
        }
        /* a removal carrying the join's own id refuses this join */
        if (c->removal == MJ_R_NONE ||
            (e->close_owed && !carries_join_id(e, st))) {
            /* the confirmation of an earlier leave racing the rejoin, or
             * the room's answer to the unavailable Prosody sent for the
             * session closed under this JID while in the room: a removal
             * that crossed that close (a kick, or a Prosody MUC's 333 for
             * the errors mod_smacks bounced) is the old occupancy's */
            e->close_owed = 0;
            *out = MJ_O_UNCHANGED;
            return MJ_OK;
        }
        fail_join(e, c->removal, st);
        *out = MJ_O_CHANGED;
        return MJ_OK;
    case MJ_S_JOINED:
    case MJ_S_CHANGING:
    case MJ_S_EXPECTING:
        if (c->has303) {
            const mj_str m = st->item_nick;
            if (!usable_303_nick(m)) {
                /* a nick change to nowhere: ask the room (while
                 * CHANGING, once the change is over) */
                *out = ask_ping(e);
                return MJ_OK;
            }
            if (mj_entry_set_pnick(e, m.ptr, m.len) != MJ_OK)
                return MJ_ENOMEM;
            mj_entry_set_state(e, MJ_S_EXPECTING);
            *out = MJ_O_CHANGED;
            return MJ_OK;
        }
        if (state == MJ_S_JOINED && e->resent && !removal_after_resent(e, st))
            removed_before_join(
                e, c->removal != MJ_R_NONE ? c->removal : MJ_R_REMOVED, st);
        else if (changing_by_join(e))
            removed_before_change_join(
                e, c->removal != MJ_R_NONE ? c->removal : MJ_R_REMOVED, st);
        else
            leave(e, c->removal != MJ_R_NONE ? c->removal : MJ_R_REMOVED, st);
        *out = MJ_O_CHANGED;
        return MJ_OK;
    case MJ_S_LEAVING:
        if (c->has303) { /* a change raced the leave; wait for the leave */
            /* the session is the announced occupant until then (its
             * destroy without 110: got_unavailable_other()) */
            const mj_str m = st->item_nick;
            if (usable_303_nick(m) &&
                mj_entry_set_pnick(e, m.ptr, m.len) != MJ_OK)
                return MJ_ENOMEM;
            /* its self-presence from m comes next: not a rejoin's answer
             * (answers_join()) */
            mj_entry_aux_of(e)->rename_owed = 1;
            *out = MJ_O_UNCHANGED;
            return MJ_OK;
        }
        leave(e, c->removal != MJ_R_NONE ? c->removal : MJ_R_VOLUNTARY, st);
        *out = MJ_O_CHANGED;
        return MJ_OK;
    case MJ_S_NONE:
        break;
    }
    return MJ_OK;
}

/* An unavailable without 110: about the session only when it comes from
 * the session's own nick (docs/semantics.md §2: destroy / 332, else
 * ambiguous); in EXPECTING(o, m) also from m, the nick the room's 303 gave the
 * session (ejabberd sends a destroy to the occupant without 110). A destroy or
 * 332 crossing a join sent again is a removal like any other
 * (removed_before_join()). */
static void got_unavailable_other(mj_entry *e, const mj_stanza *st,
                                  const mj_class *c, const mj_target *t,
                                  mj_outcome *out)
{
    mj_state state = (mj_state)e->state;
    mj_str m = mj_entry_pnick(e);
    *out = MJ_O_UNCHANGED;
    if (state == MJ_S_PENDING || !e->has_nick)
        return;
    if (!mj_nick_equal_res(e->sess->tr, t, mj_entry_nick_ptr(e),
                           mj_entry_nick_len(e)) &&
        !((state == MJ_S_EXPECTING || state == MJ_S_LEAVING) &&
          m.ptr != NULL && mj_nick_equal_res(e->sess->tr, t, m.ptr, m.len)))
        return;
    if (st->has_destroy || c->has332) {
        if (state == MJ_S_JOINED && e->resent && !removal_after_resent(e, st))
            removed_before_join(e, c->removal, st);
        else if (changing_by_join(e))
            removed_before_change_join(e, c->removal, st);
        else
            leave(e, c->removal, st);
        *out = MJ_O_CHANGED;
        return;
    }
    if (state != MJ_S_LEAVING) /* while CHANGING, sent when it ends */
        *out = ask_ping(e);
}

/* Whether an error answers what e waits for: PENDING, its join; LEAVING,
 * its leave (both keep that stanza's id_key() in mj_aux.join_id). */
static int refuses_join(const mj_entry *e, const mj_stanza *st);

/* LEAVING: a stanza from the room with the id of the join sent again
 * before the leave (send_leave() kept it in prev_join_id) answers or
 * refuses that join, so a rejoin, or the next session's join, owes it
 * nothing. */
static void forget_answered_resent(mj_entry *e, const mj_stanza *st)
{
    mj_aux *a = mj_entry_aux_of(e);
    if (a == NULL || a->prev_join_id == 0 ||
        id_key(e->sess->tr, st->id) != a->prev_join_id)
        return;
    if (a->prev_more > 0)
        a->prev_more--; /* sent more than once: the next answer is owed */
    else
        a->prev_join_id = 0;
}

/* CHANGING by a join (changing_by_join()): whether an error may refuse
 * that join. It carries the id of the stanza it refuses (RFC 6120 8.2.3):
 * the join's, when the join had one; none, when the join had none, on a
 * service seen to keep ids. Without that knowledge any error may. */
static int error_refuses_change_join(const mj_entry *e, const mj_stanza *st)
{
    const mj_aux *a = mj_entry_aux_of(e);
    const mj_domain *d = mj_entry_room(e)->dom;
    int reflects = d != NULL && d->reflects_id;
    if (a->join_id == MJ_JOIN_ID_NONE)
        return st->id.ptr == NULL || !reflects;
    if (st->id.ptr == NULL)
        return !reflects;
    return id_key(e->sess->tr, st->id) == a->join_id;
}

/* The path to the room bounced e's leave (LEAVING): the room never saw
 * it and keeps the session as an occupant. The leave is owed to the room
 * under the nick it knows the session by (a 303's announced nick, else
 * the shown one), and sent again at a link up of its domain (leaves.h). */
static void owe_leave(mj_entry *e)
{
    mj_session *s = e->sess;
    const mj_istr *r = mj_entry_room(e);
    mj_str m = mj_entry_pnick(e);
    if (m.ptr == NULL)
        m = mj_entry_nick(e);
    if (m.ptr == NULL || m.len == 0)
        return;
    mj_leaves_owe(s->tr, s, r->s, r->len, m.ptr, m.len,
                  r->dom != NULL && r->dom->reflects_id);
}

static void got_error(mj_entry *e, const mj_stanza *st, mj_outcome *out)
{
    switch ((mj_state)e->state) {
    case MJ_S_PENDING:
        fail_join(e, MJ_R_ERROR, st);
        *out = MJ_O_CHANGED;
        return;
    case MJ_S_CHANGING:
        /* a join under another nick waits and this error refuses
         * something sent before it (another id than the join's, or none
         * on a service seen to keep ids: a plain change to a taken nick):
         * the join's record stays, so a removal crossing the join still
         * finds it (as after an update's echo); the room is asked
         * once the change is over */
        if (changing_by_join(e) && !error_refuses_change_join(e, st)) {
            *out = ask_ping(e);
            return;
        }
        /* nick change refused; but Prosody answers a ghost's presence
         * with an error too: back to JOINED(o), and ask the room */
        mj_entry_set_pnick(e, NULL, 0);
        mj_entry_set_state(e, MJ_S_JOINED);
        ask_ping(e);
        *out = MJ_O_CHANGED;
        return;
    case MJ_S_JOINED:
    case MJ_S_EXPECTING:
        if (e->resent && refuses_join(e, st))
            clear_resent(e); /* the join sent again is refused */
        *out = ask_ping(e);
        return;
    case MJ_S_LEAVING:
        /* the room will not confirm this leave; but an error with the id
         * of another stanza refuses that one (a nick change to a taken
         * nick, an update): the leave's confirmation is still coming */
        if (!refuses_join(e, st)) {
            forget_answered_resent(e, st); /* refused */
            return;
        }
        if (mj_leave_bounced(e, st))
            owe_leave(e);
        leave(e, MJ_R_LEFT_UNCONFIRMED, NULL);
        *out = MJ_O_CHANGED;
        return;
    case MJ_S_NONE:
        break;
    }
}

/* Whether a presence received while e's join waits (PENDING) may be the
 * room's answer to that join rather than to what the session sent before
 * it. Only the id tells them apart (docs/state-machine.md, "The join's
 * id"):
 * - an error carries the id of the stanza it refuses (RFC 6120 8.2.3):
 *   one with an id other than the join's (which had one) is not its
 *   answer, on every service, nor is one without id on a service seen to
 *   reflect ids (it refuses a stanza that had none: Prosody copies the
 *   id, or its absence, into the error) (refuses_join());
 * - a self-presence is held to the join's id only while leaves sent
 *   before the join are owed their confirmations (e->owed: a rejoin, from
 *   LEAVING or after a cancelled join): what the room sends until then
 *   answers what was sent before (an update's echo, a leave's
 *   confirmation, a removal the room made before it saw the leave, the
 *   cancelled join's answer). Each unavailable one without 303 is a
 *   confirmation (or the old occupancy's removal), unchanged itself; the
 *   join's own id closes the window. An available one carrying the
 *   cancelled join's id is that join's answer (and shows the service
 *   reflects ids); one with another id is held back only on a service
 *   seen to reflect the join's id (XEP-0045 7.2.3), since a service that
 *   puts ids of its own, or none, on self-presences would otherwise never
 *   answer a join. Outside that window every self-presence answers the
 *   join: ejabberd answers a second session of an occupant with the
 *   first one's presence, and a join re-sent under another nick with the
 *   first join's id. */
static int refuses_join(const mj_entry *e, const mj_stanza *st)
{
    const mj_aux *a = mj_entry_aux_of(e);
    const mj_domain *d = mj_entry_room(e)->dom;
    if (a == NULL || a->join_id == MJ_JOIN_ID_UNKNOWN)
        return 1;
    /* a join without an id: on a service seen to keep ids, an error with
     * one refuses another stanza; a leave without one (a
     * broadcast unavailable) ends at any error */
    if (a->join_id == 0)
        return e->state == MJ_S_LEAVING || st->id.ptr == NULL || d == NULL ||
               !d->reflects_id;
    if (st->id.ptr == NULL) /* a service that drops ids; but on one seen */
        return d == NULL || !d->reflects_id; /* to keep them, another's */
    return id_key(e->sess->tr, st->id) == a->join_id;
}

/* Whether an error from room/x may refuse what e waits for, by x: an
 * error comes from where the stanza it refuses went (RFC 6120 8.3.1).
 * PENDING waits for the answer to the join to its asked nick (a client
 * retrying under another nick before the first join's answer came gets
 * that answer from the first nick). LEAVING waits for the leave's, which
 * may have gone to another nick than the shown one (a broadcast
 * unavailable goes where the session sent presence: after a rewrite
 * (210), to the nick it asked for; a client may leave from the nick a 303
 * announced): one with the leave's own id answers it from any nick (a
 * room that is gone refuses the leave with item-not-found, or gone);
 * without it, one from another nick than the session's in the room (the
 * shown one, or the one a 303 announced, which LEAVING keeps as its asked
 * nick; a leave from CHANGING forgets the nick the session asked for) is
 * taken for the refusal of what the session sent there (a nick change to
 * a taken nick crossing the leave), and a ghost's leave ends at its
 * timeout. Any other state: every error (it asks the room). */
static int error_may_answer(const mj_entry *e, const mj_stanza *st,
                            const mj_target *t)
{
    if (!t->has_res)
        return 1;
    if (e->state == MJ_S_PENDING) {
        mj_str n = mj_entry_pnick(e);
        const mj_aux *a = mj_entry_aux_of(e);
        /* one with the join's own id refuses it from wherever it went: a
         * join under another nick that a removal overtook waits under the
         * nick of a plain change sent after it; not when
         * the join was sent again, or an earlier join still owed had the
         * same id (ids restarting with a stream): it may be theirs */
        if (carries_join_id(e, st) && a != NULL && !a->retried &&
            a->retry_more == 0 && a->prev_join_id != a->join_id)
            return 1;
        return n.ptr == NULL ||
               mj_nick_equal_res(e->sess->tr, t, n.ptr, n.len);
    }
    if (e->state != MJ_S_LEAVING || !e->has_nick || carries_join_id(e, st))
        return 1; /* carrying the leave's id (mj_aux.join_id) */
    const mj_aux *a = mj_entry_aux_of(e);
    if (a != NULL && a->join_id == MJ_JOIN_ID_UNKNOWN)
        return 1; /* restored: neither the leave's id nor where it went is
                   * known (a 303's nick, the nick asked before a 210):
                   * any error ends it, as the docs say */
    mj_str m = mj_entry_pnick(e);
    return mj_nick_equal_res(e->sess->tr, t, mj_entry_nick_ptr(e),
                             mj_entry_nick_len(e)) ||
           (m.ptr != NULL && mj_nick_equal_res(e->sess->tr, t, m.ptr, m.len));
}

/* A join whose id is the very id of the earlier join still owed an answer
 * (a client that sends the same stanza again, one whose ids restart with
 * each stream): a self-presence with it answers either, so the count of
 * what is owed decides (answers_join()); an error with another id is
 * still no refusal of it (refuses_join()). Keyed 0 instead, such a join
 * lost both. */
static int same_id_as_prev(const mj_aux *a)
{
    return a->join_id != 0 && a->join_id == a->prev_join_id;
}

static int answers_join(mj_entry *e, const mj_stanza *st, const mj_class *c)
{
    const mj_aux *a = mj_entry_aux_of(e);
    mj_domain *d = mj_entry_room(e)->dom;
    if (a == NULL || a->join_id == MJ_JOIN_ID_UNKNOWN)
        return 1;
    if (st->type == MJ_T_ERROR)
        return refuses_join(e, st);
    if (!c->self || e->owed == 0)
        return 1;
    uint64_t k = id_key(e->sess->tr, st->id);
    /* its own answer: available, or a removal; an unavailable that is
     * neither, with the join's id, confirms a leave that had that id (ids
     * restart with each stream: the closed session's leave) */
    if (a->join_id != 0 && k == a->join_id && !same_id_as_prev(a) &&
        (st->type == MJ_T_AVAILABLE || c->removal != MJ_R_NONE)) {
        e->owed = 0; /* its own answer */
        e->held_back = 0;
        e->close_owed = 0;
        return 1;
    }
    if (e->close_owed && !(st->type == MJ_T_UNAVAILABLE && c->has303)) {
        /* the closed session's close's answer precedes everything else */
        e->close_owed = 0;
        if (st->type == MJ_T_UNAVAILABLE && !c->has303)
            return 0;
    }
    if (st->type == MJ_T_UNAVAILABLE) {
        if (!c->has303) {
            /* a leave confirmed, or the room's removal: what was held
             * back answered something sent before that leave */
            e->owed--;
            e->held_back = 0;
        } else if (c->removal == MJ_R_NONE) {
            /* a nick change sent before the leave (or the room's), done:
             * the old occupancy's self-presence from the new nick comes
             * next, before the leave's confirmation */
            mj_entry_aux_of(e)->rename_owed = 1;
        }
        return 0;
    }
    if (a->rename_owed) {
        /* that self-presence (without the join's id, checked above):
         * taken for the rejoin's answer, it showed the room under the
         * 303's nick and the leave's confirmation then ended it, the
         * rejoin's own answer refused as forged */
        mj_entry_aux_of(e)->rename_owed = 0;
        /* were it the rejoin's answer after all (the 303's own lost on
         * the way), the timeout shows the room and asks it
         * (timeout_held_back()); the leave's confirmation clears it */
        e->held_back = 1;
        return 0;
    }
    if (a->prev_join_id != 0 && k == a->prev_join_id) {
        if (d != NULL)
            d->reflects_id = 1; /* a join answered with its id */
        /* a join without id, or with that very id (same_id_as_prev()),
         * cannot tell its answer from the earlier join's: when the owed
         * answers never come (they reached the JID while no session held
         * it), the timeout takes this one as its answer and checks it
         * (timeout_held_back()) */
        if (a->join_id == 0 || same_id_as_prev(a))
            e->held_back = 1;
        return 0;
    }
    if (a->join_id == 0 || d == NULL || !d->reflects_id)
        return 1;
    e->held_back = 1; /* mj_joins_timeout() looks at it again */
    return 0;
}

/* A join sent with an id and answered by a self-presence carrying it:
 * the service reflects ids (answers_join()). */
static void learn_reflection(mj_entry *e, const mj_stanza *st)
{
    const mj_aux *a = mj_entry_aux_of(e);
    mj_domain *d = mj_entry_room(e)->dom;
    if (a != NULL && d != NULL && !d->reflects_id && a->join_id != 0 &&
        id_key(e->sess->tr, st->id) == a->join_id)
        d->reflects_id = 1;
}

static int is_cond(mj_str c, const char *name)
{
    return c.ptr != NULL && c.len == strlen(name) &&
           memcmp(c.ptr, name, c.len) == 0;
}

/* An unavailable self-presence (from an occupant, without 303: a nick
 * change of another session sharing the occupant is no close's answer,
 * as in a rejoin's window) from the room bare (prepared) to the session
 * JID pjid (prepared), which has no state with the room: what the room
 * owes the session closed last under that JID (its close's answer,
 * arriving before the session bound next joins the room)? Not forged
 * then, and a settled record is answered: a later join of the room must
 * not take an unavailable self-presence of its own for it. */
static int owed_to_closed(mj_tracker *tr, const char *pjid, size_t pjlen,
                          const mj_stanza *st, const mj_class *c, int has_res,
                          const char *bare, size_t blen)
{
    if (st->type == MJ_T_AVAILABLE && has_res) {
        /* the self-presence a 303 owed the closed session came (it is
         * still refused: no join was sent here) */
        mj_owed_renamed_came(&tr->owed, &tr->key, pjid, pjlen, bare, blen);
        return 0;
    }
    return st->type == MJ_T_UNAVAILABLE && !c->has303 && has_res &&
           mj_owed_explains(tr, &tr->owed, &tr->key, pjid, pjlen, bare, blen,
                            mj_now(tr));
}

/* A presence from an occupant of room t, with which the session has no
 * state: the answer to the leave a link up sent there again (leaves.h)?
 * Our server's bounce (mj_leave_path_bounced()) makes it owed again; the
 * room's error or unavailable self-presence ends it. 1 if it was (not
 * counted forged), 2 if it carried the id of the send it answers (the
 * tracker's own traffic: MJ_O_ANSWERED). */
static int resent_leave_answer(mj_session *s, const mj_target *t,
                               const mj_stanza *st, const mj_class *c)
{
    int lost = 0, bounced = 0, ours = 0;
    if (st->type == MJ_T_AVAILABLE ||
        (st->type == MJ_T_UNAVAILABLE && !c->self))
        return 0; /* not an answer to a leave */
    mj_leave *l =
        mj_leaves_waiting(s->tr, s, t->bare, t->blen, st->id, &lost, &ours);
    if (l == NULL)
        return 0;
    if (st->type == MJ_T_ERROR)
        bounced =
            mj_leave_path_bounced(s, mj_str_of(t->bare, t->blen), lost, st);
    mj_leaves_answered(s->tr, l, bounced);
    return ours ? 2 : 1;
}

/* What a session the tracker does not hold (pjid, prepared) receives. It
 * has state with no room, so nothing changes, and no session is created
 * for it; but a self-presence is refused and counted as forged exactly as
 * for a room a held session never joined (the JID first: an unusable one
 * is counted as such), unless it is an unavailable one a closed session
 * under that JID is owed (owed_to_closed()). Not logged: there is no
 * session to log it once for. */
int mj_joins_incoming_unknown(mj_tracker *tr, const char *pjid, size_t pjlen,
                              const mj_stanza *st, mj_outcome *out)
{
    char buf[3 * MJ_PART_MAX + 3];
    size_t len;
    mj_class c;
    *out = MJ_O_IGNORED;
    if (st->kind != MJ_KIND_PRESENCE ||
        (st->type != MJ_T_AVAILABLE && st->type != MJ_T_UNAVAILABLE) ||
        st->from.ptr == NULL)
        return MJ_OK; /* as for a held session (mj_joins_incoming()) */
    mj_classify(st, &c);
    if (!c.self)
        return MJ_OK;
    int rc = mj_jid_prep(st->from.ptr, st->from.len, buf, sizeof buf, &len);
    if (rc == MJ_ENOMEM)
        return rc;
    if (rc == MJ_ETOOLONG) {
        tr->st.limits++;
        *out = MJ_O_LIMIT;
    } else if (rc != MJ_OK) {
        tr->st.bad_jids++;
        *out = MJ_O_BAD_JID;
    } else {
        const char *slash = memchr(buf, '/', len);
        size_t blen = slash != NULL ? (size_t)(slash - buf) : len;
        if (owed_to_closed(tr, pjid, pjlen, st, &c, slash != NULL, buf, blen))
            return MJ_OK;
        tr->st.forged++;
        *out = MJ_O_FORGED;
    }
    return MJ_OK;
}

/* What a presence (or a not-acceptable message error) from room t does
 * to the session's entry e there (mj_joins_incoming()). */
static MJ_HOT int incoming_entry(mj_session *s, const mj_stanza *st,
                                 const mj_target *t, const mj_class *c,
                                 mj_entry *e, mj_outcome *out)
{
    *out = MJ_O_UNCHANGED;
    if (st->type == MJ_T_ERROR && !error_may_answer(e, st, t))
        return MJ_OK; /* refuses a stanza sent to another nick */
    if (e->state == MJ_S_PENDING && e->cancelled &&
        (t->has_res || st->type == MJ_T_ERROR)) {
        /* a join cancelled before its answer shows nothing: the room's
         * refusal of it, or its confirmation of the last owed leave,
         * ends it */
        int ends = 0;
        if (st->type == MJ_T_ERROR)
            ends = refuses_join(e, st);
        else if (c->self && st->type == MJ_T_UNAVAILABLE && !c->has303) {
            if (e->close_owed)
                e->close_owed = 0; /* the close's answer, before the join's */
            else
                ends = e->owed <= 1 || --e->owed == 0;
        } else if (c->self && st->type == MJ_T_AVAILABLE) {
            e->close_owed = 0; /* the close's answer came before, or never */
            learn_reflection(e, st); /* its answer, with its id */
        }
        if (ends) {
            mj_entry_destroy(e);
            *out = MJ_O_CHANGED;
        }
        return MJ_OK;
    }
    if (e->state == MJ_S_PENDING && (t->has_res || st->type == MJ_T_ERROR) &&
        !answers_join(e, st, c))
        return MJ_OK; /* the room's answer to an earlier stanza */
    if (e->state == MJ_S_LEAVING && c->self && st->type == MJ_T_AVAILABLE)
        forget_answered_resent(e, st); /* answered; its id is
                                          read while another join waits */
    switch (st->type) {
    case MJ_T_AVAILABLE:
        if (!c->self)
            return MJ_OK; /* another occupant */
        if (!t->has_res) {
            *out = MJ_O_IGNORED; /* a self-presence names a nick */
            return MJ_OK;
        }
        mj_retry retry = {0, 0, 0, 0};
        if (e->state == MJ_S_PENDING) {
            retry = retry_owed(e, st); /* before it learns reflection from
                                          this answer */
            learn_reflection(e, st);
        }
        return got_available_self(s, e, t, retry, may_answer_resent(e, st),
                                  out);
    case MJ_T_UNAVAILABLE:
        if (!t->has_res) {
            *out = c->self ? MJ_O_IGNORED : MJ_O_UNCHANGED;
            return MJ_OK;
        }
        if (c->self)
            return got_unavailable_self(e, st, c, out);
        got_unavailable_other(e, st, c, t, out);
        return MJ_OK;
    case MJ_T_ERROR:
        got_error(e, st, out);
        return MJ_OK;
    default:
        return MJ_OK; /* never: returned above */
    }
}

MJ_HOT int mj_joins_incoming(mj_session *s, const mj_stanza *st,
                             mj_outcome *out)
{
    mj_target t;
    mj_class c;
    *out = MJ_O_IGNORED;

    if (st->kind == MJ_KIND_MESSAGE && st->type == MJ_T_GROUPCHAT) {
        mj_msg_class mc;
        int rc = mj_messages_subject(s, st);
        if (rc == MJ_OK)
            rc = mj_messages_classify(s, st, 1, &mc);
        else
            mc = MJ_M_OTHER;
        *out = mc == MJ_M_OTHER ? MJ_O_IGNORED : MJ_O_UNCHANGED;
        return rc;
    }
    int presence = st->kind == MJ_KIND_PRESENCE;
    /* a groupchat message refused with not-acceptable: not an occupant? */
    int msg_err = st->kind == MJ_KIND_MESSAGE && st->type == MJ_T_ERROR &&
                  is_cond(st->error_condition, "not-acceptable");
    if ((!presence && !msg_err) || st->from.ptr == NULL)
        return MJ_OK;
    if (presence && st->type != MJ_T_AVAILABLE &&
        st->type != MJ_T_UNAVAILABLE && st->type != MJ_T_ERROR)
        return MJ_OK; /* probe, subscribe...: never change state, nor are
                         they a join's answer */

    mj_classify(st, &c);
    /* another occupant's presence (no 110, no error) from a JID that does
     * not prepare cannot be about the session (its nick prepared): ignored
     * uncounted, as for a session the tracker does not hold, which reads
     * only self-presences (once counted under bad_jids here only) */
    int quiet = presence && !c.self && st->type != MJ_T_ERROR;
    int rc = mj_parse_target(s, st->from, &t, quiet ? NULL : out);
    if (rc != MJ_OK)
        return rc == MJ_ENOMEM ? rc : MJ_OK;
    mj_entry *e = t.entry;
    if (e == NULL) {
        if (presence && t.has_res && s->tr->leaves.tried != 0) {
            int answer = resent_leave_answer(s, &t, st, &c);
            if (answer == 2)
                *out = MJ_O_ANSWERED;
            if (answer != 0)
                return MJ_OK;
            /* a leave sent again kept behind a rejoin no entry waits for
             * (no join to the tracker, over max_pending, or timed out):
             * the room answers the leave first, so its word now without
             * the leave's id (but a 303, another session of the occupant
             * renamed before the room saw the leave) is the rejoin's
             * answer, or the leave's without it: the record ends */
            if (s->tr->leaves.done != 0 &&
                (st->type == MJ_T_ERROR || (c.self && !c.has303)))
                mj_leaves_rejoin_answered(s->tr, s, t.bare, t.blen);
        }
        if (presence && c.self &&
            owed_to_closed(s->tr, mj_session_pjid(s), s->pjid_len, st, &c,
                           t.has_res, t.bare, t.blen))
            return MJ_OK;
        if (presence && c.self && st->type != MJ_T_ERROR) {
            note_forged(s, &t);
            *out = MJ_O_FORGED;
        }
        return MJ_OK;
    }
    if (msg_err) {
        /* the refusal of the session's groupchat message, which went to
         * the bare room, comes from the bare room. One from room/<nick>
         * is not it: Prosody's MUC relays another occupant's private
         * error message (any but a kickable one) from room/<that
         * occupant>, so any occupant could make the session ping the
         * room at will, and restart a check that had given up */
        if (t.has_res)
            return MJ_OK;
        *out = e->state == MJ_S_JOINED || e->state == MJ_S_EXPECTING
                   ? ask_ping(e)
                   : MJ_O_UNCHANGED;
        return MJ_OK;
    }
    /* a rejoin waits behind a leave a link up sent: the leave's answer,
     * carrying its id, comes first (the same path) and is the tracker's
     * own; what takes the entry out of PENDING (joined, or refused) is the
     * rejoin's answer, which ends the record (the leave's answer came
     * before it without the id, or never will). What leaves it PENDING
     * (the room's word to the ghost before it saw the leave: another
     * session of the occupant changing its nick, a refusal of something
     * sent before) ends nothing: the leave's answer is still to come.
     * A rejoin shown at its timeout (timeout_held_back(): neither answer
     * came) still has the record: the leave's answer with its id is
     * stopped there too (taken for the room's word, it left the room, and
     * the rejoin's answer right behind it counted forged), and, as with
     * no entry, the room's first word without it (but a 303) ends it */
    /* the room's JID outlives the entry (the interned one may not) */
    char room[sizeof t.buf];
    size_t rejoin = 0; /* its length: a rejoin waits behind the leave */
    int bounced = 0;   /* the rejoin's error is the path's bounce */
    if (s->tr->leaves.done != 0 && (st->type == MJ_T_ERROR || c.self)) {
        if (mj_leaves_answer_rejoined(s->tr, s, t.bare, t.blen,
                                      t.has_res && st->type != MJ_T_AVAILABLE
                                          ? st->id
                                          : mj_str_of(NULL, 0))) {
            /* the leave's answer the rejoin owed (send_join()): what was
             * held back answered something sent before it */
            if (e->state == MJ_S_PENDING) {
                if (e->owed > 0)
                    e->owed--;
                e->held_back = 0;
            }
            *out = MJ_O_ANSWERED;
            return MJ_OK;
        }
        if (e->state == MJ_S_PENDING) {
            rejoin = t.blen;
            memcpy(room, t.bare, rejoin);
            /* the path's bounce of the rejoin, the link lost since the
             * join went: the leave sent before it may be lost too */
            const mj_domain *d = mj_entry_room(e)->dom;
            bounced = st->type == MJ_T_ERROR && d != NULL &&
                      d->lost_at >= mj_entry_since(e) &&
                      mj_leave_bounced(e, st);
        } else if (st->type == MJ_T_ERROR || !c.has303) {
            /* but on a service seen to reflect ids, an available one
             * without the rejoin's id is still the ghost's word (a second
             * role change after the rejoin was shown at its timeout):
             * ending the record there let the leave's answer through,
             * which left the room, and the rejoin's answer counted
             * forged */
            const mj_domain *d = mj_entry_room(e)->dom;
            if (st->type != MJ_T_AVAILABLE || d == NULL || !d->reflects_id ||
                !mj_leaves_ghosts_word(s->tr, s, t.bare, t.blen,
                                       id_key(s->tr, st->id)))
                mj_leaves_rejoin_answered(s->tr, s, t.bare, t.blen);
        }
    }
    rc = incoming_entry(s, st, &t, &c, e, out);
    if (rejoin != 0 && rc == MJ_OK) {
        uint64_t h;
        const mj_istr *r = mj_room_find(s->tr, room, rejoin, &h);
        const mj_entry *now = r != NULL ? mj_entry_find(s, r) : NULL;
        if (now != NULL && now->state == MJ_S_PENDING)
            ;                            /* the leave's answer still to come */
        else if (bounced && now == NULL) /* never reached the room */
            mj_leaves_rejoin_bounced(s->tr, s, room, rejoin);
        else
            mj_leaves_rejoin_answered(s->tr, s, room, rejoin);
    }
    return rc;
}

/* A rejoin that timed out in its window after an available self-presence
 * was held back: neither its own answer nor the leave's confirmation
 * came, so what was held back was most likely its answer, carrying an id
 * of another stanza (ejabberd answers a ghost's rejoin with another
 * session's presence when they share the nick). The entry is shown under
 * the nick asked, with a self-ping to make sure (answers_join()). The
 * domain keeps its mark: it is every session's, and one ghost must not
 * take the other sessions' rejoins back to guessing. 1: done; 0: the
 * join fails as any timed-out join; -1: the entry is gone (max_rooms). */
static int timeout_held_back(mj_entry *e)
{
    mj_session *s = e->sess;
    mj_str asked = mj_entry_pnick(e);
    if (e->owed == 0 || !e->held_back || asked.ptr == NULL)
        return 0;
    if (s->n_shown >= s->tr->cfg.max_rooms) {
        /* as for the answer itself (got_available_self) */
        warn_limit(s, MJ_BOUND_ROOMS);
        mj_entry_destroy(e);
        return -1;
    }
    mj_entry *moved = mj_entry_promote_nick(e);
    if (moved == NULL)
        return 0; /* no memory: the join fails as any timed-out join */
    e = moved;
    mj_entry_set_state(e, MJ_S_JOINED);
    emit_simple(e, MJ_EV_JOINED, MJ_R_NONE);
    ask_ping(e);
    return 1;
}

void mj_joins_timeout(mj_entry *e)
{
    switch ((mj_state)e->state) {
    case MJ_S_PENDING:
        if (e->cancelled)
            mj_entry_destroy(e); /* the client gave it up: no event */
        else if (timeout_held_back(e) == 0)
            fail_join(e, MJ_R_TIMEOUT, NULL);
        return;
    case MJ_S_CHANGING:
        mj_entry_set_pnick(e, NULL, 0);
        mj_entry_set_state(e, MJ_S_JOINED);
        return;
    case MJ_S_EXPECTING: {
        /* the room announced the nick (303) and never confirmed it */
        mj_str m = mj_entry_pnick(e);
        if (m.ptr != NULL &&
            mj_nick_equal(e->sess->tr, m.ptr, m.len, mj_entry_nick_ptr(e),
                          mj_entry_nick_len(e))) {
            /* a 303 naming the nick the session has (compared after
             * Resourceprep, as the room's self-presence from it would
             * be): o stays, no change to tell */
            mj_entry_set_pnick(e, NULL, 0);
            mj_entry_set_state(e, MJ_S_JOINED);
            return;
        }
        char old[MJ_PART_MAX + 1];
        size_t old_len = mj_entry_nick_len(e);
        memcpy(old, mj_entry_nick_ptr(e), old_len);
        mj_entry *moved = mj_entry_promote_nick(e);
        if (moved == NULL) {
            /* no memory to store the announced nick: the old one stays */
            mj_log(e->sess->tr, MJ_LOG_WARN,
                   "out of memory: %s keeps its old nick",
                   mj_entry_room(e)->s);
            mj_entry_set_pnick(e, NULL, 0);
            mj_entry_set_state(e, MJ_S_JOINED);
            return;
        }
        e = moved;
        mj_entry_set_state(e, MJ_S_JOINED);
        mj_emit(e, MJ_EV_NICK_CHANGED, MJ_R_NONE, mj_str_of(old, old_len),
                none(), none(), none());
        return;
    }
    case MJ_S_LEAVING:
        leave(e, MJ_R_LEFT_UNCONFIRMED, NULL);
        return;
    case MJ_S_JOINED:
        if (e->resent) {
            /* a join sent again, unanswered: forgotten (no state change,
             * so since stays) */
            mj_entry_set_resent(e, 0);
            return;
        }
        break;
    case MJ_S_NONE:
        break;
    }
    /* not timed: take it off the list so tick cannot loop */
    mj_entry_set_state(e, (mj_state)e->state);
}
