// Causal attention, computed the same way for every query row whatever else runs with it: in
// prefill (t rows, threads splitting the heads) or decode (one row, threads splitting the
// positions), alone or in a batch, on any number of threads. Per row and head:
//   s_p = scale · q·k_p, each dot product two f32x4 chains over head_dim (even and odd vectors),
//     the hsum of their sum, then a plain multiply-add tail (prefill runs four positions side by
//     side sharing q; decode runs the heads of a row one after another, reading it as one run);
//   the positions go by fixed chunks of CHUNK from position 0; per chunk, m_c = max s_p,
//     e_p = exp(s_p − m_c), exactly 0 below e^-60, l_c = Σ e_p (four lanes from the chunk's
//     start, their sum, then the chunk's last length % 4 in order) and P_c = Σ e_p·v_p added
//     position after position (in memory, or for grouped heads in decode, where each value is
//     read `group` times, in registers over the chunk for 24 or 16 floats of a head at a time);
//   m = max m_c, β_c = exp(m_c − m) (exactly 0 below e^-60, exactly 1 for the largest);
//   o = β_0·P_0 + β_1·P_1 + ..., l = β_0·l_0 + β_1·l_1 + ..., in chunk order; out = o · (1 / l).
// A decode step's threads each take whole chunks (the flash-decoding split), which the caller
// merges in order: the thread count changes no bit.
// Grouped-query attention: q and out rows hold nHead heads, cache rows nKVHead, and query head h
// reads cache head ⌊h / group⌋, group = nHead / nKVHead. Only addresses depend on the grouping,
// never the arithmetic, so nKVHead = nHead gives multi-head attention's bits. Head loops step the
// cache head with a counter, started from kvHeadStart(h0) and h0 % group, rather than dividing
// per head: a division per head and position costs as much as a short dot product.
// The cache holds f32 (T = f32) or IEEE halves, read in registers as assembly/half.ts explains:
// T = u16 when q comes scaled by 2^112 (keys read as their values · 2^-112), i16 when q could
// not be scaled (keys widened to their values); values are read · 2^-112 against softmax
// weights · 2^112 either way. Every product is the f32 cache's for the same values, so an f16
// cache gives its bits.
import { exp4, hmax, hsum, madd, transposeSum4 } from "./math";
import { halfAt, halves4, moved4, movedAt, TWO_112 } from "./half";

/**
 * Weights below e^-60 of the largest are set to exactly 0: they change no f32 sum (whose largest
 * term is 1), and left in, their products with V are denormals, which x86 computes in
 * microcode at ~100x the cost — wasm cannot turn on flush-to-zero.
 */
const CUTOFF: f32 = -60;

/** How the cache is read (the host's KVMode, src/kernels/wasm/job-args.ts): f32; halves with q scaled by 2^112; halves. */
const KV_F32: i32 = 0;
const KV_HALVES_SCALED_Q: i32 = 1;
const KV_HALVES: i32 = 2;

/** Positions per chunk: the unit of the decode split across threads. */
export const CHUNK: i32 = 32;

/** Byte offset in a cache row of element c/4 (c a byte offset into an f32 row): c for f32, c/2 for halves. */
@inline
function at<T>(c: usize): usize {
  return sizeof<T>() == 4 ? c : c >> 1;
}

/** Four keys at p, as q is scaled to be multiplied by them. */
@inline
function key4<T>(p: usize): v128 {
  if (sizeof<T>() == 4) return v128.load(p);
  if (isSigned<T>()) return halves4(v128.load16x4_s(p));
  return moved4(v128.load16x4_s(p));
}

/** One key at p, as key4 reads it. */
@inline
function key1<T>(p: usize): f32 {
  if (sizeof<T>() == 4) return load<f32>(p);
  if (isSigned<T>()) return halfAt(p);
  return movedAt(p);
}

/** Four values at p: f32, or halves · 2^-112. */
@inline
function value4<T>(p: usize): v128 {
  if (sizeof<T>() == 4) return v128.load(p);
  return moved4(v128.load16x4_s(p));
}

/** One value at p, as value4 reads it. */
@inline
function value1<T>(p: usize): f32 {
  if (sizeof<T>() == 4) return load<f32>(p);
  return movedAt(p);
}

/** A softmax weight, scaled as values read by value4 need: by 2^112 against halves. */
@inline
function weight1<T>(w: f32): f32 {
  if (sizeof<T>() == 4) return w;
  return w * TWO_112;
}

/** Four softmax weights, scaled as weight1 scales one. */
@inline
function weights4<T>(w: v128): v128 {
  if (sizeof<T>() == 4) return w;
  return f32x4.mul(w, f32x4.splat(TWO_112));
}

