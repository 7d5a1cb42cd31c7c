/**
 * GPT-2's byte <-> unicode table. BPE vocabularies are stored as strings, but the model works on
 * raw UTF-8 bytes; GPT-2 gives each of the 256 bytes a printable character so that no token
 * contains whitespace or control characters (a space becomes "Ġ", a newline "Ċ"). Printable
 * Latin-1 bytes keep their own character; the rest are shifted to U+0100 and up, in byte order.
 */

function buildByteToChar(): string[] {
  const table: string[] = new Array<string>(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCharCode(printable ? b : 256 + shifted++);
  }
  return table;
}

/** byteToChar[b] is the character GPT-2 vocabularies use for byte b. */
export const byteToChar: readonly string[] = buildByteToChar();

/** The inverse of byteToChar. */
export const charToByte: ReadonlyMap<string, number> = new Map<string, number>(byteToChar.map((ch, b) => [ch, b]));

const utf8 = new TextEncoder();

/** The bytes a token spells when every character is in the table, else null (it is not a byte-level token). */
export function byteLevelTokenBytes(token: string): Uint8Array | null {
  // A number[] first: V8 makes small arrays faster than typed arrays, and there are 100k tokens.
  const out: number[] = [];
  for (const ch of token) {
    const b = charToByte.get(ch);
    if (b === undefined) return null;
    out.push(b);
  }
  return Uint8Array.from(out);
}

/** Raw bytes of a vocabulary token, e.g. "Ġthe" -> [0x20, 0x74, 0x68, 0x65]. */
export function tokenStringToBytes(token: string): Uint8Array {
  const out: number[] = [];
  for (const ch of token) {
    const b = charToByte.get(ch);
    // A character outside the table cannot come from a byte-level vocabulary; keeping its
    // UTF-8 bytes means a foreign token still decodes to something readable instead of vanishing.
    if (b === undefined) out.push(...utf8.encode(ch));
    else out.push(b);
  }
  return Uint8Array.from(out);
}
