// `moe serve` driven by the official OpenAI Node SDK, as chat front-ends and agents use it.
// Run by tests/server/e2e.sh, which starts the server on a synth model and sets
// MOE_BASE_URL and MOE_API_KEY.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = `${process.env.MOE_BASE_URL}/v1`;
const apiKey = process.env.MOE_API_KEY;
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });
const model = 'synth';
const user = (content) => [{ role: 'user', content }];

async function collect(stream) {
  let text = '', finish = null, usage = null, role = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta?.role) role = c.delta.role;
      if (c.delta?.content) text += c.delta.content;
      if (c.text) text += c.text;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  return { text, finish, usage, role, chunks };
}

test('chat completion: message, finish reason, usage', async () => {
  const r = await client.chat.completions.create({ model, messages: user('Hello'), max_tokens: 8, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 0);
  assert.ok(r.usage.completion_tokens <= 8);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

test('streamed chat equals the whole response, with include_usage', async () => {
  const params = { model, messages: user('Stream me'), max_tokens: 16, temperature: 0 };
  const whole = await client.chat.completions.create(params);
  const s = await collect(await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } }));
  assert.equal(s.role, 'assistant');
  assert.equal(s.text, whole.choices[0].message.content);
  assert.equal(s.finish, whole.choices[0].finish_reason);
  assert.deepEqual(
    { p: s.usage.prompt_tokens, c: s.usage.completion_tokens },
    { p: whole.usage.prompt_tokens, c: whole.usage.completion_tokens });
});

test('max_completion_tokens limits the reply and finishes with length', async () => {
  const r = await client.chat.completions.create({ model, messages: user('Go'), max_completion_tokens: 3, temperature: 1, seed: 5 });
  assert.ok(r.usage.completion_tokens <= 3);
  if (r.usage.completion_tokens === 3) assert.equal(r.choices[0].finish_reason, 'length');
});

test('completions: text prompt, token prompt, streaming', async () => {
  const r = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 6, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.equal(typeof r.choices[0].text, 'string');
  assert.ok(r.usage.completion_tokens <= 6);
  const t = await client.completions.create({ model, prompt: [1, 2, 3, 4], max_tokens: 4, temperature: 0 });
  assert.equal(t.usage.prompt_tokens, 4);
  const s = await collect(await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 6, temperature: 0, stream: true }));
  assert.equal(s.text, r.choices[0].text);
});

test('stop sequences end the reply and are never emitted', async () => {
  const params = { model, messages: user('stop here'), max_tokens: 24, temperature: 0 };
  const full = (await client.chat.completions.create(params)).choices[0].message.content;
  assert.ok(full.length >= 8, `reply too short to cut: ${JSON.stringify(full)}`);
  const stop = full.slice(4, 6);
  const want = full.slice(0, full.indexOf(stop));
  const r = await client.chat.completions.create({ ...params, stop: [stop, '\u0001never'] });
  assert.equal(r.choices[0].message.content, want);
  assert.equal(r.choices[0].finish_reason, 'stop');
  const s = await collect(await client.chat.completions.create({ ...params, stop, stream: true }));
  assert.equal(s.text, want);
  assert.equal(s.finish, 'stop');
});

test('logprobs: chosen token and its top alternatives', async () => {
  const r = await client.chat.completions.create({ model, messages: user('Hi'), max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 3 });
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, r.usage.completion_tokens);
  for (const e of content) {
    assert.equal(typeof e.token, 'string');
    assert.ok(e.logprob <= 0);
    assert.ok(Array.isArray(e.bytes));
    assert.equal(e.top_logprobs.length, 3);
    assert.equal(e.top_logprobs[0].logprob, e.logprob, 'greedy picks the most likely token');
  }
});

test('16 concurrent seeded streams each match their solo run', async () => {
  const params = (i) => ({ model, messages: user(`topic ${i}`), max_tokens: 16, temperature: 0.9, top_p: 0.95, seed: 40 + i });
  const streams = await Promise.all(Array.from({ length: 16 }, (_, i) =>
    client.chat.completions.create({ ...params(i), stream: true }).then(collect)));
  for (let i = 0; i < 16; i++) {
    const solo = await client.chat.completions.create(params(i));
    assert.equal(streams[i].text, solo.choices[0].message.content, `client ${i}`);
  }
});

test('models list names the served model', async () => {
  const list = await client.models.list();
  assert.deepEqual(list.data.map((m) => m.id), [model]);
});

test('bad requests raise the SDK error classes with OpenAI bodies', async () => {
  await assert.rejects(client.chat.completions.create({ model, messages: user('x'), temperature: 5 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.error?.param === 'temperature');
  await assert.rejects(client.chat.completions.create({ model, messages: [] }),
    (e) => e instanceof OpenAI.BadRequestError && e.error?.param === 'messages');
  await assert.rejects(client.chat.completions.create({ model, messages: [{ role: 'wizard', content: 'x' }] }),
    (e) => e instanceof OpenAI.BadRequestError);
  await assert.rejects(client.chat.completions.create({ model, messages: user('word '.repeat(40000)) }),
    (e) => e instanceof OpenAI.BadRequestError && e.code === 'context_length_exceeded' && /maximum context length/.test(e.message));
  const wrong = new OpenAI({ baseURL, apiKey: 'wrong-key', maxRetries: 0 });
  await assert.rejects(wrong.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
});

test('aborting a stream cancels the generation on the server', async () => {
  const controller = new AbortController();
  const stream = await client.chat.completions.create(
    { model, messages: user('never stop'), max_tokens: 100000, temperature: 1, stream: true, ignore_eos: true },
    { signal: controller.signal });
  let n = 0;
  try {
    for await (const _ of stream) {
      if (++n === 2) {
        controller.abort();
        break;
      }
    }
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError', `unexpected error ${e}`);
  }
  assert.equal(n, 2);
  // The server notices the closed connection and counts a 499; the slot frees at once.
  let metrics = '';
  for (let i = 0; i < 100; i++) {
    metrics = await (await fetch(`${process.env.MOE_BASE_URL}/metrics`)).text();
    if (/moe_requests_total\{[^}]*status="499"[^}]*\} [1-9]/.test(metrics) && /moe_requests_running 0/.test(metrics)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(metrics, /status="499"/);
  assert.match(metrics, /moe_requests_running 0/);
});
