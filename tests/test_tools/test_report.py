"""rnan_basicsr/tools/results.py: the report's structure, relative image links that exist, and no external resource.

``check_report`` is shared with the evaluate and reproduce tests."""
import numpy as np
from html.parser import HTMLParser
from os import path as osp

from rnan_basicsr.tools import results


class _Page(HTMLParser):

    def __init__(self):
        super().__init__()
        self.h2, self.image_rows, self.links, self.tables, self.compares = 0, 0, [], 0, []
        self._in_images = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == 'h2':
            self.h2 += 1
        if tag == 'table':
            self.tables += 1
            self._in_images = attrs.get('class') == 'images'
        if tag == 'td' and self._in_images and attrs.get('class') == 'compare':
            self.image_rows += 1
        if tag == 'div' and attrs.get('class') == 'cmp':
            self.compares.append({k[5:]: v for k, v in attrs.items() if k.startswith('data-')})
        for key in ('src', 'href'):
            if key in attrs:
                self.links.append(attrs[key])
        self.links += [v for k, v in attrs.items() if k.startswith('data-') and v.endswith('.png')]


def check_report(out, sections, rows, kinds):
    """Parse ``<out>/report.html``: ``sections`` set headings, ``rows`` image rows, each comparison offering ``kinds``,
    every link relative and pointing at an existing file of ``out``. Returns the page's text."""
    with open(osp.join(out, 'report.html'), encoding='utf-8') as f:
        page = f.read()
    parser = _Page()
    parser.feed(page)
    assert page.startswith('<!DOCTYPE html>') and '</html>' in page
    assert parser.h2 == sections and parser.image_rows == rows and len(parser.compares) == rows
    assert parser.tables == sections + 1  # the results table, then one per set
    for compare in parser.compares:
        assert tuple(k for k in ('lq', 'output', 'gt') if k in compare) == tuple(kinds)
    assert parser.links
    for link in parser.links:
        assert not link.startswith(('/', 'http:', 'https:', 'file:')) and '\\' not in link, link
        assert osp.isfile(osp.join(out, *link.split('/'))), link
    return page


def test_report_page_and_images(tmp_path):
    rng = np.random.default_rng(0)
    with results.ImageStore() as store:
        rows = []
        for name in ('a b', 'c'):
            images = {}
            for kind in ('lq', 'output', 'gt'):
                img = rng.integers(0, 255, (8 if kind == 'lq' else 16, 16, 3), dtype=np.uint8)
                images[kind] = store.save('Set5 x2', name, kind, img)
            rows.append(results.ImageRow(name, ['30.00', '0.9000'], images, (16, 16)))
        assert not (tmp_path / 'out').exists()  # nothing is written beside the report before publish
        store.publish(str(tmp_path / 'out'))
    table = results.HtmlTable('caption <&>', ['Test set', 'x2'], [['Set5', '30.00 / 0.9000']])
    (tmp_path / 'out' / 'report.html').write_text(results.render(
        'Title <1>', 'protocol & more', [table], [results.Section('Set5 x2', ['PSNR (dB)', 'SSIM'], rows)]),
        encoding='utf-8')
    page = check_report(str(tmp_path / 'out'), sections=1, rows=2, kinds=('lq', 'output', 'gt'))
    assert 'Title &lt;1&gt;' in page and 'caption &lt;&amp;&gt;' in page
    assert 'report_files/Set5_x2/a_b_output.png' in page
    assert '<script>' in page and '<link' not in page  # inline script and style only


def test_an_unpublished_store_leaves_nothing(tmp_path):
    with results.ImageStore() as store:
        store.save('s', 'n', 'gt', np.zeros((4, 4), np.uint8))
        root = store.root
        assert osp.isdir(root)
    assert not osp.exists(root)
