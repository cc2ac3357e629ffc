/* Every internal header of the core, for the unit tests that look inside
 * (tests/test_hash.c, tests/test_messages.c). No file in src/ includes
 * it: each includes the headers of the layers it uses (docs/design.md,
 * "Layers"). */
#ifndef MJ_INTERNAL_H
#define MJ_INTERNAL_H

#include "classify.h"
#include "env.h"
#include "hash.h"
#include "joins.h"
#include "messages.h"
#include "selfping.h"
#include "store.h"
#include "target.h"

#endif
