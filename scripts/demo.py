#!/usr/bin/env python3
"""The n-kudo demo: the whole flow, end to end, on this machine (called by scripts/demo).

Starts a control plane (SQLite in a temporary data dir, or a fresh PostgreSQL database;
one or two replicas), creates a tenant, an API key, a site and an enrollment token over
HTTPS (TLS verified against the control plane's CA file), enrolls an edge agent pinning
the CA fingerprint, runs it, and applies CREATE -> START -> STOP -> DELETE, one plan per
step, waiting for every execution and showing the VM's state and the execution logs.
It also shows the host and the site going ONLINE, an idempotent re-apply being
deduplicated and a cross-tenant request being refused, then cleans up everything it
started (also on failure and Ctrl-C).

Python 3 standard library only. Expects the binaries in .build/debug (scripts/demo builds
them unless --no-build).
"""

import argparse
import base64
import datetime
import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TERMINAL_EXECUTION_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")
# The VM state each step leads to, as the control plane records it.
EXPECTED_VM_STATE = {"CREATE": "STOPPED", "START": "RUNNING", "STOP": "STOPPED", "DELETE": "DELETED"}


class DemoFailure(Exception):
    """Stops the demo: the reason is printed with the step that failed."""


class Interrupted(Exception):
    """SIGINT or SIGTERM."""


# ---------------------------------------------------------------------------------------
# Output: numbered steps for a person, or one JSON document for a machine.
# ---------------------------------------------------------------------------------------

class Output:
    def __init__(self, json_mode, total_steps):
        self.json_mode = json_mode
        self.total = total_steps
        self.tty = sys.stdout.isatty() and not json_mode
        self.steps = []
        self.current = None
        self.started = time.monotonic()

    def line(self, text=""):
        if not self.json_mode:
            print(text, flush=True)

    def info(self, text):
        self.line("        " + text)

    def begin(self, name, title):
        self.current = {"n": len(self.steps) + 1, "name": name, "title": title, "ok": None, "seconds": None, "result": ""}
        self.steps.append(self.current)
        self._t0 = time.monotonic()
        self.line("")
        self.line(f"[{self.current['n']:2}/{self.total}] {title}")
        return self.current

    def end(self, result):
        step = self.current
        step["ok"] = True
        step["seconds"] = round(time.monotonic() - self._t0, 2)
        step["result"] = result
        self.line(f"        ok: {result} ({step['seconds']:.1f}s)")
        self.current = None

    def fail(self, reason):
        if self.current is not None:
            self.current["ok"] = False
            self.current["seconds"] = round(time.monotonic() - self._t0, 2)
            self.current["result"] = reason

    # Progress while waiting: a spinner line on a terminal, state changes otherwise.
    def progress(self, text, elapsed):
        if self.tty:
            spinner = "|/-\\"[int(elapsed * 8) % 4]
            sys.stdout.write(f"\r        {spinner} {text} ({elapsed:4.1f}s)\033[K")
            sys.stdout.flush()

    def progress_done(self):
        if self.tty:
            sys.stdout.write("\r\033[K")
            sys.stdout.flush()

    def summary_table(self):
        rows = [(str(s["n"]), s["name"], "ok" if s["ok"] else ("FAILED" if s["ok"] is False else "-"),
                 f"{s['seconds']:.1f}s" if s["seconds"] is not None else "", s["result"]) for s in self.steps]
        headers = ("#", "step", "status", "time", "result")
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
        widths[4] = min(widths[4], 72)

        def fmt(row):
            cells = [c if len(c) <= widths[i] else c[: widths[i] - 1] + "~" for i, c in enumerate(row)]
            return "  " + " | ".join(c.ljust(widths[i]) for i, c in enumerate(cells)).rstrip()

        self.line(fmt(headers))
        self.line("  " + "-+-".join("-" * w for w in widths))
        for row in rows:
            self.line(fmt(row))


# ---------------------------------------------------------------------------------------
# HTTPS client verified against the control plane's CA file.
# ---------------------------------------------------------------------------------------

