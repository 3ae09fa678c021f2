// Where each architecture keeps its FFN neurons. `activation` is llama.cpp's graph name of the vector fed
// into ffn_down (build_ffn names it "<activation>-<layer>"); `gate` tells the editor which tensor rows
// silence a neuron: a separate ffn_gate, the first half of a fused ffn_up (phi3), or none (ungated GELU,
// where ffn_up's row and bias element do it).
import { DebiasError } from "../errors.js";

export type GateLayout = "separate" | "fused" | "none";

export interface FfnLayout {
  activation: string;
  gate: GateLayout;
}

const SWIGLU: FfnLayout = { activation: "ffn_swiglu", gate: "separate" };
const GEGLU: FfnLayout = { activation: "ffn_geglu", gate: "separate" };
const GELU: FfnLayout = { activation: "ffn_gelu", gate: "none" };

const LAYOUTS: Record<string, FfnLayout> = {
  llama: SWIGLU,
  mistral3: SWIGLU,
  qwen2: SWIGLU,
  qwen3: SWIGLU,
  granite: SWIGLU,
  olmo2: SWIGLU,
  stablelm: SWIGLU,
  internlm2: SWIGLU,
  "command-r": SWIGLU,
  cohere2: SWIGLU,
  exaone: SWIGLU,
  smollm3: SWIGLU,
  gemma: GEGLU,
  gemma2: GEGLU,
  gemma3: GEGLU,
  phi3: { activation: "ffn_swiglu", gate: "fused" },
  gpt2: GELU,
  phi2: GELU,
  starcoder2: GELU,
  falcon: GELU,
  bloom: GELU,
  gptneox: GELU,
};

export function supportedArchitectures(): string[] {
  return Object.keys(LAYOUTS).sort();
}

export function ffnLayout(arch: string): FfnLayout {
  const layout = LAYOUTS[arch];
  if (!layout) {
    throw new DebiasError(
      "E_ARCH_UNSUPPORTED",
      `architecture "${arch}" is not supported: gguf-debias knows where the FFN neurons of ${supportedArchitectures().join(", ")} live`,
    );
  }
  return layout;
}
