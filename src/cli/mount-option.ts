/**
 * `--mount`: Docker's comma-separated syntax (`type=bind,source=/srv/data,target=/data,readonly`) into a Mount.
 *
 * The keys, their aliases and defaults are Docker's, so a line that works with `docker service create` works here
 * and makes the same Mount: the type defaults to volume, keys are case-insensitive, `readonly` and `volume-nocopy`
 * may stand alone, a source starting with `.` is made absolute against the client's working directory, sizes are
 * 1024-based and `tmpfs-mode` is octal. Docker leaves some mistakes for the daemon to find; here the ones a user
 * makes most (no target, a bind without a source, an option of another type) are refused before anything is sent,
 * with the whole `--mount` value in the message so the user sees which one is wrong.
 */

import path from 'node:path';
import type { Labels, Mount } from '../api/types.ts';
import { invalidArgument } from '../errors.ts';
import { parseMemorySize } from '../util/units.ts';

const TYPES = ['bind', 'volume', 'tmpfs'] as const;
const PROPAGATIONS = ['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'];
/** Keys that mean `=true` when they stand alone. */
const SWITCHES = new Set(['readonly', 'ro', 'volume-nocopy']);
const KEYS = [
  'type',
  'source',
  'src',
  'target',
  'dst',
  'destination',
  'readonly',
  'ro',
  'bind-propagation',
  'volume-nocopy',
  'volume-label',
  'volume-driver',
  'volume-opt',
  'tmpfs-size',
  'tmpfs-mode',
];
/** The largest mode a 32-bit unsigned octal number holds, Docker's bound for `tmpfs-mode`. */
const MAX_MODE = 0o37777777777;

/** What a relative bind source is resolved against: the directory the command runs in, as with Docker. */
export interface MountContext {
  cwd: string;
}

/** Parses one `--mount` value. */
export function parseMount(text: string, { cwd }: MountContext): Mount {
  const fail = (why: string) => invalidArgument(`invalid --mount "${text}": ${why}`);
  const value = text.trim();
  if (value === '') throw fail('the value is empty; e.g. type=bind,source=/srv/data,target=/data');

  let type: Mount['Type'] = 'volume';
  let source: string | undefined;
  let target: string | undefined;
  let readOnly = false;
  let bind: NonNullable<Mount['BindOptions']> | undefined;
  let volume: NonNullable<Mount['VolumeOptions']> | undefined;
  let tmpfs: NonNullable<Mount['TmpfsOptions']> | undefined;
  const driver = () => ((volume ??= {}).DriverConfig ??= {});

  for (const field of splitCsv(value, fail)) {
    const equals = field.indexOf('=');
    const rawKey = equals < 0 ? field : field.slice(0, equals);
    const val = equals < 0 ? undefined : field.slice(equals + 1);
    if (rawKey.trim() !== rawKey) throw fail(`remove the spaces around "${rawKey.trim()}"`);
    const key = rawKey.toLowerCase();
    if (!KEYS.includes(key)) throw fail(`unknown option "${rawKey}": use ${KEYS.slice(0, -1).join(', ')} or ${KEYS.at(-1)}`);
    if (val === undefined && !SWITCHES.has(key)) throw fail(`"${field}" needs a value: ${key}=VALUE`);
    if (val !== undefined && val.trim() === '') throw fail(`${key} needs a value: ${key}=VALUE`);
    if (val !== undefined && val.trim() !== val) throw fail(`remove the spaces around the value of ${key}`);

    switch (key) {
      case 'type': {
        const lower = val!.toLowerCase();
        if (!(TYPES as readonly string[]).includes(lower)) throw fail(`unsupported type "${val}": use bind, volume or tmpfs`);
        type = lower as Mount['Type'];
        break;
      }
      case 'source':
      case 'src':
        source = val!.startsWith('.') ? path.resolve(cwd, val!) : val!;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        target = val!;
        break;
      case 'readonly':
      case 'ro':
        readOnly = parseSwitch(key, val, fail);
        break;
      case 'bind-propagation': {
        const propagation = val!.toLowerCase();
        if (!PROPAGATIONS.includes(propagation)) throw fail(`invalid bind-propagation "${val}": use ${PROPAGATIONS.join(', ')}`);
        (bind ??= {}).Propagation = propagation;
        break;
      }
      case 'volume-nocopy':
        volume ??= {};
        // Docker writes NoCopy only when true (its field is omitempty).
        if (parseSwitch(key, val, fail)) volume.NoCopy = true;
        break;
      case 'volume-label':
        (volume ??= {}).Labels = withPair(volume.Labels, key, val!, fail);
        break;
      case 'volume-driver':
        driver().Name = val!;
        break;
      case 'volume-opt':
        driver().Options = withPair(driver().Options, key, val!, fail);
        break;
      case 'tmpfs-size': {
        let size: number;
        try {
          size = parseMemorySize(val!);
        } catch {
          throw fail(`invalid tmpfs-size "${val}": use bytes or a size with a unit k, m or g (e.g. 64m)`);
        }
        tmpfs ??= {};
        if (size > 0) tmpfs.SizeBytes = size;
        break;
      }
      case 'tmpfs-mode': {
        const mode = /^[0-7]+$/.test(val!) ? Number.parseInt(val!, 8) : Number.NaN;
        if (!(mode <= MAX_MODE)) throw fail(`invalid tmpfs-mode "${val}": use an octal file mode, e.g. 1777 or 700`);
        tmpfs ??= {};
        if (mode > 0) tmpfs.Mode = mode;
        break;
      }
    }
  }

  if (bind && type !== 'bind') throw fail(`cannot mix bind-* options with type=${type}`);
  if (volume && type !== 'volume') throw fail(`cannot mix volume-* options with type=${type}`);
  if (tmpfs && type !== 'tmpfs') throw fail(`cannot mix tmpfs-* options with type=${type}`);
  if (target === undefined) throw fail('target is required: the path in the container, e.g. target=/data');
  if (type === 'bind' && source === undefined) throw fail('a bind mount needs a source: the path on the node, e.g. source=/srv/data');
  if (type === 'tmpfs' && source !== undefined) throw fail('a tmpfs mount takes no source');

  return {
    Type: type,
    ...(source === undefined ? {} : { Source: source }),
    Target: target,
    ...(readOnly ? { ReadOnly: true } : {}),
    ...(bind ? { BindOptions: bind } : {}),
    ...(volume ? { VolumeOptions: volume } : {}),
    ...(tmpfs ? { TmpfsOptions: tmpfs } : {}),
  };
}

