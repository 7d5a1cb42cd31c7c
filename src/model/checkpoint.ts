import fs from "node:fs";
import path from "node:path";
import { UserError } from "../errors.js";
import { fileInside } from "../io/inside.js";
import { readSafetensorsHeader, type TensorInfo } from "../io/safetensors.js";

/** The tensors of model.safetensors or of every shard listed in model.safetensors.index.json. */
export function listCheckpointTensors(dir: string): Map<string, TensorInfo> {
  const single = path.join(dir, "model.safetensors");
  const index = path.join(dir, "model.safetensors.index.json");
  let files: string[];
  if (fs.existsSync(single)) {
    files = [single];
  } else if (fs.existsSync(index)) {
    let weightMap: unknown;
    try {
      weightMap = (JSON.parse(fs.readFileSync(index, "utf8")) as { weight_map?: unknown }).weight_map;
    } catch (e) {
      throw new UserError(`${index}: invalid JSON (${(e as Error).message})`);
    }
    if (typeof weightMap !== "object" || weightMap === null) throw new UserError(`${index}: missing weight_map`);
    const shards = new Set(Object.values(weightMap).map(String));
    files = [...shards].map((s) => fileInside(dir, s, index));
    for (const f of files) if (!fs.existsSync(f)) throw new UserError(`${index}: shard ${path.basename(f)} is missing`);
  } else {
    throw new UserError(`${dir}: no model.safetensors or model.safetensors.index.json`);
  }
  const tensors = new Map<string, TensorInfo>();
  for (const f of files) for (const t of readSafetensorsHeader(f)) tensors.set(t.name, t);
  return tensors;
}

