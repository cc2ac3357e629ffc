/* A randomized model check of the join state machine with nick changes
 * and joins under another nick, run by `make model-check`, not by `make test`:
 * one client JID, one room on a service that answers in order as Prosody's MUC
 * does (muc.lib.lua handle_normal_presence): a join (MUC <x/>) from a
 * non-occupant makes it an occupant under its nick; a presence without
 * the <x/> from a non-occupant is refused (item-not-found); an occupant's
 * presence to another nick, with or without the <x/>, is a nick change
 * (unavailable 110+303 from the old nick, no id, then the available 110
 * from the new one with the presence's id); a leave is confirmed; the
 * room may kick (110+307), rename the occupant (303, then 110 without
 * id: RENAME) or kick it for a presence error it sent (PERR). After
 * everything is delivered and pending_timeout has passed the tracker must
 * show the room exactly when the JID is an occupant, under the room's
 * nick. Counts the wrong runs (the limits docs/state-machine.md lists
 * still make some) and prints the shortest one. Arguments: runs (100000),
 * actions per run at most (6). Environment: NOIDS (no presence ids),
 * NOKICK, SANE (the client joins only when it believes it is out and
 * changes its nick only when in), TIME (time passes, 70 s at a time),
 * PERR, RENAME, LIST (list the wrong runs), ALL=N (print every wrong run
 * whose trace is shorter than N bytes). */
