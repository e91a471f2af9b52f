// The test server's page: connect to an endpoint, send, log, close.
"use strict";

const $ = (id) => document.getElementById(id);
const encoder = new TextEncoder();
const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const MAX_SHOWN = 1024; // bytes of a binary message shown as hex; text is cut at 4x that

let websocket = null;
let probes = new Map(); // Echo RTT probes: text sent -> time sent
let probeCount = 0;

function endpointUrl(path) {
  // Fill the path's placeholders with examples.
  path = path.replace("{room}", "lobby").replace("{code}", "403");
  return `${scheme}//${location.host}${path}`;
}

function clock() {
  const now = new Date();
  return now.toTimeString().slice(0, 8) + "." + String(now.getMilliseconds()).padStart(3, "0");
}

function hex(bytes) {
  const shown = Array.from(bytes.subarray(0, MAX_SHOWN), (b) => b.toString(16).padStart(2, "0"));
  const more = bytes.length > MAX_SHOWN ? ` … ${bytes.length - MAX_SHOWN} more bytes` : "";
  return shown.join(" ") + more;
}

function parseHex(text) {
  const digits = text.replace(/\s+/g, "");
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) {
    throw new Error("binary messages are written as pairs of hex digits, e.g. 00 ff 10");
  }
  return new Uint8Array(digits.match(/../g)?.map((pair) => parseInt(pair, 16)) ?? []);
}

// direction: "out", "in" or "event"
function log(direction, kind, size, data) {
  const row = document.createElement("tr");
  row.className = direction;
  const arrow = { out: "→", in: "←", event: "·" }[direction];
  const cells = [clock(), arrow, size === null ? "" : `${size} B`, kind, data];
  for (const [index, text] of cells.entries()) {
    const cell = document.createElement("td");
    cell.className = ["time", "dir", "size", "kind", "data"][index];
    cell.textContent = text;
    row.appendChild(cell);
  }
  const rows = $("log");
  rows.appendChild(row);
  while (rows.rows.length > 500) rows.deleteRow(0);
  $("log-box").scrollTop = $("log-box").scrollHeight;
}

function logMessage(direction, data) {
  if (typeof data === "string") {
    const cut = data.length > 4 * MAX_SHOWN ? data.slice(0, 4 * MAX_SHOWN) + " …" : data;
    log(direction, "text", encoder.encode(data).length, cut);
  } else {
    const bytes = new Uint8Array(data);
    log(direction, "binary", bytes.length, hex(bytes));
  }
}

function setOpen(open) {
  for (const id of ["send", "rtt", "close", "disconnect"]) $(id).disabled = !open;
  $("connect").disabled = open;
}

function connect() {
  const subprotocols = $("subprotocols").value.split(",").map((s) => s.trim()).filter(Boolean);
  try {
    websocket = new WebSocket($("url").value, subprotocols);
  } catch (error) {
    $("state").textContent = `error: ${error.message}`;
    return;
  }
  websocket.binaryType = "arraybuffer";
  probes = new Map();
  $("state").textContent = "connecting";
  $("protocol").textContent = $("extensions").textContent = "";
  $("connect").disabled = true;
  const current = websocket;
  websocket.onopen = () => {
    $("state").textContent = "open";
    $("protocol").textContent = current.protocol || "(none)";
    $("extensions").textContent = current.extensions || "(none)";
    log("event", "open", null, current.url);
    setOpen(true);
  };
  websocket.onmessage = (event) => {
    const sent = probes.get(event.data);
    if (sent !== undefined) {
      probes.delete(event.data);
      const rtt = (performance.now() - sent).toFixed(1);
      $("rtt-result").textContent = `echo round trip: ${rtt} ms`;
    }
    logMessage("in", event.data);
    if (typeof event.data === "string" && event.data.startsWith('{"ping"')) {
      const report = JSON.parse(event.data);
      $("rtt-result").textContent = `latency the server measured: ${report.latency_ms} ms`;
    }
  };
  websocket.onerror = () => log("event", "error", null, "the connection failed");
  websocket.onclose = (event) => {
    const reason = event.reason ? ` ${event.reason}` : "";
    $("state").textContent = `closed: ${event.code}${reason}`;
    log("event", "close", null, `${event.code}${reason}${event.wasClean ? "" : " (not clean)"}`);
    if (websocket === current) websocket = null;
    setOpen(false);
  };
}

$("connect-form").onsubmit = (event) => {
  event.preventDefault();
  connect();
};

$("disconnect").onclick = () => websocket?.close();

$("send-form").onsubmit = (event) => {
  event.preventDefault();
  $("send-error").textContent = "";
  const text = $("message").value;
  let data = text;
  if ($("kind").value === "binary") {
    try {
      data = parseHex(text).buffer;
    } catch (error) {
      $("send-error").textContent = error.message;
      return;
    }
  }
  websocket.send(data);
  logMessage("out", data);
};

$("rtt-form").onsubmit = (event) => {
  event.preventDefault();
  const probe = `rtt probe ${++probeCount}`;
  probes.set(probe, performance.now());
  websocket.send(probe);
  logMessage("out", probe);
};

$("close-form").onsubmit = (event) => {
  event.preventDefault();
  $("close-error").textContent = "";
  const code = $("close-code").value;
  try {
    if (code === "") websocket.close();
    else websocket.close(Number(code), $("close-reason").value);
  } catch (error) {
    $("close-error").textContent = error.message;
  }
};

$("clear").onclick = () => { $("log").replaceChildren(); };

for (const button of document.querySelectorAll("#endpoints button")) {
  button.onclick = () => {
    $("url").value = endpointUrl(button.dataset.path);
    window.scrollTo(0, 0);
  };
}

$("url").value = endpointUrl("/echo");
