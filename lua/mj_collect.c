/*
 * mj_collect.c - the Lua binding's collector (see mucjoins_lua.h): the
 * core's callbacks copy what they are given into a C buffer owned by the
 * tracker userdata, allocated with Lua's allocator function; no Lua API
 * call here.
 */
#include "mucjoins_lua.h"

/* Capacities kept between calls; a burst above them is given back. */
#define KEEP_RECS  256
#define KEEP_BYTES 65536

static int col_reserve_recs(struct collect *c, size_t need)
{
    size_t ncap = c->caprec ? c->caprec : 16;
    struct rec *p;

    if (need <= c->caprec)
        return 1;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / sizeof *p)
            return 0;
        ncap *= 2;
    }
    p = c->alloc(c->alloc_ud, c->recs, c->caprec * sizeof *p,
                 ncap * sizeof *p);
    if (p == NULL)
        return 0;
    c->recs = p;
    c->caprec = ncap;
    return 1;
}

static int col_reserve_bytes(struct collect *c, size_t need)
{
    size_t ncap = c->capbuf ? c->capbuf : 256;
    char *p;

    if (need <= c->capbuf)
        return 1;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return 0;
        ncap *= 2;
    }
    p = c->alloc(c->alloc_ud, c->buf, c->capbuf, ncap);
    if (p == NULL)
        return 0;
    c->buf = p;
    c->capbuf = ncap;
    return 1;
}

/* Append one record with copies of its n strings; on allocation failure
 * the record is dropped whole and counted. 1 if appended. */
MJ_HOT static int col_push(struct collect *c, int kind, int level, int reason,
                           const mj_str *s, size_t n)
{
    size_t total = 0, i;
    struct rec *r;

    for (i = 0; i < n; i++) {
        if (s[i].ptr == NULL)
            continue;
        if (s[i].len > SIZE_MAX - c->nbuf - total) {
            c->dropped++;
            return 0;
        }
        total += s[i].len;
    }
    if (c->nrec == SIZE_MAX || !col_reserve_recs(c, c->nrec + 1) ||
        !col_reserve_bytes(c, c->nbuf + total)) {
        c->dropped++;
        return 0;
    }
    r = &c->recs[c->nrec++];
    r->kind = kind;
    r->level = level;
    r->reason = reason;
    r->ping_id = 0;
    r->applied = 0;
    for (i = 0; i < NFIELDS; i++) {
        if (i >= n || s[i].ptr == NULL) {
            r->off[i] = ABSENT;
            r->len[i] = 0;
            continue;
        }
        if (s[i].len > 0)
            memcpy(c->buf + c->nbuf, s[i].ptr, s[i].len);
        r->off[i] = c->nbuf;
        r->len[i] = s[i].len;
        c->nbuf += s[i].len;
    }
    return 1;
}

void col_free(struct collect *c)
{
    if (c->recs != NULL)
        c->alloc(c->alloc_ud, c->recs, c->caprec * sizeof *c->recs, 0);
    if (c->buf != NULL)
        c->alloc(c->alloc_ud, c->buf, c->capbuf, 0);
    c->recs = NULL;
    c->buf = NULL;
    c->caprec = c->capbuf = 0;
    c->nrec = c->nbuf = 0;
    c->dropped = 0;
}

void col_reset(struct collect *c)
{
    if (c->caprec > KEEP_RECS || c->capbuf > KEEP_BYTES)
        col_free(c);
    c->nrec = c->nbuf = 0;
    c->dropped = 0;
}

/* mj_config.on_event */
MJ_HOT void on_event(void *ud, const mj_event *ev)
{
    mj_str s[NFIELDS];

    s[F_JID] = ev->session_jid;
    s[F_ROOM] = ev->room;
    s[F_NICK] = ev->nick;
    s[F_OLD_NICK] = ev->old_nick;
    s[F_CONDITION] = ev->condition;
    s[F_TEXT] = ev->text;
    s[F_ALT_VENUE] = ev->alt_venue;
    s[F_FROM_NICK] = ev->from_nick;
    s[F_ROOM_NICK] = ev->room_nick; /* set only where it is not nick */
    s[F_ID] = ev->id;
    {
        struct collect *c = ud;
        size_t why =
            (size_t)ev->reason <= MJ_R_TIMEOUT ? (size_t)ev->reason : 0;
        int stored =
            col_push(c, (int)ev->type, 0, (int)ev->reason, s, NFIELDS);

        if (ev->type == MJ_EV_JOINED)
            c->n_joined++;
        else if (ev->type == MJ_EV_MENTION)
            c->n_mention++;
        else if (ev->type == MJ_EV_LEFT)
            c->n_left[why]++;
        else if (ev->type == MJ_EV_JOIN_FAILED)
            c->n_failed[why]++;
        /* the id goes to this record only: if it was dropped, the last
         * record is another event's */
        if (stored)
            c->recs[c->nrec - 1].ping_id = ev->ping_id;
    }
}

/* mj_config.log */
void on_log(void *ud, mj_log_level level, const char *msg)
{
    mj_str s;

    s.ptr = msg != NULL ? msg : "";
    s.len = strlen(s.ptr);
    col_push(ud, REC_LOG, (int)level, 0, &s, 1);
}
