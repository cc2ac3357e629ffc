/* The names of the public enums and error codes, generated from the lists
 * in include/mucjoins.h (MJ_*_LIST): tables only, calling nothing. At the
 * bottom, beside env.c, so that every layer may log them.
 *
 * Each table is indexed by value (errors by -value); the static asserts
 * check that a list's values are 0 (or 1) .. count - 1 without a hole, so
 * that the index test below is the whole range check. */
#include <stddef.h>

#include "mucjoins.h"

#define NAME_AT(name, value, str)      [value] = str,
#define NAME_AT_NEG(name, value, str)  [-(value)] = str,
#define ENUM_NAME_AT(name, value, str) [-(value)] = #name,
#define NELEMS(a)                      (sizeof(a) / sizeof((a)[0]))

static const char *const error_strings[] = {MJ_ERROR_LIST(NAME_AT_NEG)};
static const char *const error_names[] = {MJ_ERROR_LIST(ENUM_NAME_AT)};
static const char *const reason_names[] = {MJ_REASON_LIST(NAME_AT)};
/* event types start at 1; 0 is "none" */
static const char *const event_names[] = {[0] = "none",
                                          MJ_EVENT_LIST(NAME_AT)};
static const char *const outcome_names[] = {MJ_OUTCOME_LIST(NAME_AT)};
static const char *const state_names[] = {MJ_STATE_LIST(NAME_AT)};
static const char *const msg_class_names[] = {MJ_MSG_CLASS_LIST(NAME_AT)};
static const char *const verdict_names[] = {MJ_PING_VERDICT_LIST(NAME_AT)};

_Static_assert(NELEMS(error_strings) == MJ_E_COUNT, "errors: 0 .. -n+1");
_Static_assert(NELEMS(error_names) == MJ_E_COUNT, "errors: 0 .. -n+1");
_Static_assert(NELEMS(reason_names) == MJ_R_COUNT, "reasons: 0 .. n-1");
_Static_assert(NELEMS(event_names) == MJ_EV_COUNT + 1, "events: 1 .. n");
_Static_assert(NELEMS(outcome_names) == MJ_O_COUNT, "outcomes: 0 .. n-1");
_Static_assert(NELEMS(state_names) == MJ_S_COUNT, "states: 0 .. n-1");
_Static_assert(NELEMS(msg_class_names) == MJ_M_COUNT, "classes: 0 .. n-1");
_Static_assert(NELEMS(verdict_names) == MJ_PING_COUNT, "verdicts: 0 .. n-1");

const char *mj_strerror(int err)
{
    if (err <= 0 && err > -MJ_E_COUNT)
        return error_strings[-err];
    return "unknown error";
}

const char *mj_error_name(int err)
{
    if (err <= 0 && err > -MJ_E_COUNT)
        return error_names[-err];
    return "MJ_EUNKNOWN";
}

const char *mj_reason_name(mj_reason r)
{
    if ((unsigned)r < NELEMS(reason_names))
        return reason_names[r];
    return "unknown";
}

const char *mj_event_name(mj_event_type t)
{
    if ((unsigned)t < NELEMS(event_names))
        return event_names[t];
    return "unknown";
}

const char *mj_outcome_name(mj_outcome o)
{
    if ((unsigned)o < NELEMS(outcome_names))
        return outcome_names[o];
    return "unknown";
}

const char *mj_state_name(mj_state s)
{
    if ((unsigned)s < NELEMS(state_names))
        return state_names[s];
    return "unknown";
}

const char *mj_msg_class_name(mj_msg_class c)
{
    if ((unsigned)c < NELEMS(msg_class_names))
        return msg_class_names[c];
    return "unknown";
}

const char *mj_ping_verdict_name(mj_ping_verdict v)
{
    if ((unsigned)v < NELEMS(verdict_names))
        return verdict_names[v];
    return "unknown";
}
