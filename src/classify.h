/* What a received presence says (classify.c). Reads the stanza only. */
#ifndef MJ_CLASSIFY_H
#define MJ_CLASSIFY_H

#include "mucjoins.h"

typedef struct mj_class {
    int self;   /* 110 inside muc#user */
    int has303; /* 303 inside muc#user */
    int has332;
    mj_reason removal; /* strongest removal code or destroy, else NONE */
} mj_class;

void mj_classify(const mj_stanza *st, mj_class *out);
/* Whether mj_classify() reads the status code code. */
int mj_status_decides(int code);
/* Is a message error condition one Prosody's MUC kicks for? */
int mj_kickable_condition(mj_str cond);

#endif
