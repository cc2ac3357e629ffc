/* Internal: does a groupchat message mention a nick (SPEC 6)? Pure
 * functions, no tracker state. */
#ifndef MJ_MENTIONS_H
#define MJ_MENTIONS_H

#include <stddef.h>

#include "mucjoins.h"

/* Body mention: nick occurs in body as a whole word, both NFKC-normalised
 * and fully case-folded (Unicode, ICU), the code points around the match
 * not being word characters (general categories L*, M*, N*, or '_').
 * Sets *match to 1 or 0. An empty nick never matches. Invalid UTF-8 in
 * body or nick: *match = 0 and MJ_OK (never an error to the caller
 * except MJ_ENOMEM / MJ_EINVAL). */
int mj_mention_text(const char *body, size_t body_len, const char *nick,
                    size_t nick_len, int *match);

/* Reference mention (XEP-0372 uri of a type='mention' reference):
 * percent-decode (RFC 5122 / RFC 3986) the uri, which must be an xmpp:
 * URI (no authority part "xmpp://"... form; a "?query" or "#fragment" is
 * cut off), and compare the JID prepared (mj_jid_prep) with room/nick
 * (room: prepared bare JID; nick compared after Resourceprep) or with the
 * user's bare JID (user_bare, prepared). Sets *match 1 or 0. Malformed
 * URIs: *match = 0, MJ_OK. */
int mj_mention_uri(const char *uri, size_t uri_len, const char *room,
                   size_t room_len, const char *nick, size_t nick_len,
                   const char *user_bare, size_t user_bare_len, int *match);

#endif
