# Build mixsearch's wheel, install it into a fresh venv (its dependencies come from the CI environment's own
# site-packages, so nothing is downloaded), and run the CLI from an empty folder outside the checkout.
wheel_check() {
    local work
    work=$(mktemp -d /tmp/mixsearch-wheel.XXXXXX)
    python -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" .
    python -m venv --system-site-packages "$work/venv"
    "$work/venv/bin/python" -m pip install --quiet --progress-bar off "$work"/dist/mixsearch-*.whl
    mkdir "$work/outside"
    (
        cd "$work/outside"
        export XDG_CACHE_HOME="$work/cache"
        local bin="$work/venv/bin"
        "$bin/python" -c "import mixsearch, sys; sys.exit(not mixsearch.__file__.startswith('$work/venv'))"
        "$bin/mixsearch" examples
        "$bin/mixsearch" validate default
        "$bin/mixsearch" sample default --seed 1 --out arch.json
        "$bin/mixsearch" generate arch.json --out module
        "$bin/python" -c "import sys; sys.path.insert(0, 'module'); import mixattn; mixattn.MixAttn(16)"
        "$bin/mixsearch" run default --budget tiny --out run --quiet
        test -s run/report.md && test -s run/mixattn.py && test -s run/search.json
    )
    rm -rf "$work"
    echo "wheel check passed: generate and a tiny run from an installed wheel, outside the checkout"
}
