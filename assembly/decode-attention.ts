// Attention for one new token (decode), split over cached positions instead of heads: a decode
// step streams each K and V row once from DRAM, and a thread that owns whole rows reads them in
// one contiguous run, where a thread owning some heads reads a slice of every row and wastes
// bandwidth. Each chunk of positions does its own softmax against its own maximum (the
// flash-decoding split); attnCombine rescales the chunks to the common maximum and adds them.
import { axpyRow, softmaxNumerators } from "./attention";
import { dotF32 } from "./matmul";

@inline
function rowAt(base: usize, table: usize, blockSize: i32, rowBytes: usize, p: i32): usize {
  const blk = p / blockSize;
  const slot = load<i32>(table + (<usize>blk << 2)) * blockSize + (p - blk * blockSize);
  return base + <usize>slot * rowBytes;
}

/**
 * One chunk, positions [p0, p1): writes partial (nHead·headDim) = Σ_p e^(s_p − m)·v_p per head,
 * and stats[2h] = m (the chunk's max score), stats[2h+1] = Σ_p e^(s_p − m). The scores of head h
 * use scores[h·stride + p], a range no other chunk touches.
 */
export function attnChunk(
  q: usize, k: usize, v: usize, table: usize, blockSize: i32, nHead: i32, headDim: i32,
  scores: usize, stride: i32, p0: i32, p1: i32, partial: usize, stats: usize,
): void {
  const headBytes = <usize>headDim << 2;
  const rowBytes = <usize>nHead * headBytes;
  const strideBytes = <usize>stride << 2;
  const scale = <f32>(1 / Math.sqrt(<f64>headDim));
  memory.fill(partial, 0, rowBytes);
  if (p0 >= p1) {
    for (let h = 0; h < nHead; h++) {
      store<f32>(stats + (<usize>h << 3), -Infinity);
      store<f32>(stats + (<usize>h << 3), 0, 4);
    }
    return;
  }
  const first = scores + (<usize>p0 << 2);
  // Walks each block's run of consecutive rows without a division per row.
  for (let p = p0; p < p1; ) {
    const run = min(blockSize - p % blockSize, p1 - p);
    let kr = rowAt(k, table, blockSize, rowBytes, p);
    let s = scores + (<usize>p << 2);
    for (let j = 0; j < run; j++) {
      let sh = s;
      for (let h: usize = 0; h < rowBytes; h += headBytes) {
        store<f32>(sh, dotF32(q + h, kr + h, headDim) * scale);
        sh += strideBytes;
      }
      kr += rowBytes;
      s += 4;
    }
    p += run;
  }
  for (let h = 0; h < nHead; h++) {
    const row = first + <usize>h * strideBytes;
    let mx: f32 = -Infinity;
    for (let p: usize = 0; p < (<usize>(p1 - p0) << 2); p += 4) mx = max(mx, load<f32>(row + p));
    store<f32>(stats + (<usize>h << 3), mx);
    store<f32>(stats + (<usize>h << 3), softmaxNumerators(row, p1 - p0, mx), 4);
  }
  for (let p = p0; p < p1; ) {
    const run = min(blockSize - p % blockSize, p1 - p);
    let vr = rowAt(v, table, blockSize, rowBytes, p);
    let w = scores + (<usize>p << 2);
    for (let j = 0; j < run; j++) {
      let wh = w;
      for (let h: usize = 0; h < rowBytes; h += headBytes) {
        axpyRow(partial + h, vr + h, load<f32>(wh), headDim);
        wh += strideBytes;
      }
      vr += rowBytes;
      w += 4;
    }
    p += run;
  }
}

/** out (nHead·headDim) from `chunks` (partial, stats) pairs laid out one after another. */
export function attnCombine(out: usize, partials: usize, stats: usize, chunks: i32, nHead: i32, headDim: i32): void {
  const headBytes = <usize>headDim << 2;
  const rowBytes = <usize>nHead * headBytes;
  const statBytes = <usize>nHead << 3;
  for (let h = 0; h < nHead; h++) {
    const sh = stats + (<usize>h << 3);
    let m: f32 = -Infinity;
    for (let c = 0; c < chunks; c++) m = max(m, load<f32>(sh + <usize>c * statBytes));
    let total: f32 = 0;
    for (let c = 0; c < chunks; c++) {
      const s = sh + <usize>c * statBytes;
      if (load<f32>(s, 4) > 0) total += <f32>Math.exp(<f64>(load<f32>(s) - m)) * load<f32>(s, 4);
    }
    const o = out + <usize>h * headBytes;
    memory.fill(o, 0, headBytes);
    for (let c = 0; c < chunks; c++) {
      const s = sh + <usize>c * statBytes;
      if (load<f32>(s, 4) > 0) {
        const a = <f32>(Math.exp(<f64>(load<f32>(s) - m)) / <f64>total);
        axpyRow(o, partials + <usize>c * rowBytes + <usize>h * headBytes, a, headDim);
      }
    }
  }
}
