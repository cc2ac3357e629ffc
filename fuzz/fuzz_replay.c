/* libFuzzer target for the replay tool's XML input: it links the tool's
 * parts (tools/replay/, all but main.c) and does what main() does, parse
 * the options (replay_options()) then replay the trace (replay_run()).
 *
 * The input is a trace file as the tool reads it. An optional first line
 * "#! OPTIONS" gives command-line options (tokens separated by spaces;
 * only "--..." options and -q are kept, so the fuzzer also exercises the
 * option parser but never makes the tool read standard input); the rest
 * is written to a memfd and its /proc/self/fd path passed as the trace.
 * The tool's standard output goes to /dev/null (FUZZ_REPLAY_STDOUT=1 keeps
 * it). Crashes, sanitizer reports, leaks and an exit code other than 0, 1
 * or 2 are findings (the tool exits 1 only when the tracker fails: with
 * realloc never failing here, that is also reported).
 *
 * Seeds: fuzz/corpus/replay/ (the examples/ traces and stanzas captured
 * from a real Prosody). scripts/fuzz.sh builds it:
 * clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined
 *   -Iinclude -Itools/replay fuzz/fuzz_replay.c tools/replay/options.c
 *   tools/replay/replay.c tools/replay/trace.c tools/replay/view.c
 *   build/fuzz/libmucjoins-fuzz.a -lexpat -licuuc -o fuzz_replay */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "options.h"
#include "replay.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS   10
#define MAX_OPTLEN 40

static int trace_fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    trace_fd = memfd_create("trace", MFD_CLOEXEC);
    if (trace_fd < 0) {
        perror("fuzz_replay: memfd_create");
        abort();
    }
    if (getenv("FUZZ_REPLAY_STDOUT") == NULL) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
            fflush(stdout);
            dup2(null, STDOUT_FILENO);
            close(null);
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char opts[MAX_ARGS][MAX_OPTLEN + 1];
    static char path[64];
    char *argv[MAX_ARGS + 4]; /* program, options, "--", path, NULL */
    int argc = 0;
    size_t off = 0;

    argv[argc++] = "mucjoins-replay";
    if (size >= 2 && data[0] == '#' && data[1] == '!') {
        size_t end = 2;
        while (end < size && data[end] != '\n')
            end++;
        size_t i = 2;
        int n = 0;
        while (i < end && n < MAX_ARGS) {
            while (i < end && data[i] == ' ')
                i++;
            size_t j = i;
            while (j < end && data[j] != ' ')
                j++;
            size_t len = j - i;
            if (len > 0 && len <= MAX_OPTLEN &&
                ((len > 2 && data[i] == '-' && data[i + 1] == '-') ||
                 (len == 2 && data[i] == '-' && data[i + 1] == 'q'))) {
                memcpy(opts[n], data + i, len);
                opts[n][len] = '\0';
                if (memchr(opts[n], '\0', len) == NULL &&
                    strcmp(opts[n], "--verbose") != 0 &&
                    strncmp(opts[n], "--verbose=", 10) != 0)
                    argv[argc++] = opts[n++];
            }
            i = j;
        }
        off = end < size ? end + 1 : end;
    }

    if (ftruncate(trace_fd, 0) != 0 ||
        (size > off &&
         pwrite(trace_fd, data + off, size - off, 0) != (ssize_t)(size - off)))
        abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", trace_fd);
    argv[argc++] = "--";
    argv[argc++] = path;
    argv[argc] = NULL;

    struct replay_opts o;
    int code;

    replay_opts_init(&o);
    code = replay_options(argc, argv, &o);
    if (code < 0)
        code = replay_run(&o);
    fflush(stdout);
    if (code != 0 && code != 1 && code != 2) {
        fprintf(stderr, "fuzz_replay: exit code %d\n", code);
        abort();
    }
    if (code == 1) {
        /* the tracker failed (or the output could not be written) */
        fprintf(stderr, "fuzz_replay: the tool exited 1 (tracker failure)\n");
        abort();
    }
    return 0;
}
