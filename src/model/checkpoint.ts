import { UserError } from "../errors.js";
import { baseName } from "../io/byte-source.js";
import type { Folder } from "../io/folder.js";
import { parseSafetensorsHeader, type TensorInfo } from "../io/safetensors-parse.js";

/** The tensors of model.safetensors or of every shard listed in model.safetensors.index.json. */
export function listCheckpointTensors(folder: Folder): Map<string, TensorInfo> {
  const single = "model.safetensors";
  const index = folder.path("model.safetensors.index.json");
  let files: string[];
  if (folder.has(single)) {
    files = [single];
  } else if (folder.has("model.safetensors.index.json")) {
    let weightMap: unknown;
    try {
      weightMap = (JSON.parse(folder.text("model.safetensors.index.json")) as { weight_map?: unknown }).weight_map;
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError(`${index}: invalid JSON (${(e as Error).message})`);
    }
    if (typeof weightMap !== "object" || weightMap === null) throw new UserError(`${index}: missing weight_map`);
    files = [...new Set(Object.values(weightMap).map(String))];
    for (const f of files) folder.checkInside(f, index);
    for (const f of files) if (!folder.has(f)) throw new UserError(`${index}: shard ${baseName(f)} is missing`);
  } else {
    throw new UserError(`${folder.where}: no model.safetensors or model.safetensors.index.json`);
  }
  const tensors = new Map<string, TensorInfo>();
  for (const f of files) {
    const source = folder.open(f);
    try {
      for (const t of parseSafetensorsHeader(source)) tensors.set(t.name, t);
    } finally {
      source.close();
    }
  }
  return tensors;
}
