import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBytes, parseDuration, parseSize } from './units.js';

describe('sizes', () => {
  it('reads binary and decimal units and plain numbers', () => {
    assert.equal(parseSize('8GiB'), 8 * 2 ** 30);
    assert.equal(parseSize('512MiB'), 512 * 2 ** 20);
    assert.equal(parseSize('1.5MiB'), 1572864);
    assert.equal(parseSize('100MB'), 100_000_000);
    assert.equal(parseSize('2kb'), 2000);
    assert.equal(parseSize('4096'), 4096);
    assert.equal(parseSize(123), 123);
  });
  it('reads Kubernetes quantities as Kubernetes does: Gi/Mi binary, G/M/k decimal', () => {
    assert.equal(parseSize('8Gi'), 8 * 2 ** 30);
    assert.equal(parseSize('512Mi'), 512 * 2 ** 20);
    assert.equal(parseSize('64Ki'), 64 * 1024);
    assert.equal(parseSize('1Ti'), 2 ** 40);
    assert.equal(parseSize('8G'), 8_000_000_000);
    assert.equal(parseSize('500M'), 500_000_000);
    assert.equal(parseSize('100k'), 100_000);
    assert.equal(parseSize('2T'), 2e12);
    assert.equal(parseSize('1.5Gi'), 1.5 * 2 ** 30);
    assert.equal(parseSize('8Gi'), parseSize('8GiB'));
    assert.equal(parseSize('8G'), parseSize('8GB'));
  });
  it("refuses Kubernetes' milli (500m) instead of reading it as megabytes", () => {
    assert.throws(
      () => parseSize('500m'),
      (e: Error & { hint?: string }) =>
        /'500m' is not a size: in Kubernetes a lower-case m means milli/.test(e.message) &&
        /write 500M for megabytes .* or 500Mi/.test(e.hint ?? ''),
    );
  });
  it('names the problem and the form to use', () => {
    assert.throws(
      () => parseSize('8 gigs'),
      /'8 gigs' is not a size; write a number with a unit such as 512MiB, 8GiB, 100MB, or as in Kubernetes 8Gi, 512Mi, 8G/,
    );
    assert.throws(() => parseSize('-1'), /is not a size/);
    assert.throws(() => parseSize(1.5), /not a whole, non-negative number/);
  });
  it('formats for people', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(20480), '20.0 KiB');
    assert.equal(formatBytes(1.5 * 2 ** 20), '1.50 MiB');
  });
});

describe('durations', () => {
  it('reads single and compound units', () => {
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('7d'), 7 * 86_400_000);
    assert.equal(parseDuration('1.5s'), 1500);
  });
  it('rejects what is not a duration', () => {
    for (const bad of ['', '10', '1x', 'h', '1h 30m', '5s!']) {
      assert.throws(() => parseDuration(bad), /is not a duration; write e.g. 30s, 5m, 1h/, bad);
    }
  });
});
