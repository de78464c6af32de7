// A long prompt's prefill must not stall the other streams of the server (test-serve.sh case
// prefill). Stream A (a long, paced completion) runs; once its tokens flow, request B with a
// prompt of PROMPT_TOKENS ids is sent, and /metrics is read back to back until B's first token.
// hc_serve_contexts_prefilling{card="0"} > 0 says, in the server's own words, that B is being
// prefilled (A's prefill is long over and nothing else runs). Two checks:
//  - the server: hc_serve_completion_tokens_total (counted as each token is forwarded) grew
//    between two readings that both fall inside B's prefill (the first reading that shows it,
//    and one taken before another reading that still shows it);
//  - the client: A received token events after the first reading that showed B prefilling
//    came back and before the last one that showed it was sent.
// On a server that prefills in its event loop neither can happen: nothing is forwarded while
// a prefill runs. Writes B's whole response to B_OUT, prints what it saw, exits 1 on failure.
// Usage: node prefill-stall.js URL MODEL PROMPT_TOKENS A_MAX_TOKENS B_OUT
'use strict';
const http = require('http');
const fs = require('fs');
const [url, model, nPrompt, aMax, bOut] = process.argv.slice(2);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const t0 = process.hrtime.bigint();
const secs = () => Number(process.hrtime.bigint() - t0) / 1e9;
function fail(msg) {
	process.stderr.write('prefill-stall: ' + msg + '\n');
	process.exit(1);
}

// A streaming completion; onEvent(parsed) per data event, onEnd() at the end.
function stream(body, onEvent, onEnd) {
	const req = http.request(url + '/v1/completions', {
		method: 'POST', headers: { 'Content-Type': 'application/json' },
	}, (res) => {
		let buf = '';
		if (res.statusCode !== 200)
			fail('status ' + res.statusCode + ' for ' + body.slice(0, 80));
		res.setEncoding('utf8');
		res.on('data', (d) => {
			buf += d;
			let i;
			while ((i = buf.indexOf('\n\n')) >= 0) {
				const e = buf.slice(0, i);
				buf = buf.slice(i + 2);
				onEvent(e);
			}
		});
		res.on('end', onEnd);
	});
	req.on('error', (e) => { if (!quitting) fail('request: ' + e.message); });
	req.end(body);
	return req;
}

function metrics() {
	return new Promise((resolve, reject) => {
		http.get(url + '/metrics', { agent }, (res) => {
			let s = '';
			res.setEncoding('utf8');
			res.on('data', (d) => { s += d; });
			res.on('end', () => {
				const v = (name) => {
					const m = s.match(new RegExp('^' + name + '\\{card="0"[^}]*\\} (\\d+)', 'm'));
					return m ? Number(m[1]) : NaN;
				};
				resolve({ prefilling: v('hc_serve_contexts_prefilling'),
					  tokens: v('hc_serve_completion_tokens_total') });
			});
		}).on('error', reject);
	});
}

let quitting = false, aEvents = 0, aEnded = false, bFirst = null, bDone = false, bBody = '';
const a = stream(JSON.stringify({ model, prompt: 'Once upon a time', max_tokens: Number(aMax),
				  temperature: 0, stream: true }),
	(e) => { if (e.includes('"text"')) aEvents++; }, () => { aEnded = true; });

async function main() {
	// A's tokens flow
	while (aEvents < 5) {
		if (aEnded)
			fail('stream A ended before it started');
		await new Promise((r) => setTimeout(r, 10));
	}
	const ids = [];
	for (let i = 0; i < Number(nPrompt); i++)
		ids.push(1000 + (i * 7919) % 60000);
	const tB = secs();
	stream(JSON.stringify({ model, prompt: ids, max_tokens: 8, temperature: 0, stream: true }),
		(e) => {
			bBody += e + '\n\n';
			if (bFirst === null && e.includes('"text"'))
				bFirst = { t: secs(), a: aEvents };
		}, () => { bDone = true; });
	const snaps = [];
	while (bFirst === null && !bDone) {
		const aAtSend = aEvents, t = secs();
		const m = await metrics();
		snaps.push({ ...m, aAtSend, aAtRecv: aEvents, t });
		await new Promise((r) => setTimeout(r, 5));	// a sampling interval, not a wait
	}
	while (!bDone)
		await new Promise((r) => setTimeout(r, 10));
	fs.writeFileSync(bOut, bBody);
	const endedEarly = aEnded;
	quitting = true;
	a.destroy();
	agent.destroy();
	const p = snaps.filter((s) => s.prefilling > 0);
	console.log(`B (${nPrompt} prompt tokens) sent at ${tB.toFixed(2)} s, first token at ` +
		    `${bFirst ? bFirst.t.toFixed(2) : '-'} s; ${snaps.length} /metrics readings, ` +
		    `${p.length} with B prefilling` + (p.length ? ` (${p[0].t.toFixed(2)} s to ` +
		    `${p[p.length - 1].t.toFixed(2)} s)` : ''));
	if (endedEarly)
		fail('stream A ended before B\'s first token: it cannot show anything');
	if (p.length < 3)
		fail('B\'s prefill was seen in only ' + p.length + ' readings: too short to tell');
	const served = p[p.length - 2].tokens - p[0].tokens;
	const received = p[p.length - 1].aAtSend - p[0].aAtRecv;
	console.log(`while B was prefilled the server forwarded ${served} tokens and stream A ` +
		    `received ${received} token events (A: ${aEvents} events in all)`);
	if (served <= 0)
		fail('the server forwarded no token while B\'s prompt was prefilled (its streams stall)');
	if (received <= 0)
		fail('stream A received no token while B\'s prompt was prefilled');
}
main().catch((e) => fail(e.stack || String(e)));
