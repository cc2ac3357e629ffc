/*
 * options.h - the replay tool's command line: one table of options
 * (options.c) that both the parser and the --help text are made from.
 */
#ifndef REPLAY_OPTIONS_H
#define REPLAY_OPTIONS_H

#include <stdio.h>

#include "replay.h"

/* Parse argv into o (start from replay_opts_init()). Returns -1 when the
 * trace is to be replayed; otherwise the exit code, after printing the
 * help or the version (0) or reporting a usage error (EXIT_INPUT). */
int replay_options(int argc, char **argv, struct replay_opts *o);

/* The --help text. */
void replay_usage(FILE *f);

#endif