/**
 * q·k over d floats: two f32x4 chains, the first over vectors 0, 2, 4, ... (and a last odd one),
 * the second over 1, 3, 5, ...; the hsum of their sum; then the d % 4 tail with a plain multiply
 * and add.
 */
@inline
function dot1<T>(q: usize, k: usize, d: i32): f32 {
  let a = f32x4.splat(0), b = f32x4.splat(0);
  const pairBytes = <usize>(d & ~7) << 2;
  let c: usize = 0;
  for (; c < pairBytes; c += 32) {
    a = madd(v128.load(q + c), key4<T>(k + at<T>(c)), a);
    b = madd(v128.load(q + c, 16), key4<T>(k + at<T>(c + 16)), b);
  }
  if (d & 4) {
    a = madd(v128.load(q + c), key4<T>(k + at<T>(c)), a);
    c += 16;
  }
  let s = hsum(f32x4.add(a, b));
  const bytes = <usize>d << 2;
  for (; c < bytes; c += 4) s += load<f32>(q + c) * key1<T>(k + at<T>(c));
  return s;
}

/**
 * [q·k0, q·k1, q·k2, q·k3] · scale for four cache rows `stride` bytes apart: four dot1 side by
 * side (eight chains) sharing each q load.
 */
@inline
function dot4rows<T>(q: usize, k: usize, stride: usize, d: i32, scale: f32): v128 {
  const k1 = k + stride, k2 = k1 + stride, k3 = k2 + stride;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  const pairBytes = <usize>(d & ~7) << 2;
  let c: usize = 0;
  for (; c < pairBytes; c += 32) {
    const qa = v128.load(q + c), qb = v128.load(q + c, 16);
    const ca = at<T>(c), cb = at<T>(c + 16);
    a0 = madd(qa, key4<T>(k + ca), a0);
    b0 = madd(qb, key4<T>(k + cb), b0);
    a1 = madd(qa, key4<T>(k1 + ca), a1);
    b1 = madd(qb, key4<T>(k1 + cb), b1);
    a2 = madd(qa, key4<T>(k2 + ca), a2);
    b2 = madd(qb, key4<T>(k2 + cb), b2);
    a3 = madd(qa, key4<T>(k3 + ca), a3);
    b3 = madd(qb, key4<T>(k3 + cb), b3);
  }
  if (d & 4) {
    const qa = v128.load(q + c), ca = at<T>(c);
    a0 = madd(qa, key4<T>(k + ca), a0);
    a1 = madd(qa, key4<T>(k1 + ca), a1);
    a2 = madd(qa, key4<T>(k2 + ca), a2);
    a3 = madd(qa, key4<T>(k3 + ca), a3);
    c += 16;
  }
  let s = transposeSum4(f32x4.add(a0, b0), f32x4.add(a1, b1), f32x4.add(a2, b2), f32x4.add(a3, b3));
  const bytes = <usize>d << 2;
  for (; c < bytes; c += 4) {
    const ck = at<T>(c);
    const kv = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(key1<T>(k + ck)),
      1, key1<T>(k1 + ck)), 2, key1<T>(k2 + ck)), 3, key1<T>(k3 + ck));
    s = f32x4.add(s, f32x4.mul(f32x4.splat(load<f32>(q + c)), kv));
  }
  return f32x4.mul(s, f32x4.splat(scale));
}

/** Byte offset in a cache row of the head query head h0 reads. */
@inline
function kvHeadStart(h0: i32, group: i32, headBytes: usize): usize {
  return <usize>(h0 / group) * headBytes;
}

/**
 * Scores of one cache row for heads [h0, h1): s[h·strideBytes] = scale · q_h·k_⌊h/group⌋, head
 * after head, so the row is read as one run; out-of-order execution overlaps the heads' chains.
 * kh0 is kvHeadStart(h0) and g0 = h0 % group; q heads are headBytes apart, cache heads kvHeadBytes.
 */
@inline
function rowScores<T>(q: usize, kr: usize, headBytes: usize, kvHeadBytes: usize, group: i32, kh0: usize, g0: i32, h0: i32, h1: i32, d: i32, scale: f32, s: usize, strideBytes: usize): void {
  let sh = s + <usize>h0 * strideBytes;
  let kh = kh0, g = g0;
  for (let o = <usize>h0 * headBytes, end = <usize>h1 * headBytes; o < end; o += headBytes) {
    store<f32>(sh, dot1<T>(q + o, kr + kh, d) * scale);
    sh += strideBytes;
    if (++g == group) {
      g = 0;
      kh += kvHeadBytes;
    }
  }
}

