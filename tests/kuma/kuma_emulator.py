#!/usr/bin/env python3
"""An emulator of a Kuma global control plane's REST API, for meshfed's tests.

It follows Kuma's REST API (the contract the Kuma adapter is written against): routes,
the universal envelope, PUT 201/200 with `{}` bodies, DELETE, `/std-errors` error bodies, 404
for an unknown mesh, 405 for types that are read-only on Global, pagination (default 100, at
most 1000, numeric offset, absolute `next`, `null` on the last page), `name` and
`filter[labels.*]` filters, bearer-token authentication with localhost-is-admin switched off,
zone-originated MeshServices and Dataplanes with hashed names and display-name labels.

Kuma itself cannot be installed here; this is the only emulator the project allows.

Usage:
  kuma_emulator.py --port 0 --token TOKEN [--version 2.14.3] [--port-file FILE]

Test control (outside Kuma's API, under /_emulator/):
  PUT  /_emulator/zone/{zone}/meshes/{mesh}/{meshservices|dataplanes}/{display-name}
       a resource as a zone would sync it to Global (hashed name, zone labels); body = the
       resource as the zone has it (spec or networking, labels, status)
  POST /_emulator/outage {"status": 503, "count": N}   the next N API calls fail with `status`
  GET  /_emulator/requests                              every API call so far: [method, path]
  GET  /_emulator/writes[?since=N]                      every call but GET (from the N-th), in arrival order:
       {"method", "path", "term", "at_ms"} (term: the X-Meshfed-Term header, null without one;
       at_ms: the host's clock when the call arrived)
"""
import argparse
import datetime
import hashlib
import json
import os
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Types the emulator knows: plural path -> (type name, scope, legacy shape, writable on Global, short name)
TYPES = {
    "meshes": ("Mesh", "Global", True, True, "m"),
    "dataplanes": ("Dataplane", "Mesh", True, False, "dp"),
    "meshservices": ("MeshService", "Mesh", False, False, "msvc"),
    "meshexternalservices": ("MeshExternalService", "Mesh", False, True, "extsvc"),
    "meshtrafficpermissions": ("MeshTrafficPermission", "Mesh", False, True, "mtp"),
    "meshtcproutes": ("MeshTCPRoute", "Mesh", False, True, "mtcpr"),
    "meshmetrics": ("MeshMetric", "Mesh", False, True, "mm"),
    "secrets": ("Secret", "Mesh", True, True, ""),
    "global-secrets": ("GlobalSecret", "Global", True, True, ""),
    "zoneingresses": ("ZoneIngress", "Global", True, False, "zi"),
}
ADMIN_ONLY = {"Secret", "GlobalSecret"}
RFC1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
RFC1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
READ_ONLY_DETAIL = ("On global control plane you can not modify dataplane resources with 'kumactl apply' or via "
                    "the HTTP API. You can modify them only via the zone control plane.")


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def version_tuple(v):
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def hashed_name(display, mesh, zone):
    """Global's name for a zone-originated object: <display>-<16 safe characters>."""
    digest = hashlib.sha256(f"{mesh}/{display}/{zone}".encode()).hexdigest()
    safe = "".join("bcdfghjklmnpqrstvwxz2456789"[int(digest[i:i + 2], 16) % 27] for i in range(0, 32, 2))
    return f"{display}-{safe}"


