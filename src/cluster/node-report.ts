/**
 * Keeping the cluster's record of a node current. A node's description (its engine's version and labels, its
 * resources, whether it can enforce memory limits, the images it holds) changes under it: an image is loaded, an
 * engine label is added, the memory cgroup is turned on. The node reads it every few seconds and sends it to the
 * leader when it changed; the leader records it, and the scheduler places against it.
 *
 * A description comes from another machine, so the leader checks its shape before it reaches the state.
 */

import * as v from 'valibot';
import { meshPortConflictsSchema } from '../api/schemas.ts';
import type { NodeDescription } from '../api/types.ts';
import { describeError, invalidArgument } from '../errors.ts';
import type { Logger } from '../util/logger.ts';

/** How often a node reads its description: an image loaded by hand is schedulable within about this long. */
export const DESCRIBE_INTERVAL_MS = 3_000;

/** Far more than a small box holds; a bound on what one node can make the cluster store. */
const MAX_IMAGES = 2_000;
const MAX_REFS_PER_IMAGE = 100;

const text = (max: number) => v.pipe(v.string(), v.maxLength(max));
const amount = () => v.pipe(v.number(), v.minValue(0), v.finite());
const refs = () => v.pipe(v.array(text(512)), v.maxLength(MAX_REFS_PER_IMAGE));

const descriptionSchema = v.object({
  Hostname: text(255),
  Platform: v.object({ Architecture: text(64), OS: text(64) }),
  Resources: v.object({ NanoCPUs: amount(), MemoryBytes: amount() }),
  Engine: v.object({
    EngineVersion: text(128),
    Labels: v.optional(v.record(text(512), text(4096))),
    Plugins: v.optional(v.array(v.object({ Type: text(128), Name: text(256) }))),
  }),
  Images: v.optional(
    v.pipe(
      v.array(
        v.object({
          ID: text(128),
          RepoTags: refs(),
          RepoDigests: refs(),
          Platform: v.object({ OS: text(64), Architecture: text(64), Variant: v.optional(text(64)) }),
          ExposedPorts: v.optional(v.pipe(v.array(v.pipe(v.string(), v.regex(/^\d{1,5}\/(tcp|udp|sctp)$/))), v.maxLength(64))),
        }),
      ),
      v.maxLength(MAX_IMAGES),
    ),
  ),
  MemoryLimit: v.optional(v.boolean()),
  MeshPortConflicts: v.optional(meshPortConflictsSchema),
});

/** A node description sent by a node, checked; anything else is refused with what is wrong. */
export function parseNodeDescription(value: unknown): NodeDescription {
  const result = v.safeParse(descriptionSchema, value);
  if (result.success) return result.output;
  const issue = result.issues[0];
  const where = issue.path?.map((item) => String(item.key)).join('.') ?? '';
  throw invalidArgument(`invalid node description${where ? ` at ${where}` : ''}: ${issue.message}`);
}

export interface NodeReporterOptions {
  /** Reads the node's description now. */
  describe(): Promise<NodeDescription>;
  /** Delivers it to the cluster; a rejection means it was not recorded and is sent again. */
  send(description: NodeDescription): Promise<void>;
  log: Logger;
  intervalMs?: number;
}

/** Reads the description on a timer and sends it whenever it differs from the last one delivered. */
export class NodeReporter {
  readonly #options: NodeReporterOptions;
  #delivered = '';
  #timer: NodeJS.Timeout | null = null;
  #running = false;
  #failures = 0;

  constructor(options: NodeReporterOptions) {
    this.#options = options;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.check(), this.#options.intervalMs ?? DESCRIBE_INTERVAL_MS);
    this.#timer.unref();
    void this.check();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Sends the description again on the next check, changed or not (a new leader, a state restored). */
  resend(): void {
    this.#delivered = '';
  }

  /** One check: read, compare, send. Exposed for tests; never throws. */
  async check(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      const description = await this.#options.describe();
      const json = JSON.stringify(description);
      if (json === this.#delivered) return;
      await this.#options.send(description);
      this.#delivered = json;
      this.#failures = 0;
    } catch (err) {
      // The engine restarting, or no leader for a moment (at every start): the next check tries again. Said
      // once, and loudly only when it goes on for a while.
      this.#failures += 1;
      if (this.#failures === 1) this.#options.log.debug(`node description not recorded yet: ${describeError(err)}`);
      if (this.#failures === 10) this.#options.log.warn(`node description still not recorded: ${describeError(err)}`);
    } finally {
      this.#running = false;
    }
  }
}
