/** `--publish`, `--publish-add` and `--publish-rm` as the docker CLI reads them (opts/swarmopts/port.go, service update). */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EndpointPortConfig } from '../../src/api/types.ts';
import { parseArgs } from '../../src/cli/flags.ts';
import { parsePublish, updatePorts } from '../../src/cli/port-option.ts';
import { CREATE_OPTIONS, buildServiceSpec } from '../../src/cli/service-spec.ts';
import { UPDATE_OPTIONS } from '../../src/cli/service-update.ts';
import { updateServiceSpec } from '../../src/cli/service-update-spec.ts';
import { spec as serviceSpec } from '../helpers/fixtures.ts';

const port = (target: number, published?: number, protocol: 'tcp' | 'udp' | 'sctp' = 'tcp', mode: 'ingress' | 'host' = 'ingress'): EndpointPortConfig => ({
  Protocol: protocol,
  TargetPort: target,
  ...(published ? { PublishedPort: published } : {}),
  PublishMode: mode,
});

function fails(text: string, why: string, flag = '-p, --publish') {
  assert.throws(() => parsePublish(text, flag), { message: `invalid argument "${text}" for "${flag}" flag: ${why}` });
}

describe('--publish', () => {
  it('reads the short syntax: PUBLISHED:TARGET[/PROTOCOL], a target alone, and ranges', () => {
    assert.deepEqual(parsePublish('8080:80'), [port(80, 8080)]);
    assert.deepEqual(parsePublish('53:53/udp'), [port(53, 53, 'udp')]);
    assert.deepEqual(parsePublish('53:53/UDP'), [port(53, 53, 'udp')]);
    assert.deepEqual(parsePublish('80'), [port(80)]);
    assert.deepEqual(parsePublish('80/udp'), [port(80, undefined, 'udp')]);
    assert.deepEqual(parsePublish(':8080:80'), [port(80, 8080)]);
    assert.deepEqual(parsePublish('8000-8001:80-81'), [port(80, 8000), port(81, 8001)]);
    assert.deepEqual(parsePublish('8000-8002:80'), [port(80, 8000), port(80, 8001), port(80, 8002)]);
  });

  it('reads the long syntax, with tcp and ingress by default and keys in any case', () => {
    assert.deepEqual(parsePublish('published=8080,target=80'), [port(80, 8080)]);
    assert.deepEqual(parsePublish('target=80'), [port(80)]);
    assert.deepEqual(parsePublish('Published=5353,TARGET=53,protocol=udp,mode=host'), [port(53, 5353, 'udp', 'host')]);
    assert.deepEqual(parsePublish('mode=ingress,target=80,protocol=sctp'), [port(80, undefined, 'sctp')]);
  });

  it('refuses what the docker CLI refuses, with its wording', () => {
    fails('published=8080', "missing mandatory field 'target'");
    fails('target=80,protocol=icmp', "invalid protocol value 'icmp'");
    fails('target=80,mode=mesh', "invalid publish mode value (mesh): must be either 'ingress' or 'host'");
    fails('target=http', 'invalid target port (http): value must be an integer: invalid syntax');
    fails('target=80,published=70000', 'invalid published port (70000): value must be an integer: value out of range');
    fails('target=80,color=red', 'invalid field key: color');
    fails('target=80,fast', 'invalid field: fast');
    fails('127.0.0.1:8080:80', 'hostip is not supported');
    fails('8080:80/icmp', 'invalid proto: icmp');
    fails('8080:', 'no port specified: 8080:<empty>');
    fails('8080:http', 'invalid containerPort: http');
    fails('x:80', 'invalid hostPort: x');
    fails('8000-8002:80-81', 'invalid ranges specified for container and host Ports: 80-81 and 8000-8002');
    fails('70000', 'invalid containerPort: 70000');
    fails('80:x', 'invalid containerPort: x', '--publish-add');
  });

  it('service create sends the ports and the endpoint mode in an EndpointSpec, only when given', () => {
    const create = (argv: string[]) => buildServiceSpec(parseArgs([...argv, 'img'], CREATE_OPTIONS, { interspersed: false }), { cwd: '/', env: {} });
    assert.equal(create([]).EndpointSpec, undefined);
    assert.deepEqual(create(['-p', '8080:80', '--publish', 'published=5353,target=53,protocol=udp']).EndpointSpec, {
      Mode: 'vip',
      Ports: [port(80, 8080), port(53, 5353, 'udp')],
    });
    assert.deepEqual(create(['-p8080:80']).EndpointSpec, { Mode: 'vip', Ports: [port(80, 8080)] });
    assert.deepEqual(create(['--endpoint-mode', 'DNSRR']).EndpointSpec, { Mode: 'dnsrr' });
    assert.throws(() => create(['--endpoint-mode', 'rr']), { message: 'invalid --endpoint-mode "rr": use vip or dnsrr' });
  });
});

