// Load benchmark for `moe serve` (not a test): for each concurrency level, that many clients
// each stream `--requests` chat completions back to back; reports aggregate generated
// tokens/s and p50/p99 time to first token. Needs only Node 18+ (fetch).
//   node bench/server_load.mjs --url http://127.0.0.1:8080 [--key KEY] [--levels 1,4,16,64]
//        [--requests 2] [--max-tokens 32] [--json]
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]?.startsWith('--') || all[i + 1] === undefined ? 'true' : all[i + 1]]);
  return acc;
}, []));
const url = args.url ?? 'http://127.0.0.1:8080';
const levels = (args.levels ?? '1,4,16,64').split(',').map(Number);
const perClient = Number(args.requests ?? 2);
const maxTokens = Number(args['max-tokens'] ?? 32);
const headers = { 'Content-Type': 'application/json', ...(args.key ? { Authorization: `Bearer ${args.key}` } : {}) };

async function streamOne(i) {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST', headers,
    body: JSON.stringify({
      messages: [{ role: 'user', content: `Write a short story about the number ${i}.` }],
      max_tokens: maxTokens, temperature: 0.8, seed: i, stream: true, ignore_eos: true, stream_options: { include_usage: true },
    }),
  });
  if (!res.ok) return { error: res.status };
  let ttft = null, tokens = 0, buf = '';
  const decoder = new TextDecoder();
  for await (const bytes of res.body) {
    if (ttft === null) ttft = performance.now() - t0;  // the first event carries the role: the request started
    buf += decoder.decode(bytes, { stream: true });
    let k;
    while ((k = buf.indexOf('\n\n')) >= 0) {
      const line = buf.slice(0, k);
      buf = buf.slice(k + 2);
      if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
      const j = JSON.parse(line.slice(6));
      if (j.usage) tokens = j.usage.completion_tokens;
    }
  }
  return { ttft, tokens, total: performance.now() - t0 };
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

const rows = [];
for (const c of levels) {
  const t0 = performance.now();
  const results = (await Promise.all(Array.from({ length: c }, async (_, w) => {
    const out = [];
    for (let r = 0; r < perClient; r++) out.push(await streamOne(w * 1000 + r));
    return out;
  }))).flat();
  const wall = (performance.now() - t0) / 1000;
  const ok = results.filter((r) => !r.error);
  const tokens = ok.reduce((a, r) => a + r.tokens, 0);
  const ttfts = ok.map((r) => r.ttft);
  rows.push({ concurrency: c, requests: results.length, errors: results.length - ok.length,
              generated_tokens: tokens, tokens_per_s: tokens / wall,
              ttft_p50_ms: pct(ttfts, 50), ttft_p99_ms: pct(ttfts, 99) });
}
if (args.json) console.log(JSON.stringify(rows));
else {
  console.log('| streams | requests | errors | generated tok/s | TTFT p50 ms | TTFT p99 ms |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  for (const r of rows)
    console.log(`| ${r.concurrency} | ${r.requests} | ${r.errors} | ${r.tokens_per_s.toFixed(1)} | ${r.ttft_p50_ms.toFixed(0)} | ${r.ttft_p99_ms.toFixed(0)} |`);
}
