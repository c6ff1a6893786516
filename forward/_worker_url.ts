/**
 * Internal: the URL to start a worker thread's module from, wherever the code runs.
 *
 * - From files (`deno run`, `bun run`, a `file:` import): the module beside the caller.
 * - Imported over https on Deno: `node:worker_threads` takes only `file:` and `data:` URLs, so a
 *   one-line `data:` module imports the real one.
 * - In a `bun build --compile` executable every module is bundled into one file whose
 *   `import.meta.url` is `file:///$bunfs/root/<executable>`: a path relative to the caller points
 *   nowhere. Worker modules are extra entry points of the build (`scripts/compile.sh`); Bun stores
 *   each under `$bunfs/root/` by its path from the project root (the entry points' common folder),
 *   as `.js`, and resolves a `.ts` request to it.
 * @module
 */

const BUNFS_ROOT = "/$bunfs/root/";

/**
 * Resolves a worker module's URL.
 *
 * @param specifier The module, relative to `base` (for example `"./_splice_worker.ts"`).
 * @param base The caller's `import.meta.url`.
 * @param fromRoot The same module's path from the project root (for example `"ffi/_splice_worker.ts"`).
 * @returns A URL `node:worker_threads` can start on both runtimes.
 */
export function workerModuleUrl(specifier: string, base: string, fromRoot: string): URL {
  const bunfs = base.indexOf(BUNFS_ROOT);
  if (bunfs >= 0) return new URL(fromRoot, base.slice(0, bunfs + BUNFS_ROOT.length));
  const url = new URL(specifier, base);
  if (url.protocol === "file:") return url;
  return new URL(`data:text/javascript,${encodeURIComponent(`import ${JSON.stringify(url.href)};`)}`);
}
