/*
 * engine/tune.h — the tuned local embedder as the handle sees it: applying
 * a knowledge base's stored weights to the embedder opened for it
 * (ragdb_open), next to ragdb_tune (engine/tune.c).
 */
#ifndef RDB_ENGINE_TUNE_H
#define RDB_ENGINE_TUNE_H

#include "engine/providers/embedder.h"
#include "index/store.h"

/* When the store's model names a tuned local embedder, apply its stored
 * weights to @p e (the local embedder opened by name and dimension), so its
 * model string then matches the store's. A no-op for an untuned store.
 * RAGDB_ECORRUPT when the weights are missing or do not decode. */
ragdb_status rdb_tune_attach(rdb_store *s, rdb_embedder *e, rdb_err *err);

#endif