/**
 * One word of every 64 bytes of the cache rows of positions [p0, p1), or-ed together: read in
 * order, they bring the rows into cache at the memory's pace before they are read head after
 * head. The caller keeps the result, since a read whose result goes nowhere may be dropped.
 */
@inline
function touchRows(base: usize, table: usize, blockSize: i32, rowBytes: usize, p0: i32, p1: i32): i32 {
  let touched = 0;
  for (let p = p0; p < p1; ) {
    const run = min(blockSize - p % blockSize, p1 - p);
    const r = rowAt(base, table, blockSize, rowBytes, p);
    const end = r + <usize>run * rowBytes;
    for (let b = r; b < end; b += 64) touched |= load<i32>(b);
    p += run;
  }
  return touched;
}

/** o[0..d) = a·v[0..d) + o[0..d): one position's term of an output. */
@inline
function axpy1<T>(o: usize, v: usize, a: f32, d: i32): void {
  const av = f32x4.splat(a);
  const end4 = o + (<usize>(d & ~3) << 2);
  while (o < end4) {
    v128.store(o, madd(av, value4<T>(v), v128.load(o)));
    o += 16;
    v += sizeof<T>() << 2;
  }
  const end = end4 + (<usize>(d & 3) << 2);
  while (o < end) {
    store<f32>(o, load<f32>(o) + a * value1<T>(v));
    o += 4;
    v += sizeof<T>();
  }
}

/** axpy1 for four cache rows `stride` bytes apart with weights w, in row order; o read and written once. */
@inline
function axpy4<T>(o: usize, v: usize, stride: usize, w: v128, d: i32): void {
  const v1 = v + stride, v2 = v1 + stride, v3 = v2 + stride;
  const w0 = v128.shuffle<f32>(w, w, 0, 0, 0, 0), w1 = v128.shuffle<f32>(w, w, 1, 1, 1, 1);
  const w2 = v128.shuffle<f32>(w, w, 2, 2, 2, 2), w3 = v128.shuffle<f32>(w, w, 3, 3, 3, 3);
  const vecBytes = <usize>(d & ~3) << 2;
  for (let c: usize = 0; c < vecBytes; c += 16) {
    const cv = at<T>(c);
    let acc = madd(w0, value4<T>(v + cv), v128.load(o + c));
    acc = madd(w1, value4<T>(v1 + cv), acc);
    acc = madd(w2, value4<T>(v2 + cv), acc);
    v128.store(o + c, madd(w3, value4<T>(v3 + cv), acc));
  }
  const bytes = <usize>d << 2;
  const a0 = f32x4.extract_lane(w, 0), a1 = f32x4.extract_lane(w, 1);
  const a2 = f32x4.extract_lane(w, 2), a3 = f32x4.extract_lane(w, 3);
  for (let c = vecBytes; c < bytes; c += 4) {
    const cv = at<T>(c);
    let acc = load<f32>(o + c) + a0 * value1<T>(v + cv);
    acc += a1 * value1<T>(v1 + cv);
    acc += a2 * value1<T>(v2 + cv);
    store<f32>(o + c, acc + a3 * value1<T>(v3 + cv));
  }
}

/** The cache row of position p: block tables map blocks of blockSize positions to pool blocks. */
@inline
function rowAt(base: usize, table: usize, blockSize: i32, rowBytes: usize, p: i32): usize {
  const blk = p / blockSize;
  const slot = load<i32>(table + (<usize>blk << 2)) * blockSize + (p - blk * blockSize);
  return base + <usize>slot * rowBytes;
}

@inline
function expCut(d: f32): f32 {
  return d > CUTOFF ? f32x4.extract_lane(exp4(f32x4.splat(d)), 0) : 0;
}

@inline
function maxOf(scores: usize, count: i32): f32 {
  const end4 = scores + (<usize>(count & ~3) << 2);
  const end = scores + (<usize>count << 2);
  let m4 = f32x4.splat(-Infinity);
  let p = scores;
  for (; p < end4; p += 16) m4 = f32x4.pmax(m4, v128.load(p));
  let mx = hmax(m4);
  for (; p < end; p += 4) mx = max(mx, load<f32>(p));
  return mx;
}

/** scores[0..count) = exp(scores − mx), exactly 0 below the cutoff; returns their sum l_c. */
@inline
function expSum(scores: usize, count: i32, mx: f32): f32 {
  const end4 = scores + (<usize>(count & ~3) << 2);
  const end = scores + (<usize>count << 2);
  const m = f32x4.splat(mx);
  const cut = f32x4.splat(CUTOFF);
  let acc = f32x4.splat(0);
  let p = scores;
  for (; p < end4; p += 16) {
    const d = f32x4.sub(v128.load(p), m);
    const e = v128.and(exp4(d), f32x4.gt(d, cut));
    v128.store(p, e);
    acc = f32x4.add(acc, e);
  }
  let sum = hsum(acc);
  for (; p < end; p += 4) {
    const d = load<f32>(p) - mx;
    const e: f32 = d > CUTOFF ? f32x4.extract_lane(exp4(f32x4.splat(d)), 0) : 0;
    store<f32>(p, e);
    sum += e;
  }
  return sum;
}

