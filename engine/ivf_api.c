/*
 * engine/ivf_api.c — the IVF index: k-means training, build, recall-target
 * tuning of the default nprobe, statistics, and the search path.
 *
 * Build, over several write txns (index/ivf.h: the new lists go into the
 * half of the list keys the current index does not use; a crash, an
 * interrupt or an error leaves the old index as it was). Steps 1-4 run in
 * the first txn:
 *   1. list the live vectors (pointers into the map: the vector blocks are
 *      not written by the build, so they stay valid; later txns list them
 *      again and compare the ids);
 *   2. spherical k-means on a sample (fixed seed: the same knowledge base
 *      builds the same index on the same CPU): centroids start at distinct
 *      sample vectors; each iteration assigns the sample by maximum inner
 *      product with the batch top-k kernel (AMX, else our register-blocked
 *      micro-kernel: build_path; the centroids are its "vectors", tiles of
 *      the sample its queries), then sets each centroid to the normalised
 *      mean of its members; an empty list takes half of the largest one
 *      (that centroid, nudged two ways);
 *   3. every live vector is assigned the same way;
 *   4. the default nprobe: held-out stored vectors as queries (with the
 *      local embedder, words of their chunks embedded as queries instead:
 *      text_queries), their exact top-10 (a stored vector itself
 *      excluded) by the batch kernel; a neighbour is
 *      found at nprobe p exactly when its list ranks below p among the
 *      query's centroids (IVF ranks the probed lists' vectors exactly, so
 *      anything above it in the exact top-10 is found too). The smallest p
 *      whose recall@10 reaches the target is stored;
 *   5. lists are written contiguously (index/ivf.c), about rdb_txn_budget() bytes
 *      per txn, each txn's id following the last one's (another process's
 *      writer in between stops the build);
 *   6. the last txn writes the header naming the new lists' half and
 *      empties the other one.
 *
 *   On quantized lists, step 4's nprobe is a lower bound (a neighbour in a
 *   probed list may still lose its place among the quantized candidates):
 *   the held-out queries then run the search path itself (tune_quant) and
 *   nprobe grows until the measured recall reaches the target.
 *
 * Search: score q against the centroids (dot kernel), take the nprobe best
 * lists, hand their segments to the parallel top-k scan (scan.c: one heap
 * per part, merged). f32 lists are scanned as they are; quantized lists
 * (index/ivf.h: the knowledge base's codes) go through the exact quantized
 * path (quant_scan.c: quantized top k x oversample, each rescored with the
 * f32 kernel on its f32 vector read from the blocks by id), so scores are
 * exact cosines on every knowledge base and nprobe = nlist returns what the
 * exact search of the same knowledge base does.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/internal.h"
#include "engine/ivf_api.h"
#include "engine/kernels/kernels.h"
#include "engine/kernels/pool.h"
#include "engine/kernels/quant.h"
#include "engine/providers/embedder.h"
#include "engine/providers/local_tune.h"
#include "engine/providers/text.h"

#define IVF_DEFAULT_ITERS 10
#define IVF_DEFAULT_TARGET 0.95f
#define IVF_MIN_SAMPLE 50000u
#define IVF_SAMPLE_PER_LIST 64u
#define IVF_MAX_ITERS 1000u
#define IVF_MAX_NLIST (1u << 20)
#define IVF_HOLDOUT 256u
/* What an interrupted build says (the old index stays: ivf.h). */
#define BUILD_EINTR "interrupted; the index is as it was before this build"
/* Words of a held-out chunk embedded as a query (see text_queries). */
#define IVF_SPAN_WORDS 6
/* Rows gathered per batch-kernel call: 8,192, fewer at large dims so the
 * tile stays within 32 MiB. */
#define IVF_TILE_ROWS 8192u
#define IVF_TILE_BYTES ((size_t)32 << 20)

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void normalise(float *v, size_t dim)
{
	double ss = 0;
	for (size_t i = 0; i < dim; i++)
		ss += (double)v[i] * v[i];
	if (ss > 0) {
		float inv = (float)(1.0 / sqrt(ss));
		for (size_t i = 0; i < dim; i++)
			v[i] *= inv;
	}
}

/* A sequence of write txns writing IVF lists into the half of the keys
 * the index does not use (index/ivf.h), for a build or a quantize: each
 * txn writes lists [next_list, end_list) up to `budget` bytes, and the last
 * switches the header. */
typedef struct staged {
	uint32_t which;         /* the half written */
	uint32_t next_list;     /* lists written by committed txns */
	uint32_t end_list;      /* ... and by the txn running */
	uint32_t nlist;
	uint64_t entries;       /* list entries written by committed txns */
	uint64_t txn_entries;   /* ... and by the txn running */
	unsigned commits;
	size_t budget;          /* list bytes per txn */
	uint64_t txn_id;        /* rdb_txn_write_id of the txn running */
	uint64_t next_id;       /* the id the next txn must have */
	const char *what;       /* "the index was being built", for messages */
	const char *again;      /* "ragdb index build" */
	int txn_more;           /* the txn running leaves more to write than lists */
	int blocks;             /* quantized blocks staged too (qblocks.c Q3) */
} staged;

typedef struct build {
	ragdb *db;
	ragdb_index_options o;
	ragdb_index_stats out;
	rdb_err *e;
	/* per attempt */
	size_t n, dim, tile;
	uint64_t *ids;
	const float **vp;
	uint32_t *perm, *assign;
	float *cent, *sums, *X;
	uint64_t *counts;
	rdb_scored *res;
	size_t *nres;
	uint64_t *cids;
	/* held-out queries of step 4, kept for the quantized measurement */
	size_t hn;
	float *hq;
	rdb_scored *hex; /* hn x 11 exact neighbours */
	size_t *hnex;
	uint64_t *hself;  /* each held-out query's own id */
	/* Kept from the build's first write txn to its last (steps 1-5). */
	int ready;              /* steps 1-4 done (build_plan) */
	uint32_t nlist, iters, kind, seg_cap, nprobe;
	size_t sample;
	float target, recall;
	uint32_t *off;          /* list c is order[off[c] .. off[c + 1]) */
	uint32_t *order;        /* positions in ids / vp, in list order */
	uint64_t *lid;          /* one txn's lists: ids and vectors */
	const float **lvp;
	staged sg;
	double t0;
} build;

/* Start a txn of a staged sequence: EBUSY when another writer committed
 * since the sequence's last txn. */
static ragdb_status staged_begin(staged *sg, rdb_txn *t, rdb_err *e)
{
	sg->txn_id = rdb_txn_write_id(t);
	sg->txn_more = 0;
	if (sg->commits && sg->txn_id != sg->next_id) {
		char done[64] = "";
		if (sg->nlist)
			snprintf(done, sizeof done, " (%u of %u lists written)", sg->next_list, sg->nlist);
		return rdb_err_set(e, RAGDB_EBUSY, "another process changed the knowledge base while "
		                   "%s%s; the knowledge base and its index are as they were; run `%s` "
		                   "again", sg->what, done, sg->again);
	}
	return RAGDB_OK;
}

/* After a failed sequence: empty the lists (and quantized blocks) it
 * committed, unless another writer came between (its own build may use
 * that half now). */
static ragdb_status unstage_txn(rdb_txn *t, void *arg, rdb_err *e)
{
	staged *sg = arg;
	ragdb_status st = RAGDB_OK;
	if (rdb_txn_write_id(t) != sg->next_id)
		return RAGDB_OK;
	if (sg->blocks && (st = rdb_qblocks_unstage(t, NULL, e)))
		return st;
	return sg->nlist ? rdb_ivf_stage_clear(t, sg->which, e) : RAGDB_OK;
}

/* Run @p step in write txns until the lists are all written, under the
 * handle's write lock (its other writers wait for the whole sequence; a
 * writer of another process between two txns stops it in staged_begin). */
