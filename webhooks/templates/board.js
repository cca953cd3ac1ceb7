// The GO/NOGO board's live updates. Without this script the board is a
// plain table that reloads every minute; with it, each row is drawn anew
// by the server (GET /board/events, server-sent events) within moments of
// a new decision, and the countdowns tick.
(function () {
  'use strict';
  var rows = document.getElementById('rows');
  var live = document.getElementById('live');
  if (!rows) { return; }

  function span(ms) {
    var m = Math.round(Math.abs(ms) / 60000);
    if (m >= 1440) { return Math.floor(m / 1440) + 'd ' + Math.floor((m % 1440) / 60) + 'h'; }
    if (m >= 60) { return Math.floor(m / 60) + 'h ' + String(m % 60).padStart(2, '0') + 'm'; }
    return m + 'm';
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll('.countdown[data-at]').forEach(function (el) {
      var d = Number(el.dataset.at) - now;
      el.textContent = el.dataset.clock + ', ' + (d > 0 ? 'in ' + span(d) : span(d) + ' ago');
    });
  }
  setInterval(tick, 15000);

  if (!window.EventSource) { return; }
  var es = new EventSource('/board/events');
  es.addEventListener('ready', function () {
    live.textContent = 'live: rows change as decisions are made';
    document.body.dataset.live = 'ready';
  });
  es.addEventListener('row', function (e) {
    var ev = JSON.parse(e.data);
    var old = document.getElementById(ev.id);
    if (!ev.html) {
      if (old) { old.remove(); }
      return;
    }
    // The server drew the row with html/template: its text is escaped.
    var t = document.createElement('tbody');
    t.innerHTML = ev.html;
    var row = t.querySelector('tr');
    if (!row) { return; }
    if (old) {
      if (old.outerHTML === row.outerHTML) { return; }
      old.replaceWith(row);
    } else {
      var empty = document.getElementById('empty');
      if (empty) { empty.remove(); }
      rows.appendChild(row);
    }
    row.classList.add('flash');
    tick();
  });
  es.addEventListener('reload', function () { location.reload(); });
  es.onerror = function () {
    live.textContent = 'live updates paused: reconnecting';
    document.body.dataset.live = 'lost';
  };
})();
