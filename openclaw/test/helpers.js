// Test fixtures: the project's KakaoWork emulator (`kakaowork-host emulator`) as a child
// process, and the real `openclaw` CLI with a private HOME. Every process a test starts is
// stopped by that test (`t.after`).
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { after } from "node:test";

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

/**
 * Cleanups for a whole test file: hooks registered inside `before` would end with it. Every
 * cleanup runs, last registered first, even when one fails (a server left running would keep
 * the file's process alive).
 */
export function fileScope() {
  const cleanups = [];
  after(async () => {
    for (const f of cleanups.reverse()) {
      try {
        await f();
      } catch (e) {
        console.error(`cleanup failed: ${e.message}`);
      }
    }
  });
  return { after: (f) => cleanups.push(f) };
}

export function tempDir(t, name) {
  const dir = mkdtempSync(join(tmpdir(), `kw-${name}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 }));
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
export function openclaw(home, args, { env = {}, timeoutMs = 180_000, onChild, cwd = home } = {}) {
  const cli = join(PKG, "node_modules", "openclaw", "openclaw.mjs");
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd,
      env: {
        PATH: `${dirname(process.execPath)}:${process.env.PATH}`,
        HOME: home,
        NO_COLOR: "1",
        OPENCLAW_NO_UPDATE_CHECK: "1",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
      // Given `onChild`, its own process group, so that a test can kill all it started.
      detached: Boolean(onChild),
    });
    onChild?.(child);
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

/**
 * A private OpenClaw HOME with this plugin installed from its directory (`--link`); with
 * `{ install: false }`, without it.
 */
export async function openclawHome(t, { install = true } = {}) {
  const home = tempDir(t, "oc-home");
  const { mkdirSync, writeFileSync } = await import("node:fs");
  mkdirSync(join(home, ".openclaw"), { recursive: true });
  // Logs stay in this HOME, not in the shared /tmp/openclaw.
  writeFileSync(
    join(home, ".openclaw", "openclaw.json"),
    JSON.stringify({ logging: { file: join(home, "openclaw.log") } }, null, 2),
  );
  if (install) {
    assertOk(await openclaw(home, ["plugins", "install", "--link", join(PKG, "plugin"), "--force", "--accept-capabilities"]));
  }
  return home;
}

/**
 * A command line as a POSIX shell splits it into words, for the commands the docs show: blanks
 * separate words; '...' is literal; in "...", a backslash escapes $ ` " \ and nothing else; a
 * backslash outside quotes escapes the next character. What would need a shell (variables,
 * command substitution, globs, ~, pipes, redirections, ;, &) is refused rather than guessed.
 */
export function shellWords(line) {
  const words = [];
  let word = null;
  let i = 0;
  const refuse = (why) => {
    throw new Error(`${why} at ${i} in: ${line}`);
  };
  while (i < line.length) {
    const c = line[i];
    if (c === " " || c === "\t") {
      if (word !== null) words.push(word);
      word = null;
      i += 1;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) refuse("unclosed '");
      word = (word ?? "") + line.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      word ??= "";
      i += 1;
      for (;;) {
        if (i >= line.length) refuse('unclosed "');
        const d = line[i];
        if (d === '"') break;
        if (d === "\\" && '$`"\\'.includes(line[i + 1] ?? "")) {
          word += line[i + 1];
          i += 2;
        } else if (d === "$" || d === "`") {
          refuse(`${d} in "..." needs a shell`);
        } else {
          word += d;
          i += 1;
        }
      }
      i += 1;
    } else if (c === "\\") {
      if (i + 1 >= line.length) refuse("a trailing backslash");
      word = (word ?? "") + line[i + 1];
      i += 2;
    } else if ("$`|&;<>()*?[~#".includes(c) && !(c === "#" && word !== null) && !(c === "~" && word !== null)) {
      refuse(`${c} needs a shell`);
    } else {
      word = (word ?? "") + c;
      i += 1;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

export function assertOk(r) {
  if (r.code !== 0) {
    const args = r.args.map((a) => (a.length > 80 ? `${a.slice(0, 77)}...` : a)).join(" ");
    throw new Error(`openclaw ${args} exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  }
  return r;
}

/** A free loopback port (bound, then released). */
export async function freePort() {
  const { createServer } = await import("node:net");
  const s = createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const port = s.address().port;
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * A deterministic OpenAI-compatible model on 127.0.0.1: it answers every chat completion with
 * `ECHO[<text>]`, where `<text>` is the last `MSG<text>` marker in the user's messages (OpenClaw
 * wraps the user's words in an envelope and adds context), as an SSE stream. `asked` records
 * the markers it saw, `seen` the user's messages of each request.
 */
export async function startFakeModel(t) {
  const { createServer } = await import("node:http");
  const asked = [];
  const seen = [];
  const server = createServer(async (req, res) => {
    let raw = "";
    for await (const c of req) raw += c;
    let body = {};
    try {
      body = JSON.parse(raw);
    } catch {}
    const texts = (body.messages ?? [])
      .filter((m) => m.role === "user")
      .map((m) => (typeof m.content === "string" ? m.content : (m.content ?? []).map((p) => p.text ?? "").join("")))
      .join("\n");
    const last = [...texts.matchAll(/MSG<([^>]*)>/g)].at(-1)?.[1] ?? "(no marker)";
    asked.push(last);
    seen.push(texts);
    const answer = `ECHO[${last}]`;
    res.writeHead(200, { "content-type": "text/event-stream" });
    const chunk = (delta, finish = null) =>
      `data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", created: 1, model: "echo-1", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    res.write(chunk({ role: "assistant" }));
    res.write(chunk({ content: answer }));
    res.write(chunk({}, "stop"));
    res.write(`data: ${JSON.stringify({ id: "c1", object: "chat.completion.chunk", created: 1, model: "echo-1", choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } })}\n\n`);
    res.end("data: [DONE]\n\n");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise((r) => { server.closeAllConnections(); server.close(r); }));
  return { url: `http://127.0.0.1:${server.address().port}/v1`, asked, seen };
}

/** Runs `openclaw gateway run` in this HOME; resolves when the account's route answers. */
export async function startGateway(t, home, port, probePath, { env = {} } = {}) {
  const cli = join(PKG, "node_modules", "openclaw", "openclaw.mjs");
  const child = spawn(process.execPath, [cli, "gateway", "run"], {
    cwd: home,
    env: { PATH: `${dirname(process.execPath)}:${process.env.PATH}`, HOME: home, NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  t.after(async () => {
    // A failing test shows what the gateway said: often the only clue a CI log keeps (a file
    // scope has no `passed`: it shows nothing).
    if (t.passed === false) {
      const tail = output.split("\n").slice(-80).join("\n");
      process.stderr.write(`--- the gateway's last output (${t.name}):\n${tail}\n--- end of the gateway's output\n`);
    }
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
    const exited = new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once("exit", r)));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }, 10_000);
    await exited;
    clearTimeout(timer);
  });
  const deadline = Date.now() + 150_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the gateway exited ${child.exitCode}:\n${output}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}${probePath}`, { method: "POST" });
      // 503 and 404 until the plugin's route is registered; then the plugin answers itself.
      if (r.status !== 503 && r.status !== 404) {
        return {
          child,
          output: () => output,
          /** SIGKILL to the whole gateway, as a crash would; resolves once it is gone. */
          kill: async () => {
            const exited = new Promise((res) => (child.exitCode !== null || child.signalCode !== null ? res() : child.once("exit", res)));
            try {
              process.kill(-child.pid, "SIGKILL");
            } catch {}
            await exited;
          },
        };
      }
    } catch {}
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the gateway's route ${probePath} was not live in 150 s:\n${output}`);
}

/**
 * A `redis-server` of its own on 127.0.0.1 at a free port, with its own directory; stopped by
 * `t` (a test or a `fileScope()`). `stop()` (SIGKILL) and `restart()` make an outage: without
 * `persist` the restarted server is empty; with it, every acknowledged write is back (append-only
 * file, fsync on every write), as in a production Redis. With `password`, clients must give it
 * (`requirepass`) and the URL carries it. With `tls`, it takes TLS connections only, with a
 * certificate for 127.0.0.1 signed by a CA of its own (`ca`, a PEM file), and the URL is rediss://.
 */
export async function startRedis(t, { persist = false, password, tls = false } = {}) {
  const dir = tempDir(t, "redis");
  const port = await freePort();
  const certs = tls ? makeCerts(dir, "redis") : null;
  const listen = certs
    ? ["--port", "0", "--tls-port", String(port), "--tls-auth-clients", "no",
       "--tls-cert-file", certs.cert, "--tls-key-file", certs.key, "--tls-ca-cert-file", certs.ca]
    : ["--port", String(port)];
  let child = null;
  const start = async () => {
    child = spawn(
      process.env.REDIS_SERVER ?? "redis-server",
      [
        ...listen, "--bind", "127.0.0.1", "--save", "", "--dir", dir,
        ...(persist ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"]),
        ...(password ? ["--requirepass", password] : []),
      ],
      { stdio: "ignore" },
    );
    const net = await import("node:net");
    const tlsModule = await import("node:tls");
    const deadline = Date.now() + 10_000;
    for (;;) {
      const pong = await new Promise((resolve) => {
        const s = certs
          ? tlsModule.connect({ port, host: "127.0.0.1", ca: readFileSync(certs.ca) })
          : net.connect(port, "127.0.0.1");
        let got = "";
        s.on(certs ? "secureConnect" : "connect", () => s.write(`${password ? `AUTH ${password}\r\n` : ""}PING\r\n`));
        s.on("data", (d) => {
          got += d;
          if (got.includes("PONG") || got.includes("-")) s.end();
        });
        s.on("error", () => resolve(false));
        s.on("close", () => resolve(got.includes("+PONG")));
      });
      if (pong) return;
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`redis-server on port ${port} did not start (is Debian's redis-server installed? cargo xtask test installs it)`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill("SIGKILL");
    await exited;
  };
  t.after(stop);
  await start();
  const auth = password ? `:${password}@` : "";
  const scheme = certs ? "rediss" : "redis";
  return { url: `${scheme}://${auth}127.0.0.1:${port}/0`, port, ca: certs?.ca, stop, restart: start };
}

/**
 * A CA of its own (`<name>-ca.pem`) and a server certificate for 127.0.0.1 it signed, in `dir`,
 * made with `openssl` (as the Rust tests' `TestCerts`).
 */
export function makeCerts(dir, name) {
  const at = (f) => join(dir, `${name}-${f}`);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  writeFileSync(at("san.ext"), "subjectAltName=IP:127.0.0.1\n");
  const run = (args) => execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  run(["req", "-x509", ...ec, "-days", "2", "-subj", "/CN=kakaowork-channel test CA", "-keyout", at("ca.key"), "-out", at("ca.pem")]);
  run(["req", ...ec, "-subj", "/CN=127.0.0.1", "-keyout", at("server.key"), "-out", at("server.csr")]);
  run(["x509", "-req", "-days", "2", "-CAcreateserial", "-in", at("server.csr"), "-CA", at("ca.pem"),
       "-CAkey", at("ca.key"), "-extfile", at("san.ext"), "-out", at("server.pem")]);
  return { ca: at("ca.pem"), cert: at("server.pem"), key: at("server.key") };
}

/** The resident memory of process `pid` and its threads, in bytes (Linux). */
export function rssOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) * 1024;
}

/** Polls `f` every 300 ms until it returns something truthy; fails after `ms`. */
export async function until(what, f, ms = 120_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/**
 * Writes a gateway's config into `home` with `openclaw config set --batch-file`: the channel's
 * section, a loopback gateway on `port` with a token, and (given `modelUrl`) the deterministic
 * model of `startFakeModel` as every agent's model.
 */
export async function configureGateway(home, { section, port, modelUrl }) {
  const { writeFileSync } = await import("node:fs");
  const ops = [
    { path: "channels.kakao", value: section },
    { path: "gateway.mode", value: "local" },
    { path: "gateway.bind", value: "loopback" },
    { path: "gateway.port", value: port },
    { path: "gateway.auth", value: { mode: "token", token: "test-gateway-token-0123456789" } },
  ];
  if (modelUrl) {
    ops.push(
      { path: "models.mode", value: "merge" },
      {
        path: "models.providers.fake",
        value: {
          baseUrl: modelUrl,
          apiKey: "fake-local-key",
          api: "openai-completions",
          timeoutSeconds: 60,
          models: [
            {
              id: "echo-1",
              name: "Echo 1",
              reasoning: false,
              input: ["text"],
              cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
              contextWindow: 128000,
              maxTokens: 4096,
            },
          ],
        },
      },
      { path: "agents.defaults.model", value: { primary: "fake/echo-1" } },
      { path: "agents.defaults.heartbeat", value: { every: "0m" } },
    );
  }
  const file = join(home, "ops.json");
  writeFileSync(file, JSON.stringify(ops));
  assertOk(await openclaw(home, ["config", "set", "--batch-file", file]));
}

/** The bot's message to `target`, sent through the `openclaw` CLI of `home`, as the emulator holds it. */
export async function botSays(emu, home, target, text) {
  assertOk(await openclaw(home, ["message", "send", "--channel", "kakao", "--target", target, "--message", text]));
  const m = (await emu.posted()).find((p) => p.text === text);
  if (!m) throw new Error(`the emulator has no message "${text}"`);
  return m;
}

/** One Reply click on `message` by `user`; the answer and how long it took (ms). */
export async function replyClick(emu, callbackUrl, message, user) {
  const t0 = performance.now();
  const r = await emu.click({ callbackUrl, messageId: message.id, label: "답장하기", userId: user });
  return { ...r, ms: performance.now() - t0 };
}
