/*
 * mucjoins - knows which XMPP group chat (MUC, XEP-0045) rooms each client
 * session is in, and under which nickname.
 *
 * This header is the whole public API and its manual. Every symbol carries
 * the prefix mj_ / MJ_. The library does not parse XML: callers describe a
 * stanza with a small plain view (mj_stanza) and the tracker decides.
 *
 * Ownership in one paragraph: every pointer handed *in* (config, stanza
 * views, strings) is only read during the call and may be freed by the
 * caller as soon as the call returns. Every pointer handed *out* through an
 * event, a query or an iterator points into tracker memory and stays valid
 * until the next call that feeds or changes the same tracker (feed, tick,
 * close, free); copy what you need to keep. Handles (mj_tracker,
 * mj_session) are owned by the tracker; mj_tracker_free() frees all.
 *
 * Threads: a tracker and its sessions must be used from one thread at a
 * time. Distinct trackers are independent.
 *
 * Semantics: docs/semantics.md (cited by section, "docs/semantics.md §n")
 * and docs/state-machine.md.
 */
#ifndef MUCJOINS_H
#define MUCJOINS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(MJ_STATIC)
#define MJ_API __attribute__((visibility("default")))
#else
#define MJ_API
#endif

#define MJ_VERSION "0.1.0"

/* ---------------------------------------------------------------------- */
/* Errors                                                                  */

/* Public enums come from one list each, X(NAME, value, "name"), that
 * declares the enum and generates its name function (src/names.c) and its
 * count: a list may only grow at its end, values stay what they are (they
 * are the ABI). MJ_ENUM_ITEM and MJ_ENUM_ONE are helpers for these lists. */
#define MJ_ENUM_ITEM(name, value, str) name = value,
#define MJ_ENUM_ONE(name, value, str)  +1

/* Every function that can fail returns one of these; MJ_OK is 0 and every
 * error is negative. The string is mj_strerror()'s; mj_error_name() gives
 * the enum name. Besides the errors each function lists, every one that
 * changes a tracker returns MJ_EBUSY when called from one of that
 * tracker's callbacks (mj_log_fn). */
/* clang-format off */
#define MJ_ERROR_LIST(X)                                                     \
    X(MJ_OK, 0, "success")                                                   \
    /* the allocator returned NULL; state is unchanged */                    \
    X(MJ_ENOMEM, -1, "out of memory")                                        \
    /* a required argument is NULL or out of range */                        \
    X(MJ_EINVAL, -2, "invalid argument")                                     \
    /* a JID does not prepare (RFC 6122) */                                  \
    X(MJ_EJID, -3, "malformed JID")                                          \
    /* a JID part exceeds 1023 bytes after preparation */                    \
    X(MJ_ETOOLONG, -4, "JID part longer than 1023 bytes")                    \
    /* no such session or room */                                            \
    X(MJ_ENOTFOUND, -5, "not found")                                         \
    /* a call that would change the tracker, from one of the tracker's own  \
     * callbacks (event, log, clock); nothing was done */                    \
    X(MJ_EBUSY, -6, "called from the tracker's own callback")
/* clang-format on */
typedef enum mj_error { MJ_ERROR_LIST(MJ_ENUM_ITEM) } mj_error;
/* The number of codes, MJ_OK included: they run 0 .. -(MJ_E_COUNT - 1). */
#define MJ_E_COUNT (0 MJ_ERROR_LIST(MJ_ENUM_ONE))

/* A static English description of an error code; never NULL. */
MJ_API const char *mj_strerror(int err);
/* The enum name ("MJ_ENOMEM"...) of an error code; never NULL. */
MJ_API const char *mj_error_name(int err);

/* ---------------------------------------------------------------------- */
/* Strings                                                                 */

/* A borrowed byte string. ptr == NULL means "absent" (an attribute that
 * is not there), which differs from ptr != NULL && len == 0 (present but
 * empty). Bytes need not be NUL-terminated. */
typedef struct mj_str {
    const char *ptr;
    size_t len;
} mj_str;

/* ---------------------------------------------------------------------- */
/* JID preparation (RFC 6122 with unassigned code points allowed, the same
 * results as Prosody's util.jid.prep).                                     */

/* Prepare a whole JID (node@domain/resource, each part optional except the
 * domain). On MJ_OK writes the prepared JID into out (not NUL-terminated,
 * out_cap bytes available) and its length into *out_len. Errors: MJ_EJID
 * (malformed or a part fails its profile), MJ_ETOOLONG (a part exceeds
 * 1023 bytes, or out_cap is too small), MJ_EINVAL, MJ_ENOMEM. */
MJ_API int mj_jid_prep(const char *jid, size_t len, char *out, size_t out_cap,
                       size_t *out_len);

/* ---------------------------------------------------------------------- */
/* Allocator, log, clock                                                   */

/* Same contract as Lua's lua_Alloc, so Prosody's allocator plugs in as is:
 * nsize == 0 frees ptr (returns NULL); otherwise (re)allocates ptr from
 * osize to nsize bytes and returns NULL on failure, leaving ptr intact.
 * The tracker always passes the exact old size. */
typedef void *(*mj_alloc_fn)(void *ud, void *ptr, size_t osize, size_t nsize);

/* clang-format off */
#define MJ_LOG_LEVEL_LIST(X)                                                 \
    X(MJ_LOG_DEBUG, 0, "debug")                                              \
    X(MJ_LOG_INFO, 1, "info")                                                \
    X(MJ_LOG_WARN, 2, "warn")                                                \
    X(MJ_LOG_ERROR, 3, "error")
/* clang-format on */
typedef enum mj_log_level { MJ_LOG_LEVEL_LIST(MJ_ENUM_ITEM) } mj_log_level;
/* Levels run 0 .. MJ_LOG_COUNT - 1. */
#define MJ_LOG_COUNT (0 MJ_LOG_LEVEL_LIST(MJ_ENUM_ONE))

/* msg is a NUL-terminated line valid during the call only. Like every
 * callback of a tracker (log, clock, on_event), it may read the tracker
 * (find sessions, look rooms up, iterate, stats) but not change it: a
 * call that would (feeding a stanza, opening, closing or restoring a
 * session, a tick, a link loss or up, a ping answer, configuring, freeing
 * the tracker, classifying a message) returns MJ_EBUSY and does nothing;
 * those that return no error code do nothing (mj_session_close(),
 * mj_tracker_tick(), mj_tracker_free()), mj_session_importance() answers
 * -1 and mj_session_ping_needs_features() 0. The allocator must not call
 * the tracker at all. Every callback returns to its caller: leaving one by
 * longjmp() (or a C++ exception) leaves the tracker in the middle of a
 * change, which then refuses every later change as if still inside it. */
