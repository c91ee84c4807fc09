/*
 * engine/routing.h — routing rules and fallback chains for language models
 * (routing.c has the configuration format).
 */
#ifndef RDB_ENGINE_ROUTING_H
#define RDB_ENGINE_ROUTING_H

#include "engine/internal.h"

/* The model the configuration's routing rules give @p question, or NULL
 * (no rule matches, no rules, no configuration file). malloc'd. */
char *rdb_route_pick(const ragdb *db, const char *question);

/* rdb_models_answer_nc with @p model, then each of its configured
 * fallbacks in order while one fails before streaming anything. */
ragdb_status rdb_route_answer(ragdb *db, const char *model, const char *prompt,
                              void (*on_delta)(void *, const char *, size_t), void *ctx,
                              int no_cache, ragdb_answer *a, rdb_err *e);

#endif
