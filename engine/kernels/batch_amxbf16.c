/*
 * engine/kernels/batch_amxbf16.c — the batch scan's AMX kernel: candidate
 * scores of 32 queries x 32 vectors per block of four tile accumulators.
 *
 * Compiled with -mamx-tile -mamx-bf16 -mavx512bf16 (CMakeLists.txt); batch.c
 * calls in only when cpuid reports AMX-BF16 and the kernel granted this
 * process the tile state (arch_prctl). One TDPBF16PS multiplies a 16 x 32
 * bf16 tile of queries by 32 x 16 of vectors into 16 x 16 f32 sums: 16,384
 * flops in 16 cycles, where an AVX-512 core does 64 f32 flops a cycle. bf16
 * alone (8 significant bits) would move scores by ~0.4% and change the
 * ranking, so each operand is split into hi (rounded to bf16) and lo (the
 * remainder, rounded to bf16), and a score is q_hi.x_hi + q_lo.x_hi +
 * q_hi.x_lo: three products, error ~2^-16 relative (the dropped q_lo.x_lo
 * and the two remainders' rounding). batch.c turns these scores into exact
 * results: it keeps more candidates than k, rescores them with the f32 dot
 * kernel and proves from the error bound that no other vector can enter the
 * top k, or scans that query again exactly.
 *
 * Layout (batch_impl.h): tiles are 1 KB, 64 bytes a row. The two query
 * tiles of a block (A) stay in L1 while the run's panels (B, ~1 MB) stream
 * from L2; per 32 dims a block loads 10 tiles for 12 products. Four
 * accumulators are needed to hide a product's latency behind the others'
 * throughput, which leaves four tiles for operands: no double buffering,
 * but the loads are placed early (rdb_batch_run_amx).
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "engine/kernels/batch_impl.h"
#include "engine/kernels/transpose16.h"

#define TILE 512 /* bf16 per tile */

/* x rounded to the nearest bf16 (ties to even), kept as f32, so x - hi is
 * exact. Finite x only (the caller flags the others). */
static inline __m512 round_bf16(__m512 x)
{
	const __m512i u = _mm512_castps_si512(x);
	const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
	const __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), odd));
	return _mm512_castsi512_ps(_mm512_and_si512(r, _mm512_set1_epi32((int)0xffff0000u)));
}

static inline float round_bf16_1(float x)
{
	uint32_t u;
	memcpy(&u, &x, sizeof u);
	u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
	memcpy(&x, &u, sizeof x);
	return x;
}

/* The upper 16 bits of an f32 that is a bf16 value, or x rounded to bf16
 * (the remainders). */
static inline uint16_t bf16_bits(float x)
{
	uint32_t u;
	memcpy(&u, &x, sizeof u);
	u += 0x7fffu + ((u >> 16) & 1u);
	return (uint16_t)(u >> 16);
}

int rdb_batch_amx_pack_queries(const float *Q, size_t nq, size_t dim, uint16_t *dst)
{
	const size_t kd = RDB_BAMX_KD(dim), nks = kd / 32;
	const size_t nq_pad = (nq + RDB_BAMX_BLOCK - 1) / RDB_BAMX_BLOCK * RDB_BAMX_BLOCK;
	int bad = 0;
	memset(dst, 0, nq_pad * 2 * kd * sizeof *dst);
	for (size_t q = 0; q < nq; q++) {
		uint16_t *hi = dst + (q / 16) * 2 * nks * TILE + (q % 16) * 32;
		uint16_t *lo = hi + nks * TILE;
		for (size_t d = 0; d < dim; d++) {
			const float x = Q[q * dim + d];
			if (!isfinite(x)) {
				bad = 1;
				continue;
			}
			const float h = round_bf16_1(x);
			const size_t at = (d / 32) * TILE + d % 32;
			hi[at] = bf16_bits(h);
			lo[at] = bf16_bits(x - h);
		}
	}
	return bad;
}

/* Palette 1: eight tiles of 16 rows x 64 bytes. Static, not built on the
 * stack: GCC's _tile_loadconfig tells the compiler it reads 8 bytes, so
 * stores to a local config beyond those may be dropped. */
