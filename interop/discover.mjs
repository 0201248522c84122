// Verifies one of the platform's access tokens knowing only its issuer, as a service in another stack would:
// openid-client discovers the issuer (and refuses a document whose `issuer` is not the URL it asked), jose checks
// the token against the keys at the discovered jwks_uri, with the discovered algorithms.
//
//   node discover.mjs --issuer http://127.0.0.1:8000 --audience polls-platform --token <access token>

import { parseArgs } from "node:util";
import * as client from "openid-client";
import { createRemoteJWKSet, jwtVerify } from "jose";

const { values } = parseArgs({
  options: { issuer: { type: "string" }, audience: { type: "string" }, token: { type: "string" } },
});
// Plain http is for a development platform; an https issuer needs no such allowance.
const insecure = values.issuer.startsWith("http://") ? { execute: [client.allowInsecureRequests] } : {};
const configuration = await client.discovery(new URL(values.issuer), "interop-node", undefined, undefined, insecure);
const metadata = configuration.serverMetadata();
const keys = createRemoteJWKSet(new URL(metadata.jwks_uri));
const { payload, protectedHeader } = await jwtVerify(values.token, keys, {
  issuer: metadata.issuer,
  audience: values.audience,
  algorithms: metadata.id_token_signing_alg_values_supported,
});
console.log(JSON.stringify({ issuer: metadata.issuer, jwks_uri: metadata.jwks_uri,
  algorithms: metadata.id_token_signing_alg_values_supported, header: protectedHeader, claims: payload }));
