// Loaded with `node --import ./hubroute-router.mjs` by tests/e2e/test_js_examples.py.
// @huggingface/inference has no setting for its router URL (HF_ROUTER_URL and HF_HUB_URL are
// constants in its src/config.ts; `endpointUrl` switches to the hf-inference helpers and refuses a
// `provider`), so the seed's examples run unchanged and their requests are sent on here instead:
// https://router.huggingface.co -> $HUBROUTE_URL (hubroute), https://huggingface.co -> $HF_HUB_MOCK_URL
// (a mock of the Hub's model API, which answers the client's provider-mapping look-ups).
const targets = [
  ["https://router.huggingface.co", process.env.HUBROUTE_URL],
  ["https://huggingface.co", process.env.HF_HUB_MOCK_URL],
];
for (const [, to] of targets) {
  if (!to) throw new Error("HUBROUTE_URL and HF_HUB_MOCK_URL must be set");
}
const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  for (const [from, to] of targets) {
    if (url === from || url.startsWith(from + "/")) {
      return realFetch(to + url.slice(from.length), init);
    }
  }
  if (!url.startsWith("http://127.0.0.1:")) {
    throw new Error(`unexpected request to ${url}`);
  }
  return realFetch(input, init);
};