static const struct {
	uint8_t palette, start_row, reserved[14];
	uint16_t colsb[16];
	uint8_t rows[16];
} __attribute__((aligned(64))) g_tile_cfg = {
	.palette = 1,
	.colsb = {64, 64, 64, 64, 64, 64, 64, 64},
	.rows = {16, 16, 16, 16, 16, 16, 16, 16},
};

void rdb_batch_amx_begin(void)
{
	_tile_loadconfig(&g_tile_cfg);
}

void rdb_batch_amx_end(void)
{
	/* Without the release the thread keeps 8 KB of live tile state that
	 * every context switch then saves and restores. */
	_tile_release();
}

/* Panel p of the run (vectors 16p.., zero rows past m) into hi and lo B
 * tiles; squared norms and non-finite values noted in r. */
static void pack_panel(rdb_bamx *r, size_t p)
{
	const size_t dim = r->dim, nks = RDB_BAMX_KD(dim) / 32;
	const size_t v0 = p * 16;
	const size_t live = r->m > v0 ? (r->m - v0 < 16 ? r->m - v0 : 16) : 0;
	uint16_t *hi_t = r->Vp + p * 2 * nks * TILE, *lo_t = hi_t + nks * TILE;
	float n2[16] = {0};
	__mmask16 bad = 0;
	for (size_t j = 0; j < nks; j++) {
		const size_t d0 = j * 32;
		const size_t n0 = dim - d0 < 16 ? dim - d0 : 16;
		const size_t n1 = dim - d0 > 16 ? (dim - d0 - 16 < 16 ? dim - d0 - 16 : 16) : 0;
		const __mmask16 m0 = (__mmask16)(n0 == 16 ? 0xffffu : (1u << n0) - 1u);
		const __mmask16 m1 = (__mmask16)(n1 == 16 ? 0xffffu : (1u << n1) - 1u);
		__m512 hi[16], lo[16];
		for (size_t i = 0; i < 16; i++) {
			__m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
			if (i < live) {
				const float *row = r->vecs + (v0 + i) * dim + d0;
				a0 = _mm512_maskz_loadu_ps(m0, row);
				a1 = _mm512_maskz_loadu_ps(m1, row + 16);
			}
			/* x - x is 0 unless x is NaN or infinite. */
			bad |= _mm512_cmp_ps_mask(_mm512_sub_ps(a0, a0), _mm512_setzero_ps(), _CMP_NEQ_UQ) |
			       _mm512_cmp_ps_mask(_mm512_sub_ps(a1, a1), _mm512_setzero_ps(), _CMP_NEQ_UQ);
			n2[i] += _mm512_reduce_add_ps(_mm512_fmadd_ps(a0, a0, _mm512_mul_ps(a1, a1)));
			const __m512 h0 = round_bf16(a0), h1 = round_bf16(a1);
			/* Word w of the pair vector is dim d0 + w: dword c holds dims
			 * 2c, 2c+1, the B tile's row c for this vector. */
			hi[i] = (__m512)_mm512_cvtne2ps_pbh(h1, h0);
			lo[i] = (__m512)_mm512_cvtne2ps_pbh(_mm512_sub_ps(a1, h1), _mm512_sub_ps(a0, h0));
		}
		transpose16(hi);
		transpose16(lo);
		for (size_t c = 0; c < 16; c++) {
			_mm512_store_ps((float *)(hi_t + j * TILE + c * 32), hi[c]);
			_mm512_store_ps((float *)(lo_t + j * TILE + c * 32), lo[c]);
		}
	}
	for (size_t i = 0; i < live; i++)
		if (n2[i] > r->maxnorm2 || isnan(n2[i]))
			r->maxnorm2 = n2[i];
	if (bad)
		r->nonfinite = 1;
}

/* Push the block's scores: tiles 0/1 are queries q0..q0+15 against vectors
 * v0..v0+15 / v0+16..v0+31, tiles 2/3 the next 16 queries. */
