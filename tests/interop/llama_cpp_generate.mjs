// Greedy continuation of token-id prompts by llama.cpp (node-llama-cpp's prebuilt CPU binary),
// and the GGUF metadata as @huggingface/gguf reads it. Used by gguf_llama_cpp_test.
//   node llama_cpp_generate.mjs MODEL.gguf PROMPTS.json N_NEW > OUT.json
// PROMPTS.json: {"prompts": [[ids...], ...], "texts": ["...", ...]}. OUT.json: {"generated":
// [[ids...], ...], "tokenized": [[ids...], ...] (llama.cpp's own tokenization of each text),
// "metadata": {...}, "tensor_types": {name: ggml type number}}. With "sequences": [{"tokens":
// [...], "from": k}, ...] also "forced": llama.cpp's greedy token after each prefix tokens[:end],
// end = k .. length-1.
// Exit code 77 (a skip) when the packages are not installed.
import fs from "node:fs";

let nlc, gguf;
try {
  nlc = await import("node-llama-cpp");
  gguf = await import("@huggingface/gguf");
} catch (e) {
  console.error("node-llama-cpp or @huggingface/gguf not installed: " + e.message);
  process.exit(77);
}
const [modelPath, promptsPath, nNewArg] = process.argv.slice(2);
const nNew = Number(nNewArg);
const input = JSON.parse(fs.readFileSync(promptsPath, "utf8"));

// Metadata through a reader this project did not write.
const { metadata, tensorInfos } = await gguf.gguf(modelPath, { allowLocalFile: true });
const meta = {};
for (const [k, v] of Object.entries(metadata)) {
  if (Array.isArray(v)) meta[k] = { length: v.length, first: v.slice(0, 3), last: v[v.length - 1] };
  else meta[k] = typeof v === "bigint" ? Number(v) : v;
}
const tensorTypes = {};
for (const t of tensorInfos) tensorTypes[t.name] = Number(t.dtype);

const llama = await nlc.getLlama({ gpu: false, build: "never", logLevel: "error",
                                   progressLogs: false, skipDownload: true });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
// An fp32 KV cache like dqt's attention (llama.cpp's default is fp16). The test's token counts
// were the same with the default cache (TQ2_0 and Q8_0 measured).
const contextOptions = { contextSize: Number(meta["llama.context_length"]), batchSize: 64,
                         threads: 1, experimentalKvCacheKeyType: "F32",
                         experimentalKvCacheValueType: "F32" };
const generated = [];
for (const prompt of input.prompts) {
  // A fresh context per prompt: nothing carries over between prompts.
  const context = await model.createContext(contextOptions);
  const sequence = context.getSequence();
  const out = [];
  for await (const token of sequence.evaluate(prompt, { temperature: 0 })) {
    out.push(token);
    if (out.length >= nNew) break;
  }
  generated.push(out);
  await context.dispose();
}
// Teacher-forced: llama.cpp's greedy next token after each prefix of the given sequences (dqt's
// greedy continuations), so one flipped near-tie does not change every later comparison.
const forced = [];
if (input.sequences) {
  const context = await model.createContext(contextOptions);
  const sequence = context.getSequence();
  for (const { tokens, from } of input.sequences) {
    const next = [];
    for (let end = from; end < tokens.length; ++end) {
      await sequence.clearHistory();
      for await (const token of sequence.evaluate(tokens.slice(0, end), { temperature: 0 })) {
        next.push(token);
        break;
      }
    }
    forced.push(next);
  }
  await context.dispose();
}
const tokenized = (input.texts || []).map((t) => model.tokenize(t, false));
await model.dispose();
process.stdout.write(JSON.stringify({ generated, forced, tokenized, metadata: meta,
                                      tensor_types: tensorTypes }) + "\n");
process.exit(0);
