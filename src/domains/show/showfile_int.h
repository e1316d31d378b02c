/* domains/show/showfile_int.h - shared by showfile.c and showfile_parse.c only.
 *
 * The name tables and the parameters each effect takes serve both parsing
 * (showfile_parse.c) and rendering (showfile.c).
 */
#ifndef HUB_SHOWFILE_INT_H
#define HUB_SHOWFILE_INT_H

#include <stddef.h>

#include "domains/show/showfile.h"

enum { P_PERIOD, P_ROLE, P_MIN, P_MAX, P_DUTY, P_SPREAD, P_COUNT };

#define BIT(p) (1u << (p))

extern const char *const showfile__param_names[P_COUNT];
extern const char *const showfile__curve_names[HUB_CURVE_COUNT];
extern const char *const showfile__effect_names[HUB_FX_COUNT];
/* The parameters each effect takes (the table in showfile.h), as BIT(P_*). */
extern const unsigned showfile__fx_params[HUB_FX_COUNT];

/* The shortest %.Ng (N = 15..17) that reads back as d: for messages and for
 * rendering duty and spread, which must survive a round trip exactly. */
void showfile__shortest(char *t, size_t size, double d);
/* The role's name, "?" when it has none. */
const char *showfile__role_name(int role);

#endif
