import t from "tap";
import { ffnLayout, supportedArchitectures } from "../../lib/llama/architectures.js";
import { manifest } from "../helpers/fixtures.js";

t.test("every fixture architecture has a known FFN layout", async (t) => {
  for (const model of Object.values(manifest.models)) t.ok(ffnLayout(model.arch).activation.startsWith("ffn_"), model.arch);
  t.same(ffnLayout("gpt2"), { activation: "ffn_gelu", gate: "none" });
  t.same(ffnLayout("phi3"), { activation: "ffn_swiglu", gate: "fused" });
  t.same(ffnLayout("gemma2"), { activation: "ffn_geglu", gate: "separate" });
});

t.test("an unknown architecture is refused by name", async (t) => {
  t.throws(() => ffnLayout("mamba"), { code: "E_ARCH_UNSUPPORTED", message: /"mamba" is not supported/ });
  t.ok(supportedArchitectures().includes("qwen3"));
});
