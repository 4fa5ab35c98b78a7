/**
 * Splits a string into words the way a POSIX shell would, without running anything: for flags that carry a
 * whole command line in one value, like `--entrypoint "sh -c"`, which Docker splits the same way.
 */

import { invalidArgument } from '../errors.ts';

/** `sh -c 'echo hi'` → `['sh', '-c', 'echo hi']`. Single quotes are literal; double quotes and `\` escape. */
export function splitShellWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (quote === "'") {
      if (char === "'") quote = null;
      else word += char;
    } else if (quote === '"') {
      if (char === '"') quote = null;
      else if (char === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1]!)) word += text[++i];
      else word += char;
    } else if (char === "'" || char === '"') {
      quote = char;
      inWord = true;
    } else if (char === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(char)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += char;
      inWord = true;
    }
  }
  if (quote) throw invalidArgument(`unterminated ${quote === '"' ? 'double' : 'single'} quote in "${text}"`);
  if (inWord) words.push(word);
  return words;
}
