import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { cpuFlags, native, tunedCpuBackend } from "../lib/native.js";
import { packageRoot } from "../lib/package-root.js";

t.test("the addon reports how it was built", async (t) => {
  const info = native().buildInfo();
  t.match(info.llama, /^(prebuilt|source)$/);
  t.match(info.llamaCommit, /^[0-9a-f]{40}$/);
  t.ok(info.devices.some((d) => d.name === "CPU"), "a CPU device is available");
});

t.test("the CPU backend compiled at install for this CPU is the one in use, and only on that CPU", async (t) => {
  const release = join(packageRoot(), "build", "Release");
  const stamp = JSON.parse(readFileSync(join(release, "build-info.json"), "utf8")) as { llama: string; cpuBackend?: string; cpuFlags?: string };
  const dir = t.testdir({ "libggml-cpu-tuned.so": "" });
  const flags = cpuFlags();
  if (flags) {
    const built = { llama: "prebuilt" as const, prebuiltDir: "/x", cpuBackend: "libggml-cpu-tuned.so", cpuFlags: flags };
    t.equal(tunedCpuBackend(dir, built), join(dir, "libggml-cpu-tuned.so"), "same CPU: the tuned backend");
    t.equal(tunedCpuBackend(dir, { ...built, cpuFlags: `${flags} avx10_2` }), null, "another CPU: the prebuilt variants");
    t.equal(tunedCpuBackend(dir, { ...built, cpuBackend: "missing.so" }), null, "a missing file: the prebuilt variants");
  }
  native();
  const maps = readFileSync("/proc/self/maps", "utf8");
  if (stamp.llama === "prebuilt" && stamp.cpuBackend && stamp.cpuFlags === flags) {
    t.ok(maps.includes(join(release, stamp.cpuBackend)), "the tuned backend is mapped");
    t.notMatch(maps, /libggml-cpu-(?!tuned)[a-z0-9]+\.so/, "no prebuilt CPU variant is");
  }
});

t.test("ggml's type traits", async (t) => {
  t.match(native().typeInfo(0), { name: "f32", blockSize: 1, typeSize: 4, isQuantized: false });
  t.match(native().typeInfo(8), { name: "q8_0", blockSize: 32, typeSize: 34, isQuantized: true });
  t.match(native().typeInfo(12), { name: "q4_K", blockSize: 256, typeSize: 144, isQuantized: true });
  t.throws(() => native().typeInfo(4), { code: "E_GGML_TYPE", message: /ggml type 4 is unknown/ }, "removed Q4_2");
  t.throws(() => native().typeInfo(9999), { code: "E_GGML_TYPE" });
});

t.test("quantize and dequantize through ggml", async (t) => {
  const values = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * 3);
  const q8 = await native().quantize(8, values, 32);
  t.equal(q8.length, 68, "two Q8_0 blocks");
  const back = await native().dequantize(8, q8, 64);
  const step = 3 / 127;
  t.ok(back.every((v, i) => Math.abs(v - values[i]!) <= step / 2 + 1e-6), "Q8_0 round trip within half a step");
  const f32 = await native().dequantize(0, new Uint8Array(values.buffer), 64);
  t.same(Array.from(f32), Array.from(values), "F32 is a copy");
  await t.rejects(async () => native().dequantize(8, q8, 32), { code: "E_ARGUMENT", message: /68 bytes do not hold 32 elements/ });
  await t.rejects(async () => native().quantize(12, values, 64), { code: "E_ARGUMENT", message: /rows of 64 values do not fit/ });
  await t.rejects(async () => native().quantize(16, Float32Array.from({ length: 256 }), 256), { code: "E_GGML_TYPE", message: /importance matrix/ });
});
