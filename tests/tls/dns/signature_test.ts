/**
 * Request signing against the vendors' published test vectors: the AWS Signature Version 4 test
 * suite and the signing-key example of the AWS docs, and the signature examples of Alibaba
 * Cloud's "Signature method" pages (ECS `DescribeRegions`, Alidns `DescribeDomainRecords`).
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { canonicalizedQuery, signRpcRequest, stringToSign } from "../../../tls/dns/_alidns_signature.ts";
import { percentEncode } from "../../../tls/dns/_percent_encode.ts";
import { amzDate, canonicalQuery, deriveSigningKey, signRequest } from "../../../tls/dns/_sigv4.ts";
import { test } from "../../_util/test.ts";

const AWS_CREDENTIALS = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };
const SUITE_SCOPE = { region: "us-east-1", service: "service", date: new Date("2015-08-30T12:36:00Z") };
const SUITE_CREDENTIAL = "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The AWS SigV4 test suite cases (aws-sig-v4-test-suite), as request and expected `.authz`. */
const SUITE: {
  name: string;
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  authz: string;
}[] = [
  {
    name: "get-vanilla",
    method: "GET",
    url: "https://example.amazonaws.com/",
    authz: `${SUITE_CREDENTIAL}, SignedHeaders=host;x-amz-date, ` +
      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
  },
  {
    name: "get-vanilla-query-order-key-case",
    method: "GET",
    url: "https://example.amazonaws.com/?Param2=value2&Param1=value1",
    authz: `${SUITE_CREDENTIAL}, SignedHeaders=host;x-amz-date, ` +
      "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
  },
  {
    name: "get-vanilla-empty-query-key",
    method: "GET",
    url: "https://example.amazonaws.com/?Param1=value1",
    authz: `${SUITE_CREDENTIAL}, SignedHeaders=host;x-amz-date, ` +
      "Signature=a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
  },
  {
    name: "post-vanilla",
    method: "POST",
    url: "https://example.amazonaws.com/",
    authz: `${SUITE_CREDENTIAL}, SignedHeaders=host;x-amz-date, ` +
      "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
  },
  {
    name: "post-x-www-form-urlencoded",
    method: "POST",
    url: "https://example.amazonaws.com/",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: "Param1=value1",
    authz: `${SUITE_CREDENTIAL}, SignedHeaders=content-type;host;x-amz-date, ` +
      "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
  },
  {
    name: "post-x-www-form-urlencoded-parameters",
    method: "POST",
    url: "https://example.amazonaws.com/",
    headers: { "Content-Type": "application/x-www-form-urlencoded; charset=utf8" },
    body: "Param1=value1",
    authz: `${SUITE_CREDENTIAL}, SignedHeaders=content-type;host;x-amz-date, ` +
      "Signature=1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
  },
];

for (const vector of SUITE) {
  test(`signRequest() matches the AWS SigV4 test suite case "${vector.name}"`, async () => {
    const headers = await signRequest(vector, AWS_CREDENTIALS, SUITE_SCOPE);
    assert.equal(headers.authorization, `AWS4-HMAC-SHA256 ${vector.authz}`);
    assert.equal(headers["x-amz-date"], "20150830T123600Z");
  });
}

test("deriveSigningKey() matches the AWS docs' example (20120215, us-east-1, iam)", async () => {
  const key = await deriveSigningKey(AWS_CREDENTIALS.secretAccessKey, "20120215", "us-east-1", "iam");
  assert.equal(hex(key), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
});

test("signRequest() adds and signs x-amz-security-token with temporary credentials", async () => {
  const headers = await signRequest(
    { method: "GET", url: "https://example.amazonaws.com/" },
    { ...AWS_CREDENTIALS, sessionToken: "token/with+chars=" },
    SUITE_SCOPE,
  );
  assert.equal(headers["x-amz-security-token"], "token/with+chars=");
  assert.match(headers.authorization, /SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/);
});

test("amzDate() and canonicalQuery() format as SigV4 requires", () => {
  assert.equal(amzDate(new Date("2015-08-30T12:36:00.123Z")), "20150830T123600Z");
  assert.equal(canonicalQuery("?b=2&a=%7E x&a=1&c"), "a=1&a=~%20x&b=2&c=");
  assert.equal(canonicalQuery("?name=_acme.example.com.&type=TXT"), "name=_acme.example.com.&type=TXT");
});

test("percentEncode() leaves only RFC 3986 unreserved characters", () => {
  assert.equal(percentEncode("a-Z_0.~ *+/:!'()é"), "a-Z_0.~%20%2A%2B%2F%3A%21%27%28%29%C3%A9");
});

const ECS_EXAMPLE = {
  Timestamp: "2016-02-23T12:46:24Z",
  Format: "XML",
  AccessKeyId: "testid",
  Action: "DescribeRegions",
  SignatureMethod: "HMAC-SHA1",
  SignatureNonce: "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
  Version: "2014-05-26",
  SignatureVersion: "1.0",
};

test("Alibaba RPC signature matches the documented ECS DescribeRegions example", async () => {
  assert.equal(
    stringToSign("GET", ECS_EXAMPLE),
    "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1" +
      "%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0" +
      "%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26",
  );
  assert.equal(await signRpcRequest("GET", ECS_EXAMPLE, "testsecret"), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
});

test("Alibaba RPC signature matches the documented Alidns DescribeDomainRecords example", async () => {
  const params = {
    Format: "XML",
    AccessKeyId: "testid",
    Action: "DescribeDomainRecords",
    SignatureMethod: "HMAC-SHA1",
    DomainName: "example.com",
    SignatureNonce: "f59ed6a9-83fc-473b-9cc6-99c95df3856e",
    SignatureVersion: "1.0",
    Version: "2015-01-09",
    Timestamp: "2016-03-24T16:41:54Z",
  };
  assert.equal(await signRpcRequest("GET", params, "testsecret"), "uRpHwaSEt3J+6KQD//svCh/x+pI=");
});

test("Alibaba RPC signature equals node:crypto's HMAC-SHA1 over the string to sign", async () => {
  const params = { Action: "AddDomainRecord", RR: "_acme-challenge.a b", Value: "x*y~z+/=", TTL: "600" };
  assert.equal(
    canonicalizedQuery(params),
    "Action=AddDomainRecord&RR=_acme-challenge.a%20b&TTL=600&Value=x%2Ay~z%2B%2F%3D",
  );
  const expected = createHmac("sha1", "s3cr3t&").update(stringToSign("GET", params)).digest("base64");
  assert.equal(await signRpcRequest("GET", params, "s3cr3t"), expected);
});