/** `readonly`, `readonly=true|1`, `readonly=false|0`: the values Docker's mount options take. */
function parseSwitch(key: string, val: string | undefined, fail: (why: string) => Error): boolean {
  if (val === undefined || val === 'true' || val === '1') return true;
  if (val === 'false' || val === '0') return false;
  throw fail(`invalid ${key} "${val}": use ${key}, ${key}=true or ${key}=false`);
}

/** Adds `KEY=VALUE` (or a bare `KEY`, an empty value) to a map, for volume-label and volume-opt. */
function withPair(map: Labels | undefined, key: string, pair: string, fail: (why: string) => Error): Labels {
  const equals = pair.indexOf('=');
  const name = equals < 0 ? pair : pair.slice(0, equals);
  if (name === '') throw fail(`invalid ${key} "${pair}": use ${key}=KEY=VALUE`);
  return { ...map, [name]: equals < 0 ? '' : pair.slice(equals + 1) };
}

/**
 * Splits one line of comma-separated values as Go's encoding/csv reads it, which is how Docker reads `--mount`: a
 * field may be quoted to hold commas (`"volume-opt=o=addr=10.0.0.1,rw"`), and `""` inside quotes is a quote.
 */
export function splitCsv(line: string, fail: (why: string) => Error): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        const quote = line.indexOf('"', i);
        if (quote < 0) throw fail('a quoted field has no closing quote');
        field += line.slice(i, quote);
        i = quote + 1;
        if (line[i] !== '"') break;
        field += '"';
        i++;
      }
      if (i < line.length && line[i] !== ',') throw fail('a closing quote must end its field (put the whole field in quotes)');
    } else {
      const comma = line.indexOf(',', i);
      field = line.slice(i, comma < 0 ? undefined : comma);
      if (field.includes('"')) throw fail(`a quote may only open a field: "${field}" (put the whole field in quotes)`);
      i = comma < 0 ? line.length : comma;
    }
    fields.push(field);
    if (i >= line.length) return fields;
    i++;
  }
}