static ragdb_status run_staged(ragdb *db, staged *sg, ragdb_status (*step)(rdb_txn *, void *,
                               rdb_err *), void *arg, const char *eintr, rdb_err *e)
{
	ragdb_status st;
	pthread_mutex_lock(&db->write_lock);
	for (;;) {
		if ((st = rdb_write_locked(db, step, arg, e)))
			break;
		sg->commits++;
		sg->next_list = sg->end_list;
		sg->entries += sg->txn_entries;
		sg->next_id = sg->txn_id + 1;
		rdb_txn_after_commit(db, sg->commits);
		if (sg->next_list >= sg->nlist && !sg->txn_more)
			break;
		if (db->interrupted) {
			st = rdb_err_set(e, RAGDB_EINTR, "%s", eintr);
			break;
		}
	}
	if (st && sg->commits) {
		rdb_err e2 = { 0 };
		(void)rdb_write_locked(db, unstage_txn, sg, &e2);
	}
	pthread_mutex_unlock(&db->write_lock);
	if (st == RAGDB_EINTR)
		db->interrupted = 0; /* it stopped this call; the handle's later calls run */
	return st;
}

static void build_free(build *b)
{
	free(b->ids);
	free(b->vp);
	free(b->perm);
	free(b->assign);
	free(b->cent);
	free(b->sums);
	free(b->X);
	free(b->counts);
	free(b->res);
	free(b->nres);
	free(b->cids);
	free(b->hq);
	free(b->hex);
	free(b->hnex);
	free(b->hself);
	free(b->off);
	free(b->order);
	free(b->lid);
	free(b->lvp);
	b->off = b->order = NULL;
	b->lid = NULL;
	b->lvp = NULL;
	b->ready = 0;
	b->hself = NULL;
	b->hq = NULL;
	b->hex = NULL;
	b->hnex = NULL;
	b->ids = NULL;
	b->vp = NULL;
	b->perm = b->assign = NULL;
	b->cent = b->sums = b->X = NULL;
	b->counts = NULL;
	b->res = NULL;
	b->nres = NULL;
	b->cids = NULL;
}

/* The build's batch path: fixed by the CPU, not the process's timing
 * (rdb_batch_chosen picks our micro-kernel or sgemm by a measurement, and
 * their sums differ in the last bits, so near-ties went to other lists:
 * the man pages x10 built nprobe 118 on sgemm and 120 on the AVX2 kernel).
 * RAGDB_BATCH still forces one. */
static rdb_batch_path build_path(void)
{
	const char *want = getenv("RAGDB_BATCH");
	if (want && *want)
		return RDB_BATCH_AUTO;
	static const rdb_batch_path order[] = { RDB_BATCH_AMX, RDB_BATCH_AVX512, RDB_BATCH_AVX2 };
	for (size_t i = 0; i < sizeof order / sizeof *order; i++)
		if (rdb_batch_path_supported(order[i]))
			return order[i];
	return RDB_BATCH_BLAS;
}

/* Nearest centroid of rows idx[0..m) (or rows lo..lo+m when idx is NULL)
 * into b->res[0..m). */
static ragdb_status assign_tile(build *b, const uint32_t *idx, size_t lo, size_t m, uint32_t nlist)
{
	for (size_t i = 0; i < m; i++)
		memcpy(b->X + i * b->dim, b->vp[idx ? idx[i] : lo + i], b->dim * 4);
	rdb_vblock cb = { b->cids, b->cent, nlist };
	ragdb_status st = rdb_scan_topk_batch_path(build_path(), b->X, m, b->dim, &cb, 1, 1,
	                                           b->o.threads, b->res, b->nres, b->e);
	if (st)
		return st;
	for (size_t i = 0; i < m; i++)
		if (b->nres[i] != 1 || b->res[i].id == 0 || b->res[i].id > nlist)
			b->res[i].id = 1; /* a NaN row: any list will do */
	return RAGDB_OK;
}

static void progress(const build *b, const char *stage, uint64_t done, uint64_t total)
{
	if (b->o.on_progress)
		b->o.on_progress(b->o.ctx, stage, done, total);
}

static ragdb_status kmeans(build *b, size_t sample, uint32_t nlist, uint32_t iters)
{
	size_t dim = b->dim;
	uint64_t rng = 0x5eed1f00dull;
	for (uint32_t it = 0; it < iters; it++) {
		progress(b, "k-means", it, iters);
		memset(b->sums, 0, (size_t)nlist * dim * sizeof *b->sums);
		memset(b->counts, 0, (size_t)nlist * sizeof *b->counts);
		for (size_t lo = 0; lo < sample; lo += b->tile) {
			if (b->db->interrupted)
				return rdb_err_set(b->e, RAGDB_EINTR, BUILD_EINTR);
			size_t m = sample - lo < b->tile ? sample - lo : b->tile;
			ragdb_status st = assign_tile(b, b->perm + lo, 0, m, nlist);
			if (st)
				return st;
			for (size_t i = 0; i < m; i++) {
				size_t c = b->res[i].id - 1;
				const float *x = b->X + i * dim;
				float *s = b->sums + c * dim;
				for (size_t d = 0; d < dim; d++)
					s[d] += x[d];
				b->counts[c]++;
			}
		}
		for (uint32_t c = 0; c < nlist; c++)
			if (b->counts[c]) {
				memcpy(b->cent + (size_t)c * dim, b->sums + (size_t)c * dim, dim * 4);
				normalise(b->cent + (size_t)c * dim, dim);
			}
		/* Empty lists: split the largest one (its centroid nudged apart). */
		for (uint32_t c = 0; c < nlist; c++) {
			if (b->counts[c])
				continue;
			uint32_t big = 0;
			for (uint32_t l = 1; l < nlist; l++)
				if (b->counts[l] > b->counts[big])
					big = l;
			float *cc = b->cent + (size_t)c * dim, *cb = b->cent + (size_t)big * dim;
			for (size_t d = 0; d < dim; d++) {
				float eps = ((float)(rng_next(&rng) >> 40) / (float)(1 << 24) - 0.5f) * 1e-2f;
				cc[d] = cb[d] + eps;
				cb[d] -= eps;
			}
			normalise(cc, dim);
			normalise(cb, dim);
			b->counts[c] = b->counts[big] / 2;
			b->counts[big] -= b->counts[c];
		}
	}
	return RAGDB_OK;
}

typedef struct idpos {
	uint64_t id;
	uint32_t list;
} idpos;

static int idpos_cmp(const void *a, const void *b)
{
	uint64_t x = ((const idpos *)a)->id, y = ((const idpos *)b)->id;
	return (x > y) - (x < y);
}

typedef struct rank_sort {
	float s;
	uint32_t l;
} rank_sort;

static int rank_cmp(const void *a, const void *b)
{
	const rank_sort *x = a, *y = b;
	if (x->s != y->s)
		return x->s > y->s ? -1 : 1;
	return (x->l > y->l) - (x->l < y->l);
}

/* Text searches do not look like stored vectors: with the local embedder
 * a query of a few words sits far from every chunk, and measured on the man
 * pages (24,938 chunks, 128 lists, the 1,911 real queries) stored vectors
 * as queries claimed recall@10 0.95 at nprobe 16 where the real queries got
 * 0.77. Six consecutive words of each held-out chunk, embedded as a query,
 * reproduced the real queries' curve (0.58 / 0.68 / 0.77 / 0.87 at nprobe
 * 4 / 8 / 16 / 32 against 0.57 / 0.67 / 0.77 / 0.87), so with the local
 * embedder those are the held-out queries: row i of @p Q becomes the span's
 * embedding and self[i] 0 (no stored vector is the query). Rows whose
 * vector has no chunk (imported vectors) stay stored-vector queries. Other
 * embedders are not called here: a build needs no provider. */