class API:
    def __init__(self, ca_file, admin_key):
        self.context = ssl.create_default_context(cafile=ca_file)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_3  # the control plane speaks TLS 1.3 only
        self.admin_key = admin_key
        self.base = None  # (host, port) of the replica in use

    def call(self, method, path, body=None, api_key=None, admin=False, base=None, timeout=10):
        host, port = base or self.base
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if admin:
            headers["X-Admin-Key"] = self.admin_key
        if api_key:
            headers["X-API-Key"] = api_key
        connection = http.client.HTTPSConnection(host, port, context=self.context, timeout=timeout)
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = {"raw": raw.decode(errors="replace")}
        return response.status, payload

    def ok(self, method, path, body=None, api_key=None, admin=False, expect=(200, 201)):
        try:
            status, payload = self.call(method, path, body, api_key, admin)
        except (OSError, http.client.HTTPException) as error:
            raise DemoFailure(f"{method} {path}: {error}")
        if status not in expect:
            raise DemoFailure(f"{method} {path} answered {status}: {json.dumps(payload)}")
        return payload


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ca_fingerprint(ca_file):
    with open(ca_file) as f:
        pem = f.read()
    body = pem.split("-----BEGIN CERTIFICATE-----", 1)[1].split("-----END CERTIFICATE-----", 1)[0]
    return hashlib.sha256(base64.b64decode("".join(body.split()))).hexdigest()


def exit_text(code):
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def clock(text):
    """RFC 3339 timestamp -> HH:MM:SS.s for the human output."""
    if not text:
        return "-"
    try:
        value = parse_time(text)
    except ValueError:
        return text
    return value.strftime("%H:%M:%S.") + f"{value.microsecond // 100000}"


def seconds_between(a, b):
    try:
        return (parse_time(b) - parse_time(a)).total_seconds()
    except (TypeError, ValueError):
        return float("nan")


def tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:]).rstrip()
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------
# The demo
# ---------------------------------------------------------------------------------------

