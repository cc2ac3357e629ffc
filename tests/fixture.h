/* Shared test fixture: a tracker with a fake clock and an event recorder
 * that writes each event as one short line, and helpers that build
 * stanza views in one call. */
#ifndef MJ_FIXTURE_H
#define MJ_FIXTURE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mucjoins.h"
#include "test.h"

static double fx_now;
static char fx_events[8192];
static size_t fx_nevents;

static inline double fx_clock(void *ud)
{
    (void)ud;
    return fx_now;
}

static inline void fx_cat(const char *fmt, ...)
{
    size_t used = strlen(fx_events);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fx_events + used, sizeof fx_events - used, fmt, ap);
    va_end(ap);
}

/* "joined room nick", "left room nick reason", "nick-changed room
 * old>new", "join-failed room reason[/condition]", "ping room nick";
 * events separated by "; " */
static inline void fx_on_event(void *ud, const mj_event *ev)
{
    (void)ud;
    fx_nevents++;
    if (fx_events[0])
        fx_cat("; ");
    fx_cat("%s %.*s",
           ev->type == MJ_EV_PING_NEEDED ? "ping" : mj_event_name(ev->type),
           (int)ev->room.len, ev->room.ptr);
    if (ev->type == MJ_EV_NICK_CHANGED || ev->type == MJ_EV_NICK_REWRITTEN)
        fx_cat(" %.*s>%.*s", (int)ev->old_nick.len,
               ev->old_nick.ptr ? ev->old_nick.ptr : "", (int)ev->nick.len,
               ev->nick.ptr ? ev->nick.ptr : "");
    else if (ev->type != MJ_EV_JOIN_FAILED && ev->nick.ptr)
        fx_cat(" %.*s", (int)ev->nick.len, ev->nick.ptr);
    if (ev->reason != MJ_R_NONE)
        fx_cat(" %s", mj_reason_name(ev->reason));
    /* a left's room_nick (set where it differs from its nick: EXPECTING) */
    if (ev->room_nick.ptr)
        fx_cat(" at=%.*s", (int)ev->room_nick.len, ev->room_nick.ptr);
    if (ev->condition.ptr)
        fx_cat("/%.*s", (int)ev->condition.len, ev->condition.ptr);
    if (ev->text.ptr)
        fx_cat(" text=%.*s", (int)ev->text.len, ev->text.ptr);
    if (ev->alt_venue.ptr)
        fx_cat(" venue=%.*s", (int)ev->alt_venue.len, ev->alt_venue.ptr);
}

/* Return the recorded events and clear the record. */
static inline const char *fx_take(void)
{
    static char copy[sizeof fx_events];
    memcpy(copy, fx_events, sizeof copy);
    fx_events[0] = '\0';
    return copy;
}

#define CHECK_EVENTS(expected)                                                \
    do {                                                                      \
        const char *got_ = fx_take();                                         \
        if (strcmp(got_, (expected)) != 0)                                    \
            FAIL_AT("events: got \"%s\", expected \"%s\"", got_, expected);   \
    } while (0)

static inline mj_tracker *fx_tracker(void)
{
    mj_config cfg;
    mj_tracker *tr = NULL;
    mj_config_init(&cfg);
    cfg.clock = fx_clock;
    cfg.on_event = fx_on_event;
    fx_now = 1000.0;
    fx_events[0] = '\0';
    fx_nevents = 0;
    if (mj_tracker_new(&cfg, &tr) != MJ_OK) {
        fprintf(stderr, "cannot create tracker\n");
        exit(2);
    }
    return tr;
}

static inline mj_session *fx_session(mj_tracker *tr, const char *jid)
{
    mj_session *s = NULL;
    if (mj_session_open(tr, jid, strlen(jid), &s) != MJ_OK) {
        fprintf(stderr, "cannot open session %s\n", jid);
        exit(2);
    }
    return s;
}

static inline mj_str S(const char *p)
{
    mj_str s;
    s.ptr = p;
    s.len = p ? strlen(p) : 0;
    return s;
}

