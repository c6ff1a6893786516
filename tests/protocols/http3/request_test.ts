import assert from "node:assert/strict";
import { Http3Error, Http3ErrorCode } from "../../../protocols/http3/errors.ts";
import type { HeaderField } from "../../../protocols/http3/qpack.ts";
import {
  buildRequestFields,
  buildResponseFields,
  parseRequestHead,
  parseResponseHead,
  parseTrailers,
} from "../../../protocols/http3/request.ts";
import { test } from "../../_util/test.ts";

const f = (...pairs: [string, string][]): HeaderField[] => pairs.map(([name, value]) => ({ name, value }));

const GET: [string, string][] = [[":method", "GET"], [":scheme", "https"], [":authority", "a.example"], [
  ":path",
  "/x?y",
]];

function malformed(message: string) {
  return (error: unknown) => {
    assert.ok(error instanceof Http3Error, String(error));
    assert.equal(error.code, Http3ErrorCode.H3_MESSAGE_ERROR);
    assert.equal(error.message, message);
    return true;
  };
}

test("parseRequestHead() splits a GET into pseudo-headers and fields, joining cookies", () => {
  const head = parseRequestHead(
    f(...GET, ["accept", "*/*"], ["cookie", "a=1"], ["content-length", "0"], ["cookie", "b=2"], ["te", "trailers"]),
  );
  assert.deepEqual(head, {
    method: "GET",
    scheme: "https",
    authority: "a.example",
    path: "/x?y",
    protocol: undefined,
    headers: [["accept", "*/*"], ["content-length", "0"], ["te", "trailers"], ["cookie", "a=1; b=2"]],
    contentLength: 0,
  });
  const viaHost = parseRequestHead(f([":method", "GET"], [":scheme", "http"], [":path", "/"], ["host", "h:80"]));
  assert.equal(viaHost.authority, "h:80");
  assert.equal(
    parseRequestHead(f([":method", "OPTIONS"], [":scheme", "https"], [":authority", "a"], [":path", "*"])).path,
    "*",
  );
  assert.equal(parseRequestHead(f([":method", "GET"], [":scheme", "foo"], [":path", "x"])).authority, undefined);
});

test("parseRequestHead() accepts CONNECT, and extended CONNECT only when enabled", () => {
  assert.deepEqual(parseRequestHead(f([":method", "CONNECT"], [":authority", "db:5432"])), {
    method: "CONNECT",
    scheme: undefined,
    authority: "db:5432",
    path: undefined,
    protocol: undefined,
    headers: [],
    contentLength: undefined,
  });
  const extended = f([":method", "CONNECT"], [":protocol", "connect-udp"], [":scheme", "https"], [
    ":authority",
    "proxy",
  ], [":path", "/.well-known/masque/udp/h/53/"]);
  assert.equal(parseRequestHead(extended, { enableConnectProtocol: true }).protocol, "connect-udp");
  assert.throws(
    () => parseRequestHead(extended),
    malformed(
      "Malformed request: :protocol needs extended CONNECT, which is not enabled (SETTINGS_ENABLE_CONNECT_PROTOCOL)",
    ),
  );
  assert.throws(
    () =>
      parseRequestHead(f([":method", "CONNECT"], [":protocol", "websocket"], [":authority", "a"]), {
        enableConnectProtocol: true,
      }),
    malformed("Malformed request: an extended CONNECT needs :scheme, :path and :authority"),
  );
  assert.throws(
    () => parseRequestHead(f(...GET, [":protocol", "websocket"]), { enableConnectProtocol: true }),
    malformed("Malformed request: :protocol is only allowed with CONNECT, not GET"),
  );
});

