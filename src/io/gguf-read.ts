import { UserError } from "../errors.js";
import { fileSource } from "./disk.js";
import { parseGGUF, type GGUFFile } from "./gguf-parse.js";

export * from "./gguf-parse.js";

/** Parses the header of a GGUF file on disk (see parseGGUF). */
export function readGGUF(file: string, options: { arrays?: "read" | "skip" } = {}): GGUFFile {
  const source = fileSource(file, () => `${file}: cannot open GGUF file (no such file)`);
  try {
    return parseGGUF(source, options);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (e instanceof UserError || code === undefined) throw e;
    throw new UserError(`${file}: cannot open GGUF file (${code})`);
  } finally {
    source.close();
  }
}
