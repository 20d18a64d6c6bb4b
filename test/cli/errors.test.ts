/**
 * How errors reach the terminal: listen failures said in terms of the
 * command's options, --debug only before `--`, and the last-resort handler
 * for an error no command caught (through the built binary).
 */
import { expect } from 'chai';
import { BindError, bindFailure, debugRequested, exitCodeOf, EXIT_USAGE } from '../../services/cli/errors.js';
import { ensureBuilt, runCli } from '../helpers/cli.js';

/** What node's net module throws (the fields it sets). */
const listenError = (code: string, address: string, port: number) => Object.assign(new Error(`listen ${code}: ${address}:${port}`), { code, syscall: 'listen', address, port });
const lookupError = (hostname: string) => Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname });

describe('spotbatch CLI: errors', function () {
  this.timeout(120_000);

  it('debugRequested: --debug counts only before a `--` separator', () => {
    expect(debugRequested(['node', 'main.js', 'status', '--debug'])).to.equal(true);
    expect(debugRequested(['node', 'main.js', '--debug', 'exec', 'J', 'T', '--', 'tool'])).to.equal(true);
    expect(debugRequested(['node', 'main.js', 'exec', 'J', 'T', '--', 'tool', '--debug'])).to.equal(false);
    expect(debugRequested(['node', 'main.js', 'status'])).to.equal(false);
  });

  it('bindFailure: names the address and the option to change, exit 2; leaves other errors alone', () => {
    const binding = { host: '127.0.0.1', ports: { '--port': 8080, '--sqs-port': 0 } };
    const inUse = bindFailure(listenError('EADDRINUSE', '127.0.0.1', 8080), binding);
    expect(inUse).to.be.instanceOf(BindError);
    expect(inUse!.message).to.equal('cannot listen on 127.0.0.1:8080 (--port): the port is in use by another program; pick another --port (0 picks a free one) or stop what is using it');
    expect(exitCodeOf(inUse)).to.equal(EXIT_USAGE);
    expect(inUse!.cause).to.have.property('code', 'EADDRINUSE');
    expect(bindFailure(listenError('EACCES', '127.0.0.1', 8080), binding)!.message).to.contain('(--port): not allowed (ports below 1024 need privileges); pick another --port');
    expect(bindFailure(listenError('EADDRNOTAVAIL', '10.9.9.9', 0), { ...binding, host: '10.9.9.9' })!.message).to.contain('cannot listen on 10.9.9.9:0 (--host): the address is not one of this machine\'s');
    expect(bindFailure(listenError('EADDRINUSE', '::1', 8080), { ...binding, host: '::1' })!.message).to.contain('cannot listen on [::1]:8080 (--port)');
    expect(bindFailure(lookupError('nosuchhost.invalid'), { ...binding, host: 'nosuchhost.invalid' })!.message).to.match(/^cannot listen on nosuchhost\.invalid \(--host\): no such host name/);
    // The SDK failing to reach an endpoint is not a listen failure: it keeps its own explanation.
    expect(bindFailure(lookupError('dynamodb.example.invalid'), binding)).to.equal(undefined);
    expect(bindFailure(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED', syscall: 'connect' }), binding)).to.equal(undefined);
    expect(bindFailure(new Error('other'), binding)).to.equal(undefined);
  });

  describe('through the built binary', () => {
    before(async function () {
      this.timeout(600_000);
      await ensureBuilt();
    });
    // Injected into the CLI's process: throws (or rejects) once main.ts has installed its handlers.
    const inject = (what: string) => ['--import', `data:text/javascript,const t = setInterval(() => { if (process.listenerCount("uncaughtException")) { clearInterval(t); ${what}; } }, 5);`];
    const simArgs = ['sim', '--port', '0', '--ssh-port', '0', '--json'];

    for (const [kind, what] of [
      ['an uncaught exception', 'throw new Error("stray boom")'],
      ['an unhandled rejection', 'Promise.reject(new Error("stray boom"))'],
    ] as const) {
      it(`${kind}: one line "spotbatch: <message>", exit 1; the stack only with --debug`, async () => {
        const plain = await runCli(simArgs, {}, 60_000, { built: true, nodeArgs: inject(what) });
        expect(plain.code, plain.stderr).to.equal(1);
        const lines = plain.stderr.split('\n').filter((l) => l && !l.startsWith('{'));
        expect(lines).to.deep.equal(['spotbatch: stray boom']);
        const debug = await runCli([...simArgs, '--debug'], {}, 60_000, { built: true, nodeArgs: inject(what) });
        expect(debug.code, debug.stderr).to.equal(1);
        expect(debug.stderr).to.match(/Error: stray boom\n\s+at /);
      });
    }

    // Endpoints where nothing listens (port 9, discard) or that do not resolve; a spec that is valid.
    const unreachable = { AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9', AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9', AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x' };
    const spec = JSON.stringify({ name: 'unreachable', tasks: { count: 1 }, steps: [{ run: 'true' }], instances: { types: ['m5.large'] } });

    it('submit with an unreachable endpoint or no credentials names that, not a missing queue (as status does)', async () => {
      const submit = await runCli(['submit', '-'], unreachable, 120_000, { built: true, stdin: spec });
      expect(submit.code).to.equal(1);
      expect(submit.stderr).to.contain("cannot reach the fleet's queues or tables (connect ECONNREFUSED 127.0.0.1:9)");
      expect(submit.stderr).to.contain('AWS_ENDPOINT_URL_SQS');
      expect(submit.stderr).not.to.contain('run `spotbatch setup` first');
      const status = await runCli(['status'], unreachable, 120_000, { built: true });
      expect(status.stderr.split('\n')[0]).to.equal(submit.stderr.split('\n')[0]);
      // No credentials anywhere (no variables, no profile file): the same diagnosis for both.
      const bare = { ...unreachable, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '', HOME: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/c', AWS_CONFIG_FILE: '/nonexistent/c', AWS_EC2_METADATA_DISABLED: 'true' };
      const nocreds = await runCli(['submit', '-'], bare, 120_000, { built: true, stdin: spec });
      expect(nocreds.code).to.equal(1);
      expect(nocreds.stderr).to.contain('no AWS credentials');
      expect(nocreds.stderr).not.to.contain('not found');
    });

    it("the AWS SDK's seven-line Node version warning becomes at most one short line; other warnings stay", async () => {
      const out = await runCli(['status'], { ...unreachable, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '' }, 120_000, { built: true });
      expect(out.code).to.equal(1);
      expect(out.stderr).not.to.contain('To continue receiving updates');
      expect(out.stderr).not.to.contain('NodeVersionSupportWarning');
      const about = out.stderr.split('\n').filter((l) => /node/i.test(l));
      if (Number(process.versions.node.split('.')[0]) < 22) {
        expect(about).to.have.length(1);
        expect(about[0]!.length).to.be.below(160);
      } else expect(about).to.deep.equal([]);
      // Any other warning is printed as node prints it.
      const other = await runCli(['status'], { ...unreachable, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '' }, 120_000, {
        built: true,
        nodeArgs: inject('process.emitWarning("something else went odd", "OddWarning")'),
      });
      expect(other.stderr).to.contain('OddWarning: something else went odd');
    });

    it('a --debug after `--` belongs to the remote command: no stack trace', async () => {
      const env = { AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9', AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9', AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', SPOTBATCH_SECRET_KEY: '' };
      const remote = await runCli(['exec', 'job-x', '0', '--', 'tool', '--debug'], env, 60_000, { built: true });
      expect(remote.code).to.equal(1);
      expect(remote.stderr).to.match(/^spotbatch: /m);
      expect(remote.stderr).not.to.match(/\n\s+at /);
      const ours = await runCli(['--debug', 'exec', 'job-x', '0', '--', 'tool'], env, 60_000, { built: true });
      expect(ours.code).to.equal(1);
      expect(ours.stderr).to.match(/\n\s+at /);
    });
  });
});
