// The official openai npm client against hc-serve: models.list, a greedy chat completion
// (whole and streamed, printed on two lines for the caller to compare with hc-run --chat),
// and an unsupported parameter that must come back as a 400 naming it.
// Usage: node openai-client.mjs NODE_MODULES_DIR BASE_URL PROMPT MAX_TOKENS
import { createRequire } from 'module';
const [dir, baseURL, prompt, maxTokens] = process.argv.slice(2);
const require = createRequire(dir + '/');
const OpenAI = require('openai');

const client = new OpenAI({ baseURL, apiKey: 'unused', timeout: 60000, maxRetries: 0 });
const models = await client.models.list();
const model = models.data[0].id;
if (!model || !models.data[0].identity)
	throw new Error('models.list: no model or identity: ' + JSON.stringify(models.data));
const req = {
	model, messages: [{ role: 'user', content: prompt }], temperature: 0,
	max_tokens: Number(maxTokens),
};
const whole = await client.chat.completions.create(req);
if (whole.usage.completion_tokens < 1 || whole.usage.prompt_tokens < 1)
	throw new Error('usage: ' + JSON.stringify(whole.usage));
let streamed = '';
const stream = await client.chat.completions.create({ ...req, stream: true });
for await (const chunk of stream)
	streamed += chunk.choices[0]?.delta?.content || '';
let refused = null;
try {
	await client.chat.completions.create({ ...req, n: 2 });
} catch (e) {
	refused = e;
}
if (!refused || refused.status !== 400 || refused.param !== 'n')
	throw new Error('n = 2 was not refused with 400 naming n: ' + refused);
process.stdout.write(whole.choices[0].message.content + '\n' + streamed + '\n');