/* A presence view. type: "available", "unavailable", "error", other. */
static inline mj_stanza fx_pres(const char *type, const char *jid)
{
    mj_stanza st;
    mj_stanza_init(&st);
    st.kind = MJ_KIND_PRESENCE;
    if (strcmp(type, "available") == 0)
        st.type = MJ_T_AVAILABLE;
    else if (strcmp(type, "unavailable") == 0)
        st.type = MJ_T_UNAVAILABLE;
    else if (strcmp(type, "error") == 0)
        st.type = MJ_T_ERROR;
    else
        st.type = MJ_T_OTHER;
    st.to = S(jid);
    st.from = S(jid);
    return st;
}

/* Add muc#user status codes, terminated by 0. */
static inline void fx_codes(mj_stanza *st, ...)
{
    va_list ap;
    int c;
    st->has_muc_user = 1;
    va_start(ap, st);
    while ((c = va_arg(ap, int)) != 0 && st->nstatus < MJ_MAX_STATUS)
        st->status[st->nstatus++] = c;
    va_end(ap);
}

static inline mj_outcome fx_out(mj_session *s, mj_stanza st)
{
    mj_outcome o = MJ_O_IGNORED;
    int rc = mj_session_outgoing(s, &st, &o);
    if (rc != MJ_OK)
        FAIL_AT("outgoing: %s", mj_strerror(rc));
    return o;
}

static inline mj_outcome fx_in(mj_session *s, mj_stanza st)
{
    mj_outcome o = MJ_O_IGNORED;
    int rc = mj_session_incoming(s, &st, &o);
    if (rc != MJ_OK)
        FAIL_AT("incoming: %s", mj_strerror(rc));
    return o;
}

/* The session sends a join (available + MUC <x/>) to room/nick. */
static inline mj_outcome fx_join(mj_session *s, const char *occupant)
{
    mj_stanza st = fx_pres("available", occupant);
    st.has_muc_x = 1;
    return fx_out(s, st);
}

/* The session receives a self-presence (110) from room/nick. */
static inline mj_outcome fx_self(mj_session *s, const char *type,
                                 const char *occupant)
{
    mj_stanza st = fx_pres(type, occupant);
    fx_codes(&st, 110, 0);
    return fx_in(s, st);
}

/* The nick shown for room, or NULL. */
static inline const char *fx_nick(mj_session *s, const char *room)
{
    static char buf[2048];
    mj_str n;
    if (mj_session_nick(s, room, strlen(room), &n) != MJ_OK)
        return NULL;
    snprintf(buf, sizeof buf, "%.*s", (int)n.len, n.ptr);
    return buf;
}

static inline mj_state fx_state(mj_session *s, const char *room)
{
    mj_room_info info;
    if (mj_session_room(s, room, strlen(room), &info) != MJ_OK)
        return MJ_S_NONE;
    return info.state;
}

#define CHECK_NICK(s, room, expected)                                         \
    do {                                                                      \
        const char *n_ = fx_nick((s), (room));                                \
        const char *e_ = (expected);                                          \
        if (e_ == NULL ? n_ != NULL : (n_ == NULL || strcmp(n_, e_) != 0))    \
            FAIL_AT("nick of %s: got %s%s%s, expected %s%s%s", room,          \
                    n_ ? "\"" : "", n_ ? n_ : "(none)", n_ ? "\"" : "",       \
                    e_ ? "\"" : "", e_ ? e_ : "(none)", e_ ? "\"" : "");      \
    } while (0)

#define CHECK_STATE(s, room, expected)                                        \
    do {                                                                      \
        mj_state st_ = fx_state((s), (room));                                 \
        if (st_ != (expected))                                                \
            FAIL_AT("state of %s: %s, expected %s", room, mj_state_name(st_), \
                    mj_state_name(expected));                                 \
    } while (0)

#define CHECK_OUTCOME(expr, expected)                                         \
    do {                                                                      \
        mj_outcome o_ = (expr);                                               \
        if (o_ != (expected))                                                 \
            FAIL_AT("%s: outcome %s, expected %s", #expr,                     \
                    mj_outcome_name(o_), mj_outcome_name(expected));          \
    } while (0)

#endif