test("parseRequestHead() rejects malformed requests with H3_MESSAGE_ERROR", () => {
  const cases: [HeaderField[], string][] = [
    [f([":scheme", "https"], [":path", "/"]), "the :method pseudo-header is missing"],
    [f([":method", "G T"], [":scheme", "https"], [":path", "/"]), ':method "G T" is not a token'],
    [f([":method", "GET"], ["accept", "*/*"], [":path", "/"]), 'pseudo-header ":path" follows a regular field'],
    [f(...GET, [":path", "/again"]), 'pseudo-header ":path" appears twice'],
    [f(...GET, [":status", "200"]), 'pseudo-header ":status" is not allowed'],
    [f(...GET, [":foo", "1"]), 'pseudo-header ":foo" is not allowed'],
    [f([":method", "GET"], [":scheme", "https"], [":authority", "a"]), "the :path pseudo-header is missing or empty"],
    [f([":method", "GET"], [":authority", "a"], [":path", "/"]), "the :scheme pseudo-header is missing or empty"],
    [f([":method", "GET"], [":scheme", "https"], [":path", "/"]), "an https request needs :authority or host"],
    [
      f([":method", "GET"], [":scheme", "https"], [":authority", "a"], [":path", "x"]),
      ':path "x" must start with "/" (or be "*" for OPTIONS)',
    ],
    [
      f([":method", "GET"], [":scheme", "https"], [":authority", "a"], [":path", "*"]),
      ':path "*" must start with "/" (or be "*" for OPTIONS)',
    ],
    [
      f([":method", "CONNECT"], [":authority", "a"], [":path", "/"]),
      "a CONNECT request must not have :scheme or :path",
    ],
    [f([":method", "CONNECT"]), "a CONNECT request needs :authority"],
    [f(...GET, ["host", "b.example"]), ':authority "a.example" and host "b.example" differ'],
    [f(...GET, ["connection", "close"]), 'connection-specific field "connection" is not allowed'],
    [f(...GET, ["transfer-encoding", "chunked"]), 'connection-specific field "transfer-encoding" is not allowed'],
    [f(...GET, ["upgrade", "h2c"]), 'connection-specific field "upgrade" is not allowed'],
    [f(...GET, ["keep-alive", "5"]), 'connection-specific field "keep-alive" is not allowed'],
    [f(...GET, ["proxy-connection", "x"]), 'connection-specific field "proxy-connection" is not allowed'],
    [f(...GET, ["te", "gzip"]), 'connection-specific field "te" is not allowed'],
    [f(...GET, ["content-length", "1"], ["content-length", "2"]), 'content-length "2" is invalid or conflicts'],
    [f(...GET, ["content-length", "-1"]), 'content-length "-1" is invalid or conflicts'],
    [f(...GET, ["Accept", "x"]), 'field "Accept" has a bad name or value'],
    [f(...GET, ["x", "a\nb"]), 'field "x" has a bad name or value'],
  ];
  for (const [fields, reason] of cases) {
    assert.throws(() => parseRequestHead(fields), malformed(`Malformed request: ${reason}`), reason);
  }
  assert.equal(parseRequestHead(f(...GET, ["content-length", "5, 5"])).contentLength, 5);
});

test("parseResponseHead() and parseTrailers() validate the other heads", () => {
  assert.deepEqual(parseResponseHead(f([":status", "204"], ["server", "x"])), {
    status: 204,
    headers: [["server", "x"]],
    contentLength: undefined,
  });
  assert.throws(
    () => parseResponseHead(f(["server", "x"])),
    malformed("Malformed response: the :status pseudo-header is missing"),
  );
  assert.throws(
    () => parseResponseHead(f([":status", "2000"])),
    malformed('Malformed response: :status "2000" is not a status code'),
  );
  assert.throws(
    () => parseResponseHead(f([":status", "200"], [":status", "200"])),
    malformed('Malformed response: pseudo-header ":status" appears twice'),
  );
  assert.throws(
    () => parseResponseHead(f([":path", "/"])),
    malformed('Malformed response: pseudo-header ":path" is not allowed'),
  );
  assert.deepEqual(parseTrailers(f(["grpc-status", "0"])), [["grpc-status", "0"]]);
  assert.throws(
    () => parseTrailers(f([":status", "200"])),
    malformed('Malformed trailer section: pseudo-header ":status" is not allowed'),
  );
});

test("buildResponseFields() puts :status first and drops connection-specific fields", () => {
  const headers = new Headers([
    ["Content-Type", "text/plain"],
    ["Connection", "close, X-Hop"],
    ["X-Hop", "1"],
    ["Keep-Alive", "timeout=5"],
    ["Transfer-Encoding", "chunked"],
    ["Upgrade", "h2c"],
    ["Proxy-Connection", "keep-alive"],
    ["TE", "trailers"],
    ["Set-Cookie", "a=1"],
    ["Set-Cookie", "b=2"],
  ]);
  assert.deepEqual(
    buildResponseFields(200, headers),
    f([":status", "200"], ["content-type", "text/plain"], [
      "set-cookie",
      "a=1",
    ], ["set-cookie", "b=2"]),
  );
  assert.deepEqual(buildResponseFields(404, [["X-A", "1"]]), f([":status", "404"], ["x-a", "1"]));
  assert.deepEqual(buildResponseFields(103), f([":status", "103"]));
  for (const status of [99, 101, 600, 200.5]) {
    assert.throws(() => buildResponseFields(status), {
      name: "RangeError",
      message:
        `Cannot build response as 'status' must be an integer from 100 to 599 other than 101: current value is ${status}`,
    });
  }
  assert.throws(() => buildResponseFields(200, [[":path", "/"]]), {
    name: "TypeError",
    message: 'Cannot build response: header ":path" is a pseudo-header',
  });
});

test("buildRequestFields() builds a head that parseRequestHead() accepts", () => {
  const fields = buildRequestFields({ method: "GET", scheme: "https", authority: "a", path: "/" }, [
    ["Accept", "*/*"],
    ["Connection", "keep-alive"],
    ["TE", "trailers"],
    ["te2", "x"],
  ]);
  assert.deepEqual(
    fields,
    f(
      [":method", "GET"],
      [":scheme", "https"],
      [":authority", "a"],
      [":path", "/"],
      [
        "accept",
        "*/*",
      ],
      ["te", "trailers"],
      ["te2", "x"],
    ),
  );
  assert.equal(parseRequestHead(fields).method, "GET");
  const connect = buildRequestFields({
    method: "CONNECT",
    protocol: "websocket",
    scheme: "https",
    authority: "a",
    path: "/ws",
  });
  assert.equal(connect[1].name, ":protocol");
  assert.equal(parseRequestHead(connect, { enableConnectProtocol: true }).protocol, "websocket");
});
