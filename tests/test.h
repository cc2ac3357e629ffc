/* A whole test harness in one header: TEST(name) functions, CHECK_*
 * macros that print the expression and both values, RUN(name) in main and
 * a final "N passed, N failed" line from test_summary(). */
#ifndef MJ_TEST_H
#define MJ_TEST_H

#include <stdio.h>
#include <string.h>

static int test_passed, test_failed, test_cur_failed;
static const char *test_cur_name;

#define TEST(name) static void name(void)

#define FAIL_AT(...)                                                          \
    do {                                                                      \
        if (!test_cur_failed)                                                 \
            fprintf(stderr, "FAIL %s\n", test_cur_name);                      \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                     \
        fprintf(stderr, __VA_ARGS__);                                         \
        fputc('\n', stderr);                                                  \
        test_cur_failed = 1;                                                  \
    } while (0)

#define CHECK(expr)                                                           \
    do {                                                                      \
        if (!(expr))                                                          \
            FAIL_AT("CHECK(%s)", #expr);                                      \
    } while (0)

#define CHECK_INT(a, b)                                                       \
    do {                                                                      \
        long long va_ = (long long)(a), vb_ = (long long)(b);                 \
        if (va_ != vb_)                                                       \
            FAIL_AT("%s == %s: %lld != %lld", #a, #b, va_, vb_);              \
    } while (0)

/* a: (ptr, len) pair as mj_str; b: C string or NULL for "absent" */
#define CHECK_STR(a, b)                                                       \
    do {                                                                      \
        mj_str sa_ = (a);                                                     \
        const char *sb_ = (b);                                                \
        if (sb_ == NULL ? sa_.ptr != NULL                                     \
                        : (sa_.ptr == NULL || sa_.len != strlen(sb_) ||       \
                           memcmp(sa_.ptr, sb_, sa_.len) != 0))               \
            FAIL_AT("%s == %s: \"%.*s\" != \"%s\"", #a, #b,                   \
                    sa_.ptr ? (int)sa_.len : 6, sa_.ptr ? sa_.ptr : "(null)", \
                    sb_ ? sb_ : "(null)");                                    \
    } while (0)

#define RUN(name)                                                             \
    do {                                                                      \
        test_cur_name = #name;                                                \
        test_cur_failed = 0;                                                  \
        name();                                                               \
        if (test_cur_failed)                                                  \
            test_failed++;                                                    \
        else                                                                  \
            test_passed++;                                                    \
    } while (0)

static inline int test_summary(const char *suite)
{
    printf("%s: %d passed, %d failed\n", suite, test_passed, test_failed);
    return test_failed ? 1 : 0;
}

#endif
