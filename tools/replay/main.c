/*
 * mucjoins-replay - replay an XMPP stanza trace through a mucjoins tracker
 * and print what it decided, stanza by stanza, then the rooms and nicks of
 * every session at the end of the trace.
 *
 * The tool is split the way libexpat's xmlwf is: main.c (this file: the
 * command line, then the replay), options.c (the option table, the parser
 * and the --help text made from it), trace.c (reading the trace: expat,
 * limits, the node tree; nothing of mucjoins), view.c (a stored stanza as
 * the library's mj_stanza) and replay.c (the driver and the printing,
 * replay_run(), which fuzz/fuzz_replay.c calls too). The trace format,
 * the output and the exit codes are described in docs/mucjoins-replay.1.
 */
#include "options.h"
#include "replay.h"

int main(int argc, char **argv)
{
    struct replay_opts o;
    int code;

    replay_opts_init(&o);
    code = replay_options(argc, argv, &o);
    if (code >= 0)
        return code;
    return replay_run(&o);
}
