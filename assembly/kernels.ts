// Entry point of the kernels module: every export takes byte offsets into the imported shared
// memory and a range of rows / heads / elements, so worker threads can split one call.
export { matmulF32 } from "./matmul";
export { matmulF16, scaleForF16 } from "./f16";
export { scaleForHalves } from "./half";
export { interleaveScalesQ8, matmulQ8, matmulQ8DotAdd, matmulQ8F32, matmulQ8ScratchBytes, quadRowsQ8, quadRowsQ8DotAdd, quantizeQ8 } from "./q8";
export { interleaveQ4X, matmulQ4, matmulQ4DotAdd, q4ScratchBytes, quantizeQ4X } from "./q4";
export { matmulQ4K, matmulQ4KDotAdd, q4kScratchBytes, quantizeQ4KX } from "./q4k";
export { interleaveQ5X, matmulQ5, matmulQ5DotAdd, q5ScratchBytes } from "./q5";
export { matmulQ6K, q6kScratchBytes, quantizeQ6KX } from "./q6k";
export { layerNorm, rmsNorm } from "./norm";
export { gelu, addInPlace, siluMul } from "./elementwise";
export { rope } from "./rope";
export { attention, attnBatchChunks, attnChunkPositions, attnCombine } from "./attention";
export { quantizeRowsQ8, quantizeColumnsQ8, halvesOfRows, halvesOfColumns, transposeColumnsF32 } from "./pack";
export { readSum } from "./read";
