/**
 * The kernel interface: every piece of arithmetic the model does goes through a `Backend`.
 *
 * Kernels are pure functions over preallocated buffers (llama2.c style: `out` first, sizes last).
 * Buffers that kernels read or write must come from the backend's own `allocF32` / `allocI8` / `allocU16`,
 * because a WebAssembly backend can only touch its linear memory: there, those arrays are views
 * into that memory and a kernel call passes their byte offsets, never copying.
 */

/** A weight matrix of shape (rows, cols) = (out_features, in_features), row-major, in f32. */
export interface F32Matrix {
  readonly kind: "f32";
  readonly rows: number;
  readonly cols: number;
  readonly data: Float32Array; // (rows, cols)
}

/**
 * A weight matrix in half precision, widened exactly to f32 as kernels read it: half the memory
 * and the bytes per token of F32. data holds the IEEE half bits of w · 2^F16_SHIFT (kernels/f16.ts).
 */
export interface F16Matrix {
  readonly kind: "f16";
  readonly rows: number;
  readonly cols: number;
  readonly data: Uint16Array; // (rows, cols), halves of w · 2^10
}

/**
 * An int8 weight matrix with one f32 scale per block of Q8_BLOCK consecutive weights in a row
 * (the Q8_0 idea): w[r, c] ≈ q[r, c] * scales[r, c / Q8_BLOCK]. `cols` must be a multiple of Q8_BLOCK.
 */
export interface Q8Matrix {
  readonly kind: "q8";
  readonly rows: number;
  readonly cols: number;
  readonly q: Int8Array; // (rows, cols)
  readonly scales: Float32Array; // (rows, cols / Q8_BLOCK)
}

export const Q8_BLOCK = 32;

/**
 * A 4-bit weight matrix in Q4_0 blocks of Q4_BLOCK consecutive weights in a row: 16 bytes of
 * nibbles per block, byte j holding element j in its low half and element j + 16 in its high
 * half (ggml's order, so Q4_0 files load as they are), and one f32 scale per block:
 * w[r, c] = (nibble − 8) · scales[r, c / Q4_BLOCK]. `cols` must be a multiple of Q4_BLOCK.
 */
export interface Q4Matrix {
  readonly kind: "q4";
  readonly rows: number;
  readonly cols: number;
  readonly q: Int8Array; // (rows, cols / 2): the nibbles' bytes
  readonly scales: Float32Array; // (rows, cols / Q4_BLOCK)
}

export const Q4_BLOCK = 32;

/**
 * A 4-bit matrix in ggml's Q4_K super-blocks of Q4K_BLOCK weights in a row, eight sub-blocks of 32
 * each with a 6-bit scale sc and min m, and per super-block a d and dmin:
 * w = d·sc·nibble − dmin·m. Repacked at load (kernels/q4k.ts) so the nibbles of each sub-block
 * are in Q4_0's order (byte j: element j low, j + 16 high) and the 6-bit values are whole bytes.
 * `cols` must be a multiple of Q4K_BLOCK.
 */
export interface Q4KMatrix {
  readonly kind: "q4k";
  readonly rows: number;
  readonly cols: number;
  readonly q: Int8Array; // (rows, cols / 2): the nibbles' bytes
  readonly subScales: Int8Array; // (rows, cols / Q4K_BLOCK, 16): sc0..sc7 then m0..m7, each 0..63
  readonly superScales: Float32Array; // (rows, cols / Q4K_BLOCK, 2): d, dmin
}

export const Q4K_BLOCK = 256;

/**
 * A 5-bit weight matrix holding ggml's Q5_0 blocks of Q5_BLOCK weights in a row: a 5-bit q (0..31)
 * and one f32 scale per block, w = (q − 16) · scales[r, c / Q5_BLOCK]. Repacked at load
 * (kernels/q5.ts) for the kernels' unpacking: byte j of a block's 16 in `q` holds q_j in bits 0-4
 * and the low three bits of q_{j+16} in bits 5-7; each group of four blocks of a row (Q5_GROUP
 * weights) owns Q5_GROUP_BYTES bytes of `qh`, whose byte j holds the two high bits of q_{j+16} of
 * the group's block b in bits 2·b and 2·b + 1 (a row's last group padded with zeros). `cols`
 * must be a multiple of Q5_BLOCK.
 */
export interface Q5Matrix {
  readonly kind: "q5";
  readonly rows: number;
  readonly cols: number;
  readonly q: Int8Array; // (rows, cols / 2): 16 bytes per block
  readonly qh: Int8Array; // (rows, ⌈cols / Q5_GROUP⌉ · Q5_GROUP_BYTES): 16 bytes per group of four blocks
  readonly scales: Float32Array; // (rows, cols / Q5_BLOCK)
}

