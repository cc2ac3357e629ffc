/*
 * replay.h - the replay driver: runs a trace (trace.h) through a mucjoins
 * tracker and prints its decision for every stanza, the events it fires,
 * then the rooms and nicks of every session (docs/mucjoins-replay.1 has
 * the output format). The entry point of the tool and of
 * fuzz/fuzz_replay.c.
 */
#ifndef REPLAY_REPLAY_H
#define REPLAY_REPLAY_H

#include "mucjoins.h"

struct replay_opts {
    const char *path; /* the trace file, or "-" for standard input */
    int quiet;        /* print only the final table */
    int verbose;      /* print the tracker's log on standard error */
    mj_config cfg;    /* the tracker's options; replay_run() sets the
                         clock, event and log callbacks */
};

/* Defaults: no path, mj_config_init()'s configuration. */
void replay_opts_init(struct replay_opts *o);

/* Replay the trace o->path, printing on standard output (errors on
 * standard error). Returns the exit code: 0 done, 1 (EXIT_FAIL) tracker
 * or output failure, 2 (EXIT_INPUT) bad trace or configuration. */
int replay_run(const struct replay_opts *o);

#endif
