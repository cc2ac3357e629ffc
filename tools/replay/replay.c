/*
 * replay.c - the replay driver (see replay.h): the fake clock, the
 * sessions in order of first appearance, what the module does with each
 * element of the trace (feed the stanza in or out, answer self-pings and
 * the disco#info they may need, close, tick, link lost), and the printing
 * of every decision, event and of the final table.
 *
 * Built on the public API only (include/mucjoins.h), the way libexpat's
 * xmlwf is built on expat.h: if this tool needs something the header does
 * not offer, the API is missing it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "replay.h"
#include "trace.h"
#include "view.h"

#define JID_BUF (3 * 1023 + 3)

/* The id prefix of the self-pings mod_track_muc_joins sends for a
 * PING_NEEDED event: "mjping-<ping_id>-<salt>". An iq result or error the
 * session receives with such an id is the answer to that ping. */
#define PING_ID_PREFIX "mjping-"
/* ... and when the core needs the room's disco#info to settle an answer
 * (mj_session_ping_needs_features), the module asks it with the iq id
 * "mjdisco-<ping_id>-<salt>": its reply settles the held answer. */
#define DISCO_ID_PREFIX "mjdisco-"
/* The module's bounds on those requests (lua/selfping.lib.lua): out at
 * once in all, to one room service, for one account, for one account that
 * left a request unanswered ("silent"), for all silent accounts; the
 * silence a request left unanswered adds (a reply takes one off), and its
 * most. Beyond a bound an answer is taken without the reply. */
#define MAX_INFO_WAITS         64
#define MAX_DOMAIN_INFO_WAITS  4
#define MAX_ACCOUNT_INFO_WAITS 4
#define MAX_SILENT_INFO_WAITS  32
#define SILENCE_PER_TIMEOUT    4
#define MAX_SILENCE            64
#define SILENT_ACCOUNTS        1024
#define STR_(x)                #x
#define STR(x)                 STR_(x)

/* ---------------------------------------------------------------------- */
/* Sessions in order of first appearance (keyed by the prepared JID)       */

struct sess {
    char *given; /* first spelling seen */
    char *prep;
    size_t prep_len;
    unsigned long closed_line; /* 0: open */
};

struct sess_list {
    struct sess *v;
    size_t n, cap;
    size_t *slots; /* open addressing: index + 1, 0 empty */
    size_t nslots;
    uint64_t seed;
};

static uint64_t hash_bytes(uint64_t seed, const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u ^ seed;
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3u;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9u;
    h ^= h >> 32;
    return h;
}

static void sess_rehash(struct sess_list *l, size_t nslots)
{
    size_t i;
    free(l->slots);
    l->slots = xrealloc(NULL, nslots * sizeof *l->slots);
    memset(l->slots, 0, nslots * sizeof *l->slots);
    l->nslots = nslots;
    for (i = 0; i < l->n; i++) {
        size_t j = (size_t)hash_bytes(l->seed, l->v[i].prep, l->v[i].prep_len);
        while (l->slots[j & (nslots - 1)] != 0)
            j++;
        l->slots[j & (nslots - 1)] = i + 1;
    }
}

