// Test fixtures: the project's KakaoWork emulator (`kakaowork-host emulator`) as a child
// process, and the real `openclaw` CLI with a private HOME. Every process a test starts is
// stopped by that test (`t.after`).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

export const PKG = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO = resolve(PKG, "..");

/** The CLI built by the README's commands (dev profile), or KAKAOWORK_HOST_BIN. */
export function hostBin() {
  const bin = process.env.KAKAOWORK_HOST_BIN ?? join(REPO, "target", "debug", "kakaowork-host");
  if (!existsSync(bin)) {
    throw new Error(`${bin} does not exist: build it first with \`cargo build -p host-test\``);
  }
  return bin;
}

export function tempDir(t, name) {
  const dir = mkdtempSync(join(tmpdir(), `kw-${name}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts the emulator; resolves once it printed where it listens. */
export async function startEmulator(t, args = []) {
  const child = spawn(hostBin(), ["emulator", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  t.after(() => child.kill("SIGKILL"));
  const info = {};
  const lines = createInterface({ input: child.stdout });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the emulator did not start in 30 s")), 30_000);
    child.once("exit", (code) => reject(new Error(`the emulator exited with ${code}`)));
    lines.on("line", (line) => {
      const m = /^(base url|app key|control url): (.+)$/.exec(line);
      if (m) info[m[1]] = m[2];
      if (info["base url"] && info["app key"] && info["control url"]) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const control = info["control url"];
  const call = async (method, path, body) => {
    const r = await fetch(`${control}${path}`, {
      method,
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await r.json();
    if (!r.ok) throw new Error(`emulator ${path}: ${json.error}`);
    return json;
  };
  return {
    baseUrl: info["base url"],
    appKey: info["app key"],
    requests: () => call("GET", "/requests"),
    posted: () => call("GET", "/posted"),
    sends: async () =>
      (await call("GET", "/requests")).filter((r) => r.path.startsWith("/v1/messages.send")),
    click: (b) => call("POST", "/click", b),
    submit: (b) => call("POST", "/submit", b),
    fault: (b) => call("POST", "/fault", b),
  };
}

/** The `openclaw` CLI of the pinned package, run with this private HOME. */
export function openclaw(home, args, { env = {}, timeoutMs = 180_000 } = {}) {
  const cli = join(PKG, "node_modules", "openclaw", "openclaw.mjs");
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd: home,
      env: {
        PATH: `${dirname(process.execPath)}:${process.env.PATH}`,
        HOME: home,
        NO_COLOR: "1",
        OPENCLAW_NO_UPDATE_CHECK: "1",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr, args });
    });
  });
}

/** A private OpenClaw HOME with this plugin installed from its directory (`--link`). */
export async function openclawHome(t) {
  const home = tempDir(t, "oc-home");
  const { mkdirSync, writeFileSync } = await import("node:fs");
  mkdirSync(join(home, ".openclaw"), { recursive: true });
  // Logs stay in this HOME, not in the shared /tmp/openclaw.
  writeFileSync(
    join(home, ".openclaw", "openclaw.json"),
    JSON.stringify({ logging: { file: join(home, "openclaw.log") } }, null, 2),
  );
  const r = await openclaw(home, ["plugins", "install", "--link", join(PKG, "plugin"), "--force", "--accept-capabilities"]);
  assertOk(r);
  return home;
}

export function assertOk(r) {
  if (r.code !== 0) {
    const args = r.args.map((a) => (a.length > 80 ? `${a.slice(0, 77)}...` : a)).join(" ");
    throw new Error(`openclaw ${args} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  }
  return r;
}
