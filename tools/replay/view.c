/*
 * view.c - the stanza view (see view.h): what the library needs of a
 * stored stanza (kind, type, MUC <x/> and status codes, item nick,
 * destroy, message body, delays, mentions, ping, error condition), taken
 * from the node tree with the library's own rules, and how a view is
 * described on a replay line.
 */
#include <stdio.h>
#include <string.h>

#include "view.h"

static const char NS_MUC[] = "http://jabber.org/protocol/muc";
static const char NS_MUC_USER[] = "http://jabber.org/protocol/muc#user";
static const char NS_STANZAS[] = "urn:ietf:params:xml:ns:xmpp-stanzas";
static const char NS_DELAY[] = "urn:xmpp:delay";
static const char NS_X_DELAY[] = "jabber:x:delay";
static const char NS_REFERENCE[] = "urn:xmpp:reference:0";
static const char NS_PING[] = "urn:xmpp:ping";
static const char NS_HINTS[] = "urn:xmpp:hints";
static const char NS_EME[] = "urn:xmpp:eme:0";
static const char NS_MARKERS[] = "urn:xmpp:chat-markers:0";
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_SELF_PING_OPT                                                      \
    "http://jabber.org/protocol/muc#self-ping-optimization"

/* Bytes of a message body shown on a line. */
#define BODY_SHOWN 60

void buf_kv(struct buf *b, const char *key, mj_str v)
{
    if (v.ptr == NULL)
        return;
    buf_printf(b, " %s=", key);
    buf_value(b, v.ptr, v.len);
}

static mj_str str_of(const char *s)
{
    mj_str r;
    r.ptr = s;
    r.len = s ? strlen(s) : 0;
    return r;
}

/* A stanza-level element (<body/>, <subject/>, <thread/>, <error/>) c of
 * the stanza n, by the library's rules: in the stanza's own namespace
 * (own: mj_stanza_own_ns(), a <subject/>) or in the client's
 * (mj_stanza_client_ns(), the others). A child in the same namespace as
 * the stanza is one whose namespace was not given (NULL), as in a
 * util.stanza table, where a child carries xmlns only when its namespace
 * is not its parent's; a stanza in no namespace has none given either
 * (NULL), as in Prosody's table of it; any other namespace of a child is
 * passed as it is, none included (<body xmlns=''/> in a <message
 * xmlns='jabber:client'/> is in no namespace, which Prosody's parser
 * gives as xmlns = "": not a body). */
static int node_in_ns(const struct node *n, const struct node *c, int own)
{
    const char *sns = n->ns_len ? n->name : NULL;
    const char *cns = c->ns_len ? c->name : "";

    if (c->ns_len == n->ns_len && memcmp(c->name, n->name, n->ns_len) == 0)
        cns = NULL;
    return own ? mj_stanza_own_ns(sns, n->ns_len, cns, c->ns_len)
               : mj_stanza_client_ns(sns, n->ns_len, cns, c->ns_len);
}

static mj_str node_text(const struct node *n)
{
    mj_str r;
    r.ptr = n->text.p ? n->text.p : "";
    r.len = n->text.len;
    return r;
}

/* The message part of the view (mentions, docs/semantics.md §6): first
 * <body/>, <subject/>, delays with a from, mention references with a uri. */
static void fill_message(const struct node *n, mj_stanza *st)
{
    const struct node *c;

    for (c = n->first; c != NULL; c = c->next) {
        const char *v;

        if (c->ns_len > 0 && mj_stanza_wake_child(c->local, strlen(c->local),
                                                  c->name, c->ns_len))
            st->has_wake_hint = 1;
        if (node_in_ns(n, c, 0) && strcmp(c->local, "body") == 0) {
            if (st->body.ptr == NULL)
                st->body = node_text(c);
        } else if (node_in_ns(n, c, 1) && strcmp(c->local, "subject") == 0) {
            st->has_subject = 1;
        } else if (node_in_ns(n, c, 0) && strcmp(c->local, "thread") == 0) {
            st->has_thread = 1;
        } else if (node_is(c, NS_DELAY, "delay") ||
                   node_is(c, NS_X_DELAY, "x")) {
            v = node_attr(c, "from");
            if (v != NULL)
                mj_stanza_add_delay(st, v, strlen(v));
        } else if (node_is(c, NS_HINTS, "store") ||
                   node_is(c, NS_EME, "encryption") ||
                   (c->ns_len == sizeof NS_MARKERS - 1 &&
                    memcmp(c->name, NS_MARKERS, c->ns_len) == 0)) {
            st->has_history_hint = 1;
        } else if (node_is(c, NS_REFERENCE, "reference")) {
            const char *type = node_attr(c, "type");
            v = node_attr(c, "uri");
            if (type != NULL && strcmp(type, "mention") == 0 && v != NULL &&
                st->nmentions < MJ_MAX_REFS)
                st->mention_uri[st->nmentions++] = str_of(v);
        }
    }
}

