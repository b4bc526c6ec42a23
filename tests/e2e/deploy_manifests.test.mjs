// The deployment files of deploy/: every Kubernetes manifest parses and validates against the
// Kubernetes API schemas (kubernetes-models, no cluster needed), the gateway's ConfigMap is a
// config `hodos collector validate` accepts, every container's flags are flags of its hodos
// subcommand, and `hodos install --systemd --dir` writes the units of deploy/systemd, which
// `systemd-analyze verify` accepts when systemd is installed. Then the Kubernetes attributes: a
// real `hodos agent` traces a python http.server placed in a cgroup named the way the kubelet and
// containerd name a container's, and its spans carry container.id, k8s.pod.uid and k8s.node.name.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';

import { Collector, HODOS_BIN, freePorts, makeTempDir, runHodos, waitFor } from './lib/collector.mjs';
import { otlpReceiver, telemetry } from './lib/configs.mjs';
import { E2E_DIR, REPO_ROOT } from './lib/deps.mjs';
import { flattenSpans, readJsonLines } from './lib/otlp.mjs';

const NODE_DIR = path.join(E2E_DIR, 'node');
const require = createRequire(path.join(NODE_DIR, 'package.json'));
const YAML = require('yaml');
const K8S_DIR = path.join(REPO_ROOT, 'deploy', 'kubernetes');
const SYSTEMD_DIR = path.join(REPO_ROOT, 'deploy', 'systemd');

const tmp = makeTempDir('deploy');
after(() => tmp.remove());

// The model class of apiVersion/kind: kubernetes-models/<group>/<version>/<Kind>.js, core types
// under kubernetes-models/<version>. An unknown kind or version is an error, not a skip.
async function modelClass(apiVersion, kind) {
  const file = path.join(NODE_DIR, 'node_modules', 'kubernetes-models', ...apiVersion.split('/'),
                         `${kind}.js`);
  assert.ok(fs.existsSync(file), `no Kubernetes schema for ${apiVersion} ${kind} (${file})`);
  const module = await import(pathToFileURL(file).href);
  return module[kind];
}