#include "fixture.h"
#define JID  "user@example.org/phone"
#define ROOM "room@muc.example.org"
static const char *NICKS[] = {"Ann", "Bob", "Cid"};
static mj_tracker *tr;
struct ans {
    int type;
    int nick;
    int newnick;
    char id[16];
    int has_id;
};
/* type: 0 avail110, 1 unavail110, 2 error, 3 kick307, 4 unavail 303+110 */
static struct ans q[256];
static int qh, qt;
static int occ, cur;
static int cl_in, sane;
static unsigned counter;
static char trace[16384];
static void tc(const char *f, ...)
{
    size_t u = strlen(trace);
    va_list ap;
    va_start(ap, f);
    vsnprintf(trace + u, sizeof trace - u, f, ap);
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
static int use_ids = 1;
static int int_lim(void)
{
    return getenv("ALL") ? atoi(getenv("ALL")) : 0;
}
static void push(int type, int nick, int newnick, const char *id)
{
    struct ans *a = &q[qt++];
    a->type = type;
    a->nick = nick;
    a->newnick = newnick;
    a->has_id = id != NULL && use_ids;
    if (id)
        snprintf(a->id, sizeof a->id, "%s", id);
}
static char jbuf[8][128];
static int jb;
static const char *occj(int n)
{
    char *b = jbuf[jb++ & 7];
    snprintf(b, 128, ROOM "/%s", NICKS[n]);
    return b;
}
static void out(mj_stanza st)
{
    mj_session *s = NULL;
    mj_outcome o;
    if (mj_tracker_outgoing(tr, JID, strlen(JID), &st, &s, &o) != MJ_OK)
        abort();
}
static void deliver(void)
{
    struct ans *a = &q[qh++];
    const char *ty = a->type == 0   ? "available"
                     : a->type == 2 ? "error"
                                    : "unavailable";
    mj_stanza st = fx_pres(ty, occj(a->nick));
    if (a->type == 0 || a->type == 1)
        fx_codes(&st, 110, 0);
    else if (a->type == 3)
        fx_codes(&st, 110, 307, 0);
    else if (a->type == 4) {
        fx_codes(&st, 110, 303, 0);
        st.item_nick = S(NICKS[a->newnick]);
    } else
        st.error_condition = S("conflict");
    if (a->has_id)
        st.id = S(a->id);
    mj_session *s = NULL;
    mj_session_find(tr, JID, strlen(JID), &s);
    unsigned need = s ? mj_session_needs(s, 0, st.kind, st.type)
                      : mj_tracker_needs(tr, 0, st.kind, st.type);
    if (!(need & MJ_NEED_ID))
        st.id = S(NULL);
    if (a->type == 0)
        cl_in = 1;
    else if (a->type == 1 || a->type == 3)
        cl_in = 0;
    mj_outcome o;
    if (mj_tracker_incoming(tr, JID, strlen(JID), &st, NULL, &o) != MJ_OK)
        abort();
    tc("  room-> %s from %s%s%s id=%s -> %s\n",
       a->type == 0   ? "avail110"
       : a->type == 1 ? "unavail110"
       : a->type == 2 ? "error"
       : a->type == 3 ? "kick"
                      : "303",
       NICKS[a->nick], a->type == 4 ? " nick=" : "",
       a->type == 4 ? NICKS[a->newnick] : "", a->has_id ? a->id : "-",
       mj_outcome_name(o));
}
/* the room: a presence from the client to nick n (avail/unavail), muc x or not
 */
static void room_sees(int type, int n, int x, const char *id)
{
    if (type == 1) {
        if (occ) {
            push(1, cur, 0, id);
            occ = 0;
        }
        return;
    }
    if (!occ) {
        if (!x) {
            push(2, n, 0, id);
            return;
        }
        occ = 1;
        cur = n;
        push(0, n, 0, id);
        return;
    }
    if (n == cur) {
        push(0, n, 0, id);
        return;
    }
    /* nick change */
    push(4, cur, n, NULL);
    cur = n;
    push(0, n, 0, id);
}
static int step(int k)
{
    char id[16];
    snprintf(id, sizeof id, "%u", ++counter);
    int n = (int)rnd(3);
    switch (k) {
    case 0:
        if (sane && cl_in)
            return 0;
        {
            mj_stanza st = fx_pres("available", occj(n));
            st.has_muc_x = 1;
            if (use_ids)
                st.id = S(id);
            out(st);
            room_sees(0, n, 1, id);
            tc("client join %s id=%s\n", NICKS[n], id);
            return 1;
        }
    case 1:
        if (sane && !cl_in)
            return 0;
        {
            mj_stanza st = fx_pres("available", occj(n));
            if (use_ids)
                st.id = S(id);
            out(st);
            room_sees(0, n, 0, id);
            tc("client presence(no x) %s id=%s\n", NICKS[n], id);
            return 1;
        }
    case 2: {
        mj_stanza st = fx_pres("unavailable", occj(n));
        if (use_ids)
            st.id = S(id);
        out(st);
        room_sees(1, n, 0, id);
        tc("client leave to %s id=%s\n", NICKS[n], id);
        return 1;
    }
    case 6: {
        mj_stanza st = fx_pres("error", occj(n));
        st.error_condition = S("gone");
        if (use_ids)
            st.id = S(id);
        out(st);
        if (occ) {
            push(3, cur, 0, NULL);
            occ = 0;
        }
        tc("client presence error to %s id=%s\n", NICKS[n], id);
        return 1;
    }
    case 7: {
        if (!occ)
            return 0;
        int m = (cur + 1) % 3;
        push(4, cur, m, NULL);
        cur = m;
        push(0, m, 0, NULL);
        tc("room renames to %s (queued)\n", NICKS[m]);
        return 1;
    }
    case 3:
        if (!occ)
            return 0;
        push(3, cur, 0, NULL);
        occ = 0;
        tc("room kicks (queued)\n");
        return 1;
    case 5:
        fx_now += 70;
        mj_tracker_tick(tr);
        tc("time +70\n");
        return 1;
    default:
        if (qh == qt)
            return 0;
        deliver();
        return 1;
    }
}
int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    int maxlen = argc > 2 ? atoi(argv[2]) : 6;
    long fails = 0;
    int best = 100000;
    use_ids = getenv("NOIDS") == NULL;
    sane = getenv("SANE") != NULL;
    int kinds = getenv("NOKICK") ? 3 : 4;
    for (long it = 0; it < n; it++) {
        rng = 0x9E3779B97F4A7C15u * (uint64_t)(it + 1);
        tr = fx_tracker();
        occ = 0;
        cur = 0;
        counter = 0;
        cl_in = 0;
        qh = qt = 0;
        trace[0] = 0;
        /* first join answered: reflects ids */
        step(0);
        step(4);
        int actions = 0, len = 1 + (int)rnd((unsigned)maxlen);
        while (actions < len) {
            int k = (int)rnd(kinds + 2);
            if (getenv("PERR") && rnd(6) == 0)
                k = 6;
            if (getenv("RENAME") && rnd(5) == 0)
                k = 7;
            if (k == kinds)
                k = 4;
            else if (k == kinds + 1)
                k = getenv("TIME") ? 5 : 4;
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
        int bad = shown != occ;
        const char *nick = NULL;
        if (!bad && shown) {
            mj_str ns;
            if (mj_session_nick(s, ROOM, strlen(ROOM), &ns) == MJ_OK) {
                if (ns.len != strlen(NICKS[cur]) ||
                    memcmp(ns.ptr, NICKS[cur], ns.len)) {
                    bad = 1;
                    nick = "WRONGNICK";
                }
            }
        }
        if (bad && getenv("LIST"))
            printf("BAD %ld\n", it);
        if (bad) {
            fails++;
            int l = (int)strlen(trace);
            if (getenv("ALL") ? (l < int_lim()) : l < best) {
                best = l;
                printf("---- it %ld: occupant=%d as %s, tracker %s %s (events "
                       "%s)\n%s",
                       it, occ, NICKS[cur], mj_state_name(stt),
                       nick ? nick : "", fx_take(), trace);
            }
        }
        (void)nick;
        mj_tracker_free(tr);
    }
    printf("%ld of %ld runs wrong\n", fails, n);
    return 0;
}