/**
 * Scores of cache rows [p0, p1) (kvRowBytes each) against one query row for heads [h0, h1), at
 * scores + h·strideBytes + 4p. `four` takes four rows at a time sharing each q load, which
 * pays when the rows come from cache (prefill, where every query row rereads them); a decode
 * step streams each row once from DRAM, and several row streams at once cost bandwidth.
 */
@inline
function scoreRows<T>(q: usize, k: usize, table: usize, blockSize: i32, kvRowBytes: usize, headBytes: usize, group: i32, d: i32,
  h0: i32, h1: i32, p0: i32, p1: i32, scores: usize, strideBytes: usize, scale: f32, four: bool): void {
  const begin = <usize>h0 * headBytes, end = <usize>h1 * headBytes;
  const kvHeadBytes = <usize>d * sizeof<T>();
  const kh0 = kvHeadStart(h0, group, kvHeadBytes), g0 = h0 % group;
  // Within a block consecutive positions are consecutive rows.
  for (let p = p0; p < p1; ) {
    const run = min(blockSize - p % blockSize, p1 - p);
    const kr = rowAt(k, table, blockSize, kvRowBytes, p);
    const s = scores + (<usize>p << 2);
    let j = 0;
    for (; four && j + 4 <= run; j += 4) {
      const kj = kr + <usize>j * kvRowBytes;
      let sh = s + (<usize>j << 2) + <usize>h0 * strideBytes;
      let kh = kh0, g = g0;
      for (let h = begin; h < end; h += headBytes) {
        v128.store(sh, dot4rows<T>(q + h, kj + kh, kvRowBytes, d, scale));
        sh += strideBytes;
        if (++g == group) {
          g = 0;
          kh += kvHeadBytes;
        }
      }
    }
    for (; j < run; j++) rowScores<T>(q, kr + <usize>j * kvRowBytes, headBytes, kvHeadBytes, group, kh0, g0, h0, h1, d, scale, s + (<usize>j << 2), strideBytes);
    p += run;
  }
}

/**
 * P = Σ_p e_p·v_p over positions [p0, p1) (cache rows of kvRowBytes) for heads [h0, h1), P_h at
 * o + h·headBytes (zeroed here), position-major so that each cache row's part is read in one run.
 */
@inline
function chunkValues<T>(o: usize, v: usize, table: usize, blockSize: i32, kvRowBytes: usize, headBytes: usize, group: i32, d: i32,
  h0: i32, h1: i32, p0: i32, p1: i32, scores: usize, strideBytes: usize, four: bool): void {
  const begin = <usize>h0 * headBytes, end = <usize>h1 * headBytes;
  const kvHeadBytes = <usize>d * sizeof<T>();
  const kh0 = kvHeadStart(h0, group, kvHeadBytes), g0 = h0 % group;
  zero(o + begin, end - begin);
  for (let p = p0; p < p1; ) {
    const run = min(blockSize - p % blockSize, p1 - p);
    const vr = rowAt(v, table, blockSize, kvRowBytes, p);
    const s = scores + (<usize>p << 2);
    let j = 0;
    for (; four && j + 4 <= run; j += 4) {
      const vj = vr + <usize>j * kvRowBytes;
      let sh = s + (<usize>j << 2) + <usize>h0 * strideBytes;
      let kh = kh0, g = g0;
      for (let h = begin; h < end; h += headBytes) {
        axpy4<T>(o + h, vj + kh, kvRowBytes, weights4<T>(v128.load(sh)), d);
        sh += strideBytes;
        if (++g == group) {
          g = 0;
          kh += kvHeadBytes;
        }
      }
    }
    for (; j < run; j++) {
      const vj = vr + <usize>j * kvRowBytes;
      let sh = s + (<usize>j << 2) + <usize>h0 * strideBytes;
      let kh = kh0, g = g0;
      for (let h = begin; h < end; h += headBytes) {
        axpy1<T>(o + h, vj + kh, weight1<T>(load<f32>(sh)), d);
        sh += strideBytes;
        if (++g == group) {
          g = 0;
          kh += kvHeadBytes;
        }
      }
    }
    p += run;
  }
}

