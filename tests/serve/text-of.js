// Print the generated text of an hc-serve response read from stdin, then a newline (as
// hc-run ends its output): a JSON completion or chat completion, or a server-sent event stream
// (which must end with "data: [DONE]"). Exit 1 with a message on anything else.
'use strict';
const fs = require('fs');
const body = fs.readFileSync(0, 'utf8');
function textOf(o, stream) {
	const c = o.choices && o.choices[0];
	if (!c)
		return '';
	if (stream)
		return c.text !== undefined ? c.text : (c.delta && c.delta.content) || '';
	return c.text !== undefined ? c.text : c.message.content;
}
try {
	if (body.startsWith('data: ')) {
		const events = body.split('\n\n').filter((e) => e.length);
		if (events[events.length - 1] !== 'data: [DONE]')
			throw new Error('the stream does not end with data: [DONE]');
		let text = '', finish = null;
		for (const e of events.slice(0, -1)) {
			if (!e.startsWith('data: '))
				throw new Error('not an SSE data event: ' + e.slice(0, 80));
			const o = JSON.parse(e.slice(6));
			if (o.error)
				throw new Error('error event: ' + JSON.stringify(o.error));
			text += textOf(o, true);
			if (o.choices && o.choices[0] && o.choices[0].finish_reason)
				finish = o.choices[0].finish_reason;
		}
		if (!finish)
			throw new Error('no finish_reason in the stream');
		process.stdout.write(text + '\n');
	} else {
		const o = JSON.parse(body);
		if (o.error)
			throw new Error('error: ' + JSON.stringify(o.error));
		process.stdout.write(textOf(o, false) + '\n');
	}
} catch (e) {
	process.stderr.write('text-of: ' + e.message + '\n');
	process.exit(1);
}
