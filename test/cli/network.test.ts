/**
 * Networks in the CLI: `network create/ls/inspect/rm` as a user runs them against a fake API, `--network` on
 * `service create` and `--network-add/--network-rm` on `service update`, the table docker prints, and the small
 * Go-template subset `network inspect --format` understands.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Service } from '../../src/api/types.ts';
import { SwarmletError } from '../../src/errors.ts';
import { parseArgs } from '../../src/cli/flags.ts';
import { CREATE_OPTIONS, buildServiceSpec, parseNetworkOption } from '../../src/cli/service-spec.ts';
import { UPDATE_OPTIONS } from '../../src/cli/service-update.ts';
import { updateServiceSpec } from '../../src/cli/service-update-spec.ts';
import { parseTemplate, renderTemplate } from '../../src/cli/views/go-template.ts';
import { type NetworkResource, goTimeString, renderNetworkTable } from '../../src/cli/views/networks.ts';
import { prettyService, prettyServiceWithNames } from '../../src/cli/views/pretty.ts';
import { lines, service } from './docker-fixtures.ts';
import { type FakeApi, type FakeReply, type FakeRequest, runCli, startFakeApi } from './fake-api.ts';

const FRONT_ID = 'lz3k5u0b4dwt7k9r2hvx1yq8m';

/** Networks as docker's engine and a swarm manager list them. */
const resource = (Id: string, Name: string, Driver: string, Scope: string, extra: Partial<NetworkResource> = {}): NetworkResource => ({
  Id, Name, Driver, Scope, Created: '2026-11-27T02:48:18.739119331Z', EnableIPv4: true, EnableIPv6: false, Internal: false, Labels: {}, ...extra,
});
const NETWORKS: NetworkResource[] = [
  resource('2c6e1f5d8f3b9a0c7e4d1b2a3f5e6d7c8b9a0f1e2d3c4b5a6978877665544332', 'bridge', 'bridge', 'local'),
  resource(FRONT_ID, 'front', 'overlay', 'swarm', { Created: '2026-11-27T02:50:00Z', Labels: { team: 'web', app: 'shop' }, IPAM: { Driver: 'default', Config: [{ Subnet: '10.0.1.0/24', Gateway: '10.0.1.1' }] } }),
  resource('9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0', 'host', 'host', 'local', { EnableIPv4: false }),
  resource('a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90', 'back10', 'overlay', 'swarm'),
  resource('b1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90', 'back2', 'overlay', 'swarm'),
];

describe('network views', () => {
  it('lays out network ls as docker does: sorted by name, 12-character IDs', () => {
    assert.equal(
      renderNetworkTable(NETWORKS),
      lines(
        'NETWORK ID     NAME      DRIVER    SCOPE',
        'b1b2c3d4e5f6   back2     overlay   swarm',
        'a1b2c3d4e5f6   back10    overlay   swarm',
        '2c6e1f5d8f3b   bridge    bridge    local',
        'lz3k5u0b4dwt   front     overlay   swarm',
        '9f8e7d6c5b4a   host      host      local',
      ),
    );
    assert.match(renderNetworkTable(NETWORKS, 'table', true), new RegExp(`^${FRONT_ID} +front +overlay +swarm$`, 'm'));
  });

  it('writes docker\'s --format json rows: its fields as strings, in Go\'s order', () => {
    const rows = renderNetworkTable([NETWORKS[1]!], 'json').trimEnd().split('\n');
    assert.equal(
      rows[0],
      '{"CreatedAt":"2026-11-27 02:50:00 +0000 UTC","Driver":"overlay","ID":"lz3k5u0b4dwt","IPv4":"true","IPv6":"false","Internal":"false","Labels":"app=shop,team=web","Name":"front","Scope":"swarm"}',
    );
    assert.equal(goTimeString('2026-11-27T02:48:18.739119330Z'), '2026-11-27 02:48:18.73911933 +0000 UTC');
    assert.equal(goTimeString('2026-11-27T04:48:18+02:00'), '2026-11-27 04:48:18 +0200 +0200');
  });

  it('shows a service\'s networks by name, as docker does, and its virtual IPs', () => {
    const web: Service = {
      ...service('v1abbs71d77e9wupts94kvt8f', 'web', 'img', 'replicated', 1, 1),
      Endpoint: { Spec: { Mode: 'vip' }, VirtualIPs: [{ NetworkID: FRONT_ID, Addr: '10.0.1.2/24' }] },
    };
    web.Spec.TaskTemplate.Networks = [{ Target: FRONT_ID }, { Target: 'othernetworkid' }];
    const text = prettyServiceWithNames(web, new Map([[FRONT_ID, 'front']]));
    assert.match(text, /\nNetworks: front othernetworkid \nEndpoint Mode:\tvip\nVirtual IPs:\n front:\t10\.0\.1\.2\/24\n/);
    assert.match(prettyService(web), new RegExp(`Networks: ${FRONT_ID} othernetworkid \\n`));
    assert.doesNotMatch(prettyService(service('x'.repeat(25), 'plain', 'img', 'replicated', 1, 1)), /Networks|Virtual IPs/);
  });
});

