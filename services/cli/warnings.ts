/**
 * The AWS SDK's Node version notice (seven lines on every command under Node < 22) becomes one
 * short line; every other warning is left to node, which prints it as usual.
 */

/** How the SDK's notice begins (@aws-sdk/core emitWarningIfUnsupportedVersion). */
const SDK_NODE_NOTICE = /^NodeVersionSupportWarning\b/;

/** The one line said instead, once. */
export function nodeNoticeLine(version = process.version): string {
  return `spotbatch: note: node ${version}; AWS SDK releases from 2027 need node >= 22 (AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true hides this)`;
}

/**
 * Replace the SDK's notice by `nodeNoticeLine()` on stderr (once); pass every other warning to node's
 * own process.emitWarning. Returns a function that puts the original back (tests).
 */
export function shortenSdkNodeNotice(write: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): () => void {
  const original = process.emitWarning;
  let said = false;
  const replacement = function (this: unknown, warning: string | Error, ...rest: unknown[]): void {
    const text = typeof warning === 'string' ? warning : warning?.message;
    if (typeof text === 'string' && SDK_NODE_NOTICE.test(text)) {
      if (!said) write(nodeNoticeLine());
      said = true;
      return;
    }
    (original as (w: string | Error, ...r: unknown[]) => void).call(process, warning, ...rest);
  };
  process.emitWarning = replacement;
  return () => {
    if (process.emitWarning === replacement) process.emitWarning = original;
  };
}
