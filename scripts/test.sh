#!/usr/bin/env bash
# Runs the whole test suite: unit, API (once per dialect: SQLite and PostgreSQL), e2e (real
# namespaces; needs root; the L2 driver matrix once per driver of DRIVERS), the dashboard in Chromium (root, after e2e) and client compatibility.
# Starts the local PostgreSQL cluster for the PostgreSQL dialect when it is installed but not
# running. As root it first installs what it needs (scripts/install-deps.sh --test).
set -euo pipefail
cd "$(dirname "$0")/.."

# What the suite needs besides the runtime (PostgreSQL, Chromium, the openstack CLI…), npm ci and
# the build: installed when missing, quick when everything is there.
if [[ $(id -u) == 0 ]]; then bash scripts/install-deps.sh --test; fi

if [[ -z "${DIALECTS:-}" ]]; then
  if bash scripts/postgres.sh >/dev/null; then
    export DIALECTS=sqlite,postgres
  else
    echo "test: PostgreSQL not available; API tests run on SQLite only" >&2
    export DIALECTS=sqlite
  fi
fi
# The L2 driver matrix (test/e2e/drivers.test.ts) runs once per driver, plus mixed hosts.
export DRIVERS=${DRIVERS:-linuxbridge,openvswitch}
export NEUTRINO_TEST_PG_URL=${NEUTRINO_TEST_PG_URL:-postgres://neutrino:neutrino@127.0.0.1:5432/postgres}

echo "test: typecheck and lint"
npx tsc -p tsconfig.json --noEmit
npx tsc -p tsconfig.bench.json
npx tsc -p web/tsconfig.json
npx biome check src test bench web

suites=(test/unit test/api test/security)
if [[ $(id -u) == 0 ]]; then suites+=(test/e2e test/browser); else echo "test: not root; skipping e2e and browser" >&2; fi
suites+=(test/compat)

files=()
for s in "${suites[@]}"; do
  [[ -d $s ]] && while IFS= read -r f; do files+=("$f"); done < <(find "$s" -name '*.test.ts' | sort)
done
# The longest files start first (each takes minutes of real CLI or kernel work), so the end of the
# run is not one long file running alone while the other slot idles.
first=(test/e2e/cli.test.ts test/e2e/dataplane.test.ts test/e2e/security-groups.test.ts test/e2e/trace-check.test.ts)
ordered=()
for f in "${first[@]}"; do [[ " ${files[*]} " == *" $f "* ]] && ordered+=("$f"); done
for f in "${files[@]}"; do [[ " ${first[*]} " == *" $f "* ]] || ordered+=("$f"); done
exec node --import tsx --test --test-reporter=tap --test-concurrency="${TEST_CONCURRENCY:-2}" "${ordered[@]}"
