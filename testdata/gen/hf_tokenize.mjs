// Tokenizes strings with @huggingface/tokenizers (tokenizers.js, the JS implementation of
// Hugging Face tokenizer.json) for Refit's tokenizer tests.
//
//   node hf_tokenize.mjs REQUEST.json
//
// REQUEST is {"dirs": [folders with tokenizer.json + tokenizer_config.json], "strings": [...]}.
// Prints {dir: {"ids": [[...] per string, add_special_tokens false], "error": "..."}}.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";

const req = JSON.parse(readFileSync(process.argv[2], "utf8"));
const out = {};
for (const dir of req.dirs) {
  try {
    const tj = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
    const tc = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
    const tok = new Tokenizer(tj, tc);
    const ids = [];
    for (const s of req.strings) {
      ids.push(tok.encode(s, { add_special_tokens: false }).ids.map(Number));
    }
    out[dir] = { ids };
  } catch (e) {
    out[dir] = { error: String(e && e.stack ? e.stack : e) };
  }
}
process.stdout.write(JSON.stringify(out));
