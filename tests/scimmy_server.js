// scimmy_server.js - a third-party SCIM 2.0 implementation (npm scimmy +
// scimmy-routers on express) served over HTTPS on loopback, for interop tests.
//
//   node scimmy_server.js SEED.json CERTDIR PORT_FILE TOKEN_FILE [MAX_SECONDS]
//
// Users and Groups live in memory, seeded from SEED.json ({"Users": [...],
// "Groups": [...]}); the SCIM API (GET, POST, PUT, PATCH, DELETE) is scimmy's.
// scimmy 1.3 ignores startIndex/count that arrive as query strings (it wants
// numbers), so the list handlers copy them from the request into the
// resource's constraints and let scimmy's ListResponse page.
"use strict";
const fs = require("fs");
const https = require("https");
const crypto = require("crypto");
const express = require("express");
const SCIMMY = require("scimmy").default;
const SCIMMYRouters = require("scimmy-routers").default;

const [seedPath, certDir, portFile, tokenFile, maxSeconds] = process.argv.slice(2);
const seed = JSON.parse(fs.readFileSync(seedPath, "utf8"));
const token = fs.readFileSync(tokenFile, "utf8").trim();
const stores = { User: seed.Users || [], Group: seed.Groups || [] };

function plain(instance) {
	return JSON.parse(JSON.stringify(instance));
}

function declare(kind) {
	const store = stores[kind];
	SCIMMY.Resources.declare(SCIMMY.Resources[kind])
		.egress((resource, req) => {
			if (resource.id) {
				const found = store.find((r) => r.id === resource.id);
				if (!found) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
				return found;
			}
			const q = (req && req.query) || {};
			const constraints = { ...(resource.constraints || {}) };
			if (/^\d+$/.test(q.startIndex || "")) constraints.startIndex = Math.max(Number(q.startIndex), 1);
			if (/^\d+$/.test(q.count || "")) constraints.count = Number(q.count);
			resource.constraints = constraints;
			return resource.filter ? resource.filter.match(store) : store;
		})
		.ingress((resource, instance) => {
			const now = new Date().toISOString();
			const data = plain(instance);
			if (resource.id) {
				const i = store.findIndex((r) => r.id === resource.id);
				if (i < 0) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
				store[i] = { ...data, id: resource.id, meta: { ...(store[i].meta || {}), lastModified: now } };
				return store[i];
			}
			const rec = { ...data, id: crypto.randomUUID(), meta: { created: now, lastModified: now } };
			store.push(rec);
			return rec;
		})
		.degress((resource) => {
			const i = store.findIndex((r) => r.id === resource.id);
			if (i < 0) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
			store.splice(i, 1);
		});
}
declare("User");
declare("Group");

const app = express();
app.use(
	"/scim/v2",
	new SCIMMYRouters({
		type: "bearer",
		docUri: "https://example.invalid/auth",
		handler: (req) => {
			if (req.header("Authorization") !== `Bearer ${token}`) throw new Error("Bad credentials");
			return "test-client";
		},
		context: (req) => req,
	})
);

const server = https.createServer(
	{ key: fs.readFileSync(`${certDir}/server.key`), cert: fs.readFileSync(`${certDir}/server.pem`) },
	app
);
server.listen(0, "127.0.0.1", () => {
	fs.writeFileSync(`${portFile}.tmp`, `${server.address().port}\n`);
	fs.renameSync(`${portFile}.tmp`, portFile);
});
// Never outlive the test that started it.
setTimeout(() => process.exit(0), 1000 * Number(maxSeconds || 300)).unref();
process.on("SIGTERM", () => process.exit(0));
