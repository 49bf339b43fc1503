/* Track Delivery: the search page.
 *
 * Every value shown here comes from mail logs, which strangers write (HELO names, senders, subjects),
 * so the DOM is built with createElement and textContent only: never innerHTML with data.
 * The page is served with a strict Content-Security-Policy: no inline script or style.
 */
"use strict";

(function () {
  const API = "/api/v1";
  const POLL_MS = 5000;
  const COLUMNS_KEY = "trackdelivery.columns.v1";
  const SVG_NS = "http://www.w3.org/2000/svg";

  // The table's columns: key, header, the record field the server sorts by, how a cell shows.
  const COLUMNS = [
    { key: "type", label: "Event", sort: "type", fixed: true },
    { key: "sendunixtime", label: "Sent Time", sort: "sendunixtime", kind: "time" },
    { key: "actionunixtime", label: "Event Time", sort: "actionunixtime", kind: "time" },
    { key: "email", label: "From Address", sort: "email", kind: "sender" },
    { key: "recipient", label: "Recipient", sort: "recipient" },
    { key: "result", label: "Result", sort: "message", kind: "result" },
    { key: "spamscore", label: "Spam Score", sort: "spamscore", kind: "number" },
    { key: "subject", label: "Subject", sort: "subject" },
    { key: "sender", label: "Authenticated as", sort: "sender" },
    { key: "senderhost", label: "Sender host", sort: "senderhost" },
    { key: "senderip", label: "Sender IP", sort: "senderip" },
    { key: "senderauth", label: "Auth", sort: "senderauth" },
    { key: "size", label: "Size", sort: "size", kind: "size" },
    { key: "deliveredto", label: "Delivered to", sort: "deliveredto" },
    { key: "router", label: "Router", sort: "router" },
    { key: "transport", label: "Transport", sort: "transport" },
    { key: "host", label: "Host", sort: "host" },
    { key: "ip", label: "IP", sort: "ip" },
    { key: "msgid", label: "Queue ID", sort: "msgid" },
    { key: "message_id", label: "Message ID", sort: "message_id" },
    { key: "dsn", label: "DSN", sort: "dsn" },
    { key: "queue_time", label: "Queue time", sort: "queue_time", kind: "duration" },
    { key: "attempt", label: "Attempt", sort: "attempt", kind: "number" },
    { key: "tls", label: "TLS", sort: "tls" },
    { key: "protocol", label: "Protocol", sort: "protocol" },
    { key: "user", label: "Account", sort: "user" },
    { key: "domain", label: "Domain", sort: "domain" },
    { key: "server", label: "Server", sort: "server" },
  ];
  const DEFAULT_COLUMNS = ["type", "sendunixtime", "actionunixtime", "email", "recipient", "result", "spamscore"];
  const ADDRESS_COLUMNS = new Set(["email", "recipient", "sender", "deliveredto"]);
  // Text columns sort A→Z first; times and numbers newest/largest first.
  const DESCENDING_FIRST = new Set(["time", "number", "size", "duration", "result"]);

  // Every field of the record (DESIGN.md), in its order, with a name a customer understands.
  const FIELD_LABELS = [
    ["event_id", "Event number"], ["type", "Event"], ["msgid", "Queue ID"],
    ["email", "From address (envelope sender)"], ["sender", "Authenticated as"], ["user", "Sender's account"],
    ["domain", "Sender's domain"], ["senderhost", "Sender host (HELO)"], ["senderip", "Sender IP"],
    ["senderauth", "Authentication"], ["size", "Size"], ["spamscore", "Spam score"],
    ["sendunixtime", "Sent time"], ["recipient", "Recipient"], ["deliveredto", "Delivered to"],
    ["deliveryuser", "Recipient's account"], ["deliverydomain", "Recipient's domain"], ["router", "Router"],
    ["transport", "Transport"], ["host", "Remote host"], ["ip", "Remote IP"], ["message", "Result"],
    ["actionunixtime", "Event time"], ["transport_is_remote", "Sent to another server"], ["subject", "Subject"],
    ["message_id", "Message-ID header"], ["dsn", "Status code (DSN)"], ["reason", "Reason"],
    ["reason_text", "Reason, in words"], ["tls", "Encryption (TLS)"], ["protocol", "Protocol"],
    ["parent_msgid", "Original message (of this bounce)"], ["server", "Server / log"],
    ["queue_time", "Time in queue"], ["attempt", "Attempt"],
  ];
  const FIELD_KIND = {
    sendunixtime: "time", actionunixtime: "time", size: "size", queue_time: "duration",
    transport_is_remote: "yesno", type: "type",
  };

  // What each kind of event means when the server gave no reason of its own.
  const TYPE_STORY = {
    success: ["Delivered", "The receiving mailbox or mail server accepted the message. If the recipient cannot " +
      "find it, ask them to look in their spam or junk folder and at their mail filters."],
    defer: ["Delayed — the server will try again", "Delivery did not work yet. The server keeps retrying by " +
      "itself for a while; you do not need to send the message again."],
    failure: ["Not delivered", "The message could not be delivered. The sender gets a bounce message that " +
      "says why."],
    rejected: ["Refused by this server", "This server refused the message when it was offered, so it was " +
      "never accepted. The sending server should have told the sender."],
    inprogress: ["Still on its way", "The message was accepted and has no result yet. Check again in a few " +
      "minutes."],
    archive: ["Archived", "A copy of the message was kept in the mail archive."],
    filtered: ["Filtered", "A mail filter discarded or redirected the message, so it was not put in a mailbox. " +
      "Check the filters of the account."],
  };

  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const form = $("search-form");
  const typeBoxes = Array.from(form.querySelectorAll('input[name="types"]'));
  const ALL_TYPES = typeBoxes.map((box) => box.value);
  const TYPE_LABEL = Object.fromEntries(typeBoxes.map((box) => [box.value, box.dataset.label]));
  const COLUMN_BY_KEY = Object.fromEntries(COLUMNS.map((c) => [c.key, c]));

  const timeFormat = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  const dayFormat = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
  const clockFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const numberFormat = new Intl.NumberFormat();

  // The search that is on screen (what paging, sorting, polling and export use).
  let applied = null;
  let lastData = null;
  let lastId = null;
  let searchSeq = 0;
  let polling = false;
  let sessionEnded = false;
  let visibleColumns = loadColumns();

  // ---------- small helpers ----------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function icon(type) {
    const svg = document.createElementNS(SVG_NS, "svg");
    const known = ALL_TYPES.includes(type) ? type : "unknown";
    svg.setAttribute("class", "icon icon-" + known);
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const use = document.createElementNS(SVG_NS, "use");
    use.setAttribute("href", "#icon-" + known);
    svg.appendChild(use);
    return svg;
  }

  function typeBadge(type) {
    const badge = el("span", "type-badge type-" + (ALL_TYPES.includes(type) ? type : "unknown"));
    badge.appendChild(icon(type));
    badge.appendChild(el("span", "type-label", TYPE_LABEL[type] || type || "Unknown"));
    return badge;
  }

  // An address that may break after its "@" (and after dots), never in the middle of a name.
  function addressText(text) {
    const frag = document.createDocumentFragment();
    const parts = String(text).split(/(?<=[@.])/);
    parts.forEach((part, i) => {
      if (i) frag.appendChild(document.createElement("wbr"));
      frag.appendChild(document.createTextNode(part));
    });
    return frag;
  }

  function isBlank(value) {
    return value === null || value === undefined || value === "";
  }

  function formatTime(epoch) {
    if (isBlank(epoch)) return "";
    const date = new Date(Number(epoch) * 1000);
    return Number.isNaN(date.getTime()) ? String(epoch) : timeFormat.format(date);
  }

  function formatSize(bytes) {
    if (isBlank(bytes)) return "";
    const n = Number(bytes);
    if (n < 1024) return numberFormat.format(n) + " B";
    if (n < 1024 * 1024) return numberFormat.format(Math.round(n / 1024)) + " KB";
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }

  function formatDuration(seconds) {
    if (isBlank(seconds)) return "";
    let s = Math.max(0, Math.round(Number(seconds)));
    const parts = [];
    for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60]]) {
      if (s >= size) {
        parts.push(Math.floor(s / size) + " " + unit);
        s %= size;
      }
    }
    if (s || !parts.length) parts.push(s + " s");
    return parts.slice(0, 2).join(" ");
  }

  function formatValue(kind, value) {
    if (isBlank(value)) return "";
    switch (kind) {
      case "time": return formatTime(value);
      case "size": return formatSize(value);
      case "duration": return formatDuration(value);
      case "yesno": return Number(value) ? "Yes" : "No";
      case "type": return TYPE_LABEL[value] || String(value);
      default: return String(value);
    }
  }

  function resultText(event) {
    return event.reason_text || event.message || "";
  }

  function plural(n, one, many) {
    return numberFormat.format(n) + " " + (n === 1 ? one : many);
  }

  // ---------- talking to the server ----------

  class ApiFailure extends Error {}

  async function getJSON(url) {
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    } catch (err) {
      throw new ApiFailure("The server could not be reached. Check your connection and try again.");
    }
    if (response.status === 401) {
      endSession();
      throw new ApiFailure("You have been logged out. Log in again to continue.");
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = null;
    }
    if (!response.ok) {
      const message = data && typeof data.error === "string" ? data.error : "The server answered with an error (" +
        response.status + "). Try again in a moment.";
      throw new ApiFailure(message);
    }
    return data;
  }

  function endSession() {
    if (sessionEnded) return;
    sessionEnded = true;
    const box = $("search-error");
    box.replaceChildren(el("span", null, "You have been logged out. "));
    const link = el("a", null, "Log in again");
    link.href = "/login";
    box.appendChild(link);
    box.hidden = false;
  }

  // ---------- the search form ----------

  function dayStart(value) {
    // A date input's YYYY-MM-DD, as the start of that day in the browser's time zone (epoch seconds).
    const [y, m, d] = value.split("-").map(Number);
    return Math.floor(new Date(y, m - 1, d).getTime() / 1000);
  }

  function dayEnd(value) {
    const [y, m, d] = value.split("-").map(Number);
    return Math.floor(new Date(y, m - 1, d + 1).getTime() / 1000) - 1;
  }

  function checkedTypes() {
    return typeBoxes.filter((box) => box.checked).map((box) => box.value);
  }

  function readForm() {
    return {
      q: $("q").value.trim(),
      match: $("match").value,
      types: checkedTypes(),
      since: $("since").value,
      until: $("until").value,
      limit: Number($("limit").value) || 50,
      sort: applied ? applied.sort : "actionunixtime",
      order: applied ? applied.order : "desc",
      offset: 0,
    };
  }

  function writeForm(s) {
    $("q").value = s.q;
    $("match").value = s.match;
    for (const box of typeBoxes) box.checked = s.types.includes(box.value);
    $("since").value = s.since;
    $("until").value = s.until;
    $("limit").value = String(s.limit);
  }

  function filterParams(s) {
    const params = new URLSearchParams();
    if (s.q) {
      params.set("q", s.q);
      params.set("match", s.match);
    }
    if (s.types.length !== ALL_TYPES.length) params.set("types", s.types.join(","));
    if (s.since) params.set("since", String(dayStart(s.since)));
    if (s.until) params.set("until", String(dayEnd(s.until)));
    return params;
  }

  function searchParams(s) {
    const params = filterParams(s);
    params.set("sort", s.sort);
    params.set("order", s.order);
    params.set("limit", String(s.limit));
    params.set("offset", String(s.offset));
    return params;
  }

  // The search is kept in the page address, so reload, bookmarks and Back bring it again.
  function pageUrl(s) {
    const params = new URLSearchParams();
    if (s.q) params.set("q", s.q);
    if (s.match !== "exact") params.set("match", s.match);
    if (s.types.length !== ALL_TYPES.length) params.set("types", s.types.join(","));
    if (s.since) params.set("from", s.since);
    if (s.until) params.set("to", s.until);
    if (s.sort !== "actionunixtime" || s.order !== "desc") {
      params.set("sort", s.sort);
      params.set("order", s.order);
    }
    if (s.limit !== 50) params.set("limit", String(s.limit));
    if (s.offset) params.set("offset", String(s.offset));
    const query = params.toString();
    return location.pathname + (query ? "?" + query : "");
  }

  function stateFromUrl() {
    const params = new URLSearchParams(location.search);
    const date = (v) => (/^\d{4}-\d{2}-\d{2}$/.test(v || "") ? v : "");
    const types = (params.get("types") || "").split(",").filter((t) => ALL_TYPES.includes(t));
    const limit = Number(params.get("limit"));
    const sortable = new Set(COLUMNS.map((c) => c.sort));
    return {
      q: (params.get("q") || "").trim(),
      match: ["exact", "begins", "contains"].includes(params.get("match")) ? params.get("match") : "exact",
      types: types.length ? types : ALL_TYPES.slice(),
      since: date(params.get("from")),
      until: date(params.get("to")),
      sort: sortable.has(params.get("sort")) ? params.get("sort") : "actionunixtime",
      order: params.get("order") === "asc" ? "asc" : "desc",
      limit: [25, 50, 100, 250].includes(limit) ? limit : 50,
      offset: Math.max(0, Math.floor(Number(params.get("offset")) || 0)),
    };
  }

  function validate(s) {
    if (s.since && s.until && s.since > s.until) {
      return "The “From” date is after the “To” date. Swap them or clear one.";
    }
    return "";
  }

  let noteTimer = 0;
  function showTypesNote(text) {
    const note = $("types-note");
    note.textContent = text;
    note.classList.toggle("visible", Boolean(text));
    clearTimeout(noteTimer);
    if (text) noteTimer = setTimeout(() => showTypesNote(""), 8000);
  }

  // ---------- running a search ----------

  async function runSearch(s, options) {
    const opts = options || {};
    const problem = validate(s);
    const errorBox = $("search-error");
    if (problem) {
      errorBox.textContent = problem;
      errorBox.hidden = false;
      return;
    }
    const seq = ++searchSeq;
    setBusy(true);
    try {
      const data = await getJSON(API + "/search?" + searchParams(s).toString());
      if (seq !== searchSeq) return;
      errorBox.hidden = true;
      errorBox.replaceChildren();
      applied = s;
      lastData = data;
      updateTracePanel(s);
      lastId = typeof data.last_id === "number" ? data.last_id : lastId;
      hideBanner();
      history.replaceState(null, "", pageUrl(s));
      updateExportLinks(s);
      renderResults(data);
      if (opts.focusTable) $("table-scroller").focus();
    } catch (err) {
      if (seq !== searchSeq) return;
      if (!sessionEnded) {
        errorBox.textContent = err instanceof ApiFailure ? err.message : "Something went wrong: " + err;
        errorBox.hidden = false;
      }
    } finally {
      if (seq === searchSeq) setBusy(false);
    }
  }

  function setBusy(busy) {
    const region = $("table-scroller");
    region.setAttribute("aria-busy", busy ? "true" : "false");
    document.querySelector(".results").classList.toggle("busy", busy);
    if (busy && !lastData) $("summary").textContent = "Searching…";
  }

  function updateExportLinks(s) {
    for (const format of ["csv", "json"]) {
      const params = filterParams(s);
      params.set("format", format);
      params.set("sort", s.sort);
      params.set("order", s.order);
      $("export-" + format).href = API + "/export?" + params.toString();
    }
  }

  // ---------- the results table ----------

  function renderHead() {
    const row = $("events-head");
    row.replaceChildren();
    for (const key of visibleColumns) {
      const column = COLUMN_BY_KEY[key];
      const th = el("th", "col-" + key);
      th.scope = "col";
      const button = el("button", "sort-button");
      button.type = "button";
      button.dataset.sort = column.sort;
      button.appendChild(el("span", null, column.label));
      const arrow = el("span", "sort-arrow");
      arrow.setAttribute("aria-hidden", "true");
      button.appendChild(arrow);
      if (applied && applied.sort === column.sort) {
        const ascending = applied.order === "asc";
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        arrow.textContent = ascending ? "▲" : "▼";
        th.classList.add("sorted");
      } else {
        th.setAttribute("aria-sort", "none");
        arrow.textContent = "↕";
      }
      button.addEventListener("click", () => sortBy(column));
      th.appendChild(button);
      row.appendChild(th);
    }
  }

  function cell(column, event) {
    const td = el("td", "col-" + column.key);
    switch (column.key) {
      case "type": {
        const button = el("button", "row-open");
        button.type = "button";
        button.appendChild(typeBadge(event.type));
        button.appendChild(el("span", "visually-hidden", ": show details"));
        td.appendChild(button);
        return td;
      }
      case "result": {
        const text = resultText(event);
        const div = el("div", "clamp", text);
        div.title = event.message || text;
        td.appendChild(div);
        return td;
      }
      case "email":
        if (!event.email) {
          const span = el("span", "muted", "<> (bounce)");
          span.title = "Empty sender: an automatic bounce or notice from a mail server.";
          td.appendChild(span);
          return td;
        }
        break;
      default:
        break;
    }
    const value = column.key === "sendunixtime" && isBlank(event.sendunixtime) ? event.actionunixtime
      : event[column.key];
    if (column.kind === "time" && !isBlank(value)) {
      // Date and time on their own lines when the table is tight; each stays whole.
      const date = new Date(Number(value) * 1000);
      td.appendChild(el("span", "day", dayFormat.format(date)));
      td.appendChild(document.createTextNode(" "));
      td.appendChild(el("span", "clock", clockFormat.format(date)));
      td.title = formatTime(value);
      return td;
    }
    const text = formatValue(column.kind, value);
    if (ADDRESS_COLUMNS.has(column.key)) td.appendChild(addressText(text));
    else td.textContent = text;
    if (column.kind === "number" || column.kind === "size" || column.kind === "duration") td.classList.add("num");
    if (text.length > 40) td.title = text;
    return td;
  }

  function renderResults(data) {
    renderHead();
    const tbody = $("events-body");
    const rows = [];
    for (const event of data.events || []) {
      const tr = el("tr", "row-" + (ALL_TYPES.includes(event.type) ? event.type : "unknown"));
      tr.dataset.eventId = String(event.event_id);
      for (const key of visibleColumns) tr.appendChild(cell(COLUMN_BY_KEY[key], event));
      rows.push(tr);
    }
    tbody.replaceChildren(...rows);

    const total = Number(data.total) || 0;
    const count = (data.events || []).length;
    const empty = total === 0 || count === 0;
    $("table-scroller").hidden = empty;
    $("empty").hidden = !empty;
    $("empty-hint").textContent = emptyHint(applied);
    const first = count ? applied.offset + 1 : 0;
    const last = applied.offset + count;
    const range = count ? "Rows " + numberFormat.format(first) + "–" + numberFormat.format(last) + " of " +
      numberFormat.format(total) : "";
    $("page-status").textContent = range;
    $("summary").textContent = total ? plural(total, "event", "events") + " found" + describe(applied) + "."
      : "No events found" + describe(applied) + ".";
    $("prev-page").disabled = applied.offset <= 0;
    $("next-page").disabled = last >= total;
    const onePage = total <= count && applied.offset === 0;
    $("prev-page").hidden = onePage;
    $("next-page").hidden = onePage;
    document.querySelector(".pager").hidden = empty;
  }

  function describe(s) {
    const bits = [];
    if (s.q) bits.push((s.match === "exact" ? " for " : s.match === "begins" ? " for addresses beginning with " :
      " for addresses containing ") + s.q);
    if (s.types.length !== ALL_TYPES.length) bits.push(" (" + s.types.map((t) => TYPE_LABEL[t]).join(", ") + ")");
    if (s.since && s.until) bits.push(" from " + s.since + " to " + s.until);
    else if (s.since) bits.push(" since " + s.since);
    else if (s.until) bits.push(" until " + s.until);
    return bits.join("");
  }

  function emptyHint(s) {
    const hints = [];
    if (s.q && s.match === "exact") hints.push("Try “contains” to find part of an address.");
    if (s.types.length !== ALL_TYPES.length) hints.push("Some kinds of events are unticked: try Show All.");
    if (s.since || s.until) hints.push("Clear the dates to search all " + (body.dataset.retentionDays || "") +
      " days that are kept.");
    return hints.join(" ");
  }

  function sortBy(column) {
    if (!applied) return;
    const s = Object.assign({}, applied, { offset: 0 });
    if (s.sort === column.sort) {
      s.order = s.order === "asc" ? "desc" : "asc";
    } else {
      s.sort = column.sort;
      s.order = DESCENDING_FIRST.has(column.kind) ? "desc" : "asc";
    }
    runSearch(s).then(() => {
      const button = document.querySelector('.sort-button[data-sort="' + CSS.escape(column.sort) + '"]');
      if (button) button.focus();
    });
  }

  function goToPage(direction) {
    if (!applied) return;
    const offset = Math.max(0, applied.offset + direction * applied.limit);
    runSearch(Object.assign({}, applied, { offset })).then(() => {
      const button = direction > 0 ? $("next-page") : $("prev-page");
      if (button.disabled) $("table-scroller").focus();
    });
  }

  // ---------- columns ----------

  function loadColumns() {
    try {
      const saved = JSON.parse(localStorage.getItem(COLUMNS_KEY) || "null");
      if (Array.isArray(saved)) {
        const keys = saved.filter((key) => COLUMNS.some((c) => c.key === key));
        if (!keys.includes("type")) keys.unshift("type");
        return orderColumns(keys);
      }
    } catch (err) {
      // Storage may be off (private mode) or hold something else: use the defaults.
    }
    return DEFAULT_COLUMNS.slice();
  }

  function orderColumns(keys) {
    return COLUMNS.map((c) => c.key).filter((key) => keys.includes(key));
  }

  function saveColumns() {
    try {
      localStorage.setItem(COLUMNS_KEY, JSON.stringify(visibleColumns));
    } catch (err) {
      // Not remembered, but still applied for this page.
    }
  }

  function renderColumnChooser() {
    const list = $("column-list");
    list.replaceChildren();
    for (const column of COLUMNS) {
      const label = el("label", "check");
      const box = el("input");
      box.type = "checkbox";
      box.value = column.key;
      box.name = "columns";
      box.checked = visibleColumns.includes(column.key);
      if (column.fixed) {
        box.disabled = true;
        box.title = "Always shown";
      }
      box.addEventListener("change", () => {
        const keys = Array.from(list.querySelectorAll("input:checked")).map((b) => b.value);
        visibleColumns = orderColumns(keys);
        saveColumns();
        if (lastData) renderResults(lastData);
      });
      label.appendChild(box);
      label.appendChild(el("span", null, column.label));
      list.appendChild(label);
    }
  }

  // ---------- live updates ----------

  async function poll() {
    if (polling || sessionEnded || document.hidden || !applied || lastId === null) return;
    polling = true;
    try {
      const params = filterParams(applied);
      params.set("after_id", String(lastId));
      const data = await getJSON(API + "/new?" + params.toString());
      if (data && data.count > 0) showBanner(data.count);
    } catch (err) {
      // A missed poll is harmless: the next one tries again.
    } finally {
      polling = false;
    }
  }

  function showBanner(count) {
    $("show-new").textContent = plural(count, "new event", "new events") + " — show them";
    $("new-banner").hidden = false;
  }

  function hideBanner() {
    $("new-banner").hidden = true;
  }

  // ---------- address trace: where would mail to this address go? ----------

  const TRACE_ENABLED = body.dataset.traceEnabled === "true";
  // The addresses this user may trace: their domains (or own address); none given = any (an admin).
  const TRACE_SCOPE = body.dataset.traceScope ? JSON.parse(body.dataset.traceScope) : null;
  // One whole address; the server checks it again, strictly, before it asks the mail server anything.
  const WHOLE_ADDRESS = /^[^\s@]+@[^\s@]+$/;
  // The API's rule for one plain address (web/tracing.py), for a recipient from the logs (a pipe, a
  // file or a bare local part is not one); the server checks again and has the last word.
  const TRACEABLE_ADDRESS = new RegExp("^[A-Za-z0-9_][A-Za-z0-9_+=-]*(?:\\.[A-Za-z0-9_+=-]+)*@" +
    "[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$");
  // The overall answer: the icon of the event it would become, and a sentence.
  const TRACE_STATUS = {
    deliverable: ["success", "Mail to this address would be delivered."],
    discarded: ["filtered", "Mail to this address would be thrown away: not delivered, and no bounce is sent."],
    undeliverable: ["failure", "Mail to this address would not be delivered: the sender would get a bounce."],
    deferred: ["defer", "Mail to this address would wait in the queue: a destination cannot be reached " +
      "at this time, and the server would keep trying."],
  };
  const TRACE_TARGET_KINDS = new Set(["pipe", "file", "autoreply"]); // the node's "address" is a program or file
  let traceAddress = "";
  let traceSeq = 0;

  function inTraceScope(address) {
    if (!TRACE_SCOPE) return true;
    const lower = address.toLowerCase();
    return TRACE_SCOPE.addresses.includes(lower) ||
      TRACE_SCOPE.domains.includes(lower.slice(lower.lastIndexOf("@") + 1));
  }

  function updateTracePanel(s) {
    const address = TRACE_ENABLED && s.q && s.match === "exact" && WHOLE_ADDRESS.test(s.q) &&
      inTraceScope(s.q) ? s.q : "";
    $("trace-panel").hidden = !address;
    if (address === traceAddress) return; // paging or sorting the same search keeps the answer
    traceAddress = address;
    traceSeq++;
    $("trace-address").textContent = address;
    $("trace-result").replaceChildren();
    $("trace-run").disabled = false;
  }

  function traceable(address) {
    return address.length <= 254 && address.indexOf("@") <= 64 && TRACEABLE_ADDRESS.test(address);
  }

  function runTrace() {
    const address = traceAddress;
    if (!address) return;
    const seq = ++traceSeq;
    // Another address searched meanwhile makes the answer stale.
    askTrace(address, $("trace-run"), $("trace-result"), () => seq === traceSeq);
  }

  // Ask the server where mail to `address` would go and draw the answer in `result`, or the server's
  // one sentence when it cannot (not one of yours, too many traces, turned off); `wanted()` says
  // whether the answer is still wanted when it comes.
  async function askTrace(address, button, result, wanted) {
    const hadFocus = document.activeElement === button;
    button.disabled = true;
    result.replaceChildren(el("p", "muted", "Asking the mail server…"));
    try {
      const data = await getJSON(API + "/trace?address=" + encodeURIComponent(address));
      if (!wanted()) return;
      result.replaceChildren(...traceView(data));
    } catch (err) {
      if (!wanted()) return;
      result.replaceChildren(el("p", "alert alert-error trace-error", err.message || String(err)));
    } finally {
      if (wanted()) {
        button.disabled = false;
        // A disabled button loses focus: give it back to a keyboard user who pressed it.
        if (hadFocus && (!document.activeElement || document.activeElement === body)) button.focus();
      }
    }
  }

  function hostText(host) {
    let text = host.name || host.ip || "an unknown host";
    if (host.ip && host.ip !== host.name) text += " [" + host.ip + "]";
    const bits = [];
    if (!isBlank(host.mx)) bits.push("MX " + host.mx);
    if (!isBlank(host.port)) bits.push("port " + host.port);
    if (host.usable === false) bits.push("skipped for now: it failed recently");
    return bits.length ? text + " (" + bits.join(", ") + ")" : text;
  }

  // What happens to mail at this node, in words a mailbox owner understands.
  function traceVerdict(node) {
    const reason = node.error ? ": " + node.error : " (the server gives no reason)";
    switch (node.kind) {
      case "local": return "Delivered to a mailbox on this server";
      case "remote": {
        const hosts = node.hosts || [];
        return hosts.length ? "Sent on to " + hosts.map(hostText).join(", else ") : "Sent on to another mail server";
      }
      case "pipe": return "Handed to a program: " + node.address;
      case "file": return "Saved to a file on this server: " + node.address;
      case "autoreply": return "Answered by an automatic reply";
      case "discarded": return "Thrown away on purpose: not delivered, and no bounce is sent";
      case "undeliverable": return "Would be rejected" + reason;
      case "deferred": return "Would wait in the queue and be tried again later" + reason;
      case "redirect": return "";
      default: return String(node.kind || "");
    }
  }

  function traceLine(node, top) {
    const line = el("p", "trace-line trace-" + (node.kind || "unknown"));
    const verdict = traceVerdict(node);
    if (TRACE_TARGET_KINDS.has(node.kind)) {
      line.appendChild(el("span", "trace-verdict", verdict));
    } else if (node.kind === "redirect") {
      if (top) {
        line.appendChild(el("span", "trace-addr", node.address));
        line.appendChild(el("span", "trace-verdict", " is an alias or forwarder. Mail to it goes to:"));
      } else {
        line.appendChild(el("span", "trace-verdict", "Forwarded to "));
        line.appendChild(el("span", "trace-addr", node.address));
        line.appendChild(el("span", "trace-verdict", node.hidden
          ? ", an address of another account (where it goes from there is theirs to see)."
          : ", which sends it on to:"));
      }
    } else {
      if (!top) line.appendChild(el("span", "trace-verdict", "Forwarded to "));
      line.appendChild(el("span", "trace-addr", node.address));
      line.appendChild(el("span", "trace-verdict", ": " + verdict));
    }
    if (node.duplicate) line.appendChild(el("span", "muted", " (listed again: it is delivered only once)"));
    return line;
  }

  function traceDetail(node) {
    const bits = [];
    if (node.router) bits.push("router " + node.router);
    if (node.transport) bits.push("transport " + node.transport + (node.driver ? " (" + node.driver + ")" : ""));
    return bits.length ? el("p", "trace-detail", bits.join(", ")) : null;
  }

  function traceNode(node, top) {
    const li = el("li", "trace-node");
    li.appendChild(traceLine(node, top));
    const detail = traceDetail(node);
    if (detail) li.appendChild(detail);
    const children = node.children || [];
    if (children.length) {
      const list = el("ul", "trace-tree");
      for (const child of children) list.appendChild(traceNode(child, false));
      li.appendChild(list);
    }
    return li;
  }

  function traceView(data) {
    const [type, sentence] = TRACE_STATUS[data.status] || ["unknown", "The mail server answered: " + data.status];
    const box = el("div", "explanation trace-summary explanation-" + type);
    const head = el("div", "explanation-head");
    head.appendChild(icon(type));
    head.appendChild(el("p", "explanation-title", sentence));
    box.appendChild(head);
    const tree = el("ul", "trace-tree trace-root");
    tree.appendChild(traceNode(data.tree || {}, true));
    const source = el("p", "trace-source muted", "Answered by " + (data.mta || "the mail server") +
      (data.command && data.command.length ? ": " + data.command.join(" ") : "") + ". Nothing was sent.");
    return [box, tree, source];
  }

  // ---------- details dialog ----------

  const dialog = $("details");
  const detailsBody = $("details-body");
  let opener = null;
  let views = []; // what Back returns to: functions that draw an earlier view again
  let viewSeq = 0; // which view is wanted: an answer for an older one is dropped

  function openDialog() {
    if (!dialog.open) {
      opener = document.activeElement;
      dialog.showModal();
    }
  }

  function section(title, className) {
    const sec = el("section", "details-section" + (className ? " " + className : ""));
    sec.appendChild(el("h3", null, title));
    return sec;
  }

  function showLoading(title) {
    $("details-title").textContent = title;
    detailsBody.replaceChildren(el("p", "muted", "Loading…"));
  }

  function showDialogError(message) {
    const p = el("p", "alert alert-error", message);
    p.setAttribute("role", "alert");
    detailsBody.replaceChildren(p);
  }

  async function openEvent(eventId) {
    const seq = ++viewSeq;
    views = [];
    $("details-back").hidden = true;
    showLoading("Delivery details");
    openDialog();
    try {
      const data = await getJSON(API + "/events/" + encodeURIComponent(eventId));
      if (seq !== viewSeq) return;
      drawEvent(data);
    } catch (err) {
      if (seq !== viewSeq) return;
      showDialogError(err.message || String(err));
    }
    $("details-close").focus();
  }

  async function openMessage(msgid, back) {
    const seq = ++viewSeq;
    views.push(back);
    $("details-back").hidden = false;
    showLoading("Message " + msgid);
    try {
      const story = await getJSON(API + "/messages/" + encodeURIComponent(msgid));
      if (seq !== viewSeq) return; // Back (or Close) was chosen while it loaded
      drawMessage(story);
    } catch (err) {
      if (seq !== viewSeq) return;
      showDialogError(err.message || String(err));
    }
    detailsBody.scrollTop = 0;
    $("details-back").focus();
  }

  function explanationBox(type, explanation, event) {
    const [fallbackTitle, fallbackAdvice] = TYPE_STORY[type] || ["", ""];
    const box = el("div", "explanation explanation-" + (ALL_TYPES.includes(type) ? type : "unknown"));
    const head = el("div", "explanation-head");
    head.appendChild(icon(type));
    head.appendChild(el("p", "explanation-title", (explanation && explanation.reason_text) || fallbackTitle ||
      TYPE_LABEL[type] || type));
    box.appendChild(head);
    const advice = (explanation && explanation.advice) || fallbackAdvice;
    if (advice) box.appendChild(el("p", "explanation-advice", advice));
    if (event && event.message) {
      const reply = el("p", "explanation-reply");
      reply.appendChild(el("span", "reply-label", type === "success" ? "Server said: " : "Server's reply: "));
      reply.appendChild(el("code", null, event.message));
      box.appendChild(reply);
    }
    return box;
  }

  function summaryLine(event) {
    const p = el("p", "details-summary");
    p.appendChild(typeBadge(event.type));
    const bits = [];
    if (event.recipient) bits.push("to " + event.recipient);
    if (event.email) bits.push("from " + event.email);
    else bits.push("from <> (a bounce)");
    if (!isBlank(event.actionunixtime)) bits.push(formatTime(event.actionunixtime));
    p.appendChild(el("span", null, " " + bits.join(" · ")));
    if (event.subject) {
      const frag = document.createDocumentFragment();
      frag.appendChild(p);
      const subject = el("p", "details-subject");
      subject.appendChild(el("span", "muted", "Subject: "));
      subject.appendChild(el("span", null, event.subject));
      frag.appendChild(subject);
      return frag;
    }
    return p;
  }

  function sameEvent(a, b) {
    return a.type === b.type && a.recipient === b.recipient && a.actionunixtime === b.actionunixtime &&
      (a.attempt ?? null) === (b.attempt ?? null) && a.message === b.message;
  }

  function timelineItem(event, current, shownAdvice) {
    const li = el("li", "timeline-item");
    if (current && sameEvent(event, current)) {
      li.classList.add("current");
      li.setAttribute("aria-current", "true");
    }
    li.appendChild(el("span", "timeline-time", formatTime(event.actionunixtime)));
    const what = el("div", "timeline-what");
    const line = el("p", "timeline-head");
    line.appendChild(typeBadge(event.type));
    if (event.recipient) line.appendChild(el("span", null, " " + event.recipient));
    if (!isBlank(event.attempt) && event.type === "defer") {
      line.appendChild(el("span", "muted", " · attempt " + event.attempt));
    }
    what.appendChild(line);
    if (event.reason_text) what.appendChild(el("p", "timeline-reason", event.reason_text));
    if (event.message) what.appendChild(el("p", "timeline-message", event.message));
    // The same advice under every retry is noise: say it once.
    if (event.advice && !shownAdvice.has(event.advice)) {
      shownAdvice.add(event.advice);
      what.appendChild(el("p", "timeline-advice", event.advice));
    }
    li.appendChild(what);
    return li;
  }

  function sameResult(a, b) {
    return a.type === b.type && a.recipient === b.recipient && a.message === b.message;
  }

  function timeline(story, current, back, mainAdvice) {
    const sec = section("What happened to this message", "timeline-section");
    const events = story.events || [];
    const list = el("ol", "timeline");
    const shownAdvice = new Set(mainAdvice ? [mainAdvice] : []);
    const first = events[0];
    if (first && !isBlank(first.sendunixtime)) {
      const li = el("li", "timeline-item timeline-arrival");
      li.appendChild(el("span", "timeline-time", formatTime(first.sendunixtime)));
      const what = el("div", "timeline-what");
      let text = "Received from " + (first.email || "<> (a bounce)");
      if (first.senderhost || first.senderip) {
        text += " via " + [first.senderhost, first.senderip ? "[" + first.senderip + "]" : ""].filter(Boolean).join(" ");
      }
      what.appendChild(el("p", "timeline-message", text));
      li.appendChild(what);
      list.appendChild(li);
    }
    // Runs of retries with the same result (a full mailbox, tried 30 times) show first and last,
    // with the ones between folded away.
    const runs = [];
    for (const event of events) {
      const run = runs[runs.length - 1];
      if (run && sameResult(run[0], event)) run.push(event);
      else runs.push([event]);
    }
    for (const run of runs) {
      if (run.length < 4) {
        for (const event of run) list.appendChild(timelineItem(event, current, shownAdvice));
        continue;
      }
      const middle = run.slice(1, -1);
      list.appendChild(timelineItem(run[0], current, shownAdvice));
      const fold = el("li", "timeline-fold");
      const details = el("details");
      const lastTime = formatTime(middle[middle.length - 1].actionunixtime);
      details.appendChild(el("summary", null, plural(middle.length, "more attempt", "more attempts") +
        " with the same result, until " + lastTime));
      const inner = el("ol", "timeline timeline-inner");
      for (const event of middle) inner.appendChild(timelineItem(event, current, shownAdvice));
      details.appendChild(inner);
      details.open = Boolean(current && middle.some((event) => sameEvent(event, current)));
      fold.appendChild(details);
      list.appendChild(fold);
      list.appendChild(timelineItem(run[run.length - 1], current, shownAdvice));
    }
    sec.appendChild(list);

    const linked = story.linked || [];
    if (linked.length) {
      const parents = new Set(events.map((e) => e.parent_msgid).filter(Boolean));
      const links = el("div", "linked");
      for (const msgid of linked) {
        const button = el("button", "button small linked-button",
          (parents.has(msgid) ? "Open the original message " : "Open the bounce message ") + msgid);
        button.type = "button";
        button.addEventListener("click", () => openMessage(msgid, back));
        links.appendChild(button);
      }
      sec.appendChild(links);
    }
    return sec;
  }

  // Where would mail to this event's recipient go now? The panel's question, asked from the details.
  function traceSection(event) {
    const address = typeof event.recipient === "string" ? event.recipient : "";
    if (!TRACE_ENABLED || !traceable(address) || !inTraceScope(address)) return null;
    const sec = section("Address trace", "trace-section");
    sec.appendChild(el("p", "trace-intro", "Ask this server where it would deliver mail sent to this " +
      "address now. Nothing is sent."));
    // Plain text, not addressText(): its split text nodes would put spaces in the button's name.
    const button = el("button", "button small trace-button", "Where would mail to " + address + " go?");
    button.type = "button";
    const result = el("div", "trace-result");
    result.setAttribute("role", "status");
    result.setAttribute("aria-live", "polite");
    // Back, another message or another event draw new nodes: an answer for these is then not wanted.
    button.addEventListener("click", () => askTrace(address, button, result, () => result.isConnected));
    sec.appendChild(button);
    sec.appendChild(result);
    return sec;
  }

  function fieldsTable(event) {
    const sec = section("Every detail", "fields-section");
    const table = el("table", "fields");
    const tbody = el("tbody");
    const shown = new Set();
    const rows = FIELD_LABELS.concat(Object.keys(event).filter((k) => !FIELD_LABELS.some(([f]) => f === k))
      .map((k) => [k, k]));
    for (const [field, label] of rows) {
      if (shown.has(field) || !(field in event)) continue;
      shown.add(field);
      const tr = el("tr");
      const th = el("th");
      th.scope = "row";
      th.appendChild(el("span", "field-label", label));
      th.appendChild(el("span", "field-name", field));
      const td = el("td");
      const value = event[field];
      const text = formatValue(FIELD_KIND[field], value);
      if (text === "") {
        td.appendChild(el("span", "muted", "—"));
      } else {
        td.textContent = text;
        if (FIELD_KIND[field] === "time") td.title = String(value) + " (Unix time)";
      }
      tr.appendChild(th);
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
    table.appendChild(tbody);
    sec.appendChild(table);
    return sec;
  }

  function rawLines(lines) {
    const sec = section("Log lines", "raw-section");
    if (lines && lines.length) {
      const pre = el("pre", "raw", lines.join("\n"));
      pre.tabIndex = 0; // long lines scroll: let keyboard users scroll them too
      pre.setAttribute("aria-label", "Log lines");
      sec.appendChild(pre);
    } else {
      sec.appendChild(el("p", "muted", "No log lines were kept for this event."));
    }
    return sec;
  }

  function drawEvent(data) {
    const event = data.event || {};
    $("details-title").textContent = "Delivery details";
    const redraw = () => {
      $("details-back").hidden = views.length === 0;
      drawEvent(data);
    };
    const parts = [summaryLine(event), explanationBox(event.type, data.explanation, event)];
    const mainAdvice = (data.explanation && data.explanation.advice) || "";
    if (data.story) parts.push(timeline(data.story, event, redraw, mainAdvice));
    const trace = traceSection(event);
    if (trace) parts.push(trace);
    parts.push(fieldsTable(event));
    parts.push(rawLines(data.raw_lines && data.raw_lines.length ? data.raw_lines
      : data.story ? data.story.raw_lines : []));
    detailsBody.replaceChildren(...parts);
  }

  function drawMessage(story) {
    $("details-title").textContent = "Message " + story.msgid;
    const events = story.events || [];
    const redraw = () => {
      $("details-back").hidden = views.length === 0;
      drawMessage(story);
    };
    const parts = [];
    if (events.length) {
      const latest = events[events.length - 1];
      parts.push(summaryLine(latest));
      parts.push(explanationBox(latest.type, { reason_text: latest.reason_text, advice: latest.advice }, latest));
    }
    parts.push(timeline(story, null, redraw, events.length ? events[events.length - 1].advice : ""));
    parts.push(rawLines(story.raw_lines));
    detailsBody.replaceChildren(...parts);
  }

  function goBack() {
    viewSeq++;
    const draw = views.pop();
    if (draw) draw();
    $("details-back").hidden = views.length === 0;
    (views.length ? $("details-back") : $("details-close")).focus();
  }

  function focusables() {
    return Array.from(dialog.querySelectorAll(
      'button:not([disabled]), [href], input:not([disabled]), select, textarea, summary, ' +
      '[tabindex]:not([tabindex="-1"])'
    )).filter((node) => !node.hidden && node.getClientRects().length > 0);
  }

  // showModal makes the page behind inert; this keeps Tab cycling inside the dialog too.
  function trapFocus(event) {
    if (event.key !== "Tab") return;
    const nodes = focusables();
    if (!nodes.length) return;
    const first = nodes[0];
    const last = nodes[nodes.length - 1];
    if (event.shiftKey && (document.activeElement === first || !dialog.contains(document.activeElement))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !dialog.contains(document.activeElement))) {
      event.preventDefault();
      first.focus();
    }
  }

  // ---------- wiring ----------

  function runFromForm(changes) {
    const s = Object.assign(readForm(), changes || {});
    if (!s.types.length) return;
    runSearch(s);
  }

  function setTypes(types) {
    for (const box of typeBoxes) box.checked = types.includes(box.value);
    showTypesNote("");
  }

  // The health of the log reading, for those allowed to see the server's totals (admins).
  async function loadLogStatus() {
    let stats;
    try {
      stats = await getJSON(API + "/stats");
    } catch (err) {
      return;
    }
    const status = $("log-status");
    if (!stats || stats.lines === null || stats.lines === undefined) return;
    status.textContent = "· Log lines read: " + numberFormat.format(stats.lines) + ", not understood: " +
      numberFormat.format(stats.unparsed) + ".";
    status.hidden = false;
  }

  function init() {
    loadLogStatus();
    window.setInterval(loadLogStatus, 60000);
    try {
      const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (zone) $("timezone-note").textContent = "Times are shown in your local time (" + zone + ").";
    } catch (err) {
      // Keep the generic note.
    }
    renderColumnChooser();

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      runFromForm();
    });
    $("show-all").addEventListener("click", () => {
      setTypes(ALL_TYPES);
      runFromForm();
    });
    $("show-blocked").addEventListener("click", () => {
      setTypes(["failure", "rejected"]);
      runFromForm();
    });

    for (const box of typeBoxes) {
      // Unticking the last ticked box is refused: a search for no kind of event finds nothing.
      box.addEventListener("click", (event) => {
        if (!box.checked && checkedTypes().length === 0) {
          event.preventDefault();
          showTypesNote("At least one kind of event must stay ticked.");
        }
      });
      box.addEventListener("change", () => {
        if (checkedTypes().length) {
          showTypesNote("");
          runFromForm();
        }
      });
    }
    $("limit").addEventListener("change", () => runFromForm());
    $("match").addEventListener("change", () => {
      if ($("q").value.trim()) runFromForm();
    });

    $("trace-run").addEventListener("click", runTrace);
    $("prev-page").addEventListener("click", () => goToPage(-1));
    $("next-page").addEventListener("click", () => goToPage(1));
    $("show-new").addEventListener("click", () => {
      if (applied) runSearch(Object.assign({}, applied, { offset: 0 }), { focusTable: true });
    });
    $("columns-reset").addEventListener("click", () => {
      visibleColumns = DEFAULT_COLUMNS.slice();
      saveColumns();
      renderColumnChooser();
      if (lastData) renderResults(lastData);
    });
    document.addEventListener("keydown", (event) => {
      const chooser = $("column-chooser");
      if (event.key === "Escape" && chooser.open && !dialog.open) {
        chooser.open = false;
        chooser.querySelector("summary").focus();
      }
    });
    document.addEventListener("click", (event) => {
      const chooser = $("column-chooser");
      if (chooser.open && !chooser.contains(event.target)) chooser.open = false;
    });

    const tbody = $("events-body");
    tbody.addEventListener("click", (event) => {
      const row = event.target.closest("tr");
      if (!row || !row.dataset.eventId) return;
      // Selecting text to copy it is not a click on the row.
      const selection = window.getSelection();
      if (selection && selection.toString() && !event.target.closest("button")) return;
      openEvent(row.dataset.eventId);
    });
    tbody.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || event.target.closest("button")) return;
      const row = event.target.closest("tr");
      if (row && row.dataset.eventId) openEvent(row.dataset.eventId);
    });

    $("details-close").addEventListener("click", () => dialog.close());
    $("details-back").addEventListener("click", goBack);
    $("details-print").addEventListener("click", () => window.print());
    dialog.addEventListener("keydown", trapFocus);
    document.addEventListener("focusin", (event) => {
      // Should focus still get out (the browser's own controls), bring it back in.
      if (dialog.open && !dialog.contains(event.target)) {
        const nodes = focusables();
        if (nodes.length) nodes[0].focus();
      }
    });
    // Print the folded retries too; fold them again afterwards.
    let unfolded = [];
    window.addEventListener("beforeprint", () => {
      unfolded = Array.from(dialog.querySelectorAll(".timeline-fold details:not([open])"));
      for (const fold of unfolded) fold.open = true;
    });
    window.addEventListener("afterprint", () => {
      for (const fold of unfolded) fold.open = false;
      unfolded = [];
    });
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) dialog.close(); // a click on the backdrop
    });
    dialog.addEventListener("close", () => {
      viewSeq++;
      views = [];
      if (opener && !document.contains(opener)) {
        // The table was redrawn meanwhile: go back to the same event's row, else to the table.
        const row = opener.closest && opener.closest("tr");
        const id = row ? row.dataset.eventId : "";
        opener = (id && document.querySelector('#events-body tr[data-event-id="' + CSS.escape(id) + '"] .row-open')) ||
          $("table-scroller");
      }
      if (opener) opener.focus();
      opener = null;
    });

    const start = stateFromUrl();
    writeForm(start);
    runSearch(start);
    setInterval(poll, POLL_MS);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) poll();
    });
  }

  init();
})();
