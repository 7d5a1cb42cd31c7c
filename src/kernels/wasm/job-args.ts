/** Control-block index of the current job's opcode (jobs.ts); its argument words follow. */
export const OP = 64;
export const ARG = OP + 1;

/** Argument words a job may use: with its opcode they fill one 64-byte line of the control block. */
const ARG_SLOTS = 15;

/**
 * A kernel's argument layout: each name gets the control-block index of its word, in order. The
 * backend writes `a[MatmulQ8.rows] = rows` and runJob reads `a[MatmulQ8.rows]`, so the two sides
 * cannot disagree about which slot means what.
 */
function layout<const K extends string>(first: number, ...names: K[]): Readonly<Record<K, number>> {
  const slots = {} as Record<K, number>;
  names.forEach((name, i) => (slots[name] = first + i));
  return Object.freeze(slots);
}

function args<const K extends string>(...names: K[]): Readonly<Record<K, number>> {
  if (names.length > ARG_SLOTS) throw new Error(`a job has at most ${ARG_SLOTS} argument words, got ${names.length}`);
  return layout(ARG, ...names);
}

/** f32 and f16 weights; `scratch` is split into `scratchPerThread` bytes per thread. f16 only: `xScaled`. */
export const MatmulArgs = args("out", "x", "w", "bias", "n", "rows", "cols", "scratch", "scratchPerThread", "xScaled");
/** q8 weights against f32 activations. */
export const MatmulQ8F32Args = args("out", "x", "wq", "ws", "bias", "n", "rows", "cols");
/**
 * q8 weights against activations quantized to `xq` with block scales `xs`, and those of each four
 * rows side by side in `xst`; `scratch` is split into `scratchPerThread` bytes per thread.
 */
export const MatmulQ8Args = args("out", "xq", "xs", "xst", "wq", "ws", "bias", "n", "rows", "cols", "scratch", "scratchPerThread");
/**
 * q4 weights against activations quantized to `xq` with block scales `xs` and block sums `xsum`,
 * and both of each four rows side by side in `xt` (interleaveQ4X); `scratch` is split into
 * `scratchPerThread` bytes per thread (a batch's tile of unpacked weight rows).
 */
export const MatmulQ4Args = args("out", "xq", "xs", "xsum", "xt", "wq", "ws", "bias", "n", "rows", "cols", "scratch", "scratchPerThread");
/**
 * q4k weights (nibbles `wq`, sub-block scale and min bytes `sm`, super-block d and dmin `dm`)
 * against activations quantized as ggml's Q8_K: a scale `xs` per 256, each 32's Σ x as i16 `xm` (quantizeQ4KX);
 * `scratch` as for q4.
 */
export const MatmulQ4KArgs = args("out", "xq", "xs", "xm", "wq", "sm", "dm", "bias", "n", "rows", "cols", "scratch", "scratchPerThread");
/**
 * q5 weights (values `wq`, high bits `wh`, block scales `ws`) against activations quantized as
 * for q4 (`xq`, `xs`, `xsum`), each four rows' scales and sums side by side in `xt`; `scratch`
 * is split into `scratchPerThread` bytes per thread (a tile of unpacked weight rows).
 */
export const MatmulQ5Args = args("out", "xq", "xs", "xsum", "xt", "wq", "wh", "ws", "bias", "n", "rows", "cols", "scratch", "scratchPerThread");
/**
 * q6k weights (repacked 6-bit values `wq`, sub-block int8 scales `sm`, super-block d `dm`) against
 * activations quantized as ggml's Q8_K: a scale `xs` per 256, each 16's Σ x as i16 `xm` (quantizeQ6KX);
 * `scratch` as for q4.
 */
export const MatmulQ6KArgs = args("out", "xq", "xs", "xm", "wq", "sm", "dm", "bias", "n", "rows", "cols", "scratch", "scratchPerThread");
/** `eps` is an f32 word. */
export const LayerNormArgs = args("out", "x", "weight", "bias", "d", "eps", "n");
/** `eps` is an f32 word. */
export const RmsNormArgs = args("out", "x", "weight", "d", "eps", "n");
export const RopeArgs = args("x", "nHeads", "headDim", "positions", "cos", "sin", "n");
export const SiluMulArgs = args("out", "gateUp", "d", "n");
export const GeluArgs = args("x", "length");
export const AddArgs = args("x", "y", "length");
/**
 * How attention reads its cache (assembly/attention.ts): f32; halves, with q scaled by 2^112
 * (assembly/half.ts); halves, with q as it is (too large to scale).
 */
export const enum KVMode {
  F32 = 0,
  HalvesScaledQ = 1,
  Halves = 2,
}
/** Prefill attention; `work` holds each head's partial output and its chunks' [m, l]; `kvMode` a KVMode. */
export const AttentionArgs = args("out", "q", "k", "v", "table", "blockSize", "pos", "t", "nHead", "nKVHead", "headDim", "scratch", "work", "kvMode");
/** Decode attention of `count` sequences described at `descs` (DecodeDesc each), their caches all read as `kvMode` says. */
export const AttentionDecodeArgs = args("descs", "count", "chunks", "nHead", "nKVHead", "headDim", "kvMode");
export const ReadSumArgs = args("sums", "data", "bytes");

/**
 * One sequence of a decode-attention job, as i32 words from the descriptor's start; the kernel
 * (attnBatchChunks in assembly/attention.ts) reads the same words at 4-byte offsets.
 */
export const DecodeDesc = layout(0, "out", "q", "k", "v", "table", "blockSize", "scores", "visible", "stats", "partials", "firstChunk", "chunks");
export const DECODE_DESC_INTS = Object.keys(DecodeDesc).length;
