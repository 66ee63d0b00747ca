#!/usr/bin/env node
// The real Bicep compiler for the tests (test/infra/bicep.test.ts), fetched with the .NET SDK from NuGet: the package
// Azure.Bicep.CommandLine.<rid> carries the native, self-contained `bicep` binary in its tools/ folder. A throwaway
// project asks for exactly that version with <PackageDownload> and `dotnet restore --packages` unpacks it into a
// git-ignored cache inside the project (node_modules/.cache/bicep/<version>/); the next run finds it there and asks
// nothing. No npm dependency, no download of our own: NuGet's ordinary client does the fetching.
//
//   node tools/bicep.mjs            prints the binary's path (fetching it first if needed)
//   node tools/bicep.mjs --check    prints the path only if already fetched; exit 3 if not (asks nothing)
//
// Exit codes: 0 the path is on stdout; 2 `dotnet` is not on PATH (nothing to fetch with; stderr says how to get it);
// 3 --check and not fetched yet; 1 anything else (the restore's own output is on stderr).
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The compiler version the tests pin: its diagnostics (and the type library inside it) are part of what they check. */
export const BICEP_VERSION = '0.49.2';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'bicep');

/** What to tell someone without the .NET SDK. */
export const NO_DOTNET =
  'the .NET SDK (`dotnet`) is not on PATH, so the Bicep compiler cannot be fetched from NuGet: install the .NET SDK ' +
  '(https://dot.net; any version that restores packages) and run the tests again, or run `bash .ci/run` on a machine ' +
  "that has it (this project's machines and CI do).";

/** NuGet runtime identifier of this machine, as the Azure.Bicep.CommandLine.* packages are named. */
export function runtimeId(platform = process.platform, arch = process.arch) {
  const os = { linux: 'linux', darwin: 'osx', win32: 'win' }[platform];
  const cpu = { x64: 'x64', arm64: 'arm64' }[arch];
  if (os === undefined || cpu === undefined) throw new Error(`no Bicep CLI package for ${platform}/${arch}`);
  return `${os}-${cpu}`;
}

const packageId = (rid) => `Azure.Bicep.CommandLine.${rid}`;
const binaryName = (rid) => (rid.startsWith('win-') ? 'bicep.exe' : 'bicep');

/** `dotnet --version`, or undefined when there is no `dotnet` on PATH. */
export async function dotnetVersion() {
  try {
    const { stdout } = await run('dotnet', ['--version'], { env: dotnetEnv(), timeout: 60_000 });
    return stdout.trim();
  } catch (error) {
    if (error?.code === 'ENOENT') return undefined;
    throw error;
  }
}

function dotnetEnv() {
  return {
    ...process.env,
    DOTNET_CLI_TELEMETRY_OPTOUT: '1',
    DOTNET_NOLOGO: '1',
    DOTNET_SKIP_FIRST_TIME_EXPERIENCE: '1',
    DOTNET_GENERATE_ASPNET_CERTIFICATE: 'false',
  };
}

/** Every file under dir (recursive), as absolute paths. */
async function filesUnder(dir) {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
}

/** The bicep binary inside a restored packages folder: <packages>/<id lower-case>/<version>/tools/bicep. */
async function findBinary(packagesDir, rid, version) {
  const packageDir = join(packagesDir, packageId(rid).toLowerCase(), version);
  let files;
  try {
    files = await filesUnder(packageDir);
  } catch {
    return undefined;
  }
  const name = binaryName(rid);
  return files.find((file) => file.endsWith(`/tools/${name}`) || file.endsWith(`\\tools\\${name}`));
}

