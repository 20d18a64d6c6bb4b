import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { Emulators } from '../../services/local/emulators.js';
import { defineCatalog } from '../../shared/envelope.js';
import { eventually, testEmulators, testFleet, uniquePrefix } from '../helpers/fleet.js';

const fixture = fileURLToPath(new URL('../fixtures/slow-dispatcher.ts', import.meta.url));

describe('graceful shutdown', function () {
  let emu: Emulators;
  let marks: string;
  before(async () => {
    emu = await testEmulators();
    marks = mkdtempSync(path.join(tmpdir(), 'spotbatch-marks-'));
  });
  after(async () => {
    await emu.stop();
    rmSync(marks, { recursive: true, force: true });
  });

  it('on SIGTERM during a slow handler: the handler finishes, the message is deleted, the process exits 0', async () => {
    const prefix = uniquePrefix();
    const catalog = defineCatalog({
      'test.slow': { queue: 'master', schema: z.object({ jobId: z.string() }), summary: 'slow', sentBy: 'tests' },
    });
    // Creates the queues and tables; this in-process fleet only sends.
    const sender = await testFleet(emu, catalog, {}, { prefix });
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
      env: {
        ...process.env,
        SQS_ENDPOINT: emu.endpoints.sqs,
        DYNAMODB_ENDPOINT: emu.endpoints.dynamodb,
        PREFIX: prefix,
        MARK_DIR: marks,
        SLOW_MS: '3000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await eventually('fixture ready', () => new Promise<boolean>((resolve) => child.stdout.once('data', () => resolve(true))), 30_000);
      await sender.deps.bus.send('test.slow', { jobId: 'slow1' });
      await eventually('handler started', () => existsSync(path.join(marks, 'slow1.started')), 30_000);
      expect(existsSync(path.join(marks, 'slow1.finished'))).to.equal(false);
      child.kill('SIGTERM');
      const code = await exited;
      expect(code, stderr).to.equal(0);
      expect(existsSync(path.join(marks, 'slow1.finished'))).to.equal(true);
      const depth = await sender.queueDepth('master');
      expect(depth.visible + depth.inFlight + depth.delayed).to.equal(0);
      expect(await sender.drainDlq('master')).to.have.length(0);
      expect(stderr).to.match(/dispatcher stopped/);
    } finally {
      child.kill('SIGKILL');
      await sender.close();
    }
  });
});