typedef void (*mj_log_fn)(void *ud, mj_log_level level, const char *msg);

/* Returns a monotonic time in seconds. A reading that is not a finite
 * number (NaN, an infinity) stands for the last finite one (0 before
 * any): the time does not move. */
typedef double (*mj_clock_fn)(void *ud);

/* ---------------------------------------------------------------------- */
/* Events                                                                  */

/* clang-format off */
#define MJ_EVENT_LIST(X)                                                     \
    /* the session is now in room as nick */                                 \
    X(MJ_EV_JOINED, 1, "joined")                                             \
    /* the session is no longer in room (reason) */                          \
    X(MJ_EV_LEFT, 2, "left")                                                 \
    /* old_nick -> nick */                                                   \
    X(MJ_EV_NICK_CHANGED, 3, "nick-changed")                                 \
    /* joined as nick though old_nick was asked */                           \
    X(MJ_EV_NICK_REWRITTEN, 4, "nick-rewritten")                             \
    /* a pending join ended without entering */                              \
    X(MJ_EV_JOIN_FAILED, 5, "join-failed")                                   \
    /* send a self-ping (XEP-0410) to room/nick now, with id ping_id (see    \
       mj_session_ping_answer) */                                            \
    X(MJ_EV_PING_NEEDED, 6, "ping-needed")                                   \
    /* a received groupchat message mentions nick */                         \
    X(MJ_EV_MENTION, 7, "mention")                                           \
    /* send <presence type='unavailable' id=''/> (the event's id) from       \
       session_jid to room/nick now: a leave our own server bounced (the     \
       link was down), owed to the room since, and a link to its domain is   \
       up (mj_tracker_link_up) */                                            \
    X(MJ_EV_LEAVE_NEEDED, 8, "leave-needed")
/* clang-format on */
typedef enum mj_event_type { MJ_EVENT_LIST(MJ_ENUM_ITEM) } mj_event_type;
/* Event types run 1 .. MJ_EV_COUNT (0 is no event: mj_event_name() says
 * "none"). */
#define MJ_EV_COUNT (0 MJ_EVENT_LIST(MJ_ENUM_ONE))

/* Why a session left a room or a join failed. Ordered strongest first for
 * the codes of one presence (docs/semantics.md §2, "Why an entry ended: left
 * reasons"). */
/* clang-format off */
#define MJ_REASON_LIST(X)                                                    \
    X(MJ_R_NONE, 0, "none")                                                  \
    X(MJ_R_TECHNICAL, 1, "technical")       /* 333 */                        \
    X(MJ_R_SHUTDOWN, 2, "shutdown")         /* 332 */                        \
    X(MJ_R_BANNED, 3, "banned")             /* 301 */                        \
    X(MJ_R_KICKED, 4, "kicked")             /* 307 */                        \
    X(MJ_R_AFFILIATION, 5, "affiliation")   /* 321 */                        \
    X(MJ_R_MEMBERS_ONLY, 6, "members-only") /* 322 */                        \
    /* <destroy/>, with text and alt_venue */                                \
    X(MJ_R_DESTROYED, 7, "destroyed")                                        \
    /* confirmation of a leave the session sent */                           \
    X(MJ_R_VOLUNTARY, 8, "voluntary")                                        \
    /* unavailable self-presence, no other reason */                         \
    X(MJ_R_REMOVED, 9, "removed")                                            \
    X(MJ_R_SESSION_CLOSED, 10, "session-closed")                             \
    /* a sent leave was never confirmed */                                   \
    X(MJ_R_LEFT_UNCONFIRMED, 11, "left-unconfirmed")                         \
    /* a self-ping said "not joined" */                                      \
    X(MJ_R_GHOST, 12, "ghost")                                               \
    /* join refused with a presence error */                                 \
    X(MJ_R_ERROR, 13, "error")                                               \
    /* join not confirmed in pending_timeout */                              \
    X(MJ_R_TIMEOUT, 14, "timeout")
/* clang-format on */
typedef enum mj_reason { MJ_REASON_LIST(MJ_ENUM_ITEM) } mj_reason;
/* Reasons run 0 (MJ_R_NONE) .. MJ_R_COUNT - 1. */
#define MJ_R_COUNT (0 MJ_REASON_LIST(MJ_ENUM_ONE))

/* "joined", "left", "nick-changed", "nick-rewritten", "join-failed",
 * "ping-needed", "mention", "leave-needed" (the Prosody event is "muc-joins/"
 * + name); never NULL. */
MJ_API const char *mj_event_name(mj_event_type t);

/* Short lowercase name used in logs and Prosody events ("kicked",
 * "members-only", "session-closed"...); never NULL. */
MJ_API const char *mj_reason_name(mj_reason r);

/* What the session must be told about a leave it did not see: an
 * unavailable self-presence from room/nick (the LEFT event's room and
 * nick) to the session, whose <x xmlns='http://jabber.org/protocol/muc#user'/>
 * holds <item affiliation='' role=''/> and these <status code=''/>
 * children, in order. */
typedef struct mj_notice {
    const int *status;
    size_t nstatus;
    const char *affiliation;
    const char *role;
} mj_notice;

/* The notice a LEFT event with this reason asks the caller to send to the
 * session, or NULL when the session learnt of the leave by itself (the
 * room's presence, its own leave, its own close). Only MJ_R_GHOST has one
 * (a self-ping found the room had dropped the session): status 110 and
 * 333, affiliation and role "none", so that clients acting on 333 rejoin.
 * The notice is static: valid for the life of the program. */
MJ_API const mj_notice *mj_reason_notice(mj_reason r);

typedef struct mj_session mj_session;

/* One change. All strings point into tracker memory, valid during the
 * callback only. Absent strings have ptr == NULL. */
typedef struct mj_event {
    mj_event_type type;
    mj_session *session;
    mj_str session_jid; /* the session's full JID as given at creation */
    mj_str room;        /* prepared bare room JID */
    mj_str nick;        /* current (new) nick; for LEFT the last nick; for
                           PING_NEEDED the nick pinged (EXPECTING: the one
                           the 303 announced); for LEAVE_NEEDED the nick
                           the room knew the session by */
    mj_str old_nick;    /* NICK_CHANGED: previous; NICK_REWRITTEN: asked */
    mj_reason reason;   /* LEFT, JOIN_FAILED */
    mj_str condition;   /* JOIN_FAILED with MJ_R_ERROR: error condition;
                           LEFT with MJ_R_GHOST: the self-ping's error
                           condition, when an error said so */
    mj_str text;        /* LEFT destroyed: destroy <reason/> text */
    mj_str alt_venue;   /* LEFT destroyed: destroy jid attribute */
    mj_str from_nick;   /* MENTION: the nick of the occupant who wrote */
    uint32_t ping_id;   /* PING_NEEDED: the ping's id, never 0 */
    mj_str room_nick;   /* LEFT, when it is not nick: the nick the room
                           knows the session by, where a removal would
                           come from and so the notice (mj_reason_notice):
                           in EXPECTING the one the 303 announced (absent:
                           nick) */
    mj_str id;          /* LEAVE_NEEDED: the id to send the leave with
                           (new at every send); what answers it with this
                           id is MJ_O_ANSWERED */
} mj_event;