export const Q5_BLOCK = 32;
/** Weights of a row whose high bits share one 16-byte vector of qh: four blocks. */
export const Q5_GROUP = 128;
export const Q5_GROUP_BYTES = 16;

/** Bytes of qh per row of a q5 matrix of `cols` columns. */
export function q5HighBytesPerRow(cols: number): number {
  return Math.ceil(cols / Q5_GROUP) * Q5_GROUP_BYTES;
}

/**
 * A 6-bit matrix in ggml's Q6_K super-blocks of Q6K_BLOCK weights in a row: sixteen sub-blocks
 * of 16 each with an int8 scale sc, and per super-block an f32 d (the file's f16, widened):
 * w = d·sc·(q − 32), q in 0..63. Repacked at load (kernels/q6k.ts) into the order the wasm
 * kernel unpacks with whole-vector shifts: 192 bytes of q per super-block (low nibbles in pairs,
 * high bits in fours). `cols` must be a multiple of Q6K_BLOCK.
 */
export interface Q6KMatrix {
  readonly kind: "q6k";
  readonly rows: number;
  readonly cols: number;
  readonly q: Int8Array; // (rows, cols / Q6K_BLOCK, 192): the repacked 6-bit values
  readonly subScales: Int8Array; // (rows, cols / Q6K_BLOCK, 16): sc0..sc15
  readonly superScales: Float32Array; // (rows, cols / Q6K_BLOCK): d
}

export const Q6K_BLOCK = 256;

export type Matrix = F32Matrix | F16Matrix | Q8Matrix | Q4Matrix | Q4KMatrix | Q5Matrix | Q6KMatrix;

/** The arrays a matrix's values live in. */
export type WeightArray = Float32Array | Uint16Array | Int8Array;

/**
 * What a KV cache stores per element: f32, or IEEE halves (round to nearest even when stored,
 * widened exactly as attention reads them) in half the memory and half the reads.
 */
export type KVDType = "f32" | "f16";
export const KV_DTYPES: readonly KVDType[] = ["f32", "f16"];
/** Bytes per cached element. */
export const KV_ELEMENT_BYTES: Readonly<Record<KVDType, number>> = { f32: 4, f16: 2 };
/** A KV pool's storage: f32 values, or the bits of IEEE halves. */
export type KVArray = Float32Array | Uint16Array;

/**
 * Where attention finds the keys and values of one sequence: its cache positions are split into
 * blocks of `blockSize` positions, and `blockTable[i]` is the pool block holding positions
 * [i * blockSize, (i + 1) * blockSize). A static cache is the special case of one block per
 * sequence of size max_positions; a paged cache uses small blocks (e.g. 16).
 * The pool for one layer is laid out as (num_blocks, block_size, n_kv_head, head_dim): with
 * grouped-query attention (Llama, Qwen) n_kv_head divides n_head and each group of
 * n_head / n_kv_head query heads shares one cached head, so the cache is that much smaller;
 * n_kv_head = n_head is ordinary multi-head attention (GPT-2).
 */
export interface KVView {
  readonly k: KVArray; // (num_blocks, block_size, n_kv_head, head_dim) for one layer
  readonly v: KVArray; // same shape and type as k
  readonly blockTable: Int32Array; // (blocks used by this sequence,)
  readonly blockSize: number;
}

/**
 * How many query heads share each cached head: nHead / nKVHead, after checking that nKVHead is a
 * positive divisor of nHead (anything else would read past a cache row or leave heads out).
 */
export function headGroup(kernel: string, nHead: number, nKVHead: number): number {
  if (!(Number.isInteger(nHead) && Number.isInteger(nKVHead) && nKVHead >= 1 && nHead >= nKVHead && nHead % nKVHead === 0)) {
    throw new Error(`${kernel}: ${nHead} query heads cannot share ${nKVHead} key/value heads`);
  }
  return nHead / nKVHead;
}

export interface Backend {
  readonly name: string;
  /** Number of threads the kernels run on. */
  readonly threads: number;

  /** A zeroed f32 buffer the kernels can use. Call at load time only, never on the hot path. */
  allocF32(length: number): Float32Array;
  /** A zeroed int8 buffer the kernels can use (quantized weights). */
  allocI8(length: number): Int8Array;
  /** A zeroed buffer of IEEE half floats (F16 weights). */
  allocU16(length: number): Uint16Array;

  /**
   * Load time: m's rows [firstRow, firstRow + count) = src (count, m.cols) row-major, rounded to
   * halves for f16, quantized for q8 and q4; the same bits as kernels/write-matrix.ts. src must come
   * from this backend's allocF32.
   */
  writeMatrixRows(m: Matrix, firstRow: number, src: Float32Array, count: number): void;
  /**
   * Load time: m's columns [firstCol, firstCol + count) = src (count, m.rows) row-major, a
   * transposed slice (Conv1D checkpoints); q8 and q4 take one whole block, 32 columns from a multiple of 32.
   */
  writeMatrixColumns(m: Matrix, firstCol: number, src: Float32Array, count: number): void;

