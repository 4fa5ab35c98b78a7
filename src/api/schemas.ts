/**
 * Validation of request bodies at the API boundary, with zod. The docker CLI sends many fields swarmlet does not
 * act on (Isolation, ForceUpdate, empty Placement...): objects are loose so those pass through untouched, while
 * every field swarmlet does act on is checked here, once — inside, the types are trusted.
 */

import { z } from 'zod';
import type { ServiceSpec } from './types.ts';
import { parseConstraint } from '../manager/scheduler/constraints.ts';
import { invalidArgument } from '../errors.ts';

/** Docker refuses limits below 6 MB: the container could not even start. */
export const MIN_MEMORY_LIMIT = 6 * 1024 * 1024;
/** Far beyond anything a cluster of small boxes could run; catches typos like 1e9. */
export const MAX_REPLICAS = 100_000;

const nonNegativeInt = z.number().int().nonnegative();
const nanoseconds = z.number().int().nonnegative();

const resourceSet = z.looseObject({
  NanoCPUs: nonNegativeInt.optional(),
  MemoryBytes: nonNegativeInt.optional(),
});

const constraint = z.string().superRefine((expression, ctx) => {
  try {
    parseConstraint(expression);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
  }
});

const containerSpec = z.looseObject({
  Image: z.string().trim().min(1, 'an image is required'),
  Labels: z.record(z.string(), z.string()).optional(),
  Command: z.array(z.string()).optional(),
  Args: z.array(z.string()).optional(),
  Hostname: z.string().optional(),
  Env: z.array(z.string().regex(/^[^=\s]+(=|$)/, 'environment entries look like KEY=VALUE')).optional(),
  Dir: z.string().optional(),
  User: z.string().optional(),
  TTY: z.boolean().optional(),
  OpenStdin: z.boolean().optional(),
  StopGracePeriod: nanoseconds.optional(),
  StopSignal: z.string().optional(),
  Init: z.boolean().nullable().optional(),
});

const taskSpec = z.looseObject({
  ContainerSpec: containerSpec,
  Resources: z
    .looseObject({ Limits: resourceSet.optional(), Reservations: resourceSet.optional() })
    .optional()
    .superRefine((resources, ctx) => {
      const limit = resources?.Limits?.MemoryBytes ?? 0;
      const reservation = resources?.Reservations?.MemoryBytes ?? 0;
      if (limit > 0 && limit < MIN_MEMORY_LIMIT) {
        ctx.addIssue({ code: 'custom', message: 'memory limit is below the minimum of 6MB' });
      }
      if (limit > 0 && reservation > limit) {
        ctx.addIssue({ code: 'custom', message: 'memory reservation must not exceed the memory limit' });
      }
    }),
  RestartPolicy: z
    .looseObject({
      Condition: z.enum(['none', 'on-failure', 'any']).optional(),
      Delay: nanoseconds.optional(),
      MaxAttempts: nonNegativeInt.optional(),
      Window: nanoseconds.optional(),
    })
    .optional(),
  Placement: z
    .looseObject({
      Constraints: z.array(constraint).nullable().optional(),
      MaxReplicas: nonNegativeInt.optional(),
    })
    .optional(),
  ForceUpdate: nonNegativeInt.optional(),
});

const mode = z
  .looseObject({
    Replicated: z.looseObject({ Replicas: nonNegativeInt.max(MAX_REPLICAS, `at most ${MAX_REPLICAS} replicas`).optional() }).optional(),
    Global: z.looseObject({}).optional(),
  })
  .refine((m) => !(m.Replicated && m.Global), 'a service is either replicated or global, not both');

const updateConfig = z
  .looseObject({
    Parallelism: nonNegativeInt.optional(),
    Delay: nanoseconds.optional(),
    FailureAction: z.enum(['continue', 'pause', 'rollback']).optional(),
    Monitor: nanoseconds.optional(),
    MaxFailureRatio: z.number().min(0).max(1).optional(),
    Order: z.enum(['stop-first', 'start-first']).optional(),
  })
  .optional();

/** Docker's rule for service names: they become DNS names and container name prefixes. */
const NAME = /^[a-zA-Z0-9](?:[a-zA-Z0-9_.-]{0,61}[a-zA-Z0-9])?$/;

export const serviceSpecSchema = z.looseObject({
  Name: z
    .string()
    .optional()
    .refine((name) => !name || NAME.test(name), 'invalid name: use 1-63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit'),
  Labels: z.record(z.string(), z.string()).nullable().optional(),
  TaskTemplate: taskSpec,
  Mode: mode.optional(),
  UpdateConfig: updateConfig,
  RollbackConfig: updateConfig,
});

export const swarmInitSchema = z.looseObject({
  ListenAddr: z.string().optional(),
  AdvertiseAddr: z.string().optional(),
  ForceNewCluster: z.boolean().optional(),
  Spec: z.looseObject({}).optional(),
});

/** Parses a body or throws an `invalid_argument` error whose message names the field, as Docker's do. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const where = issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
  throw invalidArgument(`invalid ${what}${where}: ${issue.message}`);
}

export function parseServiceSpec(body: unknown): ServiceSpec {
  return parseBody(serviceSpecSchema, body, 'service spec') as ServiceSpec;
}