class Store:
    def __init__(self, version):
        self.version = version_tuple(version)
        self.version_text = version
        self.lock = threading.Lock()
        self.items = {}  # (plural, mesh or "", name) -> resource
        self.outage = {"status": 0, "count": 0}
        self.requests = []
        self.writes = []
        self.put_mesh("default")

    def put_mesh(self, name, body=None):
        res = {"type": "Mesh", "name": name, "creationTime": now(), "modificationTime": now()}
        res.update({k: v for k, v in (body or {}).items() if k not in ("type", "name")})
        self.items[("meshes", "", name)] = res

    def kri(self, short, mesh, zone, namespace, display):
        return f"kri_{short}_{mesh}_{zone}_{namespace}_{display}_"

    def decorate(self, plural, res):
        """Server-computed output fields for the emulated version."""
        out = dict(res)
        _, scope, legacy, _, short = TYPES[plural]
        labels = dict(out.get("labels") or {})
        if self.version >= (2, 13) and short:
            display = labels.get("kuma.io/display-name", out["name"])
            out["kri"] = self.kri(short, out.get("mesh", ""), labels.get("kuma.io/zone", ""),
                                  labels.get("k8s.kuma.io/namespace", ""), display)
        if self.version >= (2, 14) and plural in ("meshservices", "meshexternalservices"):
            display = labels.get("kuma.io/display-name", out["name"])
            out["snis"] = [{"port": p.get("port"), "sni": f"sni.{short}.{out['mesh']}.{display}.{p.get('port')}"}
                           for p in ([out["spec"]["match"]] if plural == "meshexternalservices"
                                     else out.get("spec", {}).get("ports", []))]
        if not labels:
            out.pop("labels", None)
        return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kuma-emulator"

    # --- plumbing -------------------------------------------------------------------------
    def log_message(self, fmt, *args):  # quiet: tests read state through the API
        pass

    def send_json(self, status, body):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_text(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, title, detail, params=None):
        body = {"type": "/std-errors", "status": status, "title": title, "detail": detail, "details": detail}
        if params:
            body["invalid_parameters"] = [{"field": f, "reason": r} for f, r in params]
            body["causes"] = [{"field": f, "message": r} for f, r in params]
        self.send_json(status, body)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    @property
    def store(self):
        return self.server.store

    def caller(self):
        """'admin', 'anonymous', or None for a bad token (localhostIsAdmin is off)."""
        auth = self.headers.get("Authorization")
        if auth is None:
            return "anonymous"
        if auth == f"Bearer {self.server.token}":
            return "admin"
        return None

    # --- dispatch -------------------------------------------------------------------------
    def do_GET(self):
        self.dispatch("GET")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_POST(self):
        self.dispatch("POST")

    def dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        parts = [urllib.parse.unquote(p) for p in url.path.split("/") if p]
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        body = self.read_body()
        if parts[:1] == ["_emulator"]:
            return self.control(method, parts[1:], body, query)
        with self.store.lock:
            self.store.requests.append([method, url.path])
            if method != "GET":
                term = self.headers.get("X-Meshfed-Term")
                self.store.writes.append({"method": method, "path": url.path,
                                          "term": int(term) if term is not None and term.isdigit() else None,
                                          "at_ms": int(time.time() * 1000)})
            if self.store.outage["count"] > 0:
                self.store.outage["count"] -= 1
                status = self.store.outage["status"]
                return self.error(status, "Service unavailable" if status == 503 else "Internal Server Error",
                                  "emulated outage")
        if not parts:
            return self.send_json(200, {"hostname": "kuma-emulator", "product": "Kuma",
                                        "version": self.store.version_text, "instanceId": "emulator",
                                        "clusterId": "emulator-cluster", "gui": "The gui is available at /gui"})
        who = self.caller()
        if who is None:
            return self.error(401, "Invalid authentication data", "Unauthenticated")
        if parts == ["who-am-i"]:
            name = "mesh-system:admin" if who == "admin" else "mesh-system:anonymous"
            groups = ["mesh-system:admin", "mesh-system:authenticated"] if who == "admin" else [
                "mesh-system:unauthenticated"]
            return self.send_json(200, {"name": name, "groups": groups})
        if parts == ["_resources"]:
            return self.send_json(200, {"resources": [
                {"name": t[0], "scope": t[1], "readOnly": not t[3], "path": p, "singularDisplayName": t[0],
                 "pluralDisplayName": t[0] + "s", "shortName": t[4], "includeInFederation": True}
                for p, t in TYPES.items()]})
        with self.store.lock:
            return self.route(method, parts, query, body, who)

    def route(self, method, parts, query, body, who):
        if parts[0] == "meshes" and len(parts) <= 2:
            if len(parts) == 1:
                return self.list("meshes", None, query) if method == "GET" else self.send_text(405, "405: Method Not Allowed")
            return self.one(method, "meshes", "", parts[1], body, who)
        if parts[0] == "meshes" and len(parts) in (3, 4):
            mesh, plural = parts[1], parts[2]
            if plural not in TYPES or TYPES[plural][1] != "Mesh":
                return self.error(400, "Bad Request", f"unknown resource type: {plural}")
            if ("meshes", "", mesh) not in self.store.items:
                return self.error(404, "Failed to retrieve Mesh", "Not found")
            if len(parts) == 3:
                return self.list(plural, mesh, query) if method == "GET" else self.send_text(405, "405: Method Not Allowed")
            return self.one(method, plural, mesh, parts[3], body, who)
        if len(parts) == 1 and parts[0] in TYPES and method == "GET":
            return self.list(parts[0], None, query)
        if len(parts) == 2 and parts[0] in TYPES and TYPES[parts[0]][1] == "Global":
            return self.one(method, parts[0], "", parts[1], body, who)
        return self.send_text(404, "404 page not found")

    # --- lists ----------------------------------------------------------------------------
    def list(self, plural, mesh, query):
        params = []
        size, offset = 100, 0
        if "size" in query:
            try:
                size = int(query["size"][0])
                if size <= 0:
                    params.append(("size", "must be greater than 0"))
                elif size > 1000:
                    params.append(("size", f"invalid page size of {size}. Maximum page size is 1000"))
            except ValueError:
                params.append(("size", "invalid format"))
        if params:
            return self.error(400, "Could not retrieve resources", "Invalid page size", params)
        if "offset" in query:
            raw = query["offset"][0]
            try:
                offset = int(raw)
            except ValueError:
                return self.error(400, "Bad Request",
                                  f'invalid: invalid offset: strconv.Atoi: parsing "{raw}": invalid syntax')
            if offset < 0:
                return self.error(400, "Bad Request", "invalid offset: must be non-negative")
        label_filters = {}
        for key, values in query.items():
            m = re.fullmatch(r"filter\[(.*)\]", key)
            if not m:
                continue
            inner = m.group(1)
            if "][" in inner:
                return self.error(400, "Could not retrieve resources", "Resource is not valid",
                                  [(f"{self.path.split('?')[0]}.{key}", "advanced filters are not supported")])
            if not inner.startswith("labels.") or self.store.version < (2, 10):
                return self.error(400, "Could not retrieve resources", "Resource is not valid",
                                  [(f"{self.path.split('?')[0]}.{key}", "filters are only supported on labels")])
            label_filters[inner[len("labels."):]] = values[0]
        name_part = query.get("name", [""])[0]
        items = [r for (p, m, n), r in self.store.items.items()
                 if p == plural and (mesh is None or m == mesh) and name_part in n
                 and all((r.get("labels") or {}).get(k) == v for k, v in label_filters.items())]
        items.sort(key=lambda r: (r.get("mesh", ""), r["name"]))
        page = items[offset:offset + size]
        nxt = None
        if offset + size < len(items):
            q = {k: v[0] for k, v in query.items()}
            q["offset"] = str(offset + size)
            host = self.headers.get("Host", "localhost")
            path = urllib.parse.urlsplit(self.path).path
            nxt = f"http://{host}{path}?" + urllib.parse.urlencode(sorted(q.items()))
        return self.send_json(200, {"total": len(items), "items": [self.store.decorate(plural, r) for r in page],
                                    "next": nxt})

    # --- one resource ---------------------------------------------------------------------
    def one(self, method, plural, mesh, name, body, who):
        type_name, scope, legacy, writable, _ = TYPES[plural]
        if type_name in ADMIN_ONLY and who != "admin":
            return self.error(403, "Access Denied", 'user "mesh-system:anonymous/mesh-system:unauthenticated" '
                              f'cannot access the resource of type "{type_name}"')
        key = (plural, mesh, name)
        if method == "GET":
            if key not in self.store.items:
                return self.error(404, "Could not retrieve a resource", "Not found")
            return self.send_json(200, self.store.decorate(plural, self.store.items[key]))
        if method not in ("PUT", "DELETE"):
            return self.send_text(405, "405: Method Not Allowed")
        if not writable:
            return self.error(405, "Method not Allowed", READ_ONLY_DETAIL)
        if method == "DELETE":
            if key not in self.store.items:
                return self.error(404, "Could not delete a resource", "Not found")
            del self.store.items[key]
            return self.send_json(200, {} if self.store.version >= (2, 10) else None)
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return self.send_text(415, "415: Unsupported Media Type")
        try:
            res = json.loads(body)
            if not isinstance(res, dict):
                raise ValueError("not an object")
        except ValueError:
            return self.error(400, "Bad Request", f'invalid {type_name} object: "{body[:100].decode(errors="replace")}"')
        params = []
        if res.get("type") != type_name:
            params.append(("type", f"type from the URL has to be the same as in body"))
        if res.get("name") != name:
            params.append(("name", "name from the URL has to be the same as in body"))
        if scope == "Mesh" and res.get("mesh", "default") != mesh:
            params.append(("mesh", "mesh from the URL has to be the same as in body"))
        labels = res.get("labels") or {}
        if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            params.append(("labels", "labels must be a map of strings"))
        elif labels.get("kuma.io/origin", "global") != "global":
            params.append(('labels["kuma.io/origin"]', "the origin label must be set to 'global'"))
        params += self.validate(type_name, res)
        warnings = []
        if type_name in ("Mesh", "MeshExternalService") and not RFC1035.match(name):
            if self.store.version >= (3, 0):
                params.append(("name", "invalid name: must be a valid RFC 1035 label"))
            else:
                warnings.append(f"name {name} is not a valid RFC 1035 label; it will be rejected in a future release")
        elif not RFC1123.match(name) and self.store.version >= (2, 10):
            params.append(("name", "invalid name: must be a valid RFC 1123 subdomain"))
        if params:
            title = "Failed to update a resource" if key in self.store.items else "Failed to create a resource"
            return self.error(400, title, "Resource is not valid", params)
        created = key not in self.store.items
        stored = {"type": type_name}
        if scope == "Mesh":
            stored["mesh"] = mesh
        stored["name"] = name
        stored["creationTime"] = now() if created else self.store.items[key]["creationTime"]
        stored["modificationTime"] = now()
        out_labels = dict(labels)
        if scope == "Mesh" and self.store.version >= (2, 9):
            out_labels["kuma.io/mesh"] = mesh
        if out_labels:
            stored["labels"] = out_labels
        for k, v in res.items():
            if k not in ("type", "mesh", "name", "labels", "creationTime", "modificationTime", "kri", "snis", "status"):
                stored[k] = v
        if not legacy:
            stored["status"] = {"vip": {}} if type_name == "MeshExternalService" else res.get("status", {})
            stored.setdefault("spec", {})
        self.store.items[key] = stored
        reply = {"warnings": warnings} if warnings else ({} if self.store.version >= (2, 10) else None)
        return self.send_json(201 if created else 200, reply)

    @staticmethod
    def validate(type_name, res):
        """The schema checks of kuma-api.md that an adapter can trip over."""
        spec = res.get("spec")
        if type_name == "MeshExternalService":
            if not isinstance(spec, dict):
                return [("spec", "must be defined")]
            params = []
            match = spec.get("match")
            if not isinstance(match, dict):
                params.append(("spec.match", "must be defined"))
            else:
                if match.get("type", "HostnameGenerator") != "HostnameGenerator":
                    params.append(("spec.match.type", "unsupported value"))
                port = match.get("port")
                if not isinstance(port, int) or not 1 <= port <= 65535:
                    params.append(("spec.match.port", "port must be a valid (1-65535)"))
                if match.get("protocol", "tcp") not in ("tcp", "grpc", "http", "http2"):
                    params.append(("spec.match.protocol", "unsupported value"))
            if "extension" not in spec:
                endpoints = spec.get("endpoints")
                if not isinstance(endpoints, list) or not endpoints:
                    params.append(("spec.endpoints", "must be defined"))
                else:
                    for i, e in enumerate(endpoints):
                        if not isinstance(e, dict) or not e.get("address"):
                            params.append((f"spec.endpoints[{i}].address", "must be defined"))
                        if not isinstance(e, dict) or not isinstance(e.get("port"), int) or not 1 <= e["port"] <= 65535:
                            params.append((f"spec.endpoints[{i}].port", "port must be a valid (1-65535)"))
            return params
        if type_name == "MeshTrafficPermission":
            if not isinstance(spec, dict) or not isinstance(spec.get("targetRef"), dict):
                return [("spec.targetRef", "must be defined")]
            if "from" not in spec and "rules" not in spec:
                return [("spec", "at least one of 'from', 'rules' has to be defined")]
        return []

    # --- test control ---------------------------------------------------------------------
    def control(self, method, parts, body, query):
        with self.store.lock:
            if method == "GET" and parts == ["requests"]:
                return self.send_json(200, self.store.requests)
            if method == "GET" and parts == ["writes"]:
                since = query.get("since", ["0"])[0]
                return self.send_json(200, self.store.writes[int(since) if since.isdigit() else 0:])
            if method == "POST" and parts == ["outage"]:
                self.store.outage = json.loads(body)
                return self.send_json(200, {})
            if method == "PUT" and len(parts) == 6 and parts[0] == "zone" and parts[2] == "meshes" \
                    and parts[4] in ("meshservices", "dataplanes"):
                zone, mesh, plural, display = parts[1], parts[3], parts[4], parts[5]
                res = json.loads(body) if body else {}
                name = hashed_name(display, mesh, zone)
                labels = dict(res.get("labels") or {})
                labels.update({"kuma.io/display-name": display, "kuma.io/origin": "zone", "kuma.io/zone": zone,
                               "kuma.io/env": "universal", "kuma.io/mesh": mesh})
                stored = {"type": TYPES[plural][0], "mesh": mesh, "name": name, "creationTime": now(),
                          "modificationTime": now(), "labels": labels}
                stored.update({k: v for k, v in res.items() if k not in stored})
                if plural == "meshservices":
                    stored.setdefault("spec", {})
                    # As the zone computed it: its own hostname generator and a VIP from 241.0.0.0/8.
                    vip = len([k for k in self.store.items if k[0] == "meshservices"]) + 1
                    stored.setdefault("status", {
                        "addresses": [{"hostname": f"{display}.svc.mesh.local", "origin": "HostnameGenerator",
                                       "hostnameGeneratorRef": {"coreName": "local-universal-mesh-service"}}],
                        "vips": [{"ip": f"241.0.{vip // 256}.{vip % 256}"}],
                        "tls": {}, "dataplaneProxies": {}})
                self.store.items[(plural, mesh, name)] = stored
                return self.send_json(200, {"name": name})
            if method == "PUT" and len(parts) == 2 and parts[0] == "meshes":
                self.store.put_mesh(parts[1], json.loads(body) if body else {})
                return self.send_json(200, {})
        return self.send_text(404, "no such emulator control")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=5681)
    ap.add_argument("--token", required=True, help="the admin user token callers must send")
    ap.add_argument("--version", default="2.14.3", help="the Kuma version to behave as (2.9 to 3.0)")
    ap.add_argument("--port-file", help="write the bound port here once listening")
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.store = Store(args.version)
    server.token = args.token
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"kuma emulator {args.version} on 127.0.0.1:{server.server_address[1]}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
