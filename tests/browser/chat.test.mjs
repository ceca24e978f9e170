// The chat page in a real browser: Debian's headless Chromium, driven by playwright-core, against a
// charla-server this script starts (and stops, by its PID) with its own history in a temporary directory.
// Two browser users (English at desktop width, Spanish at phone width) and one plain TCP user, as `nc` would
// be, log in, chat, whisper, see history, switch rooms; a message that is HTML shows literally; a reload and a
// server restart reconnect. Screenshots go to $CHARLA_SCREENSHOT_DIR (default target/browser-screenshots).
//
// Run: `npm ci && node chat.test.mjs` in this directory, after `cargo build`. CHARLA_SERVER names the server
// binary (default: the one `cargo build` reports), CHROMIUM the browser (default /usr/bin/chromium).

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
/// The longest the whole test may take before it fails (and cleans up).
const TEST_LIMIT_MS = 120_000;
/// How long one expected line, element or state may take to appear.
const STEP_LIMIT_MS = 10_000;
/// The page's size limit (the issue's: at most 40 KB).
const MAX_PAGE_BYTES = 40 * 1024;
const MESSAGE_INJECTION = '<img src=x onerror=alert(1)>';
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic',
];

const cleanups = [];
let failed = false;

function serverBinary() {
  if (process.env.CHARLA_SERVER) return process.env.CHARLA_SERVER;
  // Ask cargo where its build of the server is (target/<host tuple>/debug with this repository's config).
  const out = execFileSync('cargo', ['build', '--quiet', '--bin', 'charla-server', '--message-format=json'], {
    cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'],
  });
  for (const line of out.split('\n')) {
    if (!line.startsWith('{')) continue;
    const msg = JSON.parse(line);
    if (msg.reason === 'compiler-artifact' && msg.target?.name === 'charla-server' && msg.executable) return msg.executable;
  }
  throw new Error('cargo build reported no charla-server executable');
}

/// Starts charla-server on free loopback ports (or the given web port) and reads the addresses it prints.
function startServer(binary, dir, webPort = 0) {
  const child = spawn(binary, [
    '--listen', '127.0.0.1:0', '--web-listen', `127.0.0.1:${webPort}`,
    '--history-file', path.join(dir, 'chat_history.json'),
  ], { env: { ...process.env, TZ: 'UTC0', RUST_LOG: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => { if (child.exitCode === null) process.kill(child.pid, 'SIGKILL'); });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('charla-server printed no addresses')), STEP_LIMIT_MS);
    let text = '';
    let tcp = null, web = null;
    child.stdout.on('data', (chunk) => {
      text += chunk;
      tcp ??= /Server started on (127\.0\.0\.1:\d+)\n/.exec(text)?.[1];
      web ??= /Web chat on (http:\/\/127\.0\.0\.1:\d+\/)\n/.exec(text)?.[1];
      if (tcp && web) {
        clearTimeout(timer);
        resolve({ child, tcp, url: web, webPort: Number(new URL(web).port) });
      }
    });
    child.on('exit', (code) => reject(new Error(`charla-server exited (${code}) before listening`)));
  });
}

function stopServer(server) {
  return new Promise((resolve) => {
    if (server.child.exitCode !== null) return resolve();
    server.child.on('exit', resolve);
    process.kill(server.child.pid, 'SIGTERM');
  });
}

/// A line-protocol user on a plain TCP socket: what `nc` is.
class TcpUser {
  static connect(addr) {
    const [host, port] = addr.split(':');
    const user = new TcpUser(net.connect(Number(port), host));
    return new Promise((resolve, reject) => {
      user.socket.once('connect', () => resolve(user));
      user.socket.once('error', reject);
    });
  }

