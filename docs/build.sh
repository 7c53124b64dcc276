#!/usr/bin/env bash
# Build the documentation site as CI does: execute the tutorial notebooks (a failing cell fails
# the build) and render them into docs/tutorials/*.md, then `mkdocs build --strict` (a broken
# link, a missing page or anchor, or an API reference that does not resolve fails it).
#   bash docs/build.sh            # tutorials + strict build into site/
#   bash docs/build.sh --no-run   # strict build of the committed tutorial pages only
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"  # the tutorials' models are tiny
export NO_MKDOCS_2_WARNING=1

if [[ "${1:-}" != "--no-run" ]]; then
    python docs/render_tutorials.py
fi
python -m mkdocs build --strict --site-dir site
echo "[docs] built site/ ($(find site -name '*.html' | wc -l) pages)"