static ragdb_status text_queries(build *b, rdb_txn *t, float *Q, uint64_t *self, size_t h)
{
	rdb_embedder *emb = b->db->embedder;
	if (!emb || !rdb_local_is(emb))
		return RAGDB_OK;
	const char **texts = calloc(h, sizeof *texts);
	size_t *lens = calloc(h, sizeof *lens), *rows = calloc(h, sizeof *rows);
	rdb_buf *bufs = calloc(h, sizeof *bufs);
	ragdb_status st = RAGDB_ENOMEM;
	float *V = NULL;
	size_t m = 0;
	if (!texts || !lens || !rows || !bufs) {
		rdb_err_set(b->e, RAGDB_ENOMEM, "out of memory tuning nprobe");
		goto out;
	}
	uint64_t rng = 0x5eed5eed12345678ull;
	for (size_t i = 0; i < h; i++) {
		rdb_chunk c;
		rdb_err ce;
		st = rdb_chunk_get(t, self[i], &c, &bufs[m], &ce);
		if (st == RAGDB_ENOTFOUND)
			continue;
		if (st) {
			*b->e = ce;
			goto out;
		}
		/* a run of IVF_SPAN_WORDS words at a random word of the chunk */
		rdb_words w;
		size_t total = 0, nw = 0, first = 0, last = 0;
		rdb_words_init(&w, c.text, c.text_len);
		while (rdb_words_next(&w))
			total++;
		size_t from = total > IVF_SPAN_WORDS
		              ? (size_t)(rng_next(&rng) % (total - IVF_SPAN_WORDS + 1)) : 0;
		rdb_words_init(&w, c.text, c.text_len);
		for (size_t k = 0; rdb_words_next(&w) && nw < IVF_SPAN_WORDS; k++) {
			if (k < from)
				continue;
			if (nw++ == 0)
				first = w.start;
			last = w.stop;
		}
		if (nw == 0)
			continue;
		texts[m] = c.text + first;
		lens[m] = last - first;
		rows[m++] = i;
	}
	st = RAGDB_OK;
	if (m == 0)
		goto out;
	size_t dim = b->dim;
	if (!(V = malloc(m * dim * sizeof *V))) {
		st = rdb_err_set(b->e, RAGDB_ENOMEM, "out of memory tuning nprobe");
		goto out;
	}
	if ((st = rdb_embedder_embed(emb, texts, lens, m, RDB_EMBED_QUERY, V, b->e)))
		goto out;
	for (size_t j = 0; j < m; j++) {
		double ss = 0;
		for (size_t k = 0; k < dim; k++)
			ss += (double)V[j * dim + k] * V[j * dim + k];
		if (ss == 0)
			continue; /* only stopwords: keep the stored vector */
		memcpy(Q + rows[j] * dim, V + j * dim, dim * sizeof *V);
		self[rows[j]] = 0;
	}
out:
	if (bufs)
		for (size_t i = 0; i < h; i++)
			rdb_buf_free(&bufs[i]);
	free(bufs);
	free(texts);
	free(lens);
	free(rows);
	free(V);
	return st;
}

/* Step 4 of the build: the smallest nprobe reaching the target on held-out
 * queries (text_queries, else stored vectors). */
static ragdb_status tune_nprobe(build *b, rdb_txn *t, const rdb_vblock *blocks, size_t nb,
                                uint32_t nlist, float target, uint32_t *nprobe, float *recall)
{
	size_t dim = b->dim, h = b->n < IVF_HOLDOUT ? b->n : IVF_HOLDOUT;
	const size_t kk = 11; /* the top 10 after dropping the query itself */
	ragdb_status st = RAGDB_ENOMEM;
	float *Q = malloc(h * dim * sizeof *Q), *sc = malloc((size_t)nlist * sizeof *sc);
	rdb_scored *ex = malloc(h * kk * sizeof *ex);
	size_t *nex = malloc(h * sizeof *nex);
	idpos *map = malloc(b->n * sizeof *map);
	uint32_t *rank = malloc((size_t)nlist * sizeof *rank);
	uint64_t *hist = calloc((size_t)nlist + 1, sizeof *hist);
	rank_sort *rs = malloc((size_t)nlist * sizeof *rs);
	free(b->hself);
	b->hself = malloc(h * sizeof *b->hself);
	if (!Q || !sc || !ex || !nex || !map || !rank || !hist || !rs || !b->hself) {
		rdb_err_set(b->e, RAGDB_ENOMEM, "out of memory tuning nprobe");
		goto out;
	}
	/* Queries: the last h entries of the permutation (past the sample when
	 * the knowledge base is larger than it). */
	for (size_t i = 0; i < h; i++) {
		memcpy(Q + i * dim, b->vp[b->perm[b->n - 1 - i]], dim * 4);
		b->hself[i] = b->ids[b->perm[b->n - 1 - i]];
	}
	if ((st = text_queries(b, t, Q, b->hself, h)))
		goto out;
	if ((st = rdb_scan_topk_batch_path(build_path(), Q, h, dim, blocks, nb, kk, b->o.threads, ex,
	                                   nex, b->e)))
		goto out;
	for (size_t i = 0; i < b->n; i++)
		map[i] = (idpos){ b->ids[i], b->assign[i] };
	qsort(map, b->n, sizeof *map, idpos_cmp);
	rdb_dot_fn dot = rdb_kernel_dot();
	uint64_t total = 0;
	for (size_t i = 0; i < h; i++) {
		const float *q = Q + i * dim;
		uint64_t self = b->hself[i];
		dot(q, b->cent, nlist, dim, sc);
		for (uint32_t l = 0; l < nlist; l++)
			rs[l] = (rank_sort){ isnan(sc[l]) ? -INFINITY : sc[l], l };
		qsort(rs, nlist, sizeof *rs, rank_cmp);
		for (uint32_t r = 0; r < nlist; r++)
			rank[rs[r].l] = r;
		size_t used = 0;
		for (size_t j = 0; j < nex[i] && used < 10; j++) {
			uint64_t id = ex[i * kk + j].id;
			if (id == self)
				continue;
			used++;
			idpos key = { id, 0 }, *f = bsearch(&key, map, b->n, sizeof *map, idpos_cmp);
			if (!f)
				continue; /* cannot happen: every live vector was assigned */
			hist[rank[f->list]]++;
			total++;
		}
	}
	uint64_t cum = 0;
	uint32_t p = nlist;
	float rec = 1.0f;
	for (uint32_t r = 0; r < nlist; r++) {
		cum += hist[r];
		if (total == 0 || (double)cum >= (double)target * (double)total - 1e-9) {
			p = r + 1;
			rec = total ? (float)((double)cum / (double)total) : 1.0f;
			break;
		}
	}
	*nprobe = p;
	*recall = rec;
	/* Kept for tune_quant. */
	b->hn = h;
	b->hq = Q;
	b->hex = ex;
	b->hnex = nex;
	Q = NULL;
	ex = NULL;
	nex = NULL;
	st = RAGDB_OK;
out:
	free(Q);
	free(sc);
	free(ex);
	free(nex);
	free(map);
	free(rank);
	free(hist);
	free(rs);
	return st;
}

/* Step 4 on quantized lists, after they are written (in this txn): the
 * analytic nprobe above counts a neighbour found once its list is probed,
 * which holds for exact list scans only; here each held-out query runs the
 * search path itself (quantized scan of the probed lists, default
 * oversample, exact rescoring) and nprobe grows from that lower bound until
 * the measured recall@10 reaches the target (or every list is probed). */
static ragdb_status tune_quant(build *b, rdb_txn *t, const rdb_ivf_info *info, float target,
                               uint32_t *nprobe, float *recall)
{
	const size_t kk = 11;
	rdb_scored res[11];
	rdb_ivf_snap ix = { .present = 1, .info = *info, .cent = b->cent };
	uint32_t p = *nprobe, nlist = info->nlist;
	for (;;) {
		uint64_t found = 0, total = 0;
		for (size_t i = 0; i < b->hn; i++) {
			if (b->db->interrupted)
				return rdb_err_set(b->e, RAGDB_EINTR, BUILD_EINTR);
			const float *q = b->hq + i * b->dim;
			uint64_t self = b->hself[i];
			size_t nr = 0;
			ragdb_status st = rdb_ivf_search(t, &ix, q, p, kk, 0, b->o.threads, NULL, NULL, res,
			                                 &nr, b->e);
			if (st)
				return st;
			size_t used = 0;
			for (size_t j = 0; j < b->hnex[i] && used < 10; j++) {
				uint64_t id = b->hex[i * kk + j].id;
				if (id == self)
					continue;
				used++;
				total++;
				for (size_t r = 0, got = 0; r < nr && got < 10; r++) {
					if (res[r].id == self)
						continue;
					got++;
					if (res[r].id == id) {
						found++;
						break;
					}
				}
			}
		}
		float rec = total ? (float)((double)found / (double)total) : 1.0f;
		if ((double)found >= (double)target * (double)total - 1e-9 || p >= nlist) {
			*nprobe = p;
			*recall = rec;
			return RAGDB_OK;
		}
		uint32_t nx = p + (p / 4 > 1 ? p / 4 : 1);
		p = nx < nlist ? nx : nlist;
	}
}