  /** out (n, w.rows) = x (n, w.cols) · wᵀ + bias (w.rows,) — bias may be null. */
  matmul(out: Float32Array, x: Float32Array, w: Matrix, bias: Float32Array | null, n: number): void;

  /** out (n, d) = LayerNorm(x (n, d)) * weight + bias, over the last dimension. */
  layerNorm(out: Float32Array, x: Float32Array, weight: Float32Array, bias: Float32Array, n: number, d: number, eps: number): void;

  /**
   * out (n, d) = x (n, d) / sqrt(mean(x²) + eps) * weight (d,), per row, in f32: Llama's RMSNorm
   * (HF LlamaRMSNorm: x · rsqrt(mean(x²) + eps), then weight times that). Also per head
   * (n = tokens · heads, d = head_dim) for Qwen3's q_norm / k_norm. out may be x.
   */
  rmsNorm(out: Float32Array, x: Float32Array, weight: Float32Array, n: number, d: number, eps: number): void;

  /**
   * Rotary position embedding in Hugging Face's rotate-half layout, in place on x (n, nHeads,
   * headDim): token i is at position positions[i] (positions has at least n entries, an ordinary
   * Int32Array), and for every head and j < headDim / 2, with a = x[j], b = x[j + headDim / 2],
   * c = cos[pos, j], s = sin[pos, j]: x[j] = a·c − b·s, x[j + headDim / 2] = b·c + a·s.
   * cos and sin are (maxPositions, headDim / 2), made once per model by the caller (inv_freq and
   * its scaling are the caller's); headDim is even.
   */
  rope(x: Float32Array, n: number, nHeads: number, headDim: number, positions: Int32Array, cos: Float32Array, sin: Float32Array): void;

  /**
   * SwiGLU's gate: out (n, d) = silu(gate) * up, silu(g) = g / (1 + exp(−g)), where each row of
   * gateUp (n, 2d) is [gate (d) | up (d)] (the two projections fused into one matmul). out may be
   * the start of gateUp's memory (out = gateUp.subarray(0, n·d)): rows are done in order, and
   * row i's output lands on gateUp's row ⌊i / 2⌋ (row 0's on its own gate, element by element
   * after reading it), all already read (the wasm backend then runs it on the calling thread
   * alone, in order). Any other overlap of out and gateUp is not allowed.
   */
  siluMul(out: Float32Array, gateUp: Float32Array, n: number, d: number): void;

  /** x (length,) = gelu_new(x), the tanh approximation GPT-2 uses, in place. */
  gelu(x: Float32Array, length: number): void;

  /** x (length,) += y (length,): the residual connection. */
  addInPlace(x: Float32Array, y: Float32Array, length: number): void;

  /**
   * Causal multi-head self-attention for one sequence, whose `t` new tokens sit at positions
   * [pos, pos + t) and whose keys/values for positions [0, pos + t) are already in the cache.
   * Its queries and outputs are rows [row, row + t) of q and out (·, n_head · head_dim): one call
   * per sequence of a batch, no views made for it.
   * out (t, n_head, head_dim) = softmax(q kᵀ / sqrt(head_dim) + causal mask) v, where query
   * head h reads the cache's head ⌊h / (nHead / nKVHead)⌋ (grouped-query attention; nKVHead
   * divides nHead, and nKVHead = nHead is multi-head attention).
   * `scratch` holds at least n_head * (pos + t) floats: one row of attention scores per head, so
   * heads can run in parallel.
   */
  attention(
    out: Float32Array,
    q: Float32Array,
    row: number,
    kv: KVView,
    pos: number,
    t: number,
    nHead: number,
    nKVHead: number,
    headDim: number,
    scratch: Float32Array,
  ): void;

  /**
   * Attention for `count` sequences with one new token each, the decode step of a batch, in one
   * call so that threads can share out all of their positions at once: sequence i's query and
   * output are row `row + i` of q and out, its keys and values kvs[i], its new token at position
   * positions[i]. Every output has the bits `attention` gives that sequence alone; the backend
   * keeps its own scratch. Heads are grouped as in `attention`.
   */
  attentionDecode(
    out: Float32Array,
    q: Float32Array,
    row: number,
    kvs: readonly KVView[],
    positions: Int32Array,
    count: number,
    nHead: number,
    nKVHead: number,
    headDim: number,
  ): void;

  /** Release threads and memory. */
  close(): void;
}
