/** Turns an assigned task into the container the engine should run: Swarm's naming, labels and resources. */

import { hostModePorts } from '../manager/orchestrator/task-factory.ts';
import type { ContainerCreateOptions } from '../runtime/runtime.ts';
import type { Assignment } from './assignment.ts';
import { LABEL } from './labels.ts';
import { containerNetworks } from './networks.ts';

/** SERVICE.SLOT.TASKID for replicated tasks, SERVICE.NODEID.TASKID for global ones, as Swarm names them. */
export function taskName({ task, serviceName }: Assignment): string {
  return `${serviceName}.${task.Slot ?? task.NodeID}.${task.ID}`;
}

export function containerOptions(assignment: Assignment, image: string): ContainerCreateOptions {
  const { task, serviceName } = assignment;
  const spec = task.Spec.ContainerSpec;
  const name = taskName(assignment);
  const grace = spec.StopGracePeriod ?? 10_000_000_000;
  const networks = containerNetworks(task.NetworksAttachments ?? []);
  // The first network's gateway answers the task's DNS questions: the swarm's names first, the rest forwarded.
  const gateway = task.NetworksAttachments?.[0]?.Network.IPAMOptions.Configs[0]?.Gateway;
  return {
    name,
    image,
    labels: {
      ...spec.Labels,
      [LABEL.managed]: '1',
      [LABEL.nodeId]: task.NodeID ?? '',
      [LABEL.serviceId]: task.ServiceID,
      [LABEL.serviceName]: serviceName,
      [LABEL.task]: '',
      [LABEL.taskId]: task.ID,
      [LABEL.taskName]: name,
    },
    env: spec.Env,
    entrypoint: spec.Command,
    cmd: spec.Args,
    hostname: spec.Hostname,
    user: spec.User,
    workingDir: spec.Dir,
    tty: spec.TTY,
    openStdin: spec.OpenStdin,
    memoryLimit: task.Spec.Resources?.Limits?.MemoryBytes,
    memoryReservation: task.Spec.Resources?.Reservations?.MemoryBytes,
    nanoCpus: task.Spec.Resources?.Limits?.NanoCPUs,
    stopSignal: spec.StopSignal,
    stopTimeout: Math.ceil(grace / 1e9),
    init: spec.Init,
    healthcheck: spec.Healthcheck,
    mounts: spec.Mounts,
    capAdd: spec.CapabilityAdd,
    capDrop: spec.CapabilityDrop,
    devices: spec.Devices,
    privileged: spec.Privileged,
    publish: hostModePorts(task.Endpoint).map((port) => ({
      target: port.TargetPort,
      protocol: port.Protocol ?? 'tcp',
      ...(port.PublishedPort ? { published: port.PublishedPort } : {}),
    })),
    ...(networks.length > 0 ? { networks } : {}),
    ...(networks.length > 0 && gateway ? { dns: [gateway] } : {}),
  };
}
