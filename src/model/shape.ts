/**
 * All the engine, the KV caches, the scheduler, the server and the CLI know of a model, whatever
 * its family: how many layers and heads, how wide a cached key or value row is, how many tokens.
 */
export interface ModelShape {
  readonly nLayer: number;
  readonly nHead: number; // query heads
  readonly nKVHead: number; // key/value heads: nHead for multi-head attention, fewer for grouped-query
  readonly headDim: number;
  readonly vocabSize: number;
  readonly contextLength: number; // positions the model was trained for
}

/** Floats per cached position of one layer's keys (or values): nKVHead · headDim. */
export function kvWidth(shape: ModelShape): number {
  return shape.nKVHead * shape.headDim;
}

/**
 * The most positions a config may declare when no tensor shows them (RoPE models): 16M, beyond
 * any released model, and far below what would overflow a cache size computed from it.
 */
export const MAX_CONTEXT_LENGTH = 2 ** 24;
