// The status page's script: it explains a SKU from /explain.json and
// refreshes the page every 5 s while no explanation is open. Every value
// from the server is set as text (textContent), never parsed as HTML.
(function () {
  "use strict";
  var REFRESH_MS = 5000;
  var form = document.getElementById("explain-form");
  var input = document.getElementById("sku");
  var clear = document.getElementById("explain-clear");
  var out = document.getElementById("explain-result");
  var note = document.getElementById("refresh-note");
  var open = false; // an explanation (or its error) is shown
  var seq = 0; // the latest search; older answers are dropped

  function el(tag, text, attrs) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    return e;
  }
  function isObject(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }
  function has(x, k) { return Object.prototype.hasOwnProperty.call(x, k); }
  function words(k) { return String(k).replace(/_/g, " "); }

  // show is any JSON value as one line of text.
  function show(v) {
    if (v === null || v === undefined || v === "") return "—";
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (Array.isArray(v)) return v.length ? v.map(show).join(", ") : "none";
    if (isObject(v)) {
      if (has(v, "code") && Object.keys(v).length <= 2) return show(v.code) + (v.message ? ": " + show(v.message) : "");
      return Object.keys(v).map(function (k) { return words(k) + ": " + show(v[k]); }).join("; ");
    }
    return String(v);
  }

  // table builds a table with a caption, column headings and rows of
  // cells; a row's first cell is its heading when rowHeads is set.
  function table(caption, cols, rows, rowHeads) {
    var t = el("table");
    if (caption) t.appendChild(el("caption", caption));
    var tr = el("tr");
    cols.forEach(function (c) { tr.appendChild(el("th", c, { scope: "col" })); });
    t.appendChild(el("thead")).appendChild(tr);
    var body = t.appendChild(el("tbody"));
    rows.forEach(function (r) {
      var row = body.appendChild(el("tr"));
      r.forEach(function (cell, i) {
        row.appendChild(rowHeads && i === 0 ? el("th", cell, { scope: "row" }) : el("td", cell));
      });
    });
    var wrap = el("div", null, { "class": "scroll" });
    wrap.appendChild(t);
    return wrap;
  }

  // objects is a table of a list of objects, a column for each key any of
  // them has, in the order first seen.
  function objects(caption, list) {
    var cols = [];
    list.forEach(function (o) {
      if (isObject(o)) Object.keys(o).forEach(function (k) { if (cols.indexOf(k) < 0) cols.push(k); });
    });
    if (!cols.length) return table(caption, ["value"], list.map(function (v) { return [show(v)]; }));
    return table(caption, cols.map(words), list.map(function (o) {
      return cols.map(function (k) { return isObject(o) ? show(o[k]) : show(o); });
    }));
  }

  // keyValues is a table of one object's fields.
  function keyValues(caption, o) {
    return table(caption, ["field", "value"], Object.keys(o).map(function (k) { return [words(k), show(o[k])]; }), true);
  }

  function section(parent, title) {
    parent.appendChild(el("h4", title));
  }

  function rows(parent, sku, x) {
    var erp = isObject(x.erp) ? x.erp : null;
    var sf = isObject(x.storefront) ? x.storefront : null;
    if (!has(x, "erp") && !has(x, "storefront")) return;
    section(parent, "ERP and storefront");
    if (!erp) parent.appendChild(el("p", "The ERP has no row for " + sku + "."));
    if (!sf) parent.appendChild(el("p", "The storefront has no row for " + sku + "."));
    if (!erp && !sf) return;
    var fields = [];
    [erp, sf].forEach(function (r) {
      if (r) Object.keys(r).forEach(function (k) { if (fields.indexOf(k) < 0) fields.push(k); });
    });
    var cols = ["field", "ERP now", "storefront"];
    if (erp && sf) cols.push("same?");
    parent.appendChild(table(sku + " in the ERP now and in the storefront", cols, fields.map(function (k) {
      var a = erp ? show(erp[k]) : "no row", b = sf ? show(sf[k]) : "no row";
      var r = [words(k), a, b];
      if (erp && sf) r.push(!has(erp, k) || !has(sf, k) ? "—" : a === b ? "same" : "differs");
      return r;
    }), true));
  }

  var known = ["sku", "erp", "storefront", "agree", "reasons", "rules", "dead_letters", "reconcile"];

  function render(asked, x) {
    var box = document.createDocumentFragment();
    if (!isObject(x)) {
      box.appendChild(el("p", "The answer for " + asked + " is not an explanation: " + show(x), { "class": "error" }));
      return box;
    }
    var sku = typeof x.sku === "string" && x.sku ? x.sku : asked;
    var h = box.appendChild(el("h3", sku + " ", { id: "explain-sku" }));
    if (typeof x.agree === "boolean") {
      h.appendChild(el("span", x.agree ? "agrees" : "differs", { "class": "state " + (x.agree ? "agrees" : "differs"), id: "explain-agree" }));
      box.appendChild(el("p", x.agree ? "The storefront shows what the ERP has now." :
        "The storefront does not show what the ERP has now."));
    }
    if (Array.isArray(x.reasons) && x.reasons.length) {
      section(box, "Why");
      var ul = box.appendChild(el("ul", null, { id: "explain-reasons" }));
      x.reasons.forEach(function (r) { ul.appendChild(el("li", show(r))); });
    }
    rows(box, sku, x);
    if (has(x, "rules")) {
      section(box, "Pricing rules");
      if (Array.isArray(x.rules) && x.rules.length) box.appendChild(objects("Rules that matched, in order, with the price after each", x.rules));
      else box.appendChild(el("p", "No pricing rule matched: the ERP's price stands."));
    }
    if (has(x, "dead_letters")) {
      section(box, "Dead letters");
      if (Array.isArray(x.dead_letters) && x.dead_letters.length) box.appendChild(objects("Dead letters kept for " + sku, x.dead_letters));
      else box.appendChild(el("p", "None kept for " + sku + "."));
    }
    if (has(x, "reconcile")) {
      section(box, "Reconcile");
      if (isObject(x.reconcile)) box.appendChild(keyValues("What the last reconcile found", x.reconcile));
      else box.appendChild(el("p", x.reconcile === null ? "No reconcile has looked at " + sku + " yet." : show(x.reconcile)));
    }
    var more = {}, any = false;
    Object.keys(x).forEach(function (k) { if (known.indexOf(k) < 0) { more[k] = x[k]; any = true; } });
    if (any) {
      section(box, "More");
      box.appendChild(keyValues("Other fields of the explanation", more));
    }
    return box;
  }

  function failure(text) {
    return el("p", text, { "class": "error", id: "explain-error" });
  }

  function settle(node) {
    out.replaceChildren(node);
    out.removeAttribute("aria-busy");
    open = true;
    clear.hidden = false;
    note.textContent = "; paused while an explanation is open";
  }

  function explain(sku) {
    sku = sku.trim();
    if (!sku) return;
    var mine = ++seq;
    out.setAttribute("aria-busy", "true");
    out.replaceChildren(el("p", "Explaining " + sku + "…"));
    var url = "explain.json?sku=" + encodeURIComponent(sku);
    fetch(url, { headers: { Accept: "application/json" } }).then(function (res) {
      return res.text().then(function (body) {
        if (mine !== seq) return;
        var x;
        try { x = JSON.parse(body); } catch (e) { x = undefined; }
        if (!res.ok) {
          var why = isObject(x) && x.error ? show(x.error) : body.trim().slice(0, 300) || res.statusText;
          settle(failure("The server could not explain " + sku + " (HTTP " + res.status + "): " + why));
        } else if (x === undefined) {
          settle(failure("The server's answer for " + sku + " is not JSON; the explanation cannot be shown."));
        } else {
          settle(render(sku, x));
        }
      });
    }).catch(function (err) {
      if (mine !== seq) return;
      settle(failure("Could not reach the server to explain " + sku + " (" + (err && err.message || err) +
        "). The figures above are from the last sample; try again in a moment."));
    });
  }

  function remember(sku) {
    var u = new URL(location.href);
    if (sku) u.searchParams.set("sku", sku); else u.searchParams.delete("sku");
    u.hash = sku ? "explain" : "";
    history.replaceState(null, "", u.pathname + u.search + u.hash);
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    remember(input.value.trim());
    explain(input.value);
  });
  clear.addEventListener("click", function () {
    seq++;
    input.value = "";
    out.replaceChildren();
    open = false;
    clear.hidden = true;
    note.textContent = "";
    remember("");
    input.focus();
  });
  document.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("a.explain-link");
    if (!a || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    input.value = a.getAttribute("data-sku");
    remember(input.value);
    document.getElementById("explain").scrollIntoView();
    input.focus();
    explain(input.value);
  });

  setInterval(function () {
    var typing = document.activeElement === input && input.value.trim() !== (new URL(location.href).searchParams.get("sku") || "");
    if (!open && !typing && !document.hidden) location.reload();
  }, REFRESH_MS);

  var asked = new URL(location.href).searchParams.get("sku");
  if (asked && asked.trim()) {
    input.value = asked;
    explain(asked);
  }
})();
