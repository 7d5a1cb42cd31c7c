import { UserError } from "../../errors.js";
import type { TensorInfo, TensorReader } from "../../io/safetensors-parse.js";
import type { Backend, Matrix } from "../../kernels/backend.js";
import { allocMatrix, type WeightDType } from "../matrix.js";

/** Floats staged at a time while converting a matrix (never freed, so kept small). */
const STAGING_FLOATS = 1 << 16;

/**
 * Reads Hugging Face nn.Linear / nn.Embedding tensors, already (out_features, in_features), into
 * the backend's memory a few rows at a time through one staging buffer, so f16 and q8 storage
 * never hold a whole f32 copy. `stacked` lays several tensors' rows one after another in one
 * matrix: how q, k, v become one projection and gate, up another, at load and not per step.
 */
export class HFTensors {
  private staging: Float32Array | null = null;

  constructor(
    private readonly where: string,
    private readonly tensors: ReadonlyMap<string, TensorInfo>,
    private readonly reader: TensorReader,
    private readonly backend: Backend,
    private readonly dtype: WeightDType,
  ) {}

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  tensor(name: string, shape: readonly number[]): TensorInfo {
    const t = this.tensors.get(name);
    if (t === undefined) throw new UserError(`${this.where}: tensor ${name} is missing from the checkpoint`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new UserError(`${this.where}: tensor ${name} has shape [${t.shape.join(", ")}] but config.json implies [${shape.join(", ")}]`);
    }
    return t;
  }

  vector(name: string, length: number): Float32Array {
    const out = this.backend.allocF32(length);
    this.reader.readF32(this.tensor(name, [length]), out);
    return out;
  }

  /** Several vectors end to end (the biases of a stacked matrix). */
  stackedVector(names: readonly string[], lengths: readonly number[]): Float32Array {
    const out = this.backend.allocF32(lengths.reduce((a, b) => a + b, 0));
    let at = 0;
    names.forEach((name, i) => {
      this.reader.readF32(this.tensor(name, [lengths[i]]), out.subarray(at, at + lengths[i]));
      at += lengths[i];
    });
    return out;
  }

  matrix(name: string, rows: number, cols: number): Matrix {
    return this.stacked([name], [rows], cols);
  }

  /** One (Σ rows, cols) matrix whose rows are those of each named (rows[i], cols) tensor in turn. */
  stacked(names: readonly string[], rows: readonly number[], cols: number): Matrix {
    const m = allocMatrix(this.backend, rows.reduce((a, b) => a + b, 0), cols, this.dtype);
    const stage = this.stage(cols);
    const sliceRows = Math.floor(stage.length / cols);
    let firstRow = 0;
    names.forEach((name, i) => {
      const t = this.tensor(name, [rows[i], cols]);
      for (let r = 0; r < rows[i]; r += sliceRows) {
        const n = Math.min(sliceRows, rows[i] - r);
        this.reader.readF32(t, stage, r * cols, n * cols);
        this.backend.writeMatrixRows(m, firstRow + r, stage, n);
      }
      firstRow += rows[i];
    });
    return m;
  }

  /** The staging buffer, holding at least one row of `cols`. */
  private stage(cols: number): Float32Array {
    if (this.staging === null || this.staging.length < cols) this.staging = this.backend.allocF32(Math.max(STAGING_FLOATS, cols));
    return this.staging;
  }
}
