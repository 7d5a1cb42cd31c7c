import { UserError } from "../errors.js";
import { fileSource } from "./disk.js";
import { parseSafetensorsHeader, type TensorInfo } from "./safetensors-parse.js";

export * from "./safetensors-parse.js";

/** Reads and validates the header of one .safetensors file on disk (see parseSafetensorsHeader). */
export function readSafetensorsHeader(file: string): TensorInfo[] {
  const source = fileSource(file, () => `${file}: cannot open safetensors file`);
  try {
    return parseSafetensorsHeader(source);
  } catch (e) {
    if (e instanceof UserError || !(e instanceof Error && "code" in e)) throw e;
    throw new UserError(`${file}: cannot open safetensors file`);
  } finally {
    source.close();
  }
}
