/* Internal: does a groupchat message mention a nick (docs/semantics.md
 * §6)? Pure functions, no tracker state. */
#ifndef MJ_MENTIONS_H
#define MJ_MENTIONS_H

#include <stddef.h>

#include "jid.h"
#include "mucjoins.h"

/* Body mention: nick occurs in body as a whole word, both NFKC-normalised
 * and fully case-folded (Unicode, ICU), the code points around the match
 * not being word characters (general categories L*, M*, N*, or '_'; for a
 * nick without any, nor of the same class, P* or S*, as the nick's code
 * point next to them), and the match splitting no grapheme cluster
 * (mentions.c). White space at the nick's ends is no part of it.
 * Sets *match to 1 or 0. An empty nick, or one of white space only,
 * never matches. Invalid UTF-8 in
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

/* mj_mention_uri() in the steps that let a message's references be
 * prepared once for all its recipients (messages.c):
 * - mj_mention_uri_path(): 1 when uri is an xmpp: URI without authority
 *   whose query and fragment escapes are well formed, with *path_len the
 *   bytes up to its query or fragment (what names the JID); else 0;
 * - mj_mention_uri_jid(): that path (uri's first path_len bytes)
 *   percent-decoded and prepared: *names 1 with the bare JID in bare
 *   (MJ_URI_BARE_MAX bytes; *bl) and the resource in res (MJ_PART_MAX
 *   bytes; *rl, (size_t)-1 when there is none), 0 when it names no JID;
 *   MJ_ENOMEM only;
 * - mj_mention_jid_match(): whether that JID is room/nick or the user's
 *   bare JID (the recipient's side);
 * - mj_mention_jid_is(): the same with the recipient's side prepared
 *   already (the tracker's: the interned room, the session's JID, the
 *   held nick's prepared form from nickcache.h), compared as bytes: no
 *   preparation per reference of what the tracker holds. */
#define MJ_URI_BARE_MAX (2 * MJ_PART_MAX + 2)
/* The longest decoded JID looked at (node and resource at most 1023
 * bytes each before preparation, the host 1023 plus one trailing dot),
 * and so the longest path that may name one ("xmpp:" and three bytes an
 * escaped character): a longer one names none. */
#define URI_JID_MAX     (3 * MJ_PART_MAX + 3)
#define MJ_URI_PATH_MAX (5 + 3 * URI_JID_MAX)
int mj_mention_uri_path(const char *uri, size_t uri_len, size_t *path_len);
int mj_mention_uri_jid(const char *path, size_t path_len, char *bare,
                       size_t *bl, char *res, size_t *rl, int *names);
int mj_mention_jid_match(const char *bare, size_t bl, const char *res,
                         size_t rl, const char *room, size_t room_len,
                         const char *nick, size_t nick_len,
                         const char *user_bare, size_t user_bare_len,
                         int *match);
int mj_mention_jid_is(const char *bare, size_t bl, const char *res, size_t rl,
                      const char *proom, size_t proom_len, const char *pnick,
                      size_t pnick_len, const char *puser_bare,
                      size_t puser_bare_len);

#endif