/* Called synchronously from inside feed, tick and close calls, once per
 * change, in order. It may read the tracker but not change it (see
 * mj_log_fn: such calls return MJ_EBUSY). */
typedef void (*mj_event_fn)(void *ud, const mj_event *ev);

/* ---------------------------------------------------------------------- */
/* Tracker                                                                 */

typedef struct mj_config {
    size_t max_rooms;       /* joined rooms per session (default 1000) */
    size_t max_pending;     /* pending joins per session (default 1000) */
    double pending_timeout; /* seconds (default 120) */
    int legacy_joins;       /* track joins without the MUC <x/> (default 0) */
    /* Self-ping (XEP-0410, docs/semantics.md §5) */
    int self_ping;           /* ping when membership is unclear (default 1) */
    double ping_start_delay; /* after a link loss, seconds (default 10) */
    double ping_timeout;     /* one ping's answer, seconds (default 60) */
    double ping_backoff;     /* first retry after an unknown answer; doubles
                                each retry (default 30) */
    unsigned ping_retries;   /* unknown answers retried (default 3) */
    size_t ping_budget;      /* pings outstanding per remote domain
                                (default 20; others wait their turn) */
    mj_alloc_fn alloc;       /* default: realloc/free */
    void *alloc_ud;
    mj_log_fn log; /* default: none */
    void *log_ud;
    mj_clock_fn clock; /* default: CLOCK_MONOTONIC */
    void *clock_ud;
    mj_event_fn on_event; /* default: none */
    void *event_ud;
    /* How the log names an option where a line says which one to change (a
     * bound reached, a wait over): this prefix, then the option's name
     * (mj_option.name), so that the line names what the embedder's users
     * set ("track_muc_joins_": track_muc_joins_max_rooms). A prefix ending
     * in '-' also writes the name's '_' as '-' ("--": --max-rooms). NULL
     * or "": the name alone (default: NULL). Copied; longer than
     * MJ_OPTION_PREFIX_MAX bytes: MJ_EINVAL. */
    const char *option_prefix;
} mj_config;

/* The longest mj_config.option_prefix, in bytes. */
#define MJ_OPTION_PREFIX_MAX 32

/* Fill cfg with the defaults above (from mj_config_options()). */
MJ_API void mj_config_init(mj_config *cfg);

/* The type of an option's mj_config field. */
typedef enum mj_option_type {
    MJ_OPT_SIZE = 0,    /* size_t: a whole number */
    MJ_OPT_UINT = 1,    /* unsigned: a whole number */
    MJ_OPT_SECONDS = 2, /* double: seconds, not negative */
    MJ_OPT_BOOL = 3     /* int: 0 or 1 */
} mj_option_type;

/* One configuration option: a field of mj_config that is a plain value
 * (limits, timeouts, switches; not the callbacks). Bindings and tools read
 * their option names, defaults and help from this table instead of keeping
 * their own list. */
typedef struct mj_option {
    const char *name; /* the mj_config field's name ("max_rooms") */
    mj_option_type type;
    double def;      /* the default mj_config_init() sets (booleans 0/1) */
    size_t offset;   /* offsetof(mj_config, <name>) */
    const char *doc; /* one lowercase line without a final period; a
                        boolean's starts with a verb ("track ...") */
    int positive;    /* 0 would switch off what the option is for (no room
                        tracked, every wait over at its first tick, no
                        ping sent): a server's configuration should refuse
                        it (the library takes it) */
    double max;      /* the largest value a configuration should take (0:
                        no bound) */
} mj_option;

/* All options, in the order of mj_config; *n (if n is not NULL) gets their
 * number. The table is static: valid for the life of the program, never
 * freed, the same on every call. */
MJ_API const mj_option *mj_config_options(size_t *n);

typedef struct mj_tracker mj_tracker;

/* Create a tracker. cfg is copied (NULL: defaults). On MJ_OK *out owns a
 * tracker to free with mj_tracker_free(). Errors: MJ_EINVAL, MJ_ENOMEM. */
MJ_API int mj_tracker_new(const mj_config *cfg, mj_tracker **out);

/* Free the tracker, all its sessions and rooms. Fires no events. NULL is
 * accepted. */
MJ_API void mj_tracker_free(mj_tracker *tr);

/* Change limits and timeout of a live tracker; log, clock, on_event and
 * option_prefix are taken too, alloc/alloc_ud are ignored (memory already
 * allocated must be freed by the allocator that allocated it). Existing
 * entries are kept even above a lower bound. A new pending_timeout moves the
 * deadlines already running by the difference. A new clock (or clock_ud):
 * every time already kept (a join's since, deadlines, self-ping schedules)
 * keeps its distance from now, read from each clock at this call. Errors:
 * MJ_EINVAL. */
MJ_API int mj_tracker_configure(mj_tracker *tr, const mj_config *cfg);

/* ---------------------------------------------------------------------- */
/* Sessions                                                                */

/* Find or create the session with this JID (normally the full JID of a
 * client session; any valid JID is accepted) (it is prepared; the
 * given spelling is kept for events). A session opened here lives until
 * it is closed, even if it never has a room: a caller feeding stanzas by
 * JID should use mj_tracker_outgoing(), which creates sessions only for
 * joins. The handle belongs to the tracker and
 * lives until mj_session_close() or mj_tracker_free(). Errors: MJ_EJID,
 * MJ_ETOOLONG, MJ_EINVAL, MJ_ENOMEM. */
MJ_API int mj_session_open(mj_tracker *tr, const char *full_jid, size_t len,
                           mj_session **out);

/* Find an existing session; MJ_ENOTFOUND if none (out set to NULL). */
MJ_API int mj_session_find(mj_tracker *tr, const char *full_jid, size_t len,
                           mj_session **out);

/* The session ended (Prosody: resource-unbind): every room the session is
 * in fires LEFT with MJ_R_SESSION_CLOSED, then the handle is freed. NULL is
 * accepted. */
MJ_API void mj_session_close(mj_session *s);

/* The full JID given to mj_session_open(); valid while the session is. */
MJ_API mj_str mj_session_jid(const mj_session *s);

/* ---------------------------------------------------------------------- */
/* Feeding stanzas                                                          */

