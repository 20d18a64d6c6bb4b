import { expect } from 'chai';
import { PermanentError } from '../../shared/errors.js';
import { generateEd25519KeyPair } from '@spotbatch/simulator';
import { connectSsh } from '../../services/ssh/ssh.js';
import { BOUND_MS, rejection, startBrokenSftp } from '../step/helpers.js';

/**
 * SFTP that can never work on an image is a PermanentError with the reason (not retried for minutes):
 * no sftp subsystem, a login script that prints to stdout, a missing sftp-server program.
 */
describe('step/ssh: hopeless SFTP failures', function () {
  const cases = [
    { mode: 'no-subsystem', reason: /refused the sftp subsystem/ },
    { mode: 'chatty-login', reason: /SFTP stream.*corrupt.*prints to stdout/ },
    { mode: 'missing-server', reason: /sftp server exited with status 127/ },
  ] as const;
  for (const { mode, reason } of cases) {
    it(`${mode}: PermanentError naming the reason`, async function () {
      const server = await startBrokenSftp(mode);
      const session = await connectSsh({ host: server.host, port: server.port, username: 'ec2-user', privateKey: generateEd25519KeyPair().private, hostPublicKey: server.hostPublicKey, readyTimeoutMs: BOUND_MS });
      try {
        const err = await rejection(session.putFile('.spotbatch/x', 'x'));
        expect(err, String(err)).to.be.instanceOf(PermanentError);
        expect((err as Error).message).to.match(reason);
        expect((err as Error).message).to.include(`ec2-user@${server.host}:${server.port}`);
      } finally {
        session.close();
        await server.close();
      }
    });
  }
});
