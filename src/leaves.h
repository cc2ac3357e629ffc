/* Leaves owed to rooms (leaves.c), on env.h and hash.h (it reads
 * store.h's structs, and calls nothing of store.c): a session's leave our
 * own server bounced (the link to the room's domain was down: the path
 * answered, not the room; joins.c, got_error()) never reached the room,
 * which keeps the session as an occupant. The room and the nick it knows
 * the session by are kept, per (session, room), until a link to the
 * room's domain comes up (mj_tracker_link_up): then MJ_EV_LEAVE_NEEDED
 * fires and the record waits for the answer: the room's (confirmation or
 * error) ends it, our server bouncing the leave again makes it owed
 * again (the link came up from the room's side only) unless it was sent
 * MJ_LEAVE_SENDS times, and no answer keeps it, sent, until one of the
 * ends below. It goes too when the session sends any presence but a
 * leave to the room (a rejoin: its own join may be flushed at the link
 * up, before the leave would be) unless it was sent and the presence is
 * a join: then it is kept, done, for its answer alone, which comes ahead
 * of the rejoin's and is not the rejoin's, until the rejoin's
 * (mj_leaves_answer_rejoined()); and when the session ends, and after
 * MJ_LEAVE_TTL. Bounded: max_rooms records per session
 * (those sent and not answered, or done, dropped first, then the oldest
 * owed); a presence a session sends costs a branch while no record exists
 * anywhere, else a lookup by the session's own hash (and one by the
 * room's when the session has records); a link up costs the records it
 * sends. The records are kept apart from the sessions, which would each
 * pay for them in memory. */
#ifndef MJ_LEAVES_H
#define MJ_LEAVES_H

#include <stddef.h>
#include <stdint.h>

#include "env.h"
#include "hash.h"

struct mj_tracker;
struct mj_session;

typedef struct mj_leave mj_leave;

typedef struct mj_leaves {
    mj_table table;        /* mj_leave *, by (session, room) */
    mj_table sessions;     /* struct mj_leave_sess *, by session: those
                              with records */
    mj_table doms;         /* struct mj_leave_dom *, by the domain's hash */
    mj_leave *head, *tail; /* every record, oldest first (expiry) */
    size_t count;
    size_t sent;     /* of them, sent again at a link up, their answers not
                        seen */
    size_t done;     /* of them, sent, then the session sent the room a
                        presence: kept for their answers (the rest, neither
                        sent nor done, are owed) */
    uint64_t serial; /* sends so far: each send's id (leave_id()) */
    size_t tried;    /* records sent at least once (sent, owed again, or
                        done): an answer carrying a send's id may come */
} mj_leaves;

/* A leave is owed at most this long (seconds): a room whose domain
 * stays unreachable for a day has most likely dropped its occupants (a
 * restart), and a session that stays that long keeps no record for
 * nothing. */
#define MJ_LEAVE_TTL 86400.0

/* A leave is sent at most this many times: our server bouncing the last
 * one ends the record (a domain that connects to us but refuses our
 * connections would have it sent at each of its streams). */
#define MJ_LEAVE_SENDS 3

/* The session s owes room (prepared bare JID) the leave to room/nick:
 * remembered (a record already there for the pair is replaced), with
 * whether the room's service was seen to reflect join ids (reflects:
 * the tracker forgets that of a domain without rooms, a record may wait
 * a day; mj_leaves_clear() tells it to a rejoin). At max_rooms records
 * of s, its oldest goes first; max_rooms 0 keeps none. Out of memory:
 * nothing is remembered (logged). */
void mj_leaves_owe(struct mj_tracker *tr, struct mj_session *s,
                   const char *room, size_t rlen, const char *nick,
                   size_t nlen, int reflects);

/* The session sent a presence to room (prepared bare JID), or the room
 * was restored for it: the leave owed there, if any, is forgotten; or,
 * when it was sent (its answer may come yet) and rejoin is set (an
 * available presence to room/<nick>: a join), done: neither owed nor
 * sent again, kept until its answer or the rejoin's
 * (mj_leaves_answer_rejoined()), the session's end or MJ_LEAVE_TTL. 1 if
 * there was one not done and it went; 2 if it is now done, or was and
 * rejoin is set (its answer, still to come, is owed ahead of the rejoin's:
 * an entry counts it when it starts waiting, answers_join(): the
 * rejoin's had none, over max_pending or taken for no join, or is no
 * longer waiting, timed out); 3 for 2 when the room's service was seen
 * to reflect join ids (mj_leaves_owe()). join_key: the key of a
 * rejoin's id (0: none, or no join with the MUC <x/>), which a done
 * record keeps, the latest one's (mj_leaves_ghosts_word()). Call it only when
 * tr->leaves.count != 0 (the hot path's one branch); a session without
 * records costs a lookup by its own hash. */
int mj_leaves_clear(struct mj_tracker *tr, struct mj_session *s,
                    const char *room, size_t rlen, int rejoin,
                    uint64_t join_key);

/* Our server bounced the rejoin behind the done record of s for room
 * (the link to the room's domain went since): the leave sent before it
 * may have been lost with the link, and the session is no occupant: the
 * record is owed again (freed if sent MJ_LEAVE_SENDS times already),
 * instead of ended by that "answer" (mj_leaves_rejoin_answered()). */