describe('service update --publish-add/--publish-rm', () => {
  const current = [port(80, 8080), port(53, 53, 'udp'), port(443)];

  it('removes by target port, protocol and mode, whatever the port is published on', () => {
    assert.deepEqual(updatePorts(current, [], parsePublish('80')), [port(443), port(53, 53, 'udp')]);
    assert.deepEqual(updatePorts(current, [], parsePublish('9999:80')), [port(443), port(53, 53, 'udp')]);
    assert.deepEqual(updatePorts(current, [], parsePublish('53')), [port(443), port(53, 53, 'udp'), port(80, 8080)], '53/tcp is not 53/udp');
    assert.deepEqual(updatePorts(current, [], parsePublish('53/udp')), [port(443), port(80, 8080)]);
    assert.deepEqual(updatePorts(current, [], parsePublish('target=80,mode=host')), [port(443), port(53, 53, 'udp'), port(80, 8080)]);
  });

  it('adds ports not there yet and sorts by docker\'s key (published:target/protocol/mode)', () => {
    assert.deepEqual(updatePorts(current, parsePublish('8080:80'), []), [port(443), port(53, 53, 'udp'), port(80, 8080)]);
    assert.deepEqual(updatePorts(current, parsePublish('9090:90'), parsePublish('80')), [port(443), port(53, 53, 'udp'), port(90, 9090)]);
    assert.deepEqual(updatePorts([], parsePublish('8000-8001:80-81'), []), [port(80, 8000), port(81, 8001)]);
  });

  it('changes only what the flags name, and refuses --replicas on a global service', () => {
    const options = (argv: string[]) => parseArgs(argv, UPDATE_OPTIONS, { interspersed: true });
    const before = serviceSpec('web', { EndpointSpec: { Mode: 'vip', Ports: [port(80, 8080)] } });
    const after = updateServiceSpec(before, options(['--publish-add', '443:443', '--publish-rm', '80', '--image', 'nginx:1', '--force']));
    assert.deepEqual(after, {
      ...before,
      TaskTemplate: { ...before.TaskTemplate, ContainerSpec: { ...before.TaskTemplate.ContainerSpec, Image: 'nginx:1' }, ForceUpdate: 1 },
      EndpointSpec: { Mode: 'vip', Ports: [port(443, 443)] },
    });
    assert.deepEqual(updateServiceSpec(before, options(['--publish-rm', '80'])).EndpointSpec, { Mode: 'vip' });
    assert.deepEqual(updateServiceSpec(before, options(['--endpoint-mode', 'dnsrr'])).EndpointSpec, { Mode: 'dnsrr', Ports: [port(80, 8080)] });
    assert.deepEqual(updateServiceSpec(before, options(['--replicas', '4'])).Mode, { Replicated: { Replicas: 4 } });
    assert.throws(() => updateServiceSpec({ ...before, Mode: { Global: {} } }, options(['--replicas', '4'])), /replicas can only be used with replicated mode/);
    assert.deepEqual(before.EndpointSpec, { Mode: 'vip', Ports: [port(80, 8080)] }, 'the spec read is left as it was');
  });
});
