// Side by side inside the same pinned OpenClaw: this plugin (the WebAssembly component through
// jco) against `plain-plugin/` (a minimal plain-JavaScript KakaoWork channel making the same API
// call), alternating runs, with the project's emulator as KakaoWork. Measures
// `openclaw message send` and the gateway's start-up (until the account's webhook route
// answers) for wall time, CPU time (user + system) and peak memory (maximum resident set), with
// GNU time. Prints the medians and the ratios (this plugin / plain).
//
//   node bench/side-by-side.mjs [--pairs 5] [--only send|startup] [--cpu-prof DIR]
//   (--cpu-prof: one profiled `message send` per plugin into DIR/<plugin>/, nothing measured)
//   (from openclaw/, after `npm ci` and `npm run build`)
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { createServer } from "node:net";

const PKG = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const REPO = resolve(PKG, "..");
const CLI = join(PKG, "node_modules", "openclaw", "openclaw.mjs");
const TIME = "/usr/bin/time";
const arg = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const pairs = Number(arg("--pairs") || 5) || 5;
// `--only send` or `--only startup` measures one of the two.
const only = arg("--only");
const cpuProf = arg("--cpu-prof");

if (!existsSync(TIME)) {
  console.error(`${TIME} is missing: install GNU time (apt-get install time)`);
  process.exit(2);
}
const hostBin = process.env.KAKAOWORK_HOST ?? join(REPO, "target", "debug", "kakaowork-host");
const cleanups = [];
const done = () => cleanups.reverse().forEach((f) => f());
process.on("exit", done);

const freePort = () =>
  new Promise((ok) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });

async function startEmulator() {
  const child = spawn(hostBin, ["emulator", "--requests-per-minute", "100000"], { stdio: ["ignore", "pipe", "ignore"] });
  cleanups.push(() => child.kill("SIGKILL"));
  const info = {};
  for await (const line of createInterface({ input: child.stdout })) {
    const m = /^(base url|app key): (.+)$/.exec(line);
    if (m) info[m[1]] = m[2];
    if (info["base url"] && info["app key"]) break;
  }
  return { baseUrl: info["base url"], appKey: info["app key"] };
}

function openclaw(home, args) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: home,
    env: { PATH: `${dirname(process.execPath)}:${process.env.PATH}`, HOME: home, NO_COLOR: "1", OPENCLAW_NO_UPDATE_CHECK: "1" },
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`openclaw ${args.join(" ")}: ${r.stdout}${r.stderr}`);
  return r;
}

/** A private HOME with `pluginDir` installed and configured against the emulator. */
function home(name, pluginDir, emu, port) {
  const dir = mkdtempSync(join(tmpdir(), `kw-bench-${name}-`));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, ".openclaw"), { recursive: true });
  writeFileSync(join(dir, ".openclaw", "openclaw.json"), JSON.stringify({ logging: { file: join(dir, "openclaw.log") } }));
  openclaw(dir, ["plugins", "install", "--link", pluginDir, "--force", "--accept-capabilities"]);
  const ops = [
    { path: "channels.kakao", value: { appKey: emu.appKey, apiBase: emu.baseUrl } },
    { path: "gateway.mode", value: "local" },
    { path: "gateway.bind", value: "loopback" },
    { path: "gateway.port", value: port },
    { path: "gateway.auth", value: { mode: "token", token: "bench-gateway-token-0123456789" } },
  ];
  writeFileSync(join(dir, "ops.json"), JSON.stringify(ops));
  openclaw(dir, ["config", "set", "--batch-file", join(dir, "ops.json")]);
  return { name, dir, port };
}

