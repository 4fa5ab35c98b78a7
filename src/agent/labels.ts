/**
 * The labels that tie a container to its task. They are Swarm's own names, so tools that read Swarm's labels
 * (visualizers, log shippers) work unchanged, plus one that marks everything swarmlet manages.
 */

export const LABEL = {
  managed: 'com.swarmlet.managed',
  nodeId: 'com.docker.swarm.node.id',
  serviceId: 'com.docker.swarm.service.id',
  serviceName: 'com.docker.swarm.service.name',
  task: 'com.docker.swarm.task',
  taskId: 'com.docker.swarm.task.id',
  taskName: 'com.docker.swarm.task.name',
} as const;

/** The filter that finds the containers one node's agent manages. */
export const nodeFilter = (nodeId: string) => [`${LABEL.managed}=1`, `${LABEL.nodeId}=${nodeId}`];
