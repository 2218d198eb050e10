import test from 'ava';
import { canonicalize } from '../../fetcher/src/core/canonical-json.js';
import { isBootosError } from '../../fetcher/src/core/error.js';

test('keys are sorted and whitespace is dropped', (t) => {
  t.is(canonicalize({ b: 1, a: [true, null, 'x'], c: { z: 'é', y: '"' } }), '{"a":[true,null,"x"],"b":1,"c":{"y":"\\"","z":"é"}}');
});

test('floats and non-finite numbers are refused', (t) => {
  for (const value of [1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60]) {
    t.true(isBootosError(t.throws(() => canonicalize({ value })), 'JSON_INVALID'));
  }
});