describe('network inspect --format', () => {
  const network = { Name: 'front', Id: FRONT_ID, IPAM: { Driver: 'default', Config: [{ Subnet: '10.0.1.0/24', Gateway: '10.0.1.1' }] }, Labels: { b: '2', a: '1' }, Options: {} };
  const render = (format: string) => renderTemplate(parseTemplate(format), network, format);

  it('prints fields, json, ranges, index, join, upper and lower as Go\'s templates do', () => {
    assert.equal(render('{{.Name}} {{.Id}}'), `front ${FRONT_ID}`);
    assert.equal(render('{{range .IPAM.Config}}{{.Subnet}} via {{.Gateway}}{{end}}'), '10.0.1.0/24 via 10.0.1.1');
    assert.equal(render('{{json .IPAM.Config}}'), '[{"Subnet":"10.0.1.0/24","Gateway":"10.0.1.1"}]');
    assert.equal(render('{{.Labels}} {{.IPAM.Config}}'), 'map[a:1 b:2] [map[Gateway:10.0.1.1 Subnet:10.0.1.0/24]]');
    assert.equal(render('{{index .Labels "b"}} {{.Missing}}'), '2 <no value>');
    assert.equal(render('{{range .Labels}}{{.}},{{end}}'), '1,2,');
    assert.equal(render('{{upper .Name}}'), 'FRONT');
    assert.equal(render('{{ .Name -}}   !'), 'front!');
  });

  it('refuses what it does not understand, saying what it does', () => {
    for (const format of ['{{.Name | upper}}', '{{printf "%s" .Name}}', '{{range .Labels}}', '{{end}}', '{{Name}}']) {
      assert.throws(() => parseTemplate(format), (err: unknown) => err instanceof SwarmletError && /unsupported --format .*Use \{\{\.Field\}\}/.test(err.message), format);
    }
  });
});