/**
 * Six vectors (24 floats, `wide`) or four (16) of one head's P over positions [p0, p1):
 * o = Σ_p w_p·v_p with w_p = weight1(s[p]) and v_p the values at v in position p's cache row
 * (blocks from blk0, p0 at off0 in it). Each vector is one register that axpy1's terms are added
 * to in axpy1's order (from 0, one madd per position), so the bits are chunkValues', without
 * reading and writing o at every position. Six at most: with the six values loaded, the weight
 * and a scratch register, more would not fit in x64's sixteen and spill. `wide` is a constant at
 * every call, so each inlined copy keeps only its own registers.
 */
@inline
function values6<T>(o: usize, v: usize, table: usize, blockSize: i32, kvRowBytes: usize, blk0: i32, off0: i32, p0: i32, p1: i32, s: usize, wide: bool): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0), a4 = f32x4.splat(0), a5 = f32x4.splat(0);
  let sp = s + (<usize>p0 << 2);
  const send = s + (<usize>p1 << 2);
  for (let blk = blk0, off = off0; sp < send; blk++, off = 0) {
    let r = v + <usize>(load<i32>(table + (<usize>blk << 2)) * blockSize + off) * kvRowBytes;
    const se = min(sp + (<usize>(blockSize - off) << 2), send);
    for (; sp < se; sp += 4, r += kvRowBytes) {
      const w = f32x4.splat(weight1<T>(load<f32>(sp)));
      a0 = madd(w, value4<T>(r), a0);
      a1 = madd(w, value4<T>(r + at<T>(16)), a1);
      a2 = madd(w, value4<T>(r + at<T>(32)), a2);
      a3 = madd(w, value4<T>(r + at<T>(48)), a3);
      if (wide) {
        a4 = madd(w, value4<T>(r + at<T>(64)), a4);
        a5 = madd(w, value4<T>(r + at<T>(80)), a5);
      }
    }
  }
  v128.store(o, a0);
  v128.store(o, a1, 16);
  v128.store(o, a2, 32);
  v128.store(o, a3, 48);
  if (wide) {
    v128.store(o, a4, 64);
    v128.store(o, a5, 80);
  }
}

/** values6 for one vector (4 floats). */
@inline
function values1<T>(o: usize, v: usize, table: usize, blockSize: i32, kvRowBytes: usize, blk0: i32, off0: i32, p0: i32, p1: i32, s: usize): void {
  let a = f32x4.splat(0);
  let sp = s + (<usize>p0 << 2);
  const send = s + (<usize>p1 << 2);
  for (let blk = blk0, off = off0; sp < send; blk++, off = 0) {
    let r = v + <usize>(load<i32>(table + (<usize>blk << 2)) * blockSize + off) * kvRowBytes;
    const se = min(sp + (<usize>(blockSize - off) << 2), send);
    for (; sp < se; sp += 4, r += kvRowBytes) a = madd(f32x4.splat(weight1<T>(load<f32>(sp))), value4<T>(r), a);
  }
  v128.store(o, a);
}

/** values6 for one float past the last whole vector: axpy1's plain multiply and add. */
@inline
function valuesTail<T>(o: usize, v: usize, table: usize, blockSize: i32, kvRowBytes: usize, blk0: i32, off0: i32, p0: i32, p1: i32, s: usize): void {
  let a: f32 = 0;
  let sp = s + (<usize>p0 << 2);
  const send = s + (<usize>p1 << 2);
  for (let blk = blk0, off = off0; sp < send; blk++, off = 0) {
    let r = v + <usize>(load<i32>(table + (<usize>blk << 2)) * blockSize + off) * kvRowBytes;
    const se = min(sp + (<usize>(blockSize - off) << 2), send);
    for (; sp < se; sp += 4, r += kvRowBytes) a = a + weight1<T>(load<f32>(sp)) * value1<T>(r);
  }
  store<f32>(o, a);
}

/**
 * chunkValues' P for all nHead heads of a decode row, head after head: each head's output
 * accumulated in registers, 24 or 16 floats at a time, over the chunk's positions.
 */
