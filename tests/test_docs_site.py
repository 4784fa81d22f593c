"""The documentation site builds with ``mkdocs build --strict``: every page of the nav exists, every link and anchor
between pages resolves, and no page of docs/ is left out of the nav (mkdocs.yml turns those into warnings, and
--strict into failures). The README's own links into docs/ must point at files that exist."""
import os
import re
import subprocess
import sys
from conftest import ROOT
from os import path as osp

# [text](target) in Markdown, outside code: the README links into docs/ with relative paths
LINK = re.compile(r'\]\(([^)\s]+)\)')


def test_the_site_builds_strictly(tmp_path):
    site = tmp_path / 'site'
    env = dict(os.environ, NO_MKDOCS_2_WARNING='1')  # Material's end-of-life banner, not a problem of the pages
    result = subprocess.run([sys.executable, '-m', 'mkdocs', 'build', '--strict', '--config-file',
                             osp.join(ROOT, 'mkdocs.yml'), '--site-dir', str(site)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (site / 'training' / 'index.html').is_file()


def test_the_readme_links_into_files_that_exist():
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        text = re.sub(r'^```.*?^```', '', f.read(), flags=re.M | re.S)
    targets = [link.split('#')[0] for link in LINK.findall(text) if '://' not in link]
    assert 'docs/training.md' in targets
    missing = [target for target in targets if target and not osp.exists(osp.join(ROOT, target))]
    assert not missing, f'README.md links to files that do not exist: {missing}'
