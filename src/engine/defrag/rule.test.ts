// The defrag rule (CEL with size literals): what it expands to, what it sees, how a bad rule is
// reported. Pure: no etcd.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileRule, ruleValues, RuleError } from './rule.js';

const MiB = 2 ** 20;

describe('defrag rule', () => {
  it('size literals, the default rule, and the values it sees', () => {
    const rule = compileRule('dbQuotaUsage > 0.8 || dbSizeFree > 200MiB');
    assert.equal(rule.expanded, 'dbQuotaUsage > 0.8 || dbSizeFree > 209715200');
    assert.equal(compileRule('dbSize > 1.5GB').expanded, 'dbSize > 1500000000');
    assert.equal(compileRule('dbSize - dbSizeInUse > 100 MiB').expanded, 'dbSize - dbSizeInUse > 104857600');
    const quota = 2 * 2 ** 30;
    assert.equal(rule.holds(ruleValues(300 * MiB, 50 * MiB, quota)), true, '250 MiB free');
    assert.equal(rule.holds(ruleValues(300 * MiB, 150 * MiB, quota)), false, '150 MiB free, 15% of quota');
    assert.equal(rule.holds(ruleValues(1700 * MiB, 1650 * MiB, quota)), true, '83% of quota');
    assert.deepEqual(ruleValues(10, 4, 40), {
      dbSize: 10,
      dbSizeInUse: 4,
      dbSizeFree: 6,
      dbQuota: 40,
      dbQuotaUsage: 0.25,
    });
    assert.equal(
      compileRule('dbQuota == 2GiB && dbSizeFree * 2 >= dbSize').holds(ruleValues(8, 4, quota)),
      true,
    );
  });

  it('bad rules: the column, the allowed names, true/false only', () => {
    const bad = (rule: string) => {
      try {
        compileRule(rule);
      } catch (error) {
        assert.ok(error instanceof RuleError);
        assert.equal(error.exitCode, 2);
        return { message: error.message, column: error.column, hint: error.hint ?? '' };
      }
      return assert.fail(`'${rule}' was accepted`);
    };
    assert.equal(bad('dbSize >> 5').column, 8);
    assert.match(bad('dbSize >> 5').message, /at column 8: '>>' is not an operator/);
    assert.equal(bad('dbSize > 1MiB && dbsize < 2GiB').column, 18);
    assert.match(
      bad('dbSize > 1MiB && dbsize < 2GiB').message,
      /unknown variable 'dbsize'; a rule can use dbSize, dbSizeInUse, dbSizeFree, dbQuota, dbQuotaUsage/,
    );
    // Columns count in the rule as written, although 1MiB became 1048576 for CEL (above too).
    assert.equal(bad('dbSize > 1MiB && (dbSize > 2').column, 29, 'one past the end');
    assert.match(bad('dbSize > 1MiB && (dbSize > 2').message, /the end of the rule/);
    assert.equal(bad('dbSizeFree > 2GiB || dbSize >> 1').column, 29);
    assert.match(bad('dbSize').message, /must be true or false, and this one gives int/);
    assert.match(
      bad('dbSize = 5').message,
      /at column 8: '=' is not an operator in a rule; compare with '=='/,
    );
    assert.match(bad('dbSize * 0.5 > 1MiB').hint, /double\(dbSize\) \* 0\.5/);
    assert.match(bad('').message, /empty/);
    assert.throws(
      () => compileRule('dbSize / (dbSizeInUse - dbSizeInUse) > 1').holds(ruleValues(1, 1, 1), 'etcd-0'),
      /division by zero \(evaluating it for member etcd-0\)/,
    );
  });
});
