// gguf-debias is an ES module (its addon loader and top-level awaits need it). CommonJS callers reach
// this file through package.json's "require" condition and are told how to load it instead of getting
// Node's ERR_REQUIRE_ESM.
const err = new Error('gguf-debias is an ES module and cannot be require()d: use `import { run } from "gguf-debias"`, or `const { run } = await import("gguf-debias")` from CommonJS.');
err.code = "E_ESM_ONLY";
throw err;
