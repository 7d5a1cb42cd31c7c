import { UserError } from "../../errors.js";
import type { Backend } from "../../kernels/backend.js";

/**
 * Rotary position embeddings (Su et al. 2021) as Hugging Face computes them: inverse frequencies
 * base^(-2i/d) for i < d/2, optionally rescaled ("linear" divides them all by a factor;
 * "llama3" divides only the low frequencies, blending in between), then cos and sin of
 * position × frequency. Everything is rounded to f32 where transformers computes in f32.
 */
export type RopeScaling =
  | { readonly type: "default" }
  | { readonly type: "linear"; readonly factor: number }
  | {
      readonly type: "llama3";
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalContext: number; // original_max_position_embeddings
    };

export interface RopeConfig {
  readonly theta: number; // rope_theta, the base
  readonly scaling: RopeScaling;
  /**
   * (hs / 2) divisors of the frequencies, applied after `scaling`: how llama.cpp stores Llama 3
   * scaling (a rope_freqs.weight tensor, frequency / factor), kept in that form so a GGUF file's
   * own rounding is what the tables see.
   */
  readonly freqFactors?: readonly number[];
}

export const ROPE_TYPES = ["default", "linear", "llama3"];

/** The per-position tables the rope kernel reads. */
export interface RopeTables {
  readonly cos: Float32Array; // (P, hs / 2)
  readonly sin: Float32Array; // (P, hs / 2)
}

const f32 = Math.fround;

export function inverseFrequencies(headDim: number, rope: RopeConfig): Float64Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = f32(1 / f32(Math.pow(rope.theta, f32((2 * i) / headDim))));
  const s = rope.scaling;
  if (s.type === "linear") for (let i = 0; i < half; i++) inv[i] = f32(inv[i] / s.factor);
  if (s.type === "llama3") {
    const lowWavelen = s.originalContext / s.lowFreqFactor;
    const highWavelen = s.originalContext / s.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const wavelen = (2 * Math.PI) / inv[i];
      if (wavelen > lowWavelen) inv[i] = f32(inv[i] / s.factor);
      else if (wavelen >= highWavelen) {
        const smooth = (s.originalContext / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        inv[i] = f32(((1 - smooth) * inv[i]) / s.factor + smooth * inv[i]);
      }
    }
  }
  if (rope.freqFactors !== undefined) for (let i = 0; i < half; i++) inv[i] = f32(inv[i] / rope.freqFactors[i]);
  return inv;
}

/** cos and sin of every position below `positions` for every frequency, in the backend's memory. */
export function ropeTables(backend: Backend, headDim: number, positions: number, rope: RopeConfig): RopeTables {
  const inv = inverseFrequencies(headDim, rope);
  const half = headDim / 2;
  const cos = backend.allocF32(positions * half);
  const sin = backend.allocF32(positions * half);
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      const angle = f32(p * inv[i]);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

/**
 * rope_theta and rope_scaling from a config.json, in either spelling: transformers 5's
 * `rope_parameters` ({rope_type, rope_theta, factor, ...}) or the older top-level `rope_theta`
 * with a `rope_scaling` object.
 */
export function parseRopeConfig(c: Readonly<Record<string, unknown>>, source: string): RopeConfig {
  const params = isObject(c.rope_parameters) ? c.rope_parameters : isObject(c.rope_scaling) ? c.rope_scaling : {};
  const theta = params.rope_theta ?? c.rope_theta ?? 10000;
  if (typeof theta !== "number" || !(theta > 0)) throw new UserError(`${source}: rope_theta must be a positive number, got ${JSON.stringify(theta)}`);
  const type = params.rope_type ?? params.type ?? "default";
  const num = (key: string, fallback?: number): number => {
    const v = params[key] ?? fallback;
    if (typeof v !== "number" || !(v > 0)) throw new UserError(`${source}: rope ${key} must be a positive number, got ${JSON.stringify(params[key])}`);
    return v;
  };
  switch (type) {
    case "default":
      return { theta, scaling: { type: "default" } };
    case "linear":
      return { theta, scaling: { type: "linear", factor: num("factor") } };
    case "llama3": {
      const scaling = {
        type: "llama3" as const,
        factor: num("factor"),
        lowFreqFactor: num("low_freq_factor"),
        highFreqFactor: num("high_freq_factor"),
        originalContext: num("original_max_position_embeddings"),
      };
      if (scaling.highFreqFactor <= scaling.lowFreqFactor) throw new UserError(`${source}: rope high_freq_factor must exceed low_freq_factor`);
      return { theta, scaling };
    }
    default:
      throw new UserError(`${source}: unsupported rope type ${JSON.stringify(type)} (supported: ${ROPE_TYPES.join(", ")})`);
  }
}

function isObject(v: unknown): v is Readonly<Record<string, unknown>> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function describeRope(rope: RopeConfig): string {
  const s = rope.scaling;
  const scaling = s.type === "default" ? "" : s.type === "linear" ? `, linear ×${s.factor}` : `, llama3 ×${s.factor} (low ${s.lowFreqFactor}, high ${s.highFreqFactor}, original context ${s.originalContext})`;
  const factors = rope.freqFactors === undefined ? "" : `, per-frequency factors ${Math.min(...rope.freqFactors)}..${Math.max(...rope.freqFactors)} (rope_freqs)`;
  return `RoPE θ ${rope.theta}${scaling}${factors}`;
}