void mj_leaves_rejoin_bounced(struct mj_tracker *tr, struct mj_session *s,
                              const char *room, size_t rlen);

/* Whether an available self-presence whose id has the key key (0: none),
 * from room to s, whose record is done, is not the answer to the last
 * rejoin behind it (join_key: mj_leaves_clear() of a join with the MUC
 * <x/>), so the ghost's word (a role change before the room saw the
 * leave) on a service seen to reflect ids (the caller's to know): it
 * does not end the record. 0 when the rejoin's id is not known. */
int mj_leaves_ghosts_word(struct mj_tracker *tr, struct mj_session *s,
                          const char *room, size_t rlen, uint64_t key);

/* max_rooms was lowered: each session keeps at most that many records
 * (those sent go first, then the oldest owed; 0: none). */
void mj_leaves_bound(struct mj_tracker *tr);

/* The session ends: its records go (nothing is sent). Call it only when
 * tr->leaves.count != 0. */
void mj_leaves_session_gone(struct mj_tracker *tr, struct mj_session *s);

/* A link to domain (prepared) came up: each leave owed to a room on it
 * (in the order they became owed) fires MJ_EV_LEAVE_NEEDED, is counted
 * (leaves_resent) and logged (one line at info for them all), and is
 * kept as sent until its answer (mj_leaves_answered()), the session's end
 * or MJ_LEAVE_TTL; a presence the session sends to the room makes it done
 * (mj_leaves_clear()). */
void mj_leaves_link_up(struct mj_tracker *tr, const char *domain, size_t len);

/* The link to domain (prepared) was lost: an error of type wait, or
 * recipient-unavailable, to a leave sent again before is the path's
 * (mj_leave_path_bounced()); and each leave sent over it whose answer has
 * not come is owed again (the next link up sends it), unless it was sent
 * MJ_LEAVE_SENDS times (it waits on). A branch while no leave waits for
 * its answer; else it visits only the records it owes again. */
void mj_leaves_link_lost(struct mj_tracker *tr, const char *domain,
                         size_t len);

/* The record of the leave of s to room (prepared bare JID) if a link up
 * sent it again and it waits for its answer, or if it is owed again or
 * done and id (the answer's) is one that a send of it carried (NULL:
 * none); then *lost tells whether the room's domain lost its link since
 * (an error of type wait, or recipient-unavailable, is then the path's:
 * mj_leave_path_bounced()), and *ours whether id is one that a send of
 * it carried, the last or an earlier one (whose answer may come after
 * the next send went: a link lost and up again before it came): the
 * tracker's own traffic (MJ_O_ANSWERED), not the session's. A branch while no
 * record was ever sent. */
mj_leave *mj_leaves_waiting(struct mj_tracker *tr, struct mj_session *s,
                            const char *room, size_t rlen, mj_str id,
                            int *lost, int *ours);

/* The answer to l (from mj_leaves_waiting()) came: bounced by the path
 * again (our server: the link came up from the room's side only) makes
 * it owed again, for the next link up (if it is not already and it is
 * not done), unless it was sent MJ_LEAVE_SENDS times; else (the room's
 * confirmation or error: the leave reached the room), or done, the
 * record ends. */
void mj_leaves_answered(struct mj_tracker *tr, mj_leave *l, int bounced);

/* The length of the id a leave sent again carries ("mjleave-" and 16
 * hex digits, new at every send: MJ_EV_LEAVE_NEEDED's id). */
#define MJ_LEAVE_ID_LEN 24

/* While the session's rejoin of room (prepared bare JID) waits for its
 * answer, a self-presence or an error from the room came: whether it
 * answers the leave sent there before the rejoin (its record done, id
 * one of its sends'; id NULL: it cannot): then the record ends, and the
 * presence, the tracker's own traffic (MJ_O_ANSWERED), is not the
 * rejoin's answer. Else the record stays: mj_leaves_rejoin_answered()
 * ends it if the presence answered the rejoin. Call it only when
 * tr->leaves.done != 0; a length compared, then a lookup by the
 * session's own hash (and by the room's when the session has records). */
int mj_leaves_answer_rejoined(struct mj_tracker *tr, struct mj_session *s,
                              const char *room, size_t rlen, mj_str id);

/* The session's rejoin of room (prepared bare JID) was answered (joined,
 * or refused: its entry left PENDING) by a presence that did not carry
 * the id of the leave sent there before it: that leave's record, done,
 * ends. The room answers the leave before the rejoin (the same path), so
 * the leave's answer came (without its id) or never will (a leave from a
 * non-occupant is ignored). What leaves the rejoin waiting (the room's
 * word to the ghost before it saw the leave: another session of the
 * occupant changing its nick, a refusal of what was sent before) ends
 * nothing. A lookup by the session's own hash (and by the room's when
 * the session has records). */
void mj_leaves_rejoin_answered(struct mj_tracker *tr, struct mj_session *s,
                               const char *room, size_t rlen);

/* Forget the records that ran out at now. */
void mj_leaves_expire(struct mj_tracker *tr, double now);

/* The clock was replaced: every record's end moves by delta. */
void mj_leaves_retime(struct mj_tracker *tr, double delta);

/* Forget every record (the sessions' counts are not touched: for
 * mj_tracker_free, after the sessions went). */
void mj_leaves_free(struct mj_tracker *tr);

#endif
