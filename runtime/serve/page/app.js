// abcgen tune workshop: one page, four views (compose, a tune, the archive, convert & check).
// Everything it asks for comes from the server it was loaded from (the JSON API in the README).

const $ = (id) => document.getElementById(id);
const FORMATS = ["abc", "mid", "musicxml", "svg", "wav"];
let info = null;
let current = null;        // the tune shown: its archive row as JSON
let listOffset = 0;
const blobs = new Set();   // object URLs of files made from text being edited

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

function show(node, message) {
  node.textContent = message || "";
  node.hidden = !message;
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  if (!response.ok) {
    const body = type.includes("json") ? await response.json() : {error: response.statusText};
    throw new Error(body.error || `HTTP ${response.status}`);
  }
  return type.includes("json") ? response.json() : response.blob();
}

const post = (path, body, type = "application/json") =>
  api(path, {method: "POST", headers: {"Content-Type": type}, body});

function blobUrl(blob) {
  const url = URL.createObjectURL(blob);
  blobs.add(url);
  return url;
}

function dropBlobs() {
  for (const url of blobs) URL.revokeObjectURL(url);
  blobs.clear();
}

// -- views -------------------------------------------------------------------

function view(name) {
  for (const id of ["compose", "tune", "archive", "check"]) $(id).hidden = true;
  for (const a of document.querySelectorAll("nav a"))
    a.toggleAttribute("aria-current", a.dataset.view === name);
  if (name === "tune") { $("tune").hidden = false; return; }
  $(name).hidden = false;
}

async function start() {
  info = await api("/api/info");
  if (info.options.includes("copy")) $("copy-label").hidden = false;
  const path = location.pathname;
  const tune = path.match(/^\/tune\/(\d+)$/);
  if (tune) {
    view("tune");
    try { await showTune(await api(`/api/tunes/${tune[1]}`)); } catch (e) {
      $("tune").hidden = true;
      show($("notice"), e.message);
    }
  } else if (path === "/archive") {
    view("archive");
    fillFilters();
    await search(true);
  } else if (path === "/check") {
    view("check");
  } else {
    view("compose");
    $("compose-form").elements.meter.focus();
  }
}

// -- compose -----------------------------------------------------------------

function composeRequest(form) {
  const f = form.elements;
  const text = (name) => f[name].value.trim() || null;
  const number = (name, parse) => (f[name].value.trim() === "" ? null : parse(f[name].value));
  const request = {
    meter: text("meter"), key: text("tonic") ? f.tonic.value.trim() + f.mode.value : null,
    unit: text("unit"), form: text("form") || "auto", part_bars: number("part_bars", Number),
    temperature: number("temperature", Number) ?? 1, top_p: number("top_p", Number) ?? 1,
    seed: number("seed", Number), num: number("num", Number) ?? 1, prefix: text("prefix"),
  };
  if (info.options.includes("copy")) request.copy = f.copy.checked;
  return request;
}

async function compose(event) {
  event.preventDefault();
  const form = event.target;
  show($("compose-error"), "");
  $("busy").hidden = false;
  $("compose-button").disabled = true;
  form.setAttribute("aria-busy", "true");
  try {
    const made = await post("/api/compose", JSON.stringify(composeRequest(form)));
    const list = $("made");
    list.replaceChildren(...made.tunes.map((t) => el("li", {}, el("a", {href: t.url, text: t.title}),
      ` ${t.meter} ${t.key} ${t.form || "no form"}`)));
    await showTune(made.tunes[0]);
  } catch (e) {
    show($("compose-error"), e.message);
  } finally {
    $("busy").hidden = true;
    $("compose-button").disabled = false;
    form.removeAttribute("aria-busy");
  }
}

// -- one tune ------------------------------------------------------------------

async function showTune(tune) {
  current = tune;
  dropBlobs();
  $("tune").hidden = false;
  $("tune-title").textContent = tune.title;
  const p = tune.params;
  const made = p.seed === undefined ? "" :
    ` · seed ${p.seed}` + (p.batch > 1 ? ` (tune ${p.place} of ${p.batch})` : "");
  $("tune-meta").textContent = `${tune.meter} · ${tune.key} · ${tune.form || "no form read"}` +
    `${made} · model ${tune.model.name} (${tune.model.sha256.slice(0, 12)}) · ${tune.created}` +
    (tune.edited ? ` · edited ${tune.edited}` : "");
  setFavourite(tune.favourite);
  $("abc").value = tune.abc;
  $("revert").disabled = tune.abc === tune.generated;
  showFiles(tune.files, `abcgen-${tune.id}`, tune.edited || "");
  showDiagnostics(tune.check ? tune.check.diagnostics : []);
}

