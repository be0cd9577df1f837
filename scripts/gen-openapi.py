#!/usr/bin/env python3
"""Writes docs/openapi.json, the OpenAPI 3 document of the admin API.

The document is the reviewed artefact; this script only keeps its repetitive parts (errors,
pagination, the export transitions) consistent. tests/unit/api/openapi_test.cpp checks that
the routes the broker registers and the paths documented here are the same set.
"""
import json
import pathlib

PROBLEM = {"$ref": "#/components/responses/Problem"}


def err(*codes):
    # Whatever can answer 401 answers 429 to a source that used up its failed authentications.
    if 401 in codes:
        codes = codes + (429,)
    return {str(c): PROBLEM for c in codes}


def ok(schema_ref, code="200", desc="OK", etag=False):
    r = {"description": desc, "content": {"application/json": {"schema": {"$ref": schema_ref}}}}
    if etag:
        r["headers"] = {"ETag": {"$ref": "#/components/headers/ETag"}}
    return {code: r}


def page_params():
    return [
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
        {"name": "after", "in": "query", "description": "cursor from the previous page's next", "schema": {"type": "string"}},
    ]


export_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
if_match = {"name": "If-Match", "in": "header", "description": "the export's ETag; 412 if it changed",
            "schema": {"type": "string"}}
bearer = [{"bearer": []}]