class Demo:
    def __init__(self, options):
        self.o = options
        self.bin = options.bin_dir
        steps = 14 + (1 if options.replicas == 2 else 0)
        self.out = Output(options.json, steps)
        self.tmp = tempfile.mkdtemp(prefix="nkudo-demo-")
        self.logs = {}
        self.replicas = []  # {"n", "process", "port", "log", "alive"}
        self.agent = None
        self.agent_exit_code = None
        self.database = None  # (admin URL, name) of the PostgreSQL database
        self.database_url = None
        self.admin_key = "demo-admin-" + secrets.token_hex(16)
        self.api = None
        self.vmm = None
        self.record = {"executions": []}
        self.failed = None
        self.cleanup_notes = []

    # -- processes ----------------------------------------------------------------------

    def spawn(self, name, argv, env_extra, log_path):
        env = dict(os.environ)
        env.update(env_extra)
        log = open(log_path, "ab")
        self.logs[name] = log_path
        # A session of their own: Ctrl-C in the terminal reaches the demo only, which then
        # stops them in order (agent first, gracefully).
        try:
            return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        finally:
            log.close()

    def wait_for(self, description, probe, timeout, interval=0.2):
        """Polls probe() -> (done, status_text) with visible progress; returns its last value."""
        t0 = time.monotonic()
        last_status = None
        try:
            while True:
                done, status = probe()
                elapsed = time.monotonic() - t0
                if status != last_status and status is not None:
                    self.out.progress_done()
                    self.out.info(f"{description}: {status}  [{elapsed:.1f}s]")
                    last_status = status
                if done:
                    return status
                if elapsed > timeout:
                    raise DemoFailure(f"timed out after {timeout}s waiting for {description} (last: {last_status})")
                self.out.progress(f"waiting for {description}: {last_status}", elapsed)
                time.sleep(interval)
        finally:
            self.out.progress_done()

    def start_replica(self, n):
        port = free_port()
        data_dir = os.path.join(self.tmp, "control-plane")
        env = {
            "CONTROL_PLANE_ADDR": f"127.0.0.1:{port}",
            "METRICS_ADDR": f"127.0.0.1:{free_port()}",
            "NKUDO_DATA_DIR": data_dir,
            "ADMIN_KEY": self.admin_key,
            "HEARTBEAT_INTERVAL": "1s",
            "OFFLINE_SWEEP_INTERVAL": "5s",
            "HTTP_SHUTDOWN_TIMEOUT": "3s",
            "LOG_LEVEL": "info",
        }
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        log = os.path.join(self.tmp, f"control-plane-{n}.log")
        process = self.spawn(f"control plane {n}", [os.path.join(self.bin, "nkudo-control-plane"), "serve"], env, log)
        replica = {"n": n, "process": process, "port": port, "log": log, "alive": True,
                   "url": f"https://127.0.0.1:{port}"}
        self.replicas.append(replica)
        ca_file = os.path.join(data_dir, "pki", "ca.crt")

        def ready():
            if process.poll() is not None:
                raise DemoFailure(f"control plane {n} {exit_text(process.returncode)}; its last lines:\n{tail(log)}")
            if not os.path.exists(ca_file):
                return False, "generating PKI"
            if self.api is None:
                self.api = API(ca_file, self.admin_key)
            try:
                status, _ = self.api.call("GET", "/readyz", base=("127.0.0.1", port), timeout=2)
            except (OSError, http.client.HTTPException, ssl.SSLError):
                return False, "starting"
            return status == 200, "ready" if status == 200 else f"/readyz {status}"

        self.wait_for(f"control plane {n} on {replica['url']}", ready, timeout=60)
        return replica

    def stop_process(self, process, name, timeout):
        if process is None or process.poll() is not None:
            return process.returncode if process else None
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.cleanup_notes.append(f"{name} did not exit {timeout}s after SIGTERM; killed")
            process.kill()
            process.wait()
            return None

    # -- steps --------------------------------------------------------------------------

    def choose_vmm(self):
        real = shutil.which("cloud-hypervisor")
        kvm_usable = os.path.exists("/dev/kvm") and os.access("/dev/kvm", os.R_OK | os.W_OK)
        firmware = "/usr/share/cloud-hypervisor/CLOUDHV.fd"
        fake = os.path.join(self.bin, "fake-cloud-hypervisor")
        for binary in ("nkudo-control-plane", "nkudo-edge", "fake-cloud-hypervisor"):
            if not os.access(os.path.join(self.bin, binary), os.X_OK):
                raise DemoFailure(f"{os.path.join(self.bin, binary)} is missing: run `swift build` "
                                  "(or scripts/demo without --no-build)")
        if real and kvm_usable and os.path.exists(firmware):
            self.vmm = {"kind": "real", "path": real,
                        "why": "cloud-hypervisor is on PATH, /dev/kvm is usable and the firmware is installed"}
        else:
            reasons = []
            if not real:
                reasons.append("no cloud-hypervisor on PATH")
            if not kvm_usable:
                reasons.append("/dev/kvm is not usable")
            if real and not os.path.exists(firmware):
                reasons.append(f"no firmware at {firmware}")
            self.vmm = {"kind": "fake", "path": fake, "why": "; ".join(reasons)}
        self.record["vmm"] = self.vmm
        label = "real Cloud Hypervisor" if self.vmm["kind"] == "real" else "fake VMM (test double of Cloud Hypervisor's API)"
        self.out.info(f"VMM: {label}: {self.vmm['path']}")
        self.out.info(f"     because {self.vmm['why']}")
        self.out.info("network: none (VMs get no NIC: a TAP needs a configured bridge)")
        return f"{self.vmm['kind']} VMM, --network none"

    def prepare_store(self):
        if self.o.store == "sqlite":
            return "SQLite"
        try:
            result = subprocess.run([os.path.join(ROOT, "scripts", "start-postgres")], capture_output=True, text=True,
                                    timeout=120)
        except subprocess.TimeoutExpired:
            raise DemoFailure("scripts/start-postgres timed out")
        if result.returncode != 0:
            raise DemoFailure(f"scripts/start-postgres failed:\n{result.stderr.strip()}")
        line = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
        if "=" not in line:
            raise DemoFailure(f"scripts/start-postgres printed no URL: {result.stdout!r}")
        test_url = line.split("=", 1)[1].strip()
        parsed = urllib.parse.urlsplit(test_url)
        name = "nkudo_demo_" + secrets.token_hex(4)
        admin_url = parsed._replace(path="/postgres").geturl()
        self.psql(admin_url, f"CREATE DATABASE {name}")
        self.database = (admin_url, name)
        self.database_url = parsed._replace(path="/" + name).geturl()
        self.record["database"] = name
        self.out.info(f"database {name} created on {parsed.hostname}:{parsed.port}")
        migrate = subprocess.run([os.path.join(self.bin, "nkudo-control-plane"), "migrate"],
                                 env=dict(os.environ, DATABASE_URL=self.database_url,
                                          NKUDO_DATA_DIR=os.path.join(self.tmp, "control-plane")),
                                 capture_output=True, text=True, timeout=60)
        with open(os.path.join(self.tmp, "migrate.log"), "w") as f:
            f.write(migrate.stdout + migrate.stderr)
        self.logs["migrate"] = os.path.join(self.tmp, "migrate.log")
        if migrate.returncode != 0:
            raise DemoFailure(f"nkudo-control-plane migrate failed:\n{(migrate.stdout + migrate.stderr).strip()}")
        self.out.info("nkudo-control-plane migrate: " + (migrate.stdout.strip().splitlines() or ["ok"])[-1])
        return f"PostgreSQL db {name}"

    def psql(self, url, sql):
        result = subprocess.run(["psql", "--no-psqlrc", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                                capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise DemoFailure(f"psql `{sql}` failed: {result.stderr.strip()}")

    def start_control_planes(self):
        store = self.prepare_store()
        for n in range(1, self.o.replicas + 1):
            self.start_replica(n)
        self.api.base = ("127.0.0.1", self.replicas[0]["port"])
        ca_file = os.path.join(self.tmp, "control-plane", "pki", "ca.crt")
        self.ca_file = ca_file
        self.record["control_planes"] = [r["url"] for r in self.replicas]
        self.out.info(f"CA certificate: {ca_file} (every request below verifies TLS against it)")
        ports = ", ".join(f":{r['port']}" for r in self.replicas)
        return f"{store}; {len(self.replicas)} replica(s) on 127.0.0.1{ports}"

    def create_tenants(self):
        suffix = secrets.token_hex(3)
        self.tenant = self.api.ok("POST", "/tenants", {"slug": f"acme-{suffix}", "name": "Acme Demo"}, admin=True)
        key = self.api.ok("POST", f"/tenants/{self.tenant['id']}/api-keys", {"name": "demo"}, admin=True)
        self.api_key = key["api_key"]
        self.out.info(f"tenant {self.tenant['slug']} ({self.tenant['id']}), API key {self.api_key[:8]}...")
        # A second tenant, to show later that its key cannot see the first tenant's site.
        self.other = self.api.ok("POST", "/tenants", {"slug": f"globex-{suffix}", "name": "Globex Demo"}, admin=True)
        other_key = self.api.ok("POST", f"/tenants/{self.other['id']}/api-keys", {"name": "demo"}, admin=True)
        self.other_key = other_key["api_key"]
        self.out.info(f"tenant {self.other['slug']} ({self.other['id']}), API key {self.other_key[:8]}...")
        self.record["tenant_id"] = self.tenant["id"]
        self.record["other_tenant_id"] = self.other["id"]
        return f"tenants {self.tenant['slug']} and {self.other['slug']} with one API key each"

    def create_site(self):
        self.site = self.api.ok("POST", f"/tenants/{self.tenant['id']}/sites",
                                {"name": "demo-site", "location_country_code": "de"}, api_key=self.api_key)
        self.record["site_id"] = self.site["id"]
        self.out.info(f"site {self.site['name']} ({self.site['id']}): {self.site['connectivity_state']}")
        return f"site {self.site['id'][:8]} is {self.site['connectivity_state']}"

    def issue_token(self):
        token = self.api.ok("POST", f"/tenants/{self.tenant['id']}/enrollment-tokens",
                            {"site_id": self.site["id"], "expires_in_seconds": 600}, api_key=self.api_key)
        self.token = token["token"]
        served = token["ca_fingerprint_sha256"]
        local = ca_fingerprint(self.ca_file)
        if served != local:
            raise DemoFailure(f"the token's ca_fingerprint_sha256 {served} is not the CA file's {local}")
        self.fingerprint = served
        self.out.info(f"one-time token {self.token[:6]}... (expires {token['expires_at']})")
        self.out.info(f"CA fingerprint sha256:{served} (matches {self.ca_file})")
        return f"token issued, CA fingerprint sha256:{served[:16]}..."

    def enroll(self):
        self.agent_dir = os.path.join(self.tmp, "agent")
        log = os.path.join(self.tmp, "enroll.log")
        self.logs["enroll"] = log
        argv = [os.path.join(self.bin, "nkudo-edge"), "enroll", "--control-plane", self.replicas[0]["url"],
                "--ca-fingerprint", f"sha256:{self.fingerprint}",
                "--pki-dir", os.path.join(self.agent_dir, "pki"), "--state-dir", os.path.join(self.agent_dir, "state")]
        self.out.info("$ NKUDO_ENROLL_TOKEN=... nkudo-edge enroll --control-plane " + self.replicas[0]["url"]
                      + f" --ca-fingerprint sha256:{self.fingerprint[:12]}...")
        with open(log, "wb") as f:
            result = subprocess.run(argv, env=dict(os.environ, NKUDO_ENROLL_TOKEN=self.token), stdout=f,
                                    stderr=subprocess.STDOUT, timeout=60)
        if result.returncode != 0:
            raise DemoFailure(f"nkudo-edge enroll exited {result.returncode}:\n{tail(log)}")
        with open(os.path.join(self.agent_dir, "pki", "agent-identity.json")) as f:
            identity = json.load(f)
        agent_id = identity.get("agent_id") or identity.get("agentID") or "?"
        self.record["agent_id"] = agent_id
        self.out.info(f"agent {agent_id} enrolled; identity in {self.agent_dir}/pki (0600)")
        site = self.api.ok("GET", f"/sites/{self.site['id']}/status", api_key=self.api_key)["site"]
        self.out.info(f"site {self.site['name']}: {self.site['connectivity_state']} -> {site['connectivity_state']} "
                      "(an enrolled agent counts as ONLINE)")
        return f"agent {str(agent_id)[:8]} enrolled with a pinned CA"

    def run_agent(self):
        argv = [os.path.join(self.bin, "nkudo-edge"), "run"]
        for replica in self.replicas:
            argv += ["--control-plane", replica["url"]]
        argv += ["--pki-dir", os.path.join(self.agent_dir, "pki"), "--state-dir", os.path.join(self.agent_dir, "state"),
                 "--runtime-dir", os.path.join(self.agent_dir, "vms"), "--image-dir", os.path.join(self.agent_dir, "images"),
                 "--image-cache-dir", os.path.join(self.agent_dir, "image-cache"),
                 "--cloud-hypervisor-bin", self.vmm["path"], "--network", "none", "--netbird-enabled", "false",
                 "--heartbeat-interval", "1s", "--wire", self.o.wire, "--log-level", "info"]
        self.out.info(f"$ nkudo-edge run --wire {self.o.wire} --heartbeat-interval 1s --network none "
                      + " ".join(f"--control-plane {r['url']}" for r in self.replicas) + " ...")
        self.agent = self.spawn("agent", argv, {}, os.path.join(self.tmp, "agent.log"))

        def online():
            if self.agent.poll() is not None:
                raise DemoFailure(f"the agent {exit_text(self.agent.returncode)}; its last lines:\n{tail(self.logs['agent'])}")
            status = self.api.ok("GET", f"/sites/{self.site['id']}/status", api_key=self.api_key)
            hosts = status.get("hosts", [])
            host = hosts[0] if hosts else None
            host_state = host["agent_state"] if host else "no host yet"
            site_state = status["site"]["connectivity_state"]
            # Enrollment alone marks the agent ONLINE; the first heartbeat brings the facts.
            reported = bool(host and host.get("last_facts_at"))
            done = host_state == "ONLINE" and site_state == "ONLINE" and reported
            if host and not reported:
                host_state += " (enrolled, no heartbeat yet)"
            if done:
                self.host = host
            return done, f"host {host_state}, site {site_state}"

        self.wait_for("the agent's first heartbeat", online, timeout=30)
        self.out.info(f"host {self.host['hostname']}: {self.host['cpu_cores_total']} CPUs, "
                      f"{int(self.host['memory_bytes_total']) // (1 << 20)} MiB, kvm={self.host['kvm_available']}")
        self.record["host_id"] = self.host["id"]
        return "host ONLINE, site ONLINE"

    def vm_state(self):
        vms = self.api.ok("GET", f"/sites/{self.site['id']}/vms", api_key=self.api_key).get("vms", [])
        for vm in vms:
            if vm["id"] == self.vm_id:
                return vm
        return None

    def apply(self, operation, idempotency_key):
        action = {"operation": operation, "vm_id": self.vm_id}
        if operation == "CREATE":
            action.update({"name": "demo-vm", "vcpu_count": 1, "memory_mib": 256})
        request = {"idempotency_key": idempotency_key, "actions": [action]}
        return request, self.api.ok("POST", f"/sites/{self.site['id']}/plans", request, api_key=self.api_key)

    def plan_step(self, operation):
        key = f"demo-{operation.lower()}-{self.vm_id[:8]}"
        request, response = self.apply(operation, key)
        if operation == "CREATE":
            self.create_request = (key, request, response)
        execution = response["executions"][0]
        self.out.info(f"plan {response['plan_id'][:8]} v{response['plan_version']} ({response['plan_status']}), "
                      f"execution {execution['id'][:8]}: {operation} vm {self.vm_id[:8]}")
        t0 = time.monotonic()
        found = {}

        def terminal():
            self.check_agent()
            status = self.api.ok("GET", f"/sites/{self.site['id']}/status", api_key=self.api_key)
            for e in status.get("recent_executions", []):
                if e["id"] == execution["id"]:
                    found.update(e)
                    return e["state"] in TERMINAL_EXECUTION_STATES, e["state"]
            return False, "not listed yet"

        state = self.wait_for("execution", terminal, timeout=45)
        seconds = round(time.monotonic() - t0, 2)
        if state != "SUCCEEDED":
            raise DemoFailure(f"{operation} execution {execution['id']} ended {state}: "
                              f"{found.get('error_code', '')} {found.get('error_message', '')}".rstrip())

        expected = EXPECTED_VM_STATE[operation]
        vm_holder = {}

        def vm_reached():
            vm = self.vm_state()
            vm_holder["vm"] = vm
            current = vm["state"] if vm else "absent"
            return current == expected, current

        self.wait_for(f"VM state (expect {expected})", vm_reached, timeout=15)
        vm = vm_holder["vm"]
        self.out.info(f"VM {vm['name']} ({vm['id'][:8]}): {vm['state']}, {vm['vcpu_count']} vCPU, "
                      f"{vm['memory_mib']} MiB, host {vm['host_id'][:8] or '-'}")

        logs = []

        def logs_arrived():
            page = self.api.ok("GET", f"/executions/{execution['id']}/logs", api_key=self.api_key)
            logs[:] = page.get("logs", [])
            return bool(logs), f"{len(logs)} line(s)"

        try:
            self.wait_for("execution logs", logs_arrived, timeout=10)
        except DemoFailure:
            raise DemoFailure(f"no log lines for execution {execution['id']} after 10s")
        for entry in logs[-8:]:
            self.out.info(f"  log #{entry['sequence']} {entry['severity']:<5} {entry['message']}")
        self.record["executions"].append({
            "operation": operation, "execution_id": execution["id"], "plan_id": response["plan_id"],
            "idempotency_key": key, "state": state, "seconds": seconds, "vm_state": vm["state"],
            "control_plane": self.api_url(), "logs": [{"sequence": int(e["sequence"]), "severity": e["severity"],
                                                        "message": e["message"]} for e in logs]})
        return f"execution {state} in {seconds:.1f}s, VM {vm['state']}, {len(logs)} log line(s)"

    def api_url(self):
        return f"https://{self.api.base[0]}:{self.api.base[1]}"

    def check_agent(self):
        if self.agent is not None and self.agent.poll() is not None:
            raise DemoFailure(f"the agent {exit_text(self.agent.returncode)}; its last lines:\n{tail(self.logs['agent'])}")

    def dedup(self):
        key, request, first = self.create_request
        status, again = self.api.call("POST", f"/sites/{self.site['id']}/plans", request, api_key=self.api_key)
        if status != 200:
            raise DemoFailure(f"re-apply answered {status}: {json.dumps(again)}")
        same = again["plan_id"] == first["plan_id"] and [e["id"] for e in again["executions"]] == \
            [e["id"] for e in first["executions"]]
        self.out.info(f"POST /sites/{{id}}/plans idempotency_key={key} again -> {status}, "
                      f"deduplicated={str(again['deduplicated']).lower()}, plan {again['plan_id'][:8]} "
                      f"({again['plan_status']}), execution {again['executions'][0]['state']}")
        self.record["dedup"] = {"idempotency_key": key, "status": status, "deduplicated": again["deduplicated"],
                                "same_plan": same, "plan_status": again["plan_status"]}
        if not again["deduplicated"] or not same:
            raise DemoFailure(f"the re-apply was not deduplicated to the same plan: {json.dumps(again)}")
        return f"same plan {again['plan_id'][:8]}, deduplicated=true, nothing new to run"

    def failover(self):
        first, second = self.replicas[0], self.replicas[1]
        before = self.host_heartbeat()
        self.out.info(f"last heartbeat at {clock(before)} (through replica 1); stopping replica 1 (SIGTERM)")
        t0 = time.monotonic()
        code = self.stop_process(first["process"], "control plane 1", 15)
        first["alive"] = False
        stop_seconds = round(time.monotonic() - t0, 1)
        self.out.info(f"control plane 1 {exit_text(code)} after {stop_seconds}s; the API calls below go to replica 2")
        self.api.base = ("127.0.0.1", second["port"])
        # Replica 1 is gone: any heartbeat newer than this one went through replica 2.
        baseline = self.host_heartbeat()

        def moved():
            self.check_agent()
            current = self.host_heartbeat()
            with open(self.logs["agent"], errors="replace") as f:
                switched = "switching control plane" in f.read()
            status = f"last heartbeat at {clock(current)}" + (", agent log: \"switching control plane\"" if switched else "")
            return current != baseline and switched, status

        self.wait_for("a heartbeat through replica 2", moved, timeout=40)
        after = self.host_heartbeat()
        gap = seconds_between(before, after)
        self.out.info(f"heartbeats resumed through {second['url']}: {clock(before)} -> {clock(after)} "
                      f"(gap {gap:.1f}s, of which {stop_seconds}s for replica 1 to exit)")
        self.record["failover"] = {"stopped": first["url"], "continuing_on": second["url"],
                                   "replica_1_exit_code": code, "replica_1_exit_seconds": stop_seconds,
                                   "heartbeat_gap_seconds": round(gap, 1)}
        return f"replica 1 stopped; heartbeats resume via replica 2 after {gap:.1f}s"

    def host_heartbeat(self):
        hosts = self.api.ok("GET", f"/sites/{self.site['id']}/hosts", api_key=self.api_key).get("hosts", [])
        return hosts[0].get("agent_last_heartbeat_at") if hosts else None

    def cross_tenant(self):
        checks = [
            ("GET", f"/sites/{self.site['id']}/status", None, (403, 404)),
            ("GET", f"/sites/{self.site['id']}/vms", None, (403, 404)),
            ("POST", f"/sites/{self.site['id']}/plans",
             {"idempotency_key": "intruder", "actions": [{"operation": "DELETE", "vm_id": self.vm_id}]}, (403, 404)),
            ("POST", f"/tenants/{self.tenant['id']}/sites", {"name": "intruder"}, (403, 404)),
        ]
        results = []
        for method, path, body, refused in checks:
            status, payload = self.api.call(method, path, body, api_key=self.other_key)
            message = (payload or {}).get("error", "") if isinstance(payload, dict) else ""
            self.out.info(f"{self.other['slug']}'s key: {method} {path.replace(self.site['id'], '{acme site}').replace(self.tenant['id'], '{acme tenant}')}"
                          f" -> {status} {message}")
            results.append({"method": method, "path": path, "status": status, "error": message})
            if status not in refused:
                raise DemoFailure(f"{method} {path} with the other tenant's key answered {status}, not 403/404: "
                                  f"{json.dumps(payload)}")
        self.record["cross_tenant"] = results
        return "every request refused: " + ", ".join(str(r["status"]) for r in results)

    def stop_agent(self):
        code = self.stop_process(self.agent, "agent", 20)
        self.agent_exit_code = code
        self.record["agent_exit_code"] = code
        if code != 0:
            raise DemoFailure(f"the agent exited with status {code} after SIGTERM (expected 0):\n{tail(self.logs['agent'])}")
        leftovers = self.vmm_processes()
        if leftovers:
            raise DemoFailure(f"VMM processes still running after DELETE: {leftovers}")
        return "SIGTERM -> exit 0; no VMM left running"

    # -- cleanup ------------------------------------------------------------------------

    def vmm_processes(self):
        """Processes started under this demo's temp dir (VMMs run with sockets in it)."""
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if self.tmp in cmdline and int(pid) not in self.own_pids():
                found.append(int(pid))
        return found

    def own_pids(self):
        processes = [self.agent] + [r["process"] for r in self.replicas]
        return {p.pid for p in processes if p is not None and p.poll() is None}

    def cleanup(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        if self.agent is not None and self.agent.poll() is None:
            self.agent_exit_code = self.stop_process(self.agent, "agent", 20)
        for replica in self.replicas:
            self.stop_process(replica["process"], f"control plane {replica['n']}", 15)
        for pid in self.vmm_processes():
            try:
                os.kill(pid, signal.SIGTERM)
                self.cleanup_notes.append(f"stopped VMM pid {pid}")
            except OSError:
                pass
        deadline = time.monotonic() + 5
        while self.vmm_processes() and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in self.vmm_processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.database:
            admin_url, name = self.database
            try:
                self.psql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                self.cleanup_notes.append(f"dropped database {name}")
            except (DemoFailure, subprocess.TimeoutExpired) as error:
                self.cleanup_notes.append(f"could not drop database {name}: {error}")
        keep = self.o.keep or self.failed is not None
        if keep:
            self.cleanup_notes.append(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.cleanup_notes.append(f"removed {self.tmp}")
        return keep

    # -- main ---------------------------------------------------------------------------

    def run(self):
        out = self.out
        o = self.o
        out.line(f"n-kudo demo: store={o.store} wire={o.wire} replicas={o.replicas}")
        out.line(f"working dir: {self.tmp}")
        self.vm_id = str(uuid.uuid4())
        plan = [
            ("VMM", "Choose the VMM", self.choose_vmm),
            ("control plane", f"Start the control plane ({o.store}, {o.replicas} replica(s), HTTPS, heartbeat 1s)",
             self.start_control_planes),
            ("tenants + API keys", "Create two tenants and an API key each (admin API, X-Admin-Key)", self.create_tenants),
            ("site", "Create a site (tenant API, X-API-Key)", self.create_site),
            ("enrollment token", "Issue a one-time enrollment token", self.issue_token),
            ("enroll agent", "Enroll the edge agent, pinning the CA fingerprint", self.enroll),
            ("agent online", f"Run the agent (wire: {o.wire}); wait for its first heartbeat", self.run_agent),
            ("CREATE", "Plan 1: CREATE the VM", lambda: self.plan_step("CREATE")),
            ("re-apply (idempotent)", "Re-apply plan 1 with the same idempotency key", self.dedup),
            ("START", "Plan 2: START the VM", lambda: self.plan_step("START")),
        ]
        if o.replicas == 2:
            plan.append(("failover", "Stop replica 1; the agent fails over to replica 2", self.failover))
        plan += [
            ("STOP", "Plan 3: STOP the VM", lambda: self.plan_step("STOP")),
            ("DELETE", "Plan 4: DELETE the VM", lambda: self.plan_step("DELETE")),
            ("cross-tenant refused", "Cross-tenant requests with the second tenant's key", self.cross_tenant),
            ("agent stop", "Stop the agent gracefully (SIGTERM)", self.stop_agent),
        ]
        out.total = len(plan)
        try:
            for name, title, action in plan:
                out.begin(name, title)
                out.end(action())
        except (DemoFailure, Interrupted, KeyboardInterrupt) as error:
            reason = str(error) if isinstance(error, DemoFailure) else "interrupted (SIGINT/SIGTERM)"
            step = out.current or {"n": 0, "title": "?"}
            self.failed = {"step": step["n"], "title": step["title"], "reason": reason}
            out.fail(reason.splitlines()[0] if reason else reason)
        except Exception as error:  # a bug of the demo itself: still clean up and report
            step = out.current or {"n": 0, "title": "?"}
            self.failed = {"step": step["n"], "title": step["title"], "reason": f"{type(error).__name__}: {error}"}
            out.fail(self.failed["reason"])
        finally:
            out.progress_done()
            kept = self.cleanup()
        return self.report(kept)

    def report(self, kept):
        out = self.out
        total = round(time.monotonic() - out.started, 1)
        logs = dict(self.logs)
        for replica in self.replicas:
            logs[f"control plane {replica['n']}"] = replica["log"]
        if self.o.json:
            document = {
                "ok": self.failed is None,
                "options": {"store": self.o.store, "wire": self.o.wire, "replicas": self.o.replicas},
                "seconds": total,
                **self.record,
                "steps": out.steps,
                "failure": self.failed,
                "logs": logs if kept else {},
                "temp_dir": self.tmp,
                "temp_dir_kept": kept,
                "cleanup": self.cleanup_notes,
            }
            print(json.dumps(document, indent=2, default=str))
            return 0 if self.failed is None else 1
        out.line("")
        out.line("Summary")
        out.summary_table()
        out.line("")
        vmm = self.vmm["kind"] if self.vmm else "?"
        out.line(f"store={self.o.store} wire={self.o.wire} replicas={self.o.replicas} vmm={vmm} "
                 f"agent exit={self.agent_exit_code} total {total}s")
        out.line("cleanup: " + "; ".join(self.cleanup_notes))
        if self.failed is None:
            if kept:
                out.line("logs: " + ", ".join(f"{k}: {v}" for k, v in logs.items()))
            out.line("demo: OK")
            return 0
        print("", file=sys.stderr)
        print(f"demo: FAILED at step {self.failed['step']} ({self.failed['title']})", file=sys.stderr)
        print(f"reason: {self.failed['reason']}", file=sys.stderr)
        print("logs (kept):", file=sys.stderr)
        for name, path in logs.items():
            print(f"  {name}: {path}", file=sys.stderr)
        return 1


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog="scripts/demo",
        description="Runs the whole n-kudo flow on this machine: control plane, tenant, site, enrollment, agent, "
                    "CREATE -> START -> STOP -> DELETE, idempotent re-apply, tenant isolation; then cleans up.")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default=None,
                        help="control-plane store: embedded SQLite in a temp dir (default) or a fresh database on the "
                             "local PostgreSQL (scripts/start-postgres), dropped afterwards")
    parser.add_argument("--wire", choices=("binary", "json"), default="binary",
                        help="the agent's wire format (default: binary protobuf)")
    parser.add_argument("--replicas", type=int, choices=(1, 2), default=1,
                        help="2: two control-plane processes on one PostgreSQL; replica 1 is stopped mid-flow and "
                             "the agent continues on replica 2 (implies --store postgres)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the human output")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, data, agent state)")
    parser.add_argument("--no-build", action="store_true", help="skip scripts/setup and swift build")
    parser.add_argument("--bin-dir", default=os.path.join(ROOT, ".build", "debug"),
                        help="where the binaries are (default: .build/debug)")
    options = parser.parse_args(argv)
    if options.replicas == 2 and options.store == "sqlite":
        parser.error("--replicas 2 needs --store postgres (replicas share one PostgreSQL database)")
    if options.store is None:
        options.store = "postgres" if options.replicas == 2 else "sqlite"
    options.bin_dir = os.path.abspath(options.bin_dir)
    return options


def main(argv):
    options = parse_arguments(argv)

    def interrupted(signum, frame):
        raise Interrupted()

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    return Demo(options).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