/* Steps 1-4 and the lists' order, in the build's first write txn (which
 * holds LMDB's writer lock, so nothing changes the vectors meanwhile). */
static ragdb_status build_plan(rdb_txn *t, build *b, rdb_err *e)
{
	build_free(b);
	ragdb_status st;
	rdb_store *s = rdb_txn_store(t);
	const rdb_meta *m = rdb_store_meta(s);
	size_t dim = b->dim = m->dim;
	uint32_t nlist = b->nlist = b->o.nlist;
	rdb_block_view *views = NULL;
	rdb_vblock *blocks = NULL;
	size_t nv = 0;
	if ((st = rdb_blocks_get(t, &views, &nv, e)))
		return st;
	size_t n = 0;
	for (size_t i = 0; i < nv; i++)
		for (uint32_t j = 0; j < views[i].count; j++)
			n += views[i].ids[j] != 0;
	if (n == 0) {
		st = rdb_err_set(e, RAGDB_EINVAL, "the knowledge base holds no vectors; ingest or "
		                 "import some, then build the index");
		goto out;
	}
	if (nlist > n) {
		st = rdb_err_set(e, RAGDB_EINVAL, "--ivf %u asks for more lists than the %zu vectors "
		                 "stored; use at most %zu (about sqrt(vectors) to 4 x sqrt(vectors) is "
		                 "usual)", nlist, n, n);
		goto out;
	}
	if (n > UINT32_MAX) {
		st = rdb_err_set(e, RAGDB_EINVAL, "%zu vectors are more than the index builds (2^32)", n);
		goto out;
	}
	b->n = n;
	size_t sample = b->o.sample ? b->o.sample
	                : (size_t)nlist * IVF_SAMPLE_PER_LIST > IVF_MIN_SAMPLE
	                  ? (size_t)nlist * IVF_SAMPLE_PER_LIST : IVF_MIN_SAMPLE;
	if (sample > n)
		sample = n;
	if (sample < nlist)
		sample = nlist;
	b->sample = sample;
	uint32_t iters = b->iters = b->o.iters ? b->o.iters : IVF_DEFAULT_ITERS;
	b->ids = malloc(n * sizeof *b->ids);
	b->vp = malloc(n * sizeof *b->vp);
	b->perm = malloc(n * sizeof *b->perm);
	b->assign = malloc(n * sizeof *b->assign);
	b->cent = malloc((size_t)nlist * dim * sizeof *b->cent);
	b->sums = malloc((size_t)nlist * dim * sizeof *b->sums);
	b->tile = IVF_TILE_BYTES / (dim * sizeof(float));
	b->tile = b->tile > IVF_TILE_ROWS ? IVF_TILE_ROWS : b->tile < 64 ? 64 : b->tile;
	b->X = malloc(b->tile * dim * sizeof *b->X);
	b->counts = malloc((size_t)nlist * sizeof *b->counts);
	b->res = malloc(b->tile * sizeof *b->res);
	b->nres = malloc(b->tile * sizeof *b->nres);
	b->cids = malloc((size_t)nlist * sizeof *b->cids);
	b->off = calloc((size_t)nlist + 1, sizeof *b->off);
	b->order = malloc(n * sizeof *b->order);
	b->lid = malloc(n * sizeof *b->lid);
	b->lvp = malloc(n * sizeof *b->lvp);
	blocks = malloc((nv ? nv : 1) * sizeof *blocks);
	if (!b->ids || !b->vp || !b->perm || !b->assign || !b->cent || !b->sums || !b->X ||
	    !b->counts || !b->res || !b->nres || !b->cids || !b->off || !b->order || !b->lid ||
	    !b->lvp || !blocks) {
		st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory building an index of %zu vectors "
		                 "in %u lists", n, nlist);
		goto out;
	}
	size_t w = 0;
	for (size_t i = 0; i < nv; i++) {
		blocks[i] = (rdb_vblock){ views[i].ids, views[i].vecs, views[i].count };
		for (uint32_t j = 0; j < views[i].count; j++)
			if (views[i].ids[j]) {
				b->ids[w] = views[i].ids[j];
				b->vp[w++] = views[i].vecs + (size_t)j * dim;
			}
	}
	/* A fixed-seed shuffle: the first `sample` entries train, the last few
	 * are the held-out queries of step 4. */
	uint64_t rng = 0x1f0a3c5d7e9b2468ull;
	for (size_t i = 0; i < n; i++)
		b->perm[i] = (uint32_t)i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)(rng_next(&rng) % (i + 1));
		uint32_t x = b->perm[i];
		b->perm[i] = b->perm[j];
		b->perm[j] = x;
	}
	for (uint32_t c = 0; c < nlist; c++) {
		b->cids[c] = (uint64_t)c + 1;
		memcpy(b->cent + (size_t)c * dim, b->vp[b->perm[c]], dim * 4);
	}
	if ((st = kmeans(b, sample, nlist, iters)))
		goto out;
	progress(b, "k-means", iters, iters);
	/* Step 3: every vector to its nearest centroid. */
	for (size_t lo = 0; lo < n; lo += b->tile) {
		if (b->db->interrupted) {
			st = rdb_err_set(e, RAGDB_EINTR, BUILD_EINTR);
			goto out;
		}
		size_t mm = n - lo < b->tile ? n - lo : b->tile;
		if ((st = assign_tile(b, NULL, lo, mm, nlist)))
			goto out;
		for (size_t i = 0; i < mm; i++)
			b->assign[lo + i] = (uint32_t)(b->res[i].id - 1);
		progress(b, "assign", lo + mm, n);
	}
	b->target = b->o.recall_target > 0 ? b->o.recall_target : IVF_DEFAULT_TARGET;
	progress(b, "tune", 0, 1);
	if ((st = tune_nprobe(b, t, blocks, nv, nlist, b->target, &b->nprobe, &b->recall)))
		goto out;
	progress(b, "tune", 1, 1);
	/* Step 5's order: lists in order (a counting sort by list). */
	for (size_t i = 0; i < n; i++)
		b->off[b->assign[i] + 1]++;
	for (uint32_t c = 0; c < nlist; c++)
		b->off[c + 1] += b->off[c];
	uint32_t *fill = b->perm; /* reused: the shuffle is no longer needed */
	memcpy(fill, b->off, (size_t)nlist * sizeof *fill);
	for (size_t i = 0; i < n; i++)
		b->order[fill[b->assign[i]]++] = (uint32_t)i;
	/* The lists go into the half of the keys the current index's are not
	 * in (ivf.h). */
	rdb_ivf_info cur;
	rdb_err e2 = { 0 };
	st = rdb_ivf_info_get(t, &cur, &e2);
	if (st && st != RAGDB_ENOTFOUND) {
		st = rdb_err_set(e, st, "%s", e2.msg);
		goto out;
	}
	b->sg.which = st == RAGDB_ENOTFOUND ? 0 : !cur.lists;
	b->sg.nlist = nlist;
	b->seg_cap = rdb_ivf_seg_cap((uint32_t)dim, m->block_cap);
	b->kind = rdb_txn_quant(t); /* the lists hold the knowledge base's codes (ivf.h) */
	b->ready = 1;
	b->sg.next_id = b->sg.txn_id;
	st = RAGDB_OK;
out:
	free(views);
	free(blocks);
	return st;
}

