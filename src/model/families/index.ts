import { UserError } from "../../errors.js";
import { metaString, type GGUFFile } from "../../io/gguf-parse.js";
import type { ModelFamily } from "../family.js";
import { gpt2Family } from "./gpt2/index.js";
import { llamaFamily } from "./llama/index.js";
import { qwen2Family } from "./qwen2/index.js";
import { qwen3Family } from "./qwen3/index.js";

/** Every family the engine runs. */
export const FAMILIES: readonly ModelFamily[] = [gpt2Family, llamaFamily, qwen2Family, qwen3Family];

const supported = () => FAMILIES.map((f) => f.name).join(", ");

/** The family of a config.json: by model_type, else by its architectures class names. */
export function familyOfConfig(config: Readonly<Record<string, unknown>>, configFile: string): ModelFamily {
  const modelType = config.model_type;
  const architectures = Array.isArray(config.architectures) ? config.architectures.map(String) : [];
  const found =
    FAMILIES.find((f) => typeof modelType === "string" && f.hfModelTypes.includes(modelType)) ??
    FAMILIES.find((f) => architectures.some((a) => f.hfArchitectures.includes(a)));
  if (found !== undefined) return found;
  const named = architectures.length > 0 ? architectures.join(", ") : String(modelType);
  throw new UserError(`${configFile}: unsupported architecture ${named} (model_type ${JSON.stringify(modelType)}); supported: ${supported()}`);
}

/** The family of a GGUF file, by general.architecture. */
export function familyOfGGUF(g: GGUFFile): ModelFamily {
  const arch = metaString(g, "general.architecture");
  if (arch === null) throw new UserError(`${g.file}: general.architecture is missing`);
  const found = FAMILIES.find((f) => f.ggufArchitectures.includes(arch));
  if (found === undefined) throw new UserError(`${g.file}: unsupported architecture "${arch}" (supported: ${supported()})`);
  return found;
}
