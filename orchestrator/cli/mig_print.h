/* SPDX-License-Identifier: MIT */
/* mig_print — a migration for people: its progress (the "progress" object
 * every "migration" event carries, migrate.h's mig_progress_json) as one
 * line, each phase as a readable line, and the final report. Sizes and
 * rates in IEC units (MiB, MiB/s). `vhm migrate`, `vhm events` and
 * `vhm jobinfo` print through it. Output goes to the FILE given. */
#ifndef VHM_MIG_PRINT_H
#define VHM_MIG_PRINT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* "pass 2, 97% of 256.0 MiB sent, 7.7 MiB remaining, 95.3 MiB/s, expected
 * downtime 81 ms" from a progress object (borrowed); "" for NULL. */
void migp_progress_text(const json_t *progress, char *out, size_t len);

/* One "migration" event's data (borrowed) as one line without '\n': the
 * phase, then what it says ("pre-copy    pass 1, ..."). */
void migp_event_text(const json_t *data, char *out, size_t len);

/* The report of a finished migration (the "done" event's data), several
 * lines. */
void migp_report(FILE *out, const json_t *report);

#endif