static struct sess *sess_get(struct sess_list *l, const char *given,
                             const char *prep, size_t prep_len)
{
    size_t j, k;
    struct sess *e;

    if (l->nslots != 0) {
        j = (size_t)hash_bytes(l->seed, prep, prep_len);
        while ((k = l->slots[j & (l->nslots - 1)]) != 0) {
            e = &l->v[k - 1];
            if (e->prep_len == prep_len &&
                memcmp(e->prep, prep, prep_len) == 0)
                return e;
            j++;
        }
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    e = &l->v[l->n++];
    e->given = xstrdup(given);
    e->prep = xrealloc(NULL, prep_len + 1);
    memcpy(e->prep, prep, prep_len);
    e->prep[prep_len] = '\0';
    e->prep_len = prep_len;
    e->closed_line = 0;
    if (l->n * 2 > l->nslots) {
        sess_rehash(l, l->nslots ? l->nslots * 2 : 16);
    } else {
        j = (size_t)hash_bytes(l->seed, prep, prep_len);
        while (l->slots[j & (l->nslots - 1)] != 0)
            j++;
        l->slots[j & (l->nslots - 1)] = l->n;
    }
    return e;
}

static void sess_list_free(struct sess_list *l)
{
    size_t i;
    for (i = 0; i < l->n; i++) {
        free(l->v[i].given);
        free(l->v[i].prep);
    }
    free(l->v);
    free(l->slots);
}

/* ---------------------------------------------------------------------- */
/* The replay                                                              */

struct replay {
    struct trace trace;
    struct trace_item *it; /* the element being replayed */
    mj_tracker *tr;
    double now; /* the fake clock, seconds since the trace started */
    int quiet;
    int verbose;

    struct wait {   /* a disco#info request out (the module's info_waits) */
        char *jid;  /* the session's full JID, prepared */
        char *room; /* the answer's from up to '/', prepared */
        uint32_t disco_id;   /* the request's: mjdisco-<disco_id>-... */
        uint32_t ping_id;    /* the latest answer's ping */
        struct node *answer; /* the latest answer */
        double until;        /* the request times out (ping_timeout) */
        unsigned long seq;   /* the order requests were made in */
        int silent;          /* made for a silent account */
        int unusable;        /* a reply without <error/> came: the answer
                                went with it (answer NULL), the request
                                stays out until its timeout */
    } waits[MAX_INFO_WAITS];
    size_t nwaits;
    unsigned long nrequests;
    struct silence { /* accounts that left requests unanswered, the
                        least recently set first (the module's util.cache
                        of SILENT_ACCOUNTS) */
        char *account;
        size_t len;
        int n;
    } * silent;
    size_t nsilent, capsilent;
    double ping_timeout;

    mj_session *cur_session; /* the session of the line being printed */
    struct buf line;         /* the line being printed */
    struct buf events;       /* event lines fired by the current call */
    struct buf tmp;
    struct sess_list sessions;
    int lib_failed;
};

static const char *shown_value(struct replay *r, const char *s)
{
    buf_reset(&r->tmp);
    buf_value(&r->tmp, s, strlen(s));
    return r->tmp.p;
}

static void flush_line(struct replay *r)
{
    if (!r->quiet) {
        fwrite(r->line.p, 1, r->line.len, stdout);
        fwrite(r->events.p, 1, r->events.len, stdout);
    }
    buf_reset(&r->line);
    buf_reset(&r->events);
}

/* Events arrive during a feed, tick or close call: format them now (their
 * strings live only during the callback), print them after the line. */
static void on_event(void *ud, const mj_event *ev)
{
    struct replay *r = ud;
    struct buf *b = &r->events;

    buf_puts(b, "           * ");
    buf_puts(b, mj_event_name(ev->type));
    if (ev->session != r->cur_session)
        buf_kv(b, "session", ev->session_jid);
    buf_kv(b, "room", ev->room);
    buf_kv(b, ev->type == MJ_EV_NICK_REWRITTEN ? "asked" : "old-nick",
           ev->old_nick);
    buf_kv(b, "nick", ev->nick);
    buf_kv(b, "room-nick", ev->room_nick); /* where a notice comes from */
    buf_kv(b, "from-nick", ev->from_nick);
    if (ev->reason != MJ_R_NONE)
        buf_printf(b, " reason=%s", mj_reason_name(ev->reason));
    buf_kv(b, "condition", ev->condition);
    buf_kv(b, "text", ev->text);
    buf_kv(b, "alt-venue", ev->alt_venue);
    buf_kv(b, "id", ev->id); /* a leave-needed's */
    if (ev->type == MJ_EV_PING_NEEDED)
        buf_printf(b, " ping-id=%lu (iq id " PING_ID_PREFIX "%lu-...)",
                   (unsigned long)ev->ping_id, (unsigned long)ev->ping_id);
    buf_put(b, "\n", 1);
}

static void on_log(void *ud, mj_log_level level, const char *msg)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    struct replay *r = ud;
    struct buf b = {0};

    if (!r->verbose)
        return;
    buf_printf(&b,
               PROG ": log %s: ", (unsigned)level < 4 ? names[level] : "?");
    buf_escaped(&b, msg, strlen(msg));
    buf_put(&b, "\n", 1);
    fflush(stdout);
    fputs(b.p, stderr);
    free(b.p);
}

static double fake_clock(void *ud)
{
    return ((struct replay *)ud)->now;
}

/* Find or open (create) the session of a wrapper; NULL on a trace error,
 * or when !create and the tracker has no such session (*entry set). */
static mj_session *get_session(struct replay *r, int create,
                               struct sess **entry)
{
    char prep[JID_BUF];
    size_t prep_len = 0;
    size_t len = strlen(r->it->session);
    mj_session *s = NULL;
    int rc;

