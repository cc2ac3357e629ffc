/* What a received presence says about the session: is it a self-presence
 * (110 in muc#user), a nick change (303), a removal and for which reason.
 * docs/semantics.md §2, "What counts as a self-presence" and "Why an
 * entry ended: left reasons". And the other way round:
 * which presence tells a session about a removal it could not see. */
#include <string.h>

#include "classify.h"
#include "env.h"

/* Removal reasons by code, strongest first; <destroy/> ranks after
 * them. */
static const mj_reason removal_by_rank[] = {
    MJ_R_TECHNICAL,   /* 333 */
    MJ_R_SHUTDOWN,    /* 332 */
    MJ_R_BANNED,      /* 301 */
    MJ_R_KICKED,      /* 307 */
    MJ_R_AFFILIATION, /* 321 */
    MJ_R_MEMBERS_ONLY /* 322 */
};

/* The codes the switch below reads: 110, 303 and the removal codes.
 * Eight of them, so they always fit in a view (mj_stanza_add_status()
 * keeps them past its sixteen). */
int mj_status_decides(int code)
{
    switch (code) {
    case 110:
    case 303:
    case 301:
    case 307:
    case 321:
    case 322:
    case 332:
    case 333:
        return 1;
    default:
        return 0;
    }
}

/* One pass over the codes: each sets a flag or a bit of its removal
 * rank; the strongest rank seen wins. */
MJ_HOT void mj_classify(const mj_stanza *st, mj_class *out)
{
    unsigned ranks = 0;
    /* every field, also one added later, starts cleared */
    *out = (mj_class){.removal = MJ_R_NONE};
    if (!st->has_muc_user)
        return;
    size_t n = st->nstatus < MJ_MAX_STATUS ? st->nstatus : MJ_MAX_STATUS;
    for (size_t i = 0; i < n; i++) {
        switch (st->status[i]) {
        case 110:
            out->self = 1;
            break;
        case 303:
            out->has303 = 1;
            break;
        case 333:
            ranks |= 1u << 0;
            break;
        case 332:
            out->has332 = 1;
            ranks |= 1u << 1;
            break;
        case 301:
            ranks |= 1u << 2;
            break;
        case 307:
            ranks |= 1u << 3;
            break;
        case 321:
            ranks |= 1u << 4;
            break;
        case 322:
            ranks |= 1u << 5;
            break;
        default:
            break;
        }
    }
    if (ranks != 0) {
        size_t r = 0;
        while (!(ranks & (1u << r)))
            r++;
        out->removal = removal_by_rank[r];
    } else if (st->has_destroy) {
        out->removal = MJ_R_DESTROYED;
    }
}

/* Prosody's muc/util.lib.lua kickable_error_conditions: a message error
 * with one of these, or without an <error/> child (absent: a "malformed
 * error"; an <error/> without a condition has "undefined-condition",
 * mj_stanza_error_read()), makes the MUC remove the sender. */
int mj_kickable_condition(mj_str cond)
{
    static const char *const kickable[] = {"gone",
                                           "internal-server-error",
                                           "item-not-found",
                                           "jid-malformed",
                                           "recipient-unavailable",
                                           "redirect",
                                           "remote-server-not-found",
                                           "remote-server-timeout",
                                           "service-unavailable"};
    if (cond.ptr == NULL || cond.len == 0)
        return 1; /* "malformed error" */
    for (size_t i = 0; i < sizeof kickable / sizeof kickable[0]; i++)
        if (strlen(kickable[i]) == cond.len &&
            memcmp(kickable[i], cond.ptr, cond.len) == 0)
            return 1;
    return 0;
}

/* A ghost was dropped by the room without a word reaching the session:
 * tell it as a room would for a technical removal (333, XEP-0045 9.7),
 * self-presence (110), so that clients that act on 333 rejoin. */
const mj_notice *mj_reason_notice(mj_reason r)
{
    static const int ghost_codes[] = {110, 333};
    static const mj_notice ghost = {ghost_codes, 2, "none", "none"};
    if (r == MJ_R_GHOST)
        return &ghost;
    return NULL;
}
