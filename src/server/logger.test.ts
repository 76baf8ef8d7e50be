// The agent's log as a person reads it in the foreground: short, aligned, level-coloured unless
// NO_COLOR (or not a terminal), and still without secrets.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger, formatLogLine, wantsColour } from './logger.js';

const ESC = '\u001b';
const line = (event: Record<string, unknown>) =>
  JSON.stringify({ level: 30, time: '2026-12-06T05:36:12.345Z', app: 'etcd-steward', pid: 1, ...event });

describe('readable log lines', () => {
  it('time, padded level, padded message, then the fields: columns line up without colour', () => {
    const a = formatLogLine(line({ msg: 'poll', took: 12 }), { colour: false });
    const b = formatLogLine(line({ level: 40, msg: 'member slow to answer', member: 'etcd-1' }), {
      colour: false,
    });
    assert.equal(a, `05:36:12 INFO  ${'poll'.padEnd(36)} took=12`);
    assert.equal(b, `05:36:12 WARN  ${'member slow to answer'.padEnd(36)} member=etcd-1`);
    assert.equal(a.indexOf('took='), b.indexOf('member='), 'the fields start in the same column');
    assert.ok(!(a + b).includes(ESC), 'no escape codes without colour');
    assert.equal(formatLogLine(line({ msg: 'listening' }), { colour: false }), '05:36:12 INFO  listening');
    const quoted = formatLogLine(line({ msg: 'x', error: 'two words', nested: { a: 1 } }), { colour: false });
    assert.ok(quoted.endsWith(' error="two words" nested={"a":1}'), quoted);
    assert.equal(formatLogLine('not json', { colour: false }), 'not json');
  });

  it('with colour the level is coloured by severity and the fields dimmed', () => {
    const info = formatLogLine(line({ msg: 'poll', took: 12 }), { colour: true });
    const error = formatLogLine(line({ level: 50, msg: 'backup failed' }), { colour: true });
    assert.ok(info.includes(`${ESC}[32mINFO ${ESC}[0m`), info);
    assert.ok(error.includes(`${ESC}[31mERROR${ESC}[0m`), error);
    assert.ok(info.endsWith(`${ESC}[2mtook=12${ESC}[0m`), info);
    // Colour codes aside, the line is the plain one.
    const plain = (s: string) =>
      s
        .split(ESC)
        .map((part, i) => (i === 0 ? part : part.replace(/^\[[0-9;]*m/, '')))
        .join('');
    assert.equal(plain(info), formatLogLine(line({ msg: 'poll', took: 12 }), { colour: false }));
  });

  it('colour only on a terminal and without NO_COLOR', () => {
    assert.equal(wantsColour({}, true), true);
    assert.equal(wantsColour({ NO_COLOR: '1' }, true), false);
    assert.equal(wantsColour({ NO_COLOR: '' }, true), true, 'an empty NO_COLOR does not count');
    assert.equal(wantsColour({}, false), false);
  });

  it('secrets are censored before a line is formatted', async () => {
    const lines: string[] = [];
    const log = createLogger({
      destination: new Writable({
        write(chunk: Buffer, _e, cb) {
          lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
          cb();
        },
      }),
    });
    log.info({ password: 'hunter2', s3: { secretAccessKey: 'AKIA-SECRET' }, token: 'tok-123' }, 'connect');
    log.flush();
    await new Promise((r) => setImmediate(r));
    const text = lines.map((l) => formatLogLine(l, { colour: true })).join('\n');
    assert.match(text, /connect/);
    assert.match(text, /\[redacted\]/);
    assert.doesNotMatch(text, /hunter2|AKIA-SECRET|tok-123/);
  });
});