describe('--network', () => {
  const create = (argv: string[]) => buildServiceSpec(parseArgs([...argv, 'img'], CREATE_OPTIONS, { interspersed: false }), { cwd: '/', env: {} });

  it('puts networks in the task template, short or long form, as docker service create does', () => {
    assert.deepEqual(create(['--network', 'front', '--network', 'name=back,alias=db,alias=primary,driver-opt=com.example.mtu=1400']).TaskTemplate.Networks, [
      { Target: 'front' },
      { Target: 'back', Aliases: ['db', 'primary'], DriverOpts: { 'com.example.mtu': '1400' } },
    ]);
    assert.equal(create([]).TaskTemplate.Networks, undefined);
  });

  it('refuses a long form without a name or with unknown fields', () => {
    const refused = (text: string, message: RegExp) =>
      assert.throws(() => parseNetworkOption(text), (err: unknown) => err instanceof SwarmletError && message.test(err.message), text);
    refused('alias=db', /invalid --network "alias=db": the network is not named: add name=NETWORK/);
    refused('name=back,ip=10.0.0.9', /unknown field "ip": use name, alias or driver-opt/);
    refused('name=', /"name=" needs a value/);
    refused('name=back,driver-opt=mtu', /invalid driver-opt "mtu": use driver-opt=KEY=VALUE/);
  });

  it('adds and removes networks on update by ID, keeping the others and refusing one already attached', () => {
    const base = service('v1abbs71d77e9wupts94kvt8f', 'web', 'img', 'replicated', 1, 1).Spec;
    const spec = { ...base, TaskTemplate: { ...base.TaskTemplate, Networks: [{ Target: 'id-front' }, { Target: 'id-back', Aliases: ['db'] }] } };
    const update = (argv: string[], ids: Record<string, string>) => updateServiceSpec(spec, parseArgs(argv, UPDATE_OPTIONS, { interspersed: true }), new Map(Object.entries(ids)));
    assert.deepEqual(update(['--network-rm', 'front', '--network-add', 'name=cache,alias=c'], { front: 'id-front', cache: 'id-cache' }).TaskTemplate.Networks, [
      { Target: 'id-back', Aliases: ['db'] },
      { Target: 'id-cache', Aliases: ['c'] },
    ]);
    assert.equal(update(['--network-rm', 'id-front', '--network-rm', 'back'], { 'id-front': 'id-front', back: 'id-back' }).TaskTemplate.Networks, undefined);
    assert.deepEqual(update(['--network-rm', 'gone'], { gone: 'id-gone' }).TaskTemplate.Networks, spec.TaskTemplate.Networks, 'a network the service is not on is no error');
    assert.throws(() => update(['--network-add', 'front'], { front: 'id-front' }), /service is already attached to network front/);
    const legacy = updateServiceSpec({ ...base, Networks: [{ Target: 'id-front' }] }, parseArgs(['--network-add', 'back'], UPDATE_OPTIONS, { interspersed: true }), new Map([['back', 'id-back']]));
    assert.deepEqual([legacy.Networks, legacy.TaskTemplate.Networks], [undefined, [{ Target: 'id-front' }, { Target: 'id-back' }]], 'the deprecated list moves to the task template');
  });
});