@inline
function chunkValuesByHead<T>(o: usize, v: usize, table: usize, blockSize: i32, kvRowBytes: usize, headBytes: usize, group: i32, d: i32,
  nHead: i32, p0: i32, p1: i32, scores: usize, strideBytes: usize): void {
  const kvHeadBytes = <usize>d * sizeof<T>();
  const vecBytes = <usize>(d & ~3) << 2, bytes = <usize>d << 2;
  // The block of p0 and p0's place in it, found once: each head's pass starts there.
  const blk0 = p0 / blockSize, off0 = p0 - blk0 * blockSize;
  let kh: usize = 0, g = 0;
  for (let h = 0; h < nHead; h++) {
    const oh = o + <usize>h * headBytes, vh = v + kh, sh = scores + <usize>h * strideBytes;
    let c: usize = 0;
    for (; c + 96 <= vecBytes; c += 96) values6<T>(oh + c, vh + at<T>(c), table, blockSize, kvRowBytes, blk0, off0, p0, p1, sh, true);
    for (; c + 64 <= vecBytes; c += 64) values6<T>(oh + c, vh + at<T>(c), table, blockSize, kvRowBytes, blk0, off0, p0, p1, sh, false);
    for (; c < vecBytes; c += 16) values1<T>(oh + c, vh + at<T>(c), table, blockSize, kvRowBytes, blk0, off0, p0, p1, sh);
    for (; c < bytes; c += 4) valuesTail<T>(oh + c, vh + at<T>(c), table, blockSize, kvRowBytes, blk0, off0, p0, p1, sh);
    if (++g == group) {
      g = 0;
      kh += kvHeadBytes;
    }
  }
}

/**
 * bytes (a multiple of 4) of zeros at p. memory.fill is a call into the engine, which costs more
 * than these few stores at the sizes here.
 */
@inline
function zero(p: usize, bytes: usize): void {
  const end = p + bytes;
  const end16 = p + (bytes & ~15);
  for (; p < end16; p += 16) v128.store(p, f32x4.splat(0));
  for (; p < end; p += 4) store<f32>(p, 0);
}

/** o[0..d) = o + b·p, a plain multiply and add */
@inline
function addScaled(o: usize, p: usize, b: f32, d: i32): void {
  const bv = f32x4.splat(b);
  const end4 = <usize>(d & ~3) << 2;
  let c: usize = 0;
  for (; c < end4; c += 16) v128.store(o + c, f32x4.add(v128.load(o + c), f32x4.mul(bv, v128.load(p + c))));
  const bytes = <usize>d << 2;
  for (; c < bytes; c += 4) store<f32>(o + c, load<f32>(o + c) + b * load<f32>(p + c));
}

/** o[0..d) ·= b */
@inline
function scaleRow(o: usize, b: f32, d: i32): void {
  const bv = f32x4.splat(b);
  const end4 = <usize>(d & ~3) << 2;
  let c: usize = 0;
  for (; c < end4; c += 16) v128.store(o + c, f32x4.mul(v128.load(o + c), bv));
  const bytes = <usize>d << 2;
  for (; c < bytes; c += 4) store<f32>(o + c, load<f32>(o + c) * b);
}

/**
 * Chunk c's [m_c, l_c] at stat and its e_p in place of its scores, for heads [h0, h1) of one
 * query row; stats of head h at stats + h·headStride, of chunk c ... + c·chunkStride.
 */
@inline
function chunkStats(scores: usize, strideBytes: usize, p0: i32, n: i32, h0: i32, h1: i32, stats: usize, headStride: usize): void {
  for (let h = h0; h < h1; h++) {
    const s = scores + <usize>h * strideBytes + (<usize>p0 << 2);
    const st = stats + <usize>h * headStride;
    const mc = maxOf(s, n);
    store<f32>(st, mc);
    store<f32>(st, expSum(s, n, mc), 4);
  }
}

/** The largest m_c of `chunks` stats `chunkStride` bytes apart. */
@inline
function maxOfChunks(st: usize, chunks: i32, chunkStride: usize): f32 {
  let m: f32 = -Infinity;
  for (let c = 0; c < chunks; c++, st += chunkStride) m = max(m, load<f32>(st));
  return m;
}

/**
 * Turns a head's [m_c, l_c] into [β_c, β_c·l_c] in place and returns l = Σ β_c·l_c, the sum in
 * chunk order.
 */
@inline
function chunkWeights(st: usize, chunks: i32, chunkStride: usize): f32 {
  const m = maxOfChunks(st, chunks, chunkStride);
  let l: f32 = 0;
  for (let c = 0; c < chunks; c++, st += chunkStride) {
    const b = expCut(load<f32>(st) - m);
    const t = b * load<f32>(st, 4);
    store<f32>(st, b);
    l = c == 0 ? t : l + t;
  }
  return l;
}

/**
 * Adds chunk c to a head's output o, given β_c: o = β_0·P_0 for the first chunk (P_0 is already
 * in o, and β = 1 leaves it as it is), o + β_c·P_c after it.
 */
@inline
function mergeChunk(o: usize, partial: usize, b: f32, c: i32, d: i32): void {
  if (c > 0) addScaled(o, partial, b, d);
  else if (b != 1) scaleRow(o, b, d);
}