function loadManifests() {
  const files = fs.readdirSync(K8S_DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
  const objects = [];
  for (const file of files.sort()) {
    const text = fs.readFileSync(path.join(K8S_DIR, file), 'utf8');
    for (const doc of YAML.parseAllDocuments(text)) {
      assert.deepEqual(doc.errors, [], `${file}: YAML errors`);
      assert.deepEqual(doc.warnings, [], `${file}: YAML warnings`);
      const value = doc.toJS();
      if (value === null) continue;
      objects.push({ file, value });
    }
  }
  return { files, objects };
}

function find(objects, kind, name) {
  const found = objects.find((o) => o.value.kind === kind && o.value.metadata?.name === name);
  assert.ok(found, `no ${kind} ${name} in deploy/kubernetes`);
  return found.value;
}

// Every --flag of a container's args must be listed by `hodos <subcommand> --help`.
function assertFlagsKnown(args, where) {
  const [subcommand, ...rest] = args;
  const help = runHodos([subcommand, '--help']);
  assert.equal(help.code, 0, `hodos ${subcommand} --help: ${help.stderr}`);
  for (const arg of rest) {
    if (!arg.startsWith('--')) continue;
    const flag = arg.split('=')[0];
    assert.match(help.stdout, new RegExp(`(^|[\\s,])${flag}\\b`),
                 `${where}: ${flag} is not an option of hodos ${subcommand}`);
  }
}

describe('deploy/kubernetes', () => {
  const { files, objects } = loadManifests();

  it('validates every document against the Kubernetes schemas', async () => {
    assert.ok(objects.length >= 10, `only ${objects.length} documents`);
    for (const { file, value } of objects) {
      const where = `${file}: ${value.kind} ${value.metadata?.name}`;
      const Model = await modelClass(value.apiVersion, value.kind);
      assert.doesNotThrow(() => new Model(value).validate(), where);
      if (value.kind !== 'Namespace' && !value.kind.startsWith('Cluster')) {
        assert.equal(value.metadata.namespace, 'hodos', `${where}: not in the hodos namespace`);
      }
    }
  });

  it('rejects a manifest the schemas do not allow (the validator is live)', async () => {
    const gateway = structuredClone(find(objects, 'Deployment', 'hodos-gateway'));
    gateway.spec.template.spec.containers[0].resources.requests.cpu = 'a lot';
    const Deployment = await modelClass('apps/v1', 'Deployment');
    assert.throws(() => new Deployment(gateway).validate(), /cpu/);
  });

  it('lists every manifest in kustomization.yaml', () => {
    const kustomization = YAML.parse(fs.readFileSync(path.join(K8S_DIR, 'kustomization.yaml'), 'utf8'));
    assert.deepEqual([...kustomization.resources].sort(), [...files].sort());
  });

  it('runs the agent on every node with the host access it needs', () => {
    const ds = find(objects, 'DaemonSet', 'hodos-agent');
    const pod = ds.spec.template.spec;
    assert.equal(pod.hostPID, true);
    assert.equal(pod.serviceAccountName, 'hodos-agent');
    const [agent] = pod.containers;
    assert.equal(agent.securityContext.privileged, false);
    assert.deepEqual(agent.securityContext.capabilities.drop, ['ALL']);
    for (const cap of ['BPF', 'PERFMON', 'NET_ADMIN', 'SYS_PTRACE', 'DAC_READ_SEARCH']) {
      assert.ok(agent.securityContext.capabilities.add.includes(cap), `capability ${cap}`);
    }
    const volumes = new Map(pod.volumes.map((v) => [v.name, v]));
    const mounted = new Map(agent.volumeMounts.map((m) => [m.mountPath, volumes.get(m.name)]));
    for (const hostPath of ['/sys/kernel/btf', '/sys/fs/cgroup', '/sys/fs/bpf']) {
      assert.equal(mounted.get(hostPath)?.hostPath?.path, hostPath, `${hostPath} from the host`);
    }
    const nodeName = agent.env.find((e) => e.name === 'K8S_NODE_NAME');
    assert.equal(nodeName?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');

    // The agent ships to the gateway Service, on its OTLP/gRPC port.
    assert.equal(agent.args[0], 'agent');
    const endpoint = agent.args[agent.args.indexOf('--endpoint') + 1];
    const service = find(objects, 'Service', 'hodos-gateway');
    const grpcPort = service.spec.ports.find((p) => p.name === 'otlp-grpc').port;
    assert.equal(endpoint, `http://${service.metadata.name}.${service.metadata.namespace}.svc:${grpcPort}`);
  });

  it('gives the agent read access to pods and nodes', () => {
    const role = find(objects, 'ClusterRole', 'hodos-agent');
    const rule = role.rules.find((r) => r.apiGroups.includes(''));
    for (const resource of ['pods', 'nodes']) assert.ok(rule.resources.includes(resource), resource);
    assert.deepEqual([...rule.verbs].sort(), ['get', 'list', 'watch']);
    const binding = find(objects, 'ClusterRoleBinding', 'hodos-agent');
    assert.equal(binding.roleRef.name, role.metadata.name);
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'hodos-agent', namespace: 'hodos' }]);
  });

  it('scales the gateway on CPU and memory', () => {
    const hpa = find(objects, 'HorizontalPodAutoscaler', 'hodos-gateway');
    assert.equal(hpa.spec.scaleTargetRef.kind, 'Deployment');
    assert.equal(hpa.spec.scaleTargetRef.name, 'hodos-gateway');
    const resources = hpa.spec.metrics.map((m) => m.resource.name).sort();
    assert.deepEqual(resources, ['cpu', 'memory']);
    // Utilization is a share of the requests: without them the HPA has nothing to scale on.
    const [gateway] = find(objects, 'Deployment', 'hodos-gateway').spec.template.spec.containers;
    assert.ok(gateway.resources.requests.cpu && gateway.resources.requests.memory);
  });

  it("accepts the gateway ConfigMap's config with hodos collector validate", () => {
    const configMap = find(objects, 'ConfigMap', 'hodos-gateway-config');
    const deployment = find(objects, 'Deployment', 'hodos-gateway');
    const [gateway] = deployment.spec.template.spec.containers;
    // The file the container reads is the ConfigMap key mounted at --config.
    const configPath = gateway.args[gateway.args.indexOf('--config') + 1];
    const mount = gateway.volumeMounts.find((m) => configPath.startsWith(`${m.mountPath}/`));
    const volume = deployment.spec.template.spec.volumes.find((v) => v.name === mount.name);
    assert.equal(volume.configMap.name, configMap.metadata.name);
    const key = path.basename(configPath);
    assert.ok(configMap.data[key], `ConfigMap has no ${key}`);

    const file = tmp.file(key);
    fs.writeFileSync(file, configMap.data[key]);
    const r = runHodos(['collector', 'validate', '--config', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /configuration is valid/);
    assert.match(r.stdout, /stitch/);

    // The exporter sends to the store Service's OTLP/gRPC port.
    const store = find(objects, 'Service', 'hodos-store');
    const storeGrpc = store.spec.ports.find((p) => p.name === 'otlp-grpc').port;
    assert.match(configMap.data[key], new RegExp(`endpoint: http://hodos-store\\.hodos\\.svc:${storeGrpc}\\b`));
  });

  it("uses only flags each container's hodos subcommand has", () => {
    let checked = 0;
    for (const { file, value } of objects) {
      const containers = value.spec?.template?.spec?.containers ?? [];
      for (const c of containers) {
        assertFlagsKnown(c.args, `${file}: ${value.kind} ${value.metadata.name}`);
        checked++;
      }
    }
    assert.equal(checked, 3);  // agent, gateway, store
  });
});

