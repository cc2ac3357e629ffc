/* A program built against an *installed* libmucjoins, the way a C user
 * builds one:
 *     cc consumer.c $(pkg-config --cflags --libs mucjoins)
 * scripts/test-install.sh compiles and runs it (shared and static). It
 * joins one room, has the room rewrite the nick (status 210), and prints
 * what the tracker saw; exit 0 when all is as expected. */
#include <stdio.h>
#include <string.h>

#include <mucjoins.h>

static const char *events[4];
static int nevents;

static void on_event(void *ud, const mj_event *ev)
{
    (void)ud;
    if (nevents < 4)
        events[nevents++] = mj_event_name(ev->type);
}

static mj_str str(const char *s)
{
    mj_str v = {s, strlen(s)};
    return v;
}

int main(void)
{
    const char *me = "alice@example.org/phone";
    mj_config cfg;
    mj_tracker *tr = NULL;
    mj_session *s = NULL;
    mj_stanza st;
    mj_outcome out;
    mj_str nick;
    char jid[64];
    size_t len = 0;
    int rc;

    mj_config_init(&cfg);
    cfg.on_event = on_event;
    if ((rc = mj_tracker_new(&cfg, &tr)) != MJ_OK ||
        (rc = mj_session_open(tr, me, strlen(me), &s)) != MJ_OK) {
        fprintf(stderr, "consumer: %s\n", mj_strerror(rc));
        return 1;
    }

    /* the session joins Room@Conference.Example.org as "alice" */
    mj_stanza_init(&st);
    st.to = str("Room@Conference.Example.org/alice");
    st.has_muc_x = 1;
    rc = mj_session_outgoing(s, &st, &out);
    /* the room answers with the nick it assigned: 110 + 210 */
    mj_stanza_init(&st);
    st.from = str("room@conference.example.org/Alice (guest)");
    st.has_muc_user = 1;
    st.status[0] = 110;
    st.status[1] = 210;
    st.nstatus = 2;
    if (rc == MJ_OK)
        rc = mj_session_incoming(s, &st, &out);
    if (rc == MJ_OK)
        rc = mj_session_nick(s, "ROOM@conference.example.org", 27, &nick);
    if (rc != MJ_OK) {
        fprintf(stderr, "consumer: %s\n", mj_strerror(rc));
        mj_tracker_free(tr);
        return 1;
    }
    printf("mucjoins %s: %s in room@conference.example.org as \"%.*s\"",
           MJ_VERSION, me, (int)nick.len, nick.ptr);
    for (int i = 0; i < nevents; i++)
        printf("%s%s", i ? ", " : " (", events[i]);
    printf("%s\n", nevents ? ")" : "");
    rc = mj_jid_prep("Room@Conference.Example.ORG", 27, jid, sizeof jid, &len);
    printf("prepared: %.*s\n", rc == MJ_OK ? (int)len : 0, jid);

    int good = nick.len == 13 && memcmp(nick.ptr, "Alice (guest)", 13) == 0 &&
               nevents == 2 && strcmp(events[0], "joined") == 0 &&
               strcmp(events[1], "nick-rewritten") == 0 && rc == MJ_OK &&
               len == 27 &&
               memcmp(jid, "room@conference.example.org", 27) == 0;
    mj_tracker_free(tr);
    return good ? 0 : 1;
}
