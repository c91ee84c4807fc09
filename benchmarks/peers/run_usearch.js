// benchmarks/peers/run_usearch.js — usearch (npm, its prebuilt linux-x64
// addon) for bench_peers.sh: build an HNSW index (metric ip, f32, on
// L2-normalised vectors) into a file in one process; in a new one, memory-
// map it with view() (cold start = view + the first query) and measure an
// expansion_search sweep (one Index object per value, each viewing the same
// file, since expansion_search is fixed at construction in the JS API).
//
//   node run_usearch.js build NODE_MODULES BASE.fbin INDEX_FILE CONNECTIVITY EF_ADD THREADS
//   node run_usearch.js query NODE_MODULES INDEX_FILE Q.fbin GT.ibin CONNECTIVITY SWEEP THREADS SINGLE_S K
'use strict';
const fs = require('fs');
const path = require('path');

function readBin(p, Ctor) {
  const buf = fs.readFileSync(p);
  const n = buf.readInt32LE(0), d = buf.readInt32LE(4);
  const data = new Ctor(buf.buffer.slice(buf.byteOffset + 8, buf.byteOffset + 8 + n * d * 4));
  return { n, d, data };
}

function memory() {
  const out = { rss_mb: Math.round(process.resourceUsage().maxRSS / 102.4) / 10 };
  for (const line of fs.readFileSync('/proc/self/status', 'utf8').split('\n')) {
    const m = /^(RssAnon|RssFile):\s+(\d+)/.exec(line);
    if (m) out[m[1] === 'RssAnon' ? 'rss_anon_mb' : 'rss_file_mb'] = Math.round(m[2] / 102.4) / 10;
  }
  return out;
}

function diskMb(p) {
  return Math.round(fs.statSync(p).blocks * 512 / 104857.6) / 10;
}

const now = () => Number(process.hrtime.bigint()) / 1e9;

function hits(keys, off, truth, toff, k) {
  const t = new Set();
  for (let j = 0; j < k; j++) t.add(truth[toff + j]);
  let h = 0;
  for (let j = 0; j < k; j++) if (t.has(Number(keys[off + j]))) h++;
  return h;
}

const [mode, nodeModules, ...a] = process.argv.slice(2);
const usearch = require(path.join(nodeModules, 'usearch'));
if (mode === 'build') {
  const [baseFile, indexFile, conn, efAdd, threads] = a;
  const base = readBin(baseFile, Float32Array);
  const t0 = now();
  const idx = new usearch.Index({ dimensions: base.d, metric: 'ip', quantization: 'f32',
    connectivity: +conn, expansion_add: +efAdd, expansion_search: 64 });
  const keys = new BigUint64Array(base.n);
  for (let i = 0; i < base.n; i++) keys[i] = BigInt(i);
  idx.add(keys, base.data, +threads);
  idx.save(indexFile);
  const t = now() - t0;
  console.log(JSON.stringify({ system: 'usearch', kind: `M${conn}`, build_s: +t.toFixed(3),
    build_rss_mb: memory().rss_mb, disk_mb: diskMb(indexFile), M: +conn, efConstruction: +efAdd,
    version: JSON.parse(fs.readFileSync(path.join(nodeModules, 'usearch', 'package.json'))).version }));
} else {
  const [indexFile, qFile, gtFile, conn, sweepS, threadsS, singleS, kS] = a;
  const q = readBin(qFile, Float32Array), gt = readBin(gtFile, Int32Array);
  const k = +kS, threads = +threadsS, single = +singleS;
  const sweep = sweepS.split(',').map(Number);
  fs.readFileSync(indexFile); // into the page cache
  const open = (ef) => {
    const idx = new usearch.Index({ dimensions: q.d, metric: 'ip', quantization: 'f32',
      connectivity: +conn, expansion_add: 128, expansion_search: ef });
    idx.view(indexFile);
    return idx;
  };
  let t0 = now();
  let idx = open(sweep[0]);
  idx.search(q.data.subarray(0, q.d), k, 1);
  const cold = (now() - t0) * 1e3;
  // Memory as after the first point: later points view the file again
  // through new Index objects, and the JS API cannot close the old ones.
  let mem = null;
  for (const ef of sweep) {
    if (ef !== sweep[0]) idx = open(ef);
    let done = 0, got = 0, el = 0;
    t0 = now();
    while (done < q.n && (done < 5 || el < single)) {
      const m = idx.search(q.data.subarray(done * q.d, (done + 1) * q.d), k, 1);
      got += hits(m.keys, 0, gt.data, done * gt.d, k);
      done++;
      el = now() - t0;
    }
    t0 = now();
    const b = idx.search(q.data, k, threads);
    const tb = now() - t0;
    let bh = 0;
    for (let i = 0; i < q.n; i++) bh += hits(b.keys, i * k, gt.data, i * gt.d, k);
    mem = mem || memory();
    console.log(JSON.stringify(Object.assign({ n_single: done, qps1: +(done / el).toFixed(3),
      recall_single: +(got / (done * k)).toFixed(5), qps_batch: +(q.n / tb).toFixed(3),
      batch_s: +tb.toFixed(4), recall: +(bh / (q.n * k)).toFixed(5), system: 'usearch',
      kind: `M${conn}`, param: ef, threads, cold_ms: +cold.toFixed(3) }, mem)));
  }
}