typedef enum mj_kind {
    MJ_KIND_PRESENCE = 0,
    MJ_KIND_MESSAGE = 1,
    MJ_KIND_IQ = 2
} mj_kind;

/* The stanza's type attribute, classified. */
typedef enum mj_type {
    MJ_T_AVAILABLE = 0,   /* presence without type */
    MJ_T_UNAVAILABLE = 1, /* presence type='unavailable' */
    MJ_T_ERROR = 2,       /* type='error' */
    MJ_T_GROUPCHAT = 3,   /* message type='groupchat' */
    MJ_T_OTHER = 4,       /* anything else (probe, subscribe, chat...) */
    MJ_T_GET = 5,         /* iq type='get' */
    MJ_T_SET = 6,         /* iq type='set' */
    MJ_T_RESULT = 7       /* iq type='result' */
} mj_type;

#define MJ_MAX_STATUS 16
#define MJ_MAX_DELAY  4
#define MJ_MAX_REFS   8
/* The bytes of a body the tracker reads: its first MJ_MAX_BODY (mentions
 * look no further), and the one after them, which says whether that cut
 * falls inside a character. A builder that must copy a body (its text in
 * several pieces) may stop at MJ_MAX_BODY + 1 bytes: every decision is
 * the same as with the whole body. */
#define MJ_MAX_BODY 65536

/* A plain view of one stanza, filled by the caller (see mj_stanza_init).
 * Only what the tracker needs; everything is borrowed for the call. */
typedef struct mj_stanza {
    mj_kind kind;
    mj_type type;
    mj_str from; /* as routed; absent for what a client sends */
    mj_str to;   /* absent: broadcast presence */
    mj_str id;   /* read for an iq, a presence a session sends (but for a
                    probe or subscription), an error message it sends, a
                    presence received while a join waits for its answer,
                    a leave for its confirmation, a nick change (an
                    error) or a leave the tracker sent again may still be
                    answered: mj_session_needs() (MJ_NEED_ID; a builder
                    may leave it absent otherwise) */

    /* <x xmlns='http://jabber.org/protocol/muc'/> is a child */
    int has_muc_x;

    /* The first <x xmlns='http://jabber.org/protocol/muc#user'/> child.
     * Codes of <status/> children of that element only. A <status/> whose
     * code is not a number 100-999 sets status_malformed instead. */
    int has_muc_user;
    int status[MJ_MAX_STATUS];
    size_t nstatus;
    int status_malformed;
    mj_str item_nick;      /* <item nick=''/> inside muc#user; read only
                              when status holds 303, so a builder may
                              leave it absent otherwise */
    int has_destroy;       /* <destroy/> inside muc#user */
    mj_str destroy_jid;    /* its jid attribute (alternate venue) */
    mj_str destroy_reason; /* its <reason/> text */

    /* <error/> of a type='error' stanza (the first in the client namespace:
     * mj_stanza_client_ns()) */
    mj_str error_type;      /* cancel, wait, modify, auth, continue */
    mj_str error_condition; /* defined condition element name (the first
                               child in urn:ietf:params:xml:ns:xmpp-stanzas
                               but <text/>); "undefined-condition" for an
                               <error/> without one (mj_stanza_error_read());
                               absent: no <error/> child */
    mj_str error_by;

    /* Messages (mentions, docs/semantics.md §6) */
    mj_str body;     /* text of the first <body/>; absent if none (only
                        its first MJ_MAX_BODY + 1 bytes are read) */
    int has_subject; /* a <subject/> child (a subject change only without
                        <body/> and <thread/>, XEP-0045 8.1) */
    /* from attributes of <delay xmlns='urn:xmpp:delay'/> and
     * <x xmlns='jabber:x:delay'/> children (absent from: not listed) */
    mj_str delay_from[MJ_MAX_DELAY];
    size_t ndelay;
    /* uri attributes of direct-child <reference
     * xmlns='urn:xmpp:reference:0' type='mention'/> elements */
    mj_str mention_uri[MJ_MAX_REFS];
    size_t nmentions;

    /* iq: a <ping xmlns='urn:xmpp:ping'/> child */
    int has_ping;

    /* Messages: a <thread/> child (after the fields above, so that code
     * built before it keeps its layout) */
    int has_thread;
    /* Messages: a child for which Prosody's MUC keeps a message without
     * <body/> in its history: <store xmlns='urn:xmpp:hints'/>,
     * <encryption xmlns='urn:xmpp:eme:0'/> or any child in
     * urn:xmpp:chat-markers:0. A room's own subject never carries one, an
     * occupant's <subject/> in another namespace relayed from the history
     * does (mj_messages_subject()). Read only for a subject change (a
     * <subject/> without <body/> and <thread/>: otherwise it changes
     * nothing); a chat marker counts whatever its name (<body/>, <x/>...
     * in urn:xmpp:chat-markers:0 too, as Prosody's get_child(nil, ns)). */
    int has_history_hint;
    /* Messages: a payload that makes a message worth waking a device for
     * whatever its body says (mj_stanza_wake_child()), or one the
     * server's configuration lists as such (Prosody's
     * csi_important_payloads; the caller sets it). Read only by
     * mj_session_importance(), and it only turns an answer of 0 (hold)
     * into -1, except for the user's own messages and room history
     * (held whatever they carry): a builder may leave it 0 otherwise, and
     * read it only for a message mj_session_importance() answered 0
     * without it. */
    int has_wake_hint;
} mj_stanza;

/* Zero the view: kind presence, type available, everything absent (the
 * lists status, delay_from and mention_uri have count 0; their slots are
 * left as they were, and are read only below their counts). */
MJ_API void mj_stanza_init(mj_stanza *st);

/* The extraction rules every builder of a view shares (the Lua binding,
 * the replay tool), so that one stanza means one thing everywhere. Each
 * only reads its arguments during the call and st keeps no pointer to
 * them, except mj_stanza_add_delay(): st borrows from, as it borrows the
 * strings a builder sets itself (from, body, mention_uri...), for as long
 * as the view is used.
 *
 * The stanza's element name: "presence", "message" or "iq" set st->kind
 * and return 1; anything else returns 0 (the core reads nothing of it). */
MJ_API int mj_stanza_set_kind(mj_stanza *st, const char *name, size_t len);
/* Its type attribute (NULL: absent), read for st->kind: st->type. */
MJ_API void mj_stanza_set_type(mj_stanza *st, const char *type, size_t len);
/* One <status/> child of the first muc#user <x/> (in that namespace), its
 * code attribute (NULL: absent). Exactly three ASCII digits 100-999 are
 * recorded, each code once; anything else, and a new code beyond
 * MJ_MAX_STATUS, sets status_malformed instead (a new code beyond it that
 * the decisions read, 110, 303 or a removal code, still takes the place
 * of the last recorded one they do not read). */