/* In a later txn: the vectors' pointers in this txn (the same vectors in
 * the same order: no other writer came between, rdb_txn_write_id). */
static ragdb_status vectors_map(rdb_txn *t, build *b, rdb_err *e)
{
	rdb_block_view *views = NULL;
	size_t nv = 0, w = 0;
	ragdb_status st = rdb_blocks_get(t, &views, &nv, e);
	if (st)
		return st;
	for (size_t i = 0; i < nv; i++)
		for (uint32_t j = 0; j < views[i].count; j++) {
			uint64_t id = views[i].ids[j];
			if (!id)
				continue;
			if (w == b->n || b->ids[w] != id)
				goto changed;
			b->vp[w++] = views[i].vecs + (size_t)j * b->dim;
		}
	if (w == b->n) {
		free(views);
		return RAGDB_OK;
	}
changed:
	free(views);
	return rdb_err_set(e, RAGDB_EBUSY, "the vectors changed while the index was being built; "
	                   "the knowledge base and its index are as they were; run `ragdb index "
	                   "build` again");
}

/* Step 6, the last txn: the header naming the new lists (which replaces the
 * old index at commit), after tuning nprobe on quantized lists. */
static ragdb_status build_finish(rdb_txn *t, build *b, rdb_err *e)
{
	uint32_t nlist = b->nlist;
	rdb_ivf_info info = {
		.nlist = nlist, .dim = (uint32_t)b->dim, .nprobe = b->nprobe, .seg_cap = b->seg_cap,
		.built = b->n, .added = 0, .live = b->n, .dead = 0, .sample = (uint32_t)b->sample,
		.iters = b->iters, .recall_target = b->target, .recall = b->recall,
		.created = (int64_t)time(NULL), .qkind = b->kind, .lists = b->sg.which,
	};
	ragdb_status st;
	if (b->kind) {
		progress(b, "tune", 0, 1);
		if ((st = tune_quant(b, t, &info, b->target, &info.nprobe, &info.recall)))
			return st;
		progress(b, "tune", 1, 1);
	}
	info.build_seconds = now_s() - b->t0;
	if ((st = rdb_ivf_write_header(t, &info, b->cent, e)))
		return st;
	/* Statistics of what was just built (sizes from the assignment). */
	uint64_t mn = UINT64_MAX, mx = 0;
	for (uint32_t c = 0; c < nlist; c++) {
		uint64_t z = b->off[c + 1] - b->off[c];
		mn = z < mn ? z : mn;
		mx = z > mx ? z : mx;
	}
	ragdb_index_stats *o = &b->out;
	memset(o, 0, sizeof *o);
	o->nlist = nlist;
	o->nprobe = info.nprobe;
	o->vectors = o->built = b->n;
	o->list_min = mn;
	o->list_max = mx;
	o->imbalance = (double)mx / ((double)b->n / nlist);
	o->sample = (uint32_t)b->sample;
	o->iters = b->iters;
	o->recall_target = b->target;
	o->recall = info.recall;
	o->build_seconds = info.build_seconds;
	o->created = info.created;
	return RAGDB_OK;
}

/* One write txn of a build: the first plans (steps 1-4) and empties the
 * half of the list keys it writes; each writes the next lists up to
 * b->budget bytes (step 5); the last also writes the header (step 6). */
static ragdb_status build_step(rdb_txn *t, void *arg, rdb_err *e)
{
	build *b = arg;
	b->e = e;
	ragdb_status st;
	if ((st = staged_begin(&b->sg, t, e)))
		return st;
	/* The first txn again after a full map: plan again only if another
	 * writer came between. */
	if (!b->ready || b->sg.txn_id != b->sg.next_id)
		st = build_plan(t, b, e);
	else
		st = vectors_map(t, b, e);
	if (st || (b->sg.commits == 0 && (st = rdb_ivf_stage_clear(t, b->sg.which, e))))
		return st;
	size_t per = rdb_quant_row_bytes(b->kind, b->dim) + 8, bytes = 0, w = 0;
	uint32_t c = b->sg.next_list;
	for (; c < b->nlist; c++) {
		size_t z = (size_t)(b->off[c + 1] - b->off[c]) * per;
		if (bytes && bytes + z > b->sg.budget)
			break;
		if (b->db->interrupted)
			return rdb_err_set(e, RAGDB_EINTR, BUILD_EINTR);
		size_t at = w;
		for (uint32_t i = b->off[c]; i < b->off[c + 1]; i++, w++) {
			b->lid[w] = b->ids[b->order[i]];
			b->lvp[w] = b->vp[b->order[i]];
		}
		if ((st = rdb_ivf_write_list(t, b->sg.which, c, b->seg_cap, b->kind, b->lid + at,
		                             b->lvp + at, w - at, e)))
			return st;
		bytes += z;
		progress(b, "write", c + 1, b->nlist);
	}
	b->sg.end_list = c;
	return c < b->nlist ? RAGDB_OK : build_finish(t, b, e);
}

ragdb_status ragdb_index_build(ragdb *db, const ragdb_index_options *opts, ragdb_index_stats *out)
{
	ragdb_status st = rdb_ready_writable(db);
	if (st != RAGDB_OK)
		return st;
	static const ragdb_index_options none;
	const ragdb_index_options *o = opts ? opts : &none;
	if (o->nlist == 0 || o->nlist > IVF_MAX_NLIST)
		return rdb_failf(db, RAGDB_EINVAL, "the number of lists is %u; give 1..%u (about "
		                 "sqrt(vectors) to 4 x sqrt(vectors) is usual)", o->nlist, IVF_MAX_NLIST);
	if (o->recall_target != 0 && !(o->recall_target > 0 && o->recall_target <= 1))
		return rdb_failf(db, RAGDB_EINVAL, "recall target %g is outside (0,1]; give e.g. 0.95",
		                 (double)o->recall_target);
	if (o->iters > IVF_MAX_ITERS)
		return rdb_failf(db, RAGDB_EINVAL, "%u k-means iterations is too many; give 1..%u",
		                 o->iters, IVF_MAX_ITERS);
	rdb_err e = { 0 };
	if ((st = rdb_ivf_prepare(db->store, &e)))
		return rdb_fail(db, &e);
	build b = { .db = db, .o = *o, .t0 = now_s() };
	b.sg = (staged){ .budget = rdb_txn_budget(), .what = "the index was being built",
	                 .again = "ragdb index build" };
	db->interrupted = 0; /* as an ingest: a Ctrl-C counts from here */
	st = run_staged(db, &b.sg, build_step, &b, BUILD_EINTR, &e);
	build_free(&b);
	if (st)
		return rdb_fail(db, &e);
	if (out) {
		*out = b.out;
		out->build_seconds = now_s() - b.t0; /* with the commits */
		ragdb_index_stats full;
		if (ragdb_index_stats_get(db, &full) == RAGDB_OK) {
			full.build_seconds = out->build_seconds;
			*out = full;
		}
	}
	return RAGDB_OK;
}

/* ------------------------------------------------------------------ */
/* quantize: the quantized blocks and the lists re-encoded over several txns */

/* `ragdb quantize` re-encodes the lists with the blocks (index/ivf.h I1).
 * In one txn that held every new page in memory until the commit: 3.1 GB
 * for `quantize f32` of 1,019,160 int8 lists at dim 768, 1.6 GB for
 * `quantize int8` of the same. So, from f32, the quantized blocks are
 * staged first under meta f32 (index/qblocks.c Q3); the lists are written,
 * from the blocks' f32 vectors, into the other half of the keys; both over
 * txns of the build's budget. The last txn sets the quantization (between
 * two quantized kinds it re-encodes the blocks there: the old ones answer
 * until then) and switches the header, all at once (a crash or an
 * interrupt leaves the old quantization and lists). */
typedef struct requant {
	ragdb *db;
	uint32_t kind;
	int plain;              /* no index, or its lists already of kind */
	/* Staging the blocks: where committed txns got to, and the txn running */
	uint32_t next_block, txn_next_block;
	int blocks_done, txn_blocks_done;
	unsigned applied;       /* commits whose progress is in next_block */
	rdb_ivf_info info;      /* the index converted, as the first txn read it */
	uint64_t *ids;
	size_t nids, cap;
	float *rows;            /* f32 copies of a list's vectors when unaligned */
	const float **vp;
	size_t rows_cap;
	staged sg;
} requant;

