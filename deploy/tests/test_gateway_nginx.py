"""The gateway chart's nginx config, run by real nginx: every route reaches its upstream with the upstream's own
name as Host, and a service that cannot be resolved is a JSON 502 on its prefix alone, never an nginx that
will not start; the client behind a trusted proxy is the one its X-Forwarded-For names, anyone else's is ignored.
Also: the chart's copy of the rendered config is the one gateway/routes.toml gives today."""
import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from conftest import HELM_DIR, ROOT, render

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
MISSING = "vote-service"
# The stand-in for an ingress controller: nginx believes its X-Forwarded-For, nobody else's.
TRUSTED_PROXY = "127.0.0.9"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = json.dumps({"host": self.headers["Host"], "path": self.path,
                           "forwarded_for": self.headers["X-Forwarded-For"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _get(url, headers=None, source=None):
    opener = urllib.request.build_opener(_SourceHandler(source)) if source else urllib.request.build_opener()
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=15) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


class _SourceHandler(urllib.request.HTTPHandler):
    """Connects from a given loopback address, to be a client other than 127.0.0.1."""

    def __init__(self, source):
        super().__init__()
        self.source = source

    def http_open(self, req):
        return self.do_open(lambda host, **kw: http.client.HTTPConnection(host, source_address=(self.source, 0), **kw), req)


def test_the_charts_config_is_the_rendered_routing_table():
    rendered = subprocess.run(
        [sys.executable, "-m", "gateway.nginx", "render", "--main", "--upstreams-include", "cluster.conf",
         "--web-root", "/srv/gateway/web"],
        cwd=ROOT / "gateway", capture_output=True, text=True, check=True).stdout
    assert (HELM_DIR / "gateway/files/nginx.conf").read_text() == rendered, (
        "regenerate: cd gateway && python -m gateway.nginx render --main --upstreams-include cluster.conf "
        "--web-root /srv/gateway/web > ../deploy/helm/gateway/files/nginx.conf")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install -y nginx-light; CI installs it)")
    echo = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    port, dns = _free_port(), _free_port()
    args = ["--set", f"resolver=127.0.0.1:{dns}", "--set", f"trustedProxies={{{TRUSTED_PROXY}/32}}"]
    for service in ("auth-service", "polls-service", "choice-service"):
        args += ["--set", f"upstreams.{service}.address=127.0.0.1:{echo.server_address[1]}"]
    [config] = [o for o in render("gateway", *args) if o["kind"] == "ConfigMap" and "nginx.conf" in o["data"]]
    [web] = [o for o in render("gateway") if o["kind"] == "ConfigMap" and "index.html" in o["data"]]
    folder = tmp_path_factory.mktemp("nginx")
    (folder / "web").mkdir()
    for name, text in web["data"].items():
        (folder / "web" / name).write_text(text)
    (folder / "cluster.conf").write_text(config["data"]["cluster.conf"])
    conf = config["data"]["nginx.conf"].replace("listen 8080;", f"listen 127.0.0.1:{port};")
    (folder / "nginx.conf").write_text(conf.replace("/srv/gateway/web", str(folder / "web")))
    command = [NGINX, "-p", f"{folder}/", "-c", str(folder / "nginx.conf"), "-e", "stderr"]
    if os.geteuid() == 0:
        command += ["-g", "user root;"]  # otherwise workers run as nobody, who cannot enter pytest's tmp
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=(folder / "nginx.err").open("wb"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if _get(f"{url}/healthz")[0] == 200:
                break
        except OSError:
            pass
        assert process.poll() is None, (folder / "nginx.err").read_text()
        assert time.monotonic() < deadline, "nginx did not answer /healthz"
        time.sleep(0.1)
    yield url, echo.server_address[1]
    process.terminate()
    process.wait(10)
    echo.shutdown()


@pytest.mark.parametrize("prefix", ["/api/auth/", "/api/polls/", "/api/choices/"])
def test_each_prefix_reaches_its_upstream_with_the_upstreams_host(gateway, prefix):
    url, echo_port = gateway
    status, _, body = _get(f"{url}{prefix}x/?a=1")
    assert status == 200
    assert json.loads(body) == {"host": f"127.0.0.1:{echo_port}", "path": f"{prefix}x/?a=1", "forwarded_for": "127.0.0.1"}


def test_a_service_that_does_not_resolve_is_a_json_502_on_its_prefix_only(gateway):
    url, _ = gateway
    status, headers, body = _get(f"{url}/api/votes/")
    assert status == 502 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"] == "bad_gateway"
    assert _get(f"{url}/api/polls/")[0] == 200


def test_the_page_is_served_from_the_configmap(gateway):
    url, _ = gateway
    status, headers, body = _get(f"{url}/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert body == (ROOT / "gateway/web/index.html").read_bytes()


def test_a_trusted_proxys_client_is_the_one_it_names(gateway):
    url, _ = gateway
    # The client wrote the left-most address itself: only what the trusted proxy added is believed.
    headers = {"X-Forwarded-For": "203.0.113.7, 198.51.100.4"}
    status, _, body = _get(f"{url}/api/polls/", headers, source=TRUSTED_PROXY)
    assert status == 200
    assert json.loads(body)["forwarded_for"] == "198.51.100.4"


def test_anyone_elses_x_forwarded_for_is_ignored(gateway):
    url, _ = gateway
    status, _, body = _get(f"{url}/api/polls/", {"X-Forwarded-For": "198.51.100.4"}, source="127.0.0.8")
    assert status == 200
    assert json.loads(body)["forwarded_for"] == "127.0.0.8"
