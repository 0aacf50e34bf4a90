/* qaagent report.html: unpacks the embedded test data and renders it page by page. Every
   test-supplied string goes in with textContent, never as markup.
   The data block is the base64 of a zlib stream (DecompressionStream 'deflate') of one JSON
   document: {v, idPrefix, rows, strings, suites, compared, note}; a row is
   [suite, classname, name, status, duration, file, line, flaky, attempts, id, message, problem?]. */
'use strict';
(function () {
  const STATUS = { p: 'passed', f: 'failed', e: 'error', s: 'skipped' };
  const ICON = { passed: '✓', failed: '✗', error: '!', skipped: '–', flaky: '↻' };
  const PAGE = 100;
  const PROBLEM_PAGE = 20;
  const NAME_SHOWN = 500;
  const IMAGE = /\.(png|jpe?g|gif|webp|bmp)$/i;
  const S = 0, CLS = 1, NAME = 2, ST = 3, DUR = 4, FILE = 5, LINE = 6, FLAKY = 7, ATT = 8, ID = 9, MSG = 10, PROB = 11;

  function note(text) {
    const node = document.getElementById('data-note');
    if (!node || !text) return;
    node.textContent = text;
    node.hidden = false;
  }

  function unpack() {
    if (typeof DecompressionStream !== 'function') {
      return Promise.reject(new Error('this browser cannot unpack the report data (it needs DecompressionStream: ' +
        'Chrome 80, Firefox 113, Safari 16.4 or newer)'));
    }
    const raw = atob(document.getElementById('qa-data').textContent);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'));
    return new Response(stream).text().then(JSON.parse);
  }

  unpack().then(render, function (error) {
    note('The test tables cannot be shown: ' + error.message + '. The data is also in tests.jsonl.gz and junit.xml.');
    document.body.setAttribute('data-ready', 'error');
  });

  function render(data) {
    const rows = data.rows;
    const strings = data.strings;
    note(data.note);
    function problemOf(index) { return rows[index][PROB]; }
    function evidenceId(index) {
      const own = rows[index][ID];
      return own || (data.idPrefix ? data.idPrefix + String(index + 1).padStart(4, '0') : '');
    }

    function el(tag, attrs, text) {
      const node = document.createElement(tag);
      if (attrs) for (const key of Object.keys(attrs)) node.setAttribute(key, attrs[key]);
      if (text !== undefined && text !== null) node.textContent = String(text);
      return node;
    }
    function statusOf(row) { return row[FLAKY] && row[ST] === 'p' ? 'flaky' : STATUS[row[ST]]; }
    function rank(row) { return row[ST] === 'f' || row[ST] === 'e' ? 0 : row[FLAKY] ? 1 : row[ST] === 's' ? 2 : 3; }
    function shortName(text) { return text.length > NAME_SHOWN ? text.slice(0, NAME_SHOWN) + '… (' + text.length.toLocaleString() + ' characters)' : text; }
    function where(row) {
      const file = row[FILE] >= 0 ? strings[row[FILE]] : '';
      return file ? file + (row[LINE] ? ':' + row[LINE] : '') : '';
    }
    /* a test its tool left without a name (behave's untitled Scenario:) gets a label, as in the summaries */
    function testName(row) { return row[NAME].trim() ? row[NAME] : '(unnamed)'; }
    function label(row) {
      const cls = row[CLS] >= 0 ? strings[row[CLS]] : '';
      return (cls ? cls + ' › ' : '') + testName(row);
    }
    function shownLabel(row) {
      const cls = row[CLS] >= 0 ? strings[row[CLS]] : '';
      return (cls ? shortName(cls) + ' › ' : '') + shortName(testName(row));
    }
    function href(path) { return path.split('/').map(encodeURIComponent).join('/'); }
    function seconds(value) { return (Math.round(value * 1000) / 1000).toFixed(3) + ' s'; }
    function anchor(index) { return 'test-' + index; }

    /* -- the base-branch groups (the manifest's history comparison), as text --------- */
    const compared = document.getElementById('base-branch-groups');
    if (compared && data.compared) {
      const heading = document.getElementById('base-branch-h');
      if (heading) heading.textContent = 'Against the base branch: ' + String(data.compared.label || '');
      for (const group of data.compared.groups || []) {
        const title = el('h3', {'class': 'group-' + String(group.key)}, String(group.heading) + ': ');
        title.appendChild(el('span', {'class': 'count'}, group.count));
        compared.appendChild(title);
        const items = el('ul', {'class': 'group-' + String(group.key)});
        for (const test of group.tests || []) {
          const item = el('li');
          item.appendChild(el('code', null, test.id));
          item.appendChild(document.createTextNode(' — ' + String(test.note)));
          items.appendChild(item);
        }
        const rest = group.count - (group.tests || []).length;
        if (rest > 0) items.appendChild(el('li', null, '…and ' + rest.toLocaleString() + ' more'));
        compared.appendChild(items);
      }
    }

    /* -- timeline: hover or focus a bar shows its times ------------------------------ */
    const info = document.getElementById('tl-info');
    for (const bar of document.querySelectorAll('.bar')) {
      const show = function () { if (info) info.textContent = bar.getAttribute('data-tip'); };
      bar.addEventListener('focus', show);
      bar.addEventListener('mouseenter', show);
    }

    /* -- failed and flaky tests, failures first ------------------------------------- */
    const problemOrder = [];
    for (let i = 0; i < rows.length; i++) if (rows[i].length > PROB) problemOrder.push(i);
    problemOrder.sort(function (a, b) { return rank(rows[a]) - rank(rows[b]) || a - b; });
    const problemPosition = new Map(problemOrder.map(function (index, pos) { return [index, pos]; }));
    const list = document.getElementById('problem-list');
    let problemPage = 0;

    function block(parent, title, text, open) {
      if (!text) return;
      const details = el('details');
      if (open) details.open = true;
      details.appendChild(el('summary', null, title));
      details.appendChild(el('pre', null, text));
      parent.appendChild(details);
    }

    function renderProblem(index) {
      const row = rows[index];
      const p = problemOf(index);
      const status = statusOf(row);
      const art = el('article', { class: 'problem k-' + status, id: anchor(index), tabindex: '-1' });
      const h = el('h3');
      h.appendChild(el('span', { class: 'badge st-' + status }, ICON[status] + ' ' + status));
      h.appendChild(document.createTextNode(' ' + shownLabel(row)));
      art.appendChild(h);
      const dl = el('dl');
      const facts = [
        ['Suite', data.suites[row[S]]], ['Location', where(row) || '–'], ['Category', p.category || '–'],
        ['Attempts', row[ATT]], ['Duration', seconds(row[DUR])], ['Evidence id', evidenceId(index) || '–'],
      ];
      for (const fact of facts) { dl.appendChild(el('dt', null, fact[0])); dl.appendChild(el('dd', null, fact[1])); }
      art.appendChild(dl);
      if (row[NAME].length > NAME_SHOWN) block(art, 'Full name', row[NAME], false);
      const message = p.message || row[MSG];
      if (message) art.appendChild(el('pre', { class: 'message' }, (p.type ? p.type + ': ' : '') + message));
      block(art, 'Details (traceback)', p.details && p.details !== message ? p.details : '', status !== 'flaky');
      block(art, 'Captured stdout', p.stdout, false);
      block(art, 'Captured stderr', p.stderr, false);
      const reruns = p.reruns || [];
      if (reruns.length) {
        const section = el('div', { class: 'reruns' });
        section.appendChild(el('h4', null, status === 'flaky'
          ? 'Failed attempts before it passed (' + reruns.length + ')'
          : 'Other failed attempts (' + reruns.length + ')'));
        const ol = el('ol');
        for (const r of reruns) {
          const li = el('li');
          li.appendChild(el('strong', null, r.status));
          li.appendChild(document.createTextNode(' after ' + seconds(r.duration || 0) + (r.message ? ': ' : '')));
          if (r.message) li.appendChild(el('span', null, (r.type ? r.type + ': ' : '') + r.message));
          block(li, 'Details', r.details && r.details !== r.message ? r.details : '', false);
          block(li, 'Captured stdout', r.stdout, false);
          block(li, 'Captured stderr', r.stderr, false);
          ol.appendChild(li);
        }
        section.appendChild(ol);
        art.appendChild(section);
      }
      const artifacts = p.artifacts || [];
      if (artifacts.length) {
        art.appendChild(el('h4', null, 'Artifacts'));
        const ul = el('ul');
        const shots = el('div', { class: 'shots' });
        for (const path of artifacts) {
          const li = el('li');
          li.appendChild(el('a', { href: href(path) }, path));
          ul.appendChild(li);
          if (IMAGE.test(path)) shots.appendChild(el('img', { src: href(path), alt: 'Screenshot ' + path.split('/').pop() + ' of ' + shortName(testName(row)) }));
        }
        art.appendChild(ul);
        art.appendChild(shots);
      }
      return art;
    }

    function pager(total, size, page, noun, go) {
      const nav = el('nav', { class: 'pager', 'aria-label': noun + ' pages' });
      const from = total ? page * size + 1 : 0;
      const to = Math.min(total, (page + 1) * size);
      const prev = el('button', { type: 'button' }, 'Previous');
      const next = el('button', { type: 'button' }, 'Next');
      prev.disabled = page === 0;
      next.disabled = to >= total;
      prev.addEventListener('click', function () { go(page - 1); });
      next.addEventListener('click', function () { go(page + 1); });
      nav.appendChild(prev);
      nav.appendChild(el('span', { 'aria-live': 'polite', class: 'range' }, noun + ' ' + from.toLocaleString() + '–' + to.toLocaleString() + ' of ' + total.toLocaleString()));
      nav.appendChild(next);
      return nav;
    }

    function renderProblems(page) {
      problemPage = page;
      list.replaceChildren();
      if (!problemOrder.length) { list.appendChild(el('p', null, 'No failed or flaky tests.')); return; }
      const pages = problemOrder.length > PROBLEM_PAGE;
      if (pages) list.appendChild(pager(problemOrder.length, PROBLEM_PAGE, page, 'Failed and flaky tests', renderProblems));
      for (const index of problemOrder.slice(page * PROBLEM_PAGE, (page + 1) * PROBLEM_PAGE)) list.appendChild(renderProblem(index));
      if (pages) list.appendChild(pager(problemOrder.length, PROBLEM_PAGE, page, 'Failed and flaky tests', renderProblems));
    }

    function showProblem(index) {
      const pos = problemPosition.get(index);
      if (pos === undefined) return;
      const page = Math.floor(pos / PROBLEM_PAGE);
      if (page !== problemPage || !document.getElementById(anchor(index))) renderProblems(page);
      const target = document.getElementById(anchor(index));
      if (target) { target.scrollIntoView(); target.focus(); }
    }

    /* -- per-suite tables: failures first, filter by status, search by name ---------- */
    const bySuite = data.suites.map(function () { return []; });
    for (let i = 0; i < rows.length; i++) bySuite[rows[i][S]].push(i);
    let lowered = null;

    function matches(filter, row) {
      if (filter === 'all') return true;
      if (filter === 'problems') return row[ST] === 'f' || row[ST] === 'e' || row[FLAKY] === 1;
      if (filter === 'flaky') return row[FLAKY] === 1;
      return STATUS[row[ST]] === filter;
    }

    function setupSuite(container) {
      const suite = Number(container.getAttribute('data-suite'));
      const all = bySuite[suite] || [];
      all.sort(function (a, b) { return rank(rows[a]) - rank(rows[b]) || a - b; });
      const controls = el('div', { class: 'controls' });
      const statusLabel = el('label', null, 'Status');
      const select = el('select', { class: 'status-filter', 'aria-label': 'Show tests with status' });
      for (const option of [['all', 'All'], ['problems', 'Failed, errors and flaky'], ['failed', 'Failed'], ['error', 'Errors'], ['flaky', 'Flaky'], ['skipped', 'Skipped'], ['passed', 'Passed']]) {
        select.appendChild(el('option', { value: option[0] }, option[1]));
      }
      statusLabel.appendChild(select);
      const searchLabel = el('label', null, 'Search by name');
      const search = el('input', { type: 'search', class: 'name-search', placeholder: 'test name' });
      searchLabel.appendChild(search);
      controls.appendChild(statusLabel);
      controls.appendChild(searchLabel);
      container.appendChild(controls);
      const table = el('table', { class: 'tests-table' });
      table.appendChild(el('caption', null, 'Tests of ' + data.suites[suite] + ' (' + all.length.toLocaleString() + ')'));
      const head = el('tr');
      for (const title of ['Status', 'Test', 'Location', 'Duration', 'Attempts', 'Evidence id']) head.appendChild(el('th', { scope: 'col' }, title));
      const thead = el('thead');
      thead.appendChild(head);
      table.appendChild(thead);
      const tbody = el('tbody');
      table.appendChild(tbody);
      const top = el('div');
      const bottom = el('div');
      container.appendChild(top);
      container.appendChild(table);
      container.appendChild(bottom);
      let shown = all;
      let page = 0;

      function draw(newPage) {
        page = Math.max(0, newPage);
        tbody.replaceChildren();
        const frag = document.createDocumentFragment();
        for (const index of shown.slice(page * PAGE, (page + 1) * PAGE)) {
          const row = rows[index];
          const status = statusOf(row);
          const tr = el('tr', { class: 'row', 'data-status': status });
          tr.appendChild(el('td', { class: 'status st-' + status }, ICON[status] + ' ' + status));
          const name = el('td', { class: 'name' });
          if (problemPosition.has(index)) {
            const link = el('a', { href: '#' + anchor(index) }, shownLabel(row));
            link.addEventListener('click', function (event) { event.preventDefault(); history.replaceState(null, '', '#' + anchor(index)); showProblem(index); });
            name.appendChild(link);
          } else {
            name.textContent = shownLabel(row);
          }
          if (row[MSG] && row[ST] === 's') name.appendChild(el('div', { class: 'hint' }, shortName(row[MSG])));
          tr.appendChild(name);
          tr.appendChild(el("td", null, where(row)));
          tr.appendChild(el('td', { class: 'num' }, seconds(row[DUR])));
          tr.appendChild(el('td', { class: 'num' }, row[ATT]));
          tr.appendChild(el('td', null, evidenceId(index)));
          frag.appendChild(tr);
        }
        if (!shown.length) {
          const tr = el('tr');
          tr.appendChild(el('td', { colspan: '6' }, 'No tests match.'));
          frag.appendChild(tr);
        }
        tbody.appendChild(frag);
        top.replaceChildren(pager(shown.length, PAGE, page, 'Tests', draw));
        bottom.replaceChildren(pager(shown.length, PAGE, page, 'Tests', draw));
      }

      function apply() {
        const filter = select.value;
        const needle = search.value.trim().toLowerCase();
        if (needle && lowered === null) lowered = rows.map(function (row) { return label(row).toLowerCase(); });
        shown = all.filter(function (index) { return matches(filter, rows[index]) && (!needle || lowered[index].includes(needle)); });
        draw(0);
      }
      let timer = 0;
      select.addEventListener('change', apply);
      search.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(apply, 150); });
      draw(0);
    }

    renderProblems(0);
    const more = document.getElementById('more-suites');
    for (let suite = document.querySelectorAll('.tests[data-suite]').length; suite < data.suites.length; suite++) {
      // a suite that only the cases name (the manifest does not list it): a section of its own
      if (!more) break;
      const section = el('section', { class: 'suite' });
      section.appendChild(el('h3', null, data.suites[suite]));
      section.appendChild(el('div', { class: 'tests', 'data-suite': String(suite) }));
      more.appendChild(section);
    }
    for (const container of document.querySelectorAll('.tests[data-suite]')) setupSuite(container);
    function fromHash() {
      const match = /^#test-(\d+)$/.exec(location.hash);
      if (match) showProblem(Number(match[1]));
    }
    window.addEventListener('hashchange', fromHash);
    fromHash();
    document.body.setAttribute('data-ready', 'true');
  }
})();
