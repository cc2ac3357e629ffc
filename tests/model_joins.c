/* A randomized model check of the join state machine, run by
 * `make model-check`, not by `make test`: it counts the runs that end
 * wrong, and the limits docs/state-machine.md lists ("Known limits") still
 * make some. One client JID, one room on a service that reflects ids (as
 * Prosody's), answering in order. The client sends joins (a fresh id, or
 * the last join's id again), leaves, and closes its stream (ids restart);
 * what it receives is read as the binding reads it (the id only when
 * mj_session_needs() asks). After everything is delivered and
 * pending_timeout has passed, the tracker must show the room exactly when
 * the JID is an occupant. Prints the shortest wrong run's trace and the
 * count. Arguments: runs (200000), actions per run at most (6);
 * environment: MODEL_REFUSE (the room also refuses joins), MODEL_OTHER
 * (another room's join waits: ids are always read), MODEL_EXT (the client
 * also joins without an id, and the room kicks), MODEL_UPD (with
 * MODEL_EXT: presence updates, with or without an id, which the room
 * echoes), MODEL_TIME (with MODEL_EXT: time passes, MODEL_DT seconds (70),
 * and the tracker ticks), MODEL_NOREFLECT (the service echoes no ids),
 * MODEL_FORGED (a run in which the tracker refused an answer as forged is
 * wrong too), MODEL_LIST (list the wrong runs), MODEL_ONLY=N (print run
 * N's trace). The extended settings cover joins sent again and retried
 * without an id. */
#include "fixture.h"

#define JID  "user@example.org/phone"
#define ROOM "room@muc.example.org"
#define OCC  ROOM "/Ann"

static mj_tracker *tr;
static int occupant, held;
static unsigned counter;
static char last_join[16];
static int have_last_join;

struct ans {
    int type; /* 0 available 110, 1 unavailable 110, 2 error, 3 kick (307) */
    char id[16];
    int has_id;
};
static struct ans q[256];
static int qh, qt;

static char trace[8192];
static void tr_cat(const char *fmt, ...)
{
    size_t u = strlen(trace);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(trace + u, sizeof trace - u, fmt, ap);
    va_end(ap);
}

static uint64_t rng;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static int no_reflect;
static void push(int type, const char *id)
{
    if (no_reflect)
        id = NULL;
    struct ans *a = &q[qt++];
    a->type = type;
    a->has_id = id != NULL;
    if (id)
        snprintf(a->id, sizeof a->id, "%s", id);
}

static int other_room;
static void out(mj_stanza st)
{
    if (other_room && !held) {
        mj_stanza j = fx_pres("available", "other@muc.example.org/Ann");
        j.has_muc_x = 1;
        mj_session *s0 = NULL;
        mj_outcome o0;
        mj_tracker_outgoing(tr, JID, strlen(JID), &j, &s0, &o0);
    }
    mj_session *s = NULL;
    mj_outcome o;
    if (mj_tracker_outgoing(tr, JID, strlen(JID), &st, &s, &o) != MJ_OK)
        abort();
    held = s != NULL;
}

static void deliver(void)
{
    struct ans *a = &q[qh++];
    mj_stanza st = fx_pres(a->type == 0                   ? "available"
                           : a->type == 1 || a->type == 3 ? "unavailable"
                                                          : "error",
                           OCC);
    if (a->type == 3)
        fx_codes(&st, 110, 307, 0);
    else if (a->type != 2)
        fx_codes(&st, 110, 0);
    else
        st.error_condition = S("item-not-found");
    if (a->has_id)
        st.id = S(a->id);
    mj_session *s = NULL;
    mj_session_find(tr, JID, strlen(JID), &s);
    unsigned need = s ? mj_session_needs(s, 0, st.kind, st.type)
                      : mj_tracker_needs(tr, 0, st.kind, st.type);
    if (!(need & MJ_NEED_ID))
        st.id = S(NULL);
    mj_outcome o;
    if (mj_tracker_incoming(tr, JID, strlen(JID), &st, NULL, &o) != MJ_OK)
        abort();
    tr_cat("  room->%s %s id=%s%s -> %s\n",
           a->type == 0   ? "avail"
           : a->type == 1 ? "unavail"
           : a->type == 3 ? "kick"
                          : "error",
           held ? "" : "(nobody)", a->has_id ? a->id : "-",
           st.id.ptr ? "" : " (id not read)", mj_outcome_name(o));
}