MJ_API void mj_stanza_add_status(mj_stanza *st, const char *code, size_t len);
/* The stanza's <error/> child was read (error_type, error_by and, if it
 * names one, error_condition set): one without a defined condition gets
 * "undefined-condition", as Prosody's stanza:get_error() says. Not called
 * when there is no <error/> child: error_condition stays absent (Prosody's
 * MUC takes a message error without one for a "malformed error" and
 * removes the sender; one with an undefined condition it does not). */
MJ_API void mj_stanza_error_read(mj_stanza *st);
/* The from attribute of a delay marker of a message (<delay
 * xmlns='urn:xmpp:delay'/>, <x xmlns='jabber:x:delay'/>; NULL: absent, not
 * listed), in document order, after st->from is set. The first
 * MJ_MAX_DELAY are listed; once the list is full, a marker whose from is
 * the message's own bare from (st->from up to its '/', ASCII case
 * ignored), the room's history mark, takes the last slot: Prosody's MUC
 * appends that mark after whatever markers an occupant put in its
 * message, so a full list must not hide it. Returns the slot written, or
 * -1 when none was. */
MJ_API int mj_stanza_add_delay(mj_stanza *st, const char *from, size_t len);
/* Whether a namespace (NULL: none given) is one a stanza itself may be
 * in: none, jabber:client or jabber:server. An empty string (xmlns='') is
 * not. Its children are read with mj_stanza_own_ns() (<subject/>) and
 * mj_stanza_client_ns() (<body/>, <thread/>, <error/>). */
MJ_API int mj_stanza_content_ns(const char *ns, size_t len);
/* Which children of a stanza are its content. Prosody's parser gives a
 * child xmlns only when it differs from its stream's, and writes it out
 * as it is. stanza_ns: the stanza's xmlns (NULL: none given); ns: the
 * child's (NULL: none given, it inherits the stanza's; an empty string,
 * xmlns='', which Prosody's parser keeps as xmlns = "", is no namespace).
 *
 * mj_stanza_own_ns(): the child is in the stanza's own namespace, as
 * util.stanza's get_child(name) finds it: ns is NULL or the same as
 * stanza_ns. How Prosody's MUC tells a subject change (subject.lib.lua),
 * and what counts for a <subject/>: an occupant's <subject
 * xmlns='jabber:server'/> (or 'jabber:client' from another server) is
 * chatter the room relays, into its history with a chat marker or a
 * store hint, and must not end the history of a join.
 *
 * mj_stanza_client_ns(): the child is in the namespace the client reads
 * it in once it is written on the client's jabber:client stream: the
 * stanza's own, or jabber:client (kept from another server's or a
 * component's stream). What counts for <body/>, <thread/> and <error/>:
 * the body the client shows, the error it reads. */
MJ_API int mj_stanza_own_ns(const char *stanza_ns, size_t stanza_len,
                            const char *ns, size_t len);
MJ_API int mj_stanza_client_ns(const char *stanza_ns, size_t stanza_len,
                               const char *ns, size_t len);
/* Whether a direct child of a message (its name, and its namespace: NULL
 * when none is given, the stanza's own) makes it worth waking a device
 * for whatever its body says (st->has_wake_hint): content the body does
 * not show, so a mention cannot be seen in it (<encryption
 * xmlns='urn:xmpp:eme:0'/>, OMEMO's <encrypted/> in
 * eu.siacs.conversations.axolotl, urn:xmpp:omemo:1 or :2, <openpgp
 * xmlns='urn:xmpp:openpgp:0'/>, <x xmlns='jabber:x:encrypted'/>), a call
 * (any child in urn:xmpp:jingle-message:0 or :1, a group call's <invite
 * xmlns='urn:xmpp:call-invites:0'/>) or an invitation (<x
 * xmlns='jabber:x:conference'/>). */
MJ_API int mj_stanza_wake_child(const char *name, size_t name_len,
                                const char *ns, size_t ns_len);

/* What the tracker made of one stanza. */
/* clang-format off */
#define MJ_OUTCOME_LIST(X)                                                   \
    /* nothing in it can change a room's state: not from/to a room the       \
     * session has state with, or a kind of stanza that never changes        \
     * state (a message from the room's bare JID, a non-kickable message     \
     * error, an iq, a presence received of another type than available,    \
     * unavailable or error) */                                              \
    X(MJ_O_IGNORED, 0, "ignored")                                            \
    /* about a tracked room and of a kind that could change it, but          \
     * nothing changed (presence update, duplicate self-presence, another    \
     * occupant, a groupchat message) */                                     \
    X(MJ_O_UNCHANGED, 1, "unchanged")                                        \
    /* state changed (events may have fired) */                              \
    X(MJ_O_CHANGED, 2, "changed")                                            \
    /* a self-presence (110) for a room the session has no state with,       \
     * or answering no join: refused */                                      \
    X(MJ_O_FORGED, 3, "forged")                                              \
    /* from/to does not prepare: ignored */                                  \
    X(MJ_O_BAD_JID, 4, "bad-jid")                                            \
    /* a bound was hit: not tracked */                                       \
    X(MJ_O_LIMIT, 5, "limit")                                                \
    /* membership unclear: a self-ping is scheduled (PING_NEEDED fires       \
     * when it is sent) unless the self_ping option is off */                \
    X(MJ_O_AMBIGUOUS, 6, "ambiguous")                                        \
    /* the answer to a leave the tracker had sent again (LEAVE_NEEDED),      \
     * carrying the id of a send of it: the caller's own traffic, which the  \
     * session never sent and need not be shown (the Prosody module keeps    \
     * it from the session) */                                               \
    X(MJ_O_ANSWERED, 7, "answered")
/* clang-format on */
typedef enum mj_outcome { MJ_OUTCOME_LIST(MJ_ENUM_ITEM) } mj_outcome;
/* Outcomes run 0 .. MJ_O_COUNT - 1. */
#define MJ_O_COUNT (0 MJ_OUTCOME_LIST(MJ_ENUM_ONE))

/* "ignored", "unchanged", ...; never NULL. */
MJ_API const char *mj_outcome_name(mj_outcome o);

/* A stanza the session sends (to: room/nick, bare room, or absent for a
 * broadcast presence). from is not read. Errors: MJ_EINVAL, MJ_ENOMEM (the
 * state is as before the call; *out is MJ_O_UNCHANGED). out may be NULL. */
MJ_API int mj_session_outgoing(mj_session *s, const mj_stanza *st,
                               mj_outcome *out);

