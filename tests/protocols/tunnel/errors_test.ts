import assert from "node:assert/strict";
import {
  isTunnelErrorCode,
  TUNNEL_ERROR_NUMBERS,
  TunnelError,
  tunnelErrorCodeOf,
} from "../../../protocols/tunnel/errors.ts";
import { test } from "../../_util/test.ts";

test("TUNNEL_ERROR_NUMBERS is the table of PROTOCOL.md section 7, and tunnelErrorCodeOf() reverses it", () => {
  assert.deepEqual(Object.entries(TUNNEL_ERROR_NUMBERS), [
    ["protocol", 1],
    ["auth_failed", 2],
    ["version", 3],
    ["port_out_of_range", 4],
    ["port_in_use", 5],
    ["too_many_services", 6],
    ["too_many_connections", 7],
    ["unknown_service", 8],
    ["local_unreachable", 9],
    ["shutting_down", 10],
    ["internal", 11],
  ]);
  for (const [code, n] of Object.entries(TUNNEL_ERROR_NUMBERS)) assert.equal(tunnelErrorCodeOf(n), code);
  assert.equal(tunnelErrorCodeOf(0), "internal");
  assert.equal(tunnelErrorCodeOf(12), "internal");
  assert.ok(Object.isFrozen(TUNNEL_ERROR_NUMBERS));
});

test("TunnelError carries its code, number and cause", () => {
  const cause = new Error("inner");
  const error = new TunnelError("port_in_use", "port 15432 is in use", { cause });
  assert.ok(error instanceof Error);
  assert.equal(error.name, "TunnelError");
  assert.equal(error.code, "port_in_use");
  assert.equal(error.number, 5);
  assert.equal(error.cause, cause);
  assert.ok(isTunnelErrorCode("version"));
  assert.ok(!isTunnelErrorCode("toString"));
  assert.ok(!isTunnelErrorCode(1));
});
