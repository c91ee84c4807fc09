// tests/e2e/serve_openai.mjs — the official `openai` npm client against a
// running `ragdb serve` (run by test_serve_openai.sh with BASE_URL, API_KEY
// and NODE_PATH set): embeddings, chat completions plain and streaming,
// models, and an error. Exits non-zero with a message on the first failure.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(process.env.NPM_DIR + '/');
const { default: OpenAI } = await import(require.resolve('openai'));

const client = new OpenAI({ baseURL: process.env.BASE_URL + '/v1', apiKey: process.env.API_KEY,
                            maxRetries: 0, timeout: 30000 });
const question = 'How do I rotate the API signing keys?';

// Embeddings: the client asks for base64 by default and decodes it.
const emb = await client.embeddings.create({ model: 'text-embedding-3-small',
                                             input: ['rotate the signing keys', 'restore from backup'] });
assert.equal(emb.object, 'list');
assert.equal(emb.data.length, 2);
assert.equal(emb.data[1].index, 1);
const v = emb.data[0].embedding;
assert.ok(Array.isArray(v) && v.length > 8, 'an embedding is a list of numbers');
const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
assert.ok(Math.abs(norm - 1) < 0.01, 'embeddings are unit length, got ' + norm);
assert.ok(emb.usage.prompt_tokens > 0);
const embF = await client.embeddings.create({ model: 'x', input: 'rotate the signing keys',
                                              encoding_format: 'float' });
const same = embF.data[0].embedding.every((x, i) => Math.abs(x - v[i]) < 1e-6);
assert.ok(same, 'float and base64 encodings give the same vector');

// Chat, plain: grounded in the knowledge base, with usage and sources.
const messages = [
  { role: 'system', content: 'Answer from the knowledge base.' },
  { role: 'user', content: 'Who is on call?' },
  { role: 'assistant', content: 'The pager rotation says.' },
  { role: 'user', content: question },
];
const chat = await client.chat.completions.create({ model: 'gpt-4o-mini', messages });
assert.equal(chat.object, 'chat.completion');
const content = chat.choices[0].message.content;
assert.equal(chat.choices[0].message.role, 'assistant');
assert.equal(chat.choices[0].finish_reason, 'stop');
assert.match(content, /\[1\]/, 'the answer cites its sources');
assert.ok(chat.usage.prompt_tokens > 0 && chat.usage.completion_tokens > 0);
assert.equal(chat.usage.total_tokens, chat.usage.prompt_tokens + chat.usage.completion_tokens);
assert.equal(chat.sources[0].id, 'rotating-api-keys.md', 'the extra sources field');

// Chat, streaming: the chunks add up to the same answer.
const stream = await client.chat.completions.create({
  model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } });
let text = '', finish = null, usage = null, role = null, chunks = 0;
for await (const chunk of stream) {
  chunks++;
  assert.equal(chunk.object, 'chat.completion.chunk');
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    if (c.delta.role) role = c.delta.role;
    if (c.delta.content) text += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
}
assert.ok(chunks >= 2, 'several chunks');
assert.equal(role, 'assistant');
assert.equal(finish, 'stop');
assert.equal(text, content, 'the streamed answer equals the plain one');
assert.ok(usage && usage.total_tokens > 0, 'usage arrives in the stream');

// Models: the built-in answerer and the embedder are listed.
const ids = [];
for await (const m of client.models.list()) ids.push(m.id);
assert.ok(ids.includes('extractive'), 'models: ' + ids.join(', '));

// A bad request is the client's BadRequestError with the server's message.
await assert.rejects(client.chat.completions.create({ model: 'm', messages: [] }), (e) => {
  assert.equal(e.status, 400);
  assert.match(e.message, /messages/);
  return true;
});
// A wrong key is an AuthenticationError.
const wrong = new OpenAI({ baseURL: process.env.BASE_URL + '/v1', apiKey: 'not-the-key-1234',
                           maxRetries: 0 });
await assert.rejects(wrong.models.list(), (e) => e.status === 401);

console.log('openai client: embeddings, chat, streaming chat, models, errors: ok');
