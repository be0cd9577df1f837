#!/usr/bin/env python3
"""The Kuma emulator against the examples and rules of Kuma's REST API."""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "emulator-admin-token"


class Emulator:
    def __init__(self, version="2.14.3"):
        self.dir = tempfile.TemporaryDirectory()
        port_file = os.path.join(self.dir.name, "port")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "kuma_emulator.py"), "--port", "0", "--token",
                                      TOKEN, "--version", version, "--port-file", port_file])
        deadline = time.monotonic() + 20
        while not os.path.exists(port_file):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("emulator did not start")
            time.sleep(0.02)  # polling interval of the start-up wait
        with open(port_file) as f:
            self.base = f"http://127.0.0.1:{f.read().strip()}"

    def close(self):
        self.proc.terminate()
        self.proc.wait()
        self.dir.cleanup()

    def call(self, method, path, body=None, token=TOKEN, content_type="application/json", headers=None):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(self.base + path, data=data, method=method)
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        if data is not None and content_type:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None, r.headers
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw), e.headers
            except ValueError:
                return e.code, raw.decode(), e.headers


def mes(name, port=8443, mesh="default", labels=None):
    body = {"type": "MeshExternalService", "name": name, "mesh": mesh,
            "spec": {"match": {"type": "HostnameGenerator", "port": port, "protocol": "tcp"},
                     "endpoints": [{"address": "127.0.0.1", "port": 16000}]}}
    if labels:
        body["labels"] = labels
    return body


class KumaEmulatorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kuma = Emulator()

    @classmethod
    def tearDownClass(cls):
        cls.kuma.close()

    def test_index_needs_no_token_and_names_the_version(self):
        status, body, _ = self.kuma.call("GET", "/", token=None)
        self.assertEqual(status, 200)
        self.assertEqual(body["product"], "Kuma")
        self.assertEqual(body["version"], "2.14.3")

    def test_wrong_token_is_401_and_anonymous_cannot_read_secrets(self):
        status, body, headers = self.kuma.call("GET", "/meshes", token="wrong")
        self.assertEqual(status, 401)
        self.assertEqual(body["type"], "/std-errors")
        self.assertEqual(body["title"], "Invalid authentication data")
        self.assertEqual(body["details"], body["detail"])
        self.assertEqual(headers["Content-Type"], "application/json")
        status, body, _ = self.kuma.call("GET", "/global-secrets/admin-user-token", token=None)
        self.assertEqual(status, 403)
        self.assertEqual(body["title"], "Access Denied")
        status, who, _ = self.kuma.call("GET", "/who-am-i")
        self.assertEqual(who["name"], "mesh-system:admin")

    def test_put_creates_201_then_updates_200_and_delete_200_with_empty_objects(self):
        status, body, _ = self.kuma.call("PUT", "/meshes/default/meshexternalservices/crud", mes("crud"))
        self.assertEqual((status, body), (201, {}))
        status, body, _ = self.kuma.call("PUT", "/meshes/default/meshexternalservices/crud", mes("crud", 9000))
        self.assertEqual((status, body), (200, {}))
        status, got, _ = self.kuma.call("GET", "/meshes/default/meshexternalservices/crud")
        self.assertEqual(got["spec"]["match"]["port"], 9000)
        self.assertEqual(got["labels"]["kuma.io/mesh"], "default")
        self.assertEqual(got["status"], {"vip": {}})
        self.assertEqual(got["kri"], "kri_extsvc_default___crud_")
        self.assertEqual(got["snis"], [{"port": 9000, "sni": "sni.extsvc.default.crud.9000"}])
        self.assertIn("creationTime", got)
        self.assertEqual(self.kuma.call("DELETE", "/meshes/default/meshexternalservices/crud")[:2], (200, {}))
        status, body, _ = self.kuma.call("DELETE", "/meshes/default/meshexternalservices/crud")
        self.assertEqual(status, 404)
        self.assertEqual(body["title"], "Could not delete a resource")

    def test_writes_are_logged_in_arrival_order_with_their_term(self):
        self.kuma.call("PUT", "/meshes/default/meshexternalservices/termed", mes("termed"),
                       headers={"X-Meshfed-Term": "7"})
        self.kuma.call("GET", "/meshes/default/meshexternalservices/termed", headers={"X-Meshfed-Term": "7"})
        self.kuma.call("DELETE", "/meshes/default/meshexternalservices/termed")
        _, writes, _ = self.kuma.call("GET", "/_emulator/writes")
        mine = [w for w in writes if w["path"].endswith("/termed")]
        self.assertEqual([(w["method"], w["term"]) for w in mine], [("PUT", 7), ("DELETE", None)])
        self.assertLessEqual(mine[0]["at_ms"], mine[1]["at_ms"])

    def test_unknown_mesh_is_404_failed_to_retrieve_mesh(self):
        for method, body in (("GET", None), ("PUT", mes("x", mesh="nope"))):
            status, err, _ = self.kuma.call(method, "/meshes/nope/meshexternalservices/x", body)
            self.assertEqual(status, 404)
            self.assertEqual((err["title"], err["detail"]), ("Failed to retrieve Mesh", "Not found"))

    def test_mismatches_are_400_with_one_parameter_each(self):
        body = mes("other", mesh="default")
        body["type"] = "MeshService"
        status, err, _ = self.kuma.call("PUT", "/meshes/default/meshexternalservices/this", body)
        self.assertEqual(status, 400)
        self.assertEqual(err["detail"], "Resource is not valid")
        self.assertEqual({p["field"] for p in err["invalid_parameters"]}, {"type", "name"})
        self.assertEqual([c["field"] for c in err["causes"]], [p["field"] for p in err["invalid_parameters"]])
        bad = mes("bad-port", port=70000)
        status, err, _ = self.kuma.call("PUT", "/meshes/default/meshexternalservices/bad-port", bad)
        self.assertEqual(status, 400)
        self.assertEqual(err["invalid_parameters"][0]["field"], "spec.match.port")
        status, err, _ = self.kuma.call("PUT", "/meshes/default/meshexternalservices/o",
                                        mes("o", labels={"kuma.io/origin": "zone"}))
        self.assertEqual(err["invalid_parameters"][0]["field"], 'labels["kuma.io/origin"]')

    def test_put_without_json_content_type_is_plain_415(self):
        status, body, _ = self.kuma.call("PUT", "/meshes/default/meshexternalservices/ct", mes("ct"), content_type="text/plain")
        self.assertEqual((status, body), (415, "415: Unsupported Media Type"))

    def test_meshservices_are_read_only_on_global(self):
        status, err, _ = self.kuma.call("PUT", "/meshes/default/meshservices/redis",
                                        {"type": "MeshService", "name": "redis", "mesh": "default", "spec": {}})
        self.assertEqual(status, 405)
        self.assertEqual(err["title"], "Method not Allowed")

    def test_pagination_filters_and_sorting(self):
        for i in range(250):
            self.kuma.call("PUT", f"/_emulator/zone/zone-{i % 2 + 1}/meshes/default/meshservices/svc-{i:03d}",
                           {"spec": {"ports": [{"port": 8000 + i, "appProtocol": "http"}]}})
        status, page, _ = self.kuma.call("GET", "/meshes/default/meshservices")
        self.assertEqual((status, page["total"], len(page["items"])), (200, 250, 100))
        self.assertTrue(page["next"].startswith(self.kuma.base + "/meshes/default/meshservices?offset=100"))
        names = [i["labels"]["kuma.io/display-name"] for i in page["items"]]
        first = page["items"][0]
        self.assertEqual(first["labels"]["kuma.io/origin"], "zone")
        self.assertEqual(first["status"]["addresses"][0]["hostname"], names[0] + ".svc.mesh.local")
        self.assertTrue(first["status"]["vips"][0]["ip"].startswith("241."))
        self.assertEqual([i["name"] for i in page["items"]], sorted(i["name"] for i in page["items"]))
        self.assertTrue(all(i["name"].startswith(d + "-") and len(i["name"]) == len(d) + 17
                            for i, d in zip(page["items"], names)))
        seen = len(page["items"])
        while page["next"]:
            _, page, _ = self.kuma.call("GET", page["next"][len(self.kuma.base):])
            seen += len(page["items"])
        self.assertEqual(seen, 250)
        self.assertIsNone(page["next"])
        _, page, _ = self.kuma.call("GET", "/meshes/default/meshservices?size=2&offset=4")
        self.assertEqual(page["next"], self.kuma.base + "/meshes/default/meshservices?offset=6&size=2")
        _, only, _ = self.kuma.call(
            "GET", "/meshes/default/meshservices?filter[labels.kuma.io/zone]=zone-2&filter[labels.kuma.io/display-name]=svc-007")
        self.assertEqual(only["total"], 1)
        self.assertEqual(only["items"][0]["labels"]["kuma.io/zone"], "zone-2")
        for query, reason in (("size=0", "must be greater than 0"), ("size=x", "invalid format"),
                              ("size=2000", "invalid page size of 2000. Maximum page size is 1000")):
            status, err, _ = self.kuma.call("GET", "/meshes/default/meshservices?" + query)
            self.assertEqual(status, 400)
            self.assertEqual(err["invalid_parameters"][0], {"field": "size", "reason": reason})
        status, err, _ = self.kuma.call("GET", "/meshes/default/meshservices?offset=x")
        self.assertEqual(status, 400)
        status, err, _ = self.kuma.call("GET", "/meshes/default/meshservices?filter[foo]=1")
        self.assertEqual(err["invalid_parameters"][0]["reason"], "filters are only supported on labels")

    def test_outage_then_recovery(self):
        self.kuma.call("POST", "/_emulator/outage", {"status": 503, "count": 2})
        self.assertEqual(self.kuma.call("GET", "/meshes")[0], 503)
        self.assertEqual(self.kuma.call("GET", "/meshes")[0], 503)
        self.assertEqual(self.kuma.call("GET", "/meshes")[0], 200)


class OlderAndNewerKumaTest(unittest.TestCase):
    def test_2_9_answers_puts_with_empty_bodies_and_has_no_kri(self):
        kuma = Emulator("2.9.0")
        try:
            self.assertEqual(kuma.call("PUT", "/meshes/default/meshexternalservices/a", mes("a"))[:2], (201, None))
            _, got, _ = kuma.call("GET", "/meshes/default/meshexternalservices/a")
            self.assertNotIn("kri", got)
            self.assertEqual(kuma.call("GET", "/meshes/default/meshservices?filter[labels.a]=b")[0], 400)
        finally:
            kuma.close()

    def test_3_0_rejects_names_that_are_not_rfc1035_labels(self):
        kuma = Emulator("3.0.0")
        try:
            status, err, _ = kuma.call("PUT", "/meshes/default/meshexternalservices/a.b", mes("a.b"))
            self.assertEqual(status, 400)
            self.assertEqual(err["invalid_parameters"][0]["field"], "name")
        finally:
            kuma.close()


if __name__ == "__main__":
    unittest.main()
