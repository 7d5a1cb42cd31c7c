import type { Backend } from "../../../kernels/backend.js";
import { AttentionScratch } from "../../layers/attention.js";
import type { StepLimits } from "../../model.js";
import type { GPT2Config } from "./config.js";

/**
 * The activations of one forward pass, allocated once for the largest step the engine will
 * run (llama2.c's `RunState`): no allocation happens while generating.
 */
export class RunState {
  readonly x: Float32Array; // (N, C) the residual stream
  readonly xNorm: Float32Array; // (N, C) layer-normed input of a sublayer
  readonly qkv: Float32Array; // (N, 3C)
  readonly q: Float32Array; // (N, C) queries, split out of qkv
  readonly attnOut: Float32Array; // (N, C) attention output before the projection, in qkv's memory
  readonly sublayerOut: Float32Array; // (N, C) what a sublayer adds to the residual stream, in q's memory
  readonly hidden: Float32Array; // (N, 4C) MLP hidden activations, in qkv's memory
  readonly lastHidden: Float32Array; // (R, C) final hidden states of the rows that get logits
  readonly logits: Float32Array; // (R, V)
  readonly attention: AttentionScratch; // scores (n_head, P) and the decode step's cache views

  constructor(config: GPT2Config, backend: Backend, limits: StepLimits) {
    const { nEmbd: C, nInner, vocabSize: V, nPositions: P, nHead } = config;
    const { maxTokens: N, maxLogitRows, maxChunks } = limits;
    // Buffers whose lives do not overlap share memory. qkv is dead once q, k and v are copied
    // out: attention writes attnOut there, and once the projection has read it the MLP makes
    // `hidden` there. q is dead once attention has read it: each sublayer's output goes there.
    // xNorm, a sublayer's input, keeps its own (a parallel attention + MLP block reads it twice).
    this.x = backend.allocF32(N * C);
    this.xNorm = backend.allocF32(N * C);
    const qkvMemory = backend.allocF32(N * Math.max(3 * C, nInner));
    this.qkv = qkvMemory.subarray(0, N * 3 * C);
    this.q = backend.allocF32(N * C);
    this.attnOut = qkvMemory.subarray(0, N * C);
    this.sublayerOut = this.q;
    this.hidden = qkvMemory.subarray(0, N * nInner);
    this.lastHidden = backend.allocF32(maxLogitRows * C);
    this.logits = backend.allocF32(maxLogitRows * V);
    this.attention = new AttentionScratch(backend, nHead, P, maxChunks);
  }
}
