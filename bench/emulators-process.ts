/**
 * One emulator in a process of its own (argument: sqs or dynamodb), so a
 * benchmark measures the fleet, not emulators sharing its event loop or each other's.
 */
import { startEmulators } from '../services/local/emulators.js';

const which = process.argv[2];
const emu = await startEmulators({});
process.stdout.write(`${JSON.stringify(which === 'sqs' ? { sqs: emu.endpoints.sqs } : { dynamodb: emu.endpoints.dynamodb })}\n`);
process.on('SIGTERM', () => {
  void emu.stop().then(() => process.exit(0));
});
