import { createWasmBackend } from "../../src/kernels/index.js";
const b = await createWasmBackend({ threads: 2, minParallelNanos: 0 });
const x = b.allocF32(8192), y = b.allocF32(8192);
const med: number[] = [];
for (let r = 0; r < 15; r++) { const t0 = performance.now(); for (let i = 0; i < 20000; i++) b.addInPlace(x, y, 8192); med.push((performance.now() - t0) / 20000 * 1000); }
med.sort((a, c) => a - c);
console.log(`add 8192 on 2 threads: median ${med[7].toFixed(2)} µs, best ${med[0].toFixed(2)}`);
b.close();
