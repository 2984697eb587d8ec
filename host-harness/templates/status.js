(function () {
  // While an import runs, show its progress from /status; reload when it ends (unless the
  // form has unsaved changes).
  var box = document.getElementById('live');
  var text = document.getElementById('live-text');
  var form = document.getElementById('settings-form');
  var running = box.getAttribute('data-running') === 'true';
  var dirty = false;
  form.addEventListener('input', function () { dirty = true; });
  function done() {
    if (dirty) {
      text.textContent = 'An import finished. Reload the page to see it (your unsaved changes stay until then).';
      var spin = box.querySelector('.spin');
      if (spin) { spin.remove(); }
      return;
    }
    // Drop the result of an earlier post (?r=…), keep the table's order.
    var sort = new URLSearchParams(location.search).get('sort');
    var target = location.pathname + (sort ? '?sort=' + encodeURIComponent(sort) : '');
    if (location.pathname + location.search === target) {
      // Only the fragment would change: that alone does not reload.
      history.replaceState(null, '', target + '#history');
      location.reload();
    } else {
      location.replace(target + '#history');
    }
  }
  function tick() {
    fetch(box.getAttribute('data-status-url'), { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.running) {
          running = true;
          box.hidden = false;
          text.textContent = s.running.text;
          setTimeout(tick, 600);
        } else if (running) {
          running = false;
          done();
        } else {
          setTimeout(tick, 4000);
        }
      })
      .catch(function () { setTimeout(tick, 5000); });
  }
  setTimeout(tick, running ? 300 : 4000);
})();