/**
 * Prefill: t query rows at positions [pos, pos + t), heads [h0, h1). Each head owns its row of
 * scores in scratch (stride pos + t), and in `work` its P_c (headDim floats at h·headDim) and
 * [m_c, l_c] (2 floats per chunk from nHead·headDim + 2h·chunks, chunks = ⌈(pos + t) / CHUNK⌉),
 * so threads can take disjoint head ranges. kvMode: KV_F32, KV_HALVES_SCALED_Q or KV_HALVES.
 */
export function attention(
  out: usize, q: usize, k: usize, v: usize, table: usize, blockSize: i32,
  pos: i32, t: i32, nHead: i32, nKVHead: i32, headDim: i32, scratch: usize, work: usize, h0: i32, h1: i32, kvMode: i32,
): void {
  if (kvMode == KV_F32) attentionOf<f32>(out, q, k, v, table, blockSize, pos, t, nHead, nKVHead, headDim, scratch, work, h0, h1);
  else if (kvMode == KV_HALVES_SCALED_Q) attentionOf<u16>(out, q, k, v, table, blockSize, pos, t, nHead, nKVHead, headDim, scratch, work, h0, h1);
  else attentionOf<i16>(out, q, k, v, table, blockSize, pos, t, nHead, nKVHead, headDim, scratch, work, h0, h1);
}

function attentionOf<T>(
  out: usize, q: usize, k: usize, v: usize, table: usize, blockSize: i32,
  pos: i32, t: i32, nHead: i32, nKVHead: i32, headDim: i32, scratch: usize, work: usize, h0: i32, h1: i32,
): void {
  const headBytes = <usize>headDim << 2;
  const rowBytes = <usize>nHead * headBytes;
  const kvRowBytes = <usize>nKVHead * headDim * sizeof<T>();
  const group = nHead / nKVHead;
  const strideBytes = <usize>(pos + t) << 2;
  const scale = <f32>(1 / Math.sqrt(<f64>headDim));
  const headStats = <usize>((pos + t + CHUNK - 1) / CHUNK) << 3;
  const stats = work + rowBytes;
  for (let i = 0; i < t; i++) {
    const oi = out + <usize>i * rowBytes;
    const visible = pos + i + 1;
    const chunks = (visible + CHUNK - 1) / CHUNK;
    scoreRows<T>(q + <usize>i * rowBytes, k, table, blockSize, kvRowBytes, headBytes, group, headDim, h0, h1, 0, visible, scratch, strideBytes, scale, true);
    for (let c = 0; c < chunks; c++) {
      const p0 = c * CHUNK;
      chunkStats(scratch, strideBytes, p0, min(CHUNK, visible - p0), h0, h1, stats + (<usize>c << 3), headStats);
    }
    // Each head's 1 / l waits in its first chunk's l_c slot, no longer needed.
    for (let h = h0; h < h1; h++) {
      const st = stats + <usize>h * headStats;
      store<f32>(st, <f32>1 / chunkWeights(st, chunks, 8), 4);
    }
    // P_0 goes straight to the output, P_c of later chunks through `work`.
    for (let c = 0; c < chunks; c++) {
      const p0 = c * CHUNK;
      chunkValues<T>(c == 0 ? oi : work, v, table, blockSize, kvRowBytes, headBytes, group, headDim, h0, h1, p0, min(p0 + CHUNK, visible), scratch, strideBytes, true);
      for (let h = h0; h < h1; h++) {
        mergeChunk(oi + <usize>h * headBytes, work + <usize>h * headBytes, load<f32>(stats + <usize>h * headStats + (<usize>c << 3)), c, headDim);
      }
    }
    for (let h = h0; h < h1; h++) scaleRow(oi + <usize>h * headBytes, load<f32>(stats + <usize>h * headStats, 4), headDim);
  }
}

/**
 * Decode: chunks [c0, c1) of one query row over `visible` positions, all heads; each thread
 * reads whole K and V rows. Chunk c writes [m_c, l_c] of head h at stats + 8(c·nHead + h) and
 * P_c (nHead·headDim floats) at partials + c·nHead·headDim floats, chunk 0's at `out`. Score
 * rows are `visible` apart.
 */
