/// The page `RunViewer` writes: style, markup and script, with the run's rows embedded as JSON.
/// The script builds every element with `textContent` (no row text is ever parsed as HTML), keeps
/// its filters in the URL's fragment (`#status=failed&q=refund&page=2`, so a view can be shared or
/// reloaded), and renders one page of 50 dialogues at a time.
enum RunViewerPage {
    static func html(title: String, data: String) -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(HTMLReport.escape(title))</title>
        <style>\(style)</style>
        </head>
        <body>
        <h1>\(HTMLReport.escape(title))</h1>
        <p id="counts"></p>
        <form id="controls" onsubmit="return false">
        <input id="q" type="search" placeholder="Search the text or an id" aria-label="Search">
        <label>Verdict <select id="status"></select></label>
        <label>End <select id="end"></select></label>
        <label>Filter <select id="filter"></select></label>
        <label>Failure <select id="reason"></select></label>
        <label>Persona <select id="persona"></select></label>
        </form>
        <nav class="pager"><button id="prev" type="button">Previous</button> <span id="range"></span>
        <button id="next" type="button">Next</button></nav>
        <main id="dialogues"></main>
        <script id="data" type="application/json">\(data)</script>
        <script>\(script)</script>
        </body>
        </html>

        """
    }

    static let style = """
        body{font:15px/1.45 system-ui,sans-serif;margin:1.5rem auto;max-width:980px;padding:0 1rem;color:#222}
        h1{font-size:1.3rem}form{display:flex;flex-wrap:wrap;gap:.5rem 1rem;margin:.5rem 0}
        #q{flex:1 1 16rem;padding:.3rem}select{max-width:16rem}.pager{margin:.8rem 0}
        article{border:1px solid #ddd;border-radius:8px;padding:.6rem .9rem;margin:1rem 0}
        article>header{display:flex;flex-wrap:wrap;gap:.3rem .8rem;align-items:baseline;font-size:.9rem;color:#555}
        article>header b{color:#222}.badge{border-radius:4px;padding:0 .4rem;color:#fff}
        .kept .badge{background:#2e7d32}.filtered .badge{background:#b26a00}.failed .badge{background:#c62828}
        .msg{margin:.5rem 0;padding:.4rem .7rem;border-radius:8px;white-space:pre-wrap;max-width:85%}
        .user{background:#e8f0fe}.assistant{background:#f1f3f4;margin-left:auto}
        .system{background:#fff8e1;font-size:.9rem}
        .gen,.note{font-size:.78rem;color:#666;white-space:normal;margin-top:.2rem}
        .judgment,.step{font-size:.85rem;margin:.2rem 0 .2rem auto;max-width:85%;color:#4a148c}
        .reason{color:#c62828}.filters{font-size:.85rem;color:#8a5300;margin:.3rem 0}
        .pair{border-top:1px dashed #ccc;margin-top:.6rem}.cols{display:grid;grid-template-columns:1fr 1fr;gap:.6rem}
        .chosen,.rejected{white-space:pre-wrap;padding:.4rem .6rem;border-radius:6px}
        .chosen{background:#e8f5e9}.rejected{background:#ffebee}h4,h5{margin:.4rem 0 .2rem}
        """

    static let script = #"""
        "use strict";
        const D = JSON.parse(document.getElementById("data").textContent);
        const PER_PAGE = 50;
        const pairsOf = new Map();
        for (const p of D.pairs) {
          const id = String(p.dialogue_id);
          if (!pairsOf.has(id)) pairsOf.set(id, []);
          pairsOf.get(id).push(p);
        }
        const who = {human: "user", gpt: "assistant", system: "system", user: "user", assistant: "assistant"};
        function item(row, status, messages) {
          const meta = row.meta || {};
          const id = String(row.id);
          return {
            id, status, end: String(row.end_reason || ""), turns: row.turns || 0, meta,
            persona: meta.persona ? String(meta.persona) : "", reason: "", reasonKey: "", messages,
            filters: meta.filters || [], pairs: pairsOf.get(id) || [],
            text: (id + "\n" + messages.map(m => m.text).join("\n")).toLowerCase()
          };
        }
        function fromDataset(row, status) {
          const gen = (row.meta && row.meta.generation) || [];
          const messages = (row.conversations || []).map((c, i) =>
            ({who: who[c.from] || "system", text: String(c.value), gen: gen[i] || null}));
          return item(row, status, messages);
        }
        function fromFailure(row) {
          const messages = (row.messages || []).map(m =>
            ({who: who[m.role] || "system", text: String(m.content), gen: m.meta || null}));
          const it = item(row, "failed", messages);
          it.reason = String(row.reason || "");
          it.reasonKey = it.reason.replace(/\d+(\.\d+)?/g, "N").slice(0, 90);
          return it;
        }
        const items = D.dialogues.map(r => fromDataset(r, "kept"))
          .concat(D.filtered.map(r => fromDataset(r, "filtered")), D.failures.map(fromFailure));

        const $ = id => document.getElementById(id);
        function el(tag, cls, text) {
          const e = document.createElement(tag);
          if (cls) e.className = cls;
          if (text !== undefined) e.textContent = text;
          return e;
        }
        function options(select, label, values) {
          select.append(new Option("all " + label, ""));
          for (const v of [...new Set(values)].filter(v => v).sort()) select.append(new Option(v, v));
        }
        options($("status"), "verdicts", items.map(i => i.status));
        options($("end"), "end reasons", items.map(i => i.end));
        options($("filter"), "filters", items.flatMap(i => i.filters.map(f => f.filter)));
        options($("reason"), "failures", items.map(i => i.reasonKey));
        options($("persona"), "personas", items.map(i => i.persona));
        const count = s => items.filter(i => i.status === s).length;
        $("counts").textContent = `${items.length} dialogues: ${count("kept")} kept, ${count("filtered")} filtered, ` +
          `${count("failed")} failed` + (D.skipped ? `; ${D.skipped} unreadable lines left out` : "") + ". " + D.run;

        const selects = ["status", "end", "filter", "reason", "persona"];
        let page = 0;
        function readHash() {
          const h = new URLSearchParams(location.hash.slice(1));
          $("q").value = h.get("q") || "";
          for (const s of selects) $(s).value = h.get(s) || "";
          page = Math.max(0, (parseInt(h.get("page") || "1", 10) || 1) - 1);
        }
        function writeHash() {
          const h = new URLSearchParams();
          if ($("q").value) h.set("q", $("q").value);
          for (const s of selects) if ($(s).value) h.set(s, $(s).value);
          if (page) h.set("page", String(page + 1));
          try { history.replaceState(null, "", "#" + h.toString()); } catch (e) { /* an opaque origin */ }
        }
        function matching() {
          const q = $("q").value.toLowerCase().trim();
          const [status, end, filter, reason, persona] = selects.map(s => $(s).value);
          return items.filter(i => (!status || i.status === status) && (!end || i.end === end)
            && (!filter || i.filters.some(f => f.filter === filter)) && (!reason || i.reasonKey === reason)
            && (!persona || i.persona === persona) && (!q || i.text.includes(q)));
        }
        function generation(g) {
          if (!g || !g.role) return null;
          const parts = [g.role, g.model, `${g.prompt_tokens ?? "?"} + ${g.completion_tokens ?? "?"} tokens`,
            `${g.latency_ms ?? "?"} ms`, g.finish_reason,
            g.attempts != null ? `${g.attempts} attempt${g.attempts === 1 ? "" : "s"}` : null];
          return parts.filter(p => p).join(" · ");
        }
        function judgment(j) {
          const samples = j.samples && j.samples.length > 1 ? ` (${j.samples.join(", ")})` : "";
          const orders = j.orders && j.orders.length ? ` (orders ${j.orders.join(", ")})` : "";
          const said = j.score != null ? `score ${j.score}${samples}`
            : j.verdict ? `verdict ${j.verdict}${orders}` : "unscored";
          return el("div", "judgment", `judge, turn ${j.turn}: ${said}` + (j.model ? ` · ${j.model}` : ""));
        }
        function card(it) {
          const a = el("article", it.status);
          const h = el("header");
          h.append(el("b", "", it.id), el("span", "badge", it.status), el("span", "", "end: " + (it.end || "?")),
            el("span", "", `${it.turns} exchange${it.turns === 1 ? "" : "s"}`));
          for (const k of ["persona", "workflow", "degenerate", "context_exhausted"])
            if (it.meta[k]) h.append(el("span", "", `${k}: ${it.meta[k]}`));
          a.append(h);
          if (it.reason) a.append(el("p", "reason", it.reason));
          if (it.filters.length) {
            const ul = el("ul", "filters");
            for (const f of it.filters) {
              ul.append(el("li", "", `${f.filter} (${f.action}, turn ${f.turn}): ${f.detail || ""}`));
            }
            a.append(ul);
          }
          const judgments = it.meta.judgments || [];
          const steps = (it.meta.selftalk && it.meta.selftalk.steps) || [];
          let answers = 0;
          for (const m of it.messages) {
            if (m.who === "assistant") {
              answers += 1;
              for (const s of steps.filter(s => s.turn === answers))
                a.append(el("div", "step", `workflow step: ${s.node || "off script"} (${s.choice})`));
            }
            // A system prompt (often long: instructions, few-shot transcripts) stays folded.
            const box = m.who === "system" ? el("details", "msg system") : el("div", "msg " + m.who, m.text);
            if (m.who === "system") box.append(el("summary", "", "system prompt"), document.createTextNode(m.text));
            const g = generation(m.gen);
            if (g) box.append(el("div", "gen", g));
            a.append(box);
            if (m.who === "assistant") for (const j of judgments.filter(j => j.turn === answers)) a.append(judgment(j));
          }
          const st = it.meta.selftalk;
          if (st) a.append(el("p", "note", `nodes reached: ${(st.nodes_reached || []).join(", ") || "none"} ` +
            `(depth ${st.depth} of ${st.longest_path}${st.ended ? ", ended" : ""})`));
          for (const p of it.pairs) {
            const box = el("div", "pair");
            box.append(el("h4", "", `preference pair, turn ${p.turn}: ${p.strategy}`));
            const cols = el("div", "cols");
            const side = (cls, list) => {
              const c = el("div", cls);
              c.append(el("h5", "", cls), document.createTextNode((list || []).map(m => m.content).join("\n")));
              return c;
            };
            cols.append(side("chosen", p.chosen), side("rejected", p.rejected));
            box.append(cols);
            a.append(box);
          }
          return a;
        }
        function render() {
          const list = matching();
          const pages = Math.max(1, Math.ceil(list.length / PER_PAGE));
          page = Math.min(page, pages - 1);
          const shown = list.slice(page * PER_PAGE, (page + 1) * PER_PAGE);
          $("dialogues").replaceChildren(...shown.map(card));
          const first = page * PER_PAGE + 1;
          $("range").textContent = list.length ? `${first}–${first + shown.length - 1} of ${list.length}`
            : "no dialogue matches";
          $("prev").disabled = page === 0;
          $("next").disabled = page >= pages - 1;
          writeHash();
        }
        let typing;
        $("q").addEventListener("input", () => {
          clearTimeout(typing);
          typing = setTimeout(() => { page = 0; render(); }, 150);
        });
        for (const s of selects) $(s).addEventListener("change", () => { page = 0; render(); });
        $("prev").addEventListener("click", () => { page -= 1; render(); scrollTo(0, 0); });
        $("next").addEventListener("click", () => { page += 1; render(); scrollTo(0, 0); });
        addEventListener("hashchange", () => { readHash(); render(); });
        readHash();
        render();
        """#
}