/** Runs `args` under GNU time: wall and CPU seconds, peak resident memory in MiB. */
function timed(h, args, until, nodeOptions) {
  return new Promise((ok, fail) => {
    const env = { PATH: `${dirname(process.execPath)}:${process.env.PATH}`, HOME: h.dir, NO_COLOR: "1", OPENCLAW_NO_UPDATE_CHECK: "1" };
    if (nodeOptions) env.NODE_OPTIONS = nodeOptions;
    const child = spawn(TIME, ["-f", "BENCH %e %U %S %M", process.execPath, CLI, ...args], {
      cwd: h.dir,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let err = "";
    child.stdout.resume();
    child.stderr.on("data", (d) => (err += d));
    const t0 = performance.now();
    let readyMs = null;
    if (until) {
      until().then(() => {
        readyMs = performance.now() - t0;
        // The gateway (GNU time's child), not time itself, which reports once it exits.
        try {
          const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8").trim().split(/\s+/);
          for (const k of kids.filter(Boolean)) process.kill(Number(k), "SIGTERM");
        } catch {}
      }, fail);
    }
    child.on("exit", () => {
      const m = /BENCH ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(err);
      if (!m) return fail(new Error(`no measurement: ${err.slice(-2000)}`));
      ok({ wall: readyMs === null ? Number(m[1]) : readyMs / 1000, cpu: Number(m[2]) + Number(m[3]), mem: Number(m[4]) / 1024 });
    });
  });
}

/** Resolves once the account's webhook route answers (404 and 503 until it is registered). */
async function routeAnswers(port) {
  const deadline = Date.now() + 150_000;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/kakaowork/default/callback`, { method: "POST" });
      if (r.status !== 404 && r.status !== 503) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the route did not answer in 150 s");
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const emu = await startEmulator();
console.error(`emulator at ${emu.baseUrl}`);
const wasm = home("component", join(PKG, "plugin"), emu, await freePort());
console.error("component plugin installed");
const plain = home("plain", join(PKG, "bench", "plain-plugin"), emu, await freePort());
console.error("plain plugin installed");
const send = (h, i) => ["message", "send", "--channel", "kakao", "--target", "conversation:3000001", "--message", `bench ${h.name} ${i}`];
// Warm-up: the component plugin caches the workspace and the room on its first send.
for (const h of [wasm, plain]) {
  console.error(`warm-up: ${h.name}`);
  await timed(h, send(h, "warm-up"));
}
if (cpuProf) {
  for (const h of [wasm, plain]) {
    const dir = resolve(cpuProf, h.name);
    mkdirSync(dir, { recursive: true });
    await timed(h, send(h, "profiled"), undefined, `--cpu-prof --cpu-prof-dir=${dir}`);
    console.log(`${h.name}: CPU profiles in ${dir}`);
  }
  process.exit(0);
}
const results = { send: { component: [], plain: [] }, startup: { component: [], plain: [] } };
for (let i = 0; i < (only === "startup" ? 0 : pairs); i++) {
  for (const h of i % 2 ? [plain, wasm] : [wasm, plain]) {
    console.error(`send ${i}: ${h.name}`);
    results.send[h === wasm ? "component" : "plain"].push(await timed(h, send(h, i)));
  }
}
for (let i = 0; i < (only === "send" ? 0 : pairs); i++) {
  for (const h of i % 2 ? [plain, wasm] : [wasm, plain]) {
    console.error(`gateway start-up ${i}: ${h.name}`);
    results.startup[h === wasm ? "component" : "plain"].push(await timed(h, ["gateway", "run"], () => routeAnswers(h.port)));
  }
}
console.log(`side by side, ${pairs} pairs each, alternating; medians (component / plain = ratio)`);
let worst = 0;
for (const [what, r] of Object.entries(results)) {
  if (r.component.length === 0) continue;
  for (const [metric, unit] of [["wall", "s"], ["cpu", "s"], ["mem", "MiB"]]) {
    const a = median(r.component.map((x) => x[metric]));
    const b = median(r.plain.map((x) => x[metric]));
    worst = Math.max(worst, a / b);
    console.log(`${what.padEnd(8)} ${metric.padEnd(5)} ${a.toFixed(2)} ${unit} / ${b.toFixed(2)} ${unit} = ${(a / b).toFixed(2)}x`);
  }
}
console.log(JSON.stringify(results));
console.log(worst <= 1.1 ? "within 1.1x" : `over 1.1x (worst ${worst.toFixed(2)}x)`);
// The emulator's pipe would keep this process alive; exiting runs the clean-ups.
process.exit(0);