function attnChunks<T>(out: usize, q: usize, k: usize, v: usize, table: usize, blockSize: i32, nHead: i32, nKVHead: i32, headDim: i32,
  scores: usize, visible: i32, stats: usize, partials: usize, c0: i32, c1: i32): void {
  const headBytes = <usize>headDim << 2;
  const rowBytes = <usize>nHead * headBytes;
  const kvRowBytes = <usize>nKVHead * headDim * sizeof<T>();
  const group = nHead / nKVHead;
  const strideBytes = <usize>visible << 2;
  const scale = <f32>(1 / Math.sqrt(<f64>headDim));
  // All the K rows, then all the V rows: switching between the two streams chunk by chunk
  // costs more with the cache cold (the prefetchers start over at each switch).
  const end = min(c1 * CHUNK, visible);
  scoreRows<T>(q, k, table, blockSize, kvRowBytes, headBytes, group, headDim, 0, nHead, c0 * CHUNK, end, scores, strideBytes, scale, false);
  for (let c = c0; c < c1; c++) {
    const p0 = c * CHUNK;
    chunkStats(scores, strideBytes, p0, min(CHUNK, visible - p0), 0, nHead, stats + ((<usize>c * <usize>nHead) << 3), 8);
  }
  if (group == 1) {
    // Each cache head serves one query head: little arithmetic per byte, so the V rows are
    // best streamed position after position.
    for (let c = c0; c < c1; c++) {
      const p0 = c * CHUNK, p1 = min(p0 + CHUNK, visible);
      chunkValues<T>(c == 0 ? out : partials + <usize>c * rowBytes, v, table, blockSize, kvRowBytes, headBytes, group, headDim, 0, nHead, p0, p1, scores, strideBytes, false);
    }
    return;
  }
  // Grouped heads read each value `group` times: the arithmetic dominates, and each head's
  // output stays in registers over a chunk, whose rows are brought into cache in order first.
  let touched = 0;
  for (let c = c0; c < c1; c++) {
    const p0 = c * CHUNK, p1 = min(p0 + CHUNK, visible);
    touched |= touchRows(v, table, blockSize, kvRowBytes, p0, p1);
    chunkValuesByHead<T>(c == 0 ? out : partials + <usize>c * rowBytes, v, table, blockSize, kvRowBytes, headBytes, group, headDim, nHead, p0, p1, scores, strideBytes);
  }
  // Keeps the reads; the scores are spent.
  store<i32>(scores + (<usize>(c0 * CHUNK) << 2), touched);
}

/** Decode, after every chunk is done: merges them into out, in order, head by head. */
export function attnCombine(out: usize, partials: usize, stats: usize, chunks: i32, nHead: i32, headDim: i32): void {
  const headBytes = <usize>headDim << 2;
  const rowBytes = <usize>nHead * headBytes;
  const chunkStride = <usize>nHead << 3;
  for (let h = 0; h < nHead; h++) {
    const o = out + <usize>h * headBytes;
    const st = stats + (<usize>h << 3);
    const inv = <f32>1 / chunkWeights(st, chunks, chunkStride);
    for (let c = 0; c < chunks; c++) {
      mergeChunk(o, partials + <usize>c * rowBytes + <usize>h * headBytes, load<f32>(st + <usize>c * chunkStride), c, headDim);
    }
    scaleRow(o, inv, headDim);
  }
}

/**
 * Decode for a batch of sequences, one new token each: items [i0, i1) of all their position
 * chunks, numbered sequence after sequence. Sequence i is described by 12 i32 at desc + 48i
 * (DecodeDesc in src/kernels/wasm/job-args.ts): out,
 * q, k, v, table, blockSize, scores, visible, stats, partials (as attnChunks takes them), its first
 * item and its number of chunks. Each chunk is computed as attnChunks computes it alone. kvMode
 * as attention takes it, for all the sequences.
 */
export function attnBatchChunks(desc: usize, count: i32, i0: i32, i1: i32, nHead: i32, nKVHead: i32, headDim: i32, kvMode: i32): void {
  if (kvMode == KV_F32) batchChunksOf<f32>(desc, count, i0, i1, nHead, nKVHead, headDim);
  else if (kvMode == KV_HALVES_SCALED_Q) batchChunksOf<u16>(desc, count, i0, i1, nHead, nKVHead, headDim);
  else batchChunksOf<i16>(desc, count, i0, i1, nHead, nKVHead, headDim);
}

function batchChunksOf<T>(desc: usize, count: i32, i0: i32, i1: i32, nHead: i32, nKVHead: i32, headDim: i32): void {
  for (let i = 0; i < count; i++, desc += 48) {
    const first = load<i32>(desc, 40);
    const c0 = max(i0, first) - first;
    const c1 = min(i1, first + load<i32>(desc, 44)) - first;
    if (c0 >= c1) continue;
    attnChunks<T>(load<usize>(desc), load<usize>(desc, 4), load<usize>(desc, 8), load<usize>(desc, 12), load<usize>(desc, 16), load<i32>(desc, 20),
      nHead, nKVHead, headDim, load<usize>(desc, 24), load<i32>(desc, 28), load<usize>(desc, 32), load<usize>(desc, 36), c0, c1);
  }
}

/** CHUNK for the host, which sizes the decode split and its buffers. */
export function attnChunkPositions(): i32 {
  return CHUNK;
}
