/** Shared benchmark plumbing. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Emulators } from '../services/local/emulators.js';

async function one(which: 'sqs' | 'dynamodb'): Promise<{ endpoint: Record<string, string>; stop(): Promise<void> }> {
  const script = fileURLToPath(new URL('./emulators-process.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, which], { stdio: ['ignore', 'pipe', 'inherit'] });
  const endpoint = await new Promise<Record<string, string>>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const line = buf.split('\n')[0];
      if (buf.includes('\n') && line) resolve(JSON.parse(line));
    });
    child.once('exit', (code) => reject(new Error(`emulator ${which} exited with ${code}`)));
  });
  return {
    endpoint,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** SQS and DynamoDB emulators, each in a child process of its own, as they are separate services in production. */
export async function emulatorsInChild(): Promise<Emulators> {
  const [sqs, ddb] = await Promise.all([one('sqs'), one('dynamodb')]);
  return {
    endpoints: { sqs: sqs.endpoint.sqs!, dynamodb: ddb.endpoint.dynamodb! },
    stop: async () => {
      await Promise.all([sqs.stop(), ddb.stop()]);
    },
  };
}