/* A stanza the session receives (from: room/nick or the bare room). to is
 * not read. Errors as for mj_session_outgoing(). */
MJ_API int mj_session_incoming(mj_session *s, const mj_stanza *st,
                               mj_outcome *out);

/* What mj_session_outgoing() (outgoing != 0) or mj_session_incoming()
 * reads of a stanza of this kind and type: MJ_NEED_* bits. A view builder
 * may read only these parts and leave the rest of the view absent (0: the
 * stanza is ignored whatever it holds, without a session). So that a
 * stanza is read once, lazily, as far as the decision needs. */
enum {
    MJ_NEED_FROM = 1 << 0,     /* from */
    MJ_NEED_TO = 1 << 1,       /* to */
    MJ_NEED_MUC = 1 << 2,      /* has_muc_x */
    MJ_NEED_MUC_USER = 1 << 3, /* has_muc_user, status, item, destroy */
    MJ_NEED_ERROR = 1 << 4,    /* error_type, error_condition, error_by */
    MJ_NEED_MESSAGE = 1 << 5,  /* body, has_subject, delay_from, mentions */
    MJ_NEED_ID = 1 << 6,       /* id */
    MJ_NEED_ALL = (1 << 7) - 1 /* what the other mj_session_* functions
                                  taking a stanza may read, with has_ping */
};
MJ_API unsigned mj_stanza_needs(int outgoing, mj_kind kind, mj_type type);

/* The same for this session as it is now, which is never more: a received
 * presence's id is read only while one of the session's joins waits for
 * its answer (it tells that answer from the room's answers to what the
 * session sent before the join), a join it sent again to a room it is
 * in is unanswered, or one of its leaves waits for its confirmation (an
 * error may refuse the leave; a presence may answer a join sent again
 * before it), an error's while one of its nick changes waits, and while a
 * leave the tracker sent again (MJ_EV_LEAVE_NEEDED) may still be
 * answered (mj_stats.leaves_answerable), that of any session of the
 * tracker (an answer carrying the id of a send of it is MJ_O_ANSWERED). A
 * builder that has the session handle before reading the stanza may read only
 * these parts.
 */
MJ_API unsigned mj_session_needs(const mj_session *s, int outgoing,
                                 mj_kind kind, mj_type type);
/* The same for mj_tracker_incoming() / mj_tracker_outgoing() of this
 * tracker as it is now: a received presence's id only while some session
 * has a join waiting for its answer, a join sent again unanswered or a
 * leave waiting for its confirmation (an error's: or a nick change
 * waiting), or a leave the tracker sent again may still be answered. */
MJ_API unsigned mj_tracker_needs(const mj_tracker *tr, int outgoing,
                                 mj_kind kind, mj_type type);

/* A stanza the session with this full JID sends, for a caller that does
 * not keep session handles (the Prosody module does this for every stanza
 * a client sends). The session is found as by mj_session_find(). A
 * session the tracker does not hold is created only for a stanza that
 * can start tracking a room (an available presence to room/nick that
 * counts as a join: with the MUC <x/>, or any with legacy_joins) and is
 * kept only if it then has state with a room; such a join refused for a
 * bound or a bad room JID leaves no session behind (its outcome is still
 * MJ_O_LIMIT or MJ_O_BAD_JID). Anything else from a session the tracker
 * does not hold (an unavailable presence, an error, a message: above all
 * what a session sends after mj_session_close(), such as Prosody's
 * unavailable after resource-unbind) is MJ_O_IGNORED and creates nothing.
 * *session (if session is not NULL) receives the session's handle, or
 * NULL when the tracker holds no session for this JID after the call.
 * Errors: MJ_EINVAL; the session JID's MJ_EJID, MJ_ETOOLONG; MJ_ENOMEM
 * (nothing changed, no session created). out may be NULL. */
MJ_API int mj_tracker_outgoing(mj_tracker *tr, const char *full_jid,
                               size_t len, const mj_stanza *st,
                               mj_session **session, mj_outcome *out);

/* A stanza the session with this full JID receives, for a caller that
 * does not keep session handles. It never creates a session: one the
 * tracker does not hold has state with no room, so nothing changes; a
 * self-presence (110) to it is still refused and counted as forged
 * (MJ_O_FORGED), as one from a room a held session never joined.
 * *session (if session is not NULL) receives the handle, or NULL. Errors
 * as for mj_tracker_outgoing(). out may be NULL. */
MJ_API int mj_tracker_incoming(mj_tracker *tr, const char *full_jid,
                               size_t len, const mj_stanza *st,
                               mj_session **session, mj_outcome *out);

/* What a received message is to the session (docs/semantics.md §6-7). */
/* clang-format off */
#define MJ_MSG_CLASS_LIST(X)                                                 \
    /* not a groupchat message with a body from a room the session is in     \
     * (subjects, errors, PMs...) */                                         \
    X(MJ_M_OTHER, 0, "other")                                                \
    /* mentions the session (nick as a word, reference) */                   \
    X(MJ_M_MENTION, 1, "mention")                                            \
    /* from another occupant, no mention */                                  \
    X(MJ_M_CHATTER, 2, "chatter")                                            \
    /* the session's own message, reflected */                               \
    X(MJ_M_OWN, 3, "own")                                                    \
    /* room history (<delay/> from the room's JID, before the room's         \
     * subject was received) */                                              \
    X(MJ_M_HISTORY, 4, "history")
/* clang-format on */
typedef enum mj_msg_class { MJ_MSG_CLASS_LIST(MJ_ENUM_ITEM) } mj_msg_class;
/* Classes run 0 .. MJ_M_COUNT - 1. */
#define MJ_M_COUNT (0 MJ_MSG_CLASS_LIST(MJ_ENUM_ONE))

/* "other", "mention", "chatter", "own", "history"; never NULL. */
MJ_API const char *mj_msg_class_name(mj_msg_class c);

/* Classify a message the session receives, without changing anything and
 * without events (mj_session_incoming() fires MJ_EV_MENTION itself).
 * Errors: MJ_EINVAL, MJ_ENOMEM (*out = MJ_M_OTHER). */
MJ_API int mj_session_message(mj_session *s, const mj_stanza *st,
                              mj_msg_class *out);

/* Whether a stanza about to be delivered to the session is important
 * enough to wake the device (CSI, push): 1 = deliver now (a mention),
 * 0 = can wait, -1 = no opinion. hold_chatter: 0 = hold nothing (0 is
 * never answered); MJ_HOLD_CHATTER (CSI) = chatter, own messages and
 * history can wait; MJ_HOLD_GROUPCHAT (push of mentions only) = every
 * groupchat message that does not mention the user can wait, also one
 * without a body (chat states, markers, reactions, a subject), from the
 * room itself or from a room the session is not shown in. No opinion for
 * anything else, and for chatter or another groupchat message that
 * would be held, with st->has_wake_hint (encrypted, a call, an
 * invitation, or a payload the server lists as important); the user's
 * own messages and room history are held whatever they carry (the user
 * saw them already, or they are old). s may be NULL: a session the
 * tracker holds nothing for (one that never joined a room, or a full JID
 * without a session), which is in no room. */
