/**
 * The tables, byte for byte against docker CLI 28 output captured on this machine for the same objects
 * (`docker service ls`, `docker service ps`, `docker node ls` against Docker Swarm mode, and against a swarmlet
 * daemon's socket).
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderTable } from '../../src/cli/table.ts';
import { renderNodeTable } from '../../src/cli/views/nodes.ts';
import { portsCell, renderServiceTable } from '../../src/cli/views/services.ts';
import { renderTaskIds, renderTaskTable } from '../../src/cli/views/tasks.ts';
import { NODE_ID, NOW, lines, node, service, task } from './docker-fixtures.ts';

const BUSYBOX = 'swarmlet-cliref/busybox:1';

describe('renderTable (Go tabwriter: minwidth 10, padding 3)', () => {
  it('pads every cell but the last to the widest cell + 3, at least 10', () => {
    assert.equal(renderTable(['A', 'LONGER HEADER', 'Z'], [['x', 'y', ''], ['wide cell here', '', 'last']]), lines(
      'A                LONGER HEADER   Z',
      'x                y               ',
      'wide cell here                   last',
    ));
  });

  it('counts characters, not bytes', () => {
    assert.equal(renderTable(['E', 'P'], [['ab…', '']]), lines('E         P', 'ab…       '));
  });
});

describe('service ls', () => {
  it('prints routing-mesh ports as docker does: sorted, folded into ranges, host-mode ports left out', () => {
    const web = service('v1abbs71d77e9wupts94kvt8f', 'web', BUSYBOX, 'replicated', 1, 1);
    const ingress = (target: number, published: number, protocol: 'tcp' | 'udp' = 'tcp') => ({ Protocol: protocol, TargetPort: target, PublishedPort: published, PublishMode: 'ingress' as const });
    web.Endpoint = {
      Spec: { Mode: 'vip' },
      Ports: [
        ingress(53, 53, 'udp'),
        ingress(81, 8001),
        { Protocol: 'tcp', TargetPort: 22, PublishedPort: 2222, PublishMode: 'host' },
        ingress(80, 8000),
        ingress(80, 30000),
        ingress(443, 8443),
      ],
    };
    assert.equal(portsCell(web.Endpoint.Ports), '*:8000-8001->80-81/tcp, *:8443->443/tcp, *:30000->80/tcp, *:53->53/udp');
    // Several published ports in a row onto one target, and a range followed by an overlapping target.
    assert.equal(portsCell([ingress(80, 8080), ingress(80, 8081)]), '*:8080-8081->80/tcp');
    assert.equal(portsCell([ingress(80, 8080), ingress(81, 8081), ingress(80, 8082)]), '*:8080-8081->80-81/tcp, *:8082->80/tcp');
    assert.equal(portsCell([{ Protocol: 'tcp', TargetPort: 80, PublishMode: 'host' }]), '');
    assert.equal(renderServiceTable([{ ...web, Endpoint: { Spec: { Mode: 'vip' }, Ports: [ingress(80, 8080)] } }]), lines(
      'ID             NAME      MODE         REPLICAS   IMAGE                       PORTS',
      'v1abbs71d77e   web       replicated   1/1        swarmlet-cliref/busybox:1   *:8080->80/tcp',
    ));
  });

  it('matches docker service ls', () => {
    const services = [
      service('wmzmz8dm8g5ni4m2ygvuqavzs', 'web', BUSYBOX, 'global', 1, 1),
      service('v1abbs71d77e9wupts94kvt8f', 'back', BUSYBOX, 'replicated', 3, 3),
      service('xgvrryribmf5i6geczbjy0ccy', 'bad', 'nosuchimage:1', 'replicated', 0, 1),
    ];
    assert.equal(renderServiceTable(services), lines(
      'ID             NAME      MODE         REPLICAS   IMAGE                       PORTS',
      'v1abbs71d77e   back      replicated   3/3        swarmlet-cliref/busybox:1   ',
      'xgvrryribmf5   bad       replicated   0/1        nosuchimage:1               ',
      'wmzmz8dm8g5n   web       global       1/1        swarmlet-cliref/busybox:1   ',
    ));
  });

  it('sorts names naturally and widens NAME and IMAGE as docker does', () => {
    const services = [
      service('v1abbs71d77e9wupts94kvt8f', 'back', BUSYBOX, 'replicated', 11, 11),
      service('o7ob53h76a5m00000000000000', 'verylongnameservice', 'a-very-long-image-name-that-does-not-exist:1', 'replicated', 0, 1),
      service('70tnijl2nvcc0000000000000', 'big', BUSYBOX, 'replicated', 0, 1),
    ];
    assert.equal(renderServiceTable(services), lines(
      'ID             NAME                  MODE         REPLICAS   IMAGE                                          PORTS',
      'v1abbs71d77e   back                  replicated   11/11      swarmlet-cliref/busybox:1                      ',
      '70tnijl2nvcc   big                   replicated   0/1        swarmlet-cliref/busybox:1                      ',
      'o7ob53h76a5m   verylongnameservice   replicated   0/1        a-very-long-image-name-that-does-not-exist:1   ',
    ));
  });
});

describe('service ps', () => {
  const view = (services: Array<[string, string]>, noTrunc = false) => ({
    serviceNames: new Map(services),
    nodeNames: new Map([[NODE_ID, 'vm']]),
    now: NOW,
    noTrunc,
  });

  it('matches docker service ps back bad: slot names, history indented, errors quoted', () => {
    const tasks = [
      task('shrj79w2kv27aaaaaaaaaaaaa', 'BAD', 1, 'nosuchimage:1', 'shutdown', 'rejected', 2, { err: 'No such image: nosuchimage:1', createdSecondsAgo: 7 }),
      task('a7rejd97vlqkh2jg6jqm1s22c', 'BACK', 1, BUSYBOX, 'running', 'running', 14),
      task('lmbl69r35ebcxumle5hhdm4iq', 'BACK', 3, BUSYBOX, 'running', 'running', 14),
      task('g24kgyf76s7xaaaaaaaaaaaaa', 'BAD', 1, 'nosuchimage:1', 'ready', 'rejected', 2, { err: 'No such image: nosuchimage:1', createdSecondsAgo: 3 }),
      task('famzqbh3jg65g1ctl4ex4xskp', 'BACK', 2, BUSYBOX, 'running', 'running', 14),
    ];
    assert.equal(renderTaskTable(tasks, view([['BACK', 'back'], ['BAD', 'bad']])), lines(
      'ID             NAME        IMAGE                       NODE      DESIRED STATE   CURRENT STATE            ERROR                            PORTS',
      'a7rejd97vlqk   back.1      swarmlet-cliref/busybox:1   vm        Running         Running 14 seconds ago                                    ',
      'famzqbh3jg65   back.2      swarmlet-cliref/busybox:1   vm        Running         Running 14 seconds ago                                    ',
      'lmbl69r35ebc   back.3      swarmlet-cliref/busybox:1   vm        Running         Running 14 seconds ago                                    ',
      'g24kgyf76s7x   bad.1       nosuchimage:1               vm        Ready           Rejected 2 seconds ago   "No such image: nosuchimage:1"   ',
      'shrj79w2kv27    \\_ bad.1   nosuchimage:1               vm        Shutdown        Rejected 2 seconds ago   "No such image: nosuchimage:1"   ',
    ));
  });

  it('sorts slots naturally (back.10 after back.9)', () => {
    const tasks = [10, 9, 1].map((slot) => task(`task${slot}`.padEnd(25, 'x'), 'BACK', slot, BUSYBOX, 'running', 'running', 7));
    const names = renderTaskTable(tasks, view([['BACK', 'back']])).split('\n').slice(1, -1).map((line) => line.split(/\s{3,}/)[1]);
    assert.deepEqual(names, ['back.1', 'back.9', 'back.10']);
  });

  it('truncates long errors to 30 characters with … unless --no-trunc', () => {
    const err = 'No such image: a-very-long-image-name-that-does-not-exist:1';
    const image = 'a-very-long-image-name-that-does-not-exist:1';
    const tasks = [
      task('sdgupzwqzi145iueu70zh0i8y', 'V', 1, image, 'ready', 'rejected', 2, { err, createdSecondsAgo: 2 }),
      task('qzkf907tf8dynje7jy4t4t3tk', 'V', 1, image, 'shutdown', 'rejected', 7, { err, createdSecondsAgo: 7 }),
    ];
    assert.equal(renderTaskTable(tasks, view([['V', 'verylongnameservice']])), lines(
      'ID             NAME                        IMAGE                                          NODE      DESIRED STATE   CURRENT STATE            ERROR                              PORTS',
      'sdgupzwqzi14   verylongnameservice.1       a-very-long-image-name-that-does-not-exist:1   vm        Ready           Rejected 2 seconds ago   "No such image: a-very-long-im…"   ',
      'qzkf907tf8dy    \\_ verylongnameservice.1   a-very-long-image-name-that-does-not-exist:1   vm        Shutdown        Rejected 7 seconds ago   "No such image: a-very-long-im…"   ',
    ));
    assert.equal(renderTaskTable(tasks.slice(0, 2), view([['V', 'verylongnameservice']], true)), lines(
      'ID                          NAME                        IMAGE                                          NODE      DESIRED STATE   CURRENT STATE            ERROR                                                           PORTS',
      'sdgupzwqzi145iueu70zh0i8y   verylongnameservice.1       a-very-long-image-name-that-does-not-exist:1   vm        Ready           Rejected 2 seconds ago   "No such image: a-very-long-image-name-that-does-not-exist:1"   ',
      'qzkf907tf8dynje7jy4t4t3tk    \\_ verylongnameservice.1   a-very-long-image-name-that-does-not-exist:1   vm        Shutdown        Rejected 7 seconds ago   "No such image: a-very-long-image-name-that-does-not-exist:1"   ',
    ));
  });

  it('shows a pending task with no node and its scheduling reason', () => {
    const tasks = [task('l0j4utb562b5plxk5tlcd47wo', 'BIG', 1, BUSYBOX, 'running', 'pending', 1, { nodeId: '', err: 'no suitable node (insufficient resources on 1 node)' })];
    assert.equal(renderTaskTable(tasks, view([['BIG', 'big']])), lines(
      'ID             NAME      IMAGE                       NODE      DESIRED STATE   CURRENT STATE          ERROR                              PORTS',
      'l0j4utb562b5   big.1     swarmlet-cliref/busybox:1             Running         Pending 1 second ago   "no suitable node (insufficien…"   ',
    ));
  });

  it('shows service and node IDs where no names are known (--no-resolve)', () => {
    const tasks = [task('a7rejd97vlqkh2jg6jqm1s22c', 'v1abbs71d77e9wupts94kvt8f', 1, BUSYBOX, 'running', 'running', 14)];
    assert.equal(renderTaskTable(tasks, { serviceNames: new Map(), nodeNames: new Map(), now: NOW, noTrunc: false }), lines(
      'ID             NAME                          IMAGE                       NODE                        DESIRED STATE   CURRENT STATE            ERROR     PORTS',
      'a7rejd97vlqk   v1abbs71d77e9wupts94kvt8f.1   swarmlet-cliref/busybox:1   mwbff1fohwnkvuvj7yowzzvr0   Running         Running 14 seconds ago             ',
    ));
  });

  it('lists IDs for -q in the table\'s order, truncated unless asked not to', () => {
    const tasks = [
      task('lmbl69r35ebcxumle5hhdm4iq', 'BACK', 10, BUSYBOX, 'running', 'running', 14),
      task('a7rejd97vlqkh2jg6jqm1s22c', 'BACK', 2, BUSYBOX, 'running', 'running', 14),
    ];
    const names = new Map([['BACK', 'back']]);
    assert.equal(renderTaskIds(tasks, names, false), lines('a7rejd97vlqk', 'lmbl69r35ebc'));
    assert.equal(renderTaskIds(tasks, names, true), lines('a7rejd97vlqkh2jg6jqm1s22c', 'lmbl69r35ebcxumle5hhdm4iq'));
  });

  it('names global tasks SERVICE.NODEID', () => {
    const tasks = [task('0swn3i1qcacyfda0crepfrg9k', 'G', undefined, BUSYBOX, 'running', 'running', 200)];
    const row = renderTaskTable(tasks, view([['G', 'g']])).split('\n')[1]!;
    assert.match(row, new RegExp(`^0swn3i1qcacy   g\\.${NODE_ID}   .*Running 3 minutes ago`));
  });
});

describe('node ls', () => {
  it('matches docker node ls, marking the current node', () => {
    assert.equal(renderNodeTable([node(NODE_ID, 'vm')], NODE_ID), lines(
      'ID                            HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION',
      'mwbff1fohwnkvuvj7yowzzvr0 *   vm         Ready     Active         Leader           20.10.24+dfsg1',
    ));
  });

  it('leaves workers\' MANAGER STATUS empty and shows reachability for followers', () => {
    const worker = node('bbbbbbbbbbbbbbbbbbbbbbbbb', 'pi-2', { Spec: { Role: 'worker', Availability: 'drain' }, ManagerStatus: undefined });
    const follower = node('ccccccccccccccccccccccccc', 'pi-10', { ManagerStatus: { Reachability: 'unreachable', Addr: 'x' }, Status: { State: 'down', Addr: 'x' } });
    assert.equal(renderNodeTable([follower, worker, node(NODE_ID, 'pi-1')], NODE_ID), lines(
      'ID                            HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION',
      'mwbff1fohwnkvuvj7yowzzvr0 *   pi-1       Ready     Active         Leader           20.10.24+dfsg1',
      'bbbbbbbbbbbbbbbbbbbbbbbbb     pi-2       Ready     Drain                           20.10.24+dfsg1',
      'ccccccccccccccccccccccccc     pi-10      Down      Active         Unreachable      20.10.24+dfsg1',
    ));
  });

  it('marks a node that cannot enforce memory limits in STATUS, and only in the table', () => {
    const unlimited = node('bbbbbbbbbbbbbbbbbbbbbbbbb', 'pi-2', { Spec: { Role: 'worker', Availability: 'active' }, ManagerStatus: undefined });
    unlimited.Description.MemoryLimit = false;
    const limited = node(NODE_ID, 'pi-1');
    limited.Description.MemoryLimit = true;
    assert.equal(renderNodeTable([unlimited, limited], NODE_ID), lines(
      'ID                            HOSTNAME   STATUS                     AVAILABILITY   MANAGER STATUS   ENGINE VERSION',
      'mwbff1fohwnkvuvj7yowzzvr0 *   pi-1       Ready                      Active         Leader           20.10.24+dfsg1',
      'bbbbbbbbbbbbbbbbbbbbbbbbb     pi-2       Ready (no memory limits)   Active                          20.10.24+dfsg1',
    ));
    // Docker's JSON for scripts: Status is the state alone.
    assert.equal(renderNodeTable([unlimited], NODE_ID, 'json'), '{"Availability":"Active","EngineVersion":"20.10.24+dfsg1","Hostname":"pi-2","ID":"bbbbbbbbbbbbbbbbbbbbbbbbb","ManagerStatus":"","Self":false,"Status":"Ready","TLSStatus":"Unknown"}\n');
  });

  it('leaves a node that can enforce limits, or has not said, as docker prints it', () => {
    const limited = node(NODE_ID, 'vm');
    limited.Description.MemoryLimit = true;
    const expected = lines(
      'ID                            HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION',
      'mwbff1fohwnkvuvj7yowzzvr0 *   vm         Ready     Active         Leader           20.10.24+dfsg1',
    );
    assert.equal(renderNodeTable([limited], NODE_ID), expected);
    assert.equal(renderNodeTable([node(NODE_ID, 'vm')], NODE_ID), expected);
  });
});

