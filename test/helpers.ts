import fs from "node:fs";
import path from "node:path";
import { readSafetensorsHeader, TensorReader } from "../src/io/safetensors.js";

export interface GoldenPrompt {
  ids: number[];
  greedy: number[];
  argmax_last: number;
}

export interface Golden {
  prompts: GoldenPrompt[];
  n_new: number;
  val_loss_f32_first_40_windows?: number;
}

export function readGolden(dir: string): { golden: Golden; tensors: Map<string, Float32Array> } {
  const golden = JSON.parse(fs.readFileSync(path.join(dir, "golden.json"), "utf8")) as Golden;
  const tensors = new Map<string, Float32Array>();
  const reader = new TensorReader();
  try {
    for (const info of readSafetensorsHeader(path.join(dir, "golden.safetensors"))) {
      const out = new Float32Array(info.shape.reduce((a, b) => a * b, 1));
      reader.readF32(info, out);
      tensors.set(info.name, out);
    }
  } finally {
    reader.close();
  }
  return { golden, tensors };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
