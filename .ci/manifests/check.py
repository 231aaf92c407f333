#!/usr/bin/env python3
"""Offline checks of the deployment files: Dockerfile, deploy/kubernetes/*.

Run by .ci/check-manifests, which installs the tools this uses. Three kinds of checks:

1. Schemas. Core Kubernetes objects against the OpenAPI schemas kubernetes-validate ships
   (strict: unknown fields are errors), for the oldest Kubernetes the manifests support and the
   newest the validator knows. PodMonitor and PrometheusRule against the Prometheus Operator
   models of @kubernetes-models/prometheus-operator (types, required fields, patterns), plus
   unknown-field checks against the field lists of the same package. The PrometheusRule's
   rules through `promtool check rules` and the unit tests in rules.test.yaml.
2. Consistency, which no schema sees: names and labels that refer to each other (selectors,
   ports, volumes, the ConfigMap key, the Secret), the shard count in the args against
   `replicas`, the example skimwatch.toml against the paths, ports and variables of the pod.
3. Drift against the code: the config keys against src/config/read.rs, the metric names of the
   alert rules against src/watch/metrics.rs, the Chromium sidecar's flags against the flags
   skimwatch gives a Chromium it launches (src/capture/browser.rs).

A few deliberate mistakes are then fed to the consistency checks (self-test), so a check that
silently stopped finding anything fails too.

Usage: check.py --promtool PATH --node-modules DIR
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import urllib.parse
from pathlib import Path

import yaml
import kubernetes_validate
import kubernetes_validate.utils as kv

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "kubernetes"
HERE = Path(__file__).resolve().parent

# Validated, but deliberately not applied by kustomization.yaml.
NOT_LISTED = {"secret.example.yaml"}
# The oldest Kubernetes the StatefulSet supports (native sidecars are on by default since
# 1.29) and the newest whose schemas kubernetes-validate ships.
K8S_VERSIONS = ["1.29.0", kv.all_versions()[-1]]
CRD_GROUP = "monitoring.coreos.com/v1"
# Keys the example config uses ahead of the parser: being added to src/config/read.rs. A key
# listed here and still missing from the source is a warning, not an error.
PENDING_CONFIG_KEYS = {("browser", "endpoint")}
# Flags of skimwatch's own Chromium launch that the headless-shell sidecar leaves out, and why.
SIDECAR_FLAGS_LEFT_OUT = {
    "headless=new": "headless-shell is headless by build",
    "disable-dev-shm-usage": "/dev/shm is a memory volume in the pod",
}
KUSTOMIZATION_KEYS = {
    "apiVersion", "kind", "resources", "namespace", "labels", "commonLabels", "commonAnnotations",
    "images", "patches", "replicas", "namePrefix", "nameSuffix", "configMapGenerator",
    "secretGenerator", "generatorOptions", "components",
}


class Report:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.passed = 0

    def check(self, ok: bool, where: str, message: str) -> bool:
        if ok:
            self.passed += 1
        else:
            self.errors.append(f"{where}: {message}")
        return ok

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(f"{where}: {message}")


def step(title: str) -> None:
    print(f"-- {title}", flush=True)


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# ---------------------------------------------------------------------------------------------
# Loading


def load_docs(path: Path, r: Report) -> list[dict]:
    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except yaml.YAMLError as e:
        r.error(rel(path), f"not YAML: {e}")
        return []
    for i, d in enumerate(docs):
        where = f"{rel(path)}[{i}]"
        if not isinstance(d, dict):
            r.error(where, "a document that is not a mapping")
            continue
        for key in ("apiVersion", "kind"):
            r.check(isinstance(d.get(key), str), where, f"no {key}")
        r.check(isinstance(d.get("metadata", {}).get("name"), str), where, "no metadata.name")
    return [d for d in docs if isinstance(d, dict)]


def load_kustomization(r: Report) -> list[str]:
    path = DEPLOY / "kustomization.yaml"
    where = rel(path)
    if not r.check(path.is_file(), where, "missing"):
        return []
    k = yaml.safe_load(path.read_text()) or {}
    r.check(k.get("apiVersion") == "kustomize.config.k8s.io/v1beta1", where, "apiVersion is not kustomize.config.k8s.io/v1beta1")
    r.check(k.get("kind") == "Kustomization", where, "kind is not Kustomization")
    unknown = set(k) - KUSTOMIZATION_KEYS
    r.check(not unknown, where, f"unknown keys {sorted(unknown)}")
    resources = k.get("resources") or []
    r.check(isinstance(resources, list) and resources, where, "resources is not a non-empty list")
    r.check(len(resources) == len(set(resources)), where, "a resource is listed twice")
    for res in resources:
        r.check((DEPLOY / res).is_file(), where, f"lists {res}, which does not exist")
        r.check(res not in NOT_LISTED, where, f"lists {res}, which must not be applied")
    present = {p.name for p in DEPLOY.iterdir() if p.suffix in (".yaml", ".yml")}
    for name in sorted(present - set(resources) - NOT_LISTED - {"kustomization.yaml"}):
        r.error(where, f"{name} is in the folder but not listed (or add it to NOT_LISTED in {rel(Path(__file__))})")
    return [res for res in resources if (DEPLOY / res).is_file()]


# ---------------------------------------------------------------------------------------------
# 1. Schemas


def validate_core(docs: list[tuple[str, dict]], r: Report, quiet: bool = False) -> None:
    before = len(r.errors)
    checked = 0
    for where, d in docs:
        if d.get("apiVersion") == CRD_GROUP:
            continue
        for version in K8S_VERSIONS:
            label = f"{where} {d.get('kind')}/{d.get('metadata', {}).get('name')} (Kubernetes {version})"
            try:
                kv.validate(d, version, strict=True)
                r.passed += 1
                checked += 1
            except kv.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                r.error(label, f"{path}: {e.message}")
            except kv.SchemaNotFoundError:
                r.error(label, f"no schema for {d.get('apiVersion')} {d.get('kind')}: a typo, or a kind this version lacks")
    if not quiet:
        print(f"   {checked} object × version validations passed, {len(r.errors) - before} failed")


def dts_fields(node_modules: Path, model: str) -> set[str]:
    """The fields of a Prometheus Operator model, from the class declaration of its .d.ts."""
    path = node_modules / "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1" / f"{model}.d.ts"
    text = path.read_text()
    body = text.split(f"export declare class {model} ", 1)[1]
    return set(re.findall(r'^    "(\w+)"\??:', body, flags=re.M))


def validate_crds(docs: list[tuple[str, dict]], node_modules: Path, r: Report) -> None:
    crds = [(w, d) for w, d in docs if d.get("apiVersion") == CRD_GROUP]
    if not crds:
        return
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump([{"where": w, "doc": d} for w, d in crds], f)
        batch = f.name
    try:
        out = subprocess.run(
            ["node", str(HERE / "validate-crds.mjs"), str(node_modules), batch],
            capture_output=True, text=True, check=False,
        )
    finally:
        os.unlink(batch)
    for line in out.stdout.splitlines():
        if line.startswith("ok "):
            r.passed += 1
            print(f"   {line}")
        elif line.startswith("error "):
            r.errors.append(line[len("error "):])
    if out.returncode not in (0, 1) or (out.returncode == 1 and not any(l.startswith("error ") for l in out.stdout.splitlines())):
        r.error("validate-crds.mjs", f"exit {out.returncode}: {out.stderr.strip()[-2000:]}")

    # Unknown fields: the models accept them (the API server would prune them silently).
    def known(where: str, obj: object, model: str) -> None:
        if not isinstance(obj, dict):
            return
        fields = dts_fields(node_modules, model)
        for key in obj:
            r.check(key in fields, where, f"unknown field {key!r} in {model}")

    for where, d in crds:
        spec = d.get("spec", {})
        kind = d.get("kind")
        r.check(set(d) <= {"apiVersion", "kind", "metadata", "spec"}, where, f"unexpected top-level keys {sorted(set(d))}")
        if kind == "PodMonitor":
            known(f"{where} spec", spec, "PodMonitorSpec")
            for i, ep in enumerate(spec.get("podMetricsEndpoints", [])):
                known(f"{where} spec.podMetricsEndpoints[{i}]", ep, "PodMetricsEndpoint")
        elif kind == "PrometheusRule":
            known(f"{where} spec", spec, "PrometheusRuleSpec")
            for i, g in enumerate(spec.get("groups", [])):
                known(f"{where} spec.groups[{i}]", g, "RuleGroup")
                for j, rule in enumerate(g.get("rules", [])):
                    known(f"{where} spec.groups[{i}].rules[{j}]", rule, "Rule")
        else:
            r.error(where, f"no validator for {CRD_GROUP} {kind}")


def check_rules(rule_docs: list[tuple[str, dict]], promtool: str, r: Report) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for where, d in rule_docs:
            rules = Path(tmp) / "rules.yaml"
            rules.write_text(yaml.safe_dump(d["spec"], sort_keys=False))
            out = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, check=False)
            if r.check(out.returncode == 0, f"{where} promtool check rules", (out.stdout + out.stderr).strip()):
                print("   " + out.stdout.strip().splitlines()[-1])
            shutil.copy(HERE / "rules.test.yaml", Path(tmp) / "rules.test.yaml")
            out = subprocess.run(
                [promtool, "test", "rules", str(Path(tmp) / "rules.test.yaml")],
                capture_output=True, text=True, check=False, cwd=tmp,
            )
            if r.check(out.returncode == 0, f"{where} promtool test rules ({rel(HERE / 'rules.test.yaml')})", (out.stdout + out.stderr).strip()):
                print(f"   {rel(HERE / 'rules.test.yaml')}: {out.stdout.split()[-1]}")


# ---------------------------------------------------------------------------------------------
# 2. Consistency


def subset(selector: dict | None, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def by_kind(docs: list[tuple[str, dict]], kind: str) -> list[tuple[str, dict]]:
    return [(w, d) for w, d in docs if d.get("kind") == kind]


def named_ports(container: dict) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}


def flag_value(args: list[str], name: str) -> str | None:
    """`--name=value` or `--name value` from an argument list."""
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def check_consistency(docs: list[tuple[str, dict]], r: Report, config_keys: dict[str, set[str]] | None, quiet: bool = False) -> None:
    namespaces = [d["metadata"]["name"] for _, d in by_kind(docs, "Namespace")]
    r.check(len(namespaces) == 1, "deploy/kubernetes", f"expected one Namespace, found {namespaces}")
    ns = namespaces[0] if namespaces else None
    seen: set[tuple[str, str]] = set()
    for where, d in docs:
        key = (d["kind"], d["metadata"]["name"])
        r.check(key not in seen, where, f"{key[0]}/{key[1]} defined twice")
        seen.add(key)
        if d["kind"] != "Namespace":
            r.check(d["metadata"].get("namespace") == ns, where, f"{key[0]}/{key[1]} is not in namespace {ns}")

    sets = by_kind(docs, "StatefulSet")
    if not r.check(len(sets) == 1, "deploy/kubernetes", f"expected one StatefulSet, found {len(sets)}"):
        return
    where, sts = sets[0]
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"].get("labels", {})
    r.check(subset(spec["selector"].get("matchLabels"), labels), where, "selector does not match the pod labels")
    containers = {c["name"]: c for c in pod.get("containers", [])}
    inits = {c["name"]: c for c in pod.get("initContainers", [])}
    every = {**inits, **containers}

    # The governing Service.
    services = {d["metadata"]["name"]: (w, d) for w, d in by_kind(docs, "Service")}
    svc = services.get(spec.get("serviceName"))
    if r.check(svc is not None, where, f"serviceName {spec.get('serviceName')!r} names no Service"):
        sw, s = svc
        r.check(s["spec"].get("clusterIP") == "None", sw, "the StatefulSet's Service must be headless (clusterIP: None)")
        r.check(subset(s["spec"].get("selector"), labels), sw, "selector does not match the StatefulSet's pods")
        ports = {n for c in containers.values() for n in named_ports(c)}
        for p in s["spec"].get("ports", []):
            t = p.get("targetPort")
            r.check(not isinstance(t, str) or t in ports, sw, f"targetPort {t!r} is no named container port")

    # PodMonitor → pods and a named port.
    for mw, m in by_kind(docs, "PodMonitor"):
        r.check(subset(m["spec"].get("selector", {}).get("matchLabels"), labels), mw, "selector does not match the StatefulSet's pods")
        for ep in m["spec"].get("podMetricsEndpoints", []):
            r.check(any(ep.get("port") in named_ports(c) for c in containers.values()), mw, f"port {ep.get('port')!r} is no named container port")
            r.check(ep.get("path") == "/metrics", mw, "path must be /metrics (src/watch/metrics.rs)")

    # NetworkPolicy → pods and named ports.
    for nw, n in by_kind(docs, "NetworkPolicy"):
        r.check(subset(n["spec"].get("podSelector", {}).get("matchLabels"), labels), nw, "podSelector does not match the StatefulSet's pods")
        for rule in n["spec"].get("ingress", []):
            for p in rule.get("ports", []):
                port = p.get("port")
                r.check(not isinstance(port, str) or any(port in named_ports(c) for c in containers.values()), nw, f"port {port!r} is no named container port")

    # Volumes.
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
    used: set[str] = set()
    configmaps = {d["metadata"]["name"]: d for _, d in by_kind(docs, "ConfigMap")}
    for name, c in every.items():
        for m in c.get("volumeMounts", []):
            used.add(m["name"])
            r.check(m["name"] in volumes or m["name"] in claims, where, f"container {name} mounts {m['name']!r}, which is no volume")
            v = volumes.get(m["name"], {})
            if "configMap" in v and "subPath" in m:
                cm = configmaps.get(v["configMap"]["name"])
                r.check(cm is not None and m["subPath"] in cm.get("data", {}), where, f"container {name}: ConfigMap {v['configMap']['name']} has no key {m['subPath']!r}")
    for name in set(volumes) | claims:
        r.check(name in used, where, f"volume {name!r} is mounted by no container")
    for name, v in volumes.items():
        if "configMap" in v:
            r.check(v["configMap"]["name"] in configmaps, where, f"volume {name}: no ConfigMap {v['configMap']['name']}")

    # Every container: pinned image, resources, hardening, probes on its own ports.
    pod_sc = pod.get("securityContext", {})
    r.check(pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where, "pod seccompProfile is not RuntimeDefault")
    r.check(pod_sc.get("runAsNonRoot") is True, where, "pod runAsNonRoot is not true")
    r.check(pod.get("automountServiceAccountToken") is False, where, "the pod needs no service account token: automountServiceAccountToken: false")
    for name, c in every.items():
        cw = f"{where} container {name}"
        image = c.get("image", "")
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        r.check(bool(tag) and tag not in ("latest", "stable", "beta", "dev"), cw, f"image {image!r} is not pinned to a version tag")
        res = c.get("resources", {})
        for kind in ("requests", "limits"):
            for what in ("cpu", "memory"):
                r.check(what in res.get(kind, {}), cw, f"no resources.{kind}.{what}")
        sc = c.get("securityContext", {})
        r.check(sc.get("allowPrivilegeEscalation") is False, cw, "allowPrivilegeEscalation is not false")
        r.check("ALL" in sc.get("capabilities", {}).get("drop", []), cw, "capabilities do not drop ALL")
        r.check(sc.get("readOnlyRootFilesystem") is True, cw, "readOnlyRootFilesystem is not true")
        r.check(not sc.get("privileged"), cw, "privileged")
        r.check(sc.get("runAsUser", pod_sc.get("runAsUser", 0)) != 0, cw, "runs as root")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            p = c.get(probe, {})
            for handler in ("httpGet", "tcpSocket"):
                port = p.get(handler, {}).get("port")
                if isinstance(port, str):
                    r.check(port in named_ports(c), cw, f"{probe} uses port {port!r}, which this container does not name")
        env = {e["name"]: e for e in c.get("env", [])}
        for arg in c.get("command", []) + c.get("args", []):
            for var in re.findall(r"\$\((\w+)\)", arg):
                r.check(var in env, cw, f"$({var}) in its arguments is not in its env")
    for name, c in inits.items():
        if c.get("restartPolicy") == "Always":
            r.check("startupProbe" in c, f"{where} container {name}", "a native sidecar without a startupProbe does not hold back the daemon")

    sk = containers.get("skimwatch")
    if not r.check(sk is not None, where, "no container named skimwatch"):
        return
    args = sk.get("args", [])
    env = {e["name"]: e for e in sk.get("env", [])}

    # --shard $(SHARD_INDEX)/N with N = replicas and SHARD_INDEX = the pod's ordinal.
    shard = flag_value(args, "--shard")
    m = re.fullmatch(r"\$\((\w+)\)/(\d+)", shard or "")
    replicas = spec.get("replicas", 1)
    if r.check(m is not None, where, f"--shard {shard!r} is not $(VAR)/N"):
        var, count = m.group(1), int(m.group(2))
        r.check(count == replicas, where, f"--shard …/{count} but replicas: {replicas}: shards would go unwatched or twice")
        ref = env.get(var, {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        r.check(ref == "metadata.labels['apps.kubernetes.io/pod-index']", where, f"{var} does not come from the pod-index label")
    r.check(spec.get("podManagementPolicy") == "Parallel", where, "podManagementPolicy is not Parallel")

    # The config file: mounted from the ConfigMap where --config says.
    config_path = flag_value(args, "--config")
    mount = next((mm for mm in sk.get("volumeMounts", []) if mm["mountPath"] == config_path), None)
    if not r.check(mount is not None and "subPath" in mount, where, f"--config {config_path} is not a file mounted from a ConfigMap"):
        return
    cm = configmaps[volumes[mount["name"]]["configMap"]["name"]]
    text = cm["data"][mount["subPath"]]
    cw = f"ConfigMap {cm['metadata']['name']} {mount['subPath']}"
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        r.error(cw, f"not TOML: {e}")
        return
    check_config(config, cw, r, config_keys)
    mounts = {mm["mountPath"]: mm for mm in sk.get("volumeMounts", [])}

    storage = config.get("storage", {})
    db = storage.get("database", "")
    db_mount = mounts.get(os.path.dirname(db))
    r.check(db_mount is not None and db_mount["name"] in claims and not db_mount.get("readOnly"), cw, f"[storage] database {db} is not on the pod's own writable volume")

    baselines = storage.get("baselines", "")
    bmount = next((p for p in mounts if baselines == p or baselines.startswith(p + "/")), None)
    if r.check(bmount is not None, cw, f"[storage] baselines {baselines} is under no volume of the skimwatch container"):
        r.check(mounts[bmount].get("readOnly") is True, cw, "the baselines volume is not read-only in the skimwatch container")
        syncers = [c for c in every.values() if any(vm["name"] == mounts[bmount]["name"] for vm in c.get("volumeMounts", [])) and c["name"] != "skimwatch"]
        for c in syncers:
            link = flag_value(c.get("args", []), "--link")
            root = flag_value(c.get("args", []), "--root")
            root_mount = next((vm["mountPath"] for vm in c.get("volumeMounts", []) if vm["name"] == mounts[bmount]["name"]), None)
            r.check(root == root_mount, f"{where} container {c['name']}", f"--root {root} is not where the baselines volume is mounted ({root_mount})")
            want = f"{bmount}/{link}"
            r.check(baselines == want or baselines.startswith(want + "/"), cw, f"[storage] baselines {baselines} is not below git-sync's link {want} (container {c['name']})")

    listen = config.get("watch", {}).get("listen", "")
    host, _, port = listen.rpartition(":")
    metrics = named_ports(sk).get("metrics")
    r.check(port.isdigit() and int(port) == metrics, cw, f"[watch] listen {listen} is not the metrics port {metrics}")
    r.check(host not in ("", "127.0.0.1", "localhost", "[::1]"), cw, f"[watch] listen {listen} is loopback: neither the kubelet's probes nor Prometheus would reach it")

    endpoint = config.get("browser", {}).get("endpoint")
    if endpoint:
        u = urllib.parse.urlsplit(endpoint)
        r.check(u.scheme in ("ws", "http"), cw, f"[browser] endpoint {endpoint}: expected ws:// or http://")
        r.check(u.hostname in ("127.0.0.1", "localhost"), cw, f"[browser] endpoint {endpoint} leaves the pod: CDP must stay on loopback")
        browsers = [c for c in every.values() if flag_value(c.get("args", []), "--remote-debugging-port")]
        if r.check(len(browsers) == 1, where, "[browser] endpoint is set but no container runs a browser with --remote-debugging-port"):
            b = browsers[0]
            bport = flag_value(b["args"], "--remote-debugging-port")
            r.check(str(u.port) == bport, cw, f"[browser] endpoint port {u.port} is not the sidecar's --remote-debugging-port {bport}")
            addr = flag_value(b["args"], "--remote-debugging-address")
            r.check(addr in (None, "127.0.0.1"), f"{where} container {b['name']}", f"--remote-debugging-address={addr} exposes CDP beyond the pod")
            r.check(not b.get("ports"), f"{where} container {b['name']}", "declares ports: CDP must not be published")

    email = config.get("alerts", {}).get("email", {})
    pw = email.get("password_env")
    if pw:
        ref = env.get(pw, {}).get("valueFrom", {}).get("secretKeyRef")
        if r.check(ref is not None, where, f"password_env {pw} is not set from a Secret in the skimwatch container"):
            secrets = {d["metadata"]["name"]: d for _, d in by_kind(docs, "Secret")}
            s = secrets.get(ref["name"])
            r.check(s is not None and ref["key"] in {**s.get("data", {}), **s.get("stringData", {})}, where, f"Secret {ref['name']} key {ref['key']} matches no example in {sorted(NOT_LISTED)}")

    # Which shard watches which page (the same hash as src/config/select.rs).
    pages = [p.get("name", "") for p in config.get("page", [])]
    split: dict[int, list[str]] = {k: [] for k in range(replicas)}
    for p in pages:
        split[int.from_bytes(hashlib.sha256(p.encode()).digest()[:8], "big") % replicas].append(p)
    if not quiet:
        print("   shard split of the example pages: " + ", ".join(f"{k}/{replicas}: {', '.join(v) or '(none)'}" for k, v in split.items()))
        for k, v in split.items():
            if not v:
                r.warn(cw, f"shard {k}/{replicas} gets no page of this config and idles (more pages than shards avoid it)")


def check_config(config: dict, cw: str, r: Report, config_keys: dict[str, set[str]] | None) -> None:
    if config_keys is None:
        return

    def keys(table: str, value: object) -> None:
        if not isinstance(value, dict):
            return
        allowed = config_keys.get(table)
        if allowed is None:
            r.error(cw, f"no key list for [{table}] in src/config/read.rs")
            return
        for k in value:
            if k in allowed:
                r.passed += 1
            elif (table, k) in PENDING_CONFIG_KEYS:
                r.warn(cw, f"[{table}] {k} is not yet a key of src/config/read.rs (being added)")
            else:
                r.error(cw, f"[{table}] {k}: unknown key (expected {', '.join(sorted(allowed))})")

    keys("root", config)
    for table in ("storage", "browser", "watch", "alerts"):
        keys(table, config.get(table))
    keys("alerts.email", config.get("alerts", {}).get("email"))
    for hook in config.get("alerts", {}).get("webhook", []):
        keys("alerts.webhook", hook)
    pages = config.get("page", [])
    r.check(isinstance(pages, list) and pages, cw, "no [[page]]")
    names = []
    for i, p in enumerate(pages):
        keys("page", p)
        for sub in ("basic_auth", "geolocation"):
            keys(f"page.{sub}", p.get(sub))
        for sub in ("step", "policy"):
            for item in p.get(sub, []):
                keys(f"page.{sub}", item)
        name = p.get("name", "")
        r.check(re.fullmatch(r"[A-Za-z0-9_-]+", name) is not None, cw, f"page[{i}].name {name!r} is not [A-Za-z0-9_-]+")
        r.check(str(p.get("url", "")).startswith(("http://", "https://")), cw, f"page[{i}].url is not an http(s) URL")
        names.append(name)
    r.check(len(names) == len(set(names)), cw, "two pages have the same name")


# ---------------------------------------------------------------------------------------------
# 3. Drift against the code


def config_keys_from_source(r: Report) -> dict[str, set[str]] | None:
    path = ROOT / "src/config/read.rs"
    consts = {m.group(1): set(re.findall(r'"([^"]*)"', m.group(2)))
              for m in re.finditer(r"const (\w+)_KEYS: &\[&str\] =\s*&\[(.*?)\];", path.read_text(), flags=re.S)}
    tables = {"root": "ROOT", "storage": "STORAGE", "browser": "BROWSER", "watch": "WATCH", "alerts": "ALERTS",
              "alerts.email": "EMAIL", "alerts.webhook": "WEBHOOK", "page": "PAGE", "page.basic_auth": "BASIC_AUTH",
              "page.geolocation": "GEOLOCATION", "page.step": "STEP", "page.policy": "POLICY"}
    missing = [c for c in tables.values() if c not in consts]
    if not r.check(not missing, rel(path), f"cannot find the key lists {missing}_KEYS: update {rel(Path(__file__))}"):
        return None
    return {table: consts[c] for table, c in tables.items()}


def metric_names_from_source(r: Report) -> set[str]:
    path = ROOT / "src/watch/metrics.rs"
    text = path.read_text()
    prefix = re.search(r'Registry::with_prefix\("(\w+)"\)', text)
    struct = re.search(r"pub struct Metrics \{(.*?)\n\}", text, flags=re.S)
    registered = re.findall(r'register\(\s*"(\w+)",\s*"(?:[^"\\]|\\.)*",\s*m\.(\w+)\.clone\(\)', text)
    if not r.check(bool(prefix and struct and registered), rel(path), f"cannot read the metric names: update {rel(Path(__file__))}"):
        return set()
    types = dict(re.findall(r"^\s+(\w+):\s*(.+?),\s*$", struct.group(1), flags=re.M))
    names: set[str] = set()
    for name, field in registered:
        full = f"{prefix.group(1)}_{name}"
        t = types.get(field, "")
        if "Counter" in t:
            names.add(full + "_total")
        elif "Histogram" in t:
            names.update({full + "_bucket", full + "_sum", full + "_count"})
        else:
            names.add(full)
    return names


def check_rule_metrics(rule_docs: list[tuple[str, dict]], docs: list[tuple[str, dict]], r: Report) -> None:
    exposed = metric_names_from_source(r)
    monitors = by_kind(docs, "PodMonitor")
    jobs = {f"{d['metadata']['namespace']}/{d['metadata']['name']}" for _, d in monitors}
    print(f"   metrics of src/watch/metrics.rs: {', '.join(sorted(exposed))}")
    for where, d in rule_docs:
        for g in d["spec"].get("groups", []):
            for rule in g.get("rules", []):
                rw = f"{where} {rule.get('alert') or rule.get('record')}"
                expr = rule.get("expr", "")
                for name in set(re.findall(r"\bskimwatch_\w+", expr)):
                    r.check(name in exposed, rw, f"{name} is not a metric of src/watch/metrics.rs")
                for job in re.findall(r'job="([^"]+)"', expr):
                    r.check(job in jobs, rw, f'job="{job}" is no PodMonitor\'s job ({", ".join(sorted(jobs))})')


def check_sidecar_flags(docs: list[tuple[str, dict]], r: Report) -> None:
    path = ROOT / "src/capture/browser.rs"
    body = re.search(r"fn command_line\(\) -> Vec<String> \{(.*?)\n\}", path.read_text(), flags=re.S)
    flags = set(re.findall(r'"([a-z][^"]*)"\.into\(\)', body.group(1))) if body else set()
    if not r.check(len(flags) > 5, rel(path), f"cannot read Chromium's flags from command_line(): update {rel(Path(__file__))}"):
        return
    for where, d in by_kind(docs, "StatefulSet"):
        pod = d["spec"]["template"]["spec"]
        for c in pod.get("initContainers", []) + pod.get("containers", []):
            args = c.get("args", [])
            if not flag_value(args, "--remote-debugging-port"):
                continue
            given = {a[2:] for a in args if a.startswith("--")}
            for flag in sorted(flags - given - set(SIDECAR_FLAGS_LEFT_OUT)):
                if flag == "no-sandbox":
                    continue
                r.error(f"{where} container {c['name']}", f"--{flag} is in skimwatch's own Chromium launch ({rel(path)}) but not in the sidecar's args")
            r.passed += 1


def check_dockerfile(docs: list[tuple[str, dict]], r: Report) -> None:
    path = ROOT / "Dockerfile"
    text = path.read_text()
    where = rel(path)
    user = re.search(r"^USER (\d+)(?::(\d+))?", text, flags=re.M)
    r.check(user is not None, where, "no numeric USER")
    r.check(re.search(r'^ENTRYPOINT \["skimwatch"\]', text, flags=re.M) is not None, where, 'ENTRYPOINT is not ["skimwatch"]')
    r.check("ENV CHROME=/usr/bin/chromium" in text, where, "no ENV CHROME=/usr/bin/chromium")
    r.check("cargo build --release --locked --features yara --bin skimwatch" in text, where, "does not build with cargo build --release --locked --features yara --bin skimwatch (the shipped binary has the YARA rules)")
    expose = re.search(r"^EXPOSE (\d+)", text, flags=re.M)
    for w, d in by_kind(docs, "StatefulSet"):
        pod = d["spec"]["template"]["spec"]
        sk = next((c for c in pod.get("containers", []) if c["name"] == "skimwatch"), {})
        uid = sk.get("securityContext", {}).get("runAsUser", pod.get("securityContext", {}).get("runAsUser"))
        if user:
            r.check(str(uid) == user.group(1), w, f"the skimwatch container runs as {uid}, the image's USER is {user.group(1)}")
        r.check(expose is not None and int(expose.group(1)) == named_ports(sk).get("metrics"), where, "EXPOSE is not the metrics port of the StatefulSet")


# ---------------------------------------------------------------------------------------------
# Self-test: mistakes the consistency checks must catch.


def mutations(docs: list[tuple[str, dict]]):
    def sts(ds):
        return next(d for _, d in ds if d["kind"] == "StatefulSet")

    def sk(ds):
        return next(c for c in sts(ds)["spec"]["template"]["spec"]["containers"] if c["name"] == "skimwatch")

    def cm(ds):
        return next(d for _, d in ds if d["kind"] == "ConfigMap")

    def replicas(ds):
        sts(ds)["spec"]["replicas"] = 4

    def podmonitor_port(ds):
        next(d for _, d in ds if d["kind"] == "PodMonitor")["spec"]["podMetricsEndpoints"][0]["port"] = "metric"

    def listen_port(ds):
        key = next(iter(cm(ds)["data"]))
        cm(ds)["data"][key] = cm(ds)["data"][key].replace(":9898", ":9899")

    def config_typo(ds):
        key = next(iter(cm(ds)["data"]))
        cm(ds)["data"][key] = cm(ds)["data"][key].replace("database =", "databse =", 1)

    def service_selector(ds):
        next(d for _, d in ds if d["kind"] == "Service")["spec"]["selector"] = {"app": "other"}

    def missing_volume(ds):
        sk(ds)["volumeMounts"].append({"name": "nope", "mountPath": "/nope"})

    def password_env(ds):
        sk(ds)["env"] = [e for e in sk(ds)["env"] if "secretKeyRef" not in e.get("valueFrom", {})]

    def latest(ds):
        sk(ds)["image"] = "ghcr.io/example/skimwatch:latest"

    return [replicas, podmonitor_port, listen_port, config_typo, service_selector, missing_volume, password_env, latest]


def self_test(docs: list[tuple[str, dict]], config_keys, r: Report) -> None:
    for mutate in mutations(docs):
        ds = copy.deepcopy(docs)
        mutate(ds)
        probe = Report()
        check_consistency(ds, probe, config_keys, quiet=True)
        r.check(bool(probe.errors), "self-test", f"the mistake {mutate.__name__!r} went unnoticed")
    # And one for the schemas: an unknown field is an error in strict validation.
    ds = copy.deepcopy(docs)
    next(d for _, d in ds if d["kind"] == "StatefulSet")["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    probe = Report()
    validate_core([(w, d) for w, d in ds if d["kind"] == "StatefulSet"], probe, quiet=True)
    r.check(bool(probe.errors), "self-test", "an unknown StatefulSet field passed schema validation")


# ---------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--promtool", required=True)
    ap.add_argument("--node-modules", required=True, type=Path)
    opts = ap.parse_args()
    r = Report()

    step("kustomization.yaml lists every manifest, and only those")
    files = load_kustomization(r)
    docs: list[tuple[str, dict]] = []
    for name in files + sorted(NOT_LISTED):
        path = DEPLOY / name
        if path.is_file():
            docs += [(f"{rel(path)}", d) for d in load_docs(path, r)]
    applied = [(w, d) for w, d in docs if Path(w).name not in NOT_LISTED]
    print(f"   {len(files)} files, {len(applied)} objects applied, {len(docs) - len(applied)} example object(s)")

    step(f"Kubernetes schemas (kubernetes-validate {kubernetes_validate.__version__}, strict, Kubernetes {' and '.join(K8S_VERSIONS)})")
    validate_core(docs, r)

    step("Prometheus Operator schemas (@kubernetes-models/prometheus-operator) and unknown fields")
    validate_crds(docs, opts.node_modules, r)

    rule_docs = by_kind(docs, "PrometheusRule")
    step("alert rules: promtool check rules, promtool test rules")
    check_rules(rule_docs, opts.promtool, r)

    step("consistency: selectors, ports, volumes, ConfigMap, Secret, shards, skimwatch.toml")
    config_keys = config_keys_from_source(r)
    check_consistency(docs, r, config_keys)

    step("drift: metric names (src/watch/metrics.rs), Chromium flags (src/capture/browser.rs), Dockerfile")
    check_rule_metrics(rule_docs, docs, r)
    check_sidecar_flags(docs, r)
    check_dockerfile(docs, r)

    step("self-test: deliberate mistakes are caught")
    self_test(docs, config_keys, r)

    for w in r.warnings:
        print(f"warning: {w}")
    for e in r.errors:
        print(f"error: {e}")
    print(f"manifests: {r.passed} passed, {len(r.errors)} failed")
    return 1 if r.errors else 0


if __name__ == "__main__":
    sys.exit(main())