describe('hodos install --systemd', () => {
  const dir = tmp.file('units');
  fs.mkdirSync(dir);

  it('writes both units, pointing at this binary, and says what to run next', () => {
    const r = runHodos(['install', '--systemd', '--dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /systemctl daemon-reload/);
    assert.match(r.stdout, /systemctl enable --now hodos\.service/);
    assert.match(r.stdout, /systemctl enable --now hodos-agent\.service/);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['hodos-agent.service', 'hodos.service']);
    for (const unit of ['hodos.service', 'hodos-agent.service']) {
      const written = fs.readFileSync(path.join(dir, unit), 'utf8');
      const shipped = fs.readFileSync(path.join(SYSTEMD_DIR, unit), 'utf8');
      // The same text as deploy/systemd, with ExecStart on the binary that wrote it.
      assert.equal(written, shipped.replaceAll('/usr/local/bin/hodos', HODOS_BIN), unit);
      assert.match(written, new RegExp(`^ExecStart=${HODOS_BIN.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `, 'm'));
    }
  });

  it('checks the units with systemd-analyze verify', (t) => {
    const probe = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
    if (probe.error) {
      t.skip('systemd-analyze is not installed');
      return;
    }
    const units = ['hodos.service', 'hodos-agent.service'].map((u) => path.join(dir, u));
    const r = spawnSync('systemd-analyze', ['verify', ...units], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    // Unknown keys and bad values are only warnings: any output is a failure here.
    assert.equal(r.stderr.trim(), '', r.stderr);

    // The check itself is live: a misspelt directive is reported.
    const bad = tmp.file('hodos-bad.service');
    fs.writeFileSync(bad, fs.readFileSync(units[0], 'utf8').replace('ProtectClock=', 'ProtectClok='));
    const rb = spawnSync('systemd-analyze', ['verify', bad], { encoding: 'utf8' });
    assert.match(rb.stderr, /ProtectClok/);
  });

  it('refuses a missing --systemd and a directory that does not exist', () => {
    const none = runHodos(['install']);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--systemd/);
    const missing = runHodos(['install', '--systemd', '--dir', tmp.file('nope')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not a directory/);
  });
});

// The cgroup v2 mount, where a process can be moved into a cgroup of any name.
function cgroup2Mount() {
  for (const line of fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, dir, type] = line.split(' ');
    if (type === 'cgroup2') return dir;
  }
  return null;
}

function spawnLogged(cmd, args, opts) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  const proc = { child, output: '' };
  child.stdout.on('data', (d) => { proc.output += d; });
  child.stderr.on('data', (d) => { proc.output += d; });
  return proc;
}

function getStatus(port, urlPath) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    }).on('error', reject);
  });
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const cgroupRoot = cgroup2Mount();
const skipK8s = !isRoot ? 'the eBPF agent needs root (CAP_BPF, CAP_PERFMON): run as root, as CI does'
  : !cgroupRoot ? 'no cgroup v2 hierarchy is mounted' : false;

