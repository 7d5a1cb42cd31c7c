import type { Backend } from "../../../kernels/backend.js";
import { AttentionScratch } from "../../layers/attention.js";
import type { StepLimits } from "../../model.js";
import type { LlamaConfig } from "./config.js";

/** The activations of one forward pass, allocated once for the largest step (llama2.c's RunState). */
export class LlamaRunState {
  readonly x: Float32Array; // (N, C) the residual stream
  readonly xNorm: Float32Array; // (N, C) RMS-normed input of a sublayer
  readonly qkv: Float32Array; // (N, (nh + 2·nkv)·hs)
  readonly q: Float32Array; // (N, nh, hs)
  readonly k: Float32Array; // (N, nkv, hs)
  readonly v: Float32Array; // (N, nkv, hs)
  readonly attnOut: Float32Array; // (N, nh·hs) attention output before o_proj, in qkv's memory
  readonly sublayerOut: Float32Array; // (N, C) what a sublayer adds to the residual stream
  readonly gateUp: Float32Array; // (N, 2I)
  readonly hidden: Float32Array; // (N, I) silu(gate) · up, in qkv's memory
  readonly lastHidden: Float32Array; // (R, C) final hidden states of the rows that get logits
  readonly logits: Float32Array; // (R, V)
  readonly attention: AttentionScratch;

  constructor(c: LlamaConfig, backend: Backend, limits: StepLimits) {
    const { hidden: C, intermediate: I, vocabSize: V, contextLength: P } = c;
    const { nHead: nh, nKVHead: nkv, headDim: hs } = c.heads;
    const { maxTokens: N, maxLogitRows: R, maxChunks } = limits;
    // qkv is dead once split into q, k, v: attention writes its output there, and once o_proj
    // has read that, the MLP's hidden goes there too.
    const qkvMemory = backend.allocF32(N * Math.max((nh + 2 * nkv) * hs, I));
    this.x = backend.allocF32(N * C);
    this.xNorm = backend.allocF32(N * C);
    this.qkv = qkvMemory.subarray(0, N * (nh + 2 * nkv) * hs);
    this.q = backend.allocF32(N * nh * hs);
    this.k = backend.allocF32(N * nkv * hs);
    this.v = backend.allocF32(N * nkv * hs);
    this.attnOut = qkvMemory.subarray(0, N * nh * hs);
    this.sublayerOut = backend.allocF32(N * C);
    this.gateUp = backend.allocF32(N * 2 * I);
    this.hidden = qkvMemory.subarray(0, N * I);
    this.lastHidden = backend.allocF32(R * C);
    this.logits = backend.allocF32(R * V);
    this.attention = new AttentionScratch(backend, nh, P, maxChunks);
  }
}