#define REQUANT_EINTR "interrupted; the quantization and the index are as they were"

static ragdb_status requant_step(rdb_txn *t, void *arg, rdb_err *e)
{
	requant *q = arg;
	ragdb_status st;
	if ((st = staged_begin(&q->sg, t, e)))
		return st;
	if (q->applied != q->sg.commits) { /* the txn before committed (not a retry) */
		q->next_block = q->txn_next_block;
		q->blocks_done = q->txn_blocks_done;
		q->applied = q->sg.commits;
	}
	if (q->sg.commits == 0) {
		rdb_err e2 = { 0 };
		st = rdb_ivf_info_get(t, &q->info, &e2);
		q->plain = st == RAGDB_ENOTFOUND || (st == RAGDB_OK && q->info.qkind == q->kind);
		/* From f32 the new blocks are staged too (qblocks.c Q3); to f32
		 * there are none (rdb_ivf_quantize goes through f32 between two
		 * quantized kinds). */
		q->sg.blocks = rdb_txn_quant(t) == 0 && q->kind != 0;
		q->next_block = 0;
		q->blocks_done = !q->sg.blocks;
		if (q->plain && !q->sg.blocks) {
			q->sg.nlist = q->sg.end_list = 0;
			return rdb_store_set_quant(t, q->kind, e);
		}
		if (st && !q->plain)
			return rdb_err_set(e, st, "%s", e2.msg);
		if (q->sg.blocks && (st = rdb_qblocks_stage_begin(t, q->kind, e)))
			return st;
		q->sg.nlist = q->plain ? 0 : q->info.nlist;
		q->sg.which = q->plain ? 0 : !q->info.lists;
		if (!q->plain && (st = rdb_ivf_stage_clear(t, q->sg.which, e)))
			return st;
	}
	size_t dim = rdb_store_meta(q->db->store)->dim, per = rdb_quant_row_bytes(q->kind, dim) + 8,
	       bytes = 0;
	q->sg.txn_entries = 0;
	q->txn_next_block = q->next_block;
	q->txn_blocks_done = q->blocks_done;
	if (!q->blocks_done) {
		if (q->db->interrupted)
			return rdb_err_set(e, RAGDB_EINTR, REQUANT_EINTR);
		if ((st = rdb_qblocks_stage(t, q->kind, &q->txn_next_block, q->sg.budget, &bytes,
		                            &q->txn_blocks_done, e)))
			return st;
		if (!q->txn_blocks_done) {
			q->sg.end_list = q->sg.next_list;
			q->sg.txn_more = 1;
			return RAGDB_OK;
		}
	}
	uint32_t c = q->sg.next_list;
	for (; c < q->sg.nlist; c++) {
		if (q->db->interrupted)
			return rdb_err_set(e, RAGDB_EINTR, REQUANT_EINTR);
		q->nids = 0;
		if ((st = rdb_ivf_list_live_ids(t, &q->info, c, &q->ids, &q->nids, &q->cap, e)))
			return st;
		size_t z = q->nids * per;
		if (bytes && bytes + z > q->sg.budget)
			break;
		if (q->nids > q->rows_cap) {
			float *r = realloc(q->rows, q->nids * dim * sizeof *r);
			const float **v = r ? realloc(q->vp, q->nids * sizeof *v) : NULL;
			if (r)
				q->rows = r;
			if (v)
				q->vp = v;
			if (!r || !v)
				return rdb_err_set(e, RAGDB_ENOMEM, "out of memory converting IVF list %u", c);
			q->rows_cap = q->nids;
		}
		/* New codes from the f32 vectors: old codes cannot be decoded. */
		for (size_t i = 0; i < q->nids; i++) {
			rdb_err e2 = { 0 };
			if ((st = rdb_ivf_vector(t, q->ids[i], q->rows + i * dim, &q->vp[i], &e2)))
				return st == RAGDB_ENOTFOUND
				       ? rdb_err_set(e, RAGDB_ECORRUPT, "IVF list %u holds %llu, which is "
				                     "not a live vector (%s); rebuild with `ragdb index "
				                     "build`", c, (unsigned long long)q->ids[i], e2.msg)
				       : rdb_err_set(e, st, "%s", e2.msg);
		}
		if ((st = rdb_ivf_write_list(t, q->sg.which, c, q->info.seg_cap, q->kind, q->ids,
		                             q->vp, q->nids, e)))
			return st;
		bytes += z;
		q->sg.txn_entries += q->nids;
	}
	q->sg.end_list = c;
	if (c < q->sg.nlist)
		return RAGDB_OK;
	if (q->sg.blocks)
		st = rdb_qblocks_stage_finish(t, q->kind, e);
	else
		st = rdb_store_set_quant_blocks(t, q->kind, e);
	if (st || q->plain)
		return st;
	rdb_ivf_info info = q->info;
	info.qkind = q->kind;
	info.lists = q->sg.which;
	info.live = q->sg.entries + q->sg.txn_entries;
	info.dead = 0; /* tombstones were not carried over */
	return rdb_ivf_write_header(t, &info, NULL, e);
}

static ragdb_status requant_run(ragdb *db, uint32_t kind, rdb_err *e)
{
	requant q = { .db = db, .kind = kind };
	q.sg = (staged){ .budget = rdb_txn_budget(), .what = "ragdb quantize converted the vectors",
	                 .again = "ragdb quantize" };
	ragdb_status st = run_staged(db, &q.sg, requant_step, &q, REQUANT_EINTR, e);
	free(q.ids);
	free(q.rows);
	free(q.vp);
	return st;
}