static void push_block(rdb_bamx *r, size_t q0, size_t v0)
{
	const size_t lq = r->nq - q0 < 32 ? r->nq - q0 : 32;
	const size_t lv = r->m - v0 < 32 ? r->m - v0 : 32;
	const uint32_t live = lv == 32 ? 0xffffffffu : (1u << lv) - 1u;
	for (size_t i = 0; i < lq; i++) {
		const float *s0 = r->tiles + (i < 16 ? 0 : 512) + (i % 16) * 16;
		const float *s1 = s0 + 256;
		float *thr = &r->thr[q0 + i];
		const __m512 t = _mm512_set1_ps(*thr);
		uint32_t pass = ((uint32_t)_mm512_cmp_ps_mask(_mm512_load_ps(s0), t, _CMP_NLT_UQ) |
		                 ((uint32_t)_mm512_cmp_ps_mask(_mm512_load_ps(s1), t, _CMP_NLT_UQ) << 16)) &
		                live;
		while (pass) {
			const unsigned j = (unsigned)__builtin_ctz(pass);
			pass &= pass - 1;
			if (r->ids[v0 + j] == 0)
				continue;
			rdb_bpush(&r->heaps[q0 + i], thr, j < 16 ? s0[j] : s1[j - 16],
			          (uint64_t)(r->pos + v0 + j) + 1);
		}
	}
}

void rdb_batch_run_amx(rdb_bamx *r)
{
	const size_t nks = RDB_BAMX_KD(r->dim) / 32;
	const size_t nblk_v = (r->m + 31) / 32;
	const size_t stride = 2 * nks * TILE; /* one tile row of queries or panel */
	for (size_t p = 0; p < 2 * nblk_v; p++)
		pack_panel(r, p);
	for (size_t q0 = 0; q0 < r->nq; q0 += 32) {
		const uint16_t *a0 = r->Qp + (q0 / 16) * stride, *a1 = a0 + stride;
		for (size_t vb = 0; vb < nblk_v; vb++) {
			const uint16_t *b0 = r->Vp + 2 * vb * stride, *b1 = b0 + stride;
			_tile_zero(0);
			_tile_zero(1);
			_tile_zero(2);
			_tile_zero(3);
			/* Each tile is loaded as soon as the last product reading it
			 * has been issued, so the loads overlap the other products
			 * (tiles are not renamed: a load waits for the readers of
			 * its register). */
			_tile_loadd(4, a0, 64);
			_tile_loadd(6, b0, 64);
			_tile_loadd(7, b1, 64);
			_tile_loadd(5, a1, 64);
			for (size_t j = 0; j < nks; j++) {
				const size_t hi = j * TILE, lo = (nks + j) * TILE;
				/* q_hi . x_hi */
				_tile_dpbf16ps(0, 4, 6);
				_tile_dpbf16ps(1, 4, 7);
				_tile_loadd(4, a0 + lo, 64);
				_tile_dpbf16ps(2, 5, 6);
				_tile_dpbf16ps(3, 5, 7);
				_tile_loadd(5, a1 + lo, 64);
				/* q_lo . x_hi */
				_tile_dpbf16ps(0, 4, 6);
				_tile_dpbf16ps(1, 4, 7);
				_tile_loadd(4, a0 + hi, 64);
				_tile_dpbf16ps(2, 5, 6);
				_tile_loadd(6, b0 + lo, 64);
				_tile_dpbf16ps(3, 5, 7);
				_tile_loadd(7, b1 + lo, 64);
				_tile_loadd(5, a1 + hi, 64);
				/* q_hi . x_lo, then the next dims' hi tiles */
				_tile_dpbf16ps(0, 4, 6);
				_tile_dpbf16ps(1, 4, 7);
				if (j + 1 < nks)
					_tile_loadd(4, a0 + hi + TILE, 64);
				_tile_dpbf16ps(2, 5, 6);
				if (j + 1 < nks)
					_tile_loadd(6, b0 + hi + TILE, 64);
				_tile_dpbf16ps(3, 5, 7);
				if (j + 1 < nks) {
					_tile_loadd(7, b1 + hi + TILE, 64);
					_tile_loadd(5, a1 + hi + TILE, 64);
				}
			}
			_tile_stored(0, r->tiles, 64);
			_tile_stored(1, r->tiles + 256, 64);
			_tile_stored(2, r->tiles + 512, 64);
			_tile_stored(3, r->tiles + 768, 64);
			push_block(r, q0, vb * 32);
		}
	}
}