    *entry = NULL;
    rc = mj_jid_prep(r->it->session, len, prep, sizeof prep, &prep_len);
    if (rc == MJ_OK) {
        rc = create ? mj_session_open(r->tr, r->it->session, len, &s)
                    : mj_session_find(r->tr, r->it->session, len, &s);
        /* listed in the final table: a session the trace named that
         * existed (a close of one never seen is not one) */
        if (rc == MJ_OK)
            *entry = sess_get(&r->sessions, r->it->session, prep, prep_len);
    }
    if (rc == MJ_ENOTFOUND && !create)
        return NULL;
    if (rc != MJ_OK) {
        trace_fail(&r->trace, rc == MJ_ENOMEM ? EXIT_FAIL : EXIT_INPUT,
                   "session %s is not usable as a full JID: %s (%s)",
                   shown_value(r, r->it->session), mj_strerror(rc),
                   mj_error_name(rc));
        return NULL;
    }
    if (create)
        (*entry)->closed_line = 0;
    return s;
}

static void line_head(struct replay *r, unsigned long line, const char *what,
                      const char *session)
{
    buf_reset(&r->line);
    buf_reset(&r->events);
    buf_printf(&r->line, "%4lu %-5s", line, what);
    if (session != NULL) {
        buf_put(&r->line, " ", 1);
        buf_value(&r->line, session, strlen(session));
    }
}

/* The ping id in an iq id "<prefix><n>" or "<prefix><n>-<salt>"; 0 if the
 * id is not one. */
