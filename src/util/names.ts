/** Names for services created without --name, in Docker's adjective_noun style. */

import type { RandomSource } from './ids.ts';

const ADJECTIVES = ['brave', 'calm', 'eager', 'fancy', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'nifty', 'quiet', 'sharp', 'tender', 'vivid', 'witty', 'zen'];
const NOUNS = ['almond', 'birch', 'cedar', 'dune', 'ember', 'fjord', 'glade', 'harbor', 'island', 'juniper', 'kestrel', 'lagoon', 'meadow', 'nebula', 'orchid', 'pebble'];

export function randomServiceName(random: RandomSource): string {
  const [a, b] = random(2);
  return `${ADJECTIVES[a! % ADJECTIVES.length]}_${NOUNS[b! % NOUNS.length]}`;
}
