#!/usr/bin/env python3
"""The n-kudo demo: the whole flow, end to end, on this machine (called by scripts/demo).

Starts a control plane (SQLite in a temporary data dir, or a fresh PostgreSQL database;
one or two replicas), creates a tenant, an API key, a site and an enrollment token over
HTTPS (TLS verified against the control plane's CA file), enrolls an edge agent pinning
the CA fingerprint, runs it, and applies CREATE -> START -> STOP -> DELETE, one plan per
step, waiting for every execution and showing the VM's state and the execution logs.
When qemu-system-x86_64 is on PATH and the test guest of scripts/build-test-guest is
available, the VM is a real Linux guest booted by QEMU (accelerator --accel, tcg by
default): the demo shows its serial console (boot marker, instance id, ssh key, disk) and
the boot time, and a graceful ACPI power-off on STOP. Otherwise it falls back to the real
Cloud Hypervisor or the fake VMM with a blank VM, and says why.
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
import re
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
# The test guest of scripts/build-test-guest: kernel, initrd and a raw disk the plans name.
GUEST_DIR = os.path.join(ROOT, ".build", "test-guest")
GUEST_KERNEL, GUEST_INITRD, GUEST_DISK = "nkudo-test-vmlinuz", "nkudo-test-initrd.img", "nkudo-test-disk.raw"
GUEST_FILES = (GUEST_KERNEL, GUEST_INITRD, GUEST_DISK)
GUEST_KERNEL_ARGS = ["console=ttyS0", "panic=-1"]
# A made-up key: the guest prints the first authorized key it finds in its NoCloud seed.
DEMO_SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoKeyOfTheNKudoDemoNotARealKey00000000 demo@nkudo"
BOOT_MARKER = "NKUDO-GUEST-BOOTED"
QEMU = "qemu-system-x86_64"
GUEST_LINE = re.compile(r"(?:^|\s)(nkudo-[a-z]+(?:-[a-z]+)*(?:: .*)?)$")  # nkudo-disk: ..., nkudo-guest-ready
TERMINAL_EXECUTION_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")
# The VM state each step leads to, as the control plane records it.
EXPECTED_VM_STATE = {"CREATE": "STOPPED", "START": "RUNNING", "STOP": "STOPPED", "DELETE": "DELETED"}
# Seconds each step's execution may take: generous for QEMU under TCG (CREATE copies the
# images into the cache and the VM's disk; STOP waits for the guest's ACPI power-off).
EXECUTION_TIMEOUT = {"CREATE": 120, "START": 90, "STOP": 90, "DELETE": 60}
BOOT_TIMEOUT = 120  # START applied -> nkudo-guest-ready on the console route (TCG: ~30 s)
STOP_REASON_TIMEOUT = 30


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
        last_line = t0
        try:
            while True:
                done, status = probe()
                now = time.monotonic()
                elapsed = now - t0
                if status != last_status and status is not None:
                    self.out.progress_done()
                    self.out.info(f"{description}: {status}  [{elapsed:.1f}s]")
                    last_status = status
                    last_line = now
                elif not self.out.tty and now - last_line >= 10:
                    # No spinner without a terminal: a line every 10 s during long waits.
                    self.out.info(f"{description}: still {last_status}  [{elapsed:.1f}s of at most {timeout}s]")
                    last_line = now
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
        for binary in ("nkudo-control-plane", "nkudo-edge", "fake-cloud-hypervisor"):
            if not os.access(os.path.join(self.bin, binary), os.X_OK):
                raise DemoFailure(f"{os.path.join(self.bin, binary)} is missing: run `swift build` "
                                  "(or scripts/demo without --no-build)")
        kvm_usable = os.path.exists("/dev/kvm") and os.access("/dev/kvm", os.R_OK | os.W_OK)
        accel = self.o.accel
        qemu_reasons = []  # why QEMU is not used, when it is not
        if self.o.hypervisor == "cloud-hypervisor":
            qemu_reasons.append("--hypervisor cloud-hypervisor")
        else:
            qemu = shutil.which(QEMU)
            iso_tool = shutil.which("cloud-localds") or shutil.which("genisoimage")
            if not qemu:
                qemu_reasons.append(f"no {QEMU} on PATH")
            if not iso_tool:
                qemu_reasons.append("no cloud-localds or genisoimage on PATH (the guest's NoCloud seed)")
            if accel == "kvm" and not kvm_usable:
                qemu_reasons.append("--accel kvm but /dev/kvm is not usable (use --accel tcg)")
            guest = self.test_guest() if not qemu_reasons else None
            if not qemu_reasons and guest is not True:
                qemu_reasons.append(guest)
            if not qemu_reasons:
                if accel == "tcg":
                    accel_why = "tcg (emulation; --accel default: nested/emulated hosts such as CI machines need it" + \
                                ("; --accel kvm where /dev/kvm is fast)" if kvm_usable else ", and /dev/kvm is not usable here)")
                else:
                    accel_why = "kvm (--accel kvm; /dev/kvm is usable)"
                self.vmm = {"kind": "qemu", "accelerator": accel, "path": qemu, "iso_tool": iso_tool,
                            "guest": {name: os.path.join(GUEST_DIR, name) for name in GUEST_FILES},
                            "why": f"{QEMU} is on PATH and the test guest is built ({GUEST_DIR}); accelerator {accel_why}"}
            elif self.o.hypervisor == "qemu":
                raise DemoFailure("--hypervisor qemu, but QEMU cannot boot the test guest: " + "; ".join(qemu_reasons))
        if self.vmm is None:
            real = shutil.which("cloud-hypervisor")
            firmware = "/usr/share/cloud-hypervisor/CLOUDHV.fd"
            fake = os.path.join(self.bin, "fake-cloud-hypervisor")
            not_qemu = "not QEMU: " + "; ".join(qemu_reasons)
            if real and kvm_usable and os.path.exists(firmware):
                self.vmm = {"kind": "real", "accelerator": "kvm", "path": real,
                            "why": f"{not_qemu}; cloud-hypervisor is on PATH, /dev/kvm is usable and the firmware "
                                   "is installed (a blank VM: no kernel, no image)"}
            else:
                reasons = []
                if not real:
                    reasons.append("no cloud-hypervisor on PATH")
                if not kvm_usable:
                    reasons.append("/dev/kvm is not usable")
                if real and not os.path.exists(firmware):
                    reasons.append(f"no firmware at {firmware}")
                self.vmm = {"kind": "fake", "accelerator": "none", "path": fake,
                            "why": f"{not_qemu}; not Cloud Hypervisor: " + "; ".join(reasons)}
        self.record["vmm"] = self.vmm
        kind = self.vmm["kind"]
        if kind == "qemu":
            label = f"QEMU, accelerator {accel}, booting the Linux test guest"
        elif kind == "real":
            label = "real Cloud Hypervisor (blank VM)"
        else:
            label = "fake VMM (test double of Cloud Hypervisor's API; blank VM)"
        self.out.info(f"hypervisor: {label}: {self.vmm['path']}")
        self.out.info(f"     because {self.vmm['why']}")
        if kind == "qemu":
            self.out.info(f"guest: {', '.join(GUEST_FILES)} from {GUEST_DIR}")
        self.out.info("network: none (VMs get no NIC: a TAP needs a configured bridge)")
        return f"{kind}" + (f" ({accel})" if kind == "qemu" else " VMM") + ", --network none"

    def test_guest(self):
        """True when the test guest's three files exist (built by scripts/build-test-guest if
        missing), else why not."""
        missing = [name for name in GUEST_FILES if not os.path.isfile(os.path.join(GUEST_DIR, name))]
        if not missing:
            return True
        log = os.path.join(self.tmp, "build-test-guest.log")
        self.logs["build-test-guest"] = log
        self.out.info(f"the test guest is not built ({', '.join(missing)} missing): running scripts/build-test-guest "
                      f"(Debian packages; a few minutes the first time; log {log})")
        try:
            with open(log, "wb") as f:
                result = subprocess.run([os.path.join(ROOT, "scripts", "build-test-guest"), "--out", GUEST_DIR],
                                        stdout=f, stderr=subprocess.STDOUT, timeout=900)
        except subprocess.TimeoutExpired:
            return "scripts/build-test-guest timed out after 900s"
        if result.returncode != 0:
            self.out.info("scripts/build-test-guest failed; its last lines:")
            for line in tail(log, 5).splitlines():
                self.out.info("  | " + line)
            return f"scripts/build-test-guest failed (exit {result.returncode}, log {log})"
        missing = [name for name in GUEST_FILES if not os.path.isfile(os.path.join(GUEST_DIR, name))]
        return True if not missing else f"scripts/build-test-guest left {', '.join(missing)} missing"

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
        qemu = self.vmm["kind"] == "qemu"
        image_dir = os.path.join(self.agent_dir, "images")
        if qemu:
            # Plans name images by file name in the agent's catalog; copies, since symlinks
            # leading out of the image dir are refused.
            os.makedirs(image_dir, exist_ok=True)
            for name in GUEST_FILES:
                shutil.copyfile(os.path.join(GUEST_DIR, name), os.path.join(image_dir, name))
            self.out.info(f"copied the test guest into the agent's image dir {image_dir}")
        argv = [os.path.join(self.bin, "nkudo-edge"), "run"]
        for replica in self.replicas:
            argv += ["--control-plane", replica["url"]]
        argv += ["--pki-dir", os.path.join(self.agent_dir, "pki"), "--state-dir", os.path.join(self.agent_dir, "state"),
                 "--runtime-dir", os.path.join(self.agent_dir, "vms"), "--image-dir", image_dir,
                 "--image-cache-dir", os.path.join(self.agent_dir, "image-cache")]
        if qemu:
            hypervisor_flags = f"--hypervisor qemu --accel {self.vmm['accelerator']}"
            argv += ["--hypervisor", "qemu", "--accel", self.vmm["accelerator"], "--qemu-bin", self.vmm["path"],
                     "--iso-tool", self.vmm["iso_tool"]]
        else:
            hypervisor_flags = "--cloud-hypervisor-bin " + os.path.basename(self.vmm["path"])
            argv += ["--cloud-hypervisor-bin", self.vmm["path"]]
        argv += ["--network", "none", "--netbird-enabled", "false",
                 "--heartbeat-interval", "1s", "--wire", self.o.wire, "--log-level", "info"]
        self.out.info(f"$ nkudo-edge run {hypervisor_flags} --network none --wire {self.o.wire} --heartbeat-interval 1s "
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
        if not qemu:
            return "host ONLINE, site ONLINE"
        hosts = self.api.ok("GET", f"/sites/{self.site['id']}/hosts", api_key=self.api_key).get("hosts", [])
        host = next((h for h in hosts if h["id"] == self.host["id"]), {})
        self.out.info(f"host hypervisor: {host.get('hypervisor') or '?'} "
                      f"(available: {', '.join(host.get('hypervisors') or []) or '?'})")
        if host.get("hypervisor") != "qemu":
            raise DemoFailure(f"the host reports hypervisor {host.get('hypervisor')!r}, not qemu: {json.dumps(host)}")
        catalog = {}

        def images_listed():
            self.check_agent()
            listed = self.api.ok("GET", f"/sites/{self.site['id']}/images", api_key=self.api_key).get("hosts", [])
            for entry in listed:
                if entry.get("host_id") == self.host["id"]:
                    catalog.update(entry)
                    names = {image["name"] for image in entry.get("images", [])}
                    ready = entry.get("agent_state") == "ONLINE" and set(GUEST_FILES) <= names
                    return ready, f"{len(names)} of {len(GUEST_FILES)} guest images listed"
            return False, "no catalog yet"

        self.wait_for("the host's image catalog (GET /sites/{id}/images)", images_listed, timeout=30)
        for image in catalog["images"]:
            self.out.info(f"  image {image['name']:<24} {image.get('kind', '?'):<7} {int(image.get('size_bytes', 0)):>9} bytes  "
                          f"{str(image.get('digest', ''))[:19]}...")
        self.record["image_catalog"] = catalog["images"]
        return f"host ONLINE ({host.get('hypervisor')}), site ONLINE, {len(catalog['images'])} images in its catalog"

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
            if self.vmm["kind"] == "qemu":
                action.update({"image": GUEST_DISK, "kernel": GUEST_KERNEL, "initrd": GUEST_INITRD,
                               "kernel_args": GUEST_KERNEL_ARGS, "ssh_authorized_keys": [DEMO_SSH_KEY]})
        request = {"idempotency_key": idempotency_key, "actions": [action]}
        return request, self.api.ok("POST", f"/sites/{self.site['id']}/plans", request, api_key=self.api_key)

    def plan_step(self, operation):
        key = f"demo-{operation.lower()}-{self.vm_id[:8]}"
        qemu = self.vmm["kind"] == "qemu"
        if qemu and operation == "CREATE":
            self.out.info(f"CREATE names image {GUEST_DISK}, kernel {GUEST_KERNEL}, initrd {GUEST_INITRD}, "
                          f"kernel_args {' '.join(GUEST_KERNEL_ARGS)}, ssh key {DEMO_SSH_KEY.split()[0]} ...{DEMO_SSH_KEY[-20:]}")
        request, response = self.apply(operation, key)
        if operation == "CREATE":
            self.create_request = (key, request, response)
            self.create_applied = time.monotonic()
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

        state = self.wait_for("execution", terminal, timeout=EXECUTION_TIMEOUT[operation])
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
        if operation == "CREATE" and (vm.get("image") or vm.get("kernel")):
            self.out.info(f"VM image {vm.get('image') or '-'}, kernel {vm.get('kernel') or '-'}, "
                          f"initrd {vm.get('initrd') or '-'}")
        if operation == "START" and not qemu and vm.get("hypervisor"):
            self.out.info(f"VM hypervisor {vm['hypervisor']} (blank VM: no image, no kernel)")

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
        result = f"execution {state} in {seconds:.1f}s, VM {vm['state']}, {len(logs)} log line(s)"
        # What the guest did first: the summary table cuts long results.
        if qemu and operation == "START":
            result = self.await_boot() + "; " + result
        elif operation == "STOP":
            result = self.await_stop_reason(required=qemu) + "; " + result
        elif qemu and operation == "DELETE":
            result = self.await_qemu_gone() + "; " + result
        return result

    # -- the real guest (QEMU) ----------------------------------------------------------

    def console(self):
        """The VM's console tail from the control plane (\r stripped), None before any."""
        try:
            status, payload = self.api.call("GET", f"/sites/{self.site['id']}/vms/{self.vm_id}/console",
                                            api_key=self.api_key)
        except (OSError, http.client.HTTPException) as error:
            raise DemoFailure(f"GET /sites/{{id}}/vms/{{id}}/console: {error}")
        if status == 404:
            return None
        if status != 200:
            raise DemoFailure(f"GET /sites/{{id}}/vms/{{id}}/console answered {status}: {json.dumps(payload)}")
        return (payload or {}).get("console", "").replace("\r", "")

    @staticmethod
    def guest_lines(console):
        """The lines the test guest's /init printed (boot marker and nkudo-* lines)."""
        lines = []
        for line in (console or "").splitlines():
            if BOOT_MARKER in line:
                lines.append(BOOT_MARKER)
                continue
            match = GUEST_LINE.search(line)
            if match:
                lines.append(match.group(1).strip())
        return lines

    def await_boot(self):
        """After START: waits for the guest's ready line on the console route; checks what it printed."""
        seen = {}

        def booted():
            self.check_agent()
            console = self.console()
            if console is None or not console.strip():
                return False, "no console output yet"
            now = time.monotonic()
            if BOOT_MARKER in console and "marker" not in seen:
                seen["marker"] = now
            if "nkudo-guest-ready" in console:
                seen["ready"] = now
                seen["console"] = console
                return True, "nkudo-guest-ready"
            if "marker" in seen:
                return False, f"{BOOT_MARKER} seen, /init reporting"
            return False, "kernel booting"

        self.out.info(f"waiting for the guest's console (GET /sites/{{id}}/vms/{{id}}/console, the serial console "
                      f"tail the agent ships with its heartbeats; at most {BOOT_TIMEOUT}s)")
        try:
            self.wait_for("the guest's console", booted, timeout=BOOT_TIMEOUT, interval=0.5)
        except DemoFailure as error:
            last = [line for line in (self.console() or "").splitlines() if line.strip()][-8:]
            raise DemoFailure(f"{error}; the console's last lines:\n" + "\n".join(last or ["(empty)"]))
        lines = self.guest_lines(seen["console"])
        for line in lines:
            self.out.info(f"  console | {line}")
        boot_seconds = round(seen["marker"] - self.create_applied, 1)
        ready_seconds = round(seen["ready"] - self.create_applied, 1)
        self.out.info(f"boot time: CREATE applied -> {BOOT_MARKER} on the console route in {boot_seconds:.1f}s "
                      f"(nkudo-guest-ready at {ready_seconds:.1f}s; {self.vmm['accelerator']})")
        self.record["console"] = {"boot_marker": BOOT_MARKER, "lines": lines, "boot_seconds": boot_seconds,
                                  "ready_seconds": ready_seconds}
        checks = [
            (f"nkudo-instance-id: {self.vm_id}", "the instance id is not the VM id"),
            (f"nkudo-ssh-key: {DEMO_SSH_KEY}", "the ssh key did not reach the guest"),
            ("nkudo-disk: NKUDO-TEST-DISK v1", "the guest's disk is not a copy of the image"),
        ]
        for expected, problem in checks:
            if expected not in lines:
                raise DemoFailure(f"{problem}: expected the console line {expected!r}, got {lines}")
        self.out.info(f"instance id = VM id {self.vm_id}; the ssh key and the disk reached the guest")
        vm = self.vm_state() or {}
        self.record["console"]["vm_hypervisor"] = vm.get("hypervisor")
        self.out.info(f"GET /sites/{{id}}/vms: {vm.get('state')}, hypervisor {vm.get('hypervisor') or '-'}, "
                      f"state_reason {vm.get('state_reason') or '-'}")
        return f"guest booted in {boot_seconds:.1f}s ({self.vmm['accelerator']})"

    def await_stop_reason(self, required):
        """After STOP: the reason arrives with the agent's next heartbeat; with QEMU the guest
        must have printed its power-off line."""
        holder = {}

        def reason_arrived():
            self.check_agent()
            vm = self.vm_state() or {}
            reason = vm.get("state_reason") or ""
            holder["reason"] = reason
            return vm.get("state") == "STOPPED" and reason.startswith("stopped"), reason or "no reason yet"

        try:
            self.wait_for("the VM's state reason", reason_arrived, timeout=STOP_REASON_TIMEOUT if required else 10)
        except DemoFailure:
            if required:
                raise
            self.out.info("no state reason reported (the fake VMM may not give one)")
            self.record["stop_reason"] = holder.get("reason") or None
            return "no stop reason"
        reason = holder["reason"]
        graceful = "gracefully" in reason
        self.out.info(f"stop reason: {reason} ({'graceful' if graceful else 'forced'})")
        self.record["stop_reason"] = reason
        if not required:
            return "graceful stop" if graceful else "forced stop"
        if "console" in self.record:
            self.record["console"]["stop_reason"] = reason

        def powered_off():
            console = self.console() or ""
            holder["console"] = console
            return "nkudo-guest-poweroff" in console, "nkudo-guest-poweroff" if "nkudo-guest-poweroff" in console else "not yet"

        try:
            self.wait_for("the guest's power-off line on the console", powered_off, timeout=20, interval=0.5)
        except DemoFailure:
            raise DemoFailure(f"the console shows no nkudo-guest-poweroff after STOP (reason: {reason}); "
                              f"its last lines:\n" + "\n".join((holder.get("console") or "").splitlines()[-10:]))
        self.out.info("  console | nkudo-guest-poweroff")
        if "console" in self.record:
            self.record["console"]["lines"].append("nkudo-guest-poweroff")
        return f"{'graceful' if graceful else 'forced'} stop, guest printed nkudo-guest-poweroff"

    def await_qemu_gone(self):
        def gone():
            left = [p for p in self.vmm_processes() if "qemu" in p[1]]
            return not left, "QEMU gone" if not left else f"QEMU still running: {left}"

        self.wait_for("the VM's QEMU process", gone, timeout=15)
        return "no QEMU process left"

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
            raise DemoFailure("VMM processes still running after DELETE: "
                              + ", ".join(f"{name} pid {pid}" for pid, name in leftovers))
        vmm = "QEMU" if self.vmm and self.vmm["kind"] == "qemu" else "VMM"
        return f"SIGTERM -> exit 0; no {vmm} process left running"

    # -- cleanup ------------------------------------------------------------------------

    def vmm_processes(self):
        """(pid, name) of the VMM processes of this demo: started with paths under its temp dir
        (Cloud Hypervisor's and the fake's API sockets, QEMU's QMP socket and console file are
        in the agent's runtime dir) or a QEMU named after the demo's VM (-name nkudo-<vm id>)."""
        found = []
        own = self.own_pids()
        qemu_name = f"nkudo-{getattr(self, 'vm_id', None)}"
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid() or int(pid) in own:
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().decode(errors="replace").split("\0")
            except OSError:
                continue
            if not argv or not argv[0]:
                continue  # a zombie or a kernel thread
            name = os.path.basename(argv[0])
            cmdline = " ".join(argv)
            if self.tmp in cmdline or (name.startswith("qemu-system") and qemu_name in argv):
                found.append((int(pid), name))
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
        for pid, name in self.vmm_processes():
            try:
                os.kill(pid, signal.SIGTERM)
                self.cleanup_notes.append(f"stopped {name} pid {pid}")
            except OSError:
                pass
        deadline = time.monotonic() + 5
        while self.vmm_processes() and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid, name in self.vmm_processes():
            try:
                os.kill(pid, signal.SIGKILL)
                self.cleanup_notes.append(f"killed {name} pid {pid} (SIGKILL)")
            except OSError:
                pass
        deadline = time.monotonic() + 2
        while self.vmm_processes() and time.monotonic() < deadline:
            time.sleep(0.1)
        left = self.vmm_processes()
        self.record["leftover_vmm_processes"] = [{"pid": pid, "name": name} for pid, name in left]
        if left:
            listed = ", ".join(f"{name} pid {pid}" for pid, name in left)
            self.cleanup_notes.append(f"VMM processes still running: {listed}")
            if self.failed is None:
                self.failed = {"step": 0, "title": "cleanup", "reason": f"VMM processes survived SIGKILL: {listed}"}
        else:
            self.cleanup_notes.append("no VMM process left")
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
        out.line(f"n-kudo demo: store={o.store} wire={o.wire} replicas={o.replicas} hypervisor={o.hypervisor} accel={o.accel}")
        out.line(f"working dir: {self.tmp}")
        self.vm_id = str(uuid.uuid4())
        plan = [
            ("VMM", "Choose the hypervisor and accelerator", self.choose_vmm),
            ("control plane", f"Start the control plane ({o.store}, {o.replicas} replica(s), HTTPS, heartbeat 1s)",
             self.start_control_planes),
            ("tenants + API keys", "Create two tenants and an API key each (admin API, X-Admin-Key)", self.create_tenants),
            ("site", "Create a site (tenant API, X-API-Key)", self.create_site),
            ("enrollment token", "Issue a one-time enrollment token", self.issue_token),
            ("enroll agent", "Enroll the edge agent, pinning the CA fingerprint", self.enroll),
            ("agent online", f"Run the agent (wire: {o.wire}); wait for its first heartbeat", self.run_agent),
            ("CREATE", "Plan 1: CREATE the VM", lambda: self.plan_step("CREATE")),
            ("re-apply (idempotent)", "Re-apply plan 1 with the same idempotency key", self.dedup),
            ("START", lambda: "Plan 2: START the VM" + (" and watch the guest boot on its console"
                                                         if self.vmm["kind"] == "qemu" else ""),
             lambda: self.plan_step("START")),
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
                out.begin(name, title() if callable(title) else title)
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
                "options": {"store": self.o.store, "wire": self.o.wire, "replicas": self.o.replicas,
                            "hypervisor": self.o.hypervisor, "accel": self.o.accel},
                "vmm": self.vmm,
                "console": None,
                "stop_reason": None,
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
        if self.vmm and self.vmm["kind"] == "qemu":
            vmm += f" ({self.vmm['accelerator']})"
            if self.record.get("console"):
                vmm += f" boot {self.record['console']['boot_seconds']:.1f}s"
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
                    "CREATE -> START (a Linux test guest booted by QEMU, when available) -> STOP -> DELETE, "
                    "idempotent re-apply, tenant isolation; then cleans up.")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default=None,
                        help="control-plane store: embedded SQLite in a temp dir (default) or a fresh database on the "
                             "local PostgreSQL (scripts/start-postgres), dropped afterwards")
    parser.add_argument("--wire", choices=("binary", "json"), default="binary",
                        help="the agent's wire format (default: binary protobuf)")
    parser.add_argument("--replicas", type=int, choices=(1, 2), default=1,
                        help="2: two control-plane processes on one PostgreSQL; replica 1 is stopped mid-flow and "
                             "the agent continues on replica 2 (implies --store postgres)")
    parser.add_argument("--hypervisor", choices=("auto", "qemu", "cloud-hypervisor"), default="auto",
                        help="auto (default): QEMU booting the Linux test guest of scripts/build-test-guest when "
                             f"{QEMU} is on PATH (the guest is built if missing), else Cloud Hypervisor (the real one "
                             "with a usable /dev/kvm and its firmware, the fake VMM otherwise) with a blank VM; "
                             "qemu: fail instead of falling back; cloud-hypervisor: skip QEMU")
    parser.add_argument("--accel", choices=("kvm", "tcg"), default="tcg",
                        help="QEMU's accelerator (default: tcg, emulation: nested or emulated hosts such as these CI "
                             "machines need tcg, where KVM is missing or too slow; kvm where /dev/kvm is fast)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the human output")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, data, agent state)")
    parser.add_argument("--no-build", action="store_true", help="skip scripts/setup, swift build and scripts/build-test-guest (the guest is "
                                                             "still built when it is missing and QEMU is used)")
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