paths = {
    "/healthz": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "alive"}}}},
    "/readyz": {"get": {"summary": "Readiness: store open, inventory loaded, with details", "security": [],
                        "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}}}},
    "/metrics": {"get": {"summary": "The broker's own metrics (Prometheus text format)", "security": [],
                         "responses": {"200": {"description": "metrics",
                                               "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    "/federate": {"get": {"summary": "The peers' exported metrics (Prometheus text format), each series labelled "
                                     "meshfed_source_domain; gone once a peer is stale",
                          "security": [],
                          "parameters": [{"name": "match[]", "in": "query", "required": False,
                                          "description": "PromQL series selector; repeatable; a series is served if "
                                                         "any selector matches it; none: every series",
                                          "schema": {"type": "array", "items": {"type": "string"}},
                                          "style": "form", "explode": True}],
                          "responses": {"200": {"description": "federated series",
                                                "content": {"text/plain": {"schema": {"type": "string"}}}},
                                        **err(400)}}},
    "/api/v1/openapi.json": {"get": {"summary": "This document", "security": [],
                                     "responses": {"200": {"description": "OpenAPI 3 document"}}}},
    "/api/v1/services": {"get": {"summary": "The local inventory (role viewer)", "security": bearer,
                                 "responses": {**ok("#/components/schemas/ServiceList"), **err(401, 403)}}},
    "/api/v1/exports": {
        "get": {"summary": "List exports (role viewer)", "security": bearer,
                "parameters": [{"name": "state", "in": "query",
                                "schema": {"$ref": "#/components/schemas/ExportState"}}] + page_params(),
                "responses": {**ok("#/components/schemas/ExportList"), **err(400, 401, 403)}},
        "post": {"summary": "Request an export (role requester)", "security": bearer,
                 "requestBody": {"required": True, "content": {"application/json": {
                     "schema": {"$ref": "#/components/schemas/ExportRequest"}}}},
                 "responses": {**ok("#/components/schemas/Export", "201", "created", etag=True),
                               **err(400, 401, 403, 409, 413, 415)}},
    },
    "/api/v1/exports/{id}": {"get": {"summary": "One export with its history (role viewer)", "security": bearer,
                                     "parameters": [export_id],
                                     "responses": {**ok("#/components/schemas/Export", etag=True), **err(401, 403, 404)}}},
    "/api/v1/audit": {"get": {"summary": "Audit entries after a sequence number (role viewer)", "security": bearer,
                              "parameters": [{"name": "since", "in": "query", "schema": {"type": "integer"}}] + page_params(),
                              "responses": {**ok("#/components/schemas/AuditList"), **err(400, 401, 403)}}},
    "/api/v1/audit/head": {"get": {"summary": "The newest audit sequence number and hash (role viewer)",
                                   "security": bearer,
                                   "responses": {**ok("#/components/schemas/AuditHead"), **err(401, 403)}}},
    "/api/v1/audit/verify": {"get": {
        "summary": "Walk the whole audit chain and cross-check it against the export transitions, as `meshfed audit "
                   "verify` does, at most every 10 s (role viewer)",
        "security": bearer, "responses": {**ok("#/components/schemas/AuditReport"), **err(401, 403)}}},
    "/api/v1/whoami": {"get": {"summary": "The caller's name, every role its token holds, and the domain (any token)",
                               "security": bearer,
                               "responses": {**ok("#/components/schemas/Whoami"), **err(401)}}},
}

import_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"},
             "description": "<peer>.<export id>"}
peer_domain = {"name": "domain", "in": "path", "required": True, "schema": {"type": "string"}}
paths["/api/v1/imports"] = {"get": {"summary": "Imports from peers (role viewer)", "security": bearer,
                                    "parameters": page_params(),
                                    "responses": {**ok("#/components/schemas/ImportList"), **err(400, 401, 403)}}}
paths["/api/v1/imports/{id}"] = {"get": {"summary": "One import (role viewer)", "security": bearer,
                                         "parameters": [import_id],
                                         "responses": {**ok("#/components/schemas/Import", etag=True), **err(401, 403, 404)}}}
for action, summary in {"accept": "Accept a pending import from a manual peer (role approver)",
                        "reject": "Reject a pending import from a manual peer (role approver)"}.items():
    paths[f"/api/v1/imports/{{id}}/{action}"] = {"post": {
        "summary": summary, "security": bearer, "parameters": [import_id, if_match],
        "requestBody": {"required": False, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Decision"}}}},
        "responses": {**ok("#/components/schemas/Import", etag=True), **err(400, 401, 403, 404, 409, 412, 415)}}}
paths["/api/v1/peers"] = {"get": {"summary": "Peers and their sync state (role viewer)", "security": bearer,
                                  "responses": {**ok("#/components/schemas/PeerList"), **err(401, 403)}}}
for action, summary in {"quarantine": "Cut a peer off: its calls are refused, its imports withdrawn (role admin)",
                        "release": "Undo a quarantine (role admin)"}.items():
    paths[f"/api/v1/peers/{{domain}}/{action}"] = {"post": {
        "summary": summary, "security": bearer, "parameters": [peer_domain],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Reason"}}}},
        "responses": {"200": {"description": "the peer's new state"}, **err(400, 401, 403, 404, 409, 415)}}}

paths["/api/v1/replicas"] = {"get": {
    "summary": "The brokers of this domain that share its store, heard from in the last minute, and which one leads "
               "(role viewer)",
    "security": bearer, "responses": {**ok("#/components/schemas/ReplicaList"), **err(401, 403, 503)}}}

paths["/api/v1/firewall"] = {"get": {
    "summary": "The cross-boundary flows this domain needs (role viewer): JSON, or an nftables table meshfed_<domain>",
    "security": bearer,
    "parameters": [{"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "nftables"], "default": "json"}},
                   {"name": "mode", "in": "query", "schema": {"type": "string", "enum": ["host", "router"], "default": "host"}}],
    "responses": {"200": {"description": "the flows", "content": {"application/json": {"schema": {"type": "object"}},
                                                                   "text/plain": {"schema": {"type": "string"}}}},
                  **err(400, 401, 403, 409)}}}

paths["/api/v1/routes"] = {"get": {
    "summary": "The gateways' routing table (role gateway); a long-poll like the peer catalog",
    "security": bearer,
    "parameters": [{"name": "since", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                   {"name": "wait", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 300}}],
    "responses": {"200": {"description": "{revision, ingress: [{sni, export_id, peer, target, proxy_protocol, expires_at}], "
                                         "egress: [{import_id, listen, peer, sni, ingress, expires_at}]}",
                          "content": {"application/json": {"schema": {"type": "object"}}}},
                  "304": {"description": "the table did not change within wait seconds"},
                  **err(400, 401, 403)}}}

paths["/api/v1/routes/egress-refusals"] = {"post": {
    "summary": "A separate egress gateway could not listen on an import's port (role gateway): the broker moves "
               "the import to a free port, or fails it with the reason",
    "security": bearer,
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["import_id", "port"], "additionalProperties": False,
        "properties": {"import_id": {"type": "string"}, "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                       "error": {"type": "string", "maxLength": 512}}}}}},
    "responses": {"200": {"description": "{import_id, port}", "content": {"application/json": {"schema": {"type": "object"}}}},
                  **err(400, 401, 403, 415)}}}

paths["/api/v1/routes/egress-listening"] = {"post": {
    "summary": "A separate egress gateway listens on these imports' ports now (role gateway): the broker publishes "
               "those imports to the control plane, which it does only once their port is held",
    "security": bearer,
    "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["listening"], "additionalProperties": False,
        "properties": {"listening": {"type": "object", "maxProperties": 1000, "description": "import id -> port",
                                     "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 65535}}}}}}},
    "responses": {"200": {"description": "{confirmed}", "content": {"application/json": {"schema": {"type": "object"}}}},
                  **err(400, 401, 403, 415)}}}

transitions = {
    "approve": "Approve a pending export (approver, not its requester)",
    "reject": "Reject a pending export (approver, not its requester)",
    "extend": "Extend an approved export's expiry (approver, not its requester); body may carry ttl_s",
    "revoke": "Revoke an approved export (approver, or its requester)",
    "cancel": "Cancel a pending export (its requester)",
}
for action, summary in transitions.items():
    schema = "#/components/schemas/ExtendDecision" if action == "extend" else "#/components/schemas/Decision"
    paths[f"/api/v1/exports/{{id}}/{action}"] = {"post": {
        "summary": summary, "security": bearer, "parameters": [export_id, if_match],
        "requestBody": {"required": False, "content": {"application/json": {"schema": {"$ref": schema}}}},
        "responses": {**ok("#/components/schemas/Export", etag=True), **err(400, 401, 403, 404, 409, 412, 415)}}}

string_list = {"type": "array", "items": {"type": "string"}}
ts = {"type": "string", "format": "date-time"}
nullable_ts = {"type": "string", "format": "date-time", "nullable": True}

components = {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "headers": {"ETag": {"description": "the export's version, quoted", "schema": {"type": "string"}}},
    "responses": {"Problem": {"description": "an error (RFC 9457)", "content": {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}},
    "schemas": {
        "Problem": {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {
                "field": {"type": "string"}, "message": {"type": "string"}}}}}},
        "ExportState": {"type": "string", "enum": ["pending", "approved", "rejected", "cancelled", "revoked", "expired"]},
        "Service": {"type": "object", "properties": {
            "mesh": {"type": "string"}, "name": {"type": "string"}, "zone": {"type": "string"},
            "address": {"type": "string"},
            "ports": {"type": "array", "items": {"type": "object", "properties": {
                "port": {"type": "integer"}, "protocol": {"type": "string"}}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "ServiceList": {"type": "object", "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Service"}},
            "next": {"type": "string", "nullable": True}}},
        "ExportRequest": {"type": "object", "additionalProperties": False,
                          "required": ["mesh", "service", "port", "peers", "reason"], "properties": {
            "mesh": {"type": "string"}, "service": {"type": "string"},
            "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            "zone": {"type": "string"}, "peers": string_list,
            "alias": {"type": "string", "description": "RFC 1035 label; default the service name"},
            "metrics": {"type": "array", "items": {"type": "string"},
                        "description": "metric names, or prefixes ending in *"},
            "ttl_s": {"type": "integer", "minimum": 1, "description": "default exports.default_ttl_s"},
            "proxy_protocol": {"type": "boolean"}, "reason": {"type": "string", "minLength": 1}}},
        "Decision": {"type": "object", "additionalProperties": False,
                     "properties": {"comment": {"type": "string"}}},
        "ExtendDecision": {"type": "object", "additionalProperties": False, "properties": {
            "comment": {"type": "string"}, "ttl_s": {"type": "integer", "minimum": 1}}},
        "HistoryEntry": {"type": "object", "properties": {
            "time": ts, "actor": {"type": "string"}, "action": {"type": "string"},
            "from": {"type": "string", "nullable": True}, "to": {"type": "string"},
            "comment": {"type": "string"}, "audit_seq": {"type": "integer"}}},
        "Export": {"type": "object", "properties": {
            "id": {"type": "string"}, "mesh": {"type": "string"}, "service": {"type": "string"},
            "port": {"type": "integer"}, "protocol": {"type": "string"}, "zone": {"type": "string"},
            "alias": {"type": "string"}, "peers": string_list, "metrics": string_list,
            "proxy_protocol": {"type": "boolean"}, "sni": {"type": "string"},
            "state": {"$ref": "#/components/schemas/ExportState"}, "target_missing": {"type": "boolean"},
            "version": {"type": "integer"}, "requested_by": {"type": "string"}, "requested_at": ts,
            "reason": {"type": "string"}, "ttl_s": {"type": "integer"}, "pending_expires_at": ts,
            "decided_by": {"type": "string", "nullable": True}, "approved_at": nullable_ts,
            "expires_at": nullable_ts,
            "history": {"type": "array", "items": {"$ref": "#/components/schemas/HistoryEntry"}}}},
        "ExportList": {"type": "object", "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Export"}},
            "next": {"type": "string", "nullable": True}}},
        "AuditEntry": {"type": "object", "properties": {
            "seq": {"type": "integer"}, "time": ts, "actor": {"type": "string"}, "action": {"type": "string"},
            "object": {"type": "string"}, "details": {"type": "object"},
            "prev_hash": {"type": "string"}, "hash": {"type": "string"}}},
        "AuditList": {"type": "object", "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}},
            "next": {"type": "string", "nullable": True}}},
        "Endpoint": {"type": "object", "properties": {"host": {"type": "string"}, "port": {"type": "integer"}}},
        "Import": {"type": "object", "properties": {
            "id": {"type": "string"}, "peer": {"type": "string"}, "export_id": {"type": "string"},
            "alias": {"type": "string"}, "service": {"type": "string"}, "port": {"type": "integer"},
            "protocol": {"type": "string"}, "sni": {"type": "string"},
            "ingress": {"$ref": "#/components/schemas/Endpoint"},
            "local": {"allOf": [{"$ref": "#/components/schemas/Endpoint"}], "nullable": True},
            "state": {"type": "string", "enum": ["pending_acceptance", "active", "stale", "failed", "rejected", "withdrawn"]},
            "reason": {"type": "string"}, "version": {"type": "integer"}, "first_seen": ts, "last_seen": ts,
            "approved_at": nullable_ts, "expires_at": nullable_ts,
            "history": {"type": "array", "description": "GET /api/v1/imports/{id} only: every step, oldest first",
                        "items": {"type": "object", "properties": {
                            "time": ts, "actor": {"type": "string"}, "from": {"type": "string", "nullable": True},
                            "to": {"type": "string"}, "reason": {"type": "string"},
                            "audit_seq": {"type": "integer"}}}}}},
        "ImportList": {"type": "object", "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Import"}},
            "next": {"type": "string", "nullable": True}}},
        "Peer": {"type": "object", "properties": {
            "domain": {"type": "string"}, "trust_domain": {"type": "string"},
            "state": {"type": "string", "enum": ["connected", "unreachable", "stale", "quarantined", "flapping"]},
            "last_success": nullable_ts, "last_error": {"type": "string", "nullable": True},
            "revision": {"type": "integer"}, "imports": {"type": "object", "additionalProperties": {"type": "integer"}},
            "quarantined": {"type": "object", "properties": {"since": ts, "by": {"type": "string"},
                                                             "reason": {"type": "string"}}}}},
        "PeerList": {"type": "object", "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Peer"}},
            "next": {"type": "string", "nullable": True}}},
        "Replica": {"type": "object", "required": ["id", "address", "role", "last_heartbeat"], "properties": {
            "id": {"type": "string", "description": "replica_id (default: the host name)"},
            "address": {"type": "string", "description": "its admin API, host:port"},
            "role": {"type": "string", "enum": ["leader", "follower"]}, "last_heartbeat": ts}},
        "ReplicaList": {"type": "object", "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Replica"}},
            "next": {"type": "string", "nullable": True}}},
        "Reason": {"type": "object", "additionalProperties": False, "required": ["reason"],
                   "properties": {"reason": {"type": "string", "minLength": 1}}},
        "AuditHead": {"type": "object", "properties": {"seq": {"type": "integer"}, "hash": {"type": "string"}}},
        "AuditReport": {"type": "object", "properties": {
            "ok": {"type": "boolean"}, "entries": {"type": "integer"},
            "head": {"$ref": "#/components/schemas/AuditHead"},
            "problem": {"type": "string", "nullable": True, "description": "the first problem, naming the entry"},
            "checked_at": {"type": "string", "format": "date-time",
                           "description": "when the chain was walked; a walk is made at most every 10 s, and "
                                          "the last report is returned in between"}}},
        "Whoami": {"type": "object", "properties": {
            "name": {"type": "string"}, "domain": {"type": "string"},
            "roles": {"type": "array", "items": {"type": "string"},
                      "description": "every role the token holds, implied ones included (admin implies viewer, "
                                     "requester and approver; requester and approver imply viewer)"}}},
    },
}

doc = {
    "openapi": "3.0.3",
    "info": {"title": "meshfed admin API", "version": "v1",
             "description": "Governed exports of service ports between shared-nothing mesh domains. "
                            "Errors are application/problem+json (RFC 9457)."},
    "security": bearer,
    "paths": paths,
    "components": components,
}

out = pathlib.Path(__file__).resolve().parent.parent / "docs" / "openapi.json"
out.write_text(json.dumps(doc, indent=2) + "\n")
