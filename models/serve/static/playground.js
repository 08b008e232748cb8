// The playground page: streams a completion from POST /v1/completions (server-sent events,
// logprobs of the 5 most likely tokens), shows each token as a box coloured by its
// probability, and draws the attention of one layer and head for the prompt from
// POST /attention. Plain JavaScript, served by the app: no build step, nothing from the
// internet.
"use strict";

const $ = (id) => document.getElementById(id);
const SETTINGS = ["max_tokens", "temperature", "top_k", "top_p", "presence_penalty",
                  "frequency_penalty", "repetition_penalty"];
const TOP = 5;                // alternatives shown per token
let health = null;            // GET /health
let running = null;           // the AbortController of the generation in progress
let attention = null;         // the last POST /attention answer

// ------------------------------------------------------------------ start

async function start() {
  for (const name of SETTINGS) {
    const input = $(name);
    const show = () => { input.nextElementSibling.value = input.value; };
    input.addEventListener("input", show);
    show();
  }
  $("generate").addEventListener("click", generate);
  $("stop").addEventListener("click", () => running && running.abort());
  $("show-attention").addEventListener("click", loadAttention);
  $("layer").addEventListener("change", drawAttention);
  $("head").addEventListener("change", drawAttention);
  $("heatmap").addEventListener("mousemove", describeCell);
  try {
    health = await getJSON("/health");
  } catch (e) {
    $("model-info").textContent = "cannot reach the server: " + e.message;
    return;
  }
  describeModel(health);
  await loadAttention();
}

function describeModel(h) {
  const parts = [`${h.model}: ${h.model_class}, ${h.parameters.toLocaleString("en")} parameters`,
                 `${h.tokenizer} tokenizer of ${h.vocab_size.toLocaleString("en")} tokens`,
                 h.context ? `context ${h.context}` : "no fixed context",
                 `on ${h.device}`, h.kv_cache ? "key/value cache" : "no cache"];
  $("model-info").textContent = parts.join(" · ");
  $("max_tokens").max = h.limits.max_new_tokens_limit;
  $("top_k").max = Math.min(h.vocab_size, 200);
  if (!h.attention) {
    $("attention-note").textContent = `${h.model_class} has no attention layers.`;
    $("show-attention").disabled = true;
    return;
  }
  fillSelect($("layer"), h.attention.layers);
  fillSelect($("head"), h.attention.heads);
}

function fillSelect(select, count) {
  select.replaceChildren(...Array.from({length: count}, (_, i) => new Option(String(i), i)));
}

// ------------------------------------------------------------------ generation

function requestBody() {
  const number = (name) => Number($(name).value);
  const body = {prompt: $("prompt").value, max_tokens: number("max_tokens"),
                temperature: number("temperature"), top_k: number("top_k"),
                top_p: number("top_p"), presence_penalty: number("presence_penalty"),
                frequency_penalty: number("frequency_penalty"),
                repetition_penalty: number("repetition_penalty"),
                logprobs: TOP, stream: true};
  if ($("seed").value !== "") body.seed = Number($("seed").value);
  return body;
}

async function generate() {
  if (running) return;
  const view = new SampleView($("tokens"));
  $("prompt-echo").textContent = $("prompt").value;
  setStatus("waiting for the first token…");
  running = new AbortController();
  $("generate").disabled = true;
  $("stop").disabled = false;
  loadAttention();
  const began = performance.now();
  let firstToken = null, finish = null;
  try {
    const response = await fetch("/v1/completions", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify(requestBody()), signal: running.signal});
    if (!response.ok) throw new Error(await errorMessage(response));
    for await (const event of serverSentEvents(response)) {
      if (event.error) throw new Error(event.error.message);
      const choice = event.choices[0];
      if (firstToken === null && choice.logprobs && choice.logprobs.tokens.length) {
        firstToken = performance.now() - began;
      }
      view.add(choice);
      finish = choice.finish_reason || finish;
      setStatus(progress(view.count, began, firstToken, null));
    }
    setStatus(progress(view.count, began, firstToken, finish));
  } catch (e) {
    if (e.name === "AbortError") setStatus(progress(view.count, began, firstToken, "stopped"));
    else setStatus(e.message, true);
  } finally {
    running = null;
    $("generate").disabled = false;
    $("stop").disabled = true;
    $("output").dataset.done = "true";
  }
}