#define MJ_HOLD_CHATTER   1
#define MJ_HOLD_GROUPCHAT 2
MJ_API int mj_session_importance(mj_session *s, const mj_stanza *st,
                                 int hold_chatter);

/* The same for a stanza to jid, the session found by it: a full JID with
 * no session (mod_cloud_notify pushes groupchat sent to a full JID whose
 * session is gone: a room still counting it in) is in no room
 * (mj_session_importance() of NULL); a bare JID (mod_muc_offline_delivery
 * copies a room's messages to a member's bare JID: no nick is known there
 * to tell a mention by), a JID that does not prepare, and a call from an
 * embedder's callback: -1, no opinion. */
MJ_API int mj_tracker_importance(mj_tracker *tr, const char *jid, size_t len,
                                 const mj_stanza *st, int hold_chatter);

/* ---- Self-ping (XEP-0410, docs/semantics.md §5) ---- */

/* The link to a remote domain was lost (Prosody: s2s-destroyed, once per
 * direction; component-disconnected). Report only domains the link was
 * authenticated for: a domain a peer merely claimed (an unauthenticated
 * stream's header) would let anyone make the tracker ping its rooms.
 * After ping_start_delay every session's room on that domain is pinged
 * once (JOINED/EXPECTING only).
 * Debounced: further losses of the same domain before the check runs
 * are one. A domain no tracked room is on is not pinged (nothing is
 * kept). And each leave sent again to a room on it (MJ_EV_LEAVE_NEEDED)
 * whose answer has not come is owed again: the next link up sends it
 * again, within the three sends (docs/semantics.md §2, "Leaves the path
 * bounced"). domain need not be prepared. Errors: MJ_EINVAL, MJ_EJID,
 * MJ_ENOMEM. */
MJ_API int mj_tracker_link_lost(mj_tracker *tr, const char *domain,
                                size_t len);

/* A link to a remote domain was established (Prosody: s2sout-established,
 * s2sin-established, component-authenticated; authenticated domains only,
 * as for mj_tracker_link_lost). Every shown entry on that domain whose
 * self-ping gave up (bounces, our own timeouts, the room's unknown
 * answers: the core cannot tell an unreachable server from a room that
 * does not answer) and was not settled since (a 'joined' answer, a
 * self-presence) is pinged again as a new round of retries, at the next
 * tick or once its rest after the give-up is over (a CHANGING one once
 * its nick change settles): a ghost left by an outage longer than the
 * retries is found once the server is back. The domain's other entries
 * are left alone; a domain where nothing gave up costs a lookup. Finding
 * those entries visits the domain's entries: a domain is visited at most
 * once per ping_start_delay (clamped to 1 s .. 10 min), a link up within
 * that time of the last visit being served that long after it. And each
 * leave owed to a room on that domain (a session's leave our own server
 * bounced while the link was down, not followed by any presence of the
 * session to that room) fires MJ_EV_LEAVE_NEEDED from inside this call;
 * the leave then waits for its answer and is not sent again, unless our
 * server bounces it again (the link came up from the room's side only)
 * or the link is lost before the answer came (mj_tracker_link_lost()):
 * then the next link up sends it again, three times in all at most.
 * Errors: MJ_EINVAL, MJ_EJID, MJ_ENOMEM. */
MJ_API int mj_tracker_link_up(mj_tracker *tr, const char *domain, size_t len);

/* clang-format off */
#define MJ_PING_VERDICT_LIST(X)                                              \
    /* not the session's latest ping: ignored */                             \
    X(MJ_PING_STALE, 0, "stale")                                             \
    /* still in the room: nothing changes */                                 \
    X(MJ_PING_JOINED, 1, "joined")                                           \
    /* a ghost: LEFT fired with MJ_R_GHOST (MJ_R_VOLUNTARY if LEAVING) */    \
    X(MJ_PING_NOT_JOINED, 2, "not-joined")                                   \
    /* says nothing: retried with backoff */                                 \
    X(MJ_PING_UNKNOWN, 3, "unknown")
/* clang-format on */
typedef enum mj_ping_verdict {
    MJ_PING_VERDICT_LIST(MJ_ENUM_ITEM)
} mj_ping_verdict;
/* Verdicts run 0 .. MJ_PING_COUNT - 1. */
#define MJ_PING_COUNT (0 MJ_PING_VERDICT_LIST(MJ_ENUM_ONE))

/* "stale", "joined", "not-joined", "unknown"; never NULL. */
MJ_API const char *mj_ping_verdict_name(mj_ping_verdict v);

/* The answer to ping ping_id (an iq result or error the session received;
 * from must be in the pinged room). room_optimized: 1 if the room
 * advertises http://jabber.org/protocol/muc#self-ping-optimization, 0 if
 * it does not, -1 if unknown (service-unavailable then reads as unknown).
 * The answer table is in docs/semantics.md §5; the tracker times pings out
 * itself (tick). Errors: MJ_EINVAL. out may be NULL. */
MJ_API int mj_session_ping_answer(mj_session *s, uint32_t ping_id,
                                  const mj_stanza *answer, int room_optimized,
                                  mj_ping_verdict *out);

/* The answer to ping ping_id settled by the room's disco#info, which the
 * caller asked from the session's full JID to the room's bare JID because
 * mj_session_ping_needs_features() said so. info: the reply (iq result or
 * error), or NULL if none came (timeout; then the answer reads as if the
 * room's features were unknown). info_optimized: 1 if that result lists
 * http://jabber.org/protocol/muc#self-ping-optimization (read only for a
 * result). A result says the room exists; an error from the room of type
 * cancel (item-not-found, gone, ...) says it does not, so the session is
 * not in it; an error of the path (type wait, remote-server-*, by the
 * session's own domain) or a reply from elsewhere says nothing.
 * Errors: MJ_EINVAL. out may be NULL. */
MJ_API int mj_session_ping_answer_info(mj_session *s, uint32_t ping_id,
                                       const mj_stanza *answer,
                                       const mj_stanza *info,
                                       int info_optimized,
                                       mj_ping_verdict *out);

/* 1 if the meaning of this answer to ping ping_id depends on the room's
 * disco#info (service-unavailable, feature-not-implemented: whether it
 * advertises self-ping optimisation; item-not-found without a `by` of the
 * room or its service: whether the room exists): the caller should then
 * ask the room (disco#info) and call mj_session_ping_answer_info() with
 * the reply. 0 if not, or if the ping is not the session's latest. */