/** The cached binary's path when it is there and answers `--version` with the pinned version. */
export async function cachedBicep({ version = BICEP_VERSION, rid = runtimeId(), cacheDir = CACHE_DIR } = {}) {
  const binary = await findBinary(join(cacheDir, version, 'packages'), rid, version);
  if (binary === undefined) return undefined;
  try {
    const { stdout } = await run(binary, ['--version'], { timeout: 120_000 });
    return stdout.includes(`Bicep CLI version ${version} `) ? binary : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The path of the Bicep CLI binary at `version`, fetched through NuGet (`dotnet restore`) into the cache when it is
 * not there yet. Returns undefined when there is no `dotnet` to fetch it with; throws when the restore fails.
 */
export async function ensureBicep({
  version = BICEP_VERSION,
  rid = runtimeId(),
  cacheDir = CACHE_DIR,
  log = (line) => process.stderr.write(`${line}\n`),
} = {}) {
  const cached = await cachedBicep({ version, rid, cacheDir });
  if (cached !== undefined) return cached;

  const sdk = await dotnetVersion();
  if (sdk === undefined) return undefined;
  const major = Number.parseInt(sdk, 10);
  if (!Number.isInteger(major)) throw new Error(`cannot read the .NET SDK version from "${sdk}"`);

  // A throwaway project outside the repository (no NuGet.Config of ours is picked up, nothing is left behind). It
  // targets the SDK's own framework, which needs no targeting pack from the network; PackageDownload fetches the
  // package as it is, with no compatibility check against that framework and nothing restored besides it.
  const project = await mkdtemp(join(tmpdir(), 'snat-doctor-bicep-'));
  const staging = join(cacheDir, `${version}.staging-${process.pid}`);
  const started = Date.now();
  try {
    await writeFile(
      join(project, 'fetch-bicep.csproj'),
      `<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net${major}.0</TargetFramework>
  </PropertyGroup>
  <ItemGroup>
    <PackageDownload Include="${packageId(rid)}" Version="[${version}]" />
  </ItemGroup>
</Project>
`,
    );
    await mkdir(cacheDir, { recursive: true });
    await rm(staging, { recursive: true, force: true });
    log(`bicep: fetching ${packageId(rid)} ${version} from NuGet with dotnet ${sdk} …`);
    try {
      await run(
        'dotnet',
        ['restore', join(project, 'fetch-bicep.csproj'), '--packages', join(staging, 'packages'), '--nologo'],
        { env: dotnetEnv(), cwd: project, timeout: 15 * 60_000, maxBuffer: 16 * 1024 * 1024 },
      );
    } catch (error) {
      const output = `${error.stdout ?? ''}${error.stderr ?? ''}`.trim();
      throw new Error(`dotnet restore of ${packageId(rid)} ${version} failed:\n${output || error.message}`);
    }
    const binary = await findBinary(join(staging, 'packages'), rid, version);
    if (binary === undefined) {
      throw new Error(`${packageId(rid)} ${version} was restored but has no tools/${binaryName(rid)}`);
    }
    await chmod(binary, 0o755); // NuGet unpacks without the execute bit
    // Move into place whole, so a concurrent or interrupted run never sees half a package.
    try {
      await rename(staging, join(cacheDir, version));
    } catch (error) {
      if (!['EEXIST', 'ENOTEMPTY'].includes(error?.code)) throw error;
      await rm(join(cacheDir, version), { recursive: true, force: true });
      await rename(staging, join(cacheDir, version));
    }
    const fetched = await cachedBicep({ version, rid, cacheDir });
    if (fetched === undefined) throw new Error(`the fetched ${binaryName(rid)} does not answer --version ${version}`);
    const { size } = await stat(fetched);
    log(`bicep: ${fetched} (${Math.round(size / 1024 / 1024)} MiB) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return fetched;
  } finally {
    await rm(project, { recursive: true, force: true });
    await rm(staging, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    if (process.argv.includes('--check')) {
      const cached = await cachedBicep();
      if (cached === undefined) {
        console.error(`bicep ${BICEP_VERSION} is not fetched yet (node tools/bicep.mjs fetches it)`);
        process.exit(3);
      }
      console.log(cached);
    } else {
      const binary = await ensureBicep();
      if (binary === undefined) {
        console.error(`bicep: ${NO_DOTNET}`);
        process.exit(2);
      }
      console.log(binary);
    }
  } catch (error) {
    console.error(`bicep: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