describe('swarmlet network against an API', () => {
  let api: FakeApi;
  let reply: (req: FakeRequest) => FakeReply = () => ({ status: 404, body: { message: 'not found' } });
  const env = () => ({ SWARMLET_HOST: `unix://${api.socket}` });

  before(async () => {
    api = await startFakeApi((req) => reply(req));
  });
  after(() => api.close());

  it('network create sends docker\'s body for an overlay network and prints the ID; a warning goes to stderr', async () => {
    reply = () => ({ status: 201, body: { Id: FRONT_ID, Warning: 'subnet overlaps' } });
    const result = await runCli(['network', 'create', '--subnet', '10.0.9.0/24', '--gateway', '10.0.9.254', '--attachable', '--internal', '-o', 'encrypted', '--label', 'team=web', 'front'], env());
    assert.deepEqual(result, { code: 0, stdout: `${FRONT_ID}\n`, stderr: 'subnet overlaps\n' });
    const sent = api.requests.at(-1)!;
    assert.equal(`${sent.method} ${sent.path}`, 'POST /networks/create');
    assert.deepEqual(sent.body, {
      Name: 'front',
      Driver: 'overlay',
      Attachable: true,
      Internal: true,
      IPAM: { Driver: 'default', Config: [{ Subnet: '10.0.9.0/24', Gateway: '10.0.9.254' }] },
      Options: { encrypted: '' },
      Labels: { team: 'web' },
    });
    reply = () => ({ status: 409, body: { message: 'network with name front already exists: choose another name, or remove it first' } });
    const taken = await runCli(['network', 'create', 'front'], env());
    assert.deepEqual(taken, { code: 1, stdout: '', stderr: 'Error: network with name front already exists: choose another name, or remove it first\n' });
    assert.deepEqual((await runCli(['network', 'create'], env())).stderr, `Error: "swarmlet network create" requires exactly 1 argument; see 'swarmlet network create --help'\n`);
  });

  it('network ls prints docker\'s table, the IDs with -q, and passes filters on', async () => {
    reply = () => ({ body: NETWORKS });
    const table = await runCli(['network', 'ls', '--filter', 'driver=overlay'], env());
    assert.equal(table.code, 0);
    assert.equal(table.stdout, renderNetworkTable(NETWORKS));
    assert.deepEqual(JSON.parse(api.requests.at(-1)!.query.get('filters')!), { driver: ['overlay'] });
    const quiet = await runCli(['network', 'ls', '-q'], env());
    assert.equal(quiet.stdout, lines('b1b2c3d4e5f6', 'a1b2c3d4e5f6', '2c6e1f5d8f3b', 'lz3k5u0b4dwt', '9f8e7d6c5b4a'));
  });

  it('network inspect prints a JSON array, or each network through --format, and asks verbosely with -v', async () => {
    reply = (req) => (req.path === '/networks/front' ? { body: NETWORKS[1] } : { status: 404, body: { message: 'network nope not found' } });
    const json = await runCli(['network', 'inspect', 'front'], env());
    assert.deepEqual(json, { code: 0, stdout: `${JSON.stringify([NETWORKS[1]], null, 4)}\n`, stderr: '' });
    const formatted = await runCli(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', '-v', 'front', 'nope'], env());
    assert.deepEqual(formatted, { code: 1, stdout: '10.0.1.0/24\n', stderr: 'Error: nope: network nope not found\n' });
    assert.equal(api.requests.findLast((req) => req.path === '/networks/front')!.query.get('verbose'), 'true');
  });

  it('network rm removes each network, prints each name and reports each failure', async () => {
    reply = (req) => (req.path === '/networks/front' ? { status: 204 } : { status: 409, body: { message: 'network back is in use by service web' } });
    const result = await runCli(['network', 'rm', 'front', 'back'], env());
    assert.deepEqual(result, { code: 1, stdout: 'front\n', stderr: 'Error: back: network back is in use by service web\n' });
    assert.deepEqual(api.requests.slice(-2).map((req) => `${req.method} ${req.path}`), ['DELETE /networks/front', 'DELETE /networks/back']);
  });

  it('service update --network-add asks the daemon for the network\'s ID, then writes it into the spec', async () => {
    const web = service('v1abbs71d77e9wupts94kvt8f', 'web', 'img', 'replicated', 1, 1);
    reply = (req) => {
      if (req.path === '/services/web') return { body: web };
      if (req.path === '/networks/front') return { body: { Id: FRONT_ID, Name: 'front' } };
      if (req.path === `/services/${web.ID}/update`) return { body: { Warnings: null } };
      return { status: 404, body: { message: 'unexpected' } };
    };
    const result = await runCli(['service', 'update', '-d', '--network-add', 'front', 'web'], env());
    assert.deepEqual(result, { code: 0, stdout: 'web\n', stderr: '' });
    assert.equal(api.requests.findLast((req) => req.path === '/networks/front')!.query.get('scope'), 'swarm');
    assert.deepEqual((api.requests.at(-1)!.body as Service['Spec']).TaskTemplate.Networks, [{ Target: FRONT_ID }]);
  });

  it('lists network among the commands', async () => {
    assert.match((await runCli(['--help'])).stdout, /network <command>\s+Manage networks/);
    const help = await runCli(['network', 'create', '--help']);
    assert.match(help.stdout, /--subnet <SUBNET>/);
    assert.doesNotMatch(help.stdout, / +$/m);
  });
});