describe('Kubernetes attributes from the cgroup path', { skip: skipK8s }, () => {
  const containerId = '3f9e2d1c0b4a59687766554433221100ffeeddccbbaa99887766554433221100';
  const podUid = '6b1d3c5e-7f80-4a2b-9c3d-4e5f60718293';
  // containerd's shape under the systemd driver, nested in a cgroup of the test's own so that it
  // can never meet a real kubelet's tree.
  const top = path.join(cgroupRoot ?? '/nonexistent', `hodos-e2e-k8s-${process.pid}`);
  const podDir = path.join(top, `kubepods-besteffort-pod${podUid.replaceAll('-', '_')}.slice`);
  const containerDir = path.join(podDir, `cri-containerd-${containerId}.scope`);
  const file = tmp.file('k8s-spans.jsonl');
  let gateway, agent, server, serverPort = 0;

  after(async () => {
    if (server && server.child.exitCode === null) {
      const exited = new Promise((resolve) => server.child.on('exit', resolve));
      server.child.kill('SIGTERM');
      await exited;
    }
    if (agent && agent.child.exitCode === null) {
      const exited = new Promise((resolve) => agent.child.on('exit', (code, signal) => resolve({ code, signal })));
      agent.child.kill('SIGTERM');
      assert.deepEqual(await exited, { code: 0, signal: null }, `hodos agent exits 0 on SIGTERM\n${agent.output}`);
    }
    if (gateway) await gateway.stop();
    for (const dir of [containerDir, podDir, top]) {
      if (fs.existsSync(dir)) fs.rmdirSync(dir);
    }
  });

  it('puts container.id, k8s.pod.uid and k8s.node.name on the spans of a process in a pod', async () => {
    const [grpcPort, metricsPort, agentMetricsPort] = await freePorts(3);
    gateway = new Collector({
      name: 'gateway', dir: tmp.dir, metricsPort, waitPorts: [grpcPort],
      config: {
        receivers: { otlp: otlpReceiver({ grpcPort }) },
        exporters: { file: { path: file } },
        service: { telemetry: telemetry(metricsPort), pipelines: { traces: { receivers: ['otlp'], exporters: ['file'] } } },
      },
    });
    await gateway.start();

    fs.mkdirSync(containerDir, { recursive: true });
    fs.writeFileSync(tmp.file('pod.txt'), 'served from a pod\n');
    // The shell moves itself into the container's cgroup, then becomes the server.
    server = spawnLogged('sh', ['-c', 'echo $$ > "$1/cgroup.procs" && exec python3 -u -m http.server 0 --bind 127.0.0.1',
      'sh', containerDir], { cwd: tmp.dir });
    await waitFor('python http.server to listen', () => {
      const m = /port (\d+)/.exec(server.output);
      if (m) serverPort = Number(m[1]);
      if (server.child.exitCode !== null) {
        throw Object.assign(new Error(`server exited: ${server.output}`), { fatal: true });
      }
      return serverPort !== 0;
    }, { intervalMs: 20, describe: () => server.output });
    const procCgroup = fs.readFileSync(`/proc/${server.child.pid}/cgroup`, 'utf8');
    assert.match(procCgroup, new RegExp(`cri-containerd-${containerId}\\.scope`), procCgroup);

    agent = spawnLogged(HODOS_BIN, ['agent', '--endpoint', `http://127.0.0.1:${grpcPort}`,
      '--metrics', `127.0.0.1:${agentMetricsPort}`, '--log-level', 'warn',
      '--state-dir', tmp.dir], { env: { ...process.env, K8S_NODE_NAME: 'node-e2e-1' } });
    await waitFor('hodos agent to be ready', () => {
      if (agent.child.exitCode !== null) {
        throw Object.assign(new Error(`hodos agent exited: ${agent.output}`), { fatal: true });
      }
      return agent.output.includes('hodos agent: ready');
    }, { describe: () => agent.output });

    let spans = [];
    await waitFor('SERVER spans of GET /pod.txt at the gateway', async () => {
      assert.equal(await getStatus(serverPort, '/pod.txt'), 200);
      spans = flattenSpans(readJsonLines(file)).filter((s) => s.span.name === 'GET /pod.txt');
      return spans.length > 0;
    }, { timeoutMs: 30000, intervalMs: 200, describe: () => agent.output });
    const { resource } = spans[0];
    assert.equal(String(resource['process.pid']?.intValue), String(server.child.pid));
    assert.equal(resource['container.id']?.stringValue, containerId);
    assert.equal(resource['k8s.pod.uid']?.stringValue, podUid);
    assert.equal(resource['k8s.node.name']?.stringValue, 'node-e2e-1');
  });
});
