/**
 * A cluster event: one change to a service, node, task or swarm network, as Docker's /events reports swarm-scope changes
 * (api/swagger.yaml's EventMessage). Docker emits no task events; swarmlet adds them as Type `task`, so
 * `events` shows a service's tasks being placed, started and ended without polling `service ps`.
 */

export type ClusterEventType = 'service' | 'node' | 'task' | 'network';
export type ClusterEventAction = 'create' | 'update' | 'remove';

export interface ClusterEvent {
  Type: ClusterEventType;
  Action: ClusterEventAction;
  /** The object's ID, and `name` plus, for updates, the changed fields as `field.old` / `field.new`. */
  Actor: { ID: string; Attributes: Record<string, string> };
  /**
   * When it happened, in milliseconds since the epoch: the time the command carries (its `now`), so every
   * manager stamps the same event alike, as Docker stamps swarm events with the object's UpdatedAt.
   */
  at: number;
}

/**
 * The event as one JSON line of Docker's stream. Docker's `timeNano` is an int64 that a JS number cannot hold
 * exactly, so it is written from the millisecond time as text rather than computed as a float.
 */
export function encodeEvent(event: ClusterEvent): string {
  const seconds = Math.floor(event.at / 1000);
  const nanos = `${BigInt(Math.trunc(event.at)) * 1_000_000n}`;
  const head = JSON.stringify({ Type: event.Type, Action: event.Action, Actor: event.Actor, scope: 'swarm' });
  return `${head.slice(0, -1)},"time":${seconds},"timeNano":${nanos}}\n`;
}
