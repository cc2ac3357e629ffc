#!/usr/bin/env python3
"""Differential testing of the Lua binding against the replay tool.

Generates traces in tests/lua/test_agree.lua's format from templates of
realistic and hostile stanzas (joins; self-presences with many, repeated,
malformed status codes, past MJ_MAX_STATUS; items, destroys, removals,
nick changes; presence and message errors with odd nesting; the MUC and
muc#user elements in wrong or no namespaces, prefixed; stanzas and
children in jabber:client, jabber:server, no namespace, xmlns=''; odd
type values and attribute whitespace; groupchat bodies in several
namespaces, subjects, threads, delays, references, hints, large child
lists; entities and CDATA; long values; UTF-8 edge cases; self-ping
answers and disco#info replies to the pings the replay tool says the
module sends; closes), then runs test_agree on them.

Run from the repository root, after `make`:
  python3 tests/agree/gen.py [--batches N] [--files N] [--seed S]
A failing trace is kept (its path is printed); the exit status is 1 if
any batch failed. Or only write traces:
  python3 tests/agree/gen.py --write DIR [--files N] [--seed S]
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile

REPLAY = "build/mucjoins-replay"
PLUGIN = "build/plugins/mod_track_muc_joins/mucjoins.so"

MUC = "http://jabber.org/protocol/muc"
MUCU = "http://jabber.org/protocol/muc#user"
STZ = "urn:ietf:params:xml:ns:xmpp-stanzas"

R = random.Random()


def ch(*xs):
    return R.choice(xs)


def maybe(p=0.5):
    return R.random() < p


def esc_attr(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace("'", "&apos;")
            .replace('"', "&quot;"))


def esc_text(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def q(s):
    """An attribute value, with a random quoting and escaping style."""
    if "'" not in s and maybe(0.85):
        return "'" + s.replace("&", "&amp;").replace("<", "&lt;") + "'"
    return '"' + esc_attr(s) + '"'


# odd text pieces both parsers accept (valid XML chars only)
UNI = ["é", "ß", "Å", "ǅ", "İ", "ı", "ﬀ", "Ⅻ", "ǰ", "\u0301", "e\u0301", "\u200b",
       "\u200d", "\u00ad", "\ufeff", "\u2028", "\u202e", "\u0085", "\u00a0",
       "😀", "👩\u200d💻", "❤\ufe0f", "#\ufe0f\u20e3", "𝔄", "\U0010fffd",
       "\ufffd", "\ue000", "中文", "한", "ﾊ", "Ａ", "\t", "\n", " ", "  "]


def odd_text(maxlen=12):
    n = R.randint(0, maxlen)
    out = []
    for _ in range(n):
        r = R.random()
        if r < 0.5:
            out.append(R.choice("abcXYZ019 .:-_@/\"'<>&;"))
        else:
            out.append(R.choice(UNI))
    return "".join(out)


def text_xml(s):
    """Text content, with entities, char refs or CDATA."""
    r = R.random()
    if r < 0.15 and "]]>" not in s and "<!--" not in s and "-->" not in s:
        return "<![CDATA[" + s + "]]>"
    if r < 0.3:
        out = []
        for c in s:
            if maybe(0.3) and c not in "\r":
                out.append("&#%d;" % ord(c) if maybe() else "&#x%X;" % ord(c))
            else:
                out.append(esc_text(c))
        return "".join(out)
    if r < 0.4:
        # split into pieces with CDATA in the middle
        k = R.randint(0, len(s))
        a, b = s[:k], s[k:]
        if "]]>" in b or "<!--" in b or "-->" in b:
            return esc_text(s)
        return esc_text(a) + "<![CDATA[" + b + "]]>"
    return esc_text(s)


NICKS = ["Ann", "ann", "ANN", "Bob", "Cy", "Dée", "Zoë", "e\u0301", "😀", "A B",
         " Ann", "Ann ", "x" * 300, "ǅ", "İ", "Ⅻ", "ﬀ", "Ａnn"]
ROOMS = ["room@muc.example.org", "Room@MUC.example.org", "other@muc.example.org",
         "r\u00e9@muc.example.org", "big@conference.example.net",
         "room@muc.example.org.", "x@y"]


class Sess:
    def __init__(self, jid, room, nick):
        self.jid = jid
        self.room = room
        self.nick = nick


def ns_attr_for_stanza():
    r = R.random()
    if r < 0.7:
        return "", ""
    if r < 0.82:
        return " xmlns='jabber:client'", ""
    if r < 0.92:
        return " xmlns='jabber:server'", ""
    if r < 0.96:
        return " xmlns:c='jabber:client'", "c:"
    return " xmlns:s='jabber:server'", "s:"


def child_ns(base, good=None):
    """xmlns attribute for a stanza-level child: mostly none."""
    r = R.random()
    if r < 0.75:
        return ""
    return " xmlns=" + q(ch("", "jabber:client", "jabber:server", "urn:example:other",
                            "JABBER:CLIENT", " jabber:client", MUCU, STZ))


def elem(name, attrs, inner="", prefix=""):
    a = "".join(attrs)
    if inner == "" and maybe(0.5):
        return "<%s%s%s/>" % (prefix, name, a)
    return "<%s%s%s>%s</%s%s>" % (prefix, name, a, inner, prefix, name)


def ws():
    return ch("", "", "", " ", "\n  ", "\t")


def typeval(t):
    """A type value, sometimes oddly cased or padded."""
    r = R.random()
    if r < 0.85:
        return t
    return ch(t.upper(), t.capitalize(), " " + t, t + " ", t + "\n", "&#32;" + t,
              t[:-1] if len(t) > 1 else t, t + "x")


def type_attr(t):
    if t is None:
        return ""
    v = typeval(t)
    if "&#" in v:
        return " type='" + v + "'"
    return " type=" + q(v)


def status_code():
    r = R.random()
    if r < 0.8:
        return ch("110", "100", "170", "201", "210", "301", "303", "307", "321",
                  "322", "332", "333", "101", "102", "103", "104", "171", "172",
                  "173", "174")
    return ch(" 110", "110 ", "0110", "1100", "11O", "", "abc", "999", "100",
              "099", "١١٠", "１１０", "+110", "110\n", "&#49;10")


def status_el(code, nsmode=None):
    if code is None:
        return "<status/>"
    nsa = ""
    if nsmode is None:
        nsmode = R.random()
    if nsmode > 0.93:
        nsa = " xmlns=" + q(ch("", "jabber:client", MUC, "urn:example:other"))
    if maybe(0.02):
        return "<status%s CODE=%s/>" % (nsa, q(code.replace("&#49;", "1")))
    if maybe(0.02):
        return "<STATUS%s code=%s/>" % (nsa, q(code.replace("&#49;", "1")))
    if "&#" in code:
        return "<status%s code='%s'/>" % (nsa, code)
    return "<status%s code=%s/>" % (nsa, q(code))


def item_el(nick=None):
    attrs = []
    if maybe(0.8):
        attrs.append(" affiliation=" + q(ch("none", "member", "admin", "owner",
                                            "outcast", "Member", "")))
    if maybe(0.8):
        attrs.append(" role=" + q(ch("none", "participant", "moderator", "visitor",
                                     "None", "")))
    if nick is not None:
        attrs.append(" nick=" + q(nick))
    if maybe(0.3):
        attrs.append(" jid=" + q(ch("ann@example.org/phone", "bob@example.org",
                                    odd_text(6))))
    R.shuffle(attrs)
    inner = ""
    if maybe(0.2):
        inner += "<actor nick=%s/>" % q(ch("Mod", odd_text(5)))
    if maybe(0.2):
        inner += "<reason>%s</reason>" % text_xml(odd_text())
    nsa = ""
    if maybe(0.07):
        nsa = " xmlns=" + q(ch("", "jabber:client", MUC, "urn:example:other"))
    return elem("item", [nsa] + attrs, inner)


def destroy_el():
    attrs = []
    if maybe(0.6):
        attrs.append(" jid=" + q(ch("alt@muc.example.org", "Alt@Muc.example.org",
                                    "", " alt@muc.example.org", odd_text(8),
                                    "alt@muc.example.org/nick")))
    if maybe(0.1):
        attrs.append(" xmlns=" + q(ch("", "jabber:client", MUC)))
    inner = ""
    nreason = ch(0, 1, 1, 1, 2)
    for _ in range(nreason):
        ra = ""
        if maybe(0.15):
            ra = " xmlns=" + q(ch("", "jabber:client", MUC, "urn:example:other"))
        t = odd_text(20) if maybe(0.9) else "y" * R.randint(100, 3000)
        body = text_xml(t)
        if maybe(0.1):
            body = body + "<b>nested</b>" + text_xml(odd_text(4))
        inner += ws() + "<reason%s>%s</reason>" % (ra, body)
    if maybe(0.1):
        inner += "<password>x</password>"
    return elem("destroy", attrs, inner)


def muc_user_x(s, codes, nick_for_item=None, destroy=False, item=True, prefix_mode=None):
    parts = []
    if item and maybe(0.9):
        parts.append(item_el(nick_for_item))
        if maybe(0.1):
            parts.append(item_el(ch(None, "Other", odd_text(4))))
    if destroy:
        parts.append(destroy_el())
        if maybe(0.1):
            parts.append(destroy_el())
    for c in codes:
        parts.append(status_el(c))
    if maybe(0.05):
        parts.append("<invite from='x@y'/>")
    if maybe(0.05):
        parts.append("<password>pw</password>")
    if maybe(0.3):
        R.shuffle(parts)
    inner = "".join(ws() + p for p in parts)
    r = R.random()
    if r < 0.86:
        return "<x xmlns='%s'>%s</x>" % (MUCU, inner)
    if r < 0.9:
        # prefixed x, unprefixed children: in no namespace
        return "<u:x xmlns:u='%s'>%s</u:x>" % (MUCU, inner)
    if r < 0.95:
        # prefixed form; children need the prefix to be in the namespace
        inner2 = inner.replace("<status", "<u:status").replace("<item", "<u:item")
        inner2 = inner2.replace("</item>", "</u:item>").replace("<destroy", "<u:destroy")
        inner2 = inner2.replace("</destroy>", "</u:destroy>")
        if maybe():
            inner2 = inner2.replace("<reason", "<u:reason").replace("</reason>", "</u:reason>")
        return "<u:x xmlns:u='%s'>%s</u:x>" % (MUCU, inner2)
    # in a wrong namespace or none
    return "<x xmlns=%s>%s</x>" % (q(ch("", MUC, "http://jabber.org/protocol/MUC#user",
                                        MUCU + " ", "jabber:client")), inner)


def codes_list(base):
    codes = list(base)
    r = R.random()
    if r < 0.2:
        codes += [status_code() for _ in range(R.randint(1, 5))]
    elif r < 0.3:
        # many codes, duplicates, past 16
        pool = ["100", "170", "201", "210", "101", "102", "103", "104", "171", "172",
                "173", "174", "330", "331", "332", "333", "334", "335", "336", "400"]
        k = R.randint(14, 24)
        extra = [R.choice(pool) for _ in range(k)]
        pos = R.randint(0, len(extra))
        codes = extra[:pos] + codes + extra[pos:]
    if maybe(0.15) and codes:
        codes.append(R.choice(codes))
    if maybe(0.3):
        R.shuffle(codes)
    return codes


def frm(s, nick=None, bare=False):
    room = s.room
    if maybe(0.05):
        room = ch(room.upper(), room.capitalize(), "other@muc.example.org")
    if bare:
        return room
    return room + "/" + (s.nick if nick is None else nick)


def wrap(direction, s, stanza):
    return "<%s session=%s>%s</%s>" % (direction, q(s.jid), stanza, direction)


def presence(s, direction, ptype, to=None, frm_=None, children="", idv=None):
    nsa, pre = ns_attr_for_stanza()
    attrs = [nsa]
    if to is not None:
        attrs.append(" to=" + q(to))
    if frm_ is not None:
        attrs.append(" from=" + q(frm_))
    if idv is not None:
        attrs.append(" id=" + q(idv))
    attrs.append(type_attr(ptype))
    if maybe(0.05):
        attrs.append(" xml:lang='en'")
    R.shuffle(attrs)
    inner = children
    if maybe(0.1):
        inner = ch("<show>away</show>", "<status>busy</status>",
                   "<priority>5</priority>", "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='n' ver='v'/>") + inner
    return wrap(direction, s, elem("presence", attrs, inner, pre))


def join_x():
    r = R.random()
    if r < 0.85:
        inner = ""
        if maybe(0.2):
            inner = "<history maxstanzas='0'/>"
        if maybe(0.1):
            inner += "<password>pw</password>"
        return "<x xmlns='%s'>%s</x>" % (MUC, inner)
    return ch("<x xmlns='%s'/>" % MUCU, "<x/>", "<x xmlns=''/>",
              "<x xmlns='%s'/><x xmlns='%s'/>" % (MUC, MUC),
              "<m:x xmlns:m='%s'/>" % MUC, "<x xmlns='%s#user'/>" % MUC,
              "<x xmlns='HTTP://jabber.org/protocol/muc'/>", "")


def out_join(s, nick=None):
    return presence(s, "out", None, to=s.room + "/" + (nick or s.nick), children=join_x(),
                    idv=ch(None, "j1", "j2", "join-" + str(R.randint(0, 9))))


def self_presence(s, extra_codes=(), ptype=None, nick=None, destroy=False, nick_item=None):
    codes = codes_list(["110"] + list(extra_codes)) if maybe(0.9) else codes_list(list(extra_codes))
    x = muc_user_x(s, codes, nick_item, destroy)
    if maybe(0.05):
        x = x + muc_user_x(s, [status_code()], None, False)
    if maybe(0.05):
        x = muc_user_x(s, [], None, False) + x
    if maybe(0.04):
        x = "<x xmlns='%s'/>" % MUC + x
    return presence(s, "in", ptype, frm_=frm(s, nick), children=x,
                    idv=ch(None, None, "j1", "j2"))


def error_el(cond=None):
    cond = cond or ch("conflict", "forbidden", "not-authorized", "item-not-found",
                      "registration-required", "service-unavailable", "not-allowed",
                      "not-acceptable", "bad-request", "remote-server-not-found",
                      "remote-server-timeout", "jid-malformed", "gone", "redirect",
                      "internal-server-error", "policy-violation", "resource-constraint",
                      "undefined-condition", "unexpected-request", "Conflict")
    parts = []
    r = R.random()
    cns = STZ
    if r < 0.08:
        cns = ch("", "jabber:client", "urn:example:other", STZ + " ")
    cel = "<%s xmlns=%s/>" % (cond, q(cns))
    if maybe(0.1):
        cel = "<%s xmlns=%s>%s</%s>" % (cond, q(cns), ch("alt@muc.example.org", "x"), cond)
    if maybe(0.3):
        parts.append("<text xmlns='%s'%s>%s</text>" % (STZ, ch("", " xml:lang='en'"),
                                                       text_xml(odd_text())))
    parts.append(cel)
    if maybe(0.1):
        parts.append("<%s xmlns='%s'/>" % (ch("conflict", "forbidden", "gone"), STZ))
    if maybe(0.1):
        parts.append("<app-error xmlns='urn:example:app'/>")
    if maybe(0.05):
        parts = ["<wrap>" + "".join(parts) + "</wrap>"]
    if maybe(0.25):
        R.shuffle(parts)
    if maybe(0.05):
        parts = []
    attrs = []
    if maybe(0.85):
        attrs.append(" type=" + q(typeval(ch("cancel", "wait", "modify", "auth", "continue"))))
    if maybe(0.2):
        attrs.append(" by=" + q(ch("room@muc.example.org", odd_text(5), "")))
    attrs.append(child_ns(None))
    return "<error%s>%s</error>" % ("".join(attrs), "".join(parts))


def presence_error(s, nick=None):
    children = error_el()
    if maybe(0.1):
        children = error_el() + children
    if maybe(0.3):
        children = join_x() + children
    if maybe(0.05):
        children = "<x xmlns='%s'>%s</x>" % (MUCU, error_el()) + children
    return presence(s, "in", "error", frm_=frm(s, nick), children=children,
                    idv=ch(None, "j1", "j2"))


def body_el(text):
    return "<body%s>%s</body>" % (child_ns(None), text_xml(text))


def mention_text(s):
    n = s.nick
    return ch(n + ": hi", "hey " + n, n, "@" + n + " look", n.upper() + "!", "no mention",
              "x" * R.randint(1, 5000) + " " + n, n + n, "\u200b" + n, n + "\u00ad",
              odd_text(), "(" + n + ")", n + "'s", "😀" + n + "😀")


def delay_el(s):
    f = ch(None, s.room, s.room.upper(), "other@muc.example.org", s.room + "/x",
           "someone@example.org", "")
    fa = "" if f is None else " from=" + q(f)
    r = R.random()
    if r < 0.6:
        return "<delay xmlns='urn:xmpp:delay'%s stamp='2026-01-01T00:00:00Z'/>" % fa
    if r < 0.9:
        return "<x xmlns='jabber:x:delay'%s stamp='20260101T00:00:00'/>" % fa
    return ch("<delay%s/>" % fa, "<delay xmlns=''%s/>" % fa,
              "<x xmlns='urn:xmpp:delay'%s/>" % fa,
              "<delay xmlns='jabber:x:delay'%s/>" % fa)


def reference_el(s):
    uri = ch("xmpp:" + s.room + "/" + s.nick, "xmpp:" + s.jid.split("/")[0],
             "xmpp:" + s.room + "/" + s.nick.upper(), "xmpp:other@x/y", "",
             "xmpp:" + s.jid, "xmpp:" + s.room + "/" + s.nick + "%20")
    attrs = [" type=" + q(ch("mention", "mention", "Mention", "data", "mention "))]
    if maybe(0.9):
        attrs.append(" uri=" + q(uri))
    if maybe(0.5):
        attrs.append(" begin='0' end='3'")
    R.shuffle(attrs)
    nsv = ch("urn:xmpp:reference:0", "urn:xmpp:reference:0", "urn:xmpp:reference:1", "")
    return "<reference xmlns=%s%s/>" % (q(nsv), "".join(attrs))


def groupchat(s, nick=None, bare=False, mtype="groupchat"):
    parts = []
    nb = ch(0, 1, 1, 1, 2, 3)
    for _ in range(nb):
        parts.append(body_el(mention_text(s)))
    if maybe(0.2):
        parts.append("<subject%s>%s</subject>" % (child_ns(None), text_xml(odd_text())))
    if maybe(0.1):
        parts.append("<thread%s>t1</thread>" % child_ns(None))
    for _ in range(ch(0, 0, 0, 1, 2, 5)):
        parts.append(delay_el(s))
    for _ in range(ch(0, 0, 0, 1, 2, 9)):
        parts.append(reference_el(s))
    if maybe(0.1):
        parts.append(ch("<store xmlns='urn:xmpp:hints'/>", "<markable xmlns='urn:xmpp:chat-markers:0'/>",
                        "<encryption xmlns='urn:xmpp:eme:0' namespace='x'/>",
                        "<body xmlns='urn:xmpp:chat-markers:0'/>",
                        "<store xmlns='urn:xmpp:hints' xmlns:z='q'/>",
                        "<encrypted xmlns='eu.siacs.conversations.axolotl'/>",
                        "<x xmlns='jabber:x:conference' jid='r@m'/>"))
    if maybe(0.05):
        parts.append("<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'>%s</body></html>" % esc_text(s.nick))
    if maybe(0.05):
        parts.append("<x xmlns='%s'><status code='110'/></x>" % MUCU)
    if maybe(0.05):
        parts.append("<replace xmlns='urn:xmpp:message-correct:0' id='m1'/>")
    if maybe(0.05):
        parts.append("<wrap>" + body_el(s.nick) + "</wrap>")
    if maybe(0.03):
        # a large child list
        parts.extend(ch("<a/>", "<x xmlns='urn:x'/>", "<delay xmlns='urn:xmpp:delay' from='z@z'/>",
                        "<reference xmlns='urn:xmpp:reference:0' type='mention' uri='xmpp:q@q'/>", "<b>t</b>")
                     for _ in range(R.randint(50, 1500)))
    if maybe(0.05):
        parts.append("<body%s>%s<i>%s</i>%s<![CDATA[%s]]></body>" % (child_ns(None), text_xml(s.nick),
                     text_xml(odd_text(4)), text_xml(": hi"), ch("x", s.nick, "")))
    if maybe(0.03):
        parts.append(ch("<BODY>%s</BODY>" % esc_text(s.nick), "<Body>%s</Body>" % esc_text(s.nick),
                        "<body TYPE='x'>%s</body>" % esc_text(s.nick), "<subject/>", "<SUBJECT/>"))
    R.shuffle(parts)
    nsa, pre = ns_attr_for_stanza()
    attrs = [nsa, " from=" + q(frm(s, nick, bare)), type_attr(mtype)]
    if maybe(0.3):
        attrs.append(" id=" + q("m" + str(R.randint(0, 99))))
    if maybe(0.3):
        attrs.append(" to=" + q(s.jid))
    R.shuffle(attrs)
    return wrap("in", s, elem("message", attrs, "".join(ws() + p for p in parts), pre))


def message_error_in(s, nick=None, bare=False):
    nsa, pre = ns_attr_for_stanza()
    children = error_el()
    if maybe(0.3):
        children = body_el("hello") + children
    if maybe(0.1):
        children += error_el()
    attrs = [nsa, " from=" + q(frm(s, nick, bare)), type_attr("error")]
    if maybe(0.5):
        attrs.append(" id=" + q("m" + str(R.randint(0, 9))))
    return wrap("in", s, elem("message", attrs, children, pre))


def message_error_out(s):
    nsa, pre = ns_attr_for_stanza()
    attrs = [nsa, " to=" + q(frm(s, ch(None, "Bob"), maybe(0.3))), type_attr("error")]
    if maybe(0.5):
        attrs.append(" id=" + q("m" + str(R.randint(0, 9))))
    return wrap("out", s, elem("message", attrs, error_el(), pre))


def groupchat_out(s):
    nsa, pre = ns_attr_for_stanza()
    attrs = [nsa, " to=" + q(ch(s.room, s.room + "/" + s.nick, s.room.upper())), type_attr("groupchat")]
    return wrap("out", s, elem("message", attrs, body_el("hi all"), pre))


def iq_in(s):
    nsa, pre = ns_attr_for_stanza()
    r = R.random()
    if r < 0.5:
        attrs = [nsa, " from=" + q(frm(s, ch(None, "Bob"))), type_attr("get"),
                 " id=" + q(ch("p1", "forwarded-1", "mjping-1"))]
        inner = ch("<ping xmlns='urn:xmpp:ping'/>", "<ping/>", "<ping xmlns=''/>",
                   "<ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/>",
                   "<query xmlns='jabber:iq:version'/>")
    elif r < 0.75:
        attrs = [nsa, " from=" + q(frm(s, bare=maybe(0.85))), type_attr(ch("result", "result", "error")),
                 " id=" + q(ch("mjdisco-1", "mjdisco-2", "mjdisco-3", "mjdisco-1-x"))]
        feat = "<feature var='http://jabber.org/protocol/muc#self-ping-optimization'/>"
        inner = ch("<query xmlns='http://jabber.org/protocol/disco#info'>%s</query>" % ch(feat, "", "<identity category='conference' type='text'/>" + feat,
                   feat.replace("<feature", "<feature xmlns=''"), feat.replace("<feature", "<feature xmlns='http://jabber.org/protocol/disco#info'")),
                   "<query xmlns='http://jabber.org/protocol/disco#items'>%s</query>" % feat,
                   "<query xmlns='http://jabber.org/protocol/disco#info'/><query xmlns='http://jabber.org/protocol/disco#info'>%s</query>" % feat,
                   "", error_el("item-not-found"), error_el("service-unavailable"))
    else:
        attrs = [nsa, " from=" + q(frm(s, ch(None, "Bob"))), type_attr(ch("result", "error")),
                 " id=" + q(ch("mjping-1", "mjping-2", "mjping-3", "mjping-0", "mjping-x", "x", "mjping-1-salt"))]
        inner = ch("", error_el("service-unavailable"), error_el("item-not-found"),
                   error_el("not-acceptable"), error_el(), error_el("feature-not-implemented"))
    return wrap("in", s, elem("iq", attrs, inner, pre))


def out_leave(s):
    r = R.random()
    if r < 0.7:
        return presence(s, "out", "unavailable", to=s.room + "/" + s.nick,
                        idv=ch(None, "l1"))
    if r < 0.85:
        return presence(s, "out", "unavailable", idv=ch(None, "l1"))
    return presence(s, "out", "unavailable", to=s.room, idv=ch(None, "l1"))


def out_nick_change(s, new):
    return presence(s, "out", None, to=s.room + "/" + new, idv=ch(None, "n1"),
                    children=ch("", "", join_x()))


def gen_session(idx, out, nstanzas, prefix=0.0):
    jid = ch("ann", "bob", "cy", "dee", "eve", "Zoë") + str(idx) + "@example.org/" + ch("phone", "pc", "r")
    s = Sess(jid, R.choice(ROOMS) if maybe(0.2) else "room@muc.example.org", R.choice(NICKS) if maybe(0.3) else "Ann")
    def clean_join():
        out.append(wrap("out", s, "<presence to=%s><x xmlns='%s'/></presence>" % (q(s.room + "/" + s.nick), MUC)))
        out.append(wrap("in", s, "<presence from=%s><x xmlns='%s'><item affiliation='member' role='participant'/><status code='110'/></x></presence>" % (q(s.room + "/" + s.nick), MUCU)))
        if maybe(0.5):
            for _ in range(R.randint(0, 3)):
                out.append(wrap("in", s, "<message type='groupchat' from=%s><body>%s</body>%s</message>" % (
                    q(s.room + "/Bob"), text_xml(mention_text(s)), delay_el(s) if maybe(0.7) else
                    "<delay xmlns='urn:xmpp:delay' from=%s stamp='2026-01-01T00:00:00Z'/>" % q(s.room))))
            if maybe(0.7):
                out.append(wrap("in", s, "<message type='groupchat' from=%s><subject>%s</subject></message>" % (
                    q(s.room + ch("", "", "/Bob")), text_xml(odd_text()))))
    if maybe(prefix):
        # stanzas before any join (the session holds no room yet)
        for _ in range(R.randint(1, 4)):
            out.append(ch(out_leave(s), message_error_out(s), groupchat_out(s), iq_in(s),
                          groupchat(s), self_presence(s, ()), presence_error(s),
                          out_nick_change(s, ch("Q", odd_text(3))),
                          presence(s, "out", ch(None, "probe", "error", "subscribe"), to=ch(s.room, s.room + "/" + odd_text(3)))))
    if maybe(0.85):
        clean_join()
    else:
        out.append(out_join(s))
    for _ in range(nstanzas):
        r = R.random()
        if maybe(0.3):
            r = 0.27  # a groupchat message
        if maybe(0.04):
            clean_join()
        if maybe(0.03):
            out.append("<close session=%s/>" % q(s.jid))
            if maybe(0.5):
                # what the room sent the old session, after the close
                out.append(self_presence(s, ch((), ("307",), ("333",)), ptype=ch(None, "unavailable")))
        if r < 0.18:
            out.append(self_presence(s, ch((), (), ("100",), ("201",), ("210",), ("170",))))
        elif r < 0.23:
            # nick rewritten: self-presence from another nick
            out.append(self_presence(s, ("210",), nick=ch("Ann2", s.nick.lower(), odd_text(5) or "q")))
        elif r < 0.32:
            out.append(groupchat(s, nick=ch(None, "Bob", "Bob", "Cy"), bare=maybe(0.1),
                                 mtype=ch("groupchat", "groupchat", "groupchat", "chat", None)))
        elif r < 0.36:
            # room subject
            nsa, pre = ns_attr_for_stanza()
            inner = "<subject%s>%s</subject>" % (child_ns(None), text_xml(odd_text()))
            if maybe(0.2):
                inner += ch("<body>b</body>", "<thread>t</thread>",
                            "<store xmlns='urn:xmpp:hints'/>", delay_el(s))
            out.append(wrap("in", s, elem("message", [nsa, " from=" + q(frm(s, ch(None, "Bob"), maybe(0.7))),
                                                      type_attr("groupchat")], inner, pre)))
        elif r < 0.44:
            out.append(presence_error(s, nick=ch(None, None, "Bob")))
            if maybe(0.6):
                # a self-ping flow: its answer, maybe the room's disco#info
                k = R.randint(1, 4)
                cond = ch("service-unavailable", "feature-not-implemented", "item-not-found",
                          "not-acceptable", "remote-server-not-found", None)
                nsa, pre = ns_attr_for_stanza()
                attrs = [nsa, " from=" + q(frm(s)), type_attr(ch("error", "error", "result")),
                         " id='mjping-%d'" % k]
                out.append(wrap("in", s, elem("iq", attrs, error_el(cond) if cond else "", pre)))
                if maybe(0.8):
                    feat = ch("<feature var='http://jabber.org/protocol/muc#self-ping-optimization'/>",
                              "<feature var='http://jabber.org/protocol/muc'/>", "",
                              "<feature xmlns='' var='http://jabber.org/protocol/muc#self-ping-optimization'/>")
                    nsa, pre = ns_attr_for_stanza()
                    attrs = [nsa, " from=" + q(ch(s.room, s.room, s.room.upper(), s.room + "/x")),
                             type_attr(ch("result", "result", "error")), " id='mjdisco-%d'" % ch(k, k, k + 1)]
                    inner = ch("<query xmlns='http://jabber.org/protocol/disco#info'>%s</query>" % feat,
                               error_el(), "")
                    out.append(wrap(ch("in", "in", "in"), s if maybe(0.9) else Sess("zed@example.org/x", s.room, "Z"),
                                    elem("iq", attrs, inner, pre)))
        elif r < 0.50:
            # nick change: out presence, then 303 unavailable, then new self-presence
            new = ch("Ann2", "Bob", s.nick, odd_text(4) or "z", "ann")
            out.append(out_nick_change(s, new))
            if maybe(0.8):
                ni = ch(new, new, None, "", new.upper())
                out.append(self_presence(s, ("303",), ptype="unavailable", nick_item=ni))
                if maybe(0.8):
                    s2 = Sess(s.jid, s.room, new)
                    out.append(self_presence(s2, ()))
                    if maybe(0.7):
                        s.nick = new
        elif r < 0.56:
            # removal codes
            out.append(self_presence(s, (ch("301", "307", "321", "322", "332", "333", "303"),),
                                     ptype="unavailable", nick=ch(None, None, "Bob"),
                                     nick_item=ch(None, "New")))
            if maybe(0.5):
                out.append(out_join(s))
        elif r < 0.61:
            # destroy
            out.append(self_presence(s, (), ptype="unavailable", destroy=True,
                                     nick=ch(None, None, "Bob")))
            if maybe(0.6):
                out.append(out_join(s))
        elif r < 0.66:
            out.append(out_leave(s))
            if maybe(0.7):
                out.append(self_presence(s, (), ptype="unavailable"))
            if maybe(0.7):
                out.append(out_join(s))
        elif r < 0.71:
            out.append(message_error_in(s, nick=ch(None, "Bob"), bare=maybe(0.3)))
        elif r < 0.75:
            out.append(message_error_out(s))
        elif r < 0.78:
            out.append(groupchat_out(s))
        elif r < 0.83:
            out.append(iq_in(s))
        elif r < 0.88:
            out.append(out_join(s, nick=ch(None, "Other")))
        elif r < 0.92:
            # others' presences
            out.append(presence(s, "in", ch(None, "unavailable", "error"),
                                frm_=frm(s, ch("Bob", "Cy", s.nick.upper())),
                                children=muc_user_x(s, codes_list([ch("100", "110", "303", "307", "210")]), ch(None, "Q"))))
        elif r < 0.96:
            # presence to the bare room, other presence types
            out.append(presence(s, ch("out", "in"), ch(None, "probe", "subscribe", "unavailable", "error"),
                                to=s.room if maybe() else None, frm_=frm(s, bare=True) if maybe() else None,
                                children=ch("", join_x(), muc_user_x(s, ["110"]))))
        else:
            # a join to another room
            s2room = ch("other@muc.example.org", "third@muc.example.org")
            s.room, old = s2room, s.room
            out.append(out_join(s))
            if maybe(0.7):
                out.append(self_presence(s, ()))
            if maybe(0.5):
                s.room = old
    if maybe(0.2):
        out.append("<close session=%s/>" % q(s.jid))


import re


def pingify(path, out):
    """Answer the self-pings the replay tool says the module sends: after
    the stanza whose line asked for one, its answer (and sometimes the
    room's disco#info reply)."""
    starts = []
    line = 3
    for item in out:
        starts.append(line)
        line += item.count("\n") + 1
    res = subprocess.run([REPLAY, path], capture_output=True)
    txt = res.stdout.decode("utf-8", "replace")
    inserts = {}
    cur = None
    for ln in txt.splitlines():
        m = re.match(r"^\s*(\d+) (in|out)\s+(\S+)", ln)
        if m:
            cur = (int(m.group(1)), m.group(3))
            continue
        m = re.search(r"\* ping-needed room=(\S+) nick=(\S+|\"[^\"]*\") ping-id=(\d+)", ln)
        if m and cur and maybe(0.85):
            room, nick, pid = m.group(1), m.group(2), int(m.group(3))
            if nick.startswith('"') or "\\" in room:
                continue
            sess = cur[1].strip('"')
            if "\\" in sess:
                continue
            s = Sess(sess, room, nick)
            cond = ch("service-unavailable", "feature-not-implemented", "item-not-found",
                      "not-acceptable", "remote-server-not-found", "remote-server-timeout", None)
            nsa, pre = ns_attr_for_stanza()
            idv = "mjping-%d" % pid + ch("", "", "-salt", "-")
            attrs = [nsa, " from=" + q(room + "/" + nick if maybe(0.9) else room), type_attr(ch("error", "error", "result")),
                     " id=" + q(idv)]
            items = [wrap("in", s, elem("iq", attrs, error_el(cond) if cond else "", pre))]
            if maybe(0.3):
                items[0] = items[0].replace("<in ", "<in optimized='%s' " % ch("yes", "no"), 1)
            if maybe(0.8):
                feat = ch("<feature var='http://jabber.org/protocol/muc#self-ping-optimization'/>",
                          "<feature var='http://jabber.org/protocol/muc'/>", "",
                          "<feature xmlns='' var='http://jabber.org/protocol/muc#self-ping-optimization'/>",
                          "<feature xmlns='urn:x' var='http://jabber.org/protocol/muc#self-ping-optimization'/>")
                nsa, pre = ns_attr_for_stanza()
                attrs = [nsa, " from=" + q(ch(room, room, room, room.upper(), room + "/x")),
                         type_attr(ch("result", "result", "error")), " id=" + q("mjdisco-%d" % pid + ch("", "-s"))]
                inner = ch("<query xmlns='http://jabber.org/protocol/disco#info'>%s</query>" % feat,
                           "<query xmlns='http://jabber.org/protocol/disco#info'><identity category='conference' type='text'/>%s</query>" % feat,
                           error_el(), "")
                items.append(wrap("in", s, elem("iq", attrs, inner, pre)))
            inserts.setdefault(cur[0], []).extend(items)
    if not inserts:
        return
    new = []
    for st, item in zip(starts, out):
        new.append(item)
        new.extend(inserts.get(st, []))
    out[:] = new


def write_batch(outdir, nfiles, per, prefix, ping):
    """nfiles traces into outdir; returns the number of stanzas."""
    os.makedirs(outdir, exist_ok=True)
    total = 0
    for i in range(nfiles):
        out = []
        for k in range(R.randint(1, 3)):
            gen_session(k, out, R.randint(2, per), prefix)
        path = os.path.join(outdir, "t%05d.xml" % i)

        def write():
            with open(path, "w", encoding="utf-8") as f:
                f.write("<?xml version='1.0'?>\n<trace>\n" + "\n".join(out) + "\n</trace>\n")
        write()
        if ping:
            pingify(path, out)
            write()
        total += sum(1 for x in out if not x.startswith("<close"))
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--files", type=int, default=200, help="traces per batch")
    ap.add_argument("--per", type=int, default=25, help="most stanzas per session")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--write", metavar="DIR", help="only write one batch of traces to DIR")
    args = ap.parse_args()
    if args.write:
        R.seed(args.seed)
        print("stanzas:", write_batch(args.write, args.files, args.per, 0.1, True))
        return 0
    bad = 0
    for b in range(args.batches):
        seed = args.seed + b
        R.seed(seed)
        tmp = tempfile.mkdtemp(prefix="agree-gen-")
        n = write_batch(tmp, args.files, args.per, 0.1, True)
        files = sorted(os.path.join(tmp, f) for f in os.listdir(tmp))
        res = subprocess.run(["lua5.4", "tests/lua/test_agree.lua", PLUGIN, REPLAY] + files,
                             capture_output=True, text=True)
        fails = [ln for ln in res.stdout.splitlines() if ln.startswith("FAIL")]
        last = res.stdout.strip().splitlines()[-1:] or [res.stderr.strip()]
        print("batch seed %d: %d stanzas, %s" % (seed, n, last[0]))
        for ln in fails:
            print("  " + ln)
        if fails or res.returncode != 0:
            bad += 1
            print("  traces kept in " + tmp)
        else:
            shutil.rmtree(tmp)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