ragdb_status rdb_ivf_quantize(ragdb *db, uint32_t kind)
{
	ragdb_status st = rdb_ready_writable(db);
	if (st != RAGDB_OK)
		return st;
	rdb_err e = { 0 };
	rdb_txn *t = NULL;
	if ((st = rdb_txn_begin(db->store, 0, &t, &e)))
		return rdb_fail(db, &e);
	uint32_t cur = rdb_txn_quant(t);
	rdb_txn_abort(t);
	db->interrupted = 0;
	/* Between two quantized kinds, through f32: the new blocks are then
	 * staged like any conversion from f32 (qblocks.c Q3), and no txn
	 * holds them all (the old blocks answer searches until the first
	 * switch, the exact f32 scan until the second). */
	if (cur && kind && cur != kind && (st = requant_run(db, 0, &e)))
		return rdb_fail(db, &e);
	if ((st = requant_run(db, kind, &e)) && cur && kind && cur != kind) {
		char msg[sizeof e.msg];
		snprintf(msg, sizeof msg, "%s", e.msg);
		rdb_err_set(&e, st, "%s (the knowledge base is f32 now: a conversion from %s to %s "
		            "goes through f32; run `ragdb quantize %s` again)", msg,
		            rdb_qkind_name(cur), rdb_qkind_name(kind), rdb_qkind_name(kind));
	}
	return st ? rdb_fail(db, &e) : RAGDB_OK;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

ragdb_status ragdb_index_stats_get(ragdb *db, ragdb_index_stats *out)
{
	ragdb_status st = rdb_ready(db);
	if (st != RAGDB_OK)
		return st;
	rdb_err e = { 0 };
	rdb_txn *t = NULL;
	uint64_t *sizes = NULL;
	rdb_ivf_info info;
	if ((st = rdb_txn_begin(db->store, 0, &t, &e)) || (st = rdb_ivf_info_get(t, &info, &e)))
		goto out;
	if (!(sizes = malloc((size_t)info.nlist * sizeof *sizes))) {
		st = rdb_err_set(&e, RAGDB_ENOMEM, "out of memory");
		goto out;
	}
	uint64_t bytes = 0, unfinished = 0;
	if ((st = rdb_ivf_list_sizes(t, info.nlist, sizes, &bytes, &e)) ||
	    (st = rdb_ivf_half_bytes(t, !info.lists, &unfinished, &e)))
		goto out;
	qsort(sizes, info.nlist, sizeof *sizes, u64_cmp);
	ragdb_index_stats o = {
		.nlist = info.nlist, .nprobe = info.nprobe, .vectors = info.live,
		.built = info.built, .added = info.added, .dead = info.dead,
		.list_min = sizes[0], .list_median = sizes[info.nlist / 2],
		.list_max = sizes[info.nlist - 1],
		.imbalance = info.live ? (double)sizes[info.nlist - 1] / ((double)info.live / info.nlist)
		             : 0,
		.bytes = bytes, .sample = info.sample, .iters = info.iters,
		.recall_target = info.recall_target, .recall = info.recall,
		.build_seconds = info.build_seconds, .created = info.created,
		.unfinished_bytes = unfinished,
	};
	*out = o;
out:
	free(sizes);
	rdb_txn_abort(t);
	return st ? rdb_fail(db, &e) : RAGDB_OK;
}

static ragdb_status drop_txn(rdb_txn *t, void *arg, rdb_err *e)
{
	(void)arg;
	return rdb_ivf_drop(t, e);
}

ragdb_status ragdb_index_drop(ragdb *db)
{
	return rdb_write(db, drop_txn, NULL);
}

/* ------------------------------------------------------------------ */
/* search */

ragdb_status rdb_ivf_snap_open(rdb_txn *t, rdb_ivf_snap *out, rdb_err *e)
{
	rdb_ivf_snap x = { 0 };
	rdb_err e2 = { 0 };
	ragdb_status st = rdb_ivf_info_get(t, &x.info, &e2);
	if (st == RAGDB_ENOTFOUND) {
		*out = x;
		return RAGDB_OK;
	}
	if (st)
		return rdb_err_set(e, st, "%s", e2.msg);
	if ((st = rdb_ivf_centroids(t, &x.cent, e)))
		return st;
	x.present = 1;
	*out = x;
	return RAGDB_OK;
}

ragdb_status rdb_ivf_plan(const rdb_ivf_snap *ix, uint32_t nprobe, int exact, uint32_t *use,
                          rdb_err *e)
{
	*use = 0;
	if (exact)
		return RAGDB_OK;
	if (nprobe) {
		if (!ix->present)
			return rdb_err_set(e, RAGDB_EINVAL, "--nprobe needs an IVF index and this knowledge "
			                   "base has none; build one with `ragdb index build --ivf NLIST`, "
			                   "or search without --nprobe");
		*use = nprobe < ix->info.nlist ? nprobe : ix->info.nlist;
		return RAGDB_OK;
	}
	if (ix->present && ix->info.live >= RAGDB_IVF_MIN_VECTORS)
		*use = ix->info.nprobe;
	return RAGDB_OK;
}

/* The nprobe lists nearest to q (ids l + 1 in top[0..*np)). */
static ragdb_status probe_lists(const rdb_ivf_snap *ix, const float *q, uint32_t nprobe,
                                rdb_scored *top, size_t *np, rdb_err *e)
{
	uint32_t nlist = ix->info.nlist;
	float *sc = malloc((size_t)nlist * sizeof *sc);
	if (!sc)
		return rdb_err_set(e, RAGDB_ENOMEM, "out of memory for an IVF search");
	rdb_kernel_dot()(q, ix->cent, nlist, ix->info.dim, sc);
	rdb_topk tk;
	rdb_topk_init(&tk, top, nprobe);
	for (uint32_t l = 0; l < nlist; l++)
		rdb_topk_push(&tk, isnan(sc[l]) ? -INFINITY : sc[l], (uint64_t)l + 1);
	*np = rdb_topk_drain(&tk, top);
	free(sc);
	return RAGDB_OK;
}

/* The f32 vector of a quantized candidate, from the blocks (the calling
 * thread's txn). */
typedef struct ivec_ctx {
	rdb_txn *t;
	float *buf;
	rdb_err e;
} ivec_ctx;

static const float *ivec_of(void *ctx, uint64_t id)
{
	ivec_ctx *c = ctx;
	const float *v = NULL;
	return rdb_ivf_vector(c->t, id, c->buf, &v, &c->e) == RAGDB_OK ? v : NULL;
}

/* A rescoring failure that was not a missing vector (an I/O error, say)
 * is reported as itself rather than as rdb_rescore_list's corruption. */
static ragdb_status ivec_status(const ivec_ctx *c, ragdb_status st, rdb_err *e)
{
	if (st && c->e.status && c->e.status != RAGDB_ENOTFOUND)
		return rdb_err_set(e, c->e.status, "%s", c->e.msg);
	return st;
}

static void qblocks_of(const rdb_ivf_view *views, size_t nv, rdb_qblock *qb)
{
	for (size_t i = 0; i < nv; i++)
		qb[i] = (rdb_qblock){ views[i].ids, views[i].rows, views[i].scales, views[i].count };
}

ragdb_status rdb_ivf_search(rdb_txn *t, const rdb_ivf_snap *ix, const float *q, uint32_t nprobe,
                            size_t k, uint32_t oversample, int threads, rdb_keep_fn keep,
                            void *keep_ctx, rdb_scored *out, size_t *n_out, rdb_err *e)
{
	uint32_t nlist = ix->info.nlist, dim = ix->info.dim, kind = ix->info.qkind;
	if (nprobe > nlist)
		nprobe = nlist;
	ragdb_status st = RAGDB_ENOMEM;
	rdb_scored *top = malloc((size_t)nprobe * sizeof *top);
	rdb_ivf_view *views = NULL;
	rdb_vblock *blocks = NULL;
	rdb_qblock *qb = NULL;
	rdb_qquery *qq = NULL;
	ivec_ctx vc = { .t = t };
	size_t nv = 0, cap = 0, np = 0;
	if (!top) {
		rdb_err_set(e, RAGDB_ENOMEM, "out of memory for an IVF search");
		goto out;
	}
	if ((st = probe_lists(ix, q, nprobe, top, &np, e)))
		goto out;
	for (size_t i = 0; i < np; i++)
		if ((st = rdb_ivf_list_views(t, &ix->info, (uint32_t)(top[i].id - 1), &views, &nv,
		                             &cap, e)))
			goto out;
	if (kind == 0) {
		if (!(blocks = malloc((nv ? nv : 1) * sizeof *blocks))) {
			st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory for an IVF search");
			goto out;
		}
		for (size_t i = 0; i < nv; i++)
			blocks[i] = (rdb_vblock){ views[i].ids, views[i].rows, views[i].count };
		st = rdb_scan_topk(q, dim, blocks, nv, k, threads, keep, keep_ctx, out, n_out, e);
		goto out;
	}
	/* Quantized lists: the exact quantized path's scan and rescoring over
	 * the probed lists' codes. */
	qb = malloc((nv ? nv : 1) * sizeof *qb);
	vc.buf = malloc((size_t)dim * sizeof *vc.buf);
	if (!qb || !vc.buf) {
		st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory for an IVF search");
		goto out;
	}
	qblocks_of(views, nv, qb);
	if ((st = rdb_qquery_create((rdb_quant)kind, q, dim, &qq, e)))
		goto out;
	st = rdb_qsearch_rescore(qq, q, qb, nv, k, rdb_oversample(kind, oversample), threads,
	                         keep, keep_ctx, ivec_of, &vc, out, n_out, e);
	st = ivec_status(&vc, st, e);
out:
	rdb_qquery_free(qq);
	free(vc.buf);
	free(qb);
	free(top);
	free(views);
	free(blocks);
	return st;
}

/* The batch: phase 1 (the batch kernel) picks each query's lists, phase 2 (calling
 * thread) lists the segments of every list picked, phase 3 (parallel) scans
 * each query's lists on one thread per part; on quantized lists phase 3
 * keeps each query's candidates and phase 4 (calling thread, which owns
 * the txn) rescores them exactly. */
typedef struct ivf_batch {
	const rdb_ivf_snap *ix;
	const float *Q;
	size_t n, k, parts;
	uint32_t nprobe;
	uint32_t *probes;          /* n x nprobe lists (UINT32_MAX: none) */
	const rdb_ivf_view *views;
	const size_t *first;       /* list l's segments: views[first[l] .. first[l+1]) */
	rdb_scored *out;
	size_t *n_out;
	size_t os;                 /* quantized: oversample; cand is n x nc */
	size_t nc;
	rdb_scored *cand;
	size_t *ncand;
	ragdb_status st[RDB_POOL_MAX];
} ivf_batch;

static ragdb_status batch_probe_all(ivf_batch *b, int threads, rdb_err *e)
{
	uint32_t nlist = b->ix->info.nlist, dim = b->ix->info.dim;
	ragdb_status st = RAGDB_OK;
	uint64_t *ids = malloc((size_t)nlist * sizeof *ids);
	rdb_scored *top = NULL;
	size_t *ntop = malloc(b->n * sizeof *ntop);
	if (b->n <= SIZE_MAX / sizeof *top / b->nprobe)
		top = malloc(b->n * b->nprobe * sizeof *top);
	if (!ids || !top || !ntop) {
		st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory for an IVF batch of %zu queries", b->n);
		goto out;
	}
	for (uint32_t l = 0; l < nlist; l++)
		ids[l] = (uint64_t)l + 1;
	rdb_vblock cb = { ids, b->ix->cent, nlist };
	if ((st = rdb_scan_topk_batch(b->Q, b->n, dim, &cb, 1, b->nprobe, threads, top, ntop, e)))
		goto out;
	for (size_t i = 0; i < b->n; i++)
		for (size_t j = 0; j < b->nprobe; j++)
			b->probes[i * b->nprobe + j] =
				j < ntop[i] ? (uint32_t)(top[i * b->nprobe + j].id - 1) : UINT32_MAX;
out:
	free(ids);
	free(top);
	free(ntop);
	return st;
}

static void batch_scan(void *arg, size_t part)
{
	ivf_batch *b = arg;
	uint32_t dim = b->ix->info.dim, kind = b->ix->info.qkind;
	size_t cap = 0;
	rdb_vblock *blocks = NULL;
	rdb_qblock *qb = NULL;
	for (size_t i = b->n * part / b->parts; i < b->n * (part + 1) / b->parts; i++) {
		size_t nb = 0, total = 0;
		for (size_t j = 0; j < b->nprobe; j++) {
			uint32_t l = b->probes[i * b->nprobe + j];
			if (l == UINT32_MAX)
				continue;
			size_t need = nb + (b->first[l + 1] - b->first[l]);
			if (need > cap) {
				size_t nc = need * 2;
				rdb_vblock *nbk = realloc(blocks, nc * sizeof *nbk);
				if (nbk)
					blocks = nbk;
				rdb_qblock *nq = realloc(qb, nc * sizeof *nq);
				if (nq)
					qb = nq;
				if (!nbk || !nq) {
					b->st[part] = RAGDB_ENOMEM;
					goto out;
				}
				cap = nc;
			}
			for (size_t v = b->first[l]; v < b->first[l + 1]; v++, nb++) {
				const rdb_ivf_view *w = &b->views[v];
				blocks[nb] = (rdb_vblock){ w->ids, w->rows, w->count };
				qb[nb] = (rdb_qblock){ w->ids, w->rows, w->scales, w->count };
				total += w->count;
			}
		}
		rdb_err e2 = { 0 };
		ragdb_status st;
		if (kind == 0) {
			st = rdb_scan_topk(b->Q + i * dim, dim, blocks, nb, b->k, 1, NULL, NULL,
			                   b->out + i * b->k, &b->n_out[i], &e2);
		} else {
			/* The candidates rdb_qsearch_rescore takes: as many, by the same
			 * scan, so a batch returns what single searches do. */
			rdb_qquery *qq = NULL;
			st = rdb_qquery_create((rdb_quant)kind, b->Q + i * dim, dim, &qq, &e2);
			if (!st)
				st = rdb_qscan_topk(qq, qb, nb, rdb_rescore_candidates(b->k, b->os, total), 1,
				                    NULL, NULL, b->cand + i * b->nc, &b->ncand[i], &e2);
			rdb_qquery_free(qq);
		}
		if (st) {
			b->st[part] = st;
			goto out;
		}
	}
out:
	free(blocks);
	free(qb);
}

ragdb_status rdb_ivf_search_batch(rdb_txn *t, const rdb_ivf_snap *ix, const float *Q, size_t n,
                                  uint32_t nprobe, size_t k, uint32_t oversample, int threads,
                                  rdb_scored *out, size_t *n_out, rdb_err *e)
{
	uint32_t nlist = ix->info.nlist, kind = ix->info.qkind, dim = ix->info.dim;
	if (nprobe > nlist)
		nprobe = nlist;
	if (n == 0)
		return RAGDB_OK;
	ivf_batch b = { .ix = ix, .Q = Q, .n = n, .k = k, .nprobe = nprobe, .out = out,
	                .n_out = n_out };
	size_t parts = threads > 0 ? (size_t)threads : (size_t)rdb_ncores();
	parts = parts > RDB_POOL_MAX ? RDB_POOL_MAX : parts;
	b.parts = parts > n ? n : parts;
	ragdb_status st = RAGDB_OK;
	uint8_t *need = calloc(nlist, 1);
	size_t *first = malloc(((size_t)nlist + 1) * sizeof *first);
	rdb_ivf_view *views = NULL;
	ivec_ctx vc = { .t = t };
	size_t nv = 0, cap = 0;
	if (n > SIZE_MAX / sizeof *b.probes / nprobe ||
	    !(b.probes = malloc(n * nprobe * sizeof *b.probes)) || !need || !first) {
		st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory for an IVF batch of %zu queries", n);
		goto out;
	}
	if (kind) {
		b.os = rdb_oversample(kind, oversample);
		b.nc = rdb_rescore_candidates(k, b.os, SIZE_MAX);
		if (b.nc > SIZE_MAX / sizeof *b.cand / n ||
		    !(b.cand = malloc(n * b.nc * sizeof *b.cand)) ||
		    !(b.ncand = malloc(n * sizeof *b.ncand)) ||
		    !(vc.buf = malloc((size_t)dim * sizeof *vc.buf))) {
			st = rdb_err_set(e, RAGDB_ENOMEM, "out of memory for the candidates of an IVF "
			                 "batch of %zu queries; lower k or the oversample", n);
			goto out;
		}
	}
	/* Each query's nprobe nearest centroids through the batch kernel: the
	 * centroids are read once per tile of queries instead of once per
	 * query, which made the probe phase cost more than the list scans
	 * (nlist x dim multiply-adds per query against ~2 lists of ~n/nlist
	 * vectors). */
	if ((st = batch_probe_all(&b, threads, e)) != RAGDB_OK)
		goto out;
	for (size_t i = 0; i < n * nprobe; i++)
		if (b.probes[i] != UINT32_MAX)
			need[b.probes[i]] = 1;
	for (uint32_t l = 0; l < nlist; l++) {
		first[l] = nv;
		if (need[l] && (st = rdb_ivf_list_views(t, &ix->info, l, &views, &nv, &cap, e)))
			goto out;
	}
	first[nlist] = nv;
	b.views = views;
	b.first = first;
	rdb_pool_run(batch_scan, &b, b.parts);
	for (size_t p = 0; p < b.parts; p++)
		if (b.st[p]) {
			st = rdb_err_set(e, b.st[p], "out of memory for an IVF batch of %zu queries", n);
			goto out;
		}
	for (size_t i = 0; kind && i < n; i++) {
		st = rdb_rescore_list(dim, Q + i * dim, b.cand + i * b.nc, b.ncand[i], k, ivec_of, &vc,
		                      out + i * k, &n_out[i], e);
		if ((st = ivec_status(&vc, st, e)))
			goto out;
	}
out:
	free(vc.buf);
	free(b.cand);
	free(b.ncand);
	free(b.probes);
	free(need);
	free(first);
	free(views);
	return st;
}
