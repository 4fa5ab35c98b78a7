import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { filtersQuery, parseArgs } from '../../src/cli/flags.ts';
import { CREATE_OPTIONS } from '../../src/cli/service-spec.ts';
import { SwarmletError } from '../../src/errors.ts';

const create = (argv: string[]) => parseArgs(argv, CREATE_OPTIONS, { interspersed: false });

describe('parseArgs, interspersed=false (service create)', () => {
  it('gives everything from the image on to the command, flags included', () => {
    const parsed = create(['--name', 'x', 'busybox', 'sh', '-c', 'echo hi', '--name', 'y']);
    assert.deepEqual(parsed.options, { name: 'x' });
    assert.deepEqual(parsed.positionals, ['busybox', 'sh', '-c', 'echo hi', '--name', 'y']);
  });

  it('knows from the declarations which flags take a value, so a value is never mistaken for the image', () => {
    const parsed = create(['-d', '--replicas', '3', '-e', 'A=1', '--limit-memory=64M', 'img', '-d']);
    assert.deepEqual(parsed.options, { detach: true, replicas: '3', env: ['A=1'], 'limit-memory': '64M' });
    assert.deepEqual(parsed.positionals, ['img', '-d']);
  });

  it('accumulates repeated flags in order and keeps values as typed (no number casting)', () => {
    const parsed = create(['--env', 'A=1', '-e', 'B=007', '--env=C', '--name', '007', '--label', 'a=1', '--label', 'b', 'img']);
    assert.deepEqual(parsed.options.env, ['A=1', 'B=007', 'C']);
    assert.equal(parsed.options.name, '007');
    assert.deepEqual(parsed.options.label, ['a=1', 'b']);
  });

  it('reads short clusters: booleans, and a value glued to its letter', () => {
    const parsed = create(['-dq', '-eK=V', '-uroot', '-w', '/tmp', 'img']);
    assert.deepEqual(parsed.options, { detach: true, quiet: true, env: ['K=V'], user: 'root', workdir: '/tmp' });
    assert.deepEqual(create(['-qe', 'K=V', 'img']).options, { quiet: true, env: ['K=V'] });
    assert.deepEqual(create(['-e=K=V', 'img']).options, { env: ['K=V'] });
  });

  it('takes the next argument as a value even when it starts with a dash, as pflag does', () => {
    assert.deepEqual(create(['--env', '-x', 'img']).options, { env: ['-x'] });
  });

  it('ends flags at --', () => {
    const parsed = create(['--name', 'x', '--', '-weird-image', 'arg']);
    assert.deepEqual(parsed.positionals, ['-weird-image', 'arg']);
  });

  it('accepts --flag=true/false for switches', () => {
    assert.deepEqual(create(['--detach=false', 'img']).options, { detach: false });
    assert.deepEqual(create(['--detach=true', 'img']).options, { detach: true });
    assert.throws(() => create(['--detach=maybe', 'img']), /invalid argument "maybe" for "--detach"/);
  });

  it('rejects unknown flags and missing values with Docker wording', () => {
    assert.throws(() => create(['--nope', 'img']), { message: 'unknown flag: --nope' });
    assert.throws(() => create(['-x', 'img']), { message: "unknown shorthand flag: 'x' in -x" });
    assert.throws(() => create(['--name']), { message: 'flag needs an argument: --name' });
    assert.throws(() => create(['-e']), { message: "flag needs an argument: 'e' in -e" });
    assert.throws(() => create(['--nope']), SwarmletError);
  });

  it('recognises -h/--help everywhere', () => {
    assert.equal(create(['--help']).options.help, true);
    assert.equal(create(['-h']).options.help, true);
  });
});

describe('parseArgs, interspersed=true', () => {
  it('takes flags after positionals too', () => {
    const parsed = parseArgs(['back', '--no-trunc', 'front', '-q'], [{ name: 'no-trunc', description: '' }, { name: 'quiet', short: 'q', description: '' }], {
      interspersed: true,
    });
    assert.deepEqual(parsed.positionals, ['back', 'front']);
    assert.deepEqual(parsed.options, { 'no-trunc': true, quiet: true });
  });
});

describe('filtersQuery', () => {
  it('groups --filter key=value flags into the API form', () => {
    assert.equal(filtersQuery(['name=back', 'desired-state=running', 'name=front']), '{"name":["back","front"],"desired-state":["running"]}');
    assert.equal(filtersQuery([], { service: ['abc'] }), '{"service":["abc"]}');
    assert.equal(filtersQuery([]), undefined);
    assert.throws(() => filtersQuery(['oops']), /bad format of filter "oops"/);
  });
});
