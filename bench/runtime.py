#!/usr/bin/python3
"""Runtime benchmark: Refit's pure-Go ONNX runtime vs ONNX Runtime (onnxruntime-node), in one run.

Usage: /usr/bin/python3 bench/runtime.py [--runs 20] [--warmup 3] [--models a,b,...]
                                         [--threads 1,2] [--cache DIR] [--mnist-batch 32]

Models (exported by testdata/gen/ort_models.py into the same cache folder the
interop/ort tests use, $TMPDIR/refit-ort-models-<generator hash>):
  resnet18_op13      ResNet-18, 1x3x224x224 (BatchNorm folded by the exporter)
  transformer_op17   4-layer transformer encoder, d_model 256, 1x128 token ids
  mnist_cnn          testdata/models/mnist/mnist_cnn.onnx, batch --mnist-batch
Each model is loaded once per engine and thread count; --warmup untimed runs precede
--runs timed runs, timing only the run call (Refit: Session.Run in bench/runtime/main.go;
ORT: session.run in interop/ort/ort_run.js). Both get the same seeded inputs (the Go
program dumps them as .npy). Refit's threads are -threads (runtime.Options.Threads) with
GOMAXPROCS set to match; ORT's are intraOpNumThreads
(interOpNumThreads 1, graphOptimizationLevel "all"). Prints median latency per engine and
the ratio Refit/ORT (below 1 means Refit is faster), and the same for the fastest run,
which is steadier than the median on a loaded machine, and the CPU time per run (all
threads; it counts work, not waiting for a core, so it is the fairest figure when other
processes compete for the cores). Needs go, node, and
onnxruntime-node in node_modules.
"""
import argparse, hashlib, json, os, subprocess, sys, tempfile
import machine  # bench/machine.py: the CPU line every table starts with

ap = argparse.ArgumentParser()
ap.add_argument("--runs", type=int, default=20)
ap.add_argument("--warmup", type=int, default=3)
ap.add_argument("--models", default="resnet18_op13,transformer_op17,mnist_cnn")
ap.add_argument("--threads", default="1,2")
ap.add_argument("--cache", default="", help="model folder (default: the interop tests' cache)")
ap.add_argument("--mnist-batch", type=int, default=32)
ap.add_argument("--json", action="store_true", help="print the raw results as JSON too")
a = ap.parse_args()

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
gen = os.path.join(root, "testdata", "gen", "ort_models.py")
node_modules = os.path.join(root, "node_modules")
if not os.path.isdir(os.path.join(node_modules, "onnxruntime-node")):
    sys.exit("bench/runtime.py: onnxruntime-node is not installed in node_modules (npm ci)")

cache = a.cache
if not cache:
    with open(gen, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    cache = os.path.join(tempfile.gettempdir(), "refit-ort-models-" + digest)
if not os.path.exists(os.path.join(cache, "models.json")):
    print(f"exporting models into {cache} ...", file=sys.stderr)
    tmp = tempfile.mkdtemp(prefix="refit-ort-models-tmp", dir=os.path.dirname(cache))
    subprocess.run(["/usr/bin/python3", gen, tmp], check=True,
                   env=dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1"))
    try:
        os.rename(tmp, cache)
    except OSError:
        if not os.path.exists(os.path.join(cache, "models.json")):
            raise

work = tempfile.mkdtemp(prefix="refit-runtime-bench-")
binary = os.path.join(work, "refit-runtime-bench")
subprocess.run(["go", "build", "-o", binary, "./bench/runtime"], cwd=root, check=True)

paths = {
    "mnist_cnn": (os.path.join(root, "testdata", "models", "mnist", "mnist_cnn.onnx"),
                  [f"batch={a.mnist_batch}"]),
}
with open(os.path.join(cache, "models.json")) as f:
    for e in json.load(f):
        paths[e["name"]] = (os.path.join(cache, e["file"]),
                            [f"{k}={v}" for k, v in (e.get("dims") or {}).items()])
models = [m for m in a.models.split(",") if m]
for m in models:
    if m not in paths:
        sys.exit(f"bench/runtime.py: unknown model {m}; have {', '.join(sorted(paths))}")
threads = [int(t) for t in a.threads.split(",")]

refit, inputs = {}, {}
for m in models:
    path, dims = paths[m]
    for t in threads:
        cmd = [binary, "-model", path, "-runs", str(a.runs), "-warmup", str(a.warmup), "-threads", str(t)]
        for d in dims:
            cmd += ["-dim", d]
        if m not in inputs:
            cmd += ["-dump-inputs", os.path.join(work, m)]
        p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, GOMAXPROCS=str(t)))
        if p.returncode != 0:
            sys.exit(f"refit on {m}: {p.stderr.strip()}")
        r = json.loads(p.stdout)
        inputs.setdefault(m, r.get("inputs"))
        refit[(m, t)] = r

ort = {}
for t in threads:
    spec = {"threads": t, "warmup": a.warmup, "runs": a.runs,
            "jobs": [{"model": paths[m][0], "inputs": inputs[m]} for m in models]}
    spec_path = os.path.join(work, f"spec{t}.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    p = subprocess.run(["node", os.path.join(root, "interop", "ort", "ort_run.js"), spec_path],
                       capture_output=True, text=True, env=dict(os.environ, NODE_PATH=node_modules))
    if p.returncode != 0:
        sys.exit(f"onnxruntime-node: {p.stderr.strip()}")
    for m, r in zip(models, json.loads(p.stdout)):
        ort[(m, t)] = r

try:
    load = os.getloadavg()[0]
except OSError:
    load = float("nan")
print(machine.cpu_line())
print(f"median latency over {a.runs} runs after {a.warmup} warm-up runs; "
      f"{os.cpu_count()} CPUs, load average {load:.1f}")
head = (f"{'model':<18}{'threads':>8}{'Refit ms':>11}{'ORT ms':>10}{'Refit/ORT':>11}"
        f"{'Refit min':>11}{'ORT min':>10}{'min ratio':>11}{'Refit CPU':>11}{'ORT CPU':>10}{'CPU ratio':>11}")
print(head)
print("-" * len(head))
for m in models:
    label = m if m != "mnist_cnn" else f"mnist_cnn (b{a.mnist_batch})"
    for t in threads:
        rm, om = refit[(m, t)]["median_ms"], ort[(m, t)]["median_ms"]
        rmin, omin = min(refit[(m, t)]["times_ms"]), min(ort[(m, t)]["times_ms"])
        rc, oc = refit[(m, t)]["cpu_ms"], ort[(m, t)]["cpu_ms"]
        print(f"{label:<18}{t:>8}{rm:>11.2f}{om:>10.2f}{rm / om:>11.2f}"
              f"{rmin:>11.2f}{omin:>10.2f}{rmin / omin:>11.2f}"
              f"{rc:>11.2f}{oc:>10.2f}{rc / max(oc, 1e-9):>11.2f}")
if a.json:
    print(json.dumps({"refit": {f"{m}/{t}": r for (m, t), r in refit.items()},
                      "ort": {f"{m}/{t}": r for (m, t), r in ort.items()}}, indent=1))
subprocess.run(["rm", "-rf", work])
