"""The results page's inline CSS and JS (page.py embeds them; nothing is fetched).

The script reads the JSON blob #bakectl-data: {jobs: [{name, label, summary, metrics}],
rows: [[task, [cell per job | null]]], detail_url}. A cell is [status, reward, rewards,
seconds, tokens_in, tokens_out, fault_kind, fault_message, attempts, rescored, pass_at_k].
A task's details are the element #d-<job>-<row> (embedded) or fetched from detail_url.
"""

CSS = """
:root{--fg:#1d2433;--mute:#667085;--line:#e4e7ec;--bg:#f8f9fb;--pass:#067647;--fail:#b42318;
--err:#b54708;--tmo:#a15c07;--inv:#475467}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;
color:var(--fg);background:var(--bg)}
header{padding:16px 24px;background:#fff;border-bottom:1px solid var(--line)}
h1{font-size:18px;margin:0 0 4px}h2{font-size:15px;margin:20px 0 8px}.sub{color:var(--mute);font-size:12px}
main{padding:0 24px 40px}
table{border-collapse:collapse;background:#fff;border:1px solid var(--line)}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#f2f4f7;font-weight:600;white-space:nowrap}
#tasks th{cursor:pointer;user-select:none;position:sticky;top:0}
#tasks th.sorted-asc::after{content:" ▲"}#tasks th.sorted-desc::after{content:" ▼"}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
#summary td.num{min-width:90px}
.st{font-weight:600}.st-passed{color:var(--pass)}.st-failed{color:var(--fail)}
.st-error{color:var(--err)}.st-timeout{color:var(--tmo)}.st-invalid,.st-missing{color:var(--inv)}
.fault{color:var(--mute);display:inline-block;max-width:420px;overflow:hidden;text-overflow:ellipsis;
white-space:nowrap;vertical-align:bottom}
.job-detail{max-width:calc(100vw - 90px)}.kv dd{overflow-wrap:anywhere}
.controls{display:flex;gap:12px;align-items:center;margin:10px 0;flex-wrap:wrap}
.controls input{padding:4px 8px;min-width:260px}.controls select{padding:4px}
button.task{background:none;border:0;padding:0;color:#175cd3;cursor:pointer;font:inherit;text-decoration:underline}
tr.detail>td{background:#fcfcfd;padding:10px 16px}
.attempt{border-left:3px solid var(--line);padding:4px 0 4px 12px;margin:8px 0}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:4px 0}
.kv dt{color:var(--mute)}.kv dd{margin:0}
pre{background:#101828;color:#e4e7ec;padding:8px 10px;border-radius:4px;max-height:360px;overflow:auto;
white-space:pre-wrap;word-break:break-word;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace;margin:4px 0}
details{margin:4px 0}summary{cursor:pointer}
.msg{margin:4px 0}.role{font-weight:600;color:var(--mute);font-size:12px;text-transform:uppercase}
.exchange{border:1px solid var(--line);border-radius:4px;padding:4px 8px;margin:4px 0;background:#fff}
.note{color:var(--mute);font-style:italic}
"""

