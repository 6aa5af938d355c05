// reference_tokenize.mjs — golden tokenizations for steno's tokenizer tests, from independent
// JavaScript implementations.
//
//   STENO_NODE_DIR=<dir with node_modules> node scripts/reference_tokenize.mjs TOKENIZER_JSON > golden.json
//
// Multilingual: @huggingface/tokenizers (the tokenizer of transformers.js) loads whisper-tiny's
// tokenizer.json. English-only: js-tiktoken with GPT-2's ranks, which is the gpt2.tiktoken
// vocabulary openai-whisper's English models use. For each it writes:
//   cases              [{text, ids}] for the test strings below (no special tokens added)
//   non_speech_tokens  openai-whisper's Tokenizer.non_speech_tokens recomputed with this encoder
//   vocab_hex          every text token's bytes in hex, by id
// scripts/reference-tokenize installs the pinned packages and runs this.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";

const require = createRequire(path.join(process.env.STENO_NODE_DIR, "node_modules") + path.sep);
const { Tokenizer } = require("@huggingface/tokenizers");
const { Tiktoken } = require("js-tiktoken/lite");
const gpt2Ranks = require("js-tiktoken/ranks/gpt2");

const tokenizerJsonPath = process.argv[2];

// Strings chosen to exercise every branch of GPT-2's pre-tokenisation pattern and BPE on
// several scripts: contractions, numbers, punctuation runs, runs of spaces and newlines,
// leading/trailing space, combining marks, CJK, emoji with modifiers.
const texts = [
  " And so my fellow Americans",
  " And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",
  "Hello, world! It's 3:45pm -- we'll see.  Don't   you think?\n\nNew paragraph.\n",
  "I've got 1,234,567 reasons; they're all 42.5% true...  ",
  "   leading spaces and trailing   ",
  "\ttabs\tand\r\nCRLF\n \n",
  "'s 're 've 'm 'll 'd 'S 'RE quote'd O'Neil's rock'n'roll",
  " Привет, как дела? Всё хорошо, спасибо.",
  "こんにちは、世界。今日はいい天気ですね！",
  " Grüße aus München: Äpfel, Öl und Übermaß.",
  "emoji 🎉🎉 and 👍🏽 thumbs ♪♪ music ♪ [MUSIC] (laughs)",
  "我们今天去公园玩吧。",
  "Room 101 at 12:30, ١٢٣ Arabic digits, Ⅻ roman, ½ half",
  "cafe\u0301 naïve coöperate",
  " supercalifragilisticexpialidocious antidisestablishmentarianism",
  "안녕하세요 여러분",
  "مرحبا بالعالم",
  "नमस्ते दुनिया",
  "    ",
  "",
  "a",
  " ",
  "\n",
  "x  \n  y",
  "paragraph one.\n\nparagraph two.\n\n",
  "x\n\n\ny \n\n z",
  "tab\t\t\tend\t\t",
  "<<>> --- ((( ))) {{ }} 「quoted」 『title』 @user #tag $5 ~tilde~ `code` ^caret^ _under_",
];

// openai-whisper's non_speech_tokens rule, written here from its description so that the C
// side can be checked against an independent encoder.
function nonSpeechTokens(encode) {
  const symbols = [...'"#()*+/:;<=>@[\\]^_`{|}~「」『』'];
  symbols.push(..."<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split(" "));
  const musical = [..."♩♪♫♬♭♮♯"];
  const result = new Set([encode(" -")[0], encode(" '")[0]]);
  for (const symbol of [...symbols, ...musical]) {
    for (const tokens of [encode(symbol), encode(" " + symbol)]) {
      if (tokens.length === 1 || musical.includes(symbol)) result.add(tokens[0]);
    }
  }
  return [...result].sort((a, b) => a - b);
}

const hex = (bytes) => Buffer.from(bytes).toString("hex");

// GPT-2's byte-to-unicode alphabet, inverted: printable Latin-1 characters stand for their own
// byte, the remaining bytes in order are spelt from U+0100 on.
function gpt2CharToByte() {
  const map = new Map();
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    map.set(String.fromCodePoint(printable ? b : 0x100 + shifted++), b);
  }
  return map;
}

function multilingual() {
  const json = JSON.parse(fs.readFileSync(tokenizerJsonPath, "utf8"));
  const tokenizer = new Tokenizer(json, {});
  const encode = (text) => tokenizer.encode(text, { add_special_tokens: false }).ids;
  const charToByte = gpt2CharToByte();
  const vocab = json.model.vocab;
  const eot = json.added_tokens.find((t) => t.content === "<|endoftext|>").id;
  const vocabHex = new Array(eot).fill(null);
  for (const [token, id] of Object.entries(vocab)) {
    if (id < eot) vocabHex[id] = hex([...token].map((c) => charToByte.get(c)));
  }
  return {
    source: tokenizerJsonPath,
    cases: texts.map((text) => ({ text, ids: encode(text) })),
    non_speech_tokens: nonSpeechTokens(encode),
    vocab_hex: vocabHex,
  };
}

function gpt2() {
  const encoder = new Tiktoken(gpt2Ranks);
  const encode = (text) => encoder.encode(text);
  const eot = gpt2Ranks.special_tokens["<|endoftext|>"];
  const vocabHex = [];
  for (let id = 0; id < eot; id++) vocabHex.push(hex(encoder.textMap.get(id)));
  return {
    source: "js-tiktoken ranks/gpt2",
    cases: texts.map((text) => ({ text, ids: encode(text) })),
    non_speech_tokens: nonSpeechTokens(encode),
    vocab_hex: vocabHex,
  };
}

process.stdout.write(JSON.stringify({ multilingual: multilingual(), gpt2: gpt2() }) + "\n");
