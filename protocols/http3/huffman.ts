/**
 * The HPACK/QPACK Huffman code (RFC 7541 Appendix B; QPACK reuses it, RFC 9204 §4.1.2).
 *
 * The code is canonical: each symbol's code follows from the code lengths alone (codes of one length
 * are consecutive, in symbol order), so only the 257 lengths are written down here. The tables are
 * built on first use. Decoding walks a 4-bit state machine: one table lookup per nibble.
 * @module
 */

/** Code length in bits of each symbol 0–255 and EOS (256), from RFC 7541 Appendix B. */
// deno-fmt-ignore
const CODE_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0x00
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 0x10
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, //         0x20 ' ' to '/'
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, //             0x30 '0' to '?'
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, //               0x40 '@' to 'O'
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, //            0x50 'P' to '_'
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, //               0x60 '`' to 'o'
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, //           0x70 'p' to 0x7f
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 0x80
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 0x90
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 0xa0
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 0xb0
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 0xc0
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 0xd0
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 0xe0
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 0xf0
  30, //                                                            EOS
];

const EOS = 256;

interface Tables {
  /** Code of each symbol, right-aligned. */
  codes: Uint32Array;
  /** Length of each symbol's code. */
  lengths: Uint8Array;
  /**
   * Decoder transitions, 16 per state (a tree node): `-1` fails (EOS decoded), otherwise bits 0–7 are
   * the next state, bit 8 says a symbol was emitted, bits 9–16 are the symbol.
   */
  steps: Int32Array;
  /** States where the input may end: the root, or up to 7 one-bits of padding (an EOS prefix). */
  accepting: Uint8Array;
}

let built: Tables | undefined;

function tables(): Tables {
  return built ??= buildTables();
}

function buildTables(): Tables {
  const lengths = Uint8Array.from(CODE_LENGTHS);
  const codes = new Uint32Array(257);
  const order = [...lengths.keys()].sort((a, b) => lengths[a] - lengths[b] || a - b);
  let code = 0;
  let previous = lengths[order[0]];
  for (const symbol of order) {
    code *= 2 ** (lengths[symbol] - previous);
    previous = lengths[symbol];
    codes[symbol] = code++;
  }
  // The code tree: 256 inner nodes (0 is the root); a child < 0 is the leaf of symbol -child - 1.
  const children = new Int32Array(512);
  const accepting = new Uint8Array(256);
  accepting[0] = 1;
  let nodes = 1;
  for (let symbol = 0; symbol <= EOS; symbol++) {
    let node = 0;
    for (let bit = lengths[symbol] - 1; bit >= 0; bit--) {
      const slot = node * 2 + ((codes[symbol] >>> bit) & 1);
      if (bit === 0) {
        children[slot] = -symbol - 1;
      } else {
        if (children[slot] === 0) {
          children[slot] = nodes++;
          const depth = lengths[symbol] - bit;
          const allOnes = codes[symbol] >>> bit === 2 ** depth - 1;
          accepting[children[slot]] = allOnes && depth <= 7 ? 1 : 0;
        }
        node = children[slot];
      }
    }
  }
  const steps = new Int32Array(256 * 16);
  for (let state = 0; state < 256; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let step = 0;
      for (let bit = 3; bit >= 0 && step >= 0; bit--) {
        const child = children[node * 2 + ((nibble >>> bit) & 1)];
        if (child >= 0) {
          node = child;
        } else if (child === -EOS - 1) {
          step = -1;
        } else {
          step = 0x100 | ((-child - 1) << 9);
          node = 0;
        }
      }
      steps[state * 16 + nibble] = step < 0 ? -1 : step | node;
    }
  }
  return { codes, lengths, steps, accepting };
}

/**
 * Tells how many bytes the Huffman encoding of `data` takes, to choose between it and the raw bytes.
 *
 * @example Shorter than the raw string
 * ```ts
 * import { huffmanEncodedLength } from "./huffman.ts";
 * console.assert(huffmanEncodedLength(new TextEncoder().encode("www.example.com")) === 12);
 * ```
 * @param data The bytes to encode.
 * @returns The encoded length in bytes, padding included.
 */
export function huffmanEncodedLength(data: Uint8Array): number {
  const { lengths } = tables();
  let bits = 0;
  for (let i = 0; i < data.length; i++) bits += lengths[data[i]];
  return Math.ceil(bits / 8);
}

/**
 * Huffman-encodes bytes, padding the last byte with the most significant bits of EOS (one-bits).
 *
 * @example RFC 7541 Appendix C.4.1
 * ```ts
 * import { huffmanEncode } from "./huffman.ts";
 * const hex = [...huffmanEncode(new TextEncoder().encode("www.example.com"))]
 *   .map((b) => b.toString(16).padStart(2, "0")).join("");
 * console.assert(hex === "f1e3c2e5f23a6ba0ab90f4ff");
 * ```
 * @param data The bytes to encode.
 * @returns The encoded bytes.
 */
export function huffmanEncode(data: Uint8Array): Uint8Array {
  const { codes, lengths } = tables();
  const out = new Uint8Array(huffmanEncodedLength(data));
  let o = 0;
  let acc = 0; // pending bits, fewer than 8 between symbols
  let bits = 0;
  for (let i = 0; i < data.length; i++) {
    const code = codes[data[i]];
    let length = lengths[data[i]];
    if (length > 24) { // keep acc within 32 bits: write the high part first
      const high = length - 16;
      acc = (acc << high) | (code >>> 16);
      bits += high;
      for (; bits >= 8; bits -= 8) out[o++] = acc >>> (bits - 8);
      acc &= (1 << bits) - 1;
      length = 16;
    }
    acc = (acc << length) | (code & ((2 ** length) - 1));
    bits += length;
    for (; bits >= 8; bits -= 8) out[o++] = acc >>> (bits - 8);
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out[o] = (acc << (8 - bits)) | (0xff >>> bits);
  return out;
}

/**
 * Decodes Huffman-coded bytes.
 *
 * @example RFC 7541 Appendix C.4.1
 * ```ts
 * import { huffmanDecode } from "./huffman.ts";
 * const bytes = new Uint8Array([0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff]);
 * console.assert(new TextDecoder().decode(huffmanDecode(bytes)) === "www.example.com");
 * ```
 * @param data The encoded bytes.
 * @returns The decoded bytes.
 * @throws {TypeError} If the input holds the EOS symbol, or its padding is longer than 7 bits or not
 * all one-bits (RFC 7541 §5.2).
 */
export function huffmanDecode(data: Uint8Array): Uint8Array {
  const { steps, accepting } = tables();
  const out = new Uint8Array(Math.floor((data.length * 8) / 5)); // the shortest code has 5 bits
  let o = 0;
  let state = 0;
  for (let i = 0; i < data.length; i++) {
    let step = steps[state * 16 + (data[i] >>> 4)];
    if (step < 0) throw eosError();
    if (step & 0x100) out[o++] = step >>> 9;
    step = steps[(step & 0xff) * 16 + (data[i] & 0xf)];
    if (step < 0) throw eosError();
    if (step & 0x100) out[o++] = step >>> 9;
    state = step & 0xff;
  }
  if (!accepting[state]) {
    throw new TypeError("Cannot decode Huffman string: the padding is not a prefix of EOS of at most 7 bits");
  }
  return out.subarray(0, o);
}

function eosError(): TypeError {
  return new TypeError("Cannot decode Huffman string: it contains the EOS symbol");
}
