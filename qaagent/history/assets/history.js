// Fills the flaky leaderboard and the slowest-tests table of qaagent's history report.
// Every recorded text arrives as JSON and is put on the page with textContent, never as markup.
'use strict';
(function () {
  const data = JSON.parse(document.getElementById('qa-history').textContent);
  function cell(row, text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }
  const flakyBody = document.querySelector('#flaky-table tbody');
  const note = document.getElementById('flaky-note');
  function drawFlaky(filter) {
    flakyBody.textContent = '';
    let shown = 0;
    data.flaky.forEach(function (item, index) {
      if (filter && item.test.toLowerCase().indexOf(filter) < 0) return;
      const row = document.createElement('tr');
      row.className = 'row';
      cell(row, String(index + 1), 'num');
      const name = cell(row, item.test, 'name');
      if (item.file) name.title = item.file;
      cell(row, (item.rate * 100).toFixed(1) + ' %', 'num');
      cell(row, item.flaky + ' / ' + item.results, 'num');
      cell(row, item.last ? item.last + (item.commit ? ' (' + item.commit + ')' : '') : '–');
      flakyBody.appendChild(row);
      shown += 1;
    });
    let text = data.flaky.length ? '' : 'No flaky test in the window.';
    if (data.flaky_total > data.flaky.length) text = 'The ' + data.flaky.length + ' flakiest of ' + data.flaky_total + '.';
    if (filter) text = shown + ' of ' + data.flaky.length + ' match.';
    note.textContent = text;
  }
  const filter = document.getElementById('flaky-filter');
  let timer = null;
  filter.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(function () { drawFlaky(filter.value.trim().toLowerCase()); }, 150);
  });
  drawFlaky('');
  const slowBody = document.querySelector('#slow-table tbody');
  data.slowest.forEach(function (item) {
    const row = document.createElement('tr');
    row.className = 'row';
    cell(row, item.test, 'name');
    cell(row, item.p50.toFixed(3) + ' s', 'num');
    cell(row, String(item.runs), 'num');
    slowBody.appendChild(row);
  });
  document.body.dataset.ready = 'true';
})();
