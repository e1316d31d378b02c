/* core/clock.h - the two clocks: monotonic for latency, wall for `ts`. */
#ifndef HUB_CORE_CLOCK_H
#define HUB_CORE_CLOCK_H

#include <stdint.h>

uint64_t hub_mono_us(void); /* CLOCK_MONOTONIC, microseconds */
uint64_t hub_wall_ms(void); /* CLOCK_REALTIME, epoch milliseconds */

#endif