MJ_API int mj_session_ping_needs_features(mj_session *s, uint32_t ping_id,
                                          const mj_stanza *answer);

/* 1 if st is a ping the room forwards to the session (iq get with <ping/>
 * from room/<the session's nick> of a room it is in): answer it with a
 * result on the session's behalf, do not pass it to the client. 0
 * otherwise. */
MJ_API int mj_session_is_forwarded_ping(mj_session *s, const mj_stanza *st);

/* Apply timeouts due by the clock now; send scheduled pings. Call it every
 * few seconds. */
MJ_API void mj_tracker_tick(mj_tracker *tr);

/* Send the pings that wait for their domain's budget (ping_budget) as far
 * as the answers since the last tick freed it; nothing else (no timeout,
 * no scheduled ping). Call it soon after handing answers over
 * (mj_session_ping_answer*()), outside their call: without it the freed
 * budget was used at the next tick only, and a lost link's check of N
 * rooms on one domain took N / ping_budget ticks however fast the room
 * answered. Costs nothing when no ping waits. */
MJ_API void mj_tracker_send_ready(mj_tracker *tr);

/* ---------------------------------------------------------------------- */
/* Queries                                                                 */

/* clang-format off */
#define MJ_STATE_LIST(X)                                                     \
    X(MJ_S_NONE, 0, "none")                                                  \
    /* join sent, not confirmed: not shown */                                \
    X(MJ_S_PENDING, 1, "pending")                                            \
    X(MJ_S_JOINED, 2, "joined")                                              \
    /* nick change sent, shown under the old nick */                         \
    X(MJ_S_CHANGING, 3, "changing")                                          \
    /* 303 received, shown under the old nick */                             \
    X(MJ_S_EXPECTING, 4, "expecting")                                        \
    /* leave sent, shown until confirmed */                                  \
    X(MJ_S_LEAVING, 5, "leaving")
/* clang-format on */
typedef enum mj_state { MJ_STATE_LIST(MJ_ENUM_ITEM) } mj_state;
/* States run 0 .. MJ_S_COUNT - 1. */
#define MJ_S_COUNT (0 MJ_STATE_LIST(MJ_ENUM_ONE))

/* "none", "pending", "joined", "changing", "expecting", "leaving". */
MJ_API const char *mj_state_name(mj_state s);

/* One room of a session as an iterator reports it; strings valid until the
 * tracker is next changed. */
typedef struct mj_room_info {
    mj_str room; /* prepared bare room JID */
    mj_state state;
    mj_str nick;         /* the nick shown (absent while PENDING) */
    mj_str pending_nick; /* PENDING/CHANGING: asked; EXPECTING: announced */
    double since;        /* clock time of the last state change (a
                            settled join keeps it as a 32-bit float offset
                            from the tracker's creation: exact to 1/64 s
                            within three days of it, to 2 s within a
                            year; never later than the time) */
} mj_room_info;

/* The nick shown for room (any spelling that prepares to the same bare
 * JID): MJ_OK with *nick set for JOINED, CHANGING, EXPECTING and LEAVING;
 * MJ_ENOTFOUND otherwise; MJ_EJID if room does not prepare. */
MJ_API int mj_session_nick(const mj_session *s, const char *room, size_t len,
                           mj_str *nick);

/* Full state of one room (MJ_ENOTFOUND when NONE). */
MJ_API int mj_session_room(const mj_session *s, const char *room, size_t len,
                           mj_room_info *info);

/* Iterate a session's rooms: set *cursor = 0 first, call until it returns
 * 0. Returns 1 and fills info for each room with state (any order). The
 * session must not change during the iteration. */
MJ_API int mj_session_next_room(const mj_session *s, size_t *cursor,
                                mj_room_info *info);

/* Iterate sessions the same way; returns the next session or NULL. */
MJ_API mj_session *mj_tracker_next_session(const mj_tracker *tr,
                                           size_t *cursor);

typedef struct mj_stats {
    size_t sessions;
    size_t rooms_shown;    /* entries rooms_joined would show */
    size_t pending;        /* PENDING entries */
    size_t changing;       /* CHANGING + EXPECTING entries */
    size_t leaving;        /* LEAVING entries */
    size_t distinct_rooms; /* distinct room JIDs held */
    size_t bytes;          /* bytes currently allocated by the tracker */
    /* counters since creation */
    uint64_t joins, leaves, join_failures, forged, limits, bad_jids, ambiguous,
        mentions, pings_sent, pings_joined, pings_not_joined, pings_unknown,
        pings_given_up;
    size_t pings_outstanding;
    size_t leaves_owed;       /* leaves bounced by our own server, to be sent
                                 again at a link up (docs/semantics.md §2) */
    uint64_t leaves_resent;   /* counter: those sent again (LEAVE_NEEDED) */
    size_t leaves_waiting;    /* those sent, waiting for their answer (an
                                 answer carrying the send's id:
                                 MJ_O_ANSWERED), also those whose session
                                 rejoined the room since (kept for that
                                 answer alone, until the rejoin's) */
    size_t leaves_answerable; /* records sent at least once (waiting, or
                                 owed again): while not 0, a presence
                                 received may be MJ_O_ANSWERED */
} mj_stats;

MJ_API void mj_tracker_stats(const mj_tracker *tr, mj_stats *out);

/* Entries of one session in a state. MJ_S_CHANGING and MJ_S_EXPECTING
 * both count the two together; MJ_S_NONE counts every shown room (what
 * rooms_joined holds). */
MJ_API size_t mj_session_count(const mj_session *s, mj_state state);

/* ---------------------------------------------------------------------- */
/* Restoring state (module reload, tests)                                   */

/* Put a room in a given state directly, as an earlier tracker left it.
 * nick for JOINED/CHANGING/EXPECTING/LEAVING, pending_nick for
 * PENDING/CHANGING/EXPECTING. Fires no event. Self-ping work of the room
 * is dropped (answers to earlier pings are stale, as after a join).
 * A nick must be one a room could show (a resource that prepares: not
 * empty, UTF-8, no NUL or prohibited code point), else MJ_EJID; a since
 * that is not a finite number is taken as now. Errors: MJ_EINVAL,
 * MJ_EJID, MJ_ETOOLONG (a part or a nick over 1023 bytes), MJ_ENOMEM,
 * MJ_EBUSY. */
MJ_API int mj_session_restore(mj_session *s, const char *room, size_t len,
                              mj_state state, mj_str nick, mj_str pending_nick,
                              double since);

#ifdef __cplusplus
}
#endif
#endif /* MUCJOINS_H */