  constructor(socket) {
    this.socket = socket;
    this.lines = [];
    this.waiters = [];
    let partial = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop();
      this.lines.push(...parts);
      for (const wake of this.waiters.splice(0)) wake();
    });
    cleanups.push(() => socket.destroy());
  }

  send(line) {
    this.socket.write(line + '\n');
  }

  /// Waits for a line matching `want` (a string for the whole line, or a RegExp), dropping those before it.
  async expect(want) {
    const matches = (line) => (typeof want === 'string' ? line === want : want.test(line));
    const deadline = Date.now() + STEP_LIMIT_MS;
    for (;;) {
      const at = this.lines.findIndex(matches);
      if (at >= 0) return this.lines.splice(0, at + 1).pop();
      if (Date.now() > deadline) throw new Error(`nc user: no line ${want}; got ${JSON.stringify(this.lines)}`);
      await new Promise((wake) => { this.waiters.push(wake); setTimeout(wake, 100); });
    }
  }
}

/// Waits until `fn(arg)`, run in the page, is true; the failure names `what`.
async function until(page, what, fn, arg) {
  try {
    await page.waitForFunction(fn, arg, { timeout: STEP_LIMIT_MS, polling: 50 });
  } catch (e) {
    const log = await page.locator('#log').innerText().catch(() => '?');
    throw new Error(`${what}: not within ${STEP_LIMIT_MS} ms (${e.message.split('\n')[0]})\nlog:\n${log}`);
  }
}
const logHas = (page, text) => until(page, `log shows ${JSON.stringify(text)}`,
  (t) => [...document.querySelectorAll('#log .line')].some((row) => row.textContent.includes(t)), text);
const rowCount = (page, text) => page.evaluate(
  (t) => [...document.querySelectorAll('#log .line')].filter((row) => row.textContent.includes(t)).length, text);

function check(condition, what) {
  if (!condition) throw new Error(what);
}

