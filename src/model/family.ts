import type { Folder } from "../io/folder.js";
import type { GGUFFile } from "../io/gguf-parse.js";
import type { ModelSpec } from "./model.js";

/**
 * One architecture: how to read its checkpoints' configs into a ModelSpec. The registry
 * (families/index.ts) picks a family by config.json's model_type or architectures, or by a GGUF
 * file's general.architecture; adding a family is adding a folder under families/.
 */
export interface ModelFamily {
  readonly name: string;
  /** config.json model_type values, and the architectures class names, this family reads. */
  readonly hfModelTypes: readonly string[];
  readonly hfArchitectures: readonly string[];
  /** GGUF general.architecture values this family reads. */
  readonly ggufArchitectures: readonly string[];
  /** A Hugging Face folder: `config` is its parsed config.json (`configFile` names it in errors). */
  fromFolder(folder: Folder, config: Readonly<Record<string, unknown>>, configFile: string): ModelSpec;
  /** A GGUF file whose header (tensor table and metadata) has been read. */
  fromGGUF(g: GGUFFile): ModelSpec;
}
