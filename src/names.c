/* The names of the public enums and error codes (include/mucjoins.h):
 * tables only, calling nothing. At the bottom, beside env.c, so that
 * every layer may log them. */
#include <stddef.h>

#include "mucjoins.h"

const char *mj_strerror(int err)
{
    switch (err) {
    case MJ_OK:
        return "success";
    case MJ_ENOMEM:
        return "out of memory";
    case MJ_EINVAL:
        return "invalid argument";
    case MJ_EJID:
        return "malformed JID";
    case MJ_ETOOLONG:
        return "JID part longer than 1023 bytes";
    case MJ_ENOTFOUND:
        return "not found";
    }
    return "unknown error";
}

const char *mj_error_name(int err)
{
    switch (err) {
    case MJ_OK:
        return "MJ_OK";
    case MJ_ENOMEM:
        return "MJ_ENOMEM";
    case MJ_EINVAL:
        return "MJ_EINVAL";
    case MJ_EJID:
        return "MJ_EJID";
    case MJ_ETOOLONG:
        return "MJ_ETOOLONG";
    case MJ_ENOTFOUND:
        return "MJ_ENOTFOUND";
    }
    return "MJ_EUNKNOWN";
}

const char *mj_reason_name(mj_reason r)
{
    static const char *const names[] = {
        "none",      "technical",   "shutdown",       "banned",
        "kicked",    "affiliation", "members-only",   "destroyed",
        "voluntary", "removed",     "session-closed", "left-unconfirmed",
        "ghost",     "error",       "timeout"};
    if ((unsigned)r < sizeof names / sizeof names[0])
        return names[r];
    return "unknown";
}

const char *mj_event_name(mj_event_type t)
{
    static const char *const names[] = {
        "none",           "joined",      "left",        "nick-changed",
        "nick-rewritten", "join-failed", "ping-needed", "mention"};
    if ((unsigned)t < sizeof names / sizeof names[0])
        return names[t];
    return "unknown";
}

const char *mj_outcome_name(mj_outcome o)
{
    static const char *const names[] = {"ignored",  "unchanged", "changed",
                                        "forged",   "bad-jid",   "limit",
                                        "ambiguous"};
    if ((unsigned)o < sizeof names / sizeof names[0])
        return names[o];
    return "unknown";
}

const char *mj_state_name(mj_state s)
{
    static const char *const names[] = {"none",     "pending",   "joined",
                                        "changing", "expecting", "leaving"};
    if ((unsigned)s < sizeof names / sizeof names[0])
        return names[s];
    return "unknown";
}

/* ---- tracker ------------------------------------------------------------ */