static int step(int kind)
{
    char id[16];
    switch (kind) {
    case 0: /* join, fresh id */
    case 1: /* the same join again */
        if (kind == 1 && !have_last_join)
            return 0;
        if (kind == 0) {
            snprintf(id, sizeof id, "%u", ++counter);
            snprintf(last_join, sizeof last_join, "%s", id);
            have_last_join = 1;
        } else {
            snprintf(id, sizeof id, "%s", last_join);
        }
        {
            mj_stanza st = fx_pres("available", OCC);
            st.has_muc_x = 1;
            st.id = S(id);
            out(st);
        }
        occupant = 1;
        push(0, id);
        tr_cat("client join id=%s\n", id);
        return 1;
    case 5: { /* a join the room refuses (not an occupant yet) */
        if (occupant)
            return 0;
        snprintf(id, sizeof id, "%u", ++counter);
        snprintf(last_join, sizeof last_join, "%s", id);
        have_last_join = 1;
        mj_stanza st = fx_pres("available", OCC);
        st.has_muc_x = 1;
        st.id = S(id);
        out(st);
        push(2, id);
        tr_cat("client join id=%s (to be refused)\n", id);
        return 1;
    }
    case 2: { /* leave */
        snprintf(id, sizeof id, "%u", ++counter);
        mj_stanza st = fx_pres("unavailable", OCC);
        st.id = S(id);
        out(st);
        if (occupant)
            push(1, id);
        occupant = 0;
        tr_cat("client leave id=%s\n", id);
        return 1;
    }
    case 3: { /* close, new stream */
        mj_session *s = NULL;
        if (mj_session_find(tr, JID, strlen(JID), &s) == MJ_OK && s)
            mj_session_close(s);
        held = 0;
        if (occupant)
            push(1, NULL);
        occupant = 0;
        counter = 0;
        have_last_join = 0;
        tr_cat("client close (ids restart)\n");
        return 1;
    }
    case 6: { /* a join without an id */
        mj_stanza st = fx_pres("available", OCC);
        st.has_muc_x = 1;
        out(st);
        occupant = 1;
        push(0, NULL);
        tr_cat("client join id=-\n");
        return 1;
    }
    case 7: /* the room kicks */
        if (!occupant)
            return 0;
        push(3, NULL);
        occupant = 0;
        tr_cat("room kicks (queued)\n");
        return 1;
    case 8: { /* an update, with or without an id, echoed */
        if (!occupant)
            return 0;
        int with_id = (int)rnd(2);
        snprintf(id, sizeof id, "%u", ++counter);
        mj_stanza st = fx_pres("available", OCC);
        if (with_id)
            st.id = S(id);
        out(st);
        push(0, with_id ? id : NULL);
        tr_cat("client update id=%s\n", with_id ? id : "-");
        return 1;
    }
    case 9: { /* time passes */
        const char *dt = getenv("MODEL_DT");
        fx_now += dt != NULL ? atof(dt) : 70;
        mj_tracker_tick(tr);
        tr_cat("time +%s\n", dt != NULL ? dt : "70");
        return 1;
    }
    case 4:
    default:
        if (qh == qt)
            return 0;
        deliver();
        return 1;
    }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    int maxlen = argc > 2 ? atoi(argv[2]) : 6;
    long fails = 0;
    int best = 1000;
    for (long it = 0; it < n; it++) {
        rng = 0x9E3779B97F4A7C15u * (uint64_t)(it + 1);
        tr = fx_tracker();
        other_room = getenv("MODEL_OTHER") != NULL;
        no_reflect = getenv("MODEL_NOREFLECT") != NULL;
        occupant = held = 0;
        counter = 0;
        have_last_join = 0;
        qh = qt = 0;
        trace[0] = 0;
        /* a first join answered: the service is known to reflect ids */
        step(0);
        step(4);
        int actions = 0, len = 1 + (int)rnd((unsigned)maxlen);
        while (actions < len) {
            int k = (int)rnd(getenv("MODEL_REFUSE") ? 6 : 5);
            if (k == 5 && rnd(2))
                k = 4;
            if (getenv("MODEL_EXT")) {
                unsigned x = rnd(10);
                if (x < 2)
                    k = 6;
                else if (x == 2)
                    k = 7;
                else if (x == 3 && getenv("MODEL_UPD"))
                    k = 8;
                else if (x == 4 && getenv("MODEL_TIME"))
                    k = 9;
            }
            if (k == 4)
                step(4);
            else if (step(k))
                actions++;
        }
        while (qh < qt)
            step(4);
        fx_now += 1e4;
        mj_tracker_tick(tr);
        mj_session *s = NULL;
        mj_session_find(tr, JID, strlen(JID), &s);
        mj_state stt = s ? fx_state(s, ROOM) : MJ_S_NONE;
        int shown = stt == MJ_S_JOINED;
        int bad = s != NULL ? shown != occupant : 0;
        if (getenv("MODEL_FORGED")) {
            mj_stats sx;
            mj_tracker_stats(tr, &sx);
            bad |= sx.forged != 0;
        }
        if (getenv("MODEL_LIST") && bad)
            printf("BAD %ld\n", it);
        if (bad) {
            fails++;
            int l = (int)strlen(trace);
            if (getenv("MODEL_ONLY") ? atol(getenv("MODEL_ONLY")) == it
                                     : l < best) {
                best = l;
                printf("---- it %ld: occupant=%d, tracker %s (events %s)\n%s",
                       it, occupant, mj_state_name(stt), fx_take(), trace);
            }
        }
        mj_tracker_free(tr);
    }
    printf("%ld of %ld runs wrong\n", fails, n);
    return 0;
}
