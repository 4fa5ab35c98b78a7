/**
 * The joining side of `swarmlet join`: dial a manager's join channel, check it belongs to the cluster the token
 * pins (trust.ts), then send the token's secret inside the encrypted session and receive the node's certificate.
 * Managers are tried in turn; the error names what each said, so a wrong token reads as a wrong token and an
 * unreachable address as an unreachable address.
 */

import type { NodeDescription } from '../api/types.ts';
import { SwarmletError, describeError } from '../errors.ts';
import { verifyCertificate } from '../identity/certificate.ts';
import { fromBase64url, toBase64url } from '../identity/encoding.ts';
import { KEY_BYTES, type NodeIdentity } from '../identity/keys.ts';
import type { JoinToken } from '../identity/join-token.ts';
import { dial } from '../transport/endpoint.ts';
import { cryptoRandom } from '../util/ids.ts';
import type { Logger } from '../util/logger.ts';
import type { JoinAnswer } from './admission.ts';
import { joinerIdentity, verifyManagerForJoin } from './trust.ts';

export interface JoinRequest {
  token: JoinToken;
  /** Secret as typed (the token's secret part). */
  nodeId: string;
  identity: NodeIdentity;
  description: NodeDescription;
  advertiseAddr: string;
  /** Managers' transport addresses, `ip:port`, best first. */
  managers: string[];
  log: Logger;
  timeoutMs?: number;
}

export async function requestJoin(request: JoinRequest): Promise<JoinAnswer> {
  const failures: string[] = [];
  for (const address of request.managers) {
    let roots: Uint8Array[] = [];
    try {
      const channel = await dial(
        address,
        'join',
        { identity: joinerIdentity(request.nodeId, request.identity), verifyPeer: verifyManagerForJoin(request.token.rootDigest, (r) => (roots = r)) },
        { timeoutMs: request.timeoutMs ?? 5_000, log: request.log, randomBytes: (n: number) => new Uint8Array(cryptoRandom(n)) },
      );
      try {
        const answer = (await channel.request(
          {
            type: 'join',
            secret: request.token.secret,
            agreementKey: toBase64url(request.identity.agreement.publicKey),
            description: request.description,
            advertiseAddr: request.advertiseAddr,
          },
          request.timeoutMs ?? 15_000,
        )) as JoinAnswer;
        checkAnswer(answer, request, roots);
        return answer;
      } finally {
        channel.close('joined');
      }
    } catch (err) {
      failures.push(`${address}: ${describeError(err)}`);
    }
  }
  const invalidToken = failures.some((f) => f.includes('invalid join token'));
  throw new SwarmletError(
    invalidToken ? 'invalid_argument' : 'unavailable',
    invalidToken
      ? 'invalid join token: the cluster refused it. Print a current one on a manager with "swarmlet join-token worker" (or manager).'
      : `could not join: ${failures.join('; ') || 'no manager to ask'}`,
  );
}

/** The certificate must be for this node, these keys, and signed by a root the joiner verified. */
function checkAnswer(answer: JoinAnswer, request: JoinRequest, verifiedRoots: Uint8Array[]): void {
  const check = verifyCertificate(answer?.certificate, verifiedRoots, 0, { skipTimeChecks: true });
  if (!check.ok) throw new Error(`the manager sent an unusable certificate: ${check.message}`);
  const cert = check.certificate;
  if (cert.nodeId !== request.nodeId || cert.signingKey !== toBase64url(request.identity.signing.publicKey)) {
    throw new Error('the manager sent a certificate for another node');
  }
  if (!Array.isArray(answer.roots) || !answer.roots.every((root) => fromBase64url(root, KEY_BYTES))) throw new Error('the manager sent malformed root keys');
}
