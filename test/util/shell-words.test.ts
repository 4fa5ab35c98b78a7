import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { splitShellWords } from '../../src/util/shell-words.ts';

describe('splitShellWords', () => {
  const cases: Array<[string, string[]]> = [
    ['sh -c', ['sh', '-c']],
    ['  sh   -c  ', ['sh', '-c']],
    [`sh -c 'echo hi'`, ['sh', '-c', 'echo hi']],
    [`echo "a \\"b\\" c"`, ['echo', 'a "b" c']],
    [`echo a\\ b`, ['echo', 'a b']],
    [`echo ''`, ['echo', '']],
    [`echo 'it''s'`, ['echo', 'its']],
    ['', []],
  ];
  for (const [text, words] of cases) {
    it(`splits ${JSON.stringify(text)}`, () => assert.deepEqual(splitShellWords(text), words));
  }
  it('rejects an unterminated quote', () => {
    assert.throws(() => splitShellWords(`sh -c 'echo`), /unterminated single quote/);
  });
});
