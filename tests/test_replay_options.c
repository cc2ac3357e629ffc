/* The replay tool's room for the library's options (tools/replay/options.c):
 * every option of the table fits, and a table that would not fit stops
 * the tool with a message instead of losing options. The real table
 * always fits (MAX_CORE is sized from mj_config), so options.c is built
 * here against a stand-in mj_config_options() whose size each test sets.
 * Each case runs in a child process: the tool exits on overflow. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mucjoins.h"
#include "test.h"

static const mj_option *fake_options(size_t *n);
#define mj_config_options fake_options
#include "../tools/replay/options.c"
#undef mj_config_options

#define FAKE_MAX 64
static mj_option fake[FAKE_MAX];
static char fake_names[FAKE_MAX][64];
static size_t fake_n;
static const char *fake_long_name; /* if set: the last option's name */

static const mj_option *fake_options(size_t *n)
{
    if (n != NULL)
        *n = fake_n;
    return fake;
}

/* n options opt_0 .. opt_<n-1>, each a whole number stored in max_rooms */
static void fake_table(size_t n)
{
    size_t i;

    fake_n = n;
    for (i = 0; i < n; i++) {
        snprintf(fake_names[i], sizeof fake_names[i], "opt_%zu", i);
        fake[i].name = fake_names[i];
        fake[i].type = MJ_OPT_SIZE;
        fake[i].def = 1;
        fake[i].offset = offsetof(mj_config, max_rooms);
        fake[i].doc = "a stand-in option";
    }
    if (fake_long_name != NULL && n > 0)
        fake[n - 1].name = fake_long_name;
}

/* The tool's other parts options.c calls. */
void replay_opts_init(struct replay_opts *o)
{
    memset(o, 0, sizeof *o);
    mj_config_init(&o->cfg);
}

int parse_seconds(const char *s, double *out)
{
    char *end;

    *out = strtod(s, &end);
    return *end == '\0' ? 0 : -1;
}

/* Parse argv with a table of n options in a child: its exit status (the
 * return of replay_options(), or exit()'s code), its standard error in
 * err. With check_rooms, the child exits 100 + max_rooms after parsing. */
static int parse_in_child(size_t n, char **argv, int argc, char *err,
                          size_t errlen, int check_rooms)
{
    int fds[2], status = -1;
    ssize_t got;
    size_t have = 0;
    pid_t pid;

    if (pipe(fds) != 0)
        return -1;
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        struct replay_opts o;
        int rc;

        close(fds[0]);
        dup2(fds[1], 2);
        fake_table(n);
        replay_opts_init(&o);
        rc = replay_options(argc, argv, &o);
        if (check_rooms && rc == -1)
            _exit(100 + (int)o.cfg.max_rooms);
        _exit(rc < 0 ? 99 : rc);
    }
    close(fds[1]);
    while (have + 1 < errlen &&
           (got = read(fds[0], err + have, errlen - 1 - have)) > 0)
        have += (size_t)got;
    err[have] = '\0';
    close(fds[0]);
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

TEST(every_option_of_a_full_table_is_accepted)
{
    char last[32], err[512];
    char *argv[] = {"mucjoins-replay", last, "7", "trace.xml", NULL};

    CHECK(MAX_CORE <= FAKE_MAX);
    snprintf(last, sizeof last, "--opt-%zu", (size_t)MAX_CORE - 1);
    CHECK_INT(parse_in_child(MAX_CORE, argv, 4, err, sizeof err, 1), 107);
    CHECK_INT((int)strlen(err), 0);
}

TEST(one_option_too_many_stops_the_tool)
{
    char err[512];
    char *argv[] = {"mucjoins-replay", "trace.xml", NULL};

    CHECK_INT(parse_in_child(MAX_CORE + 1, argv, 2, err, sizeof err, 0),
              EXIT_FAIL);
    CHECK(strstr(err, "options do not fit") != NULL);
}

TEST(a_name_too_long_stops_the_tool)
{
    char err[512];
    char *argv[] = {"mucjoins-replay", "trace.xml", NULL};

    fake_long_name = "a_name_far_longer_than_the_room_the_tool_keeps_for_it";
    CHECK_INT(parse_in_child(2, argv, 2, err, sizeof err, 0), EXIT_FAIL);
    fake_long_name = NULL;
    CHECK(strstr(err, "name length") != NULL);
}

TEST(the_real_table_fits)
{
    size_t n = 0;

    (void)mj_config_options(&n);
    CHECK(n > 0 && n <= MAX_CORE);
}

int main(void)
{
    RUN(every_option_of_a_full_table_is_accepted);
    RUN(one_option_too_many_stops_the_tool);
    RUN(a_name_too_long_stops_the_tool);
    RUN(the_real_table_fits);
    return test_summary("replay_options");
}