function progress(count, began, firstToken, finish) {
  const seconds = (performance.now() - began) / 1000;
  let text = `${count} tokens in ${seconds.toFixed(2)} s (${(count / seconds).toFixed(1)} tokens/s)`;
  if (firstToken !== null) text += `, first after ${firstToken.toFixed(0)} ms`;
  if (finish) text += ` · finished: ${finish}`;
  return text;
}

function setStatus(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

async function* serverSentEvents(response) {
  // The decoder keeps a character cut between two network packets for the next one.
  const reader = response.body.getReader();
  const decoder = new TextDecoder("utf-8");
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, {stream: true});
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data: "))
                        .map((l) => l.slice(6)).join("\n");
      if (data === "[DONE]") return;
      if (data) yield JSON.parse(data);
    }
  }
}

// ------------------------------------------------------------------ the sample, token by token

class SampleView {
  constructor(element) {
    this.element = element;
    this.element.replaceChildren();
    this.count = 0;
    this.waiting = [];  // tokens inside an unfinished character: shown with the next one
    delete $("output").dataset.done;
  }

  add(choice) {
    const lp = choice.logprobs;
    if (!lp || !lp.tokens.length) {
      if (choice.text) this.element.append(choice.text);
      return;
    }
    const start = lp.text_offset[0];
    lp.tokens.forEach((piece, i) => {
      const from = lp.text_offset[i] - start;
      const to = i + 1 < lp.tokens.length ? lp.text_offset[i + 1] - start : choice.text.length;
      const token = {piece, id: lp.token_ids[i], logprob: lp.token_logprobs[i],
                     top: lp.top_logprobs ? lp.top_logprobs[i] : {}};
      this.count += 1;
      this.waiting.push(token);
      const text = choice.text.slice(from, to);
      if (text) this.show(text, this.waiting.splice(0));
    });
  }

  show(text, tokens) {
    const span = document.createElement("span");
    span.className = "token" + (text === "\n" ? " newline" : "");
    span.textContent = text;
    const logprob = tokens.reduce((sum, t) => sum + (t.logprob ?? -Infinity), 0);
    span.style.background = colour(Math.exp(logprob));
    span.tokens = tokens;
    span.addEventListener("mouseenter", showTooltip);
    span.addEventListener("mouseleave", () => { $("tooltip").hidden = true; });
    this.element.append(span);
  }
}

function colour(p) {
  // On a log scale, as probabilities of tokens span orders of magnitude: green for a token
  // the model was sure of, yellow for 1 in 30, red for 1 in 1,000 or rarer.
  const x = 1 + Math.log10(Math.max(p, 1e-12)) / 3;
  return `hsl(${Math.round(120 * Math.max(0, Math.min(1, x)))}, 75%, 82%)`;
}

function showTooltip(event) {
  const tip = $("tooltip");
  const rows = [];
  for (const token of event.currentTarget.tokens) {
    const p = Math.exp(token.logprob ?? -Infinity);
    rows.push(`<tr><th colspan="3">${escape(show(token.piece))} · id ${token.id} · p = ${p.toFixed(3)}</th></tr>`);
    for (const [piece, logprob] of Object.entries(token.top)) {
      const q = Math.exp(logprob ?? -Infinity);
      rows.push(`<tr class="${piece === token.piece ? "chosen" : ""}"><td>${escape(show(piece))}</td>` +
                `<td>${(100 * q).toFixed(1)}%</td>` +
                `<td><span class="bar" style="width:${Math.round(60 * q)}px"></span></td></tr>`);
    }
  }
  tip.innerHTML = `<table>${rows.join("")}</table>`;
  const box = event.currentTarget.getBoundingClientRect();
  tip.style.left = `${Math.min(box.left, window.innerWidth - 260)}px`;
  tip.style.top = `${box.bottom + 6}px`;
  tip.hidden = false;
}

