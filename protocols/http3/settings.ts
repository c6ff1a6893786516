/**
 * The HTTP/3 SETTINGS frame (RFC 9114 §7.2.4), with the QPACK (RFC 9204 §5), extended CONNECT
 * (RFC 9220 §3) and datagram (RFC 9297 §2.1.1) settings.
 * @module
 */
import { Http3Error, Http3ErrorCode } from "./errors.ts";
import { encodeFrame, FrameType } from "./frames.ts";
import { decodeVarintBigInt, varintLength, writeVarint } from "./varint.ts";

/** Setting identifiers. */
export const SettingId = {
  QPACK_MAX_TABLE_CAPACITY: 0x1,
  MAX_FIELD_SECTION_SIZE: 0x6,
  QPACK_BLOCKED_STREAMS: 0x7,
  ENABLE_CONNECT_PROTOCOL: 0x8,
  H3_DATAGRAM: 0x33,
} as const;

/** Identifiers reserved because HTTP/2 used them; receiving one is `H3_SETTINGS_ERROR` (RFC 9114 §7.2.4.1). */
const FORBIDDEN_IDS: ReadonlySet<bigint> = new Set([0x0n, 0x2n, 0x3n, 0x4n, 0x5n]);

/** The settings an endpoint advertises. An omitted setting has its default (0, false, or unlimited). */
export interface Http3Settings {
  /** QPACK dynamic table capacity the peer's encoder may use. @default {0} */
  qpackMaxTableCapacity?: number;
  /**
   * Largest field section the sender accepts, counted as RFC 9114 §4.2.2 does (name + value + 32 per
   * field). Values above `Number.MAX_SAFE_INTEGER` decode as `Number.MAX_SAFE_INTEGER`.
   * @default {unlimited}
   */
  maxFieldSectionSize?: number;
  /** Streams that may be blocked on QPACK dynamic table inserts. @default {0} */
  qpackBlockedStreams?: number;
  /** Extended CONNECT with `:protocol` is accepted (RFC 9220). @default {false} */
  enableConnectProtocol?: boolean;
  /** HTTP datagrams are accepted (RFC 9297). @default {false} */
  h3Datagram?: boolean;
}

/**
 * Encodes a SETTINGS payload. Settings left `undefined` or `false` are omitted, since the peer then
 * assumes their defaults.
 *
 * @example Our usual settings
 * ```ts
 * import { encodeSettings } from "./settings.ts";
 * const payload = encodeSettings({ qpackMaxTableCapacity: 0, enableConnectProtocol: true });
 * console.assert(payload.join() === [0x01, 0x00, 0x08, 0x01].join());
 * ```
 * @param settings The settings.
 * @returns The payload bytes.
 * @throws {RangeError} If a number is not an integer from 0 to 2^62 - 1.
 */
export function encodeSettings(settings: Http3Settings): Uint8Array {
  const pairs: [number, number][] = [];
  const add = (id: number, value: number | boolean | undefined) => {
    if (value === undefined || value === false) return;
    pairs.push([id, value === true ? 1 : value]);
  };
  add(SettingId.QPACK_MAX_TABLE_CAPACITY, settings.qpackMaxTableCapacity);
  add(SettingId.MAX_FIELD_SECTION_SIZE, settings.maxFieldSectionSize);
  add(SettingId.QPACK_BLOCKED_STREAMS, settings.qpackBlockedStreams);
  add(SettingId.ENABLE_CONNECT_PROTOCOL, settings.enableConnectProtocol);
  add(SettingId.H3_DATAGRAM, settings.h3Datagram);
  const out = new Uint8Array(pairs.reduce((n, [id, value]) => n + varintLength(id) + varintLength(value), 0));
  let offset = 0;
  for (const [id, value] of pairs) {
    offset += writeVarint(out, offset, id);
    offset += writeVarint(out, offset, value);
  }
  return out;
}

/**
 * Encodes a whole SETTINGS frame.
 *
 * @example The first bytes of a control stream
 * ```ts
 * import { encodeSettingsFrame } from "./settings.ts";
 * console.assert(encodeSettingsFrame({}).join() === [0x04, 0x00].join());
 * ```
 * @param settings The settings.
 * @returns The frame bytes.
 * @throws {RangeError} If a number is not an integer from 0 to 2^62 - 1.
 */
export function encodeSettingsFrame(settings: Http3Settings): Uint8Array {
  return encodeFrame(FrameType.SETTINGS, encodeSettings(settings));
}

/**
 * Decodes a SETTINGS payload. Unknown and reserved identifiers are ignored, as RFC 9114 requires.
 *
 * @example Decode
 * ```ts
 * import { decodeSettings } from "./settings.ts";
 * const settings = decodeSettings(new Uint8Array([0x06, 0x44, 0x00, 0x33, 0x01]));
 * console.assert(settings.maxFieldSectionSize === 1024 && settings.h3Datagram === true);
 * ```
 * @param payload The frame payload.
 * @returns The known settings that were present.
 * @throws {Http3Error} `H3_FRAME_ERROR` if the payload ends inside a setting; `H3_SETTINGS_ERROR` for a
 * repeated identifier, an HTTP/2 identifier, or a boolean setting other than 0 or 1.
 */
export function decodeSettings(payload: Uint8Array): Http3Settings {
  const settings: Http3Settings = {};
  const seen = new Set<bigint>();
  for (let offset = 0; offset < payload.length;) {
    const id = decodeVarintBigInt(payload, offset);
    const value = id && decodeVarintBigInt(payload, offset + id.length);
    if (!id || !value) {
      throw new Http3Error(Http3ErrorCode.H3_FRAME_ERROR, "Cannot decode SETTINGS frame: the payload is truncated");
    }
    offset += id.length + value.length;
    if (seen.has(id.value)) throw settingsError(`setting 0x${id.value.toString(16)} appears twice`);
    seen.add(id.value);
    if (FORBIDDEN_IDS.has(id.value)) {
      throw settingsError(`setting 0x${id.value.toString(16)} is reserved (an HTTP/2 setting)`);
    }
    const number = value.value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value.value);
    switch (id.value) {
      case BigInt(SettingId.QPACK_MAX_TABLE_CAPACITY):
        settings.qpackMaxTableCapacity = number;
        break;
      case BigInt(SettingId.MAX_FIELD_SECTION_SIZE):
        settings.maxFieldSectionSize = number;
        break;
      case BigInt(SettingId.QPACK_BLOCKED_STREAMS):
        settings.qpackBlockedStreams = number;
        break;
      case BigInt(SettingId.ENABLE_CONNECT_PROTOCOL):
        settings.enableConnectProtocol = flag("SETTINGS_ENABLE_CONNECT_PROTOCOL", number);
        break;
      case BigInt(SettingId.H3_DATAGRAM):
        settings.h3Datagram = flag("SETTINGS_H3_DATAGRAM", number);
        break;
    }
  }
  return settings;
}

function flag(name: string, value: number): boolean {
  if (value > 1) throw settingsError(`${name} must be 0 or 1 (got ${value})`);
  return value === 1;
}

function settingsError(reason: string): Http3Error {
  return new Http3Error(Http3ErrorCode.H3_SETTINGS_ERROR, `Cannot accept SETTINGS frame: ${reason}`);
}
