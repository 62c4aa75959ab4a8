#!/usr/bin/env bash
# tools/install-deps takes libsrtp2's source from the mirror apt already uses:
# its deb entries for this release, turned into deb-src entries. These cases
# feed the conversion apt source files of both formats (TAP output).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../tools/install-deps
source "$here/../../tools/install-deps"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
n=0
failed=0

# check NAME EXPECTED ACTUAL
check() {
  n=$((n + 1))
  if [ "$2" == "$3" ]; then
    echo "ok $n - $1"
  else
    failed=$((failed + 1))
    echo "not ok $n - $1"
    diff <(echo "$2") <(echo "$3") | sed 's/^/# /'
  fi
}

echo "1..6"

# One-line format: the release's own suite kept with its options and
# components, comments dropped; updates, security, third-party suites, flat
# repositories, deb-src and commented-out entries left out.
mkdir "$scratch/oneline"
cat >"$scratch/oneline/sources.list" <<'LIST'
# the release
deb http://mirror.example/debian bookworm main contrib
deb [arch=amd64 signed-by=/usr/share/keyrings/example.gpg] http://mirror.example/debian  bookworm main   # pinned
deb [ trusted=yes ] http://local.example/debian bookworm main
deb-src http://mirror.example/debian bookworm main
deb http://mirror.example/debian bookworm-updates main
deb http://mirror.example/debian-security bookworm-security main
deb [signed-by=/usr/share/keyrings/third.gpg] https://third.example/apt nodistro main
#deb http://old.example/debian bookworm main
deb http://flat.example/repo ./
deb http://mirror.example/debian bullseye main
deb http://mirror.example/debian bookworm
LIST
deb_src_entries bookworm "$scratch/oneline" "$scratch/oneline/sources.list"
check "one-line entries become one-line deb-src entries" \
  "deb-src http://mirror.example/debian bookworm main contrib
deb-src [arch=amd64 signed-by=/usr/share/keyrings/example.gpg] http://mirror.example/debian  bookworm main
deb-src [ trusted=yes ] http://local.example/debian bookworm main" \
  "$(cat "$scratch/oneline/parley-src.list")"
check "no deb822 stanza from one-line entries" "" "$(cat "$scratch/oneline/parley-src.sources")"

# deb822: the release's suite picked out of Suites, every other field
# (a multi-line Signed-By key among them) kept; disabled stanzas, deb-src only
# stanzas and other suites left out.
mkdir "$scratch/deb822"
cat >"$scratch/deb822/debian.sources" <<'SOURCES'
# The release and its updates
Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

types: deb deb-src
uris: http://other.example/debian
# a comment inside a stanza
suites: bookworm
components: main contrib
architectures: amd64
signed-by:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mDMEZ0000000000000000000000000000
 -----END PGP PUBLIC KEY BLOCK-----

Types: deb
Enabled: no
URIs: http://disabled.example/debian
Suites: bookworm
Components: main

Types: deb-src
URIs: http://mirror.example/debian
Suites: bookworm
Components: main
SOURCES
cat >"$scratch/deb822/third.sources" <<'SOURCES'
Types: deb
URIs: https://third.example/node
Suites: nodistro
Components: main
SOURCES
deb_src_entries bookworm "$scratch/deb822" "$scratch/deb822/debian.sources" "$scratch/deb822/third.sources"
check "deb822 stanzas become deb-src stanzas" \
  "Types: deb-src
Suites: bookworm
URIs: http://mirror.example/debian
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
Suites: bookworm
uris: http://other.example/debian
components: main contrib
architectures: amd64
signed-by:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mDMEZ0000000000000000000000000000
 -----END PGP PUBLIC KEY BLOCK-----" \
  "$(cat "$scratch/deb822/parley-src.sources")"

# Nothing for the release: the caller falls back to Debian's libsrtp2.
mkdir "$scratch/none"
if deb_src_entries trixie "$scratch/none" "$scratch/oneline/sources.list" "$scratch/deb822/debian.sources"; then
  check "no entry for another release fails" 1 0
else
  check "no entry for another release fails" "" "$(cat "$scratch/none"/parley-src.*)"
fi

# The files apt reads, as apt-config names them: the main list and the
# *.list and *.sources of the parts directory, not files apt skips.
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
mkdir -p "$scratch/etc/parts" "$scratch/out"
echo "deb http://main.example/debian $codename main" >"$scratch/etc/sources.list"
echo "deb http://part.example/debian $codename main" >"$scratch/etc/parts/a.list"
printf 'Types: deb\nURIs: http://part.example/debian\nSuites: %s\nComponents: main\n' "$codename" \
  >"$scratch/etc/parts/b.sources"
echo "deb http://skipped.example/debian $codename main" >"$scratch/etc/parts/c.list.disabled"
echo "deb http://skipped.example/debian $codename main" >"$scratch/etc/parts/d.list.save"
echo "deb http://skipped.example/debian $codename main" >"$scratch/etc/parts/e~.list"
printf 'Dir::Etc::sourcelist "%s";\nDir::Etc::sourceparts "%s";\n' \
  "$scratch/etc/sources.list" "$scratch/etc/parts" >"$scratch/apt.conf"
APT_CONFIG=$scratch/apt.conf srtp_source_entries "$scratch/out"
check "the main list and the parts apt reads, one-line" \
  "deb-src http://main.example/debian $codename main
deb-src http://part.example/debian $codename main" \
  "$(cat "$scratch/out/parley-src.list")"
check "the main list and the parts apt reads, deb822" \
  "Types: deb-src
Suites: $codename
URIs: http://part.example/debian
Components: main" \
  "$(cat "$scratch/out/parley-src.sources")"

[ "$failed" -eq 0 ]