JS = r"""
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("bakectl-data").textContent);
  var J = D.jobs, multi = J.length > 1;
  var S = 0, R = 1, RW = 2, SEC = 3, TIN = 4, TOUT = 5, FK = 6, FM = 7, ATT = 8, RES = 9, PK = 10;
  var PAGE = 500;  // rows drawn at once; "show more" draws the next ones
  var state = { col: null, dir: 1, status: "", text: "", limit: PAGE };
  var cache = {};

  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function num(v, d) { return v === null || v === undefined ? "-" : Number(v).toFixed(d === undefined ? 3 : d); }
  function int(v) { return v === null || v === undefined ? "-" : Number(v).toLocaleString("en-US"); }
  function rew(v) {
    if (v === null || v === undefined) return "-";
    var t = Number(v).toPrecision(4).replace(/\.?0+$/, "");
    return t.indexOf(".") < 0 && t.indexOf("e") < 0 ? t + ".0" : t;
  }

  // -- columns: one set per job (side by side) -------------------------------------------
  var cols = [{ label: "task", key: function (r) { return r[0]; }, html: function (r, i) {
    return '<button class="task" data-i="' + i + '">' + esc(r[0]) + "</button>"; } }];
  J.forEach(function (job, j) {
    var p = multi ? "#" + (j + 1) + " " : "";
    var k = job.summary.attempts;
    function c(r) { return r[1][j]; }
    function add(label, f, fmt, isNum) {
      cols.push({ label: p + label, num: isNum, key: function (r) { var x = c(r); return x ? f(x) : null; },
        html: function (r) { var x = c(r); return x ? fmt(f(x), x) : "·"; } });
    }
    add("status", function (x) { return x[S]; }, function (v, x) {
      return '<span class="st st-' + esc(v) + '">' + esc(v) + "</span>" + (x[RES] ? " (rescored)" : ""); });
    if (k > 1) {
      add("attempts", function (x) { return x[ATT]; }, function (v) { return String(v); }, true);
      add("pass@" + k, function (x) { var v = x[PK][String(k)]; return v === undefined ? null : v; }, num, true);
    }
    add("reward", function (x) { return x[R]; }, rew, true);
    job.metrics.forEach(function (m) {
      add(m, function (x) { var v = x[RW][m]; return v === undefined ? null : v; }, rew, true);
    });
    add("time s", function (x) { return x[SEC]; }, function (v) { return num(v, 1); }, true);
    add("tokens in", function (x) { return x[TIN]; }, int, true);
    add("tokens out", function (x) { return x[TOUT]; }, int, true);
    add("fault", function (x) { return x[FK] ? x[FK] + ": " + x[FM] : ""; }, function (v) {
      return '<span class="fault" title="' + esc(v) + '">' + esc(v) + "</span>"; });
  });

  // -- summary ---------------------------------------------------------------------------
  function summaryTable() {
    var t = el("table"); t.id = "summary";
    var head = "<tr><th></th>" + J.map(function (j, i) {
      return "<th class=num>" + esc((multi ? "#" + (i + 1) + " " : "") + j.name) + "</th>"; }).join("") + "</tr>";
    var metrics = [];
    J.forEach(function (j) { Object.keys(j.summary.metrics).forEach(function (m) {
      if (m !== "reward" && metrics.indexOf(m) < 0) metrics.push(m); }); });  // "reward": the mean reward line
    var lines = [
      ["what", function (s, j) { return j.label; }],
      ["tasks", function (s) { return int(s.n_tasks) + " × " + s.attempts; }],
      ["pass rate", function (s) { return num(s.pass_rate); }, "pass-rate"],
      ["passed", function (s) { return int(s.counts.passed || 0) + " / " + int(s.scored); }],
      ["pass@1", function (s) { return num(s.pass_at_k["1"]); }],
    ];
    var ks = [];
    J.forEach(function (j) { if (j.summary.attempts > 1 && ks.indexOf(j.summary.attempts) < 0) ks.push(j.summary.attempts); });
    ks.forEach(function (k) { lines.push(["pass@" + k, function (s) { return num(s.pass_at_k[String(k)]); }]); });
    lines.push(["mean reward", function (s) { return num(s.reward); }, "mean-reward"]);
    metrics.forEach(function (m) { lines.push([m, function (s) { return num(s.metrics[m]); }]); });
    lines.push(
      ["scored / errored / missing", function (s) { return s.scored + " / " + s.errored + " / " + s.missing; }, "coverage"],
      ["statuses", function (s) { return Object.keys(s.counts).map(function (k) { return k + " " + s.counts[k]; }).join(", ") || "-"; }],
      ["faults", function (s) { return Object.keys(s.faults).map(function (k) { return k + " " + s.faults[k]; }).join(", ") || "none"; }],
      ["tokens in / out", function (s) { return int(s.tokens.input) + " / " + int(s.tokens.output); }],
      ["time", function (s) { return num(s.seconds, 1) + " s"; }]
    );
    t.innerHTML = head + lines.map(function (l) {
      return "<tr" + (l[2] ? ' data-line="' + l[2] + '"' : "") + "><th>" + esc(l[0]) + "</th>" +
        J.map(function (j) { return "<td class=num>" + esc(l[1](j.summary, j)) + "</td>"; }).join("") + "</tr>";
    }).join("");
    return t;
  }

  // -- the task table ----------------------------------------------------------------------
  var rows = D.rows, tbody, shown;
  function statuses() {
    var seen = {};
    rows.forEach(function (r) { r[1].forEach(function (c) { if (c) seen[c[S]] = 1; }); });
    return Object.keys(seen).sort();
  }
  function matches(r) {
    if (state.status && !r[1].some(function (c) { return c && c[S] === state.status; })) return false;
    if (!state.text) return true;
    var q = state.text;
    if (r[0].toLowerCase().indexOf(q) >= 0) return true;
    return r[1].some(function (c) { return c && (c[FK] + " " + c[FM]).toLowerCase().indexOf(q) >= 0; });
  }
  function order() {
    var idx = [];
    for (var i = 0; i < rows.length; i++) if (matches(rows[i])) idx.push(i);
    if (state.col !== null) {
      var key = cols[state.col].key, dir = state.dir;
      var keys = {};
      idx.forEach(function (i) { keys[i] = key(rows[i]); });
      idx.sort(function (a, b) {
        var x = keys[a], y = keys[b];
        if (x === y) return a - b;
        if (x === null || x === undefined || x === "") return 1;   // empty cells last, both ways
        if (y === null || y === undefined || y === "") return -1;
        if (typeof x === "number" && typeof y === "number") return (x - y) * dir;
        return String(x).localeCompare(String(y), undefined, { numeric: true }) * dir;
      });
    }
    return idx;
  }
  function renderRows(keepLimit) {
    if (!keepLimit) state.limit = PAGE;
    var idx = order();
    var upto = Math.min(idx.length, state.limit);
    var html = new Array(upto);
    for (var n = 0; n < upto; n++) {
      var i = idx[n], r = rows[i], cells = "";
      for (var c = 0; c < cols.length; c++) {
        cells += (cols[c].num ? "<td class=num>" : "<td>") + cols[c].html(r, i) + "</td>";
      }
      html[n] = '<tr data-i="' + i + '">' + cells + "</tr>";
    }
    tbody.innerHTML = html.join("");
    var fmt = function (v) { return v.toLocaleString("en-US"); };
    shown.textContent = (idx.length === rows.length ? fmt(rows.length) + " tasks" :
      fmt(idx.length) + " of " + fmt(rows.length) + " tasks match") +
      (upto < idx.length ? ", first " + fmt(upto) + " shown" : "");
    more.hidden = all.hidden = upto >= idx.length;
  }

  // -- a task's details ---------------------------------------------------------------------
  function detailOf(j, i, done) {
    var id = j + "-" + i;
    if (cache[id]) return done(cache[id]);
    if (D.detail_url) {
      var url = D.detail_url.replace("{job}", encodeURIComponent(J[j].name)).replace("{task}", encodeURIComponent(rows[i][0]));
      fetch(url).then(function (r) { return r.json(); }).then(function (d) { cache[id] = d; done(d); },
        function (e) { done({ error: String(e) }); });
      return;
    }
    var node = document.getElementById("d-" + id);
    var d = node ? JSON.parse(node.textContent) : { missing: true };
    cache[id] = d; done(d);
  }
  function kv(pairs) {
    var dl = el("dl", "kv");
    pairs.forEach(function (p) {
      if (p[1] === null || p[1] === undefined || p[1] === "") return;
      dl.appendChild(el("dt", null, p[0])); dl.appendChild(el("dd", null, String(p[1])));
    });
    return dl;
  }
  function block(title, text, open) {
    var d = el("details"); if (open) d.open = true;
    d.appendChild(el("summary", null, title)); d.appendChild(el("pre", null, text));
    return d;
  }
  function messages(parent, list) {
    list.forEach(function (m) {
      var box = el("div", "msg"); box.appendChild(el("div", "role", m.role));
      box.appendChild(el("pre", null, m.text)); parent.appendChild(box);
    });
  }
  function attemptView(a) {
    var box = el("div", "attempt");
    var r = a.result;
    box.appendChild(el("h4", null, "attempt " + a.k + (a.rescored ? " (rescored)" : "") + (r ? ": " + r.status : ": no result yet")));
    if (r) {
      var rw = Object.keys(r.rewards || {}).map(function (k) { return k + "=" + rew(r.rewards[k]); }).join("  ");
      box.appendChild(kv([
        ["reward", r.reward === null ? null : rew(r.reward)], ["metrics", rw],
        ["fault", r.fault ? r.fault.kind + ": " + r.fault.message + (r.fault.transient ? " (transient)" : "") : null],
        ["message", r.message], ["agent exit", r.agent_exit_code], ["verifier exit", r.verifier_exit_code],
        ["tokens", "in " + int(r.tokens.input) + ", out " + int(r.tokens.output) + ", cached " + int(r.tokens.cached) + ", requests " + r.tokens.requests],
        ["timings", Object.keys(r.timings || {}).map(function (k) { return k + " " + num(r.timings[k], 1) + " s"; }).join(", ")],
        ["started", r.started_at], ["rescored at", r.rescored_at], ["directory", a.dir],
      ]));
      if (r.agent_stderr_tail) box.appendChild(block("agent stderr (tail)", r.agent_stderr_tail, true));
    }
    var ex = el("details", "exchanges");
    ex.appendChild(el("summary", null, "gateway exchanges (" + a.n_exchanges + ")" +
      (a.n_exchanges > a.exchanges.length ? ", first " + a.exchanges.length + " shown" : "")));
    a.exchanges.forEach(function (x, n) {
      var e = el("div", "exchange");
      var u = x.usage || {};
      var tin = u.prompt_tokens !== undefined ? u.prompt_tokens : u.input_tokens;
      var tout = u.completion_tokens !== undefined ? u.completion_tokens : u.output_tokens;
      e.appendChild(el("div", null, "#" + (n + 1) + " " + x.endpoint + " → " + x.status +
        (x.model ? "  model " + x.model : "") + (tin !== undefined ? "  tokens " + tin + " in / " + tout + " out" : "")));
      messages(e, x.request); messages(e, x.response);
      ex.appendChild(e);
    });
    if (!a.n_exchanges) ex.appendChild(el("p", "note", "no trace.jsonl: the gateway answered nothing or kept no trace"));
    box.appendChild(ex);
    var names = Object.keys(a.logs || {});
    names.forEach(function (n) { box.appendChild(block("log: " + n, a.logs[n], false)); });
    if (!names.length) box.appendChild(el("p", "note", "no logs kept"));
    return box;
  }
  function toggle(tr, i) {
    var next = tr.nextSibling;
    if (next && next.classList && next.classList.contains("detail")) { next.remove(); return; }
    var row = el("tr", "detail"), td = el("td"); td.colSpan = cols.length; row.appendChild(td);
    tr.parentNode.insertBefore(row, tr.nextSibling);
    J.forEach(function (job, j) {
      if (!rows[i][1][j]) return;
      var sec = el("section", "job-detail");
      sec.appendChild(el("h3", null, (multi ? "#" + (j + 1) + " " + job.name + ": " : "") + "task " + rows[i][0]));
      td.appendChild(sec);
      detailOf(j, i, function (d) {
        if (d.left_out) { sec.appendChild(el("p", "note", "details left out of this page (its size cap); `bakectl view` shows them")); return; }
        if (d.error || d.missing) { sec.appendChild(el("p", "note", "details unavailable " + (d.error || ""))); return; }
        if (!d.attempts.length) sec.appendChild(el("p", "note", "never started"));
        d.attempts.forEach(function (a) { sec.appendChild(attemptView(a)); });
      });
    });
  }

  // -- the page ---------------------------------------------------------------------------
  var app = document.getElementById("app");
  app.innerHTML = "";
  var header = el("header");
  header.appendChild(el("h1", null, J.map(function (j) { return j.name; }).join(" vs ")));
  header.appendChild(el("div", "sub", J.map(function (j) { return j.label; }).join(" · ") +
    " — bakectl " + D.bakectl_version + ", page made " + D.generated_at));
  app.appendChild(header);
  var main = el("main"); app.appendChild(main);
  main.appendChild(el("h2", null, "Summary")); main.appendChild(summaryTable());
  main.appendChild(el("h2", null, "Tasks"));
  var controls = el("div", "controls");
  var sel = el("select"); sel.id = "status-filter";
  sel.appendChild(new Option("all statuses", ""));
  statuses().forEach(function (s) { sel.appendChild(new Option(s, s)); });
  var text = el("input"); text.id = "text-filter"; text.type = "search"; text.placeholder = "filter: task id or fault text";
  shown = el("span", "sub"); shown.id = "shown-count";
  controls.appendChild(el("label", null, "status ")); controls.appendChild(sel); controls.appendChild(text); controls.appendChild(shown);
  main.appendChild(controls);
  var table = el("table"); table.id = "tasks";
  var thead = el("thead"), hr = el("tr");
  cols.forEach(function (c, n) {
    var th = el("th", c.num ? "num" : "", c.label); th.dataset.col = n; hr.appendChild(th);
  });
  thead.appendChild(hr); table.appendChild(thead);
  tbody = el("tbody"); table.appendChild(tbody); main.appendChild(table);
  var more = el("button", null, "show " + PAGE + " more"); more.id = "show-more";
  var all = el("button", null, "show all"); all.id = "show-all";
  var foot = el("div", "controls"); foot.appendChild(more); foot.appendChild(all); main.appendChild(foot);
  more.addEventListener("click", function () { state.limit += PAGE; renderRows(true); });
  all.addEventListener("click", function () { state.limit = rows.length; renderRows(true); });

  hr.addEventListener("click", function (e) {
    var th = e.target.closest("th"); if (!th) return;
    var n = Number(th.dataset.col);
    state.dir = state.col === n ? -state.dir : 1; state.col = n;
    Array.prototype.forEach.call(hr.children, function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
    th.classList.add(state.dir > 0 ? "sorted-asc" : "sorted-desc");
    renderRows();
  });
  sel.addEventListener("change", function () { state.status = sel.value; renderRows(); });
  var timer = null;
  text.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { state.text = text.value.trim().toLowerCase(); renderRows(); }, 120);
  });
  tbody.addEventListener("click", function (e) {
    var b = e.target.closest("button.task"); if (!b) return;
    toggle(b.closest("tr"), Number(b.dataset.i));
  });
  renderRows();
  document.body.dataset.ready = "1";
})();
"""