function showFiles(urls, stem, version) {
  const bust = version ? `?v=${encodeURIComponent(version)}` : "";
  $("score").src = urls.svg + (bust ? `${bust}&inline=1` : "?inline=1");
  $("score").alt = `the score of ${$("tune-title").textContent}`;
  show($("no-sound"), info.soundfont ? "" : `No sound: ${info.no_sound}`);
  $("audio").hidden = !info.soundfont;
  if (info.soundfont) $("audio").src = urls.wav + bust;
  $("downloads").replaceChildren(...FORMATS.filter((f) => f !== "wav" || info.soundfont).map((f) =>
    el("a", {href: urls[f] + bust,
             download: `${stem}.${f}`, text: `.${f}`})));
}

function showDiagnostics(diagnostics) {
  const list = $("diagnostics");
  list.replaceChildren(...diagnostics.map((d) => {
    const button = el("button", {type: "button", class: d.severity,
      text: `line ${d.line}, column ${d.col}: ${d.severity}: ${d.message}`});
    button.addEventListener("click", () => goToLine($("abc"), d.line));
    return el("li", {}, button);
  }));
  if (!diagnostics.length) list.append(el("li", {class: "ok", text: "No problems found."}));
}

function goToLine(area, line) {  // selects the whole line at fault
  const lines = area.value.split("\n");
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  area.focus();
  area.setSelectionRange(start, start + (lines[line - 1] || "").length);
}

let editTimer = null;
let editRun = 0;
function edited() {
  clearTimeout(editTimer);
  editTimer = setTimeout(async () => {
    const run = ++editRun;
    const text = $("abc").value;
    try {
      const checked = await post("/api/check", text, "text/plain; charset=utf-8");
      if (run !== editRun) return;
      showDiagnostics(checked.tunes[0].diagnostics);
      const svg = await post("/api/convert?format=svg", text, "text/plain; charset=utf-8");
      if (run !== editRun) return;
      dropBlobs();
      $("score").src = blobUrl(svg);
    } catch (e) {
      if (run === editRun) showDiagnostics([{line: 1, col: 1, severity: "error", message: e.message}]);
    }
  }, 400);
}

async function saveEdit() {
  try {
    await showTune(await api(`/api/tunes/${current.id}`, {method: "PATCH",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify({abc: $("abc").value})}));
    show($("notice"), "Saved.");
  } catch (e) { show($("notice"), e.message); }
}

function setFavourite(on) {
  $("favourite").setAttribute("aria-pressed", String(on));
  $("favourite").textContent = on ? "★ Favourite" : "☆ Favourite";
}

async function toggleFavourite() {
  const on = $("favourite").getAttribute("aria-pressed") !== "true";
  await api(`/api/tunes/${current.id}`, {method: "PATCH",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify({favourite: on})});
  setFavourite(on);
}

async function deleteTune() {
  if (!confirm(`Delete "${current.title}" from the archive?`)) return;
  await api(`/api/tunes/${current.id}`, {method: "DELETE"});
  location.assign("/archive");
}

function header(text, name) {
  const m = text.match(new RegExp(`^${name}:(.*)$`, "m"));
  return m ? m[1].trim() : "";
}