static uint32_t id_number(mj_str id, const char *prefix)
{
    size_t n = strlen(prefix), i;
    uint32_t v = 0;

    if (id.ptr == NULL || id.len <= n || memcmp(id.ptr, prefix, n))
        return 0;
    for (i = n; i < id.len && id.ptr[i] != '-'; i++) {
        uint32_t d = (uint32_t)(id.ptr[i] - '0');
        /* up to 4294967295, as the module reads it */
        if (id.ptr[i] < '0' || id.ptr[i] > '9' || v > (UINT32_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    return i > n ? v : 0;
}

static uint32_t ping_id_of(mj_str id)
{
    return id_number(id, PING_ID_PREFIX);
}

/* The request number of a reply's id "mjdisco-<n>[-...]": as the module
 * wrote it (it matches the whole id), so no leading zero; 0 if none. */
static uint32_t disco_id_of(mj_str id)
{
    size_t n = sizeof DISCO_ID_PREFIX - 1;

    if (id.ptr != NULL && id.len > n && id.ptr[n] == '0')
        return 0;
    return id_number(id, DISCO_ID_PREFIX);
}

/* ---------------------------------------------------------------------- */
/* The module's disco#info requests (lua/selfping.lib.lua, ask_info())      */

/* JID bytes prepared into buf (JID_BUF bytes), NUL-terminated, as
 * Prosody's router prepares to and from before any module sees them: its
 * length, or (size_t)-1 when they do not prepare. */
static size_t prepared(const char *p, size_t len, char *buf)
{
    size_t n;

    if (p == NULL || mj_jid_prep(p, len, buf, JID_BUF - 1, &n) != MJ_OK)
        return (size_t)-1;
    buf[n] = '\0';
    return n;
}

/* An answer's room, its from up to '/' (jid_bare()), prepared into buf:
 * its length, or (size_t)-1. */
static size_t room_of(const struct node *answer, char *buf)
{
    mj_stanza st;
    const char *slash;

    view_fill(answer, &st);
    if (st.from.ptr != NULL &&
        (slash = memchr(st.from.ptr, '/', st.from.len)) != NULL)
        st.from.len = (size_t)(slash - st.from.ptr);
    return prepared(st.from.ptr, st.from.len, buf);
}

static int same(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* The part of a bare JID after '@' (its domain), as jid_host() takes it. */
static mj_str host_of(const char *bare, size_t len)
{
    const char *at = memchr(bare, '@', len);
    mj_str h = {bare, len};

    if (at != NULL) {
        h.ptr = at + 1;
        h.len = len - (size_t)(at + 1 - bare);
    }
    return h;
}

/* The account's silence (0: none). As util.cache's get(): the order
 * stays. */
static int silence_of(const struct replay *r, const char *acc, size_t len)
{
    size_t i;

    for (i = 0; i < r->nsilent; i++)
        if (same(r->silent[i].account, r->silent[i].len, acc, len))
            return r->silent[i].n;
    return 0;
}

/* As util.cache's set(): n > 0 puts the account last (most recently set),
 * dropping the first beyond SILENT_ACCOUNTS; n <= 0 removes it. */
static void silence_set(struct replay *r, const char *acc, size_t len, int n)
{
    struct silence e = {NULL, len, n};
    size_t i;

    for (i = 0; i < r->nsilent; i++)
        if (same(r->silent[i].account, r->silent[i].len, acc, len))
            break;
    if (i < r->nsilent) {
        e.account = r->silent[i].account;
        memmove(r->silent + i, r->silent + i + 1,
                (r->nsilent - i - 1) * sizeof *r->silent);
        r->nsilent--;
    }
    if (n <= 0) {
        free(e.account);
        return;
    }
    if (e.account == NULL) {
        e.account = xrealloc(NULL, len + 1);
        memcpy(e.account, acc, len);
        e.account[len] = '\0';
    }
    if (r->nsilent == SILENT_ACCOUNTS) { /* the least recently set goes */
        free(r->silent[0].account);
        memmove(r->silent, r->silent + 1,
                (r->nsilent - 1) * sizeof *r->silent);
        r->nsilent--;
    }
    if (r->nsilent == r->capsilent) {
        r->capsilent = r->capsilent ? 2 * r->capsilent : 8;
        r->silent = xrealloc(r->silent, r->capsilent * sizeof *r->silent);
    }
    r->silent[r->nsilent++] = e;
}

/* The latest answer of wait i goes to the session under the wait's JID,
 * if there is one now (as the module's answer_ping() looks it up), with
 * the reply (NULL: none). Appends to b what came of it ("ping-answer
 * <verdict>", or why not); returns 1 if the answer was settled. */
static int wait_answer(struct replay *r, size_t i, const mj_stanza *reply,
                       int optimized, struct buf *b)
{
    struct wait *w = &r->waits[i];
    mj_session *s = NULL;
    mj_ping_verdict v = MJ_PING_STALE;
    mj_stanza ans;
    int rc = -1;

    if (mj_session_find(r->tr, w->jid, strlen(w->jid), &s) != MJ_OK) {
        buf_puts(b, "no session under that JID now");
    } else {
        view_fill(w->answer, &ans);
        rc = mj_session_ping_answer_info(s, w->ping_id, &ans, reply, optimized,
                                         &v);
        if (rc == MJ_OK) {
            buf_printf(b, "ping-answer %s", mj_ping_verdict_name(v));
        } else {
            buf_printf(b, "error %s (%s)", mj_error_name(rc), mj_strerror(rc));
            r->lib_failed = 1;
        }
    }
    node_free(w->answer);
    w->answer = NULL;
    return rc == MJ_OK;
}

/* A request ends (reply: its reply, NULL when it timed out): the
 * account's silence (+4 unanswered, -1 answered, at most 64), then the
 * latest answer goes to the session (wait_answer()), unless a reply
 * without <error/> took it already. Appends to b what came of it and
 * drops the wait; returns 1 if the answer was settled. */
static int wait_end(struct replay *r, size_t i, const mj_stanza *reply,
                    int optimized, struct buf *b)
{
    struct wait *w = &r->waits[i];
    size_t alen = strcspn(w->jid, "/");
    int n = silence_of(r, w->jid, alen), rc = 0;

    n = reply != NULL ? n - 1 : n + SILENCE_PER_TIMEOUT;
    silence_set(r, w->jid, alen, n < MAX_SILENCE ? n : MAX_SILENCE);
    if (w->unusable)
        buf_puts(b, "its answer went with the reply without <error/>");
    else
        rc = wait_answer(r, i, reply, optimized, b);
    free(w->jid);
    free(w->room);
    r->waits[i] = r->waits[--r->nwaits];
    return rc;
}

/* The answer to ping_id being replayed (to the session jid), whose
 * meaning needs the room's disco#info: held, as a new request (*disco =
 * ping_id, *fresh = 1) or with the one out to the same room for the same
 * JID (its id in *disco, *fresh = 0: the reply settles the latest
 * answer); returns NULL. Or not held: returns why (the module's bounds). */
static const char *ask_info(struct replay *r, const char *given,
                            uint32_t ping_id, uint32_t *disco, int *fresh)
{
    char jid[JID_BUF], rbuf[JID_BUF];
    size_t jlen = prepared(given, strlen(given), jid);
    mj_str room = {rbuf, room_of(r->it->stanza, rbuf)}, host, h;
    size_t alen = strcspn(jid, "/"), i, n_domain = 0, n_account = 0,
           n_silent = 0;
    int silent = silence_of(r, jid, alen) > 0;
    struct wait *w;

    if (room.len == (size_t)-1 || jlen == (size_t)-1)
        return "no room";
    host = host_of(room.ptr, room.len);
    for (i = 0; i < r->nwaits; i++) {
        w = &r->waits[i];
        if (same(w->jid, strlen(w->jid), jid, strlen(jid)) &&
            same(w->room, strlen(w->room), room.ptr, room.len)) {
            if (w->unusable)
                return "the room's reply to the request out had no "
                       "<error/>";
            node_free(w->answer); /* the latest answer waits */
            w->answer = r->it->stanza;
            w->ping_id = ping_id;
            r->it->stanza = NULL;
            *disco = w->disco_id;
            *fresh = 0;
            return NULL;
        }
        h = host_of(w->room, strlen(w->room));
        n_domain += same(h.ptr, h.len, host.ptr, host.len);
        n_account += same(w->jid, strcspn(w->jid, "/"), jid, alen);
        n_silent += w->silent;
    }
    if (r->nwaits >= MAX_INFO_WAITS)
        return STR(MAX_INFO_WAITS) " requests out";
    if (n_domain >= MAX_DOMAIN_INFO_WAITS)
        return STR(MAX_DOMAIN_INFO_WAITS) " requests out to the room's domain";
    if (n_account >= (silent ? 1 : MAX_ACCOUNT_INFO_WAITS))
        return silent ? "a request out for the account, which left one "
                        "unanswered"
                      : STR(MAX_ACCOUNT_INFO_WAITS) " requests out for the "
                                                    "account";
    if (silent && n_silent >= MAX_SILENT_INFO_WAITS)
        return STR(MAX_SILENT_INFO_WAITS) " requests out for accounts that "
                                          "left one unanswered";
    w = &r->waits[r->nwaits++];
    w->jid = xstrdup(jid);
    w->room = xrealloc(NULL, room.len + 1);
    memcpy(w->room, room.ptr, room.len);
    w->room[room.len] = '\0';
    w->disco_id = ping_id;
    w->ping_id = ping_id;
    w->answer = r->it->stanza;
    r->it->stanza = NULL;
    w->until = r->now + r->ping_timeout;
    w->seq = r->nrequests++;
    w->silent = silent;
    w->unusable = 0;
    *disco = ping_id;
    *fresh = 1;
    return NULL;
}

/* At a tick, after the tracker's: the requests unanswered for
 * ping_timeout end with no reply (the module's send_iq() timing out), one
 * line each. */
static void waits_expire(struct replay *r)
{
    for (;;) {
        size_t i, k = r->nwaits;

        /* the earliest due first, as the module's timers fire (of equal
         * times, the request made first) */
        for (i = 0; i < r->nwaits; i++)
            if (r->waits[i].until <= r->now &&
                (k == r->nwaits || r->waits[i].until < r->waits[k].until ||
                 (r->waits[i].until == r->waits[k].until &&
                  r->waits[i].seq < r->waits[k].seq)))
                k = i;
        if (k == r->nwaits)
            return;
        i = k;
        buf_printf(&r->events,
                   "           . disco#info request mjdisco-%lu-... for ",
                   (unsigned long)r->waits[i].disco_id);
        buf_value(&r->events, r->waits[i].jid, strlen(r->waits[i].jid));
        buf_puts(&r->events, " unanswered: ");
        wait_end(r, i, NULL, 0, &r->events);
        buf_put(&r->events, "\n", 1);
    }
}

/* A reply to the module's "mjdisco-<n>-..." request: from the room asked
 * (its bare JID, prepared, as Prosody's send_iq() matches a reply by from
 * and id, whichever full JID it is to), it ends that request. An error
 * without its <error/> is taken by the module's own hook (send_iq() would
 * raise on it): the latest answer goes with it at once (no usable
 * answer), and the request stays out until its timeout, a later answer
 * of the session and room taken without disco#info meanwhile. */
static void do_disco_reply(struct replay *r, uint32_t id, const mj_stanza *st)
{
    char from[JID_BUF];
    size_t flen = prepared(st->from.ptr, st->from.len, from), i;
    int malformed = st->type == MJ_T_ERROR && st->error_condition.ptr == NULL;

    for (i = 0; flen != (size_t)-1 && i < r->nwaits; i++)
        if (r->waits[i].disco_id == id &&
            same(r->waits[i].room, strlen(r->waits[i].room), from, flen))
            break;
    if (malformed) {
        buf_puts(&r->line, " => disco-answer without <error/>: ");
        if (flen == (size_t)-1 || i == r->nwaits || r->waits[i].unusable) {
            buf_puts(&r->line, "ignored\n");
            return;
        }
        wait_answer(r, i, st, 0, &r->line);
        r->waits[i].unusable = 1;
        buf_puts(&r->line, " (the request stays out until its timeout)\n");
        return;
    }
    if (flen == (size_t)-1 || i == r->nwaits) {
        buf_puts(&r->line, " => disco-answer for no request out\n");
        return;
    }
    buf_puts(&r->line, " => ");
    if (wait_end(r, i, st, view_lists_self_ping_opt(r->it->stanza), &r->line))
        buf_puts(&r->line, " (settled by disco#info)");
    buf_put(&r->line, "\n", 1);
}

/* What the module does with an iq the session receives before the client
 * sees it: consume the answer to its self-ping (asking the room's
 * disco#info first when the core needs it), answer a ping the room
 * forwards. Returns 1 when the iq was handled so (line finished). */
static int do_ping_iq(struct replay *r, mj_session *s, const mj_stanza *st)
{
    uint32_t ping_id = ping_id_of(st->id);
    mj_ping_verdict v = MJ_PING_STALE;
    int rc;

    if (ping_id != 0 && (st->type == MJ_T_RESULT || st->type == MJ_T_ERROR)) {
        const char *why = NULL;
        uint32_t disco = 0;
        int fresh = 0;

        if (r->it->optimized < 0 &&
            mj_session_ping_needs_features(s, ping_id, st)) {
            why = ask_info(r, r->it->session, ping_id, &disco, &fresh);
            if (why == NULL) {
                buf_printf(&r->line,
                           fresh ? " => ping-answer held: asks the room's "
                                   "disco#info (iq id %s%lu-...)\n"
                                 : " => ping-answer held: the room's "
                                   "disco#info is asked already (iq id "
                                   "%s%lu-...)\n",
                           DISCO_ID_PREFIX, (unsigned long)disco);
                return 1;
            }
            /* the module's bounds: taken with no reply, as when none
             * comes */
            rc = mj_session_ping_answer_info(s, ping_id, st, NULL, 0, &v);
        } else {
            rc = mj_session_ping_answer(s, ping_id, st, r->it->optimized, &v);
        }
        if (rc == MJ_OK) {
            buf_printf(&r->line, " => ping-answer %s",
                       mj_ping_verdict_name(v));
            if (why != NULL)
                buf_printf(&r->line, " (taken without disco#info: %s)", why);
            buf_put(&r->line, "\n", 1);
        } else {
            buf_printf(&r->line, " => error %s (%s)\n", mj_error_name(rc),
                       mj_strerror(rc));
            r->lib_failed = 1;
        }
        return 1;
    }
    if (mj_session_is_forwarded_ping(s, st)) {
        buf_puts(&r->line, " => forwarded-ping (answered for the session)\n");
        return 1;
    }
    return 0;
}

static void do_stanza(struct replay *r)
{
    struct node *n = r->it->stanza;
    int outgoing = r->it->kind == W_OUT;
    struct sess *entry;
    mj_stanza st;
    mj_outcome out = MJ_O_UNCHANGED;
    mj_session *s;
    int rc;

    view_fill(n, &st);
    if (!outgoing && st.kind == MJ_KIND_IQ && disco_id_of(st.id) != 0 &&
        (st.type == MJ_T_RESULT || st.type == MJ_T_ERROR)) {
        /* a reply to the module's disco#info request: the module takes it
         * whatever session, if any, is under the JID it is to (none after
         * a close: it opens none) */
        s = get_session(r, 0, &entry);
        if (r->trace.failed)
            return;
        line_head(r, n->line, "in", r->it->session);
        buf_put(&r->line, "  ", 2);
        view_describe(&r->line, n, &st, 0);
        r->cur_session = s;
        do_disco_reply(r, disco_id_of(st.id), &st);
        r->cur_session = NULL;
        flush_line(r);
        return;
    }
    s = get_session(r, 1, &entry);
    if (s == NULL)
        return;
    line_head(r, n->line, outgoing ? "out" : "in", r->it->session);
    buf_put(&r->line, "  ", 2);
    view_describe(&r->line, n, &st, outgoing);
    r->cur_session = s;
    if (!outgoing && st.kind == MJ_KIND_IQ && do_ping_iq(r, s, &st)) {
        r->cur_session = NULL;
        flush_line(r);
        return;
    }
    if (!outgoing && st.kind == MJ_KIND_MESSAGE) {
        /* what the message is to the session (mentions, CSI), judged in
         * the state the incoming call will see */
        mj_msg_class cls = MJ_M_OTHER;

        rc = mj_session_message(s, &st, &cls);
        if (rc == MJ_OK)
            buf_printf(&r->line, " class=%s", mj_msg_class_name(cls));
        else
            buf_printf(&r->line, " class=error:%s", mj_error_name(rc));
    }
    rc = outgoing ? mj_session_outgoing(s, &st, &out)
                  : mj_session_incoming(s, &st, &out);
    r->cur_session = NULL;
    if (rc == MJ_OK) {
        buf_printf(&r->line, " => %s\n", mj_outcome_name(out));
    } else {
        buf_printf(&r->line, " => error %s (%s)\n", mj_error_name(rc),
                   mj_strerror(rc));
        r->lib_failed = 1;
    }
    flush_line(r);
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort the event lines in b (each ending in a newline): a close's LEFT
 * events come in the order of the session's table, which a random hash
 * key orders differently in every run; sorted, they come by room. */
static void sort_lines(struct buf *b)
{
    size_t n = 0, i, k = 0;
    char **v, *copy, *p;
    struct buf out = {0};

    for (i = 0; i < b->len; i++)
        n += b->p[i] == '\n';
    if (n < 2)
        return;
    copy = xrealloc(NULL, b->len + 1);
    memcpy(copy, b->p, b->len);
    copy[b->len] = '\0';
    v = xrealloc(NULL, n * sizeof *v);
    for (p = copy; k < n; p++) {
        v[k++] = p;
        p = strchr(p, '\n');
        *p = '\0';
    }
    qsort(v, n, sizeof *v, cmp_line);
    for (i = 0; i < n; i++) {
        buf_puts(&out, v[i]);
        buf_put(&out, "\n", 1);
    }
    free(b->p);
    *b = out;
    free(v);
    free(copy);
}

static void do_close(struct replay *r)
{
    struct sess *entry;
    mj_session *s = get_session(r, 0, &entry);

    if (r->trace.failed)
        return;
    line_head(r, r->it->line, "close", r->it->session);
    if (s == NULL) {
        buf_puts(&r->line, "  (no such session)\n");
    } else {
        /* its disco#info requests stay out (keyed by the JID, as the
         * module's): their replies or timeouts go to the session under
         * that JID then, if any */
        buf_put(&r->line, "\n", 1);
        r->cur_session = s;
        mj_session_close(s);
        r->cur_session = NULL;
        sort_lines(&r->events);
    }
    if (entry != NULL)
        entry->closed_line = r->it->line;
    flush_line(r);
}

static void do_tick(struct replay *r)
{
    r->now += r->it->seconds;
    line_head(r, r->it->line, "tick", NULL);
    buf_printf(&r->line, " +%gs now=%gs\n", r->it->seconds, r->now);
    /* the tracker's timeouts first: a ping times out at its deadline,
     * and the module's request for it, sent one round trip later, after */
    mj_tracker_tick(r->tr);
    waits_expire(r);
    flush_line(r);
}

/* A server-to-server link (or a component) went down (<link-lost>): the
 * tracker schedules self-pings of the rooms on that domain; or came up
 * (<link-up>): rooms whose check gave up on that domain are asked again. */
static void do_link(struct replay *r, int up)
{
    const char *d = r->it->session;
    int rc;

    line_head(r, r->it->line, up ? "link-up" : "link-lost", NULL);
    buf_puts(&r->line, " domain=");
    buf_value(&r->line, d, strlen(d));
    rc = up ? mj_tracker_link_up(r->tr, d, strlen(d))
            : mj_tracker_link_lost(r->tr, d, strlen(d));
    if (rc != MJ_OK && rc != MJ_ENOMEM) {
        /* not a domain: a malformed trace, as a session JID that is not
         * one (exit 2) */
        trace_fail(&r->trace, EXIT_INPUT,
                   "<%s domain=%s> is not a domain: %s (%s)",
                   up ? "link-up" : "link-lost", shown_value(r, d),
                   mj_strerror(rc), mj_error_name(rc));
        return;
    }
    if (rc == MJ_OK) {
        buf_put(&r->line, "\n", 1);
    } else {
        buf_printf(&r->line, " => error %s (%s)\n", mj_error_name(rc),
                   mj_strerror(rc));
        r->lib_failed = 1;
    }
    flush_line(r);
}

/* The trace's handler: one element of <trace> has ended. */
static void on_item(void *ud, struct trace *t, struct trace_item *it)
{
    struct replay *r = ud;

    (void)t;
    r->it = it;
    switch (it->kind) {
    case W_IN:
    case W_OUT:
        do_stanza(r);
        break;
    case W_CLOSE:
        do_close(r);
        break;
    case W_TICK:
        do_tick(r);
        break;
    case W_LINK_LOST:
    case W_LINK_UP:
        do_link(r, it->kind == W_LINK_UP);
        break;
    case W_NONE:
        break;
    }
    r->it = NULL;
}

/* ---------------------------------------------------------------------- */
/* The final table                                                         */

static int cmp_room(const void *a, const void *b)
{
    const mj_room_info *x = a, *y = b;
    size_t n = x->room.len < y->room.len ? x->room.len : y->room.len;
    int c = memcmp(x->room.ptr, y->room.ptr, n);

    if (c != 0)
        return c;
    return (x->room.len > y->room.len) - (x->room.len < y->room.len);
}

static void print_rooms(struct replay *r, const mj_session *s)
{
    mj_room_info *rooms = NULL, info;
    size_t n = 0, cap = 0, cursor = 0, width = 0, i;
    struct buf *b = &r->line;

    while (mj_session_next_room(s, &cursor, &info)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            rooms = xrealloc(rooms, cap * sizeof *rooms);
        }
        rooms[n++] = info;
    }
    if (n == 0) {
        fputs("    (no rooms)\n", stdout);
        free(rooms);
        return;
    }
    qsort(rooms, n, sizeof *rooms, cmp_room);
    for (i = 0; i < n; i++) {
        buf_reset(b);
        buf_value(b, rooms[i].room.ptr, rooms[i].room.len);
        if (b->len > width)
            width = b->len;
    }
    for (i = 0; i < n; i++) {
        const mj_room_info *ri = &rooms[i];
        const char *pk = ri->state == MJ_S_EXPECTING ? "announced" : "asked";

        buf_reset(b);
        buf_puts(b, "    ");
        buf_value(b, ri->room.ptr, ri->room.len);
        while (b->len < width + 4)
            buf_put(b, " ", 1);
        buf_printf(b, "  %-9s", mj_state_name(ri->state));
        buf_kv(b, "nick", ri->nick);
        buf_kv(b, pk, ri->pending_nick);
        while (b->len > 0 && b->p[b->len - 1] == ' ')
            b->len--;
        buf_put(b, "\n", 1);
        fwrite(b->p, 1, b->len, stdout);
    }
    free(rooms);
}

static void print_table(struct replay *r)
{
    size_t i;

    if (!r->quiet)
        fputc('\n', stdout);
    printf("final state at %gs:\n", r->now);
    if (r->sessions.n == 0)
        fputs("(no sessions)\n", stdout);
    for (i = 0; i < r->sessions.n; i++) {
        const struct sess *e = &r->sessions.v[i];
        mj_session *s = NULL;

        buf_reset(&r->line);
        buf_value(&r->line, e->given, strlen(e->given));
        buf_put(&r->line, "\n", 1);
        fwrite(r->line.p, 1, r->line.len, stdout);
        if (e->closed_line != 0)
            printf("    (closed at line %lu)\n", e->closed_line);
        else if (mj_session_find(r->tr, e->given, strlen(e->given), &s) !=
                 MJ_OK)
            fputs("    (unknown to the tracker)\n", stdout);
        else
            print_rooms(r, s);
    }
}

/* ---------------------------------------------------------------------- */

void replay_opts_init(struct replay_opts *o)
{
    memset(o, 0, sizeof *o);
    mj_config_init(&o->cfg);
}

int replay_run(const struct replay_opts *o)
{
    struct replay r;
    mj_config cfg = o->cfg;
    int rc, code;

    memset(&r, 0, sizeof r);
    r.quiet = o->quiet;
    r.verbose = o->verbose;
    cfg.clock = fake_clock;
    cfg.clock_ud = &r;
    cfg.on_event = on_event;
    cfg.event_ud = &r;
    cfg.log = on_log;
    cfg.log_ud = &r;
    cfg.option_prefix = "--"; /* the log names --max-rooms (options.c) */
    r.ping_timeout = cfg.ping_timeout;
    rc = mj_tracker_new(&cfg, &r.tr);
    if (rc != MJ_OK) {
        fprintf(stderr, PROG ": cannot create the tracker: %s (%s)\n",
                mj_strerror(rc), mj_error_name(rc));
        return rc == MJ_EINVAL ? EXIT_INPUT : EXIT_FAIL;
    }
    r.sessions.seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&r;
    r.trace.handler = on_item;
    r.trace.ud = &r;
    r.trace.stanza_ns = mj_stanza_content_ns;

    code = trace_read(&r.trace, o->path);
    if (code == 0)
        print_table(&r);
    if (code == 0 && r.lib_failed)
        code = EXIT_FAIL;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, PROG ": write error: %s\n", strerror(errno));
        if (code == 0)
            code = EXIT_FAIL;
    }

    while (r.nwaits > 0) {
        struct wait *w = &r.waits[--r.nwaits];

        node_free(w->answer);
        free(w->jid);
        free(w->room);
    }
    while (r.nsilent > 0)
        free(r.silent[--r.nsilent].account);
    free(r.silent);
    mj_tracker_free(r.tr);
    sess_list_free(&r.sessions);
    free(r.line.p);
    free(r.events.p);
    free(r.tmp.p);
    return code;
}