/// Fails the test on anything the page reports wrong: script errors, policy violations, a dialog.
function watch(page, who, problems) {
  page.on('pageerror', (e) => problems.push(`${who}: page error: ${e.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' || /Content.Security.Policy/i.test(msg.text())) {
      problems.push(`${who}: console ${msg.type()}: ${msg.text()}`);
    }
  });
  page.on('dialog', (dialog) => {
    problems.push(`${who}: a dialog opened: ${dialog.message()}`);
    dialog.dismiss().catch(() => {});
  });
}

async function step(name, fn) {
  const started = Date.now();
  await fn();
  console.log(`ok - ${name} (${Date.now() - started} ms)`);
}

/// The time the page should show for a server stamp `[HH:MM]` (UTC) in a zone `offsetMinutes` east of it.
function localStamp(line, offsetMinutes) {
  const [, hh, mm] = /^\[(\d\d):(\d\d)\]/.exec(line);
  const minutes = (Number(hh) * 60 + Number(mm) + offsetMinutes + 1440) % 1440;
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

async function main() {
  const binary = serverBinary();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'charla-browser-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const shots = path.resolve(REPO, process.env.CHARLA_SCREENSHOT_DIR || 'target/browser-screenshots');
  mkdirSync(shots, { recursive: true });
  let server = await startServer(binary, dir);
  const problems = [];

  const page = await fetch(server.url);
  const body = await page.text();
  await step(`the page is served, ${Buffer.byteLength(body)} bytes (at most ${MAX_PAGE_BYTES})`, async () => {
    check(page.status === 200, `GET / answered ${page.status}`);
    check(Buffer.byteLength(body) <= MAX_PAGE_BYTES, `the page is ${Buffer.byteLength(body)} bytes`);
  });

  const nora = await TcpUser.connect(server.tcp);
  await step('the nc user logs in and talks before anyone else', async () => {
    await nora.expect('USERNAME:');
    nora.send('Nora');
    await nora.expect('Welcome Nora!');
    nora.send('Hola desde nc');
    await nora.expect(/^\[\d\d:\d\d\] Nora: Hola desde nc$/);
  });

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS,
  });
  cleanups.push(() => browser.close());
  // Ana: English, a desktop window, in India (UTC+5:30, so local times differ from the server's UTC by a
  // half hour too).
  const desk = await browser.newContext({
    viewport: { width: 1100, height: 700 }, locale: 'en-US', timezoneId: 'Asia/Kolkata', colorScheme: 'light',
  });
  const ana = await desk.newPage();
  watch(ana, 'Ana', problems);
  // Bea: Spanish, a phone.
  const phone = await browser.newContext({
    viewport: { width: 390, height: 740 }, locale: 'es-ES', timezoneId: 'UTC', isMobile: true, hasTouch: true,
    colorScheme: 'light',
  });
  const bea = await phone.newPage();
  watch(bea, 'Bea', problems);

  await step('the connection state is visible, and a refused name shows the server\'s error', async () => {
    await ana.goto(server.url);
    await until(ana, 'status says connected', () => document.body.dataset.state === 'online'
      && document.getElementById('status-text').textContent === 'Connected');
    check(await ana.locator('#status').isVisible(), 'the status is visible');
    check(await ana.evaluate(() => document.activeElement.id) === 'name', 'the name field has the focus');
    await ana.keyboard.type('nora');
    await ana.keyboard.press('Enter');
    await until(ana, 'the refusal is shown', () => document.getElementById('login-error').textContent
      === 'Error: the name nora is already taken');
    check(await ana.locator('#login-error').isVisible(), 'the refusal is visible');
    check(await ana.locator('#login-error').getAttribute('role') === 'alert', 'the refusal is announced');
  });

  await step('a browser user logs in and sees the history block', async () => {
    await ana.locator('#name').fill('Ana');
    await ana.keyboard.press('Enter');
    await logHas(ana, 'Welcome Ana!');
    await logHas(ana, 'History:');
    await logHas(ana, 'Nora: Hola desde nc');
    check(await ana.evaluate(() => document.activeElement.id) === 'line', 'the message field has the focus');
    await until(ana, 'the users list', () => /Ana.*Nora/s.test(document.getElementById('users').textContent));
    await until(ana, 'status names the user', () => document.getElementById('status-text').textContent
      === 'Connected as Ana');
    await nora.expect('*** Ana joined the chat');
  });

  await step('a Spanish browser gets the page and the server in Spanish', async () => {
    await bea.goto(server.url);
    await until(bea, 'a Spanish name form', () => document.documentElement.lang === 'es'
      && document.querySelector('#login h2').textContent === 'Elige un nombre');
    await bea.locator('#name').fill('Bea');
    await bea.locator('#name').press('Enter');
    await logHas(bea, 'Bienvenido Bea!');
    await logHas(bea, 'Historial:');
    await logHas(bea, 'Nora: Hola desde nc');
    await until(bea, 'Spanish status', () => document.getElementById('status-text').textContent
      === 'Conectado como Bea');
    await logHas(ana, '*** Bea joined the chat');
    await until(ana, 'Bea in the users list', () => /Bea/.test(document.getElementById('users').textContent));
    await nora.expect('*** Bea joined the chat');
  });

  let anaStamp;
  await step('keyboard only: typing and Enter sends, Tab reaches Send, and times are local', async () => {
    await ana.keyboard.type('Hola a todos');
    await ana.keyboard.press('Enter');
    anaStamp = await nora.expect(/^\[\d\d:\d\d\] Ana: Hola a todos$/);
    await logHas(bea, 'Ana: Hola a todos');
    // The server's clock is UTC; Ana's is UTC+5:30, and her page shows her own time.
    const shown = localStamp(anaStamp, 330);
    await until(ana, `Ana's own message at ${shown}`, (time) => [...document.querySelectorAll('#log .own')]
      .some((row) => row.querySelector('time')?.textContent === time && row.textContent.includes('Hola a todos')), shown);
    await until(ana, 'the history line in local time too', (time) => [...document.querySelectorAll('#log .line')]
      .some((row) => row.textContent.includes('Hola desde nc') && row.querySelector('time')?.title.includes('server time')));
    await ana.keyboard.type('segundo');
    await ana.keyboard.press('Tab');
    check(await ana.evaluate(() => document.activeElement.textContent) === 'Send', 'Tab moves to Send');
    await ana.keyboard.press('Enter');
    await nora.expect(/^\[\d\d:\d\d\] Ana: segundo$/);
    await ana.keyboard.press('Shift+Tab');
  });

  await step('the arrow keys walk through the input history', async () => {
    const value = () => ana.locator('#line').inputValue();
    await ana.locator('#line').focus();
    await ana.keyboard.type('draft');
    await ana.keyboard.press('ArrowUp');
    check(await value() === 'segundo', `Up: ${await value()}`);
    await ana.keyboard.press('ArrowUp');
    check(await value() === 'Hola a todos', `Up again: ${await value()}`);
    await ana.keyboard.press('ArrowDown');
    await ana.keyboard.press('ArrowDown');
    check(await value() === 'draft', `Down back to the draft: ${await value()}`);
    await ana.locator('#line').fill('');
  });

  await step('whispers reach only their user, set apart', async () => {
    nora.send('/whisper Ana psst, Ana');
    await nora.expect('Message sent to Ana');
    await until(ana, 'a private row', () => [...document.querySelectorAll('#log .private')]
      .some((row) => row.textContent.includes('(private) Nora: psst, Ana')));
    await ana.keyboard.type('/whisper Bea hola Bea');
    await ana.keyboard.press('Enter');
    await logHas(ana, 'Message sent to Bea');
    await until(bea, 'a private row in Spanish', () => [...document.querySelectorAll('#log .private')]
      .some((row) => row.textContent.includes('(privado) Ana: hola Bea')));
    check(await rowCount(bea, 'psst') === 0, 'Bea does not see Ana\'s whisper');
  });

  await step('/users typed by the user is shown in the log (the page\'s own requests are not)', async () => {
    check(await rowCount(bea, 'Usuarios conectados') === 0, 'the page\'s own /users replies stay out of the log');
    await bea.locator('#line').fill('/users');
    await bea.locator('#line').press('Enter');
    await logHas(bea, 'Usuarios conectados (3):');
    await logHas(bea, '  Nora');
  });

  await step('a message that is HTML shows literally, as text', async () => {
    nora.send(MESSAGE_INJECTION);
    await nora.expect(/^\[\d\d:\d\d\] Nora: <img src=x onerror=alert\(1\)>$/);
    for (const page of [ana, bea]) {
      await until(page, 'the message as text', (text) => [...document.querySelectorAll('#log .text')]
        .some((node) => node.textContent === text), MESSAGE_INJECTION);
      check(await page.locator('#log img').count() === 0, 'no image element in the log');
    }
  });

  await step('rooms: join, talk, hear the other room tagged, leave (keyboard only)', async () => {
    await ana.locator('#join-room').focus();
    await ana.keyboard.type('cocina');
    await ana.keyboard.press('Enter');
    await until(ana, 'the current room', () => document.getElementById('room').textContent === '#cocina');
    await until(ana, '#cocina marked current', () => document.querySelector('#rooms [aria-current=true]')
      ?.textContent === '#cocina (1)');
    await ana.keyboard.type('en la cocina');
    await ana.keyboard.press('Enter');
    await logHas(ana, 'Ana: en la cocina');
    nora.send('en general');
    await until(ana, 'a tagged line from #general', () => [...document.querySelectorAll('#log .line')]
      .some((row) => row.querySelector('.tag')?.textContent === '#general' && row.textContent.includes('Nora: en general')));
    await until(ana, 'the users list of #cocina', () => document.getElementById('users-h').textContent
      === 'People in #cocina (1)');
    await ana.getByRole('button', { name: 'Leave #cocina' }).focus();
    await ana.keyboard.press('Enter');
    await until(ana, 'back in #general', () => document.getElementById('room').textContent === '#general');
    await logHas(ana, 'You left #cocina; now in #general');
    await until(ana, 'the users list of #general again', () => document.getElementById('users-h').textContent
      === 'People in #general (3)');
    check(await rowCount(bea, 'en la cocina') === 0, 'Bea is not in #cocina');
    await ana.locator('#line').focus();
  });

  await step('screenshots at desktop and phone widths; the phone scrolls only vertically', async () => {
    nora.send('un enlace largo: https://example.org/' + 'muy-largo-'.repeat(20));
    await logHas(bea, 'un enlace largo');
    await ana.keyboard.type('/me saluda a todos');
    await ana.keyboard.press('Enter');
    await logHas(bea, '* Ana saluda a todos');
    await ana.screenshot({ path: path.join(shots, 'chat-desktop.png') });
    const overflow = await bea.evaluate(() => ({
      page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
      log: document.getElementById('log').scrollWidth - document.getElementById('log').clientWidth,
    }));
    check(overflow.page <= 0 && overflow.log <= 0, `horizontal overflow on a phone: ${JSON.stringify(overflow)}`);
    check(await bea.locator('#line').isVisible() && await bea.locator('#status').isVisible(), 'input and status');
    await bea.screenshot({ path: path.join(shots, 'chat-phone.png') });
    await bea.locator('#toggle').click();
    await until(bea, 'the people and rooms panel', () => /Ana/.test(document.getElementById('users').textContent)
      && document.getElementById('panel').getBoundingClientRect().width > 300);
    await bea.screenshot({ path: path.join(shots, 'chat-phone-panel.png') });
    await bea.keyboard.press('Escape');
  });

  await step('the log announces new lines to screen readers', async () => {
    check(await ana.locator('#log').getAttribute('role') === 'log', 'the log is a live region (role=log)');
    check(await ana.locator('#status').getAttribute('role') === 'status', 'the state is a status region');
  });

  await step('a reload logs back in with the same name', async () => {
    await ana.reload();
    await logHas(ana, 'Welcome Ana!');
    await until(ana, 'status', () => document.getElementById('status-text').textContent === 'Connected as Ana');
    await nora.expect('*** Ana left the chat');
    await nora.expect('*** Ana joined the chat');
    await logHas(ana, 'Ana: Hola a todos');
  });

  await step('after a server restart, both pages reconnect, log in and rejoin their rooms, without repeating history', async () => {
    await ana.locator('#join-room').fill('patio');
    await ana.locator('#join-room').press('Enter');
    await until(ana, 'in #patio', () => document.getElementById('room').textContent === '#patio');
    await stopServer(server);
    await until(ana, 'a visible disconnected state', () => document.body.dataset.state === 'offline'
      && /Disconnected; trying again in \d+ s/.test(document.getElementById('status-text').textContent));
    check(await ana.locator('#retry').isVisible(), 'a button to reconnect now');
    server = await startServer(binary, dir, server.webPort);
    for (const [page, name, welcome] of [[ana, 'Ana', 'Welcome Ana!'], [bea, 'Bea', 'Bienvenido Bea!']]) {
      await until(page, `${name} back`, (w) => [...document.querySelectorAll('#log .line')]
        .filter((row) => row.textContent === w).length === 2 && document.body.dataset.state === 'online', welcome);
      check(await rowCount(page, 'Hola desde nc') === 1, `${name}: the history is not shown twice`);
    }
    await until(ana, 'back in #patio', () => document.getElementById('room').textContent === '#patio'
      && document.getElementById('users-h').textContent === 'People in #patio (1)');
    await bea.locator('#line').fill('de vuelta');
    await bea.keyboard.press('Enter');
    await until(ana, 'Bea from #general, tagged', () => [...document.querySelectorAll('#log .line')]
      .some((row) => row.querySelector('.tag')?.textContent === '#general' && row.textContent.includes('Bea: de vuelta')));
  });

  await step('/quit leaves for good: no reconnection', async () => {
    await bea.locator('#line').fill('/quit');
    await bea.locator('#line').press('Enter');
    await until(bea, 'the left state', () => document.body.dataset.state === 'left'
      && document.getElementById('status-text').textContent === 'Has salido del chat');
    await bea.waitForTimeout(1500);
    check(await bea.evaluate(() => document.body.dataset.state) === 'left', 'still out after the backoff would have run');
    check(await bea.locator('#retry').textContent() === 'Volver a entrar', 'a button to come back');
  });

  check(problems.length === 0, `the pages reported problems:\n${problems.join('\n')}`);
  console.log(`screenshots in ${shots}`);
}

const limit = setTimeout(() => {
  console.error(`not ok - the browser test took longer than ${TEST_LIMIT_MS} ms`);
  failed = true;
  cleanupAndExit();
}, TEST_LIMIT_MS);

async function cleanupAndExit() {
  clearTimeout(limit);
  for (const cleanup of cleanups.reverse()) {
    try { await cleanup(); } catch { /* already gone */ }
  }
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(`not ok - ${e.stack || e}`);
  failed = true;
}).finally(cleanupAndExit);