function show(piece) {
  // A piece as code: whitespace made visible
  return JSON.stringify(piece).slice(1, -1);
}

function escape(text) {
  return text.replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})[c]);
}

// ------------------------------------------------------------------ attention

async function loadAttention() {
  if (!health || !health.attention) return;
  $("attention-note").textContent = "loading…";
  try {
    attention = await postJSON("/attention", {prompt: $("prompt").value});
  } catch (e) {
    attention = null;
    $("attention-note").textContent = e.message;
    return;
  }
  drawAttention();
}

function drawAttention() {
  const canvas = $("heatmap");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!attention) return;
  const layer = Number($("layer").value), head = Number($("head").value);
  const map = attention.weights[layer][head];
  const n = map.length;
  const labels = n <= 48;
  const margin = labels ? 60 : 8;
  const cell = (canvas.width - margin - 8) / n;
  ctx.font = `${Math.max(8, Math.min(13, cell * 0.8))}px ui-monospace, monospace`;
  for (let q = 0; q < n; q++) {
    for (let k = 0; k < n; k++) {
      ctx.fillStyle = viridis(map[q][k]);
      ctx.fillRect(margin + k * cell, margin + q * cell, Math.ceil(cell), Math.ceil(cell));
    }
  }
  if (labels) {
    ctx.fillStyle = "#1d2330";
    ctx.textBaseline = "middle";
    attention.tokens.forEach((piece, i) => {
      const text = show(piece).slice(0, 6);
      ctx.textAlign = "right";
      ctx.fillText(text, margin - 4, margin + (i + 0.5) * cell);
      ctx.save();
      ctx.translate(margin + (i + 0.5) * cell, margin - 4);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = "left";
      ctx.fillText(text, 0, 0);
      ctx.restore();
    });
  }
  canvas.dataset.drawn = `${layer},${head},${n}`;
  canvas.layout = {margin, cell, n};
  const dropped = attention.dropped ? ` (the first ${attention.dropped} fall outside the context)` : "";
  $("attention-note").textContent = `layer ${layer}, head ${head}: row = the token attending, ` +
    `column = the token it attends to, ${n} tokens${dropped}. Hover over a cell for its weight.`;
}

function describeCell(event) {
  const canvas = event.currentTarget;
  if (!attention || !canvas.layout) return;
  const {margin, cell, n} = canvas.layout;
  const scale = canvas.width / canvas.getBoundingClientRect().width;
  const box = canvas.getBoundingClientRect();
  const k = Math.floor(((event.clientX - box.left) * scale - margin) / cell);
  const q = Math.floor(((event.clientY - box.top) * scale - margin) / cell);
  if (q < 0 || k < 0 || q >= n || k >= n) return;
  const w = attention.weights[Number($("layer").value)][Number($("head").value)][q][k];
  $("attention-note").textContent = `"${show(attention.tokens[q])}" (position ${q}) attends to ` +
    `"${show(attention.tokens[k])}" (position ${k}) with weight ${w.toFixed(3)}`;
}

function viridis(t) {
  // matplotlib's viridis, sampled at five points and interpolated
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const x = Math.max(0, Math.min(1, t)) * (stops.length - 1);
  const i = Math.min(Math.floor(x), stops.length - 2), f = x - i;
  const c = stops[i].map((v, j) => Math.round(v + f * (stops[i + 1][j] - v)));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}

// ------------------------------------------------------------------ requests

async function getJSON(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(await errorMessage(response));
  return response.json();
}

async function postJSON(url, body) {
  const response = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                     body: JSON.stringify(body)});
  if (!response.ok) throw new Error(await errorMessage(response));
  return response.json();
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    return `${response.status}: ${body.error.message}`;
  } catch (e) {
    return `${response.status} ${response.statusText}`;
  }
}

start();