function continueFrom() {
  const area = $("abc");
  const picked = area.value.slice(area.selectionStart, area.selectionEnd).trim();
  if (!picked) { show($("notice"), "Select the bars to continue from, then press the button again."); return; }
  const f = $("compose-form").elements;
  const ownHeader = /^K:/m.test(picked);
  const key = header(area.value, "K");
  const tonic = key.match(/^[A-G][#b]?/);
  f.meter.value = ownHeader ? "" : header(area.value, "M");
  f.unit.value = ownHeader ? "" : header(area.value, "L");
  f.tonic.value = ownHeader || !tonic ? "" : tonic[0];
  f.mode.value = ownHeader || !tonic ? "" : key.slice(tonic[0].length).replace(/^maj$/, "");
  f.prefix.value = picked;
  f.seed.value = "";
  view("compose");
  $("compose-form").requestSubmit();
}

// -- archive -------------------------------------------------------------------

function fillFilters() {
  const form = $("search").elements;
  for (const name of ["meter", "key", "form"])
    for (const value of info.choices[name]) form[name].append(el("option", {value, text: value}));
}

async function search(fresh) {
  if (fresh) listOffset = 0;
  const f = $("search").elements;
  const query = new URLSearchParams({q: f.q.value, meter: f.meter.value, key: f.key.value,
    form: f.form.value, favourite: f.favourite.checked ? "1" : "", offset: listOffset});
  const found = await api(`/api/tunes?${query}`);
  const rows = found.tunes.map((t) => el("tr", {},
    el("td", {}, el("a", {href: t.url, text: (t.favourite ? "★ " : "") + t.title})),
    el("td", {text: t.meter}), el("td", {text: t.key}), el("td", {text: t.form}),
    el("td", {text: t.created.replace("T", " ").slice(0, 16)})));
  const body = document.querySelector("#list tbody");
  if (fresh) body.replaceChildren(...rows); else body.append(...rows);
  listOffset += found.tunes.length;
  $("count").textContent = `${found.total} tune(s)` + (found.total ? `, ${listOffset} shown` : "");
  $("more").hidden = listOffset >= found.total;
}

// -- convert & check -------------------------------------------------------------

async function checkText(event) {
  event.preventDefault();
  const f = event.target.elements;
  const body = f.file.files.length ? await f.file.files[0].arrayBuffer() : f.abc.value;
  show($("check-error"), "");
  dropBlobs();
  try {
    const report = await post("/api/check", body, "text/plain; charset=utf-8");
    $("checked").replaceChildren(...report.tunes.map((t) => checkedTune(t, body)));
  } catch (e) {
    $("checked").replaceChildren();
    show($("check-error"), e.message);
  }
}

function checkedTune(t, body) {
  const box = el("article", {class: "checked"},
    el("h2", {text: `Tune ${t.index}: ${t.title || "untitled"} (line ${t.line}) — ` +
      (t.valid ? "valid" : "has errors")}));
  const list = el("ul", {class: "diagnostics"}, ...t.diagnostics.map((d) => el("li", {class: d.severity,
    text: `line ${d.line}, column ${d.col}: ${d.severity}: ${d.message}`})));
  const open = el("button", {type: "button", text: "Score, sound and files"});
  open.addEventListener("click", async () => {
    open.disabled = true;
    try {
      const urls = {};
      const wanted = FORMATS.filter((f) => f !== "wav" || info.soundfont);
      for (const f of wanted)
        urls[f] = blobUrl(await post(`/api/convert?format=${f}&tune=${t.index}`, body,
                                     "text/plain; charset=utf-8"));
      const files = wanted.map((f) => el("a", {href: urls[f], download: `tune-${t.index}.${f}`, text: `.${f}`}));
      box.append(el("img", {src: urls.svg, alt: `the score of tune ${t.index}`, class: "score"}),
        ...(info.soundfont ? [el("audio", {src: urls.wav, controls: ""})]
                           : [el("p", {class: "error", text: `No sound: ${info.no_sound}`})]),
        el("p", {class: "downloads"}, "Download: ", ...files));
      open.remove();
    } catch (e) {
      open.disabled = false;
      box.append(el("p", {class: "error", text: e.message}));
    }
  });
  if (t.notes) box.append(open);
  box.append(list);
  return box;
}

// -- wiring --------------------------------------------------------------------

$("compose-form").addEventListener("submit", compose);
$("abc").addEventListener("input", edited);
$("save").addEventListener("click", saveEdit);
$("revert").addEventListener("click", () => { $("abc").value = current.generated; edited(); });
$("continue").addEventListener("click", continueFrom);
$("favourite").addEventListener("click", toggleFavourite);
$("delete").addEventListener("click", deleteTune);
$("search").addEventListener("submit", (e) => { e.preventDefault(); search(true); });
$("more").addEventListener("click", () => search(false));
$("check-form").addEventListener("submit", checkText);
start().catch((e) => show($("notice"), e.message));