/* Fill the view from the stored element. Strings point into n. */
void view_fill(const struct node *n, mj_stanza *st)
{
    const struct node *x, *c, *e;
    const char *type = node_attr(n, "type");

    mj_stanza_init(st);
    if (!mj_stanza_set_kind(st, n->local, strlen(n->local)))
        st->kind = MJ_KIND_PRESENCE; /* the reader passes no other */
    mj_stanza_set_type(st, type, type ? strlen(type) : 0);

    st->from = str_of(node_attr(n, "from"));
    st->to = str_of(node_attr(n, "to"));
    st->id = str_of(node_attr(n, "id"));
    st->has_muc_x = node_child(n, NS_MUC, "x") != NULL;

    x = node_child(n, NS_MUC_USER, "x");
    if (x != NULL) {
        st->has_muc_user = 1;
        for (c = x->first; c != NULL; c = c->next) {
            const char *code;

            if (!node_is(c, NS_MUC_USER, "status"))
                continue;
            code = node_attr(c, "code");
            mj_stanza_add_status(st, code, code ? strlen(code) : 0);
        }
        c = node_child(x, NS_MUC_USER, "item");
        if (c != NULL)
            st->item_nick = str_of(node_attr(c, "nick"));
        c = node_child(x, NS_MUC_USER, "destroy");
        if (c != NULL) {
            st->has_destroy = 1;
            st->destroy_jid = str_of(node_attr(c, "jid"));
            e = node_child(c, NS_MUC_USER, "reason");
            if (e != NULL)
                st->destroy_reason = node_text(e);
        }
    }

    if (st->kind == MJ_KIND_MESSAGE)
        fill_message(n, st);
    if (st->kind == MJ_KIND_IQ)
        st->has_ping = node_child(n, NS_PING, "ping") != NULL;

    if (st->type == MJ_T_ERROR) {
        for (e = n->first; e != NULL; e = e->next)
            if (strcmp(e->local, "error") == 0 && node_in_ns(n, e, 0))
                break;
        if (e != NULL) {
            st->error_type = str_of(node_attr(e, "type"));
            st->error_by = str_of(node_attr(e, "by"));
            for (c = e->first; c != NULL; c = c->next) {
                if (c->ns_len == sizeof NS_STANZAS - 1 &&
                    memcmp(c->name, NS_STANZAS, c->ns_len) == 0 &&
                    strcmp(c->local, "text") != 0) {
                    st->error_condition = str_of(c->local);
                    break;
                }
            }
            mj_stanza_error_read(st); /* none named: undefined-condition */
        }
    }
}

/* "presence type=unavailable from=room/nick x=muc#user status=110,307" */
void view_describe(struct buf *b, const struct node *n, const mj_stanza *st,
                   int outgoing)
{
    size_t i;

    buf_puts(b, n->local);
    buf_kv(b, "type", str_of(node_attr(n, "type")));
    if (outgoing) {
        if (st->to.ptr != NULL)
            buf_kv(b, "to", st->to);
        else if (st->kind == MJ_KIND_PRESENCE)
            buf_puts(b, " broadcast");
    } else {
        buf_kv(b, "from", st->from);
    }
    buf_kv(b, "id", st->id);
    if (st->has_muc_x)
        buf_puts(b, " x=muc");
    if (st->has_muc_user)
        buf_puts(b, " x=muc#user");
    for (i = 0; i < st->nstatus; i++)
        buf_printf(b, "%s%d", i ? "," : " status=", st->status[i]);
    if (st->status_malformed)
        buf_puts(b, " status-malformed");
    buf_kv(b, "item-nick", st->item_nick);
    if (st->has_destroy)
        buf_puts(b, " destroy");
    buf_kv(b, "destroy-jid", st->destroy_jid);
    buf_kv(b, "destroy-reason", st->destroy_reason);
    if (st->has_ping)
        buf_puts(b, " ping");
    if (st->has_subject)
        buf_puts(b, " subject");
    if (st->has_wake_hint)
        buf_puts(b, " wake-hint");
    if (st->body.ptr != NULL) {
        size_t len = st->body.len;

        buf_puts(b, " body=");
        if (len <= BODY_SHOWN) {
            buf_value(b, st->body.ptr, len);
        } else {
            len = BODY_SHOWN; /* cut on a UTF-8 character boundary */
            while (len > 0 && (st->body.ptr[len] & 0xc0) == 0x80)
                len--;
            buf_put(b, "\"", 1);
            buf_escaped(b, st->body.ptr, len);
            buf_printf(b, "\"...(%zu bytes)", st->body.len);
        }
    }
    for (i = 0; i < st->ndelay; i++)
        buf_kv(b, "delay-from", st->delay_from[i]);
    for (i = 0; i < st->nmentions; i++)
        buf_kv(b, "mention-uri", st->mention_uri[i]);
    if (st->type == MJ_T_ERROR) {
        if (st->error_condition.ptr != NULL)
            buf_kv(b, "error", st->error_condition);
        else
            buf_puts(b, " error=?");
        buf_kv(b, "error-type", st->error_type);
        buf_kv(b, "error-by", st->error_by);
    }
}

int view_lists_self_ping_opt(const struct node *n)
{
    const struct node *q = node_child(n, NS_DISCO_INFO, "query"), *f;
    const char *var;
    for (f = q ? q->first : NULL; f != NULL; f = f->next)
        if (node_is(f, NS_DISCO_INFO, "feature") &&
            (var = node_attr(f, "var")) != NULL &&
            strcmp(var, NS_SELF_PING_OPT) == 0)
            return 1;
    return 0;
}
