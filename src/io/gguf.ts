/**
 * GGUF, the file format of llama.cpp (ggml docs/gguf.md): a little-endian header with the magic
 * "GGUF", a version, tensor and metadata counts, typed key/value metadata, tensor descriptions
 * (name, dims with the fastest-varying first, ggml type, offset into the data section), then the
 * tensor data, each tensor aligned to `general.alignment` (default 32) bytes.
 */

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
/** v2 has the same little-endian layout as v3 (v3 only added big-endian files). */
export const GGUF_READABLE_VERSIONS: readonly number[] = [2, 3];
export const GGUF_DEFAULT_ALIGNMENT = 32;
export const GGML_MAX_DIMS = 4;

/** Metadata value types. */
export const GGUFValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GGUFValueType = (typeof GGUFValueType)[keyof typeof GGUFValueType];

export type GGUFScalar = number | bigint | boolean | string;
export type GGUFValue = GGUFScalar | readonly GGUFScalar[];

/** A metadata entry with its on-disk type, as the writer needs it. */
export type GGUFEntry =
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "u32" | "i32" | "f32" | "bool"; readonly value: number | boolean }
  | { readonly type: "string[]"; readonly value: readonly string[] }
  | { readonly type: "i32[]" | "f32[]"; readonly value: readonly number[] };

/** The ggml tensor types this engine reads (real files: F32/F16/BF16 and the 32- and 256-value block quants). */
export const GGMLType = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q4_K: 12, Q5_K: 13, Q6_K: 14, BF16: 30 } as const;
export type ReadableGGMLType = (typeof GGMLType)[keyof typeof GGMLType];
/** The types `convert` writes: the --dtype choices and the types rows not whole K-blocks fall back to. */
export type WritableGGMLType =
  | typeof GGMLType.F32
  | typeof GGMLType.F16
  | typeof GGMLType.Q8_0
  | typeof GGMLType.Q4_0
  | typeof GGMLType.Q5_0
  | typeof GGMLType.Q5_1
  | typeof GGMLType.Q4_K
  | typeof GGMLType.Q5_K
  | typeof GGMLType.Q6_K;

/** Elements per block and bytes per block of every ggml type, so any file's layout can be checked. */
const GGML_TYPES: Record<number, { name: string; blockSize: number; typeSize: number }> = {
  0: { name: "F32", blockSize: 1, typeSize: 4 },
  1: { name: "F16", blockSize: 1, typeSize: 2 },
  2: { name: "Q4_0", blockSize: 32, typeSize: 18 },
  3: { name: "Q4_1", blockSize: 32, typeSize: 20 },
  6: { name: "Q5_0", blockSize: 32, typeSize: 22 },
  7: { name: "Q5_1", blockSize: 32, typeSize: 24 },
  8: { name: "Q8_0", blockSize: 32, typeSize: 34 },
  9: { name: "Q8_1", blockSize: 32, typeSize: 36 },
  10: { name: "Q2_K", blockSize: 256, typeSize: 84 },
  11: { name: "Q3_K", blockSize: 256, typeSize: 110 },
  12: { name: "Q4_K", blockSize: 256, typeSize: 144 },
  13: { name: "Q5_K", blockSize: 256, typeSize: 176 },
  14: { name: "Q6_K", blockSize: 256, typeSize: 210 },
  15: { name: "Q8_K", blockSize: 256, typeSize: 292 },
  16: { name: "IQ2_XXS", blockSize: 256, typeSize: 66 },
  17: { name: "IQ2_XS", blockSize: 256, typeSize: 74 },
  18: { name: "IQ3_XXS", blockSize: 256, typeSize: 98 },
  19: { name: "IQ1_S", blockSize: 256, typeSize: 50 },
  20: { name: "IQ4_NL", blockSize: 32, typeSize: 18 },
  21: { name: "IQ3_S", blockSize: 256, typeSize: 110 },
  22: { name: "IQ2_S", blockSize: 256, typeSize: 82 },
  23: { name: "IQ4_XS", blockSize: 256, typeSize: 136 },
  24: { name: "I8", blockSize: 1, typeSize: 1 },
  25: { name: "I16", blockSize: 1, typeSize: 2 },
  26: { name: "I32", blockSize: 1, typeSize: 4 },
  27: { name: "I64", blockSize: 1, typeSize: 8 },
  28: { name: "F64", blockSize: 1, typeSize: 8 },
  29: { name: "IQ1_M", blockSize: 256, typeSize: 56 },
  30: { name: "BF16", blockSize: 1, typeSize: 2 },
  34: { name: "TQ1_0", blockSize: 256, typeSize: 54 },
  35: { name: "TQ2_0", blockSize: 256, typeSize: 66 },
  39: { name: "MXFP4", blockSize: 32, typeSize: 17 },
};

export function ggmlTypeName(type: number): string {
  return GGML_TYPES[type]?.name ?? `type ${type}`;
}

const READABLE: ReadonlySet<number> = new Set(Object.values(GGMLType));

export function isReadableType(type: number): type is ReadableGGMLType {
  return READABLE.has(type);
}

/** The names of the readable types, for errors. */
export function readableTypeNames(): string {
  return Object.keys(GGMLType).join(", ");
}

/** Block size and bytes per block, or null for a type this table does not know. */
export function ggmlTypeLayout(type: number): { blockSize: number; typeSize: number } | null {
  return GGML_TYPES[type] ?? null;
}

/** Bytes of `elements` values of `type`; elements must be a whole number of blocks. */
export function ggmlByteSize(type: number, elements: number): number {
  const layout = GGML_TYPES[type];
  if (layout === undefined) throw new Error(`unknown ggml type ${type}`);
  return (elements / layout.blockSize) * layout.typeSize;
}

/** llama.cpp's general.file_type (llama_ftype) for a file whose matrices are mostly of one type. */
export const LLAMA_FILE_TYPE: Record<WritableGGMLType, number> = { 0: 0, 1: 1, 2: 2, 6: 8, 7: 9, 8: 7, 12: 14, 13: 16, 14: 18 };

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** tokenizer.ggml.token_type values (llama.cpp's llama_token_type). */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;
