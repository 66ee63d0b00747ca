// The WebAssembly reader of tcptracer files (lib/evidence/tcptracerWasm.ts) as summarizeTcptracerFile uses it: on the
// bench's capture shapes it gives the JS reader's summary, the module `npm run build` made loads, and when it cannot
// be loaded the JS reader reads the file instead. (test/evidence/tcptracer.test.ts holds its aggregator equal to the
// careful parser's reference on generated captures cut anywhere.)
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { type AnalysisShape, writeShapeCapture } from '../../bench/generateShapes.ts';
import { generateTcptracer } from '../../bench/generateTcptracer.ts';
import {
  MAX_SOURCES,
  summarizeTcptracerFile,
  summarizeTcptracerFileJs,
  type TcptracerFileReader,
} from '../../lib/evidence/tcptracer.ts';
import {
  loadTcptracerWasmReader,
  summarizeTcptracerFileWasm,
  WasmTcptracerAggregator,
} from '../../lib/evidence/tcptracerWasm.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tcptracer-wasm-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the bench shapes (bench/generateShapes.ts), 50,000 events', () => {
  test.each<[string, AnalysisShape]>([
    ['5 destinations', { destinations: 5 }],
    ['5,000 destinations (rows pruned)', { destinations: 5000 }],
    ['every event its own flow (rows pruned)', { destinations: 'distinct' }],
  ])("%s: the WebAssembly reader's summary is the JS reader's", async (_name, shape) => {
    const path = join(dir, `shape-${shape.destinations}.log`);
    await writeShapeCapture(path, 50_000, shape);
    const js = await summarizeTcptracerFileJs(path);
    const aggregator = new WasmTcptracerAggregator(loadTcptracerWasmReader());
    aggregator.readFile(path);
    const wasm = aggregator.end();
    expect(wasm).toEqual(js);
    // The WebAssembly read the events; only the banner and the header went the careful way.
    expect(aggregator.refusedLines).toBe(2);
    expect(wasm.events).toBe(50_000);
    if (shape.destinations !== 5) expect(wasm.cut?.undercount).toBeGreaterThan(0);
  });
});

describe('summarizeTcptracerFile', () => {
  const text = [...generateTcptracer(3000, 7)].join('');

  test('reads with the WebAssembly reader when it loads', async () => {
    const path = join(dir, 'capture.log');
    await writeFile(path, text);
    const read: string[] = [];
    const spy = async (): Promise<TcptracerFileReader> => {
      const reader = loadTcptracerWasmReader();
      return (file) => {
        read.push(file);
        return summarizeTcptracerFileWasm(file, reader);
      };
    };
    expect(await summarizeTcptracerFile(path, {}, spy)).toEqual(await summarizeTcptracerFileJs(path));
    expect(read).toEqual([path]);
  });

  test('falls back to the JS reader when the WebAssembly cannot be loaded', async () => {
    const path = join(dir, 'capture.log');
    await writeFile(path, text);
    const unloadable = async (): Promise<TcptracerFileReader> => {
      throw new Error('WebAssembly.Module(): expected magic word 00 61 73 6d');
    };
    expect(await summarizeTcptracerFile(path, {}, unloadable)).toEqual(await summarizeTcptracerFileJs(path));
  });

  test('by default loads the module npm run build made (else analyze would fall back without a word)', async () => {
    expect(() => loadTcptracerWasmReader()).not.toThrow();
    const path = join(dir, 'capture.log');
    await writeFile(path, text);
    expect(await summarizeTcptracerFile(path)).toEqual(await summarizeTcptracerFileJs(path));
  });

  test.each([
    ['a directory', (): string => dir, { code: 'EISDIR', syscall: 'read' }],
    ['a file gone since analyze checked it', (): string => join(dir, 'gone.log'), { code: 'ENOENT', syscall: 'open' }],
  ])('%s is a system error, with its syscall (analyze reports it as the file’s)', async (_name, path, error) => {
    await expect(summarizeTcptracerFile(path())).rejects.toMatchObject(error);
  });
});

test(`the module keeps as many sources as tcptracer.ts (MAX_SOURCES, ${MAX_SOURCES.toLocaleString('en')})`, () => {
  expect(loadTcptracerWasmReader().exports.maxSources()).toBe(MAX_SOURCES);
});
