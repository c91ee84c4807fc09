/* tests/unit/test_index_viewcache.c — block listings reused across read
 * txns of one snapshot (index/viewcache.c): a later snapshot, a write txn,
 * an older reader still open and a quantization change each see their own
 * blocks, never a listing of another snapshot. */
#include <stdlib.h>
#include <string.h>

#include "index/store.h"
#include "testutil.h"

#define OK(call_with_err) do { ragdb_status s_ = (call_with_err); \
	ck_assert_msg(s_ == RAGDB_OK, "%s -> %d: %s", #call_with_err, s_, err.msg); } while (0)

enum { DIM = 64, CAP = 64 }; /* 64 x 64 floats: blocks are LMDB overflow values, never copied */

static rdb_store *open_store(const char *dir)
{
	rdb_meta m;
	memset(&m, 0, sizeof m);
	strcpy(m.embedder, "external");
	strcpy(m.model, "external");
	m.dim = DIM;
	m.block_cap = CAP;
	m.chunk_tokens = 200;
	rdb_store *s;
	rdb_err err;
	OK(rdb_store_open(dir, RDB_STORE_CREATE, &m, &s, &err));
	return s;
}

/* Append n vectors with ids from *next on, each vector filled with its id. */
static void append(rdb_store *s, size_t n, uint64_t *next)
{
	rdb_err err;
	rdb_txn *t;
	uint64_t *ids = malloc(n * sizeof *ids);
	float *v = malloc(n * DIM * sizeof *v);
	for (size_t i = 0; i < n; i++) {
		ids[i] = (*next)++;
		for (size_t j = 0; j < DIM; j++)
			v[i * DIM + j] = (float)ids[i];
	}
	OK(rdb_txn_begin(s, 1, &t, &err));
	OK(rdb_vectors_append(t, ids, v, n, &err));
	OK(rdb_txn_commit(t, &err));
	free(ids);
	free(v);
}

/* Vectors in the listing, each checked against its id. */
static size_t listed(rdb_txn *t, size_t *nb)
{
	rdb_err err;
	rdb_block_view *v;
	size_t n, total = 0;
	OK(rdb_blocks_get(t, &v, &n, &err));
	for (size_t b = 0; b < n; b++)
		for (uint32_t i = 0; i < v[b].count; i++) {
			ck_assert_float_eq(v[b].vecs[(size_t)i * DIM], (float)v[b].ids[i]);
			total++;
		}
	free(v);
	if (nb)
		*nb = n;
	return total;
}

/* Two readers of one snapshot list the same blocks at the same addresses;
 * a reader after a commit sees the new vectors; a reader opened before the
 * commit still sees its own snapshot after the cache moved on; a write txn
 * sees its pending vectors. */
START_TEST(test_listing_per_snapshot)
{
	char *dir = tu_tmpdir("viewcache");
	rdb_store *s = open_store(dir);
	rdb_err err;
	uint64_t next = 1;
	append(s, 3 * CAP, &next);

	rdb_txn *a, *b;
	OK(rdb_txn_begin(s, 0, &a, &err));
	rdb_block_view *va, *vb;
	size_t na, nb;
	OK(rdb_blocks_get(a, &va, &na, &err));
	OK(rdb_txn_begin(s, 0, &b, &err));
	OK(rdb_blocks_get(b, &vb, &nb, &err));
	ck_assert_uint_eq(na, 3);
	ck_assert_uint_eq(nb, na);
	ck_assert_mem_eq(va, vb, na * sizeof *va);
	free(vb);
	rdb_txn_abort(b);

	append(s, CAP + 5, &next);
	rdb_txn *c;
	OK(rdb_txn_begin(s, 0, &c, &err));
	size_t blocks;
	ck_assert_uint_eq(listed(c, &blocks), 4 * CAP + 5);
	ck_assert_uint_eq(blocks, 5);
	rdb_txn_abort(c);
	/* The old reader, asked again after a newer listing was cached. */
	ck_assert_uint_eq(listed(a, &blocks), 3 * CAP);
	ck_assert_uint_eq(blocks, 3);
	free(va);
	rdb_txn_abort(a);

	rdb_txn *w;
	OK(rdb_txn_begin(s, 1, &w, &err));
	uint64_t id = next++;
	float v[DIM];
	for (size_t j = 0; j < DIM; j++)
		v[j] = (float)id;
	OK(rdb_vectors_append(w, &id, v, 1, &err));
	ck_assert_uint_eq(listed(w, NULL), 4 * CAP + 6);
	rdb_txn_abort(w);
	OK(rdb_txn_begin(s, 0, &c, &err));
	ck_assert_uint_eq(listed(c, NULL), 4 * CAP + 5);
	rdb_txn_abort(c);

	rdb_store_close(s);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

/* The quantized listing follows the kind of each snapshot: int8, then
 * bf16 after a conversion, then none (f32). */
START_TEST(test_qlisting_follows_kind)
{
	char *dir = tu_tmpdir("viewcache-q");
	rdb_store *s = open_store(dir);
	rdb_err err;
	uint64_t next = 1;
	append(s, 2 * CAP, &next);
	const uint32_t kinds[] = {2, 1, 0};
	for (size_t k = 0; k < 3; k++) {
		rdb_txn *w;
		OK(rdb_txn_begin(s, 1, &w, &err));
		OK(rdb_store_set_quant(w, kinds[k], &err));
		OK(rdb_txn_commit(w, &err));
		for (int reader = 0; reader < 2; reader++) {
			rdb_txn *t;
			OK(rdb_txn_begin(s, 0, &t, &err));
			rdb_block_view *v;
			size_t n;
			OK(rdb_blocks_get(t, &v, &n, &err));
			uint32_t kind = 99;
			rdb_qview *q = NULL;
			OK(rdb_qblocks_get(t, v, n, &kind, &q, &err));
			ck_assert_uint_eq(kind, kinds[k]);
			if (kinds[k] == 2) {
				/* int8 codes of a constant vector are all 127, scale id / 127. */
				const int8_t *codes = q[1].codes;
				ck_assert_int_eq(codes[0], 127);
				ck_assert_float_eq_tol(q[1].scales[0] * 127.0f, (float)v[1].ids[0], 1e-3);
			} else if (kinds[k] == 1) {
				const uint16_t *codes = q[1].codes;
				ck_assert_uint_eq(v[1].ids[0], 65);
				ck_assert_uint_eq(codes[0], 0x4282); /* 65.0f is 0x42820000 */
			} else {
				ck_assert_ptr_null(q);
			}
			free(q);
			free(v);
			rdb_txn_abort(t);
		}
	}
	rdb_store_close(s);
	tu_rmrf(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("index_viewcache");
	TCase *tc = tcase_create("viewcache");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_listing_per_snapshot);
	tcase_add_test(tc, test_qlisting_follows_kind);
	suite_add_tcase(su, tc);
	return tu_run(su);
}
